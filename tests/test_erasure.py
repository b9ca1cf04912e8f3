"""Client erasure (issue 14, docs/erasure.md): hobby/free clients leave nothing but the
delete log and the erasure event; invoiced clients keep their accounting rows stripped;
the audit log stays verifiable with tombstones, and a hand-made tombstone is caught;
the signed certificate verifies offline, and a changed count does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tessera_db import lifecycle
from tessera_db.audit import proof, signing
from tessera_db.cli import main
from tessera_db.errors import PermissionDenied
from tests.lifecycle_fixtures import (  # noqa: F401 (world is a fixture)
    ACME,
    ACME_MARKS,
    GLOBEX,
    GLOBEX_MARKS,
    OPERATOR,
    World,
    world,
)
from tests.test_audit_seal import Tamper

# Where the erased client's id may stay (docs/erasure.md, "What stays").
ID_ALLOWED_FREE = {"client_erasures (1 row(s))", "audit_events (1 row(s))"}


def test_free_client_erasure_leaves_only_the_delete_log_and_the_erasure_event(world: World) -> None:
    before = world.rows_of(GLOBEX)
    # The fixture put a row of Globex into every client-scoped table the demo fills for it.
    assert all(before[t] > 0 for t in ("clients", "workloads", "client_users", "api_keys", "batches",
                                       "optimize_savings", "savings_request_keys", "savings_dead_letters",
                                       "balance_transactions", "monthly_readings", "reading_share_tokens",
                                       "workload_settings")), before
    events = world.su.execute("SELECT count(*) FROM tessera.audit_events WHERE client_id = %s",
                              (GLOBEX,)).fetchone()[0]  # type: ignore[index]
    assert events > 0
    erasure = world.erase(GLOBEX)
    assert erasure["plan_tier"] == "free" and erasure["finished_at"] and erasure["kept_until"] is None
    assert erasure["counts"]["audit_events"] == {"tombstoned": events}
    assert erasure["counts"]["optimize_savings"] == {"erased": before["optimize_savings"]}
    after = world.rows_of(GLOBEX)
    assert {t: n for t, n in after.items() if n} == {"client_erasures": 1}
    for mark in GLOBEX_MARKS:
        assert world.scan(mark) == [], mark
    assert set(world.scan(GLOBEX)) == ID_ALLOWED_FREE
    # Acme, sponsored by carol too, is untouched.
    assert world.rows_of(ACME)["optimize_savings"] > 0
    assert world.scan("carol@acme.example")  # still Acme's sponsor


def test_erasure_is_idempotent(world: World) -> None:
    first = world.erase(GLOBEX)
    again = world.erase(GLOBEX, "asked twice")
    assert again == first


def _rederive(world: World, client_id: str) -> dict[Any, list[tuple[Any, ...]]]:
    """Per month, the figures where the issued reading and the raw rows differ."""
    with world.db.as_operator(OPERATOR) as conn:
        months = [r[0] for r in conn.execute("SELECT DISTINCT month FROM tessera.monthly_readings"
                                             " WHERE client_id = %s ORDER BY 1", (client_id,))]
        return {m: conn.execute("SELECT figure, issued, rederived FROM tessera.rederive_monthly_reading(%s, %s)",
                                (client_id, m)).fetchall() for m in months}


def test_invoiced_erasure_keeps_accounting_rows_stripped(world: World) -> None:
    before = world.rows_of(ACME)
    differences = _rederive(world, ACME)
    erasure = world.erase(ACME)
    assert erasure["plan_tier"] == "invoiced" and erasure["kept_until"] is not None
    after = world.rows_of(ACME)
    for kept in ("optimize_savings", "savings_request_keys", "balance_transactions", "monthly_readings",
                 "clients", "workloads", "workload_settings"):
        assert after[kept] == before[kept], kept
    for gone in ("client_users", "api_keys", "reading_share_tokens", "savings_dead_letters", "cache_entries",
                 "batches"):
        assert after[gone] == 0, gone
    for mark in ACME_MARKS:
        assert world.scan(mark) == [], mark
    # The pseudonyms are consistent in the rows and the readings' by_feature_tag, so each
    # issued reading re-derives exactly as before (the same figures agree; the rows
    # recorded after an issue differ as they did, under their pseudonym).
    with world.db.as_operator(OPERATOR) as conn:
        tags = {r[0] for r in conn.execute("SELECT DISTINCT feature_tag FROM tessera.optimize_savings"
                                           " WHERE client_id = %s AND feature_tag IS NOT NULL", (ACME,))}
    assert tags and all(t.startswith("erased-") for t in tags)
    assert {m: len(d) for m, d in _rederive(world, ACME).items()} == {
        m: len(d) for m, d in differences.items()}
    # Stripped audit rows keep their client and shape, lose the personal fields.
    stripped = world.su.execute(
        "SELECT count(*), count(*) FILTER (WHERE actor_email IS NOT NULL OR before ? 'email' OR after ? 'email')"
        "  FROM tessera.audit_events WHERE client_id = %s AND erasure_event_id IS NOT NULL", (ACME,)).fetchone()
    assert stripped is not None and stripped[0] == erasure["counts"]["audit_events"]["stripped"] and stripped[1] == 0


def test_audit_verify_accepts_authorised_tombstones(world: World, tmp_path: Path) -> None:
    erasure = world.erase(GLOBEX)
    world.seal()
    result = world.verify(tmp_path / "state.json")
    assert result.ok, result.problem
    # Globex's tombstones, and the demo's erased account's.
    all_erased = world.su.execute("SELECT count(*) FROM tessera.audit_events WHERE erasure_event_id IS NOT NULL"
                                  ).fetchone()[0]  # type: ignore[index]
    assert result.erased_rows == all_erased > erasure["counts"]["audit_events"]["tombstoned"] > 0
    parallel = world.verify(workers=2, chunk_rows=3)
    assert parallel.ok and parallel.erased_rows == result.erased_rows
    # Both kinds together: a stripped invoiced client as well.
    world.erase(ACME)
    world.seal()
    both = world.verify(tmp_path / "state.json")
    assert both.ok, both.problem
    assert both.erased_rows > result.erased_rows


def _erased(world: World) -> tuple[int, int]:
    erasure = world.erase(GLOBEX)
    world.seal()
    victim = world.su.execute(
        "SELECT event_id FROM tessera.audit_events WHERE client_id = %s AND erasure_event_id IS NULL"
        " ORDER BY event_id LIMIT 1", (ACME,)).fetchone()[0]  # type: ignore[index]
    return int(erasure["erasure_event_id"]), int(victim)


BLANK = ("UPDATE tessera.audit_events SET client_id = NULL, entity = NULL, entity_id = NULL, action = NULL,"
         " before = NULL, after = NULL, actor_role = NULL, actor_session_role = NULL, actor_email = NULL,"
         " actor_sub = NULL, actor_job = NULL, request_id = NULL, reason = NULL, source_ip = NULL,"
         " prompt_fingerprint_v1 = NULL, erasure_event_id = %s WHERE event_id = %s")


def test_a_hand_made_tombstone_naming_a_real_erasure_is_caught(world: World) -> None:
    erasure_event, victim = _erased(world)
    Tamper(world.su)("tessera.audit_events", (BLANK, (erasure_event, victim)))
    result = world.verify()
    assert not result.ok and result.problem is not None
    assert result.problem.item == f"erasure event {erasure_event}", result.problem
    assert "do not match its commitment" in result.problem.message


def test_a_hand_made_tombstone_naming_no_erasure_is_caught(world: World) -> None:
    _, victim = _erased(world)
    Tamper(world.su)("tessera.audit_events", (BLANK, (victim + 100000, victim)))
    result = world.verify()
    assert not result.ok and result.problem is not None
    assert result.problem.item == f"row event_id={victim}"
    assert "blanked by hand" in result.problem.message


def test_a_tombstone_restored_by_hand_is_caught(world: World) -> None:
    erasure_event, _ = _erased(world)
    # Un-erase one tombstone (erasure_event_id cleared, payload invented): its content no
    # longer hashes to content_hash, and the erasure's commitment lost a member.
    victim = world.su.execute("SELECT min(event_id) FROM tessera.audit_events WHERE erasure_event_id = %s",
                              (erasure_event,)).fetchone()[0]  # type: ignore[index]
    Tamper(world.su)("tessera.audit_events", (
        "UPDATE tessera.audit_events SET erasure_event_id = NULL, entity = 'clients', action = 'insert',"
        " actor_role = 'x', actor_session_role = 'x', request_id = 'x' WHERE event_id = %s", (victim,)))
    result = world.verify()
    assert not result.ok and result.problem is not None
    assert result.problem.item == f"row event_id={victim}" and "edited" in result.problem.message


def test_inclusion_proofs_of_surviving_events_still_check(world: World) -> None:
    world.erase(GLOBEX)
    world.seal()
    survivors = [r[0] for r in world.su.execute(
        "SELECT event_id FROM tessera.audit_events WHERE erasure_event_id IS NULL ORDER BY event_id LIMIT 3")]
    with psycopg.connect(world.dsn, autocommit=True) as conn:
        for event_id in survivors:
            document = proof.build_proof(conn, event_id)
            assert proof.check_proof(document, world.key.public_key()).startswith("OK")


@pytest.mark.parametrize("identity", ["sponsor", "anon", "service_role", "tessera_proxy", "tessera_settlement"])
def test_erasure_is_refused_for_every_non_operator(world: World, identity: str, role_dsn: Any) -> None:
    before = world.rows_of(GLOBEX)
    if identity in ("tessera_proxy", "tessera_settlement"):
        with psycopg.connect(role_dsn(identity), autocommit=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT tessera.erase_client(%s, 'x')", (GLOBEX,))
    else:
        session = {"sponsor": lambda: world.db.as_sponsor("bob@globex.example"),
                   "anon": world.db.as_anon,
                   "service_role": lambda: world.db.as_service("retention")}[identity]
        with pytest.raises(PermissionDenied), session() as conn:
            conn.execute("SELECT tessera.erase_client(%s, 'x')", (GLOBEX,))
    assert world.rows_of(GLOBEX) == before


def test_a_failure_midway_leaves_no_half_erased_client(world: World) -> None:
    before = world.rows_of(GLOBEX)
    hashes = world.su.execute("SELECT count(*) FROM tessera.audit_events WHERE erasure_event_id IS NOT NULL").fetchone()
    # A trigger that fails the last step (deleting the client row).
    world.su.execute("CREATE FUNCTION public.fail_midway() RETURNS trigger LANGUAGE plpgsql AS"
                     " $$BEGIN RAISE EXCEPTION 'disk full'; END$$")
    world.su.execute("CREATE TRIGGER fail_midway BEFORE DELETE ON tessera.clients FOR EACH ROW"
                     " EXECUTE FUNCTION public.fail_midway()")
    with pytest.raises(Exception, match="disk full"):
        world.erase(GLOBEX)
    assert world.rows_of(GLOBEX) == before
    assert world.su.execute("SELECT count(*) FROM tessera.audit_events WHERE erasure_event_id IS NOT NULL"
                            ).fetchone() == hashes


def test_the_guard_refuses_a_forged_erasure_setting(world: World) -> None:
    """A session that only *says* it is erasing (the settings, no delete-log row) removes
    or changes nothing, not even as the owner, whatever it presets of what the guard
    records per statement."""
    world.su.execute("SET ROLE tessera_owner")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            with world.su.transaction():
                world.su.execute("SELECT set_config('tessera.removal', 'erasure', true),"
                                 " set_config('tessera.erasure_verified', %s, true)", (GLOBEX,))
                world.su.execute("DELETE FROM tessera.savings_dead_letters WHERE client_id = %s", (GLOBEX,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            with world.su.transaction():
                world.su.execute("SELECT set_config('tessera.removal', 'erasure', true),"
                                 " set_config('tessera.erasure_verified', %s, true),"
                                 " set_config('tessera.erasure_ignored_columns', '{cost_usd,amount_usd,reason}', true)",
                                 (GLOBEX,))
                world.su.execute("UPDATE tessera.balance_transactions SET amount_usd = 0, reason = 'x'"
                                 " WHERE client_id = %s", (GLOBEX,))
    finally:
        world.su.execute("RESET ROLE")
    # ...while the owner's policies show it nothing to delete in the first place.
    assert world.rows_of(GLOBEX)["savings_dead_letters"] > 0


def test_certificate_round_trip_and_tampering(world: World, tmp_path: Path) -> None:
    key_file = tmp_path / "cert.key"
    signing.generate(key_file)
    sealer_key = tmp_path / "sealer.key"
    signing.generate(sealer_key)
    world.key = signing.load_private_key(sealer_key)  # the sealer of this test
    cert = tmp_path / "cert.json"
    args = ["clients", "erase", "--client", GLOBEX, "--reason", "closed", "--as-operator", OPERATOR,
            "--signing-key", str(key_file), "--sealer-key", str(sealer_key), "--sealer-dsn", world.sealer_dsn,
            "--dsn", world.app_dsn, "--out", str(cert)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    document = json.loads(cert.read_text())
    assert document["tables"]["clients"] == {"erased": 1}
    check = ["clients", "verify-certificate", str(cert), "--public-key", f"{key_file}.pub",
             "--audit-public-key", f"{sealer_key}.pub"]
    ok = CliRunner().invoke(main, check)
    assert ok.exit_code == 0 and ok.output.startswith("OK: client " + GLOBEX), ok.output
    # Erasing again returns the very same certificate.
    again = CliRunner().invoke(main, [*args[:-1], str(tmp_path / "again.json")])
    assert again.exit_code == 0 and json.loads((tmp_path / "again.json").read_text()) == document
    # One changed count: the signature no longer covers the content.
    forged = dict(document, tables={**document["tables"], "optimize_savings": {"erased": 0}})
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    bad = CliRunner().invoke(main, [*check[:2], str(tmp_path / "forged.json"), *check[3:]])
    assert bad.exit_code == 3 and "signature does not verify" in bad.output, bad.output
    # Another key: refused before anything else.
    other = Ed25519PrivateKey.generate()
    with pytest.raises(lifecycle.CertificateError, match="not this public key"):
        lifecycle.verify_certificate(document, other.public_key())


def test_certificate_of_another_event_is_refused(world: World, tmp_path: Path) -> None:
    """A validly signed certificate whose proof shows some other event does not pass."""
    erasure = world.erase(GLOBEX)
    world.seal()
    with psycopg.connect(world.dsn, autocommit=True) as conn:
        other_event = world.su.execute("SELECT min(event_id) FROM tessera.audit_events"
                                       " WHERE erasure_event_id IS NULL").fetchone()[0]  # type: ignore[index]
        wrong_proof = proof.build_proof(conn, int(other_event))
    with world.db.as_operator(OPERATOR) as conn:
        row = lifecycle.erase_client(conn, GLOBEX, "again")
    assert str(row.erasure_event_id) == str(erasure["erasure_event_id"])
    document = lifecycle.build_certificate(row, wrong_proof, world.key)
    with pytest.raises(lifecycle.CertificateError, match="not this erasure"):
        lifecycle.verify_certificate(document, world.key.public_key())

"""Settlement batches and their secrets: the state machine, sealing outside the database,
the one audited release to the settlement role, destruction on the terminal transition
and by the 48-hour sweeper, key rotation, and the plaintext-leak scan of the data
directory, the WAL and the server log."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tessera_db import batch_secrets as bs
from tessera_db.cluster import Cluster
from tessera_db.db import Database
from tessera_db.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.keys_fixtures import (  # noqa: F401
    OPERATOR,
    SERVER_LOG,
    SPONSOR_A,
    Tenants,
    audit_rows,
    log_every_statement,
    login,
    scan_disk,
    tenants,
)

HEADER = b"Bearer sk-proj-test-upstream-key-0123456789"


@pytest.fixture
def keyring(tmp_path: Path) -> bs.Keyring:
    ring = bs.Keyring.load(tmp_path / "settlement-keys.json", create=True)
    ring.generate("k1")
    ring.save()
    return ring


def _batch(proxy: psycopg.Connection[Any], client: uuid.UUID, workload: uuid.UUID) -> uuid.UUID:
    row = proxy.execute("SELECT tessera.create_batch(%s, %s, 'openai')", (client, workload)).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def _secret_rows(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    rows = conn.execute("SELECT client_id, batch_id, key_id FROM tessera.batch_secrets ORDER BY created_at").fetchall()
    conn.rollback()
    return rows


def test_keyring_file_is_private_and_the_public_key_round_trips(keyring: bs.Keyring) -> None:
    assert os.stat(keyring.path).st_mode & 0o777 == 0o600
    public = keyring.public_key()
    again = bs.PublicKey.from_json(public.to_json())
    assert again.key_id == "k1" and again.to_json() == public.to_json()
    private_b64 = json.loads(keyring.path.read_text())["keys"]["k1"]["private_key"]
    assert private_b64 not in repr(keyring) and private_b64 not in public.to_json()
    assert "k1" in bs.Keyring.load(keyring.path).keys


def test_store_open_settle_cycle(tenants: Tenants, login: Any, keyring: bs.Keyring,
                                 postgresql: psycopg.Connection[Any]) -> None:
    proxy, settlement = login("tessera_proxy"), login("tessera_settlement")
    batch = _batch(proxy, tenants.a, tenants.a1)
    secret_id = bs.store_secret(proxy, keyring.public_key(), tenants.a, batch, HEADER)
    stored = postgresql.execute("SELECT secret_id, key_id, scheme, octet_length(sealed) FROM tessera.batch_secrets"
                                ).fetchone()
    postgresql.rollback()
    assert stored == (secret_id, "k1", bs.SCHEME, len(HEADER) + 32 + 16)

    assert bs.open_secret(settlement, keyring, tenants.a, batch) == HEADER
    settlement.execute("SELECT tessera.transition_batch(%s, %s, 'dispatched', 'batch_abc')", (tenants.a, batch))
    assert bs.open_secret(settlement, keyring, tenants.a, batch) == HEADER
    revealed = audit_rows(postgresql, "batch_secrets", "secret_revealed")
    assert [(e["client_id"], e["entity_id"], e["actor_session_role"]) for e in revealed] == \
        [(tenants.a, str(secret_id), "tessera_settlement")] * 2
    assert all(HEADER.decode() not in str(e) for e in audit_rows(postgresql, "batch_secrets"))

    settlement.execute("SELECT tessera.transition_batch(%s, %s, 'completed')", (tenants.a, batch))
    assert _secret_rows(postgresql) == []  # destroyed by the terminal transition
    with pytest.raises(Conflict, match="terminal"):
        bs.open_secret(settlement, keyring, tenants.a, batch)
    deleted = audit_rows(postgresql, "batch_secrets", "delete")
    assert len(deleted) == 1 and "sealed" not in deleted[0]["before"]


@pytest.mark.parametrize("terminal", ["failed", "expired"])
def test_every_terminal_state_destroys_the_secret(terminal: str, tenants: Tenants, login: Any,
                                                  keyring: bs.Keyring, postgresql: psycopg.Connection[Any]) -> None:
    proxy = login("tessera_proxy")
    batch = _batch(proxy, tenants.a, tenants.a1)
    bs.store_secret(proxy, keyring.public_key(), tenants.a, batch, HEADER)
    proxy.execute("SELECT tessera.transition_batch(%s, %s, %s)", (tenants.a, batch, terminal))
    assert _secret_rows(postgresql) == []
    with pytest.raises(Conflict):  # and a terminal batch takes no new secret
        bs.store_secret(proxy, keyring.public_key(), tenants.a, batch, HEADER)


def test_the_state_machine_refuses_illegal_transitions_for_every_role(
        tenants: Tenants, login: Any, postgresql: psycopg.Connection[Any]) -> None:
    proxy = login("tessera_proxy")
    batch = _batch(proxy, tenants.a, tenants.a1)
    for illegal in ("completed", "pending", "bogus"):
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            proxy.execute("SELECT tessera.transition_batch(%s, %s, %s)", (tenants.a, batch, illegal))
    # A legal move that also rewrites an identity column is refused, even to the superuser.
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="provider batch id"):
        postgresql.execute("UPDATE tessera.batches SET state = 'dispatched', provider_batch_id = 'x',"
                           " workload_id = %s", (tenants.a2,))
    postgresql.rollback()
    # Dispatching needs the provider's batch id (CHECK batches_dispatched_has_provider_id).
    with pytest.raises(psycopg.errors.CheckViolation):
        proxy.execute("SELECT tessera.transition_batch(%s, %s, 'dispatched')", (tenants.a, batch))
    proxy.execute("SELECT tessera.transition_batch(%s, %s, 'dispatched', 'prov-1')", (tenants.a, batch))
    proxy.execute("SELECT tessera.transition_batch(%s, %s, 'failed', NULL, 'provider said no')", (tenants.a, batch))
    # Terminal is final, even for the superuser (the guard is ENABLE ALWAYS).
    for state in ("completed", "dispatched", "pending"):
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="terminal"):
            postgresql.execute("UPDATE tessera.batches SET state = %s", (state,))
        postgresql.rollback()
    postgresql.execute("SET session_replication_role = replica")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        postgresql.execute("UPDATE tessera.batches SET state_reason = 'rewritten'")
    postgresql.rollback()
    row = postgresql.execute("SELECT state, state_reason, finished_at IS NOT NULL FROM tessera.batches").fetchone()
    assert row == ("failed", "provider said no", True)
    # Another client's batch id is simply not found.
    with pytest.raises(psycopg.errors.NoDataFound):
        proxy.execute("SELECT tessera.transition_batch(%s, %s, 'dispatched', 'p')", (tenants.b, batch))


def test_batches_need_the_opt_in_and_no_kill_switch(tenants: Tenants, login: Any,
                                                    postgresql: psycopg.Connection[Any]) -> None:
    proxy = login("tessera_proxy")
    postgresql.execute("UPDATE tessera.workloads SET mechanic_batch_routing = false WHERE workload_id = %s",
                       (tenants.a2,))
    postgresql.execute("UPDATE tessera.clients SET optimisation_kill_switch = true WHERE client_id = %s", (tenants.b,))
    postgresql.commit()
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="batch_routing"):
        _batch(proxy, tenants.a, tenants.a2)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="kill switch"):
        _batch(proxy, tenants.b, tenants.b1)
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        _batch(proxy, tenants.a, tenants.b1)


def test_cross_client_release_is_refused(tenants: Tenants, login: Any, keyring: bs.Keyring) -> None:
    proxy, settlement = login("tessera_proxy"), login("tessera_settlement")
    batch_a = _batch(proxy, tenants.a, tenants.a1)
    bs.store_secret(proxy, keyring.public_key(), tenants.a, batch_a, HEADER)
    with pytest.raises(NotFound):
        bs.open_secret(settlement, keyring, tenants.b, batch_a)
    # ... and a secret cannot be stored for another client's batch either.
    with pytest.raises(NotFound):
        bs.store_secret(proxy, keyring.public_key(), tenants.b, batch_a, HEADER)


def test_a_swapped_or_relabelled_ciphertext_does_not_open(tenants: Tenants, login: Any, keyring: bs.Keyring,
                                                          postgresql: psycopg.Connection[Any]) -> None:
    proxy, settlement = login("tessera_proxy"), login("tessera_settlement")
    batch_a = _batch(proxy, tenants.a, tenants.a1)
    batch_a2 = _batch(proxy, tenants.a, tenants.a1)
    batch_b = _batch(proxy, tenants.b, tenants.b1)
    bs.store_secret(proxy, keyring.public_key(), tenants.a, batch_a, HEADER)
    bs.store_secret(proxy, keyring.public_key(), tenants.a, batch_a2, b"Bearer other")
    bs.store_secret(proxy, keyring.public_key(), tenants.b, batch_b, b"Bearer b")
    # An attacker with write access copies A's sealed value into B's row and A2's row.
    postgresql.execute("UPDATE tessera.batch_secrets SET sealed = (SELECT sealed FROM tessera.batch_secrets"
                       " WHERE batch_id = %s) WHERE batch_id IN (%s, %s)", (batch_a, batch_b, batch_a2))
    postgresql.commit()
    assert bs.open_secret(settlement, keyring, tenants.a, batch_a) == HEADER
    for client, batch in ((tenants.b, batch_b), (tenants.a, batch_a2)):
        with pytest.raises(bs.SecretWontOpen):
            bs.open_secret(settlement, keyring, client, batch)
    # Relabelling the key id (to a key the keyring also has) fails too.
    keyring.generate("k2")
    postgresql.execute("UPDATE tessera.batch_secrets SET key_id = 'k2' WHERE batch_id = %s", (batch_a,))
    postgresql.commit()
    with pytest.raises(bs.SecretWontOpen):
        bs.open_secret(settlement, keyring, tenants.a, batch_a)


@pytest.mark.parametrize("who", ["sponsor", "operator", "anon", "service", "proxy"])
def test_only_the_settlement_role_may_open(who: str, db: Database, tenants: Tenants, login: Any,
                                           keyring: bs.Keyring) -> None:
    proxy = login("tessera_proxy")
    batch = _batch(proxy, tenants.a, tenants.a1)
    bs.store_secret(proxy, keyring.public_key(), tenants.a, batch, HEADER)
    stmt = "SELECT * FROM tessera.open_batch_secret(%s, %s)"
    if who == "proxy":
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            proxy.execute(stmt, (tenants.a, batch))
        return
    session = {"sponsor": lambda: db.as_sponsor(SPONSOR_A), "operator": lambda: db.as_operator(OPERATOR),
               "anon": db.as_anon, "service": db.as_service}[who]
    with pytest.raises(PermissionDenied), session() as conn:
        conn.execute(stmt, (tenants.a, batch))
    # Nobody reads the sealed column directly either.
    with pytest.raises(PermissionDenied), session() as conn:
        conn.execute("SELECT sealed FROM tessera.batch_secrets")


def test_the_sweeper_destroys_secrets_older_than_48_hours_whatever_the_state(
        db: Database, tenants: Tenants, login: Any, keyring: bs.Keyring,
        postgresql: psycopg.Connection[Any]) -> None:
    proxy = login("tessera_proxy")
    never_settles = _batch(proxy, tenants.a, tenants.a1)
    dispatched = _batch(proxy, tenants.b, tenants.b1)
    for client, batch in ((tenants.a, never_settles), (tenants.b, dispatched)):
        bs.store_secret(proxy, keyring.public_key(), client, batch, HEADER)
    proxy.execute("SELECT tessera.transition_batch(%s, %s, 'dispatched', 'p-1')", (tenants.b, dispatched))

    def sweep(hours: float) -> tuple[int, ...]:
        with db.as_service("sweeper") as conn:
            row = conn.execute("SELECT * FROM tessera.sweep(now() + make_interval(secs => %s))",
                               (hours * 3600,)).fetchone()
        assert row is not None
        return tuple(row)

    assert sweep(47.9)[0] == 0 and len(_secret_rows(postgresql)) == 2
    assert sweep(48.01)[0] == 2 and _secret_rows(postgresql) == []
    states = postgresql.execute("SELECT state FROM tessera.batches ORDER BY state").fetchall()
    assert states == [("dispatched",), ("pending",)]  # the batches stay; their secrets are gone
    with pytest.raises(NotFound, match="holds no secret"):
        bs.open_secret(login("tessera_settlement"), keyring, tenants.a, never_settles)
    # The clock only moves forward.
    with pytest.raises(InvalidInput, match="now or later"), db.as_service("sweeper") as conn:
        conn.execute("SELECT * FROM tessera.sweep(now() - interval '1 day')")
    with pytest.raises(PermissionDenied), db.as_sponsor(SPONSOR_A) as conn:
        conn.execute("SELECT * FROM tessera.sweep()")


def test_rotation_reseals_under_the_new_key_and_retiring_shreds_old_copies(
        tenants: Tenants, login: Any, keyring: bs.Keyring, postgresql: psycopg.Connection[Any]) -> None:
    proxy, settlement = login("tessera_proxy"), login("tessera_settlement")
    batches = [(tenants.a, _batch(proxy, tenants.a, tenants.a1)), (tenants.b, _batch(proxy, tenants.b, tenants.b1))]
    for client, batch in batches:
        bs.store_secret(proxy, keyring.public_key(), client, batch, HEADER + client.bytes[:2])
    old_copy = postgresql.execute("SELECT secret_id, sealed FROM tessera.batch_secrets WHERE batch_id = %s",
                                  (batches[0][1],)).fetchone()
    postgresql.rollback()
    assert old_copy is not None

    settlement.autocommit = False
    result = bs.rotate(settlement, keyring, new_key_id="k2", retire=True)
    settlement.autocommit = True
    assert (result.current, result.resealed, result.skipped, result.retired) == ("k2", 2, 0, ["k1"])
    assert {r[2] for r in _secret_rows(postgresql)} == {"k2"}
    assert sorted(bs.Keyring.load(keyring.path).keys) == ["k2"]
    for client, batch in batches:
        assert bs.open_secret(settlement, keyring, client, batch) == HEADER + client.bytes[:2]
    # A copy of the old sealed value (a dead tuple, the WAL, a backup) no longer opens.
    with pytest.raises(bs.SecretWontOpen, match="retired"):
        bs.open_sealed(bytes(old_copy[1]), keyring, key_id="k1", secret_id=old_copy[0],
                       batch_id=batches[0][1], client_id=tenants.a)
    resealed = [e for e in audit_rows(postgresql, "batch_secrets", "update")]
    assert len(resealed) == 2 and all(e["after"]["key_id"] == "k2" and "sealed" not in e["after"] for e in resealed)


def test_no_plaintext_reaches_the_data_directory_wal_or_server_log(
        tessera_cluster: Cluster, tenants: Tenants, login: Any, keyring: bs.Keyring,
        postgresql: psycopg.Connection[Any]) -> None:
    """Store, open, rotate and settle a secret with a known plaintext while every statement
    of every session is logged with its parameters; then CHECKPOINT and
    grep every file of the data directory (pg_wal included) and the server log. A control
    string written to the batch row in the same transactions MUST be found in both (the
    scan can see what reaches the disk and the log); the plaintext must be found in none."""
    marker = uuid.uuid4().hex
    plaintext = f"Bearer sk-leakcheck-{marker}".encode()
    control = f"leakcheck-control-{marker}"
    log_every_statement(postgresql)
    proxy, settlement = login("tessera_proxy"), login("tessera_settlement")
    batch = _batch(proxy, tenants.a, tenants.a1)
    bs.store_secret(proxy, keyring.public_key(), tenants.a, batch, plaintext)
    proxy.execute("SELECT tessera.transition_batch(%s, %s, 'dispatched', %s)", (tenants.a, batch, control))
    assert bs.open_secret(settlement, keyring, tenants.a, batch) == plaintext
    settlement.autocommit = False
    bs.rotate(settlement, keyring, new_key_id="k2")
    settlement.autocommit = True
    assert bs.open_secret(settlement, keyring, tenants.a, batch) == plaintext
    settlement.execute("SELECT tessera.transition_batch(%s, %s, 'completed')", (tenants.a, batch))

    hits = scan_disk(tessera_cluster, postgresql, {"plaintext": plaintext, "control": control.encode()})
    assert SERVER_LOG in hits["control"], "control string not in the server log: the log scan sees nothing"
    assert any(h.startswith("pg_wal") for h in hits["control"]), "control string not in the WAL"
    assert any(h.startswith("base") for h in hits["control"]), "control string not in the heap files"
    assert hits["plaintext"] == set(), f"PLAINTEXT LEAKED to {sorted(hits['plaintext'])}"


def test_each_bound_field_alone_stops_a_copied_ciphertext(tenants: Tenants, login: Any, keyring: bs.Keyring,
                                                          postgresql: psycopg.Connection[Any]) -> None:
    """The seal binds client id, batch id and secret id each on their own: a copy that
    keeps two of them and changes only the third still fails to open."""
    proxy, settlement = login("tessera_proxy"), login("tessera_settlement")
    batch = _batch(proxy, tenants.a, tenants.a1)
    other_batch = _batch(proxy, tenants.a, tenants.a1)
    secret_id = bs.store_secret(proxy, keyring.public_key(), tenants.a, batch, HEADER)
    # Same batch id and secret id, other client (batch ids are unique per client only).
    postgresql.execute("INSERT INTO tessera.batches (client_id, batch_id, workload_id, provider)"
                       " VALUES (%s, %s, %s, 'openai')", (tenants.b, batch, tenants.b1))
    postgresql.execute("INSERT INTO tessera.batch_secrets (client_id, batch_id, secret_id, scheme, key_id, sealed)"
                       " SELECT %s, batch_id, secret_id, scheme, key_id, sealed FROM tessera.batch_secrets"
                       "  WHERE client_id = %s", (tenants.b, tenants.a))
    postgresql.commit()
    with pytest.raises(bs.SecretWontOpen):
        bs.open_secret(settlement, keyring, tenants.b, batch)
    # Same client and secret id, other batch (the original row moved away first).
    postgresql.execute("UPDATE tessera.batch_secrets SET batch_id = %s WHERE client_id = %s AND secret_id = %s",
                       (other_batch, tenants.a, secret_id))
    postgresql.commit()
    with pytest.raises(bs.SecretWontOpen):
        bs.open_secret(settlement, keyring, tenants.a, other_batch)
    # Same client and batch, other secret id.
    postgresql.execute("UPDATE tessera.batch_secrets SET batch_id = %s, secret_id = gen_random_uuid()"
                       " WHERE client_id = %s AND secret_id = %s", (batch, tenants.a, secret_id))
    postgresql.commit()
    with pytest.raises(bs.SecretWontOpen):
        bs.open_secret(settlement, keyring, tenants.a, batch)


def test_cli_keygen_store_check_settle_sweep(tmp_path: Path, app_dsn: str, role_dsn: Any,
                                             tenants: Tenants) -> None:
    from click.testing import CliRunner

    from tessera_db.cli import main

    runner = CliRunner()
    ring, public = str(tmp_path / "ring.json"), str(tmp_path / "public.json")
    proxy_dsn, settle_dsn = role_dsn("tessera_proxy"), role_dsn("tessera_settlement")

    def run(*args: str, stdin: str | None = None) -> Any:
        result = runner.invoke(main, list(args), input=stdin)
        assert result.exit_code == 0, result.output
        return result

    run("secrets", "keygen", "--keyring", ring, "--key-id", "k1", "--public-out", public)
    batch = run("batches", "create", "--client", str(tenants.a), "--workload", str(tenants.a1),
                "--provider", "openai", "--dsn", proxy_dsn).stdout.strip()
    stored = run("secrets", "store", "--client", str(tenants.a), "--batch", batch, "--public-key", public,
                 "--dsn", proxy_dsn, stdin=HEADER.decode() + "\n")
    assert HEADER.decode() not in stored.output
    checked = run("secrets", "check", "--client", str(tenants.a), "--batch", batch, "--keyring", ring,
                  "--dsn", settle_dsn)
    assert f"opens ({len(HEADER)} bytes)" in checked.stdout and HEADER.decode() not in checked.output
    printed = run("secrets", "check", "--client", str(tenants.a), "--batch", batch, "--keyring", ring,
                  "--dsn", settle_dsn, "--print")
    assert printed.stdout.strip() == HEADER.decode()
    rotated = run("secrets", "rotate", "--keyring", ring, "--key-id", "k2", "--retire", "--dsn", settle_dsn)
    assert "re-sealed 1 secret(s)" in rotated.stdout and "retired k1" in rotated.stdout
    run("batches", "transition", "--client", str(tenants.a), "--batch", batch, "--state", "failed",
        "--reason", "test", "--dsn", settle_dsn)
    gone = runner.invoke(main, ["secrets", "check", "--client", str(tenants.a), "--batch", batch,
                                "--keyring", ring, "--dsn", settle_dsn])
    assert gone.exit_code == 1 and "terminal" in gone.stderr
    swept = run("sweep", "--dsn", app_dsn)
    assert swept.stdout.startswith("sweep: destroyed 0 settlement secret(s)")

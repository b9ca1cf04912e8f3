"""Tamper evidence (issue 5 items 4 and 5): the sealer, the verifier, inclusion proofs.

* The sealer login (tessera_sealer) holds no table privilege; its three definer functions
  are refused (42501) to every other role, and return nothing outside a sealer session.
* Seal / verify happy path; sealing is idempotent when nothing is new.
* A second concurrent sealer fails (UNIQUE prev_tree_size) instead of forking.
* A long-running writer that commits after a seal is sealed by the next checkpoint
  (the horizon), never skipped; writers never wait for an open seal transaction.
* The tamper suite, as the superuser (disabling the ENABLE ALWAYS append-only triggers
  is exactly what the threat model allows): each tampering is DETECTED and the verifier
  names the right first bad row, checkpoint or the state file.
* Proofs check out with only the public key and fail for a modified event.
* encoding.py agrees with the database's content_hash on rows with every field NULL,
  every field set, unicode and jsonb.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import sql

from tessera_db.audit import encoding, merkle, proof, seal, signing
from tessera_db.audit.verify import State, VerifyResult, verify
from tessera_db.cli import main
from tessera_db.errors import PermissionDenied, translate_errors

SEALER_FUNCTIONS = (
    "tessera.audit_latest_checkpoint()",
    "tessera.audit_sealable_leaves(xid8,xid8)",
    "tessera.audit_append_checkpoint(bigint,bytea,bigint,bytea,xid8,xid8,timestamp with time zone,text,bytea,"
    "bytea[])",
)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def sealer_dsn(role_dsn: Callable[[str], str]) -> str:
    return role_dsn("tessera_sealer")


@pytest.fixture
def su(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A superuser connection in autocommit mode (so it never holds the horizon back)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


def emit(conn: psycopg.Connection[Any], n: int = 1, tag: str = "probe") -> list[int]:
    """n audit events, one committed transaction each; their event_ids."""
    ids = []
    for i in range(n):
        row = conn.execute(
            "SELECT tessera_private.write_audit_event(NULL, 'probe', %s, 'insert', NULL, %s::jsonb)",
            (f"{tag}-{i}", json.dumps({"tag": tag, "i": i}))).fetchone()
        assert row is not None
        ids.append(int(row[0]))
    return ids


def seal_now(sealer_dsn: str, key: Ed25519PrivateKey) -> seal.SealResult:
    return seal.seal_once(sealer_dsn, key)


def run_verify(dsn: str, key: Ed25519PrivateKey | list[Ed25519PrivateKey],
               state: Path | None = None, *, workers: int | None = None,
               chunk_rows: int | None = None) -> VerifyResult:
    keys = key if isinstance(key, list) else [key]
    with psycopg.connect(dsn, autocommit=True) as conn:
        return verify(conn, [k.public_key() for k in keys], state, workers=workers, chunk_rows=chunk_rows)


def checkpoints(conn: psycopg.Connection[Any]) -> list[seal.Checkpoint]:
    rows = conn.execute(f"SELECT {seal.CHECKPOINT_COLUMNS} FROM tessera.audit_checkpoints "
                        "ORDER BY checkpoint_id").fetchall()
    return [seal.checkpoint_from_row(r) for r in rows]


def sealed_event_ids(conn: psycopg.Connection[Any], cp: seal.Checkpoint) -> list[int]:
    return [r[0] for r in conn.execute(
        "SELECT event_id FROM tessera.audit_events WHERE txid >= %s::text::xid8 AND txid < %s::text::xid8 "
        "ORDER BY event_id", (str(cp.prev_horizon), str(cp.horizon))).fetchall()]


class Tamper:
    """As the superuser: switch off the user triggers of a table (and its partitions)
    for one transaction, change rows, switch them back on as they were."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def __call__(self, table: str, *statements: tuple[str, Any]) -> None:
        conn = self.conn
        rels = [r[0] for r in conn.execute(
            "SELECT %s::regclass::oid UNION SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass",
            (table, table)).fetchall()]
        triggers = conn.execute(
            "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger "
            "WHERE tgrelid = ANY(%s) AND NOT tgisinternal AND tgparentid = 0", (rels,)).fetchall()
        with conn.transaction():
            for rel in rels:
                conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(
                    sql.SQL(conn.execute("SELECT %s::regclass::text", (rel,)).fetchone()[0])))  # type: ignore[index]
            for statement, params in statements:
                conn.execute(statement, params)
            for rel_name, tgname, enabled in triggers:
                action = {"A": "ENABLE ALWAYS TRIGGER", "O": "ENABLE TRIGGER", "R": "ENABLE REPLICA TRIGGER"}[enabled]
                conn.execute(sql.SQL("ALTER TABLE {} {} {}").format(
                    sql.SQL(rel_name), sql.SQL(action), sql.Identifier(tgname)))


# --------------------------------------------------------------------------- privileges


def test_sealer_role_holds_no_table_privilege_and_only_its_functions(su: psycopg.Connection[Any]) -> None:
    row = su.execute("SELECT rolcanlogin, rolbypassrls, rolsuper FROM pg_roles WHERE rolname = 'tessera_sealer'"
                     ).fetchone()
    assert row == (True, False, False)
    tables = su.execute(
        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname IN ('tessera', 'tessera_private') AND c.relkind IN ('r', 'p', 'v', 'm') "
        "AND has_table_privilege('tessera_sealer', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES')"
    ).fetchall()
    assert tables == []
    functions = su.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname IN ('tessera', 'tessera_private') "
        "AND has_function_privilege('tessera_sealer', p.oid, 'EXECUTE') ORDER BY 1").fetchall()
    assert sorted(f for (f,) in functions) == sorted(SEALER_FUNCTIONS)
    for fn in SEALER_FUNCTIONS:
        prosecdef, config = su.execute(
            "SELECT prosecdef, proconfig FROM pg_proc WHERE oid = %s::regprocedure", (fn,)).fetchone()  # type: ignore[misc]
        assert prosecdef and "search_path=pg_catalog, pg_temp" in config


def test_sealer_cannot_read_the_tables_directly(sealer_dsn: str, su: psycopg.Connection[Any]) -> None:
    emit(su, 1)
    with psycopg.connect(sealer_dsn, autocommit=True) as conn:
        for table in ("audit_events", "audit_checkpoints"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql.SQL("SELECT 1 FROM {}").format(sql.Identifier("tessera", table)))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO tessera.audit_checkpoints (tree_size) VALUES (1)")
        # ... but through its function it sees the sealable rows.
        horizon = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())").fetchone()[0]  # type: ignore[index]
        leaves = conn.execute("SELECT * FROM tessera.audit_sealable_leaves('0', %s)", (horizon,)).fetchall()
        assert len(leaves) == 1 and len(leaves[0][1]) == 32


@pytest.mark.parametrize("role", ["anon", "authenticated", "service_role", "tessera_proxy", "tessera_settlement"])
def test_other_roles_cannot_execute_the_sealer_functions(su: psycopg.Connection[Any], role: str) -> None:
    calls = ("SELECT * FROM tessera.audit_latest_checkpoint()",
             "SELECT * FROM tessera.audit_sealable_leaves('0', '0')",
             "SELECT tessera.audit_append_checkpoint(1, '\\x00', 0, '\\x00', '5', '0', now(), 'x', '\\x00', '{}')")
    for call in calls:
        with su.transaction():
            su.execute("SELECT set_config('role', %s, true)", (role,))
            with pytest.raises(PermissionDenied) as info, translate_errors(), su.transaction():
                su.execute(call)
            assert info.value.sqlstate == "42501"


def test_definer_functions_return_nothing_outside_a_sealer_session(su: psycopg.Connection[Any], sealer_dsn: str,
                                                                  key: Ed25519PrivateKey) -> None:
    # The owner policies admit the functions' reads only when the login is tessera_sealer:
    # the superuser calling them (inside, they run as tessera_owner) sees no row.
    emit(su, 2)
    assert seal_now(sealer_dsn, key).checkpoint is not None
    horizon = su.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())").fetchone()[0]  # type: ignore[index]
    assert su.execute("SELECT count(*) FROM tessera.audit_sealable_leaves('0', %s)", (horizon,)).fetchone() == (0,)
    assert su.execute("SELECT count(*) FROM tessera.audit_latest_checkpoint()").fetchone() == (0,)
    assert su.execute("SELECT count(*) FROM tessera.audit_checkpoints").fetchone() == (1,)


def test_checkpoints_are_append_only(su: psycopg.Connection[Any], sealer_dsn: str, key: Ed25519PrivateKey) -> None:
    emit(su, 1)
    seal_now(sealer_dsn, key)
    for statement in ("UPDATE tessera.audit_checkpoints SET tree_size = tree_size",
                      "DELETE FROM tessera.audit_checkpoints", "TRUNCATE tessera.audit_checkpoints"):
        with su.transaction():
            su.execute("SET LOCAL session_replication_role = replica")
            with pytest.raises(psycopg.errors.InsufficientPrivilege), su.transaction():
                su.execute(statement)
    assert len(checkpoints(su)) == 1


def test_sponsors_and_operators_read_checkpoints_anon_does_not(db: Any, su: psycopg.Connection[Any],
                                                               sealer_dsn: str, key: Ed25519PrivateKey) -> None:
    su.execute("INSERT INTO tessera.clients (client_id, name) VALUES ('00000000-0000-4000-8000-0000000000aa', 'A')")
    su.execute("INSERT INTO tessera.client_users (client_id, email) "
               "VALUES ('00000000-0000-4000-8000-0000000000aa', 'sponsor@a.example')")
    su.execute("INSERT INTO tessera.operators (email) VALUES ('ops@tessera.example')")
    seal_now(sealer_dsn, key)
    with db.as_sponsor("sponsor@a.example") as conn:
        assert conn.execute("SELECT count(*) FROM tessera.audit_checkpoints").fetchone() == (1,)
    with db.as_operator("ops@tessera.example") as conn:
        assert conn.execute("SELECT count(*) FROM tessera.audit_checkpoints").fetchone() == (1,)
    with db.as_sponsor("stranger@nowhere.example") as conn:
        assert conn.execute("SELECT count(*) FROM tessera.audit_checkpoints").fetchone() == (0,)
    with pytest.raises(PermissionDenied), db.as_anon() as conn:
        conn.execute("SELECT count(*) FROM tessera.audit_checkpoints")


# --------------------------------------------------------------------------- encoding v1


def test_python_encoding_agrees_with_the_database(su: psycopg.Connection[Any]) -> None:
    with su.transaction():
        # every optional field NULL
        su.execute("SELECT tessera_private.write_audit_event(NULL, 'probe', NULL, 'insert')")
    with su.transaction():
        # every field set, unicode, nested jsonb, an IPv6 and an IPv4 network
        su.execute("SELECT set_config('request.jwt.claims', %s, true), set_config('tessera.job_name', 'sealer-test', true),"
                   " set_config('tessera.request_id', 'req-ü-1', true),"
                   " set_config('tessera.prompt_fingerprint_v1', %s, true)",
                   (json.dumps({"email": "Zoë@Example.com", "sub": "sub-☃"}),
                    json.dumps({"structural_signature": "s.u.a/c=1/j=0/t=0/b=2", "token_count_band": 2,
                                "embedding_cluster_id": 7})))
        su.execute("SELECT tessera_private.write_audit_event(%s, 'clients', 'ключ/1', 'override', %s::jsonb, "
                   "%s::jsonb, 'weil: 理由 \"quoted\"\n', '2001:db8::1')",
                   ("00000000-0000-4000-8000-00000000000a", json.dumps({"b": [1, 2.50, None], "a": "x"}),
                    json.dumps({"emoji": "🙂", "n": 1e20, "t": True})))
        su.execute("SELECT tessera_private.write_audit_event(NULL, 'auth', 'k', 'auth_failure', NULL, '{}', '',"
                   " '10.1.0.0/16')")
    rows = su.execute(f"SELECT {encoding.SELECT_COLUMNS} FROM tessera.audit_events ORDER BY event_id").fetchall()
    assert len(rows) == 3
    nulls = [v is None for v in rows[0][: len(encoding.FIELDS)]]
    assert sum(nulls) == 10  # client_id, entity_id, before, after, email, sub, job, reason, ip, fingerprint
    assert not any(v is None for v in rows[1][: len(encoding.FIELDS)])
    for row in rows:
        assert encoding.content_hash(row) == bytes(row[-1]), row
    assert encoding.canonical_texts(rows[2])[16] == "10.1.0.0/16"
    # The verifier's own fast path (COPY text format, escapes, UTC timestamps) agrees too.
    result = verify(su, [Ed25519PrivateKey.generate().public_key()])
    assert result.ok and result.rows == 3 and result.unsealed_rows == 3
    # and a changed value changes the hash
    changed = list(rows[1])
    changed[encoding.FIELDS.index("after")] = changed[encoding.FIELDS.index("after")].replace("🙂", "🙃")
    assert encoding.content_hash(changed) != bytes(rows[1][-1])


# --------------------------------------------------------------------------- sealing


def test_seal_and_verify_happy_path(su: psycopg.Connection[Any], sealer_dsn: str, dsn: str, app_dsn: str,
                                    key: Ed25519PrivateKey, tmp_path: Path) -> None:
    state = tmp_path / "verifier.json"
    assert seal_now(sealer_dsn, key).checkpoint is None  # empty log: nothing to seal
    first_ids = emit(su, 5)
    first = seal_now(sealer_dsn, key)
    assert first.checkpoint is not None and first.sealed_rows == 5 and first.tree_size == 5
    again = seal_now(sealer_dsn, key)  # idempotent when nothing is new
    assert again.checkpoint is None and again.tree_size == 5
    second_ids = emit(su, 3)
    second = seal_now(sealer_dsn, key)
    assert second.checkpoint is not None and second.sealed_rows == 3

    cps = checkpoints(su)
    assert [c.tree_size for c in cps] == [5, 8]
    assert sealed_event_ids(su, cps[0]) == first_ids and sealed_event_ids(su, cps[1]) == second_ids
    c1, c2 = cps
    assert (c1.prev_tree_size, c1.prev_root_hash, c1.prev_horizon) == (0, merkle.EMPTY_ROOT, 0)
    assert (c2.prev_tree_size, c2.prev_root_hash, c2.prev_horizon) == (5, c1.root_hash, c1.horizon)
    hashes = [bytes(r[0]) for r in su.execute(
        "SELECT content_hash FROM tessera.audit_events ORDER BY event_id").fetchall()]
    assert c2.root_hash == merkle.root([merkle.leaf_hash(h) for h in hashes])
    assert c2.key_id == signing.key_id(key.public_key()) and c2.head.verify(key.public_key(), c2.signature)

    for verifier_dsn in (dsn, app_dsn):  # as the superuser, and as service_role via the authenticator
        for workers, chunk_rows in ((None, None), (2, 3)):  # in process; worker processes sharing the snapshot
            result = run_verify(verifier_dsn, key, state, workers=workers, chunk_rows=chunk_rows)
            assert result.ok, result.problem
            assert (result.checkpoints, result.rows, result.sealed_rows, result.unsealed_rows) == (2, 8, 8, 0)
    saved = State.load(state)
    assert saved == State(8, c2.root_hash, c2.checkpoint_id)

    emit(su, 2)  # not sealed yet: counted, not a failure
    result = run_verify(dsn, key, state)
    assert result.ok and result.unsealed_rows == 2


def test_a_concurrent_second_sealer_fails_instead_of_forking(su: psycopg.Connection[Any], sealer_dsn: str,
                                                             key: Ed25519PrivateKey, dsn: str) -> None:
    emit(su, 3)
    seal_now(sealer_dsn, key)
    emit(su, 2)
    with psycopg.connect(sealer_dsn) as a, psycopg.connect(sealer_dsn) as b:
        pending_a = seal.prepare(a, key)
        emit(su, 1)  # B sees one more row: a different tree_size, the same prev_tree_size
        pending_b = seal.prepare(b, key)
        assert pending_a is not None and pending_b is not None
        assert pending_a.head.prev_tree_size == pending_b.head.prev_tree_size == 3
        assert pending_a.head.tree_size == 5 and pending_b.head.tree_size == 6
        seal.append(a, pending_a)  # A's checkpoint is in, not yet committed

        outcome: dict[str, BaseException | None] = {}

        def second() -> None:
            try:
                seal.append(b, pending_b)
                outcome["error"] = None
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                outcome["error"] = exc

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), "the second sealer did not wait for the first"
        a.commit()
        thread.join(10)
        b.rollback()
    error = outcome["error"]
    assert isinstance(error, seal.SealConflict), error
    assert error.sqlstate == "23505" and error.constraint == "audit_checkpoints_prev_tree_size_key"
    cps = checkpoints(su)
    assert [(c.prev_tree_size, c.tree_size) for c in cps] == [(0, 3), (3, 5)]
    # The loser's next step simply extends the winner.
    result = seal_now(sealer_dsn, key)
    assert result.checkpoint is not None and result.checkpoint.prev_tree_size == 5 and result.tree_size == 6
    assert run_verify(dsn, key).ok


def test_a_late_committing_writer_is_sealed_by_the_next_checkpoint(su: psycopg.Connection[Any], dsn: str,
                                                                   sealer_dsn: str, key: Ed25519PrivateKey) -> None:
    early = emit(su, 1, "early")
    with psycopg.connect(dsn) as long_running:  # a writer that stays open across a seal
        late = emit(long_running, 1, "late")
        long_xid = int(long_running.execute("SELECT pg_current_xact_id()::text").fetchone()[0])  # type: ignore[index]
        after = emit(su, 1, "after")  # committed, but its xid is above the open writer's
        first = seal_now(sealer_dsn, key)
        assert first.checkpoint is not None
        assert first.checkpoint.horizon <= long_xid
        assert sealed_event_ids(su, first.checkpoint) == early
        long_running.commit()
    second = seal_now(sealer_dsn, key)
    assert second.checkpoint is not None
    assert sealed_event_ids(su, second.checkpoint) == sorted(late + after)
    all_ids = [r[0] for r in su.execute("SELECT event_id FROM tessera.audit_events ORDER BY event_id").fetchall()]
    sealed = [i for c in checkpoints(su) for i in sealed_event_ids(su, c)]
    assert sorted(sealed) == all_ids and len(sealed) == len(set(sealed))  # none skipped, none twice
    assert second.tree_size == 3
    assert run_verify(dsn, key).ok


def test_writers_never_wait_for_an_open_seal(su: psycopg.Connection[Any], dsn: str, sealer_dsn: str,
                                             key: Ed25519PrivateKey) -> None:
    emit(su, 2)
    with psycopg.connect(sealer_dsn) as sealer_conn:
        pending = seal.prepare(sealer_conn, key)
        assert pending is not None
        seal.append(sealer_conn, pending)  # the seal transaction is open, its checkpoint uncommitted
        with psycopg.connect(dsn, autocommit=True) as writer:
            writer.execute("SET statement_timeout = '3s'")
            started = time.monotonic()
            emit(writer, 3)
            writer.execute("INSERT INTO tessera.clients (name) VALUES ('written during a seal')")
            assert time.monotonic() - started < 2.0
        sealer_conn.commit()
    assert seal_now(sealer_dsn, key).sealed_rows == 4  # 3 events + the client insert's
    assert run_verify(dsn, key).ok


def test_sealer_refuses_a_checkpoint_whose_signature_is_broken(su: psycopg.Connection[Any], sealer_dsn: str,
                                                               key: Ed25519PrivateKey) -> None:
    emit(su, 2)
    seal_now(sealer_dsn, key)
    Tamper(su)("tessera.audit_checkpoints",
               ("UPDATE tessera.audit_checkpoints SET sealed_at = sealed_at - interval '1 second'", None))
    emit(su, 1)
    with pytest.raises(seal.SealRefused, match="signature does not verify"):
        seal_now(sealer_dsn, key)


# --------------------------------------------------------------------------- tamper suite


@pytest.fixture
def sealed_log(su: psycopg.Connection[Any], sealer_dsn: str, key: Ed25519PrivateKey, dsn: str,
               tmp_path: Path) -> dict[str, Any]:
    """Two checkpoints (5 then 4 rows), verified once: the state file remembers the log."""
    first = emit(su, 5, "first")
    seal_now(sealer_dsn, key)
    second = emit(su, 4, "second")
    seal_now(sealer_dsn, key)
    state = tmp_path / "state.json"
    assert run_verify(dsn, key, state).ok
    cp1, cp2 = checkpoints(su)
    return {"first": first, "second": second, "cp1": cp1, "cp2": cp2, "state": state}


def _detected(dsn: str, key: Ed25519PrivateKey, state: Path, item: str, message: str) -> VerifyResult:
    before = state.read_text()
    result = run_verify(dsn, key, state)
    assert not result.ok, "tampering NOT detected"
    assert result.problem is not None
    assert result.problem.item == item, result.problem
    assert message in result.problem.message, result.problem
    assert state.read_text() == before  # a failed run never moves the state forward
    # The parallel path (worker processes, chunks of 2 event_ids, subtrees built by the
    # workers) names the same first bad item.
    parallel = run_verify(dsn, key, state, workers=2, chunk_rows=2)
    assert parallel.problem == result.problem, (parallel.problem, result.problem)
    assert state.read_text() == before
    return result


def _cp(cp: seal.Checkpoint) -> str:
    return f"checkpoint {cp.checkpoint_id} (tree_size {cp.tree_size})"


def test_tamper_edited_row_with_the_hash_kept(su: psycopg.Connection[Any], dsn: str, key: Ed25519PrivateKey,
                                              sealed_log: dict[str, Any]) -> None:
    victim = sealed_log["first"][2]
    Tamper(su)("tessera.audit_events", (
        "UPDATE tessera.audit_events SET after = '{\"tag\": \"forged\"}' WHERE event_id = %s", (victim,)))
    _detected(dsn, key, sealed_log["state"], f"row event_id={victim}", "the row was edited")


def test_tamper_edited_row_with_a_recomputed_hash(su: psycopg.Connection[Any], dsn: str, key: Ed25519PrivateKey,
                                                  sealed_log: dict[str, Any]) -> None:
    victim = sealed_log["first"][2]
    Tamper(su)("tessera.audit_events",
               ("UPDATE tessera.audit_events SET after = '{\"tag\": \"forged\"}' WHERE event_id = %s", (victim,)),
               ("UPDATE tessera.audit_events AS e SET content_hash = tessera_private.audit_content_hash(e)"
                " WHERE event_id = %s", (victim,)))
    _detected(dsn, key, sealed_log["state"], _cp(sealed_log["cp1"]), "root hash mismatch")


def test_tamper_deleted_row(su: psycopg.Connection[Any], dsn: str, key: Ed25519PrivateKey,
                            sealed_log: dict[str, Any]) -> None:
    Tamper(su)("tessera.audit_events",
               ("DELETE FROM tessera.audit_events WHERE event_id = %s", (sealed_log["first"][1],)))
    _detected(dsn, key, sealed_log["state"], _cp(sealed_log["cp1"]), "make tree_size 4, it signed 5")


def test_tamper_row_inserted_into_the_past(su: psycopg.Connection[Any], dsn: str, key: Ed25519PrivateKey,
                                           sealed_log: dict[str, Any]) -> None:
    # A copy of a sealed row with a new event_id, the same (sealed) txid and a valid hash.
    source = sealed_log["first"][0]
    Tamper(su)("tessera.audit_events",
               ("INSERT INTO tessera.audit_events OVERRIDING SYSTEM VALUE "
                "SELECT event_id + 1000, occurred_at, txid, client_id, entity, 'inserted-later', action, before,"
                "       after, actor_role, actor_session_role, actor_email, actor_sub, actor_job, request_id, reason,"
                "       source_ip, prompt_fingerprint_v1, content_hash"
                "  FROM tessera.audit_events WHERE event_id = %s", (source,)),
               ("UPDATE tessera.audit_events AS e SET content_hash = tessera_private.audit_content_hash(e)"
                " WHERE event_id = %s", (source + 1000,)))
    _detected(dsn, key, sealed_log["state"], _cp(sealed_log["cp1"]), "make tree_size 6, it signed 5")


def test_tamper_truncated_tail(su: psycopg.Connection[Any], dsn: str, key: Ed25519PrivateKey,
                               sealed_log: dict[str, Any]) -> None:
    Tamper(su)("tessera.audit_events",
               ("DELETE FROM tessera.audit_events WHERE event_id >= %s", (sealed_log["second"][2],)))
    _detected(dsn, key, sealed_log["state"], _cp(sealed_log["cp2"]), "make tree_size 7, it signed 9")


def test_tamper_replaced_checkpoint(su: psycopg.Connection[Any], dsn: str, key: Ed25519PrivateKey,
                                    sealed_log: dict[str, Any]) -> None:
    # Rewrite a row (hash recomputed), then replace checkpoint 1 with one whose root and
    # frontier match the rewritten rows; the attacker has no key, so the old signature stays.
    victim = sealed_log["first"][0]
    Tamper(su)("tessera.audit_events",
               ("UPDATE tessera.audit_events SET after = '{\"tag\": \"forged\"}' WHERE event_id = %s", (victim,)),
               ("UPDATE tessera.audit_events AS e SET content_hash = tessera_private.audit_content_hash(e)"
                " WHERE event_id = %s", (victim,)))
    hashes = [bytes(r[0]) for r in su.execute(
        "SELECT content_hash FROM tessera.audit_events WHERE event_id = ANY(%s) ORDER BY event_id",
        (sealed_log["first"],)).fetchall()]
    forged = merkle.Frontier()
    forged.extend(merkle.leaf_hash(h) for h in hashes)
    Tamper(su)("tessera.audit_checkpoints",
               ("UPDATE tessera.audit_checkpoints SET root_hash = %s, frontier = %s WHERE checkpoint_id = %s",
                (forged.root(), forged.nodes, sealed_log["cp1"].checkpoint_id)))
    _detected(dsn, key, sealed_log["state"], _cp(sealed_log["cp1"]), "signature does not verify")


def test_tamper_checkpoint_deleted_and_reinserted(su: psycopg.Connection[Any], dsn: str, key: Ed25519PrivateKey,
                                                  sealed_log: dict[str, Any]) -> None:
    # The same content under a new identity (delete, re-insert): out of seal order.
    cp1 = sealed_log["cp1"]
    Tamper(su)("tessera.audit_checkpoints",
               ("DELETE FROM tessera.audit_checkpoints WHERE checkpoint_id = %s", (cp1.checkpoint_id,)),
               ("INSERT INTO tessera.audit_checkpoints (version, tree_size, root_hash, prev_tree_size, prev_root_hash,"
                " horizon, prev_horizon, sealed_at, key_id, signature, frontier)"
                " VALUES (%s, %s, %s, %s, %s, %s::text::xid8, %s::text::xid8, %s, %s, %s, %s)",
                (cp1.version, cp1.tree_size, cp1.root_hash, cp1.prev_tree_size, cp1.prev_root_hash, str(cp1.horizon),
                 str(cp1.prev_horizon), cp1.sealed_at, cp1.key_id, cp1.signature, list(cp1.frontier))))
    _detected(dsn, key, sealed_log["state"], _cp(sealed_log["cp2"]), "does not link to the previous checkpoint")


@pytest.mark.parametrize("keep_key_id", [False, True], ids=["new-key-id", "key-id-kept"])
def test_tamper_resigned_with_another_key(su: psycopg.Connection[Any], dsn: str, key: Ed25519PrivateKey,
                                          sealed_log: dict[str, Any], keep_key_id: bool) -> None:
    # The attacker rewrites a row and re-signs every checkpoint consistently with their own key.
    attacker = Ed25519PrivateKey.generate()
    victim = sealed_log["first"][0]
    Tamper(su)("tessera.audit_events",
               ("UPDATE tessera.audit_events SET after = '{\"tag\": \"forged\"}' WHERE event_id = %s", (victim,)),
               ("UPDATE tessera.audit_events AS e SET content_hash = tessera_private.audit_content_hash(e)"
                " WHERE event_id = %s", (victim,)))
    frontier = merkle.Frontier()
    prev_size, prev_root = 0, merkle.EMPTY_ROOT
    statements = []
    for cp in checkpoints(su):
        hashes = [bytes(r[0]) for r in su.execute(
            "SELECT content_hash FROM tessera.audit_events WHERE txid >= %s::text::xid8 AND txid < %s::text::xid8"
            " ORDER BY event_id", (str(cp.prev_horizon), str(cp.horizon))).fetchall()]
        frontier.extend(merkle.leaf_hash(h) for h in hashes)
        kid = cp.key_id if keep_key_id else signing.key_id(attacker.public_key())
        head = signing.CheckpointHead(frontier.size, frontier.root(), prev_size, prev_root, cp.horizon,
                                      cp.prev_horizon, cp.sealed_at, kid)
        signature = attacker.sign(head.message())
        statements.append(("UPDATE tessera.audit_checkpoints SET root_hash = %s, prev_root_hash = %s, key_id = %s,"
                           " signature = %s, frontier = %s WHERE checkpoint_id = %s",
                           (head.root_hash, prev_root, kid, signature, list(frontier.nodes), cp.checkpoint_id)))
        prev_size, prev_root = frontier.size, frontier.root()
    Tamper(su)("tessera.audit_checkpoints", *statements)
    message = "signature does not verify" if keep_key_id else "signed by an unknown key"
    _detected(dsn, key, sealed_log["state"], _cp(sealed_log["cp1"]), message)


def test_tamper_rolled_back_database(su: psycopg.Connection[Any], dsn: str, sealer_dsn: str,
                                     key: Ed25519PrivateKey, sealed_log: dict[str, Any], tmp_path: Path) -> None:
    # "Restore an earlier backup": the newest checkpoint and its rows are gone. The log that
    # remains is self-consistent, so only the verifier's own state can tell.
    cp2 = sealed_log["cp2"]
    Tamper(su)("tessera.audit_checkpoints",
               ("DELETE FROM tessera.audit_checkpoints WHERE checkpoint_id = %s", (cp2.checkpoint_id,)))
    Tamper(su)("tessera.audit_events",
               ("DELETE FROM tessera.audit_events WHERE event_id = ANY(%s)", (sealed_log["second"],)))
    assert run_verify(dsn, key, tmp_path / "fresh-state.json").ok  # consistent without the state...
    _detected(dsn, key, sealed_log["state"], "state file", "the log is shorter than last verified")  # ...not with it

    # The sealer, unaware, seals new events on top of the restored log: the log grows past
    # the remembered size again, but its root at that size is a different one.
    emit(su, 6, "after-restore")
    assert seal_now(sealer_dsn, key).tree_size == 11
    _detected(dsn, key, sealed_log["state"], "state file", "the root at tree_size 9 is")


def test_state_file_remembers_the_checkpoint_identity(su: psycopg.Connection[Any], dsn: str,
                                                      key: Ed25519PrivateKey, sealed_log: dict[str, Any]) -> None:
    state = State.load(sealed_log["state"])
    assert state is not None and state.checkpoint_id == sealed_log["cp2"].checkpoint_id
    forged = sealed_log["state"].read_text().replace(f'"checkpoint_id": {state.checkpoint_id}',
                                                     f'"checkpoint_id": {state.checkpoint_id + 7}')
    sealed_log["state"].write_text(forged)
    _detected(dsn, key, sealed_log["state"], "state file", "is gone or was replaced")


# --------------------------------------------------------------------------- proofs and the CLI


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_proof_checks_out_with_only_the_public_key(su: psycopg.Connection[Any], app_dsn: str, sealer_dsn: str,
                                                    key: Ed25519PrivateKey, tmp_path: Path) -> None:
    ids = emit(su, 7)
    seal_now(sealer_dsn, key)
    emit(su, 2)
    seal_now(sealer_dsn, key)
    with psycopg.connect(app_dsn, autocommit=True) as conn:
        document = proof.build_proof(conn, ids[4])
    assert document["leaf_index"] == 4 and document["checkpoint"]["tree_size"] == 9
    public = key.public_key()
    assert proof.check_proof(json.loads(json.dumps(document)), public).startswith("OK: event")

    # modified leaf (event content), path, checkpoint, or another key: all refused
    modified = json.loads(json.dumps(document))
    modified["event"]["after"] = modified["event"]["after"].replace('"i": 4', '"i": 5')
    with pytest.raises(proof.ProofError, match="the event was modified"):
        proof.check_proof(modified, public)
    modified["content_hash"] = encoding.content_hash_of_texts([modified["event"][f] for f in encoding.FIELDS]).hex()
    with pytest.raises(proof.ProofError, match="does not lead to the signed root"):
        proof.check_proof(modified, public)
    moved = json.loads(json.dumps(document))
    moved["leaf_index"] = 5
    with pytest.raises(proof.ProofError, match="does not lead to the signed root"):
        proof.check_proof(moved, public)
    resized = json.loads(json.dumps(document))
    resized["checkpoint"]["tree_size"] = 10
    with pytest.raises(proof.ProofError, match="signature does not verify"):
        proof.check_proof(resized, public)
    with pytest.raises(proof.ProofError, match="not this public key"):
        proof.check_proof(document, Ed25519PrivateKey.generate().public_key())

    # The same through the CLI, with a public key file and no database at all.
    pub = tmp_path / "sealer.pub"
    pub.write_bytes(signing.public_pem(public))
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(document))
    bad.write_text(json.dumps(modified))
    ok = _invoke("audit", "check-proof", "--public-key", str(pub), str(good))
    assert ok.exit_code == 0 and ok.output.startswith("OK: event")
    failed = CliRunner().invoke(main, ["audit", "check-proof", "--public-key", str(pub), str(bad)])
    assert failed.exit_code == 3 and "proof check FAILED" in failed.output and "Traceback" not in failed.output


def test_proof_of_an_unsealed_event_is_refused(su: psycopg.Connection[Any], app_dsn: str, sealer_dsn: str,
                                               key: Ed25519PrivateKey) -> None:
    emit(su, 1)
    seal_now(sealer_dsn, key)
    [late] = emit(su, 1)
    result = CliRunner().invoke(main, ["audit", "proof", "--event", str(late), "--dsn", app_dsn])
    assert result.exit_code == 1 and "not sealed yet" in result.output


def test_cli_keygen_seal_verify_proof(su: psycopg.Connection[Any], app_dsn: str, sealer_dsn: str,
                                      tmp_path: Path) -> None:
    key_file, state = tmp_path / "sealer.key", tmp_path / "state.json"
    made = _invoke("audit", "keygen", "--out", str(key_file))
    assert made.exit_code == 0
    private_pem = key_file.read_text()
    assert private_pem.strip() not in made.output and "PRIVATE" not in made.output
    assert (key_file.stat().st_mode & 0o777) == 0o600
    pub = Path(str(key_file) + ".pub")

    ids = emit(su, 3)
    sealed = _invoke("audit", "seal", "--key", str(key_file), "--once", "--dsn", sealer_dsn)
    assert sealed.exit_code == 0 and "sealed 3 row(s)" in sealed.output
    idle = _invoke("audit", "seal", "--key", str(key_file), "--dsn", sealer_dsn)
    assert idle.exit_code == 0 and "nothing new to seal" in idle.output
    ok = _invoke("audit", "verify", "--public-key", str(pub), "--state", str(state), "--dsn", app_dsn)
    assert ok.exit_code == 0 and ok.output.startswith("OK: 1 checkpoint(s), tree_size 3")
    printed = _invoke("audit", "proof", "--event", str(ids[1]), "--dsn", app_dsn)
    assert printed.exit_code == 0
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(printed.output)
    checked = _invoke("audit", "check-proof", "--public-key", str(pub), str(proof_file))
    assert checked.exit_code == 0 and "is leaf 1 of the tree of 3 leaves" in checked.output

    Tamper(su)("tessera.audit_events",
               ("UPDATE tessera.audit_events SET entity_id = 'forged' WHERE event_id = %s", (ids[1],)))
    failed = CliRunner().invoke(main, ["audit", "verify", "--public-key", str(pub), "--state", str(state),
                                       "--dsn", app_dsn])
    assert failed.exit_code == 3
    assert f"verification FAILED: row event_id={ids[1]}:" in failed.output
    assert "Traceback" not in failed.output

    other = tmp_path / "other.key"
    _invoke("audit", "keygen", "--out", str(other))
    wrong_key = CliRunner().invoke(main, ["audit", "verify", "--public-key", str(other) + ".pub",
                                          "--state", str(tmp_path / "s2.json"), "--dsn", app_dsn])
    assert wrong_key.exit_code == 3 and "FAILED" in wrong_key.output
    loose = tmp_path / "loose.key"
    loose.write_bytes(key_file.read_bytes())
    loose.chmod(0o644)
    refused = CliRunner().invoke(main, ["audit", "seal", "--key", str(loose), "--dsn", sealer_dsn])
    assert refused.exit_code == 1 and "readable by others" in refused.output


def test_demo_ends_with_a_signed_checkpoint(db: Any, sealer_dsn: str, dsn: str, tmp_path: Path) -> None:
    from tessera_db import demo

    demo.load(db)
    line = demo.seal_audit_log(sealer_dsn, tmp_path)
    key_file = tmp_path / demo.DEMO_AUDIT_KEY
    assert (key_file.stat().st_mode & 0o777) == 0o600
    assert "PRIVATE" not in line and key_file.read_text().splitlines()[1] not in line
    assert "Audit log: sealed " in line
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert len(checkpoints(conn)) == 1
        result = verify(conn, [signing.load_public_key(Path(str(key_file) + ".pub"))], tmp_path / "state.json")
    assert result.ok and result.sealed_rows > 0 and result.unsealed_rows == 0
    assert "nothing new to seal" in demo.seal_audit_log(sealer_dsn, tmp_path)  # the same key, reused

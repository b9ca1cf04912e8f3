"""tessera.audit_events (issue 5, database side): what the triggers and definer functions
write, what nobody may change, and the content hash against an independent encoder.

* Every audited table: one event per inserted / updated / deleted row, with the changed,
  non-secret columns only, the actor and the request id; exempt tables write none.
* UPDATE, DELETE and TRUNCATE of audit_events fail for every role, the owner and the
  superuser included, also under session_replication_role = replica; nobody inserts
  directly, and nobody supplies a hash, an actor or a request id.
* content_hash equals SHA-256 of encoding v1 computed here, in Python, from the values
  read back (every field NULL / set, unicode, jsonb, inet).
* Break-glass: operators only, a reason is required, the break_glass row comes first and
  the window is the only way to hand-publish a price; auth failures never take a raw key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from tessera_db import policy_matrix as pm
from tessera_db.db import Database
from tessera_db.errors import PermissionDenied

LINT_0013 = Path(__file__).resolve().parent / "lints" / "0013_table_not_audited.sql"
A, B = pm.TENANT_IDS["A"], pm.TENANT_IDS["B"]
SPONSOR_A, OPERATOR = pm.SPONSOR_EMAIL["A"], pm.OPERATOR_EMAIL
FINGERPRINT = {"structural_signature": "s.u.a/c=1/j=0/t=0/b=2", "token_count_band": 2,
               "embedding_cluster_id": None}


# --------------------------------------------------------------------------- helpers


def act(conn: psycopg.Connection[Any], role: str, email: str | None = None) -> None:
    """Become ``role`` (with an authenticated JWT for ``email``) for the transaction."""
    claims = json.dumps({"email": email, "sub": email, "role": role}) if email else ""
    conn.execute("SELECT set_config('request.jwt.claims', %s, true), set_config('role', %s, true)",
                 (claims, role))


def reset(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SELECT set_config('role', 'none', true), set_config('request.jwt.claims', '', true)")


def events(conn: psycopg.Connection[Any], where: str = "true", params: Any = None) -> list[dict[str, Any]]:
    """Audit rows, read as the superuser, oldest first."""
    reset(conn)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT * FROM tessera.audit_events WHERE {where} ORDER BY event_id", params)
        return cur.fetchall()


def last_event_id(conn: psycopg.Connection[Any]) -> int:
    return conn.execute("SELECT coalesce(max(event_id), 0) FROM tessera.audit_events").fetchone()[0]  # type: ignore[index]


def sqlstate_of(conn: psycopg.Connection[Any], statement: str, params: Any = None) -> str | None:
    """Run ``statement`` in a savepoint; the SQLSTATE it failed with, None if it ran."""
    conn.execute("SAVEPOINT probe")
    try:
        conn.execute(statement, params)
    except psycopg.Error as exc:
        conn.execute("ROLLBACK TO SAVEPOINT probe")
        return exc.sqlstate
    conn.execute("RELEASE SAVEPOINT probe")
    return None


@pytest.fixture
def seeded(conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """The policy-matrix seed (a row or two in every table but the log itself), created as
    the superuser: the audit rows in the log are then exactly those the triggers wrote."""
    pm.seed(conn, {t: spec for t, spec in pm.TABLES.items() if t != "audit_events"})
    return conn


# --------------------------------------------------------------------------- independent encoder


def _field(value: str | None) -> bytes:
    if value is None:
        return b"\xff\xff\xff\xff"
    data = value.encode("utf-8")
    return struct.pack(">I", len(data)) + data


def _utc(ts: dt.datetime) -> str:
    return ts.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _inet(text: str | None) -> str | None:
    if text is None:
        return None
    iface = ipaddress.ip_interface(text)
    return f"{iface.ip}/{iface.network.prefixlen}"


def content_hash_v1(row: dict[str, Any]) -> bytes:
    """Encoding v1 (docs/audit.md), written from the contract, not from the SQL."""
    fields = [
        str(row["event_id"]), _utc(row["occurred_at"]), row["txid_text"],
        None if row["client_id"] is None else str(row["client_id"]),
        row["entity"], row["entity_id"], row["action"], row["before_text"], row["after_text"],
        row["actor_role"], row["actor_session_role"], row["actor_email"], row["actor_sub"],
        row["actor_job"], row["request_id"], row["reason"], _inet(row["source_ip_text"]),
        row["fingerprint_text"],
    ]
    return hashlib.sha256(b"tessera.audit_events.v1" + b"".join(_field(f) for f in fields)).digest()


def hash_rows(conn: psycopg.Connection[Any], since: int) -> list[dict[str, Any]]:
    reset(conn)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT event_id, occurred_at, txid::text AS txid_text, client_id, entity, entity_id, action,"
            "       before::text AS before_text, after::text AS after_text, actor_role, actor_session_role,"
            "       actor_email, actor_sub, actor_job, request_id, reason, source_ip::text AS source_ip_text,"
            "       prompt_fingerprint_v1::text AS fingerprint_text, content_hash"
            "  FROM tessera.audit_events WHERE event_id > %s ORDER BY event_id", (since,))
        return cur.fetchall()


# --------------------------------------------------------------------------- coverage


def test_every_tessera_table_is_audited_or_exempt_with_a_reason(conn: psycopg.Connection[Any]) -> None:
    findings = conn.execute(LINT_0013.read_text(encoding="utf-8")).fetchall()
    assert findings == []
    listed = dict(conn.execute(
        "SELECT table_name::text, audited FROM tessera_private.audit_coverage()").fetchall())
    assert set(listed) == set(pm.catalog_tables(conn))
    reasons = conn.execute("SELECT table_name, exempt_reason FROM tessera_private.audit_coverage()"
                           " WHERE NOT audited").fetchall()
    assert reasons and all(len(r.strip()) > 40 for _, r in reasons)


def test_audit_triggers_are_enable_always(conn: psycopg.Connection[Any]) -> None:
    rows = conn.execute(
        "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE t.tgfoid = 'tessera_private.audit_row_change()'::regprocedure").fetchall()
    audited = {r[0] for r in conn.execute(
        "SELECT table_name::text FROM tessera_private.audit_coverage() WHERE audited").fetchall()}
    assert {r[0] for r in rows} == audited
    assert len(rows) == 2 * len(audited)
    assert {r[2] for r in rows} == {"A"}


# --------------------------------------------------------------------------- row events


def test_every_audited_insert_writes_one_event_with_all_non_secret_columns(seeded: psycopg.Connection[Any]) -> None:
    conn = seeded
    audited = dict(conn.execute(
        "SELECT table_name::text, secret_columns::text[] FROM tessera_private.audit_coverage() WHERE audited"
    ).fetchall())
    exempt = {t for t in pm.TABLES if t not in audited}
    for table, spec in pm.TABLES.items():
        if table == "audit_events":
            continue
        got = events(conn, "entity = %s", (table,))
        if table in exempt:
            assert got == [], f"exempt table {table} wrote audit events"
            continue
        # The rows this transaction inserted: the seeds, and rows other triggers derive
        # from them (issue 6's worker settings); price_sources' load-time rows predate
        # the audit triggers.
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(f"SELECT to_jsonb(t) AS j FROM tessera.{table} AS t"
                        " WHERE t.xmin = pg_catalog.xid(pg_catalog.pg_current_xact_id())")
            current = [r["j"] for r in cur.fetchall()]
        assert len(got) == len(current) >= len(spec.seed), table
        for event in got:
            assert event["action"] == "insert" and event["before"] is None
            assert not set(audited[table]) & set(event["after"]), f"{table}: secret column in an event"
            assert {k: v for k, v in event["after"].items()} in [
                {k: v for k, v in row.items() if k not in audited[table]} for row in current], table
            assert event["actor_role"] == "postgres" and event["actor_email"] is None
            client = event["after"].get("client_id")
            assert (str(event["client_id"]) if event["client_id"] else None) == client
    # One transaction, no tessera.request_id set: every event shares one generated uuid.
    ids = {e["request_id"] for e in events(conn)}
    assert len(ids) == 1
    uuid.UUID(ids.pop())


UPDATES = [
    # table, UPDATE statement, expected before, expected after
    ("clients", "UPDATE tessera.clients SET plan_tier = 'invoiced' WHERE client_id = %(a)s",
     {"plan_tier": "free"}, {"plan_tier": "invoiced"}),
    ("clients", "UPDATE tessera.clients SET optimisation_kill_switch = true WHERE client_id = %(a)s",
     {"optimisation_kill_switch": False}, {"optimisation_kill_switch": True}),
    ("workloads", "UPDATE tessera.workloads SET mechanic_exact_cache = true, name = 'renamed'"
                  " WHERE client_id = %(a)s",
     {"mechanic_exact_cache": False, "name": "main"}, {"mechanic_exact_cache": True, "name": "renamed"}),
    ("operators", "UPDATE tessera.operators SET display_name = 'Ops'",
     {"display_name": None}, {"display_name": "Ops"}),
    ("client_users", "UPDATE tessera.client_users SET display_name = 'Sponsor A' WHERE client_id = %(a)s",
     {"display_name": None}, {"display_name": "Sponsor A"}),
    ("pricing_catalog", "UPDATE tessera.pricing_catalog SET effective_to = '2100-01-01T00:00:00Z'",
     {"effective_to": None}, {"effective_to": "2100-01-01T00:00:00+00:00"}),
    ("reading_share_tokens", "UPDATE tessera.reading_share_tokens SET revoked_at = '2099-11-01T00:00:00Z'"
                             " WHERE client_id = %(a)s",
     {"revoked_at": None}, {"revoked_at": "2099-11-01T00:00:00+00:00"}),
]


@pytest.mark.parametrize(("table", "statement", "before", "after"), UPDATES,
                         ids=[f"{u[0]}-{i}" for i, u in enumerate(UPDATES)])
def test_an_update_writes_exactly_the_changed_columns(seeded: psycopg.Connection[Any], table: str,
                                                       statement: str, before: dict[str, Any],
                                                       after: dict[str, Any]) -> None:
    conn = seeded
    since = last_event_id(conn)
    conn.execute("SELECT set_config('tessera.request_id', 'req-update-1', true)")
    rows = conn.execute(statement, {"a": A}).rowcount
    assert rows == 1
    # Only this table's events: a change may cascade into another audited table (e.g. the
    # worker config version of issue 6), which records its own event.
    got = events(conn, "event_id > %s AND entity = %s", (since, table))
    assert [(e["entity"], e["action"], e["before"], e["after"], e["request_id"]) for e in got] == [
        (table, "update", before, after, "req-update-1")]


def test_an_update_that_changes_nothing_writes_nothing(seeded: psycopg.Connection[Any]) -> None:
    since = last_event_id(seeded)
    assert seeded.execute("UPDATE tessera.operators SET display_name = display_name").rowcount == 1
    assert events(seeded, "event_id > %s", (since,)) == []


DELETES = [
    ("operators", "INSERT INTO tessera.operators (email) VALUES ('gone@tessera.example')",
     "DELETE FROM tessera.operators WHERE email = 'gone@tessera.example'", None),
    ("client_users", "INSERT INTO tessera.client_users (client_id, email) VALUES (%(a)s, 'gone@a.example')",
     "DELETE FROM tessera.client_users WHERE email = 'gone@a.example'", A),
    ("workloads", "INSERT INTO tessera.workloads (client_id, name) VALUES (%(a)s, 'gone')",
     "DELETE FROM tessera.workloads WHERE name = 'gone'", A),
    ("clients", "INSERT INTO tessera.clients (name) VALUES ('Gone Ltd')",
     "DELETE FROM tessera.clients WHERE name = 'Gone Ltd'", "new"),
    ("reading_share_tokens", None, "DELETE FROM tessera.reading_share_tokens WHERE client_id = %(a)s", A),
]


@pytest.mark.parametrize(("table", "setup", "statement", "client"), DELETES, ids=[d[0] for d in DELETES])
def test_a_delete_writes_the_old_row_without_secrets(seeded: psycopg.Connection[Any], table: str,
                                                      setup: str | None, statement: str, client: Any) -> None:
    conn = seeded
    if setup:
        conn.execute(setup, {"a": A})
    since = last_event_id(conn)
    assert conn.execute(statement, {"a": A}).rowcount == 1
    got = events(conn, "event_id > %s AND entity = %s", (since, table))
    assert [(e["entity"], e["action"], e["after"]) for e in got] == [(table, "delete", None)]
    old = got[0]["before"]
    assert "token_sha256" not in old
    if client == "new":
        assert got[0]["client_id"] is not None and str(got[0]["client_id"]) == old["client_id"]
    else:
        assert got[0]["client_id"] == client
    key = {"operators": "operator_id", "client_users": "client_user_id", "workloads": "workload_id",
           "clients": "client_id", "reading_share_tokens": "share_token_id"}[table]
    assert got[0]["entity_id"] == old[key]


def test_a_secret_only_change_is_recorded_without_the_secret(conn: psycopg.Connection[Any]) -> None:
    """The generic trigger on a scratch table with a secret column (the listed tables with
    secrets refuse changes to them, so the path is exercised here directly)."""
    conn.execute("CREATE TABLE tessera.scratch_secret (client_id uuid, id int, label text, secret bytea,"
                 " PRIMARY KEY (client_id, id))")
    conn.execute("CREATE TRIGGER scratch_secret_audit AFTER INSERT OR UPDATE OR DELETE ON tessera.scratch_secret"
                 " FOR EACH ROW EXECUTE FUNCTION tessera_private.audit_row_change('{id}', '{secret}')")
    since = last_event_id(conn)
    conn.execute("INSERT INTO tessera.scratch_secret VALUES (%s, 1, 'l', '\\x0c0c0c0c0c0c')", (A,))
    conn.execute("UPDATE tessera.scratch_secret SET secret = '\\x0d0d0d0d0d0d'")
    conn.execute("UPDATE tessera.scratch_secret SET secret = '\\x0e0e0e0e0e0e', label = 'm'")
    conn.execute("DELETE FROM tessera.scratch_secret")
    got = events(conn, "event_id > %s", (since,))
    assert [(e["entity"], e["entity_id"], e["client_id"], e["action"], e["before"], e["after"]) for e in got] == [
        ("scratch_secret", "1", A, "insert", None, {"client_id": str(A), "id": 1, "label": "l"}),
        ("scratch_secret", "1", A, "update", None, None),
        ("scratch_secret", "1", A, "update", {"label": "l"}, {"label": "m"}),
        ("scratch_secret", "1", A, "delete", {"client_id": str(A), "id": 1, "label": "m"}, None),
    ]
    everything = conn.execute("SELECT string_agg(t::text, ' ') FROM tessera.audit_events t").fetchone()[0]  # type: ignore[index]
    assert not any(h in everything for h in ("0c0c0c", "0d0d0d", "0e0e0e"))


def test_truncate_of_an_audited_table_is_an_event(seeded: psycopg.Connection[Any]) -> None:
    since = last_event_id(seeded)
    seeded.execute("TRUNCATE tessera.operators")
    got = events(seeded, "event_id > %s", (since,))
    assert [(e["entity"], e["action"], e["client_id"]) for e in got] == [("operators", "truncate", None)]


def test_sponsor_toggling_a_mechanic_writes_one_event_with_the_sponsor_as_actor(
        postgresql: psycopg.Connection[Any], db: Database) -> None:
    """The issue's done-when, through the pooled client (authenticator login)."""
    pm.seed(postgresql, {t: pm.TABLES[t] for t in ("clients", "workloads", "client_users")})
    postgresql.commit()
    since = last_event_id(postgresql)
    postgresql.commit()
    with db.as_sponsor(SPONSOR_A, request_id="req-portal-42", prompt_fingerprint=FINGERPRINT) as conn:
        conn.execute("UPDATE tessera.workloads SET mechanic_semantic_cache = true WHERE client_id = %s", (A,))
    got = events(postgresql, "event_id > %s", (since,))  # every event, not only the workload's
    postgresql.rollback()
    assert len(got) == 1
    e = got[0]
    # updated_at moves too (tessera_private.touch_updated_at, a later transaction).
    assert (e["entity"], e["action"], e["client_id"]) == ("workloads", "update", A)
    assert set(e["before"]) == set(e["after"]) == {"mechanic_semantic_cache", "updated_at"}
    assert (e["before"]["mechanic_semantic_cache"], e["after"]["mechanic_semantic_cache"]) == (False, True)
    assert (e["actor_role"], e["actor_session_role"], e["actor_email"], e["actor_sub"]) == (
        "authenticated", "authenticator", SPONSOR_A, SPONSOR_A)
    assert e["request_id"] == "req-portal-42" and e["prompt_fingerprint_v1"] == FINGERPRINT
    assert e["actor_job"] is None


def test_service_jobs_are_named_and_request_ids_differ_per_transaction(
        postgresql: psycopg.Connection[Any], db: Database) -> None:
    pm.seed(postgresql, {"clients": pm.TABLES["clients"]})
    postgresql.commit()
    since = last_event_id(postgresql)
    postgresql.commit()
    for name in ("first", "second"):
        with db.as_service("sweeper") as conn:
            conn.execute("UPDATE tessera.clients SET name = %s WHERE client_id = %s", (name, A))
            conn.execute("UPDATE tessera.clients SET plan_tier = 'hobby' WHERE client_id = %s AND plan_tier <> 'hobby'",
                         (A,))
    got = events(postgresql, "event_id > %s", (since,))
    postgresql.rollback()
    assert [e["actor_job"] for e in got] == ["sweeper"] * 3
    assert {e["actor_role"] for e in got} == {"service_role"}
    assert got[0]["request_id"] == got[1]["request_id"] != got[2]["request_id"]
    assert got[0]["txid"] == got[1]["txid"] != got[2]["txid"]


def test_audit_context_settings_do_not_outlive_the_transaction(db: Database) -> None:
    with db.as_anon(request_id="r-1", prompt_fingerprint=FINGERPRINT, job="probe") as conn:
        assert conn.execute("SELECT current_setting('tessera.request_id'), current_setting('tessera.job_name'),"
                            " current_setting('tessera.prompt_fingerprint_v1')::jsonb").fetchone() == (
            "r-1", "probe", FINGERPRINT)
    with db.as_anon() as conn:
        assert conn.execute("SELECT coalesce(current_setting('tessera.request_id', true), ''),"
                            " coalesce(current_setting('tessera.job_name', true), '')").fetchone() == ("", "")


# --------------------------------------------------------------------------- immutability


ROLES = ["anon", "authenticated", "service_role", "tessera_proxy", "tessera_settlement", "tessera_owner"]
CHANGES = ["UPDATE tessera.audit_events SET reason = 'edited'",
           "DELETE FROM tessera.audit_events",
           "TRUNCATE tessera.audit_events",
           "UPDATE tessera.audit_events_default SET reason = 'edited'",
           "DELETE FROM tessera.audit_events_default"]


@pytest.mark.parametrize("statement", CHANGES)
@pytest.mark.parametrize("role", [*ROLES, "superuser", "superuser-replica"])
def test_nobody_changes_or_removes_an_audit_row(seeded: psycopg.Connection[Any], role: str, statement: str) -> None:
    conn = seeded
    # A row in the DEFAULT partition too, so a statement aimed at it has a row to reach.
    conn.execute("ALTER TABLE tessera.audit_events DISABLE TRIGGER audit_events_stamp")
    conn.execute("INSERT INTO tessera.audit_events (occurred_at, entity, action, actor_role, actor_session_role,"
                 " request_id, content_hash) VALUES ('1999-01-01', 'probe', 'insert', 'x', 'x', 'x', %s)",
                 (b"\x00" * 32,))
    conn.execute("ALTER TABLE tessera.audit_events ENABLE ALWAYS TRIGGER audit_events_stamp")
    before = conn.execute("SELECT count(*), string_agg(t::text, '|' ORDER BY event_id) FROM tessera.audit_events t").fetchone()
    if role == "superuser-replica":
        conn.execute("SET LOCAL session_replication_role = replica")
    elif role != "superuser":
        act(conn, role, OPERATOR if role == "authenticated" else None)
    assert sqlstate_of(conn, statement) == "42501", f"{role}: {statement}"
    reset(conn)
    conn.execute("SET LOCAL session_replication_role = origin")
    after = conn.execute("SELECT count(*), string_agg(t::text, '|' ORDER BY event_id) FROM tessera.audit_events t").fetchone()
    assert after == before


@pytest.mark.parametrize("role", ROLES)
def test_nobody_inserts_an_audit_row_directly(conn: psycopg.Connection[Any], role: str) -> None:
    act(conn, role, OPERATOR if role == "authenticated" else None)
    assert sqlstate_of(conn, "INSERT INTO tessera.audit_events (entity, action) VALUES ('forged', 'insert')") == "42501"


@pytest.mark.parametrize("column,value", [
    ("content_hash", b"\x00" * 32), ("actor_role", "someone"), ("actor_email", "ceo@example.com"),
    ("request_id", "forged"), ("txid", "1"), ("occurred_at", "2000-01-01T00:00:00Z"),
    ("prompt_fingerprint_v1", json.dumps(FINGERPRINT)),
])
def test_nobody_supplies_stamped_fields_not_even_the_superuser(conn: psycopg.Connection[Any], column: str,
                                                               value: Any) -> None:
    state = sqlstate_of(conn, f"INSERT INTO tessera.audit_events (entity, action, {column}) VALUES ('forged', 'insert', %s)",
                        (value,))
    assert state == "42501"


def test_the_owner_inserts_only_through_write_audit_event(conn: psycopg.Connection[Any]) -> None:
    act(conn, "tessera_owner")
    assert sqlstate_of(conn, "INSERT INTO tessera.audit_events (entity, action) VALUES ('forged', 'insert')") == "42501"
    event = conn.execute("SELECT tessera_private.write_audit_event(NULL, 'probe', NULL, 'insert')").fetchone()[0]  # type: ignore[index]
    assert conn.execute("SELECT current_setting('tessera.audit_writer', true)").fetchone()[0] == ""  # type: ignore[index]
    assert sqlstate_of(conn, "INSERT INTO tessera.audit_events (entity, action) VALUES ('forged', 'insert')") == "42501"
    reset(conn)
    assert [e["event_id"] for e in events(conn, "entity = 'probe'")] == [event]


@pytest.mark.parametrize("role", ["anon", "authenticated", "service_role", "tessera_proxy", "tessera_settlement"])
def test_write_audit_event_is_not_executable_by_api_roles(conn: psycopg.Connection[Any], role: str) -> None:
    act(conn, role, OPERATOR if role == "authenticated" else None)
    assert sqlstate_of(conn, "SELECT tessera_private.write_audit_event(NULL, 'probe', NULL, 'insert')") == "42501"


# --------------------------------------------------------------------------- content hash


def test_content_hash_matches_an_independent_encoder(seeded: psycopg.Connection[Any]) -> None:
    conn = seeded
    since = last_event_id(conn)
    # Every nullable field NULL: owner, no claims, no job, no ip, no fingerprint.
    act(conn, "tessera_owner")
    conn.execute("SELECT tessera_private.write_audit_event(NULL, 'probe', NULL, 'insert')")
    reset(conn)
    # Every field set, with unicode, nested jsonb and an IPv6 network.
    conn.execute("SELECT set_config('tessera.job_name', 'jöb-ñame', true),"
                 " set_config('tessera.prompt_fingerprint_v1', %s, true),"
                 " set_config('request.jwt.claims', %s, true)",
                 (json.dumps({**FINGERPRINT, "embedding_cluster_id": 7, "extra": {"b": [1, "2"]}}),
                  json.dumps({"email": "Ops@Tessera.example", "sub": "sub-✓"})))
    act(conn, "tessera_owner", "zoë@tessera.example")
    conn.execute("SELECT tessera_private.write_audit_event(%s, 'probe', 'ключ/1', 'override', %s, %s, %s, %s)",
                 (A, json.dumps({"a": "é", "n": 1.50, "z": None}), json.dumps({"emoji": "🙂", "arr": [3, 2, 1]}),
                  "why: 理由", "2001:db8::/32"))
    conn.execute("SELECT tessera_private.write_audit_event(NULL, 'probe', 'e', 'insert', NULL, NULL, '', '10.1.2.3')")
    reset(conn)
    conn.execute("SELECT set_config('tessera.prompt_fingerprint_v1', '', true), set_config('tessera.job_name', '', true)")
    conn.execute("UPDATE tessera.workloads SET mechanic_auto_route = true")
    rows = hash_rows(conn, since)
    assert len(rows) >= 4 and rows[3]["entity"] == "workloads"
    assert rows[0]["actor_email"] is None and rows[0]["client_id"] is None and rows[0]["fingerprint_text"] is None
    assert rows[1]["actor_email"] == "zoë@tessera.example" and rows[1]["source_ip_text"] == "2001:db8::/32"
    assert rows[2]["reason"] == "" and rows[2]["source_ip_text"].startswith("10.1.2.3")
    for row in rows:
        assert bytes(row["content_hash"]) == content_hash_v1(row), row["event_id"]
    # The verifier's encoder (tessera_db/audit/encoding.py, written separately) agrees too.
    encoding = pytest.importorskip("tessera_db.audit.encoding")
    fetched = conn.execute(f"SELECT {encoding.SELECT_COLUMNS} FROM tessera.audit_events"
                           " WHERE event_id > %s ORDER BY event_id", (since,)).fetchall()
    assert [encoding.content_hash(r) for r in fetched] == [bytes(r[-1]) for r in fetched]
    # And the SQL function agrees with the stored column for every row ever written.
    assert conn.execute("SELECT count(*) FROM tessera.audit_events e"
                        " WHERE e.content_hash <> tessera_private.audit_content_hash(e)").fetchone()[0] == 0  # type: ignore[index]


def test_encoder_detects_an_edit(seeded: psycopg.Connection[Any]) -> None:
    """The Python encoder is not vacuous: one changed byte changes the hash."""
    row = hash_rows(seeded, 0)[0]
    assert bytes(row["content_hash"]) == content_hash_v1(row)
    assert bytes(row["content_hash"]) != content_hash_v1({**row, "entity": row["entity"] + " "})
    assert bytes(row["content_hash"]) != content_hash_v1({**row, "entity_id": None})


# --------------------------------------------------------------------------- fingerprint


@pytest.mark.parametrize("fingerprint", [
    FINGERPRINT,
    {**FINGERPRINT, "embedding_cluster_id": 12, "token_count_band": 6},
    {"structural_signature": "u/c=0/j=0/t=0/b=1", "token_count_band": 1, "embedding_cluster_id": 1, "v1_extra": True},
])
def test_valid_fingerprints_are_stored(conn: psycopg.Connection[Any], fingerprint: dict[str, Any]) -> None:
    conn.execute("SELECT set_config('tessera.prompt_fingerprint_v1', %s, true)", (json.dumps(fingerprint),))
    conn.execute("INSERT INTO tessera.operators (email) VALUES ('fp@tessera.example')")
    assert events(conn)[-1]["prompt_fingerprint_v1"] == fingerprint


@pytest.mark.parametrize("raw", [
    json.dumps({**FINGERPRINT, "token_count_band": 0}),
    json.dumps({**FINGERPRINT, "token_count_band": 7}),
    json.dumps({**FINGERPRINT, "token_count_band": "2"}),
    json.dumps({**FINGERPRINT, "token_count_band": 2.5}),
    json.dumps({**FINGERPRINT, "embedding_cluster_id": 0}),
    json.dumps({**FINGERPRINT, "embedding_cluster_id": "7"}),
    json.dumps({**FINGERPRINT, "structural_signature": "hello world, this is my prompt"}),
    json.dumps({**FINGERPRINT, "structural_signature": 5}),
    json.dumps({"token_count_band": 2, "embedding_cluster_id": None}),
    json.dumps({**FINGERPRINT, "padding": "x" * 3000}),
    json.dumps([FINGERPRINT]),
])
def test_malformed_fingerprints_are_refused(conn: psycopg.Connection[Any], raw: str) -> None:
    conn.execute("SELECT set_config('tessera.prompt_fingerprint_v1', %s, true)", (raw,))
    with pytest.raises(psycopg.errors.CheckViolation, match="audit_events_prompt_fingerprint_v1_shape"):
        conn.execute("INSERT INTO tessera.operators (email) VALUES ('fp@tessera.example')")


def test_a_fingerprint_setting_that_is_not_json_is_refused(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SELECT set_config('tessera.prompt_fingerprint_v1', '{not json', true)")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="not valid JSON"):
        conn.execute("INSERT INTO tessera.operators (email) VALUES ('fp@tessera.example')")


# --------------------------------------------------------------------------- break-glass


PUBLISH = "SELECT * FROM tessera.break_glass_publish_price('openai', 'bg-model', 0.000001, 0.000002)"


@pytest.mark.parametrize("reason", [None, "", "   \t\n"])
def test_break_glass_without_a_reason_is_refused(seeded: psycopg.Connection[Any], reason: str | None) -> None:
    act(seeded, "authenticated", OPERATOR)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="break-glass needs a reason"):
        seeded.execute("SELECT tessera.break_glass(%s, 'publish_price')", (reason,))


def test_break_glass_for_an_unknown_action_is_refused(seeded: psycopg.Connection[Any]) -> None:
    act(seeded, "authenticated", OPERATOR)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown break-glass action"):
        seeded.execute("SELECT tessera.break_glass('because', 'read_everything')")


@pytest.mark.parametrize(("role", "email", "message"), [
    ("authenticated", SPONSOR_A, "break-glass is for operators only"),
    ("authenticated", pm.STRANGER_EMAIL, "break-glass is for operators only"),
    ("anon", None, "permission denied for function break_glass"),
    ("service_role", None, "permission denied for function break_glass"),
    ("tessera_proxy", None, "permission denied for function break_glass"),
])
def test_break_glass_is_for_operators_only(seeded: psycopg.Connection[Any], role: str, email: str | None,
                                           message: str) -> None:
    act(seeded, role, email)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=message):
        seeded.execute("SELECT tessera.break_glass('I really need to', 'publish_price')")


def test_break_glass_writes_its_row_first_and_opens_the_window(seeded: psycopg.Connection[Any]) -> None:
    conn = seeded
    since = last_event_id(conn)
    act(conn, "authenticated", OPERATOR)
    assert sqlstate_of(conn, PUBLISH) == "42501"  # no window yet
    event = conn.execute("SELECT tessera.break_glass('importer down; provider cut prices today', 'publish_price')"
                         ).fetchone()[0]  # type: ignore[index]
    assert conn.execute(PUBLISH).fetchone()[1] == "created"  # type: ignore[index]
    listed = conn.execute("SELECT event_id, permitted_action, reason, actor_email FROM tessera.break_glass_events"
                          ).fetchall()
    assert listed == [(event, "publish_price", "importer down; provider cut prices today", OPERATOR)]
    got = events(conn, "event_id > %s", (since,))
    assert got[0]["event_id"] == event and got[0]["action"] == "break_glass"
    assert got[0]["after"] == {"action": "publish_price"} and got[0]["actor_email"] == OPERATOR
    assert [(e["entity"], e["action"]) for e in got[1:]] == [("pricing_catalog", "insert")]
    assert {e["txid"] for e in got} == {got[0]["txid"]}
    assert {e["reason"] for e in got} == {"importer down; provider cut prices today"}


def test_a_break_glass_window_ends_with_its_transaction(postgresql: psycopg.Connection[Any], db: Database) -> None:
    pm.seed(postgresql, {"operators": pm.TABLES["operators"]})
    postgresql.commit()
    with db.as_operator(OPERATOR) as conn:
        conn.execute("SELECT tessera.break_glass('window for one transaction', 'publish_price')")
        hint = conn.execute("SELECT current_setting('tessera.break_glass_event')").fetchone()[0]  # type: ignore[index]
    with pytest.raises(PermissionDenied, match="needs a break-glass window"):
        with db.as_operator(OPERATOR) as conn:
            conn.execute("SELECT set_config('tessera.break_glass_event', %s, true)", (hint,))
            conn.execute(PUBLISH)


def test_a_forged_window_opens_nothing(seeded: psycopg.Connection[Any]) -> None:
    conn = seeded
    act(conn, "authenticated", OPERATOR)
    txid = conn.execute("SELECT pg_current_xact_id()::text").fetchone()[0]  # type: ignore[index]
    conn.execute("SELECT set_config('tessera.break_glass_event', %s, true)", (f"{txid}:1",))
    assert sqlstate_of(conn, PUBLISH) == "42501"


def test_another_operators_window_is_not_mine(seeded: psycopg.Connection[Any]) -> None:
    conn = seeded
    conn.execute("INSERT INTO tessera.operators (email) VALUES ('other-ops@tessera.example')")
    act(conn, "authenticated", "other-ops@tessera.example")
    conn.execute("SELECT tessera.break_glass('their reason', 'publish_price')")
    act(conn, "authenticated", OPERATOR)
    assert sqlstate_of(conn, PUBLISH) == "42501"


def test_a_sponsor_cannot_hand_publish_a_price(seeded: psycopg.Connection[Any]) -> None:
    act(seeded, "authenticated", SPONSOR_A)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only operators"):
        seeded.execute(PUBLISH)


# --------------------------------------------------------------------------- auth failures


@pytest.fixture
def proxy(role_dsn: Any) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(role_dsn("tessera_proxy")) as c:
        yield c


def test_the_proxy_records_auth_failures_as_platform_events(proxy: psycopg.Connection[Any],
                                                           postgresql: psycopg.Connection[Any]) -> None:
    proxy.execute("SELECT set_config('tessera.request_id', 'edge-req-9', true)")
    event = proxy.execute("SELECT tessera.record_auth_failure('auth_failure', 'tk_…ab12', '203.0.113.7',"
                          " 'revoked key')").fetchone()[0]  # type: ignore[index]
    proxy.execute("SELECT tessera.record_auth_failure('rate_limited', NULL, '203.0.113.7', NULL)")
    proxy.commit()
    got = events(postgresql, "event_id >= %s", (event,))
    assert [(e["entity"], e["action"], e["client_id"], str(e["source_ip"]), e["after"], e["actor_role"],
             e["request_id"]) for e in got] == [
        ("auth", "auth_failure", None, "203.0.113.7", {"key_prefix": "tk_…ab12", "detail": "revoked key"},
         "tessera_proxy", "edge-req-9"),
        ("auth", "rate_limited", None, "203.0.113.7", None, "tessera_proxy", got[1]["request_id"]),
    ]


@pytest.mark.parametrize(("prefix", "detail"), [
    ("tk_" + "a1B2c3D4e5F6g7H8i9", None),
    ("tk_ab12", "presented tk_live_0123456789abcdefXYZ"),
    ("0123456789abcdefXYZ", None),
])
def test_a_full_key_never_reaches_the_log(proxy: psycopg.Connection[Any], prefix: str, detail: str | None) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        proxy.execute("SELECT tessera.record_auth_failure('auth_failure', %s, NULL, %s)", (prefix, detail))


def test_an_unknown_kind_is_refused(proxy: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown authentication event kind"):
        proxy.execute("SELECT tessera.record_auth_failure('login_ok', NULL, NULL, NULL)")


@pytest.mark.parametrize("role", ["anon", "authenticated", "tessera_settlement"])
def test_record_auth_failure_is_refused_without_the_grant(conn: psycopg.Connection[Any], role: str) -> None:
    act(conn, role, OPERATOR if role == "authenticated" else None)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for function record_auth_failure"):
        conn.execute("SELECT tessera.record_auth_failure('auth_failure', NULL, NULL, NULL)")


# --------------------------------------------------------------------------- visibility


def test_sponsors_read_their_own_clients_events_operators_all(seeded: psycopg.Connection[Any]) -> None:
    conn = seeded
    conn.execute("SELECT tessera.record_auth_failure('auth_failure', NULL, '198.51.100.1', NULL)")
    total = conn.execute("SELECT count(*) FROM tessera.audit_events").fetchone()[0]  # type: ignore[index]
    act(conn, "authenticated", SPONSOR_A)
    assert {r[0] for r in conn.execute("SELECT DISTINCT client_id FROM tessera.audit_events")} == {A}
    assert conn.execute("SELECT count(*) FROM tessera.audit_events WHERE client_id = %s", (B,)).fetchone()[0] == 0  # type: ignore[index]
    act(conn, "authenticated", OPERATOR)
    assert conn.execute("SELECT count(*) FROM tessera.audit_events").fetchone()[0] == total  # type: ignore[index]
    act(conn, "authenticated", pm.STRANGER_EMAIL)
    assert conn.execute("SELECT count(*) FROM tessera.audit_events").fetchone()[0] == 0  # type: ignore[index]
    act(conn, "anon")
    assert sqlstate_of(conn, "SELECT 1 FROM tessera.audit_events") == "42501"
    act(conn, "tessera_owner")  # definer context: only this transaction's break_glass rows
    assert conn.execute("SELECT count(*) FROM tessera.audit_events").fetchone()[0] == 0  # type: ignore[index]

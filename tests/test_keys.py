"""Proxy API keys: created once, stored as SHA-256 only, verified by the proxy alone,
revoked / expired keys fail on the next call, no widening, no reaching another client,
failures recorded and throttled, rotation audited."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tessera_db import keys
from tessera_db.db import Database
from tessera_db.errors import PermissionDenied, RateLimited
from tests.keys_fixtures import OPERATOR, SPONSOR_A, SPONSOR_B, Tenants, audit_rows, login, tenants  # noqa: F401


def _create(db: Database, t: Tenants, caps: list[str] | None = None, **kw: Any) -> keys.CreatedKey:
    with db.as_sponsor(SPONSOR_A) as conn:
        return keys.create_api_key(conn, t.a, caps or ["proxy", "cache"], "main", **kw)


def test_create_verify_revoke_cycle(db: Database, tenants: Tenants, login: Any,
                                    postgresql: psycopg.Connection[Any]) -> None:
    created = _create(db, tenants, ["proxy", "cache", "proxy"])
    assert created.api_key.startswith(f"tk_{tenants.a.hex}_") and len(created.api_key) == 79
    assert created.capabilities == ["cache", "proxy"]  # normalised: sorted, distinct
    assert created.display_hint == "tk_…" + created.api_key[-4:]
    assert created.api_key not in repr(created)

    proxy = login("tessera_proxy")
    ok = keys.verify_api_key(proxy, created.api_key, source_ip="10.0.0.1")
    assert ok is not None and ok.client_id == tenants.a and ok.capabilities == ["cache", "proxy"]
    assert ok.workload_id is None
    hashed = keys.verify_api_key(proxy, keys.hashed_form(created.api_key), source_ip="10.0.0.1")
    assert hashed == ok

    with db.as_sponsor(SPONSOR_A) as conn:
        keys.revoke_api_key(conn, tenants.a, created.api_key_id, "leaked in a screenshot")
    assert keys.verify_api_key(proxy, created.api_key, source_ip="10.0.0.1") is None
    reasons = postgresql.execute("SELECT reason, key_hint, source_ip::text FROM tessera.api_key_failures").fetchall()
    assert reasons == [("revoked", created.display_hint, "10.0.0.1/32")]
    events = audit_rows(postgresql, "api_keys", "auth_failure")
    assert [(e["client_id"], e["entity_id"], e["after"]["reason"]) for e in events] == \
        [(tenants.a, str(created.api_key_id), "revoked")]
    assert str(events[0]["source_ip"]) == "10.0.0.1"


def test_raw_keys_are_never_stored(db: Database, tenants: Tenants, login: Any,
                                   postgresql: psycopg.Connection[Any]) -> None:
    """Scan every text, bytea, json(b) and array column of every table in schema tessera
    for the raw keys (and their secret part) after creating, verifying, rotating and
    revoking; the hash IS found (positive control: the scan can see what is stored)."""
    first = _create(db, tenants)
    with db.as_sponsor(SPONSOR_A) as conn:
        second = keys.rotate_api_key(conn, tenants.a, first.api_key_id)
    proxy = login("tessera_proxy")
    for raw in (first.api_key, second.api_key):
        keys.verify_api_key(proxy, raw, source_ip="10.0.0.2")
    needles = {raw: raw for raw in (first.api_key, second.api_key)}
    needles |= {raw[36:]: raw for raw in (first.api_key, second.api_key)}

    columns = postgresql.execute(
        "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        "  JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'tessera' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        "   AND a.attnum > 0 AND NOT a.attisdropped"
        "   AND (a.atttypid IN ('text'::regtype, 'bytea'::regtype, 'jsonb'::regtype, 'json'::regtype,"
        "                       'varchar'::regtype, 'text[]'::regtype))").fetchall()
    assert len(columns) > 20
    found_hash = False
    hash_hex = hashlib.sha256(second.api_key.encode()).hexdigest()
    for table, column in columns:
        values = postgresql.execute(sql.SQL("SELECT {}::text FROM {} WHERE {} IS NOT NULL").format(
            sql.Identifier(column), sql.Identifier("tessera", table), sql.Identifier(column))).fetchall()
        for (value,) in values:
            for needle in needles:
                assert needle not in value, f"raw key material in tessera.{table}.{column}"
            found_hash = found_hash or hash_hex in value
    assert found_hash, "the scan did not even find the stored hash"


@pytest.mark.parametrize("who", ["sponsor", "operator", "anon", "settlement", "service"])
def test_verify_is_refused_to_everyone_but_the_proxy(who: str, db: Database, tenants: Tenants,
                                                    login: Any) -> None:
    created = _create(db, tenants)
    stmt = "SELECT * FROM tessera.verify_api_key(%s)"
    if who == "settlement":
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            login("tessera_settlement").execute(stmt, (created.api_key,))
        return
    session = {"sponsor": lambda: db.as_sponsor(SPONSOR_A), "operator": lambda: db.as_operator(OPERATOR),
               "anon": db.as_anon, "service": db.as_service}[who]
    with pytest.raises(PermissionDenied), session() as conn:
        conn.execute(stmt, (created.api_key,))


def test_a_key_cannot_widen_itself(db: Database, tenants: Tenants, postgresql: psycopg.Connection[Any]) -> None:
    created = _create(db, tenants, ["proxy"], workload_id=tenants.a1)
    # No API role may UPDATE the table at all ...
    with pytest.raises(PermissionDenied), db.as_operator(OPERATOR) as conn:
        conn.execute("UPDATE tessera.api_keys SET capabilities = '{proxy,batch}'")
    # ... and the guard refuses even the owner (and a superuser) anything but revocation.
    for change in ("capabilities = '{batch,proxy}'", "workload_id = NULL", "client_id = %s" % f"'{tenants.b}'",
                   "expires_at = now() + interval '9 years'"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only be revoked"):
            postgresql.execute(f"UPDATE tessera.api_keys SET {change} WHERE api_key_id = %s",
                               (created.api_key_id,))
        postgresql.rollback()
    # Rotation keeps exactly the scope and capabilities.
    with db.as_sponsor(SPONSOR_A) as conn:
        rotated = keys.rotate_api_key(conn, tenants.a, created.api_key_id)
    assert (rotated.capabilities, rotated.workload_id) == (["proxy"], tenants.a1)


def test_a_key_cannot_reach_another_client_or_workload(db: Database, tenants: Tenants, login: Any,
                                                       postgresql: psycopg.Connection[Any]) -> None:
    scoped = _create(db, tenants, ["proxy"], workload_id=tenants.a1)
    wide = _create(db, tenants, ["proxy"])
    proxy = login("tessera_proxy")
    assert keys.verify_api_key(proxy, scoped.api_key, workload_id=tenants.a1, capability="proxy") is not None
    assert keys.verify_api_key(proxy, scoped.api_key, workload_id=tenants.a2) is None
    assert keys.verify_api_key(proxy, scoped.api_key, workload_id=tenants.a1, capability="batch") is None
    assert keys.verify_api_key(proxy, wide.api_key, workload_id=tenants.a2) is not None
    assert keys.verify_api_key(proxy, wide.api_key, workload_id=tenants.b1) is None  # B's workload
    # The same secret under B's client prefix is another key: unknown.
    forged = f"tk_{tenants.b.hex}_" + wide.api_key[36:]
    assert keys.verify_api_key(proxy, forged) is None
    reasons = [r[0] for r in postgresql.execute(
        "SELECT reason FROM tessera.api_key_failures ORDER BY failure_id").fetchall()]
    assert reasons == ["out_of_scope", "out_of_scope", "out_of_scope", "unknown"]
    # Sponsor B cannot create, revoke or rotate A's keys.
    with db.as_sponsor(SPONSOR_B) as conn:
        for call in (lambda: keys.create_api_key(conn, tenants.a, ["proxy"], "x"),
                     lambda: keys.revoke_api_key(conn, tenants.a, wide.api_key_id),
                     lambda: keys.rotate_api_key(conn, tenants.a, wide.api_key_id)):
            with pytest.raises(PermissionDenied), conn.transaction():
                call()


def test_an_expired_key_fails_on_the_next_call(tenants: Tenants, login: Any,
                                               postgresql: psycopg.Connection[Any]) -> None:
    # A row as it looks a minute after its expiry (inserted directly by the superuser: the
    # guard trigger forbids moving expires_at, so the clock is injected at creation).
    raw = f"tk_{tenants.a.hex}_" + "E" * 43
    postgresql.execute(
        "INSERT INTO tessera.api_keys (client_id, key_sha256, display_hint, name, capabilities, created_by,"
        "                              created_at, expires_at)"
        " VALUES (%s, sha256(convert_to(%s, 'UTF8')), %s, 'old', '{proxy}', 'test',"
        "         now() - interval '1 hour', now() + interval '2 seconds')", (tenants.a, raw, "tk_…EEEE"))
    postgresql.commit()
    proxy = login("tessera_proxy")
    assert keys.verify_api_key(proxy, raw) is not None
    postgresql.execute("ALTER TABLE tessera.api_keys DISABLE TRIGGER api_keys_guard_update")
    postgresql.execute("UPDATE tessera.api_keys SET expires_at = now() - interval '1 minute'")
    postgresql.execute("ALTER TABLE tessera.api_keys ENABLE ALWAYS TRIGGER api_keys_guard_update")
    postgresql.commit()
    assert keys.verify_api_key(proxy, raw) is None
    assert postgresql.execute("SELECT reason FROM tessera.api_key_failures").fetchall() == [("expired",)]


def test_repeated_failures_from_one_source_are_throttled(db: Database, tenants: Tenants, login: Any,
                                                         postgresql: psycopg.Connection[Any]) -> None:
    good = _create(db, tenants)
    proxy = login("tessera_proxy")
    for i in range(20):
        assert keys.verify_api_key(proxy, f"tk_{tenants.a.hex}_{'x' * 39}{i:04d}", source_ip="203.0.113.9") is None
    with pytest.raises(RateLimited, match="too many failed API key verifications from 203.0.113.9") as exc:
        keys.verify_api_key(proxy, good.api_key, source_ip="203.0.113.9")  # even a valid key
    assert exc.value.sqlstate == "TS429"
    # Another source is not affected; a source without an IP is its own bucket.
    assert keys.verify_api_key(proxy, good.api_key, source_ip="203.0.113.10") is not None
    assert keys.verify_api_key(proxy, good.api_key) is not None
    limited = audit_rows(postgresql, "api_keys", "rate_limited")
    assert len(limited) == 1 and limited[0]["after"]["source"] == "203.0.113.9"
    assert len(audit_rows(postgresql, "api_keys", "auth_failure")) == 20
    # After the window the source may try again (the window is injected by ageing rows).
    postgresql.execute("UPDATE tessera.api_key_failures SET failed_at = failed_at - interval '6 minutes'")
    postgresql.commit()
    assert keys.verify_api_key(proxy, good.api_key, source_ip="203.0.113.9") is not None


def test_malformed_keys_are_recorded_without_their_text(tenants: Tenants, login: Any,
                                                        postgresql: psycopg.Connection[Any]) -> None:
    proxy = login("tessera_proxy")
    assert keys.verify_api_key(proxy, "sk-not-a-tessera-key-1234567890", source_ip="::1") is None
    assert postgresql.execute("SELECT reason, key_hint FROM tessera.api_key_failures").fetchall() == \
        [("malformed", "(malformed)")]
    event = audit_rows(postgresql, "api_keys", "auth_failure")[0]
    assert "sk-not" not in str(event["after"]) and event["client_id"] is None


def test_rotation_is_create_plus_revoke_both_audited(db: Database, tenants: Tenants, login: Any,
                                                     postgresql: psycopg.Connection[Any]) -> None:
    old = _create(db, tenants)
    with db.as_sponsor(SPONSOR_A) as conn:
        new = keys.rotate_api_key(conn, tenants.a, old.api_key_id, valid_for=dt.timedelta(days=30))
    proxy = login("tessera_proxy")
    assert keys.verify_api_key(proxy, old.api_key) is None
    assert keys.verify_api_key(proxy, new.api_key) is not None
    replaced = postgresql.execute("SELECT replaced_by, revoke_reason FROM tessera.api_keys WHERE api_key_id = %s",
                                  (old.api_key_id,)).fetchone()
    assert replaced == (new.api_key_id, "rotated")
    events = [(e["action"], e["entity_id"]) for e in audit_rows(postgresql, "api_keys")
              if e["action"] in ("insert", "update")]
    assert events == [("insert", str(old.api_key_id)), ("insert", str(new.api_key_id)),
                      ("update", str(old.api_key_id))]
    for e in audit_rows(postgresql, "api_keys"):
        assert "key_sha256" not in (e["after"] or {}) and "key_sha256" not in (e["before"] or {})
        assert e["actor_email"] in (SPONSOR_A, None)


def test_sponsors_see_own_key_metadata_but_never_the_hash(db: Database, tenants: Tenants) -> None:
    _create(db, tenants)
    with db.as_sponsor(SPONSOR_A) as conn:
        assert conn.execute("SELECT count(*) FROM tessera.api_keys").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("SELECT key_sha256 FROM tessera.api_keys")
    with db.as_sponsor(SPONSOR_B) as conn:
        assert conn.execute("SELECT count(*) FROM tessera.api_keys").fetchone() == (0,)


def test_cli_create_verify_revoke(app_dsn: str, role_dsn: Any, tenants: Tenants) -> None:
    from click.testing import CliRunner

    from tessera_db.cli import main

    runner = CliRunner()
    made = runner.invoke(main, ["keys", "create", "--client", str(tenants.a), "--capability", "proxy",
                                "--as-sponsor", SPONSOR_A, "--dsn", app_dsn])
    assert made.exit_code == 0, made.output
    raw = made.stdout.strip()
    assert keys.RAW_KEY.match(raw) and "only time the key is shown" in made.stderr
    proxy_dsn = role_dsn("tessera_proxy")
    ok = runner.invoke(main, ["keys", "verify", "--dsn", proxy_dsn, "--source-ip", "10.9.9.9"], input=raw + "\n")
    assert ok.exit_code == 0 and f"valid: client {tenants.a}" in ok.stdout
    listed = runner.invoke(main, ["keys", "list", "--client", str(tenants.a), "--as-sponsor", SPONSOR_A,
                                  "--dsn", app_dsn])
    assert listed.exit_code == 0 and raw not in listed.output and raw[-4:] in listed.output
    key_id = listed.stdout.split()[0]
    revoked = runner.invoke(main, ["keys", "revoke", "--client", str(tenants.a), "--key-id", key_id,
                                   "--as-sponsor", SPONSOR_A, "--dsn", app_dsn])
    assert revoked.exit_code == 0 and "next verification fails" in revoked.stdout
    bad = runner.invoke(main, ["keys", "verify", "--dsn", proxy_dsn], input=raw + "\n")
    assert bad.exit_code == 3 and "invalid" in bad.stdout
    refused = runner.invoke(main, ["keys", "create", "--client", str(tenants.a), "--capability", "proxy",
                                   "--as-sponsor", SPONSOR_B, "--dsn", app_dsn])
    assert refused.exit_code == 1 and "error: not permitted to create API keys" in refused.stderr

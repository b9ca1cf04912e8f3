"""The exact cache: request normalisation (RFC 8785), isolation across workloads and
clients for identical bodies, TTL expiry (per workload, default 7 days), the sweeper,
sponsor flush, and that the prompt is never stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest

from tessera_db import cache
from tessera_db.db import Database
from tessera_db.errors import InvalidInput, PermissionDenied
from tests.keys_fixtures import SPONSOR_A, SPONSOR_B, Tenants, audit_rows, login, tenants  # noqa: F401

BODY = '{"model": "gpt-4o", "messages": [{"role": "user", "content": "What is 2+2? secret-prompt-text"}]}'


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize("a, b", [
    ('{"b": 1, "a": 2}', '{"a":2,"b":1}'),                          # key order
    ('{ "a" :\n\t[1 ,2] }', '{"a":[1,2]}'),                           # whitespace
    ('{"t": 1.0}', '{"t": 1}'),                                       # number formatting
    ('{"t": 1e2}', '{"t": 100}'),
    ('{"t": 1E+2}', '{"t": 100.000}'),
    ('{"t": -0}', '{"t": 0}'),
    ('{"t": 0.10}', '{"t": 1e-1}'),
    ('{"s": "\\u00e9"}', '{"s": "é"}'),                               # string escapes
    ('{"s": "\\/"}', '{"s": "/"}'),
    ('{"a": {"z": 1, "y": [true, null]}}', '{"a":{"y":[true,null],"z":1}}'),  # nested
])
def test_equivalent_bodies_have_one_entry_id(a: str, b: str) -> None:
    assert cache.canonical_body(a) == cache.canonical_body(b)
    assert cache.entry_id(a) == cache.entry_id(b.encode()) and len(cache.entry_id(a)) == 32


@pytest.mark.parametrize("a, b", [
    ('{"a": [1, 2]}', '{"a": [2, 1]}'),        # array order matters
    ('{"s": "Hi"}', '{"s": "hi"}'),            # case matters
    ('{"s": "a b"}', '{"s": "a  b"}'),         # whitespace inside strings matters
    ('{"t": 1}', '{"t": "1"}'),                # types matter
    ('{"t": 0.1}', '{"t": 0.10000001}'),
])
def test_different_requests_have_different_entry_ids(a: str, b: str) -> None:
    assert cache.entry_id(a) != cache.entry_id(b)


def test_the_canonical_form_is_rfc_8785() -> None:
    assert cache.canonical_body('{"b": [1.0, 1e21, 1.5e-7], "a": "\\u20ac"}') == \
        '{"a":"€","b":[1,1e+21,1.5e-7]}'.encode()


@pytest.mark.parametrize("body", [
    "not json", '{"a": 1', '{"a": 1, "a": 2}', '{"a": NaN}', '{"a": Infinity}',
    '{"a": 9007199254740993}', b'\xff\xfe',
])
def test_bodies_without_a_canonical_form_are_not_cacheable(body: Any) -> None:
    with pytest.raises(cache.NotCacheable):
        cache.entry_id(body)


# --------------------------------------------------------------------------- database


def test_identical_bodies_never_cross_workloads_or_clients(tenants: Tenants, login: Any) -> None:
    proxy = login("tessera_proxy")
    cache.put(proxy, tenants.a, tenants.a1, BODY, b'{"answer": "A1"}')
    hit = cache.lookup(proxy, tenants.a, tenants.a1, BODY)
    assert hit is not None and hit.response_body == b'{"answer": "A1"}'
    assert cache.lookup(proxy, tenants.a, tenants.a2, BODY) is None      # same client, other workload
    assert cache.lookup(proxy, tenants.b, tenants.b1, BODY) is None      # other client
    assert cache.lookup(proxy, tenants.b, tenants.a1, BODY) is None      # forged pairing
    cache.put(proxy, tenants.b, tenants.b1, BODY, b'{"answer": "B1"}')
    assert cache.lookup(proxy, tenants.b, tenants.b1, BODY).response_body == b'{"answer": "B1"}'  # type: ignore[union-attr]
    assert cache.lookup(proxy, tenants.a, tenants.a1, BODY).response_body == b'{"answer": "A1"}'  # type: ignore[union-attr]
    # A formatting variant of the same request hits the same entry.
    variant = BODY.replace(": ", ":").replace('"model":"gpt-4o",', "") [:-1] + ',"model":"gpt-4o"}'
    assert cache.lookup(proxy, tenants.a, tenants.a1, variant) is not None
    with pytest.raises(InvalidInput, match="not a workload of client"):
        cache.put(proxy, tenants.b, tenants.a1, BODY, b"{}")


def test_the_owner_policy_itself_admits_one_workload_only(tenants: Tenants, login: Any,
                                                          postgresql: psycopg.Connection[Any]) -> None:
    """Defence in depth: even a definer function that forgot its WHERE clause sees, as
    tessera_owner, only the (client, workload) pair it named in the settings."""
    proxy = login("tessera_proxy")
    for client, workload in ((tenants.a, tenants.a1), (tenants.a, tenants.a2), (tenants.b, tenants.b1)):
        cache.put(proxy, client, workload, BODY, b"{}")
    postgresql.execute("SET LOCAL ROLE tessera_owner")
    postgresql.execute("SELECT set_config('tessera.recording_client_id', %s, true),"
                       "       set_config('tessera.recording_workload_id', %s, true)", (str(tenants.a), str(tenants.a1)))
    seen = postgresql.execute("SELECT client_id, workload_id FROM tessera.cache_entries").fetchall()
    assert seen == [(tenants.a, tenants.a1)]
    postgresql.rollback()


def test_only_the_hash_and_the_response_are_stored(tenants: Tenants, login: Any,
                                                   postgresql: psycopg.Connection[Any]) -> None:
    proxy = login("tessera_proxy")
    cache.put(proxy, tenants.a, tenants.a1, BODY, b'{"answer": "4"}')
    row = postgresql.execute("SELECT row_to_json(e)::text, entry_id FROM tessera.cache_entries AS e").fetchone()
    assert row is not None
    assert "secret-prompt-text" not in row[0] and "gpt-4o" not in row[0]
    assert bytes(row[1]) == cache.entry_id(BODY)
    assert postgresql.execute("SELECT relpersistence FROM pg_class WHERE oid = 'tessera.cache_entries'::regclass"
                              ).fetchone() == ("u",)


def test_entries_expire_after_the_workload_ttl(db: Database, tenants: Tenants, login: Any,
                                               postgresql: psycopg.Connection[Any]) -> None:
    proxy = login("tessera_proxy")
    expiry = cache.put(proxy, tenants.a, tenants.a1, BODY, b"{}")
    stored = postgresql.execute("SELECT expires_at - stored_at FROM tessera.cache_entries").fetchone()
    postgresql.rollback()
    assert stored == (dt.timedelta(days=7),) and expiry is not None

    def age(by: str) -> None:  # the injectable clock: move the entry into the past
        postgresql.execute(f"UPDATE tessera.cache_entries SET stored_at = stored_at - interval '{by}',"
                           f" expires_at = expires_at - interval '{by}'")
        postgresql.commit()

    age("6 days 23 hours")
    assert cache.lookup(proxy, tenants.a, tenants.a1, BODY) is not None
    age("2 hours")
    assert cache.lookup(proxy, tenants.a, tenants.a1, BODY) is None      # expired: never returned
    with db.as_service("sweeper") as conn:
        swept = conn.execute("SELECT cache_entries_purged FROM tessera.sweep()").fetchone()
    assert swept == (1,)
    assert postgresql.execute("SELECT count(*) FROM tessera.cache_entries").fetchone() == (0,)

    # A per-workload TTL; shortening it applies at once to entries already stored.
    cache.put(proxy, tenants.a, tenants.a1, BODY, b"{}")
    age("2 hours")
    assert cache.lookup(proxy, tenants.a, tenants.a1, BODY) is not None
    with db.as_sponsor(SPONSOR_A) as conn:
        conn.execute("SELECT tessera.set_exact_cache_ttl(%s, %s, interval '1 hour')", (tenants.a, tenants.a1))
    assert cache.lookup(proxy, tenants.a, tenants.a1, BODY) is None
    new_expiry = cache.put(proxy, tenants.a, tenants.a1, BODY, b"{}")
    assert postgresql.execute("SELECT expires_at - stored_at FROM tessera.cache_entries").fetchone() == \
        (dt.timedelta(hours=1),) and new_expiry is not None
    postgresql.rollback()
    with pytest.raises(InvalidInput, match="between 1 minute and 30 days"), db.as_sponsor(SPONSOR_A) as conn:
        conn.execute("SELECT tessera.set_exact_cache_ttl(%s, %s, interval '31 days')", (tenants.a, tenants.a1))


def test_no_cache_without_the_opt_in_or_under_the_kill_switch(tenants: Tenants, login: Any,
                                                              postgresql: psycopg.Connection[Any]) -> None:
    proxy = login("tessera_proxy")
    cache.put(proxy, tenants.a, tenants.a1, BODY, b"{}")
    postgresql.execute("UPDATE tessera.clients SET optimisation_kill_switch = true WHERE client_id = %s", (tenants.a,))
    postgresql.commit()
    assert cache.lookup(proxy, tenants.a, tenants.a1, BODY) is None
    with pytest.raises(PermissionDenied, match="kill switch"):
        cache.put(proxy, tenants.a, tenants.a1, BODY, b"{}")
    postgresql.execute("UPDATE tessera.clients SET optimisation_kill_switch = false WHERE client_id = %s", (tenants.a,))
    postgresql.execute("UPDATE tessera.workloads SET mechanic_exact_cache = false WHERE workload_id = %s", (tenants.a1,))
    postgresql.commit()
    assert cache.lookup(proxy, tenants.a, tenants.a1, BODY) is None
    with pytest.raises(PermissionDenied, match="exact_cache"):
        cache.put(proxy, tenants.a, tenants.a1, BODY, b"{}")


def test_a_sponsor_flushes_their_own_workload_only(db: Database, tenants: Tenants, login: Any,
                                                   postgresql: psycopg.Connection[Any]) -> None:
    proxy = login("tessera_proxy")
    for client, workload in ((tenants.a, tenants.a1), (tenants.a, tenants.a2), (tenants.b, tenants.b1)):
        cache.put(proxy, client, workload, BODY, b"{}")
    with db.as_sponsor(SPONSOR_B) as conn, pytest.raises(PermissionDenied):
        cache.flush(conn, tenants.a, tenants.a1)
    with db.as_sponsor(SPONSOR_A) as conn:
        assert cache.flush(conn, tenants.a, tenants.a1) == 1
        assert cache.flush(conn, tenants.a, tenants.b1) == 0   # B's workload id under A: nothing
    assert cache.lookup(proxy, tenants.a, tenants.a1, BODY) is None
    assert cache.lookup(proxy, tenants.a, tenants.a2, BODY) is not None
    assert cache.lookup(proxy, tenants.b, tenants.b1, BODY) is not None
    flushed = audit_rows(postgresql, "cache_entries", "delete")
    assert [(e["client_id"], e["after"]["flushed"], e["actor_email"]) for e in flushed] == \
        [(tenants.a, 1, SPONSOR_A), (tenants.a, 0, SPONSOR_A)]


@pytest.mark.parametrize("who", ["sponsor", "anon", "service", "settlement"])
def test_lookup_and_put_are_refused_to_everyone_but_the_proxy(who: str, db: Database, tenants: Tenants,
                                                             login: Any) -> None:
    stmts = [("SELECT * FROM tessera.cache_lookup(%s, %s, %s)", (tenants.a, tenants.a1, cache.entry_id(BODY))),
             ("SELECT tessera.cache_put(%s, %s, %s, %s)", (tenants.a, tenants.a1, cache.entry_id(BODY), b"{}"))]
    for stmt, params in stmts:
        if who == "settlement":
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                login("tessera_settlement").execute(stmt, params)
            continue
        session = {"sponsor": lambda: db.as_sponsor(SPONSOR_A), "anon": db.as_anon, "service": db.as_service}[who]
        with pytest.raises(PermissionDenied), session() as conn:
            conn.execute(stmt, params)

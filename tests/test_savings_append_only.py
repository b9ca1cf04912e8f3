"""Append-only and visibility of tessera.optimize_savings, its partitions,
tessera.savings_request_keys and tessera.balance_transactions (issue 4, items 3, 4, 6).

Proves: UPDATE (even one that changes nothing or matches no row), DELETE and TRUNCATE
are refused for every role -- the API roles and the logins by privilege, the owner and
a superuser by the ENABLE ALWAYS triggers, also with session_replication_role = replica,
also when the statement names a partition; sponsors read only their own clients'
savings; a partition queried directly shows nothing to API roles; new monthly partitions
come with forced RLS and the triggers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest

from tessera_db import PermissionDenied
from tessera_db.usage import TokenBuckets, record_many, record_request, request_fields
from tests.savings_fixtures import OPERATOR, SPONSOR, WL, A, B, seed

NOW = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
TABLES = ("optimize_savings", "optimize_savings_default", "savings_request_keys", "balance_transactions",
          "savings_dead_letters")


@pytest.fixture
def seeded(postgresql: psycopg.Connection[Any], role_dsn):  # type: ignore[no-untyped-def]
    seed(postgresql)
    with psycopg.connect(role_dsn("tessera_proxy"), autocommit=True) as proxy:
        for client in (A, B):
            record_request(proxy, client_id=client, workload_id=WL[client], request_id="r", occurred_at=NOW,
                           requested=("anthropic", "big"), routed=("anthropic", "small"),
                           tokens=TokenBuckets(uncached_input_tokens=10, output_tokens=1), mechanics=("auto_route",))
        # A dead letter: a request priced at a model nobody has a price for.
        record_many(proxy, [request_fields(
            client_id=A, workload_id=WL[A], request_id="no-price", occurred_at=NOW, requested=("x", "none"),
            routed=("x", "none"), tokens=TokenBuckets(uncached_input_tokens=1))])
    # A row in the DEFAULT partition (superuser insert: the table allows INSERT).
    postgresql.execute(
        "INSERT INTO tessera.optimize_savings (client_id, workload_id, request_id, occurred_at,"
        " requested_provider, requested_model, routed_provider, routed_model, requested_snapshot_id,"
        " routed_snapshot_id, original_cost_usd, actual_cost_usd)"
        " SELECT %s, %s, 'old', '2020-01-01', 'anthropic', 'big', 'anthropic', 'big', p.pricing_snapshot_id,"
        " p.pricing_snapshot_id, 1, 1 FROM tessera.pricing_catalog p WHERE p.model = 'big'", (A, WL[A]))
    postgresql.execute("SET ROLE service_role")
    postgresql.execute("SELECT set_config('request.jwt.claims', '{\"sub\": \"test\"}', false)")
    postgresql.execute("SELECT tessera.record_balance_transaction(%s, 'top_up', 10, 'seed')", (A,))
    postgresql.execute("RESET ROLE")
    postgresql.commit()
    return postgresql


def _current_partition(conn: psycopg.Connection[Any]) -> str:
    return conn.execute("SELECT tableoid::regclass::text FROM tessera.optimize_savings WHERE request_id = 'r'"
                        " LIMIT 1").fetchone()[0]  # type: ignore[index]


def _statements(table: str) -> list[str]:
    column = {"balance_transactions": "reason", "savings_request_keys": "request_id",
              "savings_dead_letters": "reason"}.get(table, "request_id")
    return [f"UPDATE {table} SET {column} = {column}",                    # changes nothing
            f"UPDATE {table} SET {column} = {column} WHERE false",        # matches nothing
            f"DELETE FROM {table}",
            f"DELETE FROM {table} WHERE false",
            f"TRUNCATE {table}"]


def _refused(conn: psycopg.Connection[Any], stmt: str, setup: list[str]) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        for s in setup:
            conn.execute(s)
        conn.execute(stmt)


@pytest.mark.parametrize("who", ["superuser", "superuser_replica", "owner", "owner_replica",
                                 "service_role", "authenticated_operator", "anon"])
def test_update_delete_truncate_refused_for_every_role(seeded, who):
    partition = _current_partition(seeded)
    setup = {"superuser": [], "superuser_replica": ["SET LOCAL session_replication_role = replica"],
             "owner": ["SET LOCAL ROLE tessera_owner"],
             "owner_replica": ["SET LOCAL session_replication_role = replica", "SET LOCAL ROLE tessera_owner"],
             "service_role": ["SET LOCAL ROLE service_role"],
             "authenticated_operator": [
                 f"SELECT set_config('request.jwt.claims', '{{\"email\": \"{OPERATOR}\"}}', true)",
                 "SET LOCAL ROLE authenticated"],
             "anon": ["SET LOCAL ROLE anon"]}[who]
    seeded.execute("SET search_path = tessera")
    before = {t: seeded.execute(f"SELECT count(*) FROM tessera.{t}").fetchone()[0] for t in TABLES}
    for table in (*TABLES, partition):
        for stmt in _statements(table.removeprefix("tessera.")):
            _refused(seeded, stmt, setup)
    after = {t: seeded.execute(f"SELECT count(*) FROM tessera.{t}").fetchone()[0] for t in TABLES}
    assert before == after and before["optimize_savings"] == 3 and before["optimize_savings_default"] == 1
    assert before["savings_dead_letters"] == 1


@pytest.mark.parametrize("login", ["tessera_proxy", "tessera_settlement"])
def test_logins_cannot_touch_the_tables(seeded, role_dsn, login):
    with psycopg.connect(role_dsn(login)) as conn:
        conn.execute("SET search_path = tessera")
        for table in TABLES:
            for stmt in [f"SELECT * FROM {table}", *_statements(table)]:
                _refused(conn, stmt, [])


def test_sponsors_read_only_their_own_savings_and_operators_all(seeded, db):
    with db.as_sponsor(SPONSOR[A]) as conn:
        assert {r[0] for r in conn.execute("SELECT client_id FROM tessera.optimize_savings")} == {A}
        # Forged filter on B: still nothing.
        assert conn.execute("SELECT count(*) FROM tessera.optimize_savings WHERE client_id = %s",
                            (B,)).fetchone()[0] == 0
    with db.as_sponsor(SPONSOR[B]) as conn:
        assert {r[0] for r in conn.execute("SELECT client_id FROM tessera.optimize_savings")} == {B}
    with db.as_sponsor("stranger@nowhere.example") as conn:
        assert conn.execute("SELECT count(*) FROM tessera.optimize_savings").fetchone()[0] == 0
    with db.as_operator(OPERATOR) as conn:
        assert conn.execute("SELECT count(*) FROM tessera.optimize_savings").fetchone()[0] == 3
    with pytest.raises(PermissionDenied), db.as_anon() as conn:
        conn.execute("SELECT 1 FROM tessera.optimize_savings")


def test_a_partition_queried_directly_applies_its_own_rls(seeded, db):
    partition = _current_partition(seeded)
    flags = seeded.execute("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = %s::regclass",
                           (partition,)).fetchone()
    assert flags == (True, True)
    # No grant on a partition: refused even to the operator, who reads the parent.
    with pytest.raises(PermissionDenied), db.as_operator(OPERATOR) as conn:
        conn.execute(f"SELECT * FROM {partition}")
    # The owner (who needs no grant) sees nothing through a partition: RLS forced, no policy.
    seeded.execute("SET ROLE tessera_owner")
    assert seeded.execute(f"SELECT count(*) FROM {partition}").fetchone()[0] == 0
    seeded.execute("RESET ROLE")


def test_new_partitions_come_with_rls_and_triggers(seeded):
    seeded.execute("SET ROLE tessera_owner")
    created = seeded.execute("SELECT tessera_private.create_savings_partitions('2031-05-17', 2)").fetchone()[0]
    again = seeded.execute("SELECT tessera_private.create_savings_partitions('2031-05-01', 2)").fetchone()[0]
    seeded.execute("RESET ROLE")
    assert (created, again) == (2, 0)
    row = seeded.execute(
        "SELECT c.relrowsecurity, c.relforcerowsecurity, pg_get_expr(c.relpartbound, c.oid),"
        " (SELECT array_agg(t.tgname::text || ':' || t.tgenabled::text ORDER BY t.tgname) FROM pg_trigger t"
        "   WHERE t.tgrelid = c.oid AND t.tgname LIKE '%append_only%')"
        " FROM pg_class c WHERE c.oid = 'tessera.optimize_savings_p2031_05'::regclass").fetchone()
    assert row[:2] == (True, True)
    assert row[2] == "FOR VALUES FROM ('2031-05-01 00:00:00+00') TO ('2031-06-01 00:00:00+00')"
    assert row[3] == ["optimize_savings_append_only_row:A", "optimize_savings_p2031_05_append_only_statement:A"]
    with pytest.raises(psycopg.errors.InsufficientPrivilege), seeded.transaction():
        seeded.execute("SET LOCAL session_replication_role = replica")
        seeded.execute("TRUNCATE tessera.optimize_savings_p2031_05")

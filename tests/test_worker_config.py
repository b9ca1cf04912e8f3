"""The edge worker's effective config: mechanics with the kill switch applied (kill switch
on = pure pass-through), a monotonically increasing config version, NOTIFY on every
change, and a kill switch that no balance can block."""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
import pytest

from tessera_db.db import Database
from tessera_db.errors import PermissionDenied
from tests.keys_fixtures import OPERATOR, SPONSOR_A, Tenants, login, tenants  # noqa: F401

CHANNEL = "tessera_worker_config"


def _config(proxy: psycopg.Connection[Any], client: Any, workload: Any) -> dict[str, Any]:
    from psycopg.rows import dict_row

    with proxy.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT * FROM tessera.worker_config(%s, %s)", (client, workload))
        row = cur.fetchone()
    assert row is not None
    return row


def _notifications(listener: psycopg.Connection[Any], expected: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 5
    while len(got) < expected and time.monotonic() < deadline:
        for note in listener.notifies(timeout=0.5, stop_after=expected - len(got)):
            assert note.channel == CHANNEL
            got.append(json.loads(note.payload))
    # Nothing more than expected arrives.
    got += [json.loads(n.payload) for n in listener.notifies(timeout=0.2)]
    return got


@pytest.fixture
def listener(dsn: str) -> Any:
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute(f"LISTEN {CHANNEL}")
    yield conn
    conn.close()


def test_effective_config_and_kill_switch_pass_through(db: Database, tenants: Tenants, login: Any,
                                                       listener: Any) -> None:
    proxy = login("tessera_proxy")
    before = _config(proxy, tenants.a, tenants.a1)
    assert before["mechanics"] == ["auto_route", "batch_routing", "exact_cache"]
    assert before["pass_through"] is False and before["kill_switch"] is False
    assert str(before["exact_cache_ttl"]) == "7 days, 0:00:00"
    assert before["config_version"] > 0  # the workload insert drew one

    with db.as_sponsor(SPONSOR_A) as conn:
        conn.execute("SELECT tessera.set_kill_switch(%s, true)", (tenants.a,))
    paused = _config(proxy, tenants.a, tenants.a1)
    assert paused["pass_through"] is True and paused["mechanics"] == []
    assert paused["opted_in"] == before["mechanics"]
    assert paused["config_version"] > before["config_version"]
    assert _config(proxy, tenants.a, tenants.a2)["mechanics"] == []      # every workload of the client
    assert _config(proxy, tenants.b, tenants.b1)["mechanics"] != []      # not another client
    notes = _notifications(listener, 1)
    assert notes == [{"client_id": str(tenants.a), "workload_id": None, "reason": "kill_switch",
                      "config_version": max(paused["config_version"],
                                            _config(proxy, tenants.a, tenants.a2)["config_version"])}]

    with db.as_sponsor(SPONSOR_A) as conn:
        conn.execute("SELECT tessera.set_kill_switch(%s, false)", (tenants.a,))
    resumed = _config(proxy, tenants.a, tenants.a1)
    assert resumed["mechanics"] == before["mechanics"] and resumed["config_version"] > paused["config_version"]
    assert len(_notifications(listener, 1)) == 1


def test_every_mechanic_or_setting_change_bumps_the_version_and_notifies(
        db: Database, tenants: Tenants, login: Any, listener: Any) -> None:
    proxy = login("tessera_proxy")
    v0 = _config(proxy, tenants.a, tenants.a2)["config_version"]
    with db.as_sponsor(SPONSOR_A) as conn:
        conn.execute("UPDATE tessera.workloads SET mechanic_history_pruning = true WHERE workload_id = %s",
                     (tenants.a2,))
    v1 = _config(proxy, tenants.a, tenants.a2)
    assert v1["config_version"] > v0 and "history_pruning" in v1["mechanics"]
    with db.as_sponsor(SPONSOR_A) as conn:
        conn.execute("SELECT tessera.set_exact_cache_ttl(%s, %s, interval '2 hours')", (tenants.a, tenants.a2))
    v2 = _config(proxy, tenants.a, tenants.a2)
    assert v2["config_version"] > v1["config_version"] and str(v2["exact_cache_ttl"]) == "2:00:00"
    # A change that does not touch the worker's config (a rename) draws no version.
    with db.as_operator(OPERATOR) as conn:
        conn.execute("UPDATE tessera.workloads SET name = 'renamed' WHERE workload_id = %s", (tenants.a2,))
    assert _config(proxy, tenants.a, tenants.a2)["config_version"] == v2["config_version"]
    notes = _notifications(listener, 2)
    assert [(n["workload_id"], n["reason"], n["config_version"]) for n in notes] == \
        [(str(tenants.a2), "mechanics", v1["config_version"]), (str(tenants.a2), "settings", v2["config_version"])]


def test_a_client_with_no_or_negative_balance_flips_the_kill_switch_both_ways(
        db: Database, tenants: Tenants, login: Any, postgresql: psycopg.Connection[Any]) -> None:
    proxy = login("tessera_proxy")
    # Client B: no balance row at all. Client A: a negative balance (charged, never topped up).
    postgresql.execute("INSERT INTO tessera.balance_transactions (client_id, kind, amount_usd, reason, actor)"
                       " VALUES (%s, 'usage_charge', -12.5, 'usage', 'test')", (tenants.a,))
    postgresql.execute("UPDATE tessera.clients SET plan_tier = 'hobby'")
    postgresql.commit()
    assert postgresql.execute("SELECT balance_usd FROM tessera.client_balances WHERE client_id = %s",
                              (tenants.a,)).fetchone()[0] < 0  # type: ignore[index]
    for client, workload, sponsor in ((tenants.a, tenants.a1, SPONSOR_A),
                                      (tenants.b, tenants.b1, "sponsor-b@tenant-b.example")):
        for engaged in (True, False, True, False):
            with db.as_sponsor(sponsor) as conn:
                assert conn.execute("SELECT tessera.set_kill_switch(%s, %s)", (client, engaged)).fetchone() == (engaged,)
            assert _config(proxy, client, workload)["pass_through"] is engaged


@pytest.mark.parametrize("who", ["sponsor", "operator", "anon", "settlement"])
def test_worker_config_is_refused_to_non_workers(who: str, db: Database, tenants: Tenants, login: Any) -> None:
    stmt = "SELECT * FROM tessera.worker_config(%s, %s)"
    if who == "settlement":
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            login("tessera_settlement").execute(stmt, (tenants.a, tenants.a1))
        return
    session = {"sponsor": lambda: db.as_sponsor(SPONSOR_A), "operator": lambda: db.as_operator(OPERATOR),
               "anon": db.as_anon}[who]
    with pytest.raises(PermissionDenied), session() as conn:
        conn.execute(stmt, (tenants.a, tenants.a1))


def test_the_worker_sees_only_the_asked_clients_workload(tenants: Tenants, login: Any) -> None:
    proxy = login("tessera_proxy")
    assert proxy.execute("SELECT * FROM tessera.worker_config(%s, %s)", (tenants.b, tenants.a1)).fetchall() == []


def test_a_ttl_change_is_one_audit_event_and_a_version_bump_is_none(
        postgresql: psycopg.Connection[Any], db: Database, tenants: Tenants) -> None:
    """workload_settings is exempt from row auditing (its config_version is derived from
    audited changes); set_exact_cache_ttl writes the TTL change's event itself."""
    since = postgresql.execute("SELECT COALESCE(max(event_id), 0) FROM tessera.audit_events").fetchone()[0]
    postgresql.commit()
    with db.as_sponsor(SPONSOR_A) as conn:
        conn.execute("SELECT tessera.set_exact_cache_ttl(%s, %s, interval '2 hours')", (tenants.a, tenants.a2))
    with db.as_sponsor(SPONSOR_A) as conn:
        conn.execute("SELECT tessera.set_exact_cache_ttl(%s, %s, interval '3 hours')", (tenants.a, tenants.a2))
    with db.as_sponsor(SPONSOR_A) as conn:  # unchanged: no event
        conn.execute("SELECT tessera.set_exact_cache_ttl(%s, %s, interval '3 hours')", (tenants.a, tenants.a2))
    rows = postgresql.execute(
        "SELECT entity, entity_id, action, before, after, actor_email FROM tessera.audit_events"
        " WHERE event_id > %s ORDER BY event_id", (since,)).fetchall()
    assert rows == [
        # The workload's creation made its settings row (config version 1, default TTL).
        ("workload_settings", str(tenants.a2), "update", {"exact_cache_ttl": "7 days"},
         {"exact_cache_ttl": "02:00:00"}, SPONSOR_A),
        ("workload_settings", str(tenants.a2), "update", {"exact_cache_ttl": "02:00:00"},
         {"exact_cache_ttl": "03:00:00"}, SPONSOR_A)]


def test_every_mechanic_column_is_reported(tenants: Tenants, login: Any, postgresql: psycopg.Connection[Any]) -> None:
    """worker_config names the mechanics column by column (speed); the catalog decides what
    a mechanic is: with every mechanic_ column of workloads switched on, every one is
    reported, in name order, so a mechanic added without updating the function fails here."""
    from psycopg import sql

    columns = [r[0] for r in postgresql.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'tessera.workloads'::regclass AND attnum > 0"
        " AND NOT attisdropped AND attname LIKE 'mechanic\\_%' ORDER BY attname COLLATE \"C\"").fetchall()]
    assert len(columns) >= 7
    postgresql.execute(sql.SQL("UPDATE tessera.workloads SET {} WHERE workload_id = %s").format(
        sql.SQL(", ").join(sql.SQL("{} = true").format(sql.Identifier(c)) for c in columns)), (tenants.a2,))
    postgresql.commit()
    config = _config(login("tessera_proxy"), tenants.a, tenants.a2)
    assert config["mechanics"] == config["opted_in"] == [c.removeprefix("mechanic_") for c in columns]

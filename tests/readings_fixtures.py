"""Seed data for the readings and export tests: two clients with sponsors, an operator,
two price snapshots and optimize_savings rows, inserted by the superuser.

Rows are written straight into tessera.optimize_savings (INSERT is what the append-only
table allows) with the agreed column contract, so these tests do not depend on the
record_request() signature.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest

A = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
B = uuid.UUID("00000000-0000-4000-8000-0000000000b1")
WORKLOAD = {A: uuid.UUID("00000000-0000-4000-8000-0000000001a1"),
            B: uuid.UUID("00000000-0000-4000-8000-0000000001b1")}
SPONSOR = {A: "sponsor-a@a.example", B: "sponsor-b@b.example"}
OPERATOR = "ops@tessera.example"
SNAP_BIG = uuid.UUID("00000000-0000-4000-8000-00000000c001")
SNAP_SMALL = uuid.UUID("00000000-0000-4000-8000-00000000c002")
MONTH = dt.date(2026, 10, 1)


def seed_tenants(conn: psycopg.Connection[Any]) -> None:
    for client in (A, B):
        conn.execute("INSERT INTO tessera.clients (client_id, name) VALUES (%s, %s)", (client, f"client {client}"))
        conn.execute("INSERT INTO tessera.workloads (client_id, workload_id, name) VALUES (%s, %s, 'main')",
                     (client, WORKLOAD[client]))
        conn.execute("INSERT INTO tessera.client_users (client_id, email) VALUES (%s, %s)", (client, SPONSOR[client]))
    conn.execute("INSERT INTO tessera.operators (email) VALUES (%s)", (OPERATOR,))
    for snap, model, price in ((SNAP_BIG, "big-model", "0.00001"), (SNAP_SMALL, "small-model", "0.000001")):
        conn.execute(
            "INSERT INTO tessera.pricing_catalog (pricing_snapshot_id, provider, model,"
            " input_usd_per_token, output_usd_per_token, effective_from)"
            " VALUES (%s, 'openai', %s, %s, %s, '2026-01-01')", (snap, model, price, price))


def add_row(conn: psycopg.Connection[Any], client: uuid.UUID, request_id: str, occurred_at: dt.datetime, *,
            original: str = "0.010", actual: str = "0.004", mechanics: tuple[str, ...] = ("auto_route",),
            feature_tag: str | None = None, uncached: int = 100, cache_read: int = 0,
            output: int = 50, reasoning: int | None = None) -> None:
    routed = SNAP_SMALL if mechanics else SNAP_BIG
    conn.execute(
        "INSERT INTO tessera.optimize_savings (client_id, workload_id, request_id, occurred_at,"
        " requested_provider, requested_model, routed_provider, routed_model,"
        " requested_snapshot_id, routed_snapshot_id, uncached_input_tokens, cache_read_input_tokens,"
        " cache_write_5m_input_tokens, cache_write_1h_input_tokens, output_tokens, reasoning_tokens,"
        " batch, original_cost_usd, actual_cost_usd, mechanics, finish_reason, feature_tag)"
        " VALUES (%s, %s, %s, %s, 'openai', 'big-model', 'openai', %s, %s, %s, %s, %s, 0, 0, %s, %s,"
        " false, %s, %s, %s, 'stop', %s)",
        (client, WORKLOAD[client], request_id, occurred_at,
         "small-model" if mechanics else "big-model", SNAP_BIG, routed, uncached, cache_read,
         output, reasoning, Decimal(original), Decimal(actual), list(mechanics), feature_tag))


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.timezone.utc)  # type: ignore[misc]


def seed_month(conn: psycopg.Connection[Any]) -> None:
    """Client A: 4 rows in October 2026 (+1 either side of it); client B: 1 row."""
    add_row(conn, A, "a-1", utc(2026, 10, 1, 0, 0), feature_tag="search", reasoning=7)
    add_row(conn, A, "a-2", utc(2026, 10, 15, 12, 0), mechanics=("auto_route", "exact_cache"),
            original="0.020", actual="0.000", feature_tag="search", cache_read=40)
    add_row(conn, A, "a-3", utc(2026, 10, 20, 8, 30), mechanics=(), original="0.005", actual="0.005")
    add_row(conn, A, "a-4", utc(2026, 10, 31, 23, 59, 59), original="0.0125", actual="0.0025",
            feature_tag="chat")
    add_row(conn, A, "a-sep", utc(2026, 9, 30, 23, 59, 59), original="9", actual="1")
    add_row(conn, A, "a-nov", utc(2026, 11, 1, 0, 0), original="9", actual="1")
    add_row(conn, B, "b-1", utc(2026, 10, 10), original="5", actual="1")


@pytest.fixture
def seeded(postgresql: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """Both tenants and one month of savings rows, committed (shared by the readings and
    export tests, which import it)."""
    seed_tenants(postgresql)
    seed_month(postgresql)
    postgresql.commit()
    return postgresql

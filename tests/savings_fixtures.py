"""Seed for the savings and balance tests: two clients with sponsors and workloads, an
operator, and two models' prices inserted directly by the superuser."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal as D
from typing import Any

import psycopg
import pytest

A = uuid.UUID("00000000-0000-4000-8000-00000000a001")
B = uuid.UUID("00000000-0000-4000-8000-00000000b001")
WL = {A: uuid.UUID("00000000-0000-4000-8000-00000000a101"), B: uuid.UUID("00000000-0000-4000-8000-00000000b101")}
WL_PLAIN = uuid.UUID("00000000-0000-4000-8000-00000000a102")  # A's workload with no opt-ins
SPONSOR = {A: "sponsor@a.example", B: "sponsor@b.example"}
OPERATOR = "ops@tessera.example"

# Prices (USD per token) as the tests compute costs by hand.
BIG = dict(input=D("0.000003"), output=D("0.000015"), cache_read=D("0.0000003"),
           cw5m=D("0.00000375"), cw1h=D("0.000006"), batch_in=D("0.0000015"), batch_out=D("0.0000075"),
           tier=200000, above_in=D("0.000006"), above_out=D("0.0000225"), above_read=D("0.0000006"))
SMALL = dict(input=D("0.0000008"), output=D("0.000004"), cache_read=D("0.00000008"))
SINCE = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def seed(conn: psycopg.Connection[Any]) -> None:
    for client in (A, B):
        conn.execute("INSERT INTO tessera.clients (client_id, name) VALUES (%s, %s)", (client, f"c {client}"))
        conn.execute(
            "INSERT INTO tessera.workloads (client_id, workload_id, name, mechanic_auto_route,"
            " mechanic_exact_cache, mechanic_prompt_cache_header) VALUES (%s, %s, 'main', true, true, true)",
            (client, WL[client]))
        conn.execute("INSERT INTO tessera.client_users (client_id, email) VALUES (%s, %s)", (client, SPONSOR[client]))
    conn.execute("INSERT INTO tessera.workloads (client_id, workload_id, name) VALUES (%s, %s, 'plain')",
                 (A, WL_PLAIN))
    conn.execute("INSERT INTO tessera.operators (email) VALUES (%s)", (OPERATOR,))
    conn.execute(
        "INSERT INTO tessera.pricing_catalog (provider, model, input_usd_per_token, output_usd_per_token,"
        " cache_read_usd_per_token, cache_write_5m_usd_per_token, cache_write_1h_usd_per_token,"
        " batch_input_usd_per_token, batch_output_usd_per_token, tier_threshold_tokens,"
        " above_tier_input_usd_per_token, above_tier_output_usd_per_token, above_tier_cache_read_usd_per_token,"
        " effective_from) VALUES ('anthropic', 'big', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (BIG["input"], BIG["output"], BIG["cache_read"], BIG["cw5m"], BIG["cw1h"], BIG["batch_in"],
         BIG["batch_out"], BIG["tier"], BIG["above_in"], BIG["above_out"], BIG["above_read"], SINCE))
    conn.execute(
        "INSERT INTO tessera.pricing_catalog (provider, model, input_usd_per_token, output_usd_per_token,"
        " cache_read_usd_per_token, effective_from) VALUES ('anthropic', 'small', %s, %s, %s, %s)",
        (SMALL["input"], SMALL["output"], SMALL["cache_read"], SINCE))
    conn.commit()


@pytest.fixture
def proxy(postgresql: psycopg.Connection[Any], role_dsn):  # type: ignore[no-untyped-def]
    """The proxy login's autocommit connection on a seeded database."""
    seed(postgresql)
    with psycopg.connect(role_dsn("tessera_proxy"), autocommit=True) as conn:
        yield conn

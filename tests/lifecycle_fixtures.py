"""Fixtures of the lifecycle tests (issue 14): the demo world with every table filled for
Globex (free) and Acme (invoiced), sealed; helpers to erase, scan and verify."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import sql

from tessera_db import demo
from tessera_db.audit import seal
from tessera_db.audit.verify import VerifyResult, verify
from tessera_db.db import Database

ACME = "a0000000-0000-4000-8000-000000000001"
GLOBEX = "b0000000-0000-4000-8000-000000000002"
GLOBEX_CODE_REVIEW = "b1000000-0000-4000-8000-000000000001"
OPERATOR = "ops@tessera.example"
# Strings only Globex's rows carry (added below, or in the demo data).
GLOBEX_MARKS = ("bob@globex.example", "Bob (Globex)", "Globex Labs", "globex-feature-checkout",
                "globex-customer-4711", "globex-dead-letter-feature")
ACME_MARKS = ("alice@acme.example", "Acme Analytics", "acme-feature-invoices", "acme-customer-0815")


@dataclass
class World:
    db: Database
    su: psycopg.Connection[Any]
    key: Ed25519PrivateKey
    sealer_dsn: str
    dsn: str
    app_dsn: str

    def seal(self) -> seal.SealResult:
        return seal.seal_once(self.sealer_dsn, self.key)

    def verify(self, state: Path | None = None, **kwargs: Any) -> VerifyResult:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return verify(conn, [self.key.public_key()], state, **kwargs)

    def erase(self, client_id: str, reason: str = "account closed on request") -> dict[str, Any]:
        with self.db.as_operator(OPERATOR) as conn:
            row = conn.execute("SELECT to_jsonb(e) FROM tessera.erase_client(%s, %s) AS e",
                               (client_id, reason)).fetchone()
        assert row is not None
        return dict(row[0])

    def rows_of(self, client_id: str) -> dict[str, int]:
        """Rows per tessera table whose client_id is the client (as the superuser)."""
        out: dict[str, int] = {}
        for (table,) in self.su.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'client_id'"
                " WHERE n.nspname = 'tessera' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
                " ORDER BY 1").fetchall():
            row = self.su.execute(sql.SQL("SELECT count(*) FROM tessera.{} WHERE client_id = %s").format(
                sql.Identifier(table)), (client_id,)).fetchone()
            assert row is not None
            out[table] = int(row[0])
        return out

    def scan(self, needle: str) -> list[str]:
        """Every place a string survives: tables of schema tessera (whole rows as text,
        so every text, jsonb, array and uuid column) and their bytea columns (raw bytes)."""
        hits = []
        tables = self.su.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'tessera' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1").fetchall()
        for (table,) in tables:
            row = self.su.execute(sql.SQL("SELECT count(*) FROM tessera.{} AS r WHERE strpos(r::text, %s) > 0").format(
                sql.Identifier(table)), (needle,)).fetchone()
            if row and row[0]:
                hits.append(f"{table} ({row[0]} row(s))")
            for (column,) in self.su.execute(
                    "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0"
                    " AND NOT a.attisdropped AND a.atttypid = 'bytea'::regtype", (f"tessera.{table}",)).fetchall():
                row = self.su.execute(sql.SQL("SELECT count(*) FROM tessera.{} WHERE position(%s::bytea IN {}) > 0").format(
                    sql.Identifier(table), sql.Identifier(column)), (needle.encode(),)).fetchone()
                if row and row[0]:
                    hits.append(f"{table}.{column} ({row[0]} row(s))")
        return hits


def _record(db: Database, client_id: str, workload_id: str, request_id: str, model: str,
            feature_tag: str, customer_tag: str) -> list[dict[str, Any]]:
    element = {"client_id": client_id, "workload_id": workload_id, "request_id": request_id,
               "requested_provider": "openai", "requested_model": model,
               "routed_provider": "openai", "routed_model": model, "uncached_input_tokens": 100,
               "output_tokens": 10, "mechanics": [], "finish_reason": "stop",
               "feature_tag": feature_tag, "customer_tag": customer_tag}
    with db.as_service("proxy") as conn:
        element["occurred_at"] = conn.execute("SELECT now()::text").fetchone()[0]  # type: ignore[index]
        rows = conn.execute("SELECT to_jsonb(o) FROM tessera.record_requests(%s::jsonb) AS o",
                            (json.dumps([element]),)).fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def world(db: Database, dsn: str, app_dsn: str, role_dsn: Callable[[str], str],
          tmp_path: Path) -> Iterator[World]:
    """The demo data (both halves), plus Globex rows in the tables the demo leaves empty
    for it (a tagged savings row, a dead letter, a share link) and tagged Acme rows;
    sealed once."""
    demo.load(db)
    demo.load_proxy_side(role_dsn("tessera_proxy"), role_dsn("tessera_settlement"), tmp_path)
    _record(db, GLOBEX, GLOBEX_CODE_REVIEW, "globex-tagged-1", "gpt-4o", "globex-feature-checkout",
            "globex-customer-4711")
    rejected = _record(db, GLOBEX, GLOBEX_CODE_REVIEW, "globex-rejected-1", "gpt-unknown-model",
                       "globex-dead-letter-feature", "globex-customer-4711")
    assert rejected[0]["outcome"] == "rejected", rejected
    _record(db, ACME, "a1000000-0000-4000-8000-000000000001", "acme-tagged-1", "gpt-4o",
            "acme-feature-invoices", "acme-customer-0815")
    with db.as_operator(OPERATOR) as conn:
        month = conn.execute("SELECT month FROM tessera.monthly_readings WHERE client_id = %s LIMIT 1",
                             (GLOBEX,)).fetchone()[0]  # type: ignore[index]
        conn.execute("SELECT * FROM tessera.create_reading_share_token(%s, %s)", (GLOBEX, month))
    with psycopg.connect(dsn, autocommit=True) as su:
        w = World(db, su, Ed25519PrivateKey.generate(), role_dsn("tessera_sealer"), dsn, app_dsn)
        w.seal()
        yield w

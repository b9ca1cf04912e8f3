"""Shared set-up of the issue 6 tests (keys, settlement secrets, exact cache, worker
config): two tenants with two workloads each, their sponsors and an operator, created and
committed by the superuser in the test's fresh database; connections as the proxy and
settlement logins; and the scan of everything the server wrote to disk (data directory,
WAL, server log) for a secret that must never reach it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tessera_db.cluster import Cluster

A = uuid.UUID("a6000000-0000-4000-8000-00000000000a")
B = uuid.UUID("b6000000-0000-4000-8000-00000000000b")
A1 = uuid.UUID("a6000000-0000-4000-8000-0000000000a1")
A2 = uuid.UUID("a6000000-0000-4000-8000-0000000000a2")
B1 = uuid.UUID("b6000000-0000-4000-8000-0000000000b1")
SPONSOR_A = "sponsor-a@tenant-a.example"
SPONSOR_B = "sponsor-b@tenant-b.example"
OPERATOR = "ops@tessera.example"


@dataclass(frozen=True)
class Tenants:
    a: uuid.UUID = A
    b: uuid.UUID = B
    a1: uuid.UUID = A1
    a2: uuid.UUID = A2
    b1: uuid.UUID = B1


@pytest.fixture
def tenants(postgresql: psycopg.Connection[Any]) -> Tenants:
    """Clients A (workloads a1, a2) and B (workload b1), every mechanic opted in; sponsors
    of A and B; an operator. Committed."""
    conn = postgresql
    conn.execute("INSERT INTO tessera.clients (client_id, name) VALUES (%s, 'Tenant A'), (%s, 'Tenant B')", (A, B))
    conn.execute(
        "INSERT INTO tessera.workloads (client_id, workload_id, name, mechanic_batch_routing,"
        "                               mechanic_exact_cache, mechanic_auto_route)"
        " VALUES (%s, %s, 'a1', true, true, true), (%s, %s, 'a2', true, true, false),"
        "        (%s, %s, 'b1', true, true, false)", (A, A1, A, A2, B, B1))
    conn.execute("INSERT INTO tessera.client_users (client_id, email) VALUES (%s, %s), (%s, %s)",
                 (A, SPONSOR_A, B, SPONSOR_B))
    conn.execute("INSERT INTO tessera.operators (email) VALUES (%s)", (OPERATOR,))
    conn.commit()
    return Tenants()


@pytest.fixture
def login(role_dsn: Callable[[str], str]) -> Iterator[Callable[[str], psycopg.Connection[Any]]]:
    """login('tessera_proxy') -> an autocommit connection as that LOGIN role."""
    opened: list[psycopg.Connection[Any]] = []

    def connect(role: str) -> psycopg.Connection[Any]:
        conn = psycopg.connect(role_dsn(role), autocommit=True)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


def audit_rows(conn: psycopg.Connection[Any], entity: str, action: str | None = None) -> list[dict[str, Any]]:
    """audit_events rows of an entity (as the superuser), oldest first."""
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT * FROM tessera.audit_events WHERE entity = %s AND (%s::text IS NULL OR action = %s)"
                    " ORDER BY event_id", (entity, action, action))
        rows = cur.fetchall()
    conn.rollback()
    return rows


SERVER_LOG = "server log"


def log_every_statement(conn: psycopg.Connection[Any]) -> None:
    """Make every later session of ``conn``'s database log every statement with all of its
    parameters, also on error (the strictest logging an operator might switch on). Run by
    the superuser; sessions opened before this keep their settings."""
    from psycopg import sql

    dbname = sql.Identifier(conn.info.dbname)
    conn.autocommit = True
    for setting, value in (("log_statement", "all"), ("log_min_duration_statement", "0"),
                           ("log_parameter_max_length", "-1"), ("log_parameter_max_length_on_error", "-1")):
        conn.execute(sql.SQL("ALTER DATABASE {} SET {} = {}").format(dbname, sql.Identifier(setting),
                                                                    sql.Literal(value)))


def scan_disk(cluster: Cluster, conn: psycopg.Connection[Any], needles: Mapping[str, bytes]) -> dict[str, set[str]]:
    """CHECKPOINT and switch the WAL (as the superuser ``conn``, autocommit), then grep
    every file of the data directory (base/, pg_wal/, ...) and the server log for each
    needle: {needle name: files it was found in ("server log" for the log)}. Asserts
    the scan read a realistic number of files."""
    conn.execute("CHECKPOINT")
    conn.execute("SELECT pg_switch_wal()")
    files: list[Path] = [p for p in cluster.data_dir.rglob("*") if p.is_file()] + [cluster.log_file]
    hits: dict[str, set[str]] = {name: set() for name in needles}
    scanned = 0
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        scanned += 1
        for name, needle in needles.items():
            if needle in data:
                hits[name].add(str(path.relative_to(cluster.data_dir)) if cluster.data_dir in path.parents
                               else SERVER_LOG)
    assert scanned > 100
    return hits

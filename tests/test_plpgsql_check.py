"""Static analysis of every PL/pgSQL function in the project schemas with plpgsql_check.

PL/pgSQL checks a function body only when it runs, so a misspelt column on a rarely
taken branch (an error path, a break-glass case) survives every test that does not take
it. plpgsql_check (Debian: postgresql-15-plpgsql-check, installed by the README's set-up)
plans every statement of every function against the built catalog. Trigger functions are
checked against each table whose triggers call them (NEW/OLD then have that table's row
type). The extension lives only in this test's rolled-back transaction, never in the
product schema.

Every finding fails the test -- errors, and the extra and other warnings (unused
variables or parameters, unreachable code, implicit casts, ...) -- unless it is listed in
``ACCEPTED`` with the reason it is not a bug. The "performance" hints are not requested.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

PROJECT_SCHEMAS = ("tessera", "tessera_private")

# Reviewed findings that are not bugs: (function, table or "", message) -> why.
ACCEPTED = {
    ("tessera_private.worker_config_changed()", "tessera.clients", 'record "new" has no field "workload_id"'):
        "one trigger function for workloads and clients, dispatching on TG_TABLE_NAME: the "
        "branch that reads NEW.workload_id runs only for tessera.workloads",
}


@pytest.fixture
def checked(conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    conn.execute("CREATE EXTENSION plpgsql_check")
    return conn


def plpgsql_functions(conn: psycopg.Connection[Any]) -> list[tuple[int, str, bool]]:
    return [(oid, name, is_trigger) for oid, name, is_trigger in conn.execute(
        "SELECT p.oid::int, p.oid::regprocedure::text, p.prorettype = 'pg_catalog.trigger'::regtype"
        "  FROM pg_catalog.pg_proc AS p"
        "  JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace"
        "  JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang"
        " WHERE n.nspname = ANY (%s) AND l.lanname = 'plpgsql'"
        " ORDER BY 2", (list(PROJECT_SCHEMAS),)).fetchall()]


def trigger_tables(conn: psycopg.Connection[Any], oid: int) -> list[tuple[int, str]]:
    """(oid, name) of the tables whose triggers call the function: one per distinct row
    type is enough (partitions share their parent's)."""
    return [(relid, name) for relid, name in conn.execute(
        "SELECT DISTINCT ON (c.reltype) t.tgrelid::int, t.tgrelid::regclass::text FROM pg_catalog.pg_trigger AS t"
        "  JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid"
        " WHERE t.tgfoid = %s AND NOT c.relispartition ORDER BY c.reltype, t.tgrelid", (oid,)).fetchall()]


def findings(conn: psycopg.Connection[Any], oid: int, relid: int = 0) -> list[tuple[str, str, str | None]]:
    return [(level, message, detail) for level, message, detail in conn.execute(
        "SELECT level, message, detail FROM plpgsql_check_function_tb(%s::regprocedure, %s::regclass,"
        " extra_warnings => true, other_warnings => true, performance_warnings => false)",
        (oid, relid)).fetchall()]


def report(conn: psycopg.Connection[Any]) -> list[str]:
    out = []
    for oid, name, is_trigger in plpgsql_functions(conn):
        for relid, table in (trigger_tables(conn, oid) if is_trigger else [(0, "")]):
            for level, message, detail in findings(conn, oid, relid):
                if (name, table, message) not in ACCEPTED:
                    out.append(f"{name} [{table}] {level}: {message} {detail or ''}")
    return out


def test_every_plpgsql_function_passes_plpgsql_check(checked: psycopg.Connection[Any]) -> None:
    assert len(plpgsql_functions(checked)) > 20, "expected the project's PL/pgSQL functions"
    assert report(checked) == []


def test_a_bug_on_an_untaken_branch_is_found(checked: psycopg.Connection[Any]) -> None:
    """The check can fail: a misspelt column on a branch no test takes."""
    checked.execute(
        "CREATE FUNCTION tessera_private.scratch_untaken() RETURNS integer LANGUAGE plpgsql"
        " SET search_path = pg_catalog, pg_temp AS $f$ BEGIN"
        "   IF pg_catalog.random() > 2 THEN RETURN (SELECT count(no_such_column) FROM tessera.clients); END IF;"
        "   RETURN 1; END $f$")
    assert checked.execute("SELECT tessera_private.scratch_untaken()").fetchone() == (1,)  # runs fine
    found = report(checked)
    assert len(found) == 1 and "scratch_untaken" in found[0] and "no_such_column" in found[0], found

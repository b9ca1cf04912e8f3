"""Security lints (tests/lints/NNNN_<rule>.sql): catalog queries, zero rows when healthy.

* The freshly built database gives zero rows for every lint.
* For every lint, each planted violation (made as the superuser inside a transaction that
  is rolled back) gives exactly one row, naming the planted object.
* Every lint file has at least one planted violation below and a section in
  tests/lints/README.md, and returns splinter's row shape; so a new lint without a test
  or a doc fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

LINT_DIR = Path(__file__).resolve().parent / "lints"
LINT_FILES = sorted(LINT_DIR.glob("*.sql"))
FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# splinter's row shape: column name -> PostgreSQL type name.
COLUMNS = {
    "name": "text",
    "title": "text",
    "level": "text",
    "categories": "text[]",
    "description": "text",
    "detail": "text",
    "remediation": "text",
    "metadata": "jsonb",
    "cache_key": "text",
}
LEVELS = {"ERROR", "WARN", "INFO"}


def lint_name(path: Path) -> str:
    """0006_function_search_path_mutable.sql -> function_search_path_mutable"""
    match = FILE_NAME.match(path.name)
    assert match, f"{path.name}: lint files are named NNNN_<snake_case_rule>.sql"
    return match.group(2)


LINTS = {lint_name(p): p for p in LINT_FILES}


def run_lint(conn: psycopg.Connection[Any], name: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(LINTS[name].read_text(encoding="utf-8"))
        return cur.fetchall()


@dataclass(frozen=True)
class Plant:
    """One violation: statements run by the superuser (``owner=True``: as tessera_owner,
    so that no other lint is tripped by the new object's owner), then the lint must
    return exactly one row whose metadata contains ``names``."""

    statements: tuple[str, ...]
    names: dict[str, str]
    owner: bool = False
    id: str = field(default="")


def plant(*statements: str, owner: bool = False, id: str, **names: str) -> Plant:
    return Plant(statements, names, owner, id)


PLANTS: dict[str, list[Plant]] = {
    "rls_disabled": [
        plant("ALTER TABLE tessera.clients DISABLE ROW LEVEL SECURITY",
              id="disable", schema="tessera", name="clients"),
        plant("CREATE TABLE tessera_private.scratch (id int)",
              owner=True, id="new-table", schema="tessera_private", name="scratch"),
    ],
    "rls_not_forced": [
        plant("ALTER TABLE tessera.workloads NO FORCE ROW LEVEL SECURITY",
              id="no-force", schema="tessera", name="workloads"),
    ],
    "rls_enabled_no_policy": [
        plant("CREATE TABLE tessera.scratch (client_id uuid)",
              "ALTER TABLE tessera.scratch ENABLE ROW LEVEL SECURITY",
              "ALTER TABLE tessera.scratch FORCE ROW LEVEL SECURITY",
              owner=True, id="new-table", schema="tessera", name="scratch"),
    ],
    "policy_to_public": [
        plant("CREATE POLICY scratch_no_to ON tessera.clients FOR SELECT USING (false)",
              owner=True, id="no-to-clause", name="clients", policy="scratch_no_to"),
        plant("CREATE POLICY scratch_to_public ON tessera.workloads FOR DELETE TO public, authenticated"
              " USING (false)",
              owner=True, id="to-public", name="workloads", policy="scratch_to_public"),
    ],
    "policy_always_true": [
        plant("CREATE POLICY scratch_true ON tessera.clients FOR SELECT TO authenticated USING (true)",
              owner=True, id="using", name="clients", policy="scratch_true"),
        plant("CREATE POLICY scratch_true ON tessera.workloads FOR INSERT TO authenticated WITH CHECK (true)",
              owner=True, id="with-check", name="workloads", policy="scratch_true"),
        plant("CREATE POLICY scratch_true ON tessera.operators FOR UPDATE TO authenticated"
              " USING ((SELECT tessera_private.is_operator())) WITH CHECK (true)",
              owner=True, id="update-check", name="operators", policy="scratch_true"),
    ],
    "function_search_path_mutable": [
        plant("CREATE FUNCTION tessera_private.scratch() RETURNS int LANGUAGE sql AS 'SELECT 1'",
              owner=True, id="unpinned", schema="tessera_private", name="scratch"),
        plant("ALTER FUNCTION tessera_private.is_operator() RESET search_path",
              id="reset", schema="tessera_private", name="is_operator"),
        plant("CREATE FUNCTION tessera.scratch() RETURNS int LANGUAGE sql SECURITY DEFINER"
              " SET search_path = pg_catalog AS 'SELECT 1'",
              owner=True, id="definer-no-pg-temp", schema="tessera", name="scratch"),
        plant("CREATE FUNCTION tessera.scratch() RETURNS int LANGUAGE sql SECURITY DEFINER"
              " SET search_path = '' AS 'SELECT 1'",
              owner=True, id="definer-empty", schema="tessera", name="scratch"),
        plant("CREATE FUNCTION tessera.scratch() RETURNS int LANGUAGE sql SECURITY DEFINER"
              " SET search_path = public, pg_temp AS 'SELECT 1'",
              owner=True, id="definer-public", schema="tessera", name="scratch"),
    ],
    "function_executable_by_public": [
        plant("GRANT EXECUTE ON FUNCTION tessera_private.is_operator() TO PUBLIC",
              id="grant", schema="tessera_private", name="is_operator"),
        # Created by a role without the project's default-privilege REVOKE: PUBLIC's
        # implicit EXECUTE (proacl NULL) counts too.
        plant("CREATE FUNCTION tessera.scratch() RETURNS int LANGUAGE sql"
              " SET search_path = pg_catalog, pg_temp AS 'SELECT 1'",
              "ALTER FUNCTION tessera.scratch() OWNER TO tessera_owner",
              id="default-acl", schema="tessera", name="scratch"),
    ],
    "anon_security_definer_function_executable": [
        # A definer body put back into the exposed schema.
        plant("ALTER FUNCTION tessera_private.reading_by_share_token(text)"
              " RENAME TO reading_by_share_token_body",
              "ALTER FUNCTION tessera_private.reading_by_share_token_body(text) SET SCHEMA tessera",
              id="moved-body", schema="tessera", name="reading_by_share_token_body"),
        # An invoker wrapper turned into a definer.
        plant("ALTER FUNCTION tessera.reading_by_share_token(text) SECURITY DEFINER",
              id="wrapper-definer", schema="tessera", name="reading_by_share_token"),
    ],
    "authenticated_security_definer_function_executable": [
        plant("ALTER FUNCTION tessera.set_kill_switch(uuid, boolean) SECURITY DEFINER",
              id="wrapper-definer", schema="tessera", name="set_kill_switch"),
        # A new definer RPC written the old way, granted to sponsors and operators.
        plant("CREATE FUNCTION tessera.scratch() RETURNS int LANGUAGE sql SECURITY DEFINER"
              " SET search_path = pg_catalog, pg_temp AS 'SELECT 1'",
              "GRANT EXECUTE ON FUNCTION tessera.scratch() TO authenticated",
              owner=True, id="new-definer", schema="tessera", name="scratch"),
    ],
    "table_granted_to_public": [
        plant("GRANT SELECT ON tessera.clients TO PUBLIC",
              id="table", schema="tessera", name="clients"),
        plant("GRANT UPDATE (mechanic_auto_route) ON tessera.workloads TO PUBLIC",
              id="column", schema="tessera", name="workloads"),
    ],
    "security_definer_view": [
        plant("CREATE VIEW tessera.scratch AS SELECT client_id FROM tessera.clients",
              owner=True, id="plain", schema="tessera", name="scratch"),
        plant("CREATE VIEW tessera.scratch WITH (security_invoker = false) AS SELECT 1 AS one",
              owner=True, id="explicit-false", schema="tessera", name="scratch"),
    ],
    "object_not_owned_by_owner": [
        plant("ALTER TABLE tessera.operators OWNER TO CURRENT_USER",
              id="table", type="table", schema="tessera", name="operators"),
        plant("ALTER FUNCTION tessera_private.jwt_email() OWNER TO CURRENT_USER",
              id="function", type="function", schema="tessera_private", name="jwt_email()"),
        plant("ALTER SCHEMA tessera_private OWNER TO CURRENT_USER",
              id="schema", type="schema", name="tessera_private"),
        plant("CREATE TYPE tessera.scratch AS ENUM ('x')",
              id="type", type="type", schema="tessera", name="scratch"),
    ],
    "append_only_table_writable": [
        plant("CREATE TABLE tessera_private.scratch_ledger (id int)",
              "SELECT tessera_private.make_append_only('tessera_private.scratch_ledger')",
              "GRANT UPDATE, DELETE ON tessera_private.scratch_ledger TO service_role",
              "ALTER TABLE tessera_private.scratch_ledger ENABLE ROW LEVEL SECURITY",
              "ALTER TABLE tessera_private.scratch_ledger FORCE ROW LEVEL SECURITY",
              "CREATE POLICY scratch_ledger_select ON tessera_private.scratch_ledger FOR SELECT"
              " TO service_role USING (id > 0)",
              owner=True, id="granted", schema="tessera_private", name="scratch_ledger"),
        plant("CREATE TABLE tessera_private.scratch_ledger (id int)",
              "SELECT tessera_private.make_append_only('tessera_private.scratch_ledger')",
              "ALTER TABLE tessera_private.scratch_ledger ENABLE TRIGGER scratch_ledger_append_only_row",
              "ALTER TABLE tessera_private.scratch_ledger ENABLE ROW LEVEL SECURITY",
              "ALTER TABLE tessera_private.scratch_ledger FORCE ROW LEVEL SECURITY",
              "CREATE POLICY scratch_ledger_select ON tessera_private.scratch_ledger FOR SELECT"
              " TO service_role USING (id > 0)",
              owner=True, id="not-always", schema="tessera_private", name="scratch_ledger"),
    ],
    "table_not_audited": [
        plant("CREATE TABLE tessera.scratch (client_id uuid PRIMARY KEY)",
              owner=True, id="unlisted", schema="tessera", name="scratch"),
        plant("ALTER TABLE tessera.workloads ENABLE TRIGGER workloads_audit",
              id="not-always", schema="tessera", name="workloads"),
        plant("DROP TRIGGER clients_audit_truncate ON tessera.clients",
              id="trigger-dropped", schema="tessera", name="clients"),
    ],
    "table_without_retention_class": [
        plant("CREATE TABLE tessera.scratch (client_id uuid PRIMARY KEY)",
              owner=True, id="unlisted", schema="tessera", name="scratch"),
        plant("ALTER TABLE tessera.balance_transactions RENAME COLUMN created_at TO booked_at",
              owner=True, id="time-column-gone", schema="tessera", name="balance_transactions"),
    ],
    "policy_function_parallel_unsafe": [
        plant("ALTER FUNCTION tessera_private.is_operator() PARALLEL UNSAFE",
              id="helper-unsafe", schema="tessera_private", name="is_operator"),
        plant("CREATE FUNCTION tessera_private.scratch_visible(uuid) RETURNS boolean LANGUAGE sql STABLE"
              " SET search_path = pg_catalog, pg_temp AS 'SELECT $1 IS NOT NULL'",
              "REVOKE ALL ON FUNCTION tessera_private.scratch_visible(uuid) FROM PUBLIC",
              "CREATE POLICY scratch_read ON tessera.workloads FOR SELECT TO authenticated"
              " USING (tessera_private.scratch_visible(client_id) AND (SELECT tessera_private.is_operator()))",
              owner=True, id="new-function", schema="tessera_private", name="scratch_visible"),
    ],
    "policy_any_over_scalar_subquery": [
        plant("CREATE POLICY scratch_any ON tessera.workloads FOR SELECT TO authenticated"
              " USING (client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]))",
              owner=True, id="scalar-subquery", name="workloads", policy="scratch_any"),
    ],
    "policy_setting_read_per_row": [
        plant("CREATE POLICY scratch_setting ON tessera.workloads FOR SELECT TO tessera_owner"
              " USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true),"
              " '')::uuid))",
              owner=True, id="inside-nullif", name="workloads", policy="scratch_setting"),
        plant("CREATE POLICY scratch_setting ON tessera.clients FOR SELECT TO tessera_owner"
              " USING (name = pg_catalog.current_setting('tessera.scratch', true))",
              owner=True, id="bare-call", name="clients", policy="scratch_setting"),
    ],
    "truncate_granted_to_non_owner": [
        plant("GRANT TRUNCATE ON tessera.workloads TO service_role",
              id="service-role", schema="tessera", name="workloads", grantee="service_role"),
        plant("GRANT TRUNCATE ON tessera.client_users TO PUBLIC",
              id="public", schema="tessera", name="client_users", grantee="PUBLIC"),
    ],
}

PLANT_CASES = [pytest.param(name, p, id=f"{name}-{p.id}") for name, ps in PLANTS.items() for p in ps]




# --------------------------------------------------------------------------- offline


def test_lint_files_exist_and_are_numbered_uniquely() -> None:
    assert LINT_FILES, "no lint files found"
    numbers = [FILE_NAME.match(p.name).group(1) for p in LINT_FILES]  # type: ignore[union-attr]
    assert len(numbers) == len(set(numbers)), "two lints share a number"
    assert len(LINTS) == len(LINT_FILES), "two lints share a rule name"
    for name, path in LINTS.items():
        text = path.read_text(encoding="utf-8")
        assert f"'{name}'::text AS name" in text, f"{path.name}: the name column must be '{name}'"
        assert f"#{path.stem}'" in text, f"{path.name}: remediation must point at README.md#{path.stem}"


def test_every_lint_has_a_planted_violation() -> None:
    assert set(LINTS) == set(PLANTS), (
        f"lints without a planted-violation test: {sorted(set(LINTS) - set(PLANTS))}; "
        f"plants for no lint file: {sorted(set(PLANTS) - set(LINTS))}")
    assert all(PLANTS[name] for name in LINTS)


def test_every_lint_is_documented() -> None:
    readme = (LINT_DIR / "README.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^## (\d{4}_[a-z0-9_]+)$", readme, flags=re.MULTILINE))
    assert headings == {p.stem for p in LINT_FILES}
    for section in re.split(r"^## ", readme, flags=re.MULTILINE)[1:]:
        for part in ("Level:", "Summary:", "Rationale:", "How to resolve:"):
            assert part in section, f"README section {section.splitlines()[0]} lacks {part}"


# --------------------------------------------------------------------------- database


@pytest.mark.parametrize("name", sorted(LINTS))
def test_row_shape(conn: psycopg.Connection[Any], name: str) -> None:
    """Every lint returns splinter's columns, with the same types (so they UNION)."""
    cur = conn.execute(LINTS[name].read_text(encoding="utf-8"))
    assert cur.description is not None
    got = {}
    for col in cur.description:
        got[col.name] = conn.execute("SELECT format_type(%s, NULL)", (col.type_code,)).fetchone()[0]  # type: ignore[index]
    assert list(got) == list(COLUMNS)
    assert got == COLUMNS


def test_clean_database_has_no_findings(conn: psycopg.Connection[Any]) -> None:
    findings = {name: run_lint(conn, name) for name in LINTS}
    assert {n: [r["detail"] for r in rows] for n, rows in findings.items() if rows} == {}


def test_extension_objects_are_skipped(conn: psycopg.Connection[Any]) -> None:
    """Extension members (functions without search_path, PUBLIC EXECUTE, superuser-owned
    types, a plain view) in a project schema are the extension's business, not findings."""
    conn.execute("CREATE EXTENSION citext SCHEMA tessera_private")
    conn.execute("CREATE EXTENSION pg_buffercache SCHEMA tessera_private")
    foreign = conn.execute(
        "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'tessera_private' AND p.proconfig IS NULL"
        "   AND pg_get_userbyid(p.proowner) <> 'tessera_owner'").fetchone()[0]  # type: ignore[index]
    assert foreign > 0, "the extensions should have put unpinned, foreign-owned functions there"
    findings = {name: run_lint(conn, name) for name in LINTS}
    assert {n: [r["detail"] for r in rows] for n, rows in findings.items() if rows} == {}


def test_all_lints_union_into_one_query(conn: psycopg.Connection[Any]) -> None:
    """Like splinter's compile step: every rule can be combined into one report."""
    union = sql.SQL("\nUNION ALL\n").join(
        sql.SQL("SELECT * FROM (\n") + sql.SQL(LINTS[n].read_text(encoding="utf-8"))
        + sql.SQL("\n) AS ") + sql.Identifier(f"lint_{n}")
        for n in sorted(LINTS))
    conn.execute("GRANT SELECT ON tessera.clients TO PUBLIC")
    conn.execute("ALTER TABLE tessera.clients NO FORCE ROW LEVEL SECURITY")
    rows = conn.execute(union).fetchall()
    assert sorted(r[0] for r in rows) == ["rls_not_forced", "table_granted_to_public"]


@pytest.mark.parametrize(("name", "violation"), PLANT_CASES)
def test_planted_violation_is_reported_once(conn: psycopg.Connection[Any], name: str,
                                            violation: Plant) -> None:
    assert run_lint(conn, name) == []
    if violation.owner:
        conn.execute("SET LOCAL ROLE tessera_owner")
    for statement in violation.statements:
        conn.execute(statement)
    conn.execute("RESET ROLE")
    rows = run_lint(conn, name)
    assert len(rows) == 1, [r["detail"] for r in rows]
    found = rows[0]
    assert found["name"] == name
    assert found["level"] in LEVELS
    assert found["categories"] in (["SECURITY"], ["PERFORMANCE"])  # splinter's two categories
    assert found["remediation"].endswith(f"#{LINTS[name].stem}")
    assert {k: found["metadata"].get(k) for k in violation.names} == violation.names, found["metadata"]
    assert found["cache_key"].startswith(name + "_")
    conn.rollback()
    assert run_lint(conn, name) == []

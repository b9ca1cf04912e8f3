"""The table x actor x command access matrix, and tenant isolation under forged values.

tessera_db/policy_matrix.py is the probing engine (the one behind ``tessera-db policy
matrix`` / ``policy diff``) and holds each table's probe rows; the declared matrix is
tessera_db/data/policy_matrix.json. These tests run the engine against a fresh database
(seeded here, as the superuser, and rolled back) of every build: the declared one, and
tessera-db deployed on a Supabase-style cluster by its non-superuser deploy login, online
and offline (tests/supabase_platform.py):

* every table in schema tessera has a probe spec (a new table fails until it has one);
* the observed matrix (tables and functions) equals the declared one, and
  docs/rls-policy-matrix.md equals its rendering (TESSERA_WRITE_MATRIX=1 rewrites it);
* a planted GRANT and a dropped policy both show up as differences;
* a sponsor of A cannot read or change B's rows even with forged client_id values.

``tessera-db policy`` itself (CLI, leaving nothing behind, the HTML page in a browser):
tests/test_policy_review.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tessera_db import policy_matrix as pm
from tests.supabase_platform import DEPLOY_LOGIN, BuiltDatabase, on_every_build

REPO = Path(__file__).resolve().parent.parent
A, B = pm.TENANT_IDS["A"], pm.TENANT_IDS["B"]
SPONSOR_A = pm.ACTORS_BY_NAME["sponsor_A"]

# Every test here that touches a database also runs on the Supabase-style deployments.
pytest_generate_tests = on_every_build


# --------------------------------------------------------------------------- coverage


def test_every_table_has_a_reviewed_entry(conn: psycopg.Connection[Any]) -> None:
    assert pm.catalog_tables(conn), "no tables found in schema tessera"
    assert pm.coverage_problems(conn) == []


def test_a_new_table_without_an_entry_fails_coverage(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET LOCAL ROLE tessera_owner")
    conn.execute("CREATE TABLE tessera.unreviewed (client_id uuid PRIMARY KEY)")
    conn.execute("RESET ROLE")
    assert pm.coverage_problems(conn) == [
        "table tessera.unreviewed has no probe spec in tessera_db/policy_matrix.py TABLES"]


def test_partitions_are_not_listed_separately(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE tessera.parted (client_id uuid) PARTITION BY HASH (client_id)")
    conn.execute("CREATE TABLE tessera.parted_0 PARTITION OF tessera.parted"
                 " FOR VALUES WITH (MODULUS 1, REMAINDER 0)")
    assert "parted" in pm.catalog_tables(conn)
    assert "parted_0" not in pm.catalog_tables(conn)


# --------------------------------------------------------------------------- matrix


def test_observed_matrix_matches_the_declared_one_and_the_doc(built: BuiltDatabase,
                                                             conn: psycopg.Connection[Any]) -> None:
    """One observation per build: it must equal the declared matrix shipped with the
    package, and its rendering must equal docs/rls-policy-matrix.md. On the Supabase-style
    builds the prober is the deploy login ``postgres`` (no superuser: BYPASSRLS and a
    member of tessera_owner), as on a hosted project; on the declared build the superuser."""
    assert pm.coverage_problems(conn) == []
    memberships = "SELECT roleid::regrole::text, member::regrole::text FROM pg_auth_members ORDER BY 1, 2"
    before = conn.execute(memberships).fetchall()
    if built.build != "declared":
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(DEPLOY_LOGIN)))
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
    observed = pm.take(conn)
    conn.rollback()  # what policy matrix does: the memberships it granted the prober are gone
    assert conn.execute(memberships).fetchall() == before
    diff = pm.diff(observed, pm.load())
    assert not diff, ("the live matrix differs from tessera_db/data/policy_matrix.json (after a reviewed "
                      f"change: {pm.REGENERATE_EXPECTED}):\n" + "\n".join(diff))
    rendered = pm.render_markdown(pm.PolicyMatrix(observed.tables, observed.functions))
    doc = REPO / pm.DOC_PATH
    if os.environ.get("TESSERA_WRITE_MATRIX"):
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text(rendered, encoding="utf-8")
    assert doc.exists(), f"{pm.DOC_PATH} is missing; regenerate: {pm.REGENERATE}"
    assert doc.read_text(encoding="utf-8") == rendered, (
        f"{pm.DOC_PATH} is stale; regenerate: {pm.REGENERATE}")


def test_malformed_cells_and_files_are_refused() -> None:
    assert pm.Outcome.parse("denied") == pm.DENIED
    assert pm.Outcome.parse("A,B") == pm.Outcome(tenants=frozenset({"A", "B"}))
    for cell in ("allowed", "A,", "C"):
        with pytest.raises(ValueError):
            pm.Outcome.parse(cell)
    with pytest.raises(ValueError):
        pm.PolicyMatrix.from_json({"format": "something else", "tables": {}, "functions": {}})


def test_a_planted_grant_and_a_dropped_policy_differ(conn: psycopg.Connection[Any]) -> None:
    """The matrix can fail: a GRANT to anon, a GRANT EXECUTE to anon and a dropped sponsor
    policy each change the live matrix, and the diff names each."""
    conn.execute("GRANT SELECT ON tessera.clients TO anon")
    conn.execute("GRANT EXECUTE ON FUNCTION tessera.erase_client(uuid, text) TO anon")
    conn.execute("DROP POLICY workloads_select_operator_or_sponsor ON tessera.workloads")
    diff = pm.diff(pm.take(conn), pm.load())
    assert "table tessera.clients: anon SELECT: declared denied, live none" in diff, diff
    assert any(d.startswith("table tessera.workloads: sponsor_A SELECT: declared A, live") for d in diff), diff
    assert "function tessera.erase_client(uuid, text): EXECUTE for anon: declared no, live yes" \
        in diff, diff


# --------------------------------------------------------------------------- isolation


def _as_sponsor_a(conn: psycopg.Connection[Any]) -> None:
    pm.act_as(conn, SPONSOR_A)


def _superuser(conn: psycopg.Connection[Any]) -> None:
    conn.execute("RESET ROLE")
    conn.execute("SELECT set_config('request.jwt.claims', '', true)")


def _snapshot(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every seeded table, as the superuser sees it."""
    out = {}
    for table in pm.TABLES:
        query = sql.SQL("SELECT to_jsonb(t)::text FROM {} AS t ORDER BY 1").format(
            sql.Identifier(pm.SCHEMA, table))
        out[table] = [tuple(r) for r in conn.execute(query).fetchall()]
    return out


def _refused(conn: psycopg.Connection[Any], stmt: Any, params: Any = None) -> None:
    """``stmt`` as sponsor A must raise 42501; nothing may change."""
    conn.execute("SAVEPOINT attempt")
    _as_sponsor_a(conn)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(stmt, params)
    conn.execute("ROLLBACK TO SAVEPOINT attempt")


def _affects_nothing(conn: psycopg.Connection[Any], stmt: Any, params: Any = None) -> None:
    """``stmt`` as sponsor A runs, touches zero rows, and the database is unchanged."""
    before = _snapshot(conn)
    conn.execute("SAVEPOINT attempt")
    _as_sponsor_a(conn)
    assert conn.execute(stmt, params).rowcount == 0
    _superuser(conn)
    assert _snapshot(conn) == before
    conn.execute("ROLLBACK TO SAVEPOINT attempt")


@pytest.fixture
def seeded(conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    pm.seed(conn)
    return conn


def _workload_id(conn: psycopg.Connection[Any], client_id: Any) -> Any:
    return conn.execute("SELECT workload_id FROM tessera.workloads WHERE client_id = %s",
                        (client_id,)).fetchone()[0]  # type: ignore[index]


def test_sponsor_a_reads_nothing_of_b_even_when_asking_by_id(seeded: psycopg.Connection[Any]) -> None:
    conn = seeded
    _as_sponsor_a(conn)
    for table in ("clients", "workloads", "client_users"):
        query = sql.SQL("SELECT client_id FROM {} WHERE client_id = %s").format(
            sql.Identifier(pm.SCHEMA, table))
        assert conn.execute(query, (B,)).fetchall() == [], table
        everything = sql.SQL("SELECT DISTINCT client_id FROM {}").format(sql.Identifier(pm.SCHEMA, table))
        assert conn.execute(everything).fetchall() == [(A,)], table
    assert conn.execute("SELECT count(*) FROM tessera.operators").fetchone() == (0,)


def test_sponsor_a_cannot_move_own_workload_to_b(seeded: psycopg.Connection[Any]) -> None:
    conn = seeded
    wid = _workload_id(conn, A)
    _refused(conn, "UPDATE tessera.workloads SET client_id = %s WHERE workload_id = %s", (B, wid))
    # Even together with an allowed mechanic flag, and without a WHERE.
    _refused(conn, "UPDATE tessera.workloads SET client_id = %s, mechanic_auto_route = true", (B,))


@pytest.mark.parametrize("disable", [
    # Column guard off: the UPDATE policy's WITH CHECK alone refuses the forged client_id.
    "ALTER TABLE tessera.workloads DISABLE TRIGGER workloads_guard_sponsor_update",
    # WITH CHECK opened up: the column guard alone refuses it.
    "ALTER POLICY workloads_update_operator_or_sponsor ON tessera.workloads WITH CHECK (true)",
], ids=["policy-alone", "guard-alone"])
def test_each_layer_alone_stops_moving_a_workload_to_b(seeded: psycopg.Connection[Any], disable: str) -> None:
    conn = seeded
    conn.execute(disable)
    _refused(conn, "UPDATE tessera.workloads SET client_id = %s WHERE client_id = %s", (B, A))


def test_sponsor_a_cannot_change_non_mechanic_columns(seeded: psycopg.Connection[Any]) -> None:
    conn = seeded
    wid = _workload_id(conn, A)
    _refused(conn, "UPDATE tessera.workloads SET name = 'renamed' WHERE workload_id = %s", (wid,))
    _refused(conn, "UPDATE tessera.workloads SET workload_id = gen_random_uuid() WHERE workload_id = %s", (wid,))


def test_sponsor_a_flips_mechanics_of_own_workloads_only(seeded: psycopg.Connection[Any]) -> None:
    conn = seeded
    conn.execute("SAVEPOINT attempt")
    _as_sponsor_a(conn)
    cur = conn.execute("UPDATE tessera.workloads SET mechanic_exact_cache = true")
    assert cur.rowcount == 1
    _superuser(conn)
    flags = dict(conn.execute("SELECT client_id, mechanic_exact_cache FROM tessera.workloads").fetchall())
    assert flags == {A: True, B: False}
    conn.execute("ROLLBACK TO SAVEPOINT attempt")
    # Aimed squarely at B's workload: zero rows, nothing changes.
    _affects_nothing(conn, "UPDATE tessera.workloads SET mechanic_exact_cache = true WHERE client_id = %s", (B,))
    _affects_nothing(conn, "UPDATE tessera.workloads SET mechanic_exact_cache = true WHERE workload_id = %s",
                     (_workload_id(conn, B),))


def test_sponsor_a_cannot_insert_rows_for_b_or_for_a(seeded: psycopg.Connection[Any]) -> None:
    conn = seeded
    for client in (B, A):
        _refused(conn, "INSERT INTO tessera.client_users (client_id, email) VALUES (%s, %s)",
                 (client, pm.SPONSOR_EMAIL["A"] if client == B else "friend@tenant-a.example"))
        _refused(conn, "INSERT INTO tessera.workloads (client_id, name) VALUES (%s, 'forged')", (client,))
    # Upserting onto B's existing sponsor row is refused too (INSERT policy first).
    _refused(conn, "INSERT INTO tessera.client_users (client_id, email) VALUES (%s, %s)"
                   " ON CONFLICT (client_id, email) DO UPDATE SET display_name = 'hijacked'",
             (B, pm.SPONSOR_EMAIL["B"]))
    _refused(conn, "INSERT INTO tessera.operators (email) VALUES (%s)", (pm.SPONSOR_EMAIL["A"],))
    _refused(conn, "INSERT INTO tessera.clients (client_id, name) VALUES (gen_random_uuid(), 'Mine')")


def test_sponsor_a_cannot_update_or_delete_b_rows(seeded: psycopg.Connection[Any]) -> None:
    conn = seeded
    _affects_nothing(conn, "UPDATE tessera.client_users SET client_id = %s WHERE client_id = %s", (A, B))
    _affects_nothing(conn, "UPDATE tessera.client_users SET client_id = %s", (B,))
    _affects_nothing(conn, "UPDATE tessera.clients SET optimisation_kill_switch = true WHERE client_id = %s", (B,))
    _affects_nothing(conn, "UPDATE tessera.clients SET optimisation_kill_switch = true")
    for table in ("clients", "workloads", "client_users"):
        _affects_nothing(conn, sql.SQL("DELETE FROM {} WHERE client_id = %s").format(
            sql.Identifier(pm.SCHEMA, table)), (B,))


def test_sponsor_a_cannot_use_settings_functions_on_b(seeded: psycopg.Connection[Any]) -> None:
    conn = seeded
    for fn in ("set_kill_switch", "set_cross_customer_intelligence"):
        call = sql.SQL("SELECT {}(%s, true)").format(sql.Identifier(pm.SCHEMA, fn))
        _refused(conn, call, (B,))
        conn.execute("SAVEPOINT own")
        _as_sponsor_a(conn)
        assert conn.execute(call, (A,)).fetchone() == (True,)
        conn.execute("ROLLBACK TO SAVEPOINT own")
    flags = conn.execute("SELECT optimisation_kill_switch, contributes_to_cross_customer_intelligence"
                         "  FROM tessera.clients WHERE client_id = %s", (B,)).fetchone()
    assert flags == (False, False)


def test_forged_claims_do_not_widen_sponsor_a(seeded: psycopg.Connection[Any]) -> None:
    """Claiming role service_role, or B's id as sub, inside A's JWT changes nothing."""
    conn = seeded
    for claims in ({"email": pm.SPONSOR_EMAIL["A"], "role": "service_role", "sub": str(B)},
                   {"email": pm.SPONSOR_EMAIL["A"].upper(), "client_id": str(B)}):
        conn.execute("SAVEPOINT forged")
        conn.execute("SELECT set_config('request.jwt.claims', %s, true), set_config('role', 'authenticated', true)",
                     (json.dumps(claims),))
        assert conn.execute("SELECT DISTINCT client_id FROM tessera.workloads").fetchall() == [(A,)]
        assert conn.execute("UPDATE tessera.workloads SET mechanic_auto_route = true WHERE client_id = %s",
                            (B,)).rowcount == 0
        conn.execute("ROLLBACK TO SAVEPOINT forged")

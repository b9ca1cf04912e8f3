"""Monthly partitions keep every guard; pg_partman's do not (docs/partitions.md).

A partition is a table of its own: a statement that names it directly applies the
partition's row-level security, grants and statement triggers, not the parent's. So
every partition must be owned by tessera_owner, have RLS enabled and FORCED with no
policy and no grant of its own (nothing is readable around the parent's policies), and,
under an append-only parent, carry the append-only statement trigger and the parent's
row trigger, both ENABLE ALWAYS; and the catalog lints stay at zero rows.

* tessera_private.create_monthly_partitions (the hand-written function the partition
  job calls) passes all of it.
* pg_partman 4.7 (the evaluation in docs/partitions.md): a partition it builds for a
  parent shaped exactly like ours has RLS neither enabled nor forced and no append-only
  statement trigger, so the owner reads the row the parent's forced RLS hides and
  TRUNCATEs the month past the append-only guard; the lints name it. And it cannot take
  over the existing tables (it insists on creating their DEFAULT partition itself). If a
  later pg_partman changes any of this, this test fails: re-evaluate, then adopt it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

LINT_DIR = Path(__file__).resolve().parent / "lints"


def lint_rows(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(lint, detail) for every row any catalog lint returns: [] when healthy."""
    rows: list[tuple[str, str]] = []
    for lint in sorted(LINT_DIR.glob("*.sql")):
        rows += [(lint.stem, str(r[5])) for r in conn.execute(lint.read_text(encoding="utf-8")).fetchall()]
    return rows


def guard_problems(conn: psycopg.Connection[Any], partition: str) -> list[str]:
    """Every way the partition falls short of the guards (docstring above); [] when none."""
    rel = conn.execute(
        "SELECT c.oid, pg_get_userbyid(c.relowner), c.relrowsecurity, c.relforcerowsecurity, c.relacl,"
        "       p.relname, i.inhparent"
        "  FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid JOIN pg_class p ON p.oid = i.inhparent"
        " WHERE c.oid = %s::regclass", (partition,)).fetchone()
    assert rel is not None, f"{partition} is not a partition"
    oid, owner, rls, force, acl, parent_name, parent = rel
    name = partition.split(".")[-1]
    problems = []
    if owner != "tessera_owner":
        problems.append(f"owned by {owner}")
    if not rls:
        problems.append("row-level security not enabled")
    if not force:
        problems.append("row-level security not forced")
    if acl is not None:
        problems.append(f"grants of its own: {acl}")
    if conn.execute("SELECT count(*) FROM pg_policy WHERE polrelid = %s", (oid,)).fetchone()[0]:
        problems.append("policies of its own")
    append_only = conn.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = %s AND tgname = %s",
                               (parent, f"{parent_name}_append_only_statement")).fetchone()[0]
    if append_only:
        for trigger in (f"{name}_append_only_statement", f"{parent_name}_append_only_row"):
            enabled = conn.execute("SELECT tgenabled FROM pg_trigger WHERE tgrelid = %s AND tgname = %s",
                                   (oid, trigger)).fetchone()
            if enabled is None:
                problems.append(f"no trigger {trigger}")
            elif enabled[0] != "A":
                problems.append(f"trigger {trigger} not ENABLE ALWAYS")
    return problems


def test_hand_written_partitions_keep_every_guard(postgresql: psycopg.Connection[Any]) -> None:
    conn = postgresql
    conn.execute("SET ROLE tessera_owner")  # as the partition job runs it
    for parent in ("tessera.optimize_savings", "tessera.audit_events"):
        assert conn.execute("SELECT tessera_private.create_monthly_partitions(%s, '2031-05-17', 2)",
                            (parent,)).fetchone() == (2,)
    conn.execute("RESET ROLE")
    for partition in ("tessera.optimize_savings_p2031_05", "tessera.optimize_savings_p2031_06",
                      "tessera.audit_events_p2031_05", "tessera.audit_events_p2031_06",
                      "tessera.optimize_savings_default", "tessera.audit_events_default"):
        assert guard_problems(conn, partition) == [], partition
    assert lint_rows(conn) == []


PROBE = """
CREATE TABLE tessera.{name} (
    client_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    note text,
    CONSTRAINT {name}_pkey PRIMARY KEY (client_id, occurred_at)
) PARTITION BY RANGE (occurred_at);
ALTER TABLE tessera.{name} ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.{name} FORCE ROW LEVEL SECURITY;
CREATE POLICY {name}_service_read ON tessera.{name} FOR SELECT TO service_role USING (client_id IS NOT NULL);
GRANT SELECT ON tessera.{name} TO service_role;
SELECT tessera_private.make_append_only('tessera.{name}');
"""


def test_pg_partman_partitions_lose_the_guards(postgresql: psycopg.Connection[Any]) -> None:
    conn = postgresql
    conn.execute("CREATE SCHEMA partman")
    conn.execute("CREATE EXTENSION pg_partman SCHEMA partman")
    assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'pg_partman'").fetchone()[0].startswith("4.")
    # As Supabase's dashboard would leave it usable by the project: the owner may run it.
    conn.execute("GRANT USAGE, CREATE ON SCHEMA partman TO tessera_owner")
    conn.execute("GRANT ALL ON ALL TABLES IN SCHEMA partman TO tessera_owner")
    conn.execute("SET ROLE tessera_owner")
    conn.execute(PROBE.format(name="by_hand"))
    conn.execute(PROBE.format(name="by_partman"))
    conn.execute("SELECT tessera_private.create_monthly_partitions('tessera.by_hand', '2031-05-01', 1)")
    conn.execute("SELECT partman.create_parent('tessera.by_partman', 'occurred_at', 'native', 'monthly',"
                 " p_premake := 1, p_start_partition := '2031-05-01')")
    conn.execute("SELECT partman.run_maintenance('tessera.by_partman')")
    conn.execute("RESET ROLE")
    partman_children = [r[0] for r in conn.execute(
        "SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'tessera.by_partman'::regclass ORDER BY 1")]
    assert "tessera.by_partman_p2031_05" in partman_children and "tessera.by_partman_default" in partman_children

    assert guard_problems(conn, "tessera.by_hand_p2031_05") == []
    for child in partman_children:
        assert guard_problems(conn, child) == [
            "row-level security not enabled",
            "row-level security not forced",
            f"no trigger {child.split('.')[1]}_append_only_statement",
        ], child
    flagged = {(lint, detail.split(" ")[1]) for lint, detail in lint_rows(conn) if "by_partman_" in detail}
    assert {("0001_rls_disabled", c) for c in partman_children} <= flagged
    assert {("0002_rls_not_forced", c) for c in partman_children} <= flagged

    # What that means: the owner (every SECURITY DEFINER function) reads the row the
    # parent's forced RLS hides, and empties the month past the append-only guard.
    for parent in ("by_hand", "by_partman"):
        conn.execute(f"INSERT INTO tessera.{parent} VALUES (gen_random_uuid(), '2031-05-02', 'private')")
    conn.execute("SET ROLE tessera_owner")
    assert conn.execute("SELECT count(*) FROM tessera.by_partman").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM tessera.by_partman_p2031_05").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM tessera.by_hand_p2031_05").fetchone() == (0,)
    with conn.transaction():
        conn.execute("TRUNCATE tessera.by_partman_p2031_05")  # no statement trigger: allowed
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"), conn.transaction():
        conn.execute("TRUNCATE tessera.by_hand_p2031_05")
    conn.execute("RESET ROLE")
    assert conn.execute("SELECT count(*) FROM tessera.by_partman").fetchone() == (0,)

    # And it cannot take over the existing tables: it creates the DEFAULT partition itself.
    with pytest.raises(psycopg.errors.RaiseException, match="optimize_savings_default.* already exists"), \
            conn.transaction():
        conn.execute("SELECT partman.create_parent('tessera.optimize_savings', 'occurred_at', 'native', 'monthly')")

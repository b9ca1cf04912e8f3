"""Retention (issue 14, docs/erasure.md "Retention"): one declarative list, a job that
removes only what is past its window by the database's own clock, whole monthly
partitions dropped, and an audit log that still verifies from the checkpoint sealing
the dropped months."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from tessera_db.cli import main
from tessera_db.errors import InvalidInput, PermissionDenied
from tests.lifecycle_fixtures import ACME, OPERATOR, World, world  # noqa: F401 (world is a fixture)
from tests.test_audit_seal import Tamper

SEVEN_YEARS = "interval '7 years'"


def run(world: World, now: str = "now()", dry_run: bool = False) -> dict[str, tuple[int, int]]:
    with world.db.as_service("retention") as conn:
        rows = conn.execute(f"SELECT table_name, partitions_dropped, rows_removed FROM tessera.retention_run({now}, %s)",
                            (dry_run,)).fetchall()
    return {str(t): (int(p), -1 if n is None else int(n)) for t, p, n in rows}


def old_balance_rows(world: World, *ages: str) -> list[str]:
    """Balance transactions of Acme backdated by each age (as the superuser, triggers
    off for the insert only: the stamp trigger would set created_at to now())."""
    ids = []
    for age in ages:
        ids.append(str(uuid.uuid4()))
        Tamper(world.su)("tessera.balance_transactions", (
            "INSERT INTO tessera.balance_transactions (client_id, transaction_id, kind, amount_usd, reason, actor,"
            " db_role, created_at) VALUES (%s, %s, 'top_up', 1, 'backdated', 'test', 'test', now() - " + age + ")",
            (ACME, ids[-1])))
    return ids


def remaining(world: World, ids: list[str]) -> list[str]:
    return [str(r[0]) for r in world.su.execute(
        "SELECT transaction_id FROM tessera.balance_transactions WHERE transaction_id = ANY(%s::uuid[])"
        " ORDER BY transaction_id", (ids,))]


def test_every_table_has_a_class_and_the_job_tables_a_window(world: World) -> None:
    rows = world.su.execute("SELECT table_name, retention_window, removed_by FROM tessera.retention_classes()"
                            ).fetchall()
    tables = {r[0] for r in world.su.execute(
        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname = 'tessera'"
        " AND relkind IN ('r', 'p') AND NOT relispartition")}
    assert {r[0] for r in rows} == tables
    windows = {r[0]: r[1] for r in rows}
    for ledger in ("optimize_savings", "balance_transactions", "audit_events", "monthly_readings"):
        assert str(windows[ledger]) == "2557 days, 0:00:00" or windows[ledger].days >= 2555, ledger


def test_a_row_one_day_past_its_window_goes_one_day_inside_stays(world: World) -> None:
    # created_at = now() - 7 years - 1 day (past the window), now() - 7 years + 1 day (inside)
    ids = old_balance_rows(world, f"{SEVEN_YEARS} - interval '1 day'", f"{SEVEN_YEARS} + interval '1 day'")
    past, inside = ids
    # The clock two days back: both rows are inside their window then.
    assert run(world, "now() - interval '2 days'")["balance_transactions"] == (0, 0)
    assert remaining(world, ids) == sorted(ids)
    # Now: the row a day past goes, the row a day inside stays.
    assert run(world)["balance_transactions"] == (0, 1)
    assert remaining(world, ids) == [inside]
    # Idempotent: a second run removes nothing; each run is one audit event.
    assert run(world)["balance_transactions"] == (0, 0)
    events = world.su.execute("SELECT after -> 'tables' -> 'balance_transactions' ->> 'rows_removed'"
                              "  FROM tessera.audit_events WHERE action = 'retention' ORDER BY event_id").fetchall()
    assert [e[0] for e in events] == ["0", "1", "0"]
    assert past not in remaining(world, ids)


def test_the_guard_keeps_a_row_inside_its_window_whatever_the_caller_says(world: World) -> None:
    ids = old_balance_rows(world, f"{SEVEN_YEARS} + interval '1 day'")  # one day inside its window
    # A superuser (RLS bypassed) that claims to be the retention job, and even presets
    # the cutoff the guard records per statement: the guard still checks each row's
    # window against the database clock.
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"), world.su.transaction():
        world.su.execute("SELECT set_config('tessera.removal', 'retention', true),"
                         " set_config('tessera.removal_cutoff', 'infinity', true),"
                         " set_config('tessera.removal_time_column', 'created_at', true)")
        world.su.execute("DELETE FROM tessera.balance_transactions WHERE transaction_id = %s", (ids[0],))
    assert remaining(world, ids) == ids
    # And without the retention setting nothing is deletable at all.
    ids_past = old_balance_rows(world, f"{SEVEN_YEARS} - interval '1 day'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"), world.su.transaction():
        world.su.execute("DELETE FROM tessera.balance_transactions WHERE transaction_id = %s", (ids_past[0],))


def test_a_clock_ahead_of_the_database_is_refused_except_for_a_dry_run(world: World) -> None:
    with pytest.raises(InvalidInput, match="may not be later"):
        run(world, "now() + interval '1 day'")
    before = world.su.execute("SELECT count(*) FROM tessera.optimize_savings").fetchone()
    preview = run(world, "'2034-01-01'::timestamptz", dry_run=True)
    assert preview["optimize_savings"][1] > 0 and preview["optimize_savings"][0] >= 1  # today's rows, whole months
    assert world.su.execute("SELECT count(*) FROM tessera.optimize_savings").fetchone() == before
    assert world.su.execute("SELECT count(*) FROM tessera.audit_events WHERE action = 'retention'").fetchone() == (0,)


@pytest.mark.parametrize("who", ["operator", "sponsor", "anon"])
def test_only_service_role_runs_retention(world: World, who: str) -> None:
    session = {"operator": lambda: world.db.as_operator(OPERATOR),
               "sponsor": lambda: world.db.as_sponsor("alice@acme.example"), "anon": world.db.as_anon}[who]
    for call in ("SELECT * FROM tessera.retention_run()", "SELECT * FROM tessera.retention_remove(now())"):
        with pytest.raises(PermissionDenied), session() as conn:
            conn.execute(call)


def test_the_proxy_login_cannot_run_retention(world: World, role_dsn: Any) -> None:
    with psycopg.connect(role_dsn("tessera_proxy"), autocommit=True) as conn:
        for call in ("SELECT * FROM tessera.retention_run()", "SELECT * FROM tessera.retention_remove(now())"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(call)


def test_whole_savings_months_past_the_window_are_dropped(world: World) -> None:
    world.su.execute("SET ROLE tessera_owner")
    world.su.execute("SELECT tessera_private.create_savings_partitions("
                     "(date_trunc('month', now() - interval '8 years'))::date, 1)")
    world.su.execute("RESET ROLE")
    part = world.su.execute("SELECT 'tessera.optimize_savings_p' || to_char(now() - interval '8 years', 'YYYY_MM')"
                            ).fetchone()[0]  # type: ignore[index]
    # An old copy of a demo row (as the superuser: the ledger takes no backdated rows).
    columns = [r[0] for r in world.su.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'tessera.optimize_savings'::regclass AND attnum > 0"
        " AND NOT attisdropped AND attgenerated = '' AND attname NOT IN ('request_id', 'occurred_at')"
        " ORDER BY attnum")]
    listed = ", ".join(columns)
    world.su.execute(f"INSERT INTO tessera.optimize_savings ({listed}, request_id, occurred_at)"
                     f" SELECT {listed}, 'old-' || request_id, now() - interval '8 years'"
                     "   FROM tessera.optimize_savings WHERE client_id = %s LIMIT 2", (ACME,))
    assert world.su.execute(f"SELECT count(*) FROM {part}").fetchone() == (2,)
    result = run(world)
    assert result["optimize_savings"] == (1, 2)
    assert world.su.execute("SELECT to_regclass(%s)", (part,)).fetchone() == (None,)
    assert world.su.execute("SELECT count(*) FROM tessera.optimize_savings WHERE request_id LIKE 'old-%'"
                            ).fetchone() == (0,)


def _old_audit_month(world: World, n: int) -> None:
    """n audit rows in a month 8 years ago (the superuser, stamp trigger off: the log takes
    no backdated rows), each with its correct content hash."""
    world.su.execute("SET ROLE tessera_owner")
    world.su.execute("SELECT tessera_private.create_monthly_partitions('tessera.audit_events',"
                     " (date_trunc('month', now() - interval '8 years'))::date, 1)")
    world.su.execute("RESET ROLE")
    for i in range(n):
        Tamper(world.su)("tessera.audit_events", (
            "INSERT INTO tessera.audit_events (occurred_at, entity, entity_id, action, after, actor_role,"
            " actor_session_role, request_id, content_hash) VALUES (now() - interval '8 years', 'probe', %s,"
            " 'insert', '{}', 'postgres', 'postgres', 'old', decode(repeat('00', 32), 'hex'))", (f"old-{i}",)),
            ("UPDATE tessera.audit_events AS e SET content_hash = tessera_private.audit_content_hash(e)"
             " WHERE entity_id = %s", (f"old-{i}",)))


def test_dropped_audit_months_leave_the_log_verifiable_from_their_checkpoint(world: World, tmp_path: Path) -> None:
    _old_audit_month(world, 3)
    first = world.seal()
    assert first.checkpoint is not None
    with world.db.as_operator(OPERATOR) as conn:  # more events after the old month's checkpoint
        conn.execute("SELECT tessera.set_kill_switch(%s, true)", (ACME,))
    world.seal()
    state = tmp_path / "state.json"
    assert world.verify(state).ok
    result = run(world)
    assert result["audit_events"] == (1, 3)
    world.seal()  # the sealer seals the retention event, which names the new starting point
    after = world.verify(state)
    assert after.ok, after.problem
    assert after.verified_from is not None and after.verified_from.checkpoint_id == first.checkpoint.checkpoint_id
    parallel = world.verify(workers=2, chunk_rows=5)
    assert parallel.ok and parallel.verified_from == after.verified_from
    out = CliRunner().invoke(main, ["audit", "verify", "--public-key", str(_pub(world, tmp_path)),
                                    "--state", str(tmp_path / "cli-state.json"), "--dsn", world.app_dsn])
    assert out.exit_code == 0 and f"verified from checkpoint {first.checkpoint.checkpoint_id}" in out.output, out.output


def test_an_audit_month_dropped_by_hand_is_caught(world: World) -> None:
    _old_audit_month(world, 2)
    world.seal()
    part = world.su.execute("SELECT 'tessera.audit_events_p' || to_char(now() - interval '8 years', 'YYYY_MM')"
                            ).fetchone()[0]  # type: ignore[index]
    world.su.execute(f"DROP TABLE {part}")  # not through retention: no retention event names a start
    result = world.verify()
    assert not result.ok and result.problem is not None and "rows were deleted" in result.problem.message


def test_an_unsealed_audit_month_is_kept(world: World) -> None:
    _old_audit_month(world, 1)  # not sealed yet
    with world.db.as_service("retention") as conn:
        row = conn.execute("SELECT partitions_dropped, detail FROM tessera.retention_run()"
                           " WHERE table_name = 'audit_events'").fetchone()
    assert row == (0, "1 month(s) past the window kept: not sealed by a checkpoint yet")


def test_cli_dry_run_lists_what_a_window_lets_go(world: World) -> None:
    out = CliRunner().invoke(main, ["retention", "run", "--dry-run", "--now", "2034-01-01", "--dsn", world.app_dsn])
    assert out.exit_code == 0, out.output
    assert "retention dry run as of 2034-01-01" in out.output and "optimize_savings" in out.output
    assert "would go" in out.output
    ahead = CliRunner().invoke(main, ["retention", "run", "--now", "2099-01-01", "--dsn", world.app_dsn])
    assert ahead.exit_code == 1 and "may not be later" in ahead.output


def _pub(world: World, tmp_path: Path) -> Path:
    from tessera_db.audit import signing

    path = tmp_path / "sealer.pub"
    path.write_bytes(signing.public_pem(world.key.public_key()))
    return path

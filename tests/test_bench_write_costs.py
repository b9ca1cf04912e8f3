"""bench/write_costs.py stays runnable as the schema moves on.

The ablation bench edits declared function sources by exact text and drops named
constraints; a rename would otherwise surface only the next time somebody runs the bench.
Here every variant's SQL is applied to a built database (each inside a savepoint, rolled
back), after the bench's own fixtures, exactly as the bench applies them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import audit_bench  # noqa: E402
import readings_bench  # noqa: E402
import write_costs  # noqa: E402  (module import runs every function edit: SystemExit if one no longer applies)

VARIANTS = [(suite.name, variant) for suite in write_costs.SUITES for variant in suite.variants]


@pytest.fixture
def bench_database(postgresql: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    audit_bench.setup(postgresql)
    readings_bench.seed_clients(postgresql, write_costs.SAVINGS_CLIENTS)
    readings_bench.create_write_baselines(postgresql)
    postgresql.commit()
    return postgresql


@pytest.mark.parametrize(("suite", "variant"), VARIANTS, ids=[f"{s}: {v.name}" for s, v in VARIANTS])
def test_variant_applies(bench_database: psycopg.Connection[Any], suite: str, variant: Any) -> None:
    with bench_database.transaction(force_rollback=True):
        for statement in variant.sql:
            bench_database.execute(statement)


def test_a_stale_edit_is_refused() -> None:
    with pytest.raises(SystemExit, match="no longer contains"):
        write_costs.redefine("tessera_private.stamp_audit_event", ("a line that is not there", ""))


def test_dropping_checks_drops_them_all(bench_database: psycopg.Connection[Any]) -> None:
    with bench_database.transaction(force_rollback=True):
        bench_database.execute(write_costs.drop_checks("tessera.optimize_savings"))
        left = bench_database.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'tessera.optimize_savings'::regclass"
            " AND contype = 'c'").fetchone()
        assert left == (0,)


@pytest.mark.parametrize(("suite", "variant"), [(s, v) for s in write_costs.SUITES for v in s.variants
                                                if v.name == "shipped" or v.statement],
                         ids=lambda x: getattr(x, "name", ""))
def test_statements_run(bench_database: psycopg.Connection[Any], dsn: str, role_dsn: Any, suite: Any,
                        variant: Any) -> None:
    """Each distinct pgbench script (shipped, baseline, a variant's own) runs, as the bench
    runs it: 1 writer for 1 s, through the same login, writing rows."""
    for statement in variant.sql:
        bench_database.execute(statement)
    bench_database.commit()
    for run in write_costs.runs(suite, variant, dsn, role_dsn(write_costs.login(suite))):
        assert write_costs.pgbench(run, 1, 1) > 0

"""Benchmark of issue 16 item 4: ``readings rederive`` over 1M rows (target < 10 s).

    .venv/bin/python bench/rederive_bench.py              # 1M rows (the issue's size)
    .venv/bin/python bench/rederive_bench.py --rows 200000 --no-write

Against a throwaway cluster (tessera_db.cluster.temporary_cluster(): the test-suite
settings, fsync off), built from load.sql, it loads one client's month of N rows whose
costs the database itself computed (tessera_private.request_cost with record_request's
mechanics rules, over every bucket: uncached, cache reads, 5-minute cache writes,
reasoning, batch, above the tier; stacks [], auto_route, auto_route+exact_cache,
prompt_cache_header), issues the reading as service_role, then times
tessera_db.pricing.rederive.rederive_reading -- what ``tessera-db readings rederive``
runs: the month streamed with COPY, every row re-priced in Python Decimal and compared,
every figure recomputed and compared -- through the authenticator login as service_role,
as the CLI does. Then 1,000 late rows are recorded and it is timed again (they are
listed apart, exit 0), and one cost edited with the triggers off must be caught. For
comparison it times the SQL tessera.rederive_monthly_reading (sums of stored costs).

Writes its section ("rederive") of docs/benchmarks.md unless --no-write.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tessera_db import manifest  # noqa: E402
from tessera_db.cluster import temporary_cluster  # noqa: E402
from tessera_db.db import Database  # noqa: E402
from tessera_db.pricing.rederive import rederive_reading  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from readings_bench import machine  # noqa: E402
from report import write_section  # noqa: E402  (bench/report.py: docs/benchmarks.md sections)

CLIENT = "be000000-0000-4000-8000-000000000001"
WORKLOAD = "bf000000-0000-4000-8000-000000000001"
BIG = "00000000-0000-4000-8000-00000000c001"
SMALL = "00000000-0000-4000-8000-00000000c002"
MONTH = dt.date(2026, 10, 1)


def seed(conn: psycopg.Connection[Any]) -> None:
    conn.execute("INSERT INTO tessera.clients (client_id, name) VALUES (%s, 'bench')", (CLIENT,))
    conn.execute("INSERT INTO tessera.workloads (client_id, workload_id, name) VALUES (%s, %s, 'main')",
                 (CLIENT, WORKLOAD))
    conn.execute(
        "INSERT INTO tessera.pricing_catalog (pricing_snapshot_id, provider, model, input_usd_per_token,"
        " output_usd_per_token, cache_read_usd_per_token, cache_write_5m_usd_per_token,"
        " cache_write_1h_usd_per_token, batch_input_usd_per_token, batch_output_usd_per_token,"
        " tier_threshold_tokens, above_tier_input_usd_per_token, above_tier_output_usd_per_token,"
        " above_tier_cache_read_usd_per_token, effective_from) VALUES (%s, 'anthropic', 'big', 0.000003,"
        " 0.000015, 0.0000003, 0.00000375, 0.000006, 0.0000015, 0.0000075, 200000, 0.000006, 0.0000225,"
        " 0.0000006, '2026-01-01')", (BIG,))
    conn.execute(
        "INSERT INTO tessera.pricing_catalog (pricing_snapshot_id, provider, model, input_usd_per_token,"
        " output_usd_per_token, cache_read_usd_per_token, effective_from)"
        " VALUES (%s, 'anthropic', 'small', 0.0000008, 0.000004, 0.00000008, '2026-01-01')", (SMALL,))
    conn.commit()


# Rows of the month, priced by the database (request_cost, record_request's rules). g % 4
# picks the stack: 0 [] big->big (some batch), 1 auto_route big->small, 2 auto_route +
# exact_cache (a hit: actual 0), 3 prompt_cache_header big->big (original: whole prompt
# uncached). Every 97th prompt is above big's 200k tier.
LOAD = """
WITH big AS (SELECT p FROM tessera.pricing_catalog AS p WHERE p.pricing_snapshot_id = %(big)s),
     small AS (SELECT p FROM tessera.pricing_catalog AS p WHERE p.pricing_snapshot_id = %(small)s),
     r AS (
        SELECT g, %(prefix)s || g AS rid,
               %(month)s::timestamptz + ((g::bigint * 7919) %% 2678400) * interval '1 second' AS at,
               CASE WHEN g %% 97 = 0 THEN 250000 ELSE 0 END + 100 + g %% 900 AS unc,
               g %% 300 AS cr,
               CASE WHEN g %% 4 IN (0, 3) THEN g %% 13 ELSE 0 END AS c5,
               CASE WHEN g %% 4 = 3 THEN g %% 5 ELSE 0 END AS c1,
               50 + g %% 400 AS out, NULLIF(g %% 7, 0)::bigint AS rea,
               (g %% 4 = 0 AND g %% 5 = 0 AND g %% 97 <> 0) AS batch,
               CASE g %% 4 WHEN 0 THEN ARRAY[]::text[] WHEN 1 THEN ARRAY['auto_route']
                           WHEN 2 THEN ARRAY['auto_route', 'exact_cache'] ELSE ARRAY['prompt_cache_header'] END AS mech,
               g %% 4 IN (1, 2) AS to_small,
               (ARRAY[NULL, 'search', 'chat', 'summarise', 'code', 'triage'])[1 + g %% 6] AS tag
          FROM generate_series(%(first)s, %(last)s) AS g)
INSERT INTO tessera.optimize_savings (client_id, workload_id, request_id, occurred_at, requested_provider,
    requested_model, routed_provider, routed_model, requested_snapshot_id, routed_snapshot_id,
    uncached_input_tokens, cache_read_input_tokens, cache_write_5m_input_tokens, cache_write_1h_input_tokens,
    output_tokens, reasoning_tokens, batch, original_cost_usd, actual_cost_usd, mechanics, finish_reason,
    feature_tag)
SELECT %(client)s, %(workload)s, r.rid, r.at, 'anthropic', 'big', 'anthropic',
       CASE WHEN r.to_small THEN 'small' ELSE 'big' END, %(big)s,
       CASE WHEN r.to_small THEN %(small)s::uuid ELSE %(big)s::uuid END,
       r.unc, r.cr, r.c5, r.c1, r.out, r.rea, r.batch,
       CASE WHEN 'prompt_cache_header' = ANY (r.mech)
            THEN tessera_private.request_cost((SELECT p FROM big), r.unc + r.cr + r.c5 + r.c1, 0, 0, 0,
                                              r.out, r.rea, r.batch)
            ELSE tessera_private.request_cost((SELECT p FROM big), r.unc, r.cr, r.c5, r.c1, r.out, r.rea,
                                              r.batch) END,
       CASE WHEN 'exact_cache' = ANY (r.mech) THEN 0
            WHEN r.to_small THEN tessera_private.request_cost((SELECT p FROM small), r.unc, r.cr, r.c5, r.c1,
                                                              r.out, r.rea, r.batch)
            ELSE tessera_private.request_cost((SELECT p FROM big), r.unc, r.cr, r.c5, r.c1, r.out, r.rea,
                                              r.batch) END,
       r.mech, 'stop', r.tag
  FROM r
"""


def load(conn: psycopg.Connection[Any], first: int, last: int, prefix: str) -> None:
    conn.execute(LOAD, {"big": BIG, "small": SMALL, "prefix": prefix, "month": MONTH.isoformat(),
                        "first": first, "last": last, "client": CLIENT, "workload": WORKLOAD})
    conn.commit()


def timed_rederive(db: Database, runs: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        with db.as_service("bench-rederive") as conn:
            result = rederive_reading(conn, CLIENT, MONTH)
        times.append(time.perf_counter() - t0)
    return times, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only; do not write docs/benchmarks.md")
    ap.add_argument("--note", default="", help="a remark to record under the figures")
    args = ap.parse_args()
    res: dict[str, Any] = {"load_before": os.getloadavg()[0]}
    cluster = temporary_cluster("tessera-rederive-bench-")
    try:
        cluster.start()
        with psycopg.connect(**cluster.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute("CREATE DATABASE tessera_bench")
        su_dsn = cluster.dsn(dbname="tessera_bench")
        with psycopg.connect(su_dsn) as su:
            su.execute(manifest.full_sql())
            su.commit()
            seed(su)
            t0 = time.perf_counter()
            step = 250_000
            for first in range(1, args.rows + 1, step):
                load(su, first, min(first + step - 1, args.rows), "r-")
            su.autocommit = True
            su.execute("VACUUM ANALYZE tessera.optimize_savings")
            su.autocommit = False
            res["load_seconds"] = time.perf_counter() - t0
            print(f"loaded {args.rows:,} priced rows in {res['load_seconds']:.1f}s", flush=True)
        cluster.set_login_passwords()
        with Database(cluster.dsn("authenticator", "tessera_bench"), max_size=1) as db:
            t0 = time.perf_counter()
            with db.as_service("bench-issue") as conn:
                conn.execute("SELECT tessera.issue_monthly_reading(%s, %s)", (CLIENT, MONTH))
            res["issue_seconds"] = time.perf_counter() - t0

            times, result = timed_rederive(db, args.runs)
            assert result.agrees and result.rows == args.rows and result.late_rows == 0, result
            res["rederive"] = times
            print(f"rederive of {args.rows:,} rows: {', '.join(f'{t:.2f}s' for t in times)}", flush=True)

            sql_times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                with db.as_service("bench-rederive-sql") as conn:
                    assert conn.execute("SELECT count(*) FROM tessera.rederive_monthly_reading(%s, %s)",
                                        (CLIENT, MONTH)).fetchone() == (0,)
                sql_times.append(time.perf_counter() - t0)
            res["sql"] = sql_times

            with psycopg.connect(su_dsn) as su:
                load(su, args.rows + 1, args.rows + 1000, "late-")
            times, result = timed_rederive(db, args.runs)
            assert result.agrees and result.late_rows == 1000 and result.late_effect, result
            res["late"] = times
            print(f"with 1,000 late rows: {', '.join(f'{t:.2f}s' for t in times)}", flush=True)

            with psycopg.connect(su_dsn) as su:
                su.execute("ALTER TABLE tessera.optimize_savings DISABLE TRIGGER USER")
                for (part,) in su.execute("SELECT inhrelid::regclass::text FROM pg_inherits"
                                          " WHERE inhparent = 'tessera.optimize_savings'::regclass").fetchall():
                    su.execute(f"ALTER TABLE {part} DISABLE TRIGGER USER")
                su.execute("UPDATE tessera.optimize_savings SET actual_cost_usd = actual_cost_usd + 0.000001"
                           " WHERE request_id = 'r-12345'")
                su.commit()
            times, result = timed_rederive(db, 1)
            assert not result.agrees and result.differing_rows == 1
            assert result.first_differing[0].request_id == "r-12345"
            res["tampered"] = times[0]
    finally:
        cluster.stop()
    res["load_after"] = os.getloadavg()[0]
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    body = report(args.rows, res, args.note)
    print(body)
    if not args.no_write:
        print(f"wrote {write_section('rederive', body)}")


def report(rows: int, res: dict[str, Any], note: str) -> str:
    med = statistics.median(res["rederive"])
    lines = [
        "## Re-derivation from the raw inputs (issue 16 item 4)",
        "",
        f"`bench/rederive_bench.py`, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC. Machine: {machine()}.",
        f"Shared with other jobs while measuring: 1-minute load average {res['load_before']:.1f} before, "
        f"{res['load_after']:.1f} after.",
        "",
        "| what | rows | time | target |",
        "|---|---|---|---|",
        f"| `readings rederive` (COPY stream, Python Decimal re-pricing of every row, every figure), median of "
        f"{len(res['rederive'])} | {rows:,} | {med:.2f} s ({', '.join(f'{t:.2f}' for t in res['rederive'])}) "
        f"| < 10 s |",
        f"| the same with 1,000 late rows listed apart, median | {rows + 1000:,} | "
        f"{statistics.median(res['late']):.2f} s | < 10 s |",
        f"| the same with one cost edited (caught, exit 3) | {rows + 1000:,} | {res['tampered']:.2f} s | - |",
        f"| SQL `tessera.rederive_monthly_reading` (sums of stored costs, for comparison), median | {rows:,} | "
        f"{statistics.median(res['sql']):.2f} s | - |",
        f"| `issue_monthly_reading` | {rows:,} | {res['issue_seconds']:.2f} s | - |",
        "",
        f"Rows per second re-derived: {rows / med:,.0f}; peak resident memory of the bench process "
        f"{res['peak_rss_mb']:.0f} MB (streamed: memory does not grow with the rows). Rows loaded by the "
        f"superuser in {res['load_seconds']:.0f} s, each priced by `tessera_private.request_cost` with "
        "record_request's mechanics rules (so the re-derivation agreeing on every row is itself a check of the "
        "two implementations over 1M bucket combinations, above-tier and batch rows included).",
    ]
    if note:
        lines += ["", note]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

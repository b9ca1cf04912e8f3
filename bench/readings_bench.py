"""Benchmark of issue 4 item 8.

    .venv/bin/python bench/readings_bench.py            # small default size, a few minutes
    .venv/bin/python bench/readings_bench.py --full     # issue's sizes: 5M rows / 100 clients, 1M for rederive

Against a throwaway cluster (tessera_db.cluster.temporary_cluster(): the test-suite
settings, fsync off), built from load.sql, it measures:

* ``readings rederive`` (tessera.rederive_monthly_reading) and ``issue_monthly_reading``
  over one client's month of N rows (target: rederive of 1M rows < 5 s);
* a sponsor's month-to-date savings query as the sponsor (RLS) vs as service_role
  (BYPASSRLS) over M rows spread across C clients (target: ratio <= 1.2);
* ``record_request`` throughput (as the tessera_proxy login) with 1 and 8 concurrent
  writers against a plain INSERT of the same rows into an unconstrained copy of the table
  (target: >= 50% of the plain rate).

Rows are bulk-loaded by the superuser with INSERT ... SELECT generate_series using the
agreed optimize_savings column contract. Writes its section ("money-ledger") of
docs/benchmarks.md (bench/report.py) unless --no-write.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tessera_db import manifest  # noqa: E402
from tessera_db.cluster import temporary_cluster  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from report import write_section  # noqa: E402  (bench/report.py: docs/benchmarks.md sections)

MONTH = "2026-10-01"
SNAP_BIG = "00000000-0000-4000-8000-00000000c001"
SNAP_SMALL = "00000000-0000-4000-8000-00000000c002"
OPERATOR = "ops@tessera.example"


def client_id(i: int) -> str:
    return str(uuid.UUID(int=(0xBE << 120) | i))


def workload_id(i: int) -> str:
    return str(uuid.UUID(int=(0xBF << 120) | i))


def seed_clients(conn: psycopg.Connection[Any], clients: int) -> None:
    conn.execute("INSERT INTO tessera.operators (email) VALUES (%s)", (OPERATOR,))
    for i in range(clients):
        conn.execute("INSERT INTO tessera.clients (client_id, name) VALUES (%s, %s)", (client_id(i), f"bench {i}"))
        conn.execute("INSERT INTO tessera.workloads (client_id, workload_id, name, mechanic_auto_route,"
                     " mechanic_exact_cache, mechanic_prompt_cache_header) VALUES (%s, %s, 'main', true, true, true)",
                     (client_id(i), workload_id(i)))
        conn.execute("INSERT INTO tessera.client_users (client_id, email) VALUES (%s, %s)",
                     (client_id(i), f"sponsor{i}@bench.example"))
    for snap, model, price in ((SNAP_BIG, "big-model", "0.00001"), (SNAP_SMALL, "small-model", "0.000001")):
        conn.execute("INSERT INTO tessera.pricing_catalog (pricing_snapshot_id, provider, model, input_usd_per_token,"
                     " output_usd_per_token, effective_from) VALUES (%s, 'openai', %s, %s, %s, '2026-01-01')",
                     (snap, model, price, price))
    conn.commit()


def load_rows(conn: psycopg.Connection[Any], client: int, rows: int, prefix: str) -> None:
    """``rows`` requests for one client spread over October 2026 (UTC)."""
    conn.execute(
        """
        INSERT INTO tessera.optimize_savings (client_id, workload_id, request_id, occurred_at,
            requested_provider, requested_model, routed_provider, routed_model,
            requested_snapshot_id, routed_snapshot_id, uncached_input_tokens, cache_read_input_tokens,
            cache_write_5m_input_tokens, cache_write_1h_input_tokens, output_tokens, reasoning_tokens,
            batch, original_cost_usd, actual_cost_usd, mechanics, finish_reason, feature_tag)
        SELECT %(c)s::uuid, %(w)s::uuid, %(p)s::text || g, %(m)s::timestamptz + (g %% 2592000) * interval '1 second',
               'openai', 'big-model', 'openai', CASE WHEN g %% 4 = 0 THEN 'big-model' ELSE 'small-model' END,
               %(big)s::uuid, CASE WHEN g %% 4 = 0 THEN %(big)s::uuid ELSE %(small)s::uuid END,
               100 + g %% 900, g %% 300, 0, 0, 50 + g %% 400, NULLIF(g %% 7, 0), false,
               ((100 + g %% 900 + 50 + g %% 400) * 0.00001)::numeric(20,10),
               (CASE WHEN g %% 4 = 0 THEN (100 + g %% 900 + 50 + g %% 400) * 0.00001
                     ELSE (100 + g %% 900 + 50 + g %% 400) * 0.000001 END)::numeric(20,10),
               CASE g %% 4 WHEN 0 THEN ARRAY[]::text[] WHEN 1 THEN ARRAY['auto_route']
                           WHEN 2 THEN ARRAY['auto_route', 'exact_cache'] ELSE ARRAY['prompt_cache_header'] END,
               'stop', (ARRAY[NULL, 'search', 'chat', 'summarise', 'code', 'triage'])[1 + g %% 6]
          FROM generate_series(1, %(n)s) AS g
        """,
        {"c": client_id(client), "w": workload_id(client), "p": prefix, "m": MONTH, "big": SNAP_BIG,
         "small": SNAP_SMALL, "n": rows})
    conn.commit()


def timed(conn: psycopg.Connection[Any], setup: str, params: Any, query: str, qparams: Any,
          repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        with conn.transaction():
            if setup:
                conn.execute(setup, params)
            t0 = time.perf_counter()
            conn.execute(query, qparams).fetchall()
            out.append(time.perf_counter() - t0)
            conn.execute("RESET ROLE")
    return out


def as_role(role: str, claims: dict[str, Any]) -> tuple[str, Any]:
    return ("SELECT set_config('request.jwt.claims', %s, true), set_config('role', %s, true)",
            (json.dumps(claims), role))


def write_rows(results: dict[str, Any], rows: int) -> str:
    """The write-throughput rows of the results table."""
    out = []
    for writers in (1, 8):
        rr, plain, part = (results[f"{k}_{writers}"] for k in ("rr", "plain", "part"))
        w = f"{writers} writer{'s' if writers > 1 else ''}"
        out += [f"| `record_request`, {w} (as tessera_proxy) | {rows:,} | {rr:.0f} rows/s | - |",
                f"| plain INSERT, heap copy, {w} | {rows:,} | {plain:.0f} rows/s | - |",
                f"| plain INSERT, like-for-like partitioned copy, {w} | {rows:,} | {part:.0f} rows/s | - |",
                f"| INSERT straight into tessera.optimize_savings, {w} | {rows:,} | "
                f"{results[f'direct_{writers}']:.0f} rows/s | - |",
                f"| record_request / plain heap copy, {w} | | {rr / plain * 100:.0f}% | >= 50% |",
                f"| record_request / like-for-like copy, {w} | | {rr / part * 100:.0f}% | >= 50% |"]
    rr, part, direct = (results[f"{k}_1"] for k in ("rr", "part", "direct"))
    out += ["", f"Where one writer's time goes, per row: a like-for-like insert {1e6 / part:.0f} us; the real "
            f"table's primary key, CHECKs, foreign keys and RLS add {1e6 / direct - 1e6 / part:.0f} us; "
            f"record_request's own work (idempotency key, one lookup of workload and both snapshots, "
            f"pricing, validation, the definer call) adds {1e6 / rr - 1e6 / direct:.0f} us."]
    return "\n".join(out)


def machine() -> str:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        kb = int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")))
        mem = f"{kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, StopIteration):
        pass
    pg = subprocess.run(["/usr/lib/postgresql/15/bin/postgres", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{cpu}, {os.cpu_count()} CPUs, {mem}; {platform.system()} {platform.release()}; {pg}"


RR_SQL = ("SELECT 1 FROM tessera.record_request(%s, %s, %s, now(), 'openai', 'big-model', 'openai', 'small-model',"
          " 120, p_output_tokens => 40, p_mechanics => ARRAY['auto_route'], p_finish_reason => 'stop',"
          " p_feature_tag => 'bench')")
PLAIN_SQL = ("INSERT INTO bench_plain_savings (client_id, workload_id, request_id, occurred_at, recorded_at,"
             " requested_provider, requested_model, routed_provider, routed_model, requested_snapshot_id,"
             " routed_snapshot_id, uncached_input_tokens, output_tokens, original_cost_usd, actual_cost_usd,"
             " savings_usd, mechanics, finish_reason, feature_tag) VALUES (%s, %s, %s, now(), now(), 'openai',"
             " 'big-model', 'openai', 'small-model', '" + SNAP_BIG + "', '" + SNAP_SMALL + "', 120, 40, 0.0016,"
             " 0.00016, 0.00144, ARRAY['auto_route'], 'stop', 'bench')")


# The same rows into a like-for-like copy (same monthly partitions and the same non-unique
# index, no constraints, RLS or triggers), and straight into tessera.optimize_savings (the
# real table, as superuser: the cost of its keys, checks and foreign keys alone).
PART_SQL = PLAIN_SQL.replace("bench_plain_savings", "bench_part_savings")
DIRECT_SQL = PLAIN_SQL.replace("bench_plain_savings", "tessera.optimize_savings").replace(
    " savings_usd,", "").replace(" 0.00144,", "")
WRITE_MEASURES = (("rr", "proxy", RR_SQL), ("plain", "su", PLAIN_SQL), ("part", "su", PART_SQL),
                  ("direct", "su", DIRECT_SQL))
WRITE_ROUNDS = 3
# The month-to-date pair is short (a few hundred ms) and its service_role side is bimodal
# (parallel workers launched or not on a busy 2-CPU box): 15 interleaved pairs keep the
# median steady.
MTD_RUNS = 15


def create_write_baselines(conn: psycopg.Connection[Any]) -> None:
    """The plain heap copy and the partitioned like-for-like copy of optimize_savings."""
    conn.execute("CREATE TABLE bench_plain_savings (LIKE tessera.optimize_savings INCLUDING DEFAULTS)")
    conn.execute("CREATE TABLE bench_part_savings (LIKE tessera.optimize_savings INCLUDING DEFAULTS)"
                 " PARTITION BY RANGE (occurred_at)")
    bounds = conn.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'tessera.optimize_savings'::regclass").fetchall()
    for name, bound in bounds:
        conn.execute(f"CREATE TABLE bench_part_{name} PARTITION OF bench_part_savings {bound}")
    conn.execute("CREATE INDEX ON bench_part_savings (client_id, occurred_at)")


def write_rate(info: dict[str, Any], statement: str, writers: int, per_writer: int, tag: str) -> float:
    """Rows per second with ``writers`` connections, one autocommit statement per row."""
    import threading

    barrier = threading.Barrier(writers + 1)
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            with psycopg.connect(**info, autocommit=True) as conn:  # type: ignore[arg-type]
                client = 1 + w % 99
                barrier.wait()
                for i in range(per_writer):
                    conn.execute(statement, (client_id(client), workload_id(client), f"{tag}-{w}-{i}"))
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return writers * per_writer / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="issue sizes: 5M rows over 100 clients, 1M for rederive")
    ap.add_argument("--no-write", action="store_true", help="print only; do not write docs/benchmarks.md")
    ap.add_argument("--note", default="", help="a remark to record under the figures")
    args = ap.parse_args()
    clients = 100
    rederive_rows = 1_000_000 if args.full else 100_000
    spread_rows = 5_000_000 if args.full else 500_000
    per_client = (spread_rows - rederive_rows) // (clients - 1)
    rr_rows = 40_000 if args.full else 8_000

    cluster = temporary_cluster("tessera-bench-")
    results: dict[str, Any] = {}
    try:
        cluster.start()
        with psycopg.connect(**cluster.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute("CREATE DATABASE tessera_bench")
        info = cluster.conninfo(dbname="tessera_bench")
        with psycopg.connect(**info) as conn:  # type: ignore[arg-type]
            conn.execute(manifest.full_sql())
            conn.commit()
            t0 = time.perf_counter()
            seed_clients(conn, clients)
            load_rows(conn, 0, rederive_rows, "r0-")
            for i in range(1, clients):
                load_rows(conn, i, per_client, f"r{i}-")
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE tessera.optimize_savings")
            conn.autocommit = False
            total = conn.execute("SELECT count(*) FROM tessera.optimize_savings").fetchone()[0]  # type: ignore[index]
            results["load_seconds"] = time.perf_counter() - t0
            results["total_rows"] = total
            print(f"loaded {total} rows over {clients} clients in {results['load_seconds']:.1f}s", flush=True)

            service = as_role("service_role", {"role": "service_role", "sub": "bench"})
            sponsor = as_role("authenticated", {"email": "sponsor0@bench.example", "role": "authenticated"})
            c0 = client_id(0)

            # issue + rederive over client 0's month
            t0 = time.perf_counter()
            with conn.transaction():
                conn.execute(*service)
                conn.execute("SELECT tessera.issue_monthly_reading(%s, %s)", (c0, MONTH))
                conn.execute("RESET ROLE")
            results["issue_seconds"] = time.perf_counter() - t0
            runs = timed(conn, service[0], service[1],
                         "SELECT * FROM tessera.rederive_monthly_reading(%s, %s)", (c0, MONTH), 3)
            results["rederive_seconds"] = statistics.median(runs)
            print(f"issue {results['issue_seconds']:.2f}s, rederive median {results['rederive_seconds']:.2f}s "
                  f"over {rederive_rows} rows", flush=True)

            # month-to-date savings: sponsor (RLS) vs service_role (BYPASSRLS)
            mtd = ("SELECT count(*), sum(savings_usd) FROM tessera.optimize_savings"
                   " WHERE client_id = %s AND occurred_at >= %s AND occurred_at < %s::timestamptz + interval '20 days'")
            samples: dict[str, list[float]] = {"service": [], "sponsor": []}
            for setup, params in (service, sponsor):
                timed(conn, setup, params, mtd, (c0, MONTH, MONTH), 2)  # warm-up
            for _ in range(MTD_RUNS):  # interleaved, so neither side profits from a warmer cache
                for label, (setup, params) in (("service", service), ("sponsor", sponsor)):
                    samples[label] += timed(conn, setup, params, mtd, (c0, MONTH, MONTH), 1)
            for label, values in samples.items():
                results[f"mtd_{label}"] = statistics.median(values)
            results["rls_ratio"] = results["mtd_sponsor"] / results["mtd_service"]
            # The plan shapes: one PARALLEL UNSAFE helper in a policy and the sponsor's plan
            # loses its Gather while service_role's keeps it (lint 0014).
            for label, (setup, params) in (("service", service), ("sponsor", sponsor)):
                with conn.transaction():
                    conn.execute(setup, params)
                    plan = [r[0] for r in conn.execute("EXPLAIN (COSTS OFF) " + mtd, (c0, MONTH, MONTH))]
                    conn.execute("RESET ROLE")
                results[f"mtd_plan_{label}"] = "parallel" if any("Gather" in line for line in plan) else "serial"
            print(f"month-to-date: sponsor {results['mtd_sponsor'] * 1000:.1f} ms, service "
                  f"{results['mtd_service'] * 1000:.1f} ms, ratio {results['rls_ratio']:.2f}", flush=True)
            # record_request (as the proxy login) vs a plain INSERT of the same rows into an
            # unconstrained copy (no keys, checks, triggers, RLS or indexes), 1 and 8 writers.
            create_write_baselines(conn)
            conn.commit()
        cluster.set_login_passwords()
        proxy = cluster.conninfo(user="tessera_proxy", dbname="tessera_bench")
        dsns = {"proxy": proxy, "su": info}
        samples_w: dict[str, list[float]] = {}
        for rnd in range(WRITE_ROUNDS):  # interleaved rounds, median: the machine is shared
            for writers in (1, 8):
                per = rr_rows // WRITE_ROUNDS // writers
                for label, who, statement in WRITE_MEASURES:
                    rate = write_rate(dsns[who], statement, writers, per, f"{label}{writers}-{rnd}")
                    samples_w.setdefault(f"{label}_{writers}", []).append(rate)
        for key, values in samples_w.items():
            results[key] = statistics.median(values)
        for writers in (1, 8):
            print(f"{writers} writer(s): " + ", ".join(f"{label} {results[f'{label}_{writers}']:.0f} rows/s"
                                                      for label, _, _ in WRITE_MEASURES), flush=True)
    finally:
        cluster.destroy()

    if args.no_write:
        return
    size = "--full" if args.full else "(default size)"
    doc = f"""## Money ledger (issue 4)

Issue 4, item 8. Generated by `bench/readings_bench.py`; reproduce with

```sh
.venv/bin/python bench/readings_bench.py          # default size, a few minutes
.venv/bin/python bench/readings_bench.py --full   # the issue's sizes (5M rows / 100 clients, 1M rederive)
```

Last run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, size {size}.
Machine: {machine()}.
Cluster: a throwaway `tessera_db.cluster.temporary_cluster()` (test-suite settings: fsync off),
schema built from `load.sql`; rows bulk-loaded with `INSERT ... SELECT generate_series`.

| measure | rows | result | target |
| --- | --- | --- | --- |
| `issue_monthly_reading` (one client, one month) | {rederive_rows:,} | {results['issue_seconds']:.2f} s | - |
| `rederive_monthly_reading` / `readings rederive` (median of 3) | {rederive_rows:,} | {results['rederive_seconds']:.2f} s | < 5 s at 1M |
| month-to-date savings, sponsor (RLS) | {results['total_rows']:,} over {clients} clients | {results['mtd_sponsor'] * 1000:.1f} ms | - |
| month-to-date savings, service_role (BYPASSRLS) | same | {results['mtd_service'] * 1000:.1f} ms | - |
| RLS overhead (sponsor / service_role) | | {results['rls_ratio']:.2f}x | <= 1.2x |
| month-to-date plan, sponsor / service_role | | {results['mtd_plan_sponsor']} / {results['mtd_plan_service']} | - |
{write_rows(results, rr_rows)}

Month-to-date query: `SELECT count(*), sum(savings_usd) FROM tessera.optimize_savings WHERE
client_id = $1 AND occurred_at >= '2026-10-01' AND occurred_at < '2026-10-21'` (median of {MTD_RUNS} interleaved runs
after 2 warm-up runs each), as `sponsor0@bench.example`, whose client holds the 1M-row month (authenticated, RLS policies apply) and as
service_role. Write throughput: one autocommit statement per row (one request = one
transaction, as the proxy does), median of {WRITE_ROUNDS} interleaved rounds; record_request
through the `tessera_proxy` login, the three INSERTs by the superuser with the same row values
and precomputed costs:
- plain heap copy: `CREATE TABLE ... (LIKE tessera.optimize_savings INCLUDING DEFAULTS)`, NOT
  NULL and defaults only (no keys, checks, triggers, RLS, partitions or indexes);
- like-for-like copy: the same, partitioned by month like the real table, with its
  non-unique (client_id, occurred_at) index; still no keys, checks, triggers or RLS;
- the real tessera.optimize_savings, written directly: the cost of its primary key, 14 CHECKs
  and 3 foreign keys, without record_request's work (idempotency key, lookups, pricing).
2 CPUs: 8 writers mostly measure contention, not scaling.
""" + (f"\nNote: {args.note}\n" if args.note else "")
    print(f"wrote section money-ledger of {write_section('money-ledger', doc)}")


if __name__ == "__main__":
    main()

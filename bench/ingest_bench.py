"""The proxy's write path (issue 12): one request per call, batches, and their baselines.

    .venv/bin/python bench/ingest_bench.py                 # fast settings, about 6 minutes
    .venv/bin/python bench/ingest_bench.py --durable       # fsync and synchronous_commit on

Four statements, each timed with pgbench (C client, prepared statements, 2 threads) at 1
and 8 writers, interleaved, best of ``--rounds`` (and two more baselines that also claim
the idempotency key, shown without a target; and the single-call pair again with
Python clients):

    single            SELECT FROM tessera.record_request(...)               tessera_proxy
    single INSERT     INSERT of the same row straight into
                      tessera.optimize_savings                              tessera_owner*
    batched           SELECT FROM tessera.record_requests(<100 elements>)   tessera_proxy
    batched INSERT    INSERT ... SELECT of the same 100 rows straight into
                      tessera.optimize_savings                              tessera_owner*

* The baselines carry the same guarantees as the real path's row: the real table (its
  key, CHECKs, foreign keys to workloads and both price snapshots, partitions) and
  row-level security, written as tessera_owner with tessera.ingest_client_ids set, as
  ingest_requests writes (its insert policy applies). What they leave out is
  record_request's own work: the idempotency key, validation, pricing, the call.

Every request names one of ``CLIENTS`` clients (a batch spreads its 100 rows over them, as
an edge worker batching across its clients does) and the same two price snapshots.

Targets (issue 12): batched >= 4x single (rows/s) at 8 writers; batched >= 50% of the
batched INSERT; single >= 50% of the single INSERT.

Lock waits: while the batched statement runs with 8 and 32 writers, a sampler reads
pg_stat_activity every 5 ms and counts, per wait event, the samples in which a writer
waited (heavyweight Lock waits: transactionid, tuple, ...; LWLock waits on the MultiXact
SLRUs would show foreign-key share locks on the shared price rows serialising writers).

Where a batch's time goes (``--ablation``): the batched statement again, in fresh clones of
the template, each with one part of record_requests' own work replaced by nothing, against
the batched INSERT (as bench/write_costs.py does for the single-row paths). Every variant
but "shipped" gives up something the issue asks for; a decision aid, not a proposal.

Writes its section ("ingest", "ingest-durable" with --durable) of docs/benchmarks.md
unless --no-write; --ablation writes "ingest-ablation".
"""

from __future__ import annotations

import argparse
import collections
import sys
import threading
import time
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import audit_bench  # noqa: E402
import readings_bench  # noqa: E402
from report import write_section  # noqa: E402
from write_costs import redefine  # noqa: E402

from tessera_db import manifest  # noqa: E402
from tessera_db.cluster import temporary_cluster  # noqa: E402

CLIENTS = 10
BATCH = 100
TEMPLATE = "ingest_template"

# pgbench draws the client index :k (and a batch's rows take k, k+1, ... mod CLIENTS);
# the ids are readings_bench's client_id(k) / workload_id(k), whose last 12 hex digits are k.
PREFIX = f"\\set k random(0, {CLIENTS - 1})\n\\set r random(1, 4000000000000000000)\n"


def _id(template: str, index: str) -> str:
    return f"('{template[:-12]}' || lpad(to_hex(({index})::bigint), 12, '0'))::uuid"


CLIENT_K = _id(readings_bench.client_id(0), ":k")
WORKLOAD_K = _id(readings_bench.workload_id(0), ":k")
CLIENT_I = _id(readings_bench.client_id(0), f"(:k + i) % {CLIENTS}")
WORKLOAD_I = _id(readings_bench.workload_id(0), f"(:k + i) % {CLIENTS}")

SINGLE = PREFIX + (
    f"SELECT 1 FROM tessera.record_request({CLIENT_K}, {WORKLOAD_K}, 'r' || :r, now(), 'openai', 'big-model',"
    " 'openai', 'small-model', 120, p_output_tokens => 40, p_mechanics => ARRAY['auto_route'],"
    " p_finish_reason => 'stop', p_feature_tag => 'bench');")

_COLUMNS = ("client_id, workload_id, request_id, occurred_at, requested_provider, requested_model, routed_provider,"
            " routed_model, requested_snapshot_id, routed_snapshot_id, uncached_input_tokens, output_tokens,"
            " original_cost_usd, actual_cost_usd, mechanics, finish_reason, feature_tag")
_VALUES = (f"'openai', 'big-model', 'openai', 'small-model', '{readings_bench.SNAP_BIG}',"
           f" '{readings_bench.SNAP_SMALL}', 120, 40, 0.0016, 0.00016, ARRAY['auto_route'], 'stop', 'bench'")
SINGLE_INSERT = PREFIX + (
    f"INSERT INTO tessera.optimize_savings ({_COLUMNS})"
    f" VALUES ({CLIENT_K}, {WORKLOAD_K}, 'r' || :r, now(), {_VALUES});")

BATCHED = PREFIX + (
    "SELECT count(*) FROM tessera.record_requests((SELECT jsonb_agg(jsonb_build_object("
    f"'client_id', {CLIENT_I}, 'workload_id', {WORKLOAD_I}, 'request_id', 'r' || :r || '-' || i,"
    " 'occurred_at', now(), 'requested_provider', 'openai', 'requested_model', 'big-model',"
    " 'routed_provider', 'openai', 'routed_model', 'small-model', 'uncached_input_tokens', 120,"
    " 'output_tokens', 40, 'mechanics', jsonb_build_array('auto_route'), 'finish_reason', 'stop',"
    f" 'feature_tag', 'bench')) FROM generate_series(1, {BATCH}) AS i));")
BATCHED_INSERT = PREFIX + (
    f"INSERT INTO tessera.optimize_savings ({_COLUMNS})"
    f" SELECT {CLIENT_I}, {WORKLOAD_I}, 'r' || :r || '-' || i, now(), {_VALUES}"
    f" FROM generate_series(1, {BATCH}) AS i;")

# The same rows and their idempotency keys (tessera.savings_request_keys), in one
# statement: the ledger's guarantees plus the one record_request adds (exactly once per
# request_id). Not a target's baseline: it shows what the key itself costs.
_KEY_SINGLE = (f"WITH key AS (INSERT INTO tessera.savings_request_keys (client_id, request_id, occurred_at)"
               f" VALUES ({CLIENT_K}, 'r' || :r, now())) ")
_KEY_BATCHED = (f"WITH key AS (INSERT INTO tessera.savings_request_keys (client_id, request_id, occurred_at)"
                f" SELECT {CLIENT_I}, 'r' || :r || '-' || i, now() FROM generate_series(1, {BATCH}) AS i) ")
SINGLE_INSERT_KEY = SINGLE_INSERT.replace("INSERT INTO tessera.optimize_savings", _KEY_SINGLE + "INSERT INTO tessera.optimize_savings", 1)
BATCHED_INSERT_KEYS = BATCHED_INSERT.replace("INSERT INTO tessera.optimize_savings", _KEY_BATCHED + "INSERT INTO tessera.optimize_savings", 1)

# name -> (script, rows per transaction, writer)
MEASURES = {
    "single": (SINGLE, 1, "proxy"),
    "single INSERT": (SINGLE_INSERT, 1, "owner"),
    "single INSERT + key": (SINGLE_INSERT_KEY, 1, "owner"),
    "batched": (BATCHED, BATCH, "proxy"),
    "batched INSERT": (BATCHED_INSERT, BATCH, "owner"),
    "batched INSERT + keys": (BATCHED_INSERT_KEYS, BATCH, "owner"),
}
TARGETS = (
    ("batched / single", "batched", "single", 4.0),
    ("batched / batched INSERT", "batched", "batched INSERT", 0.5),
    ("single / single INSERT", "single", "single INSERT", 0.5),
)
# Shown beside the targets: against baselines that also claim the idempotency key.
INFORMATIVE = (
    ("batched / batched INSERT + keys", "batched", "batched INSERT + keys"),
    ("single / single INSERT + key", "single", "single INSERT + key"),
)


def owner_options() -> str:
    """PGOPTIONS of the baselines: tessera_owner, admitted by the ingest insert policy
    for the bench's clients exactly as ingest_requests is."""
    ids = ",".join(readings_bench.client_id(i) for i in range(CLIENTS))
    return f"-c role=tessera_owner -c tessera.ingest_client_ids={{{ids}}}"


def build_template(cluster) -> None:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    with psycopg.connect(cluster.dsn(dbname=TEMPLATE)) as conn:
        conn.execute(manifest.full_sql())
        conn.commit()
        readings_bench.seed_clients(conn, CLIENTS)
        conn.commit()


def pgbench(cluster, db: str, measure: str, writers: int, seconds: float) -> float:
    """Rows per second of one measure."""
    script, rows, writer = MEASURES[measure]
    if writer == "proxy":
        dsn, options = cluster.dsn("tessera_proxy", db), None
    else:
        dsn, options = cluster.dsn(dbname=db), owner_options()
    return rows * audit_bench.pgbench(dsn, script, writers, seconds, act_as_service_role=False, options=options)


PY_SINGLE = ("SELECT 1 FROM tessera.record_request(%s, %s, %s, now(), 'openai', 'big-model', 'openai', 'small-model',"
             " 120, p_output_tokens => 40, p_mechanics => ARRAY['auto_route'], p_finish_reason => 'stop',"
             " p_feature_tag => 'bench')")
PY_INSERT = (f"INSERT INTO tessera.optimize_savings ({_COLUMNS}) VALUES (%s, %s, %s, now(), {_VALUES})")


def python_rate(cluster, db: str, measure: str, writers: int, seconds: float) -> float:
    """Rows per second of the single-call pair with Python clients (psycopg, autocommit)."""
    statement, dsn, options = ((PY_SINGLE, cluster.dsn("tessera_proxy", db), "") if measure == "single"
                               else (PY_INSERT, cluster.dsn(dbname=db), owner_options()))
    barrier = threading.Barrier(writers + 1)
    counts = [0] * writers
    stop = threading.Event()
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            with psycopg.connect(dsn, autocommit=True, options=options) as conn:
                k = w % CLIENTS
                barrier.wait()
                while not stop.is_set():
                    conn.execute(statement, (readings_bench.client_id(k), readings_bench.workload_id(k),
                                             f"py-{measure[:6]}-{w}-{counts[w]}-{time.time_ns()}"))
                    counts[w] += 1
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(counts) / (time.perf_counter() - t0)


class WaitSampler(threading.Thread):
    """Counts, every 5 ms, the writers waiting and on what (wait_event_type:wait_event)."""

    def __init__(self, dsn: str, db: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.db = dsn, db
        self.samples = 0
        self.busy = 0
        self.waits: collections.Counter[str] = collections.Counter()
        self.stopping = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stopping.is_set():
                rows = conn.execute(
                    "SELECT wait_event_type, wait_event FROM pg_stat_activity"
                    " WHERE datname = %s AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
                    " AND state = 'active'", (self.db,)).fetchall()
                self.samples += 1
                self.busy += len(rows)
                for kind, event in rows:
                    if kind in ("Lock", "LWLock"):
                        self.waits[f"{kind}:{event}"] += 1
                time.sleep(0.005)


def lock_waits(cluster, db: str, writers: int, seconds: float) -> tuple[float, int, WaitSampler]:
    sampler = WaitSampler(cluster.dsn(dbname="postgres"), db)
    sampler.start()
    try:
        rate = pgbench(cluster, db, "batched", writers, seconds)
    finally:
        sampler.stopping.set()
        sampler.join()
    return rate, writers, sampler


_HELPERS = ("tessera_private.request_cost(tessera.pricing_catalog, bigint, bigint, bigint, bigint, bigint, bigint, boolean)",
            "tessera_private.tag_pii_kind(text)", "tessera_private.mechanics_are_valid(text[])")
UNPINNED = tuple(f"ALTER FUNCTION {f} RESET search_path" for f in _HELPERS)
NO_KEY = redefine("tessera_private.ingest_requests", (
    "INSERT INTO tessera.savings_request_keys AS k (client_id, request_id, occurred_at)\n"
    "            SELECT f.cid, f.rid, f.at FROM firsts AS f ORDER BY f.ord\n"
    "            ON CONFLICT ON CONSTRAINT savings_request_keys_pkey DO NOTHING\n"
    "            RETURNING k.client_id, k.request_id",
    "SELECT f.cid AS client_id, f.rid AS request_id FROM firsts AS f"))
FREE_PRICING = ("CREATE OR REPLACE FUNCTION tessera_private.request_cost(p_price tessera.pricing_catalog, p_uncached bigint, p_cache_read bigint,"
                " p_cache_write_5m bigint, p_cache_write_1h bigint, p_output bigint, p_reasoning bigint, p_batch boolean)"
                " RETURNS numeric LANGUAGE sql IMMUTABLE"
                " AS 'SELECT 0.001::numeric'",)
# name, what it gives up, SQL applied to the clone
ABLATION = (
    ("shipped", "nothing", ()),
    ("helpers unpinned", "SET search_path on the per-row helpers (request_cost, tag_pii_kind, mechanics_are_valid)",
     UNPINNED),
    ("no pricing", "request_cost (a constant, inlined)", FREE_PRICING),
    ("no idempotency key", "claiming (client_id, request_id) in savings_request_keys", (NO_KEY,)),
    ("all three", "the three above", UNPINNED + FREE_PRICING + (NO_KEY,)),
)


def ablation(cluster, writers: tuple[int, ...], seconds: float, rounds: int) -> list[tuple[str, str, dict[int, tuple[float, float]]]]:
    rows = []
    for name, gives_up, sql in ABLATION:
        db = fresh_database(cluster, "ingest_ablation")
        with psycopg.connect(cluster.dsn(dbname=db)) as conn:
            for statement in sql:
                conn.execute(statement)
            conn.commit()
        figures = {}
        for w in writers:
            best = (0.0, 0.0)
            for _ in range(rounds):
                best = (max(best[0], pgbench(cluster, db, "batched", w, seconds)),
                        max(best[1], pgbench(cluster, db, "batched INSERT", w, seconds)))
            figures[w] = best
        print(f"{name:22} " + "  ".join(f"w={w}: {v:,.0f} / {b:,.0f} = {v / b:.0%}" for w, (v, b) in figures.items()),
              flush=True)
        rows.append((name, gives_up, figures))
    return rows


def ablation_report(rows, writers: tuple[int, ...], seconds: float, rounds: int) -> str:
    lines = ["## Where a batch's time goes (issue 12, the batched target)", "",
             "Generated by `bench/ingest_bench.py --ablation`. The batched `record_requests` statement (100 rows)"
             " against the batched INSERT, each variant in a fresh clone with one part of record_requests' own"
             f" work replaced by nothing; pgbench, {seconds:g} s runs, best of {rounds}; rows/s.",
             f"Last run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Machine: {readings_bench.machine()}.",
             "", "| variant | gives up | " + " | ".join(f"{w} writer{'s' if w > 1 else ''}" for w in writers) + " |",
             "| --- | --- |" + " --- |" * len(writers)]
    for name, gives_up, figures in rows:
        lines.append(f"| {name} | {gives_up} | " + " | ".join(
            f"{figures[w][0]:,.0f} / {figures[w][1]:,.0f} = {figures[w][0] / figures[w][1]:.0%}" for w in writers) + " |")
    return "\n".join(lines) + "\n"


def fresh_database(cluster, name: str) -> str:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    return name


def report(figures: dict[int, dict[str, float]], python: dict[int, dict[str, float]],
           locks: list[tuple[float, int, WaitSampler]], seconds: float, rounds: int, durable: bool, note: str) -> str:
    writers = sorted(figures)
    lines = [
        "## The proxy's write path: one request, batches, baselines (issue 12)",
        "",
        "Generated by `bench/ingest_bench.py` (see its docstring); reproduce with",
        "",
        "```sh",
        ".venv/bin/python bench/ingest_bench.py" + (" --durable" if durable else ""),
        "```",
        "",
        f"Last run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {readings_bench.machine()}.",
        "Cluster: a throwaway `tessera_db.cluster.temporary_cluster()` ("
        + ("fsync and synchronous_commit on, `--durable`)." if durable else "test-suite settings: fsync off)."),
        f"pgbench (C client, prepared statements), {seconds:g} s runs, the four measures interleaved, best of {rounds}.",
        f"Requests spread over {CLIENTS} clients; batches of {BATCH}. Baselines: the same rows straight into",
        "`tessera.optimize_savings` as tessera_owner under its ingest insert policy (same key, CHECKs, foreign",
        "keys, partitions and RLS; none of record_request's own work).",
        "",
        "| measure (rows/s) | " + " | ".join(f"{w} writer{'s' if w > 1 else ''}" for w in writers) + " |",
        "| --- |" + " ---: |" * len(writers),
    ]
    for name in MEASURES:
        lines.append(f"| {name} | " + " | ".join(f"{figures[w][name]:,.0f}" for w in writers) + " |")
    lines += ["", "| target | " + " | ".join(f"{w} writer{'s' if w > 1 else ''}" for w in writers) + " | met |",
              "| --- |" + " ---: |" * len(writers) + " --- |"]
    for label, top, bottom, target in TARGETS:
        ratios = [figures[w][top] / figures[w][bottom] for w in writers]
        shown = [f"{r:.2f}x" if target > 1 else f"{r:.0%}" for r in ratios]
        wanted = f">= {target:g}x" if target > 1 else f">= {target:.0%}"
        met = ratios[-1] >= target if label == "batched / single" else all(r >= target for r in ratios)
        lines.append(f"| {label} ({wanted}) | " + " | ".join(shown) + f" | {'yes' if met else 'NO'} |")
    for label, top, bottom in INFORMATIVE:
        ratios = [figures[w][top] / figures[w][bottom] for w in writers]
        lines.append(f"| {label} (no target) | " + " | ".join(f"{r:.0%}" for r in ratios) + " | |")
    if python:
        lines += ["", "The single-call pair again with Python clients (psycopg, one autocommit statement per row, as"
                  " a proxy written in Python sends them; the money-ledger section's method):", "",
                  "| measure (rows/s) | " + " | ".join(f"{w} writer{'s' if w > 1 else ''}" for w in writers) + " |",
                  "| --- |" + " ---: |" * len(writers)]
        for name in ("single", "single INSERT"):
            lines.append(f"| {name} | " + " | ".join(f"{python[w][name]:,.0f}" for w in writers) + " |")
        lines.append("| single / single INSERT | " + " | ".join(
            f"{python[w]['single'] / python[w]['single INSERT']:.0%}" for w in writers) + " |")
    if locks:
        lines += ["", "Lock waits while `record_requests` runs (samples every 5 ms of the writers' pg_stat_activity"
                  " rows; share of busy-writer samples):", "",
                  "| writers | rows/s | samples | busy-writer samples | waiting on a lock | top wait events |",
                  "| ---: | ---: | ---: | ---: | ---: | --- |"]
        for rate, w, s in locks:
            waiting = sum(s.waits.values())
            top = ", ".join(f"{event} {count / max(s.busy, 1):.1%}" for event, count in s.waits.most_common(4)) or "none"
            lines.append(f"| {w} | {rate:,.0f} | {s.samples:,} | {s.busy:,} | {waiting / max(s.busy, 1):.1%} | {top} |")
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="length of one pgbench run (default 5)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds, best kept (default 2)")
    ap.add_argument("--writers", default="1,8", help="comma-separated writer counts (default 1,8)")
    ap.add_argument("--lock-writers", default="8,32", help="writer counts of the lock-wait runs (default 8,32)")
    ap.add_argument("--durable", action="store_true",
                    help="fsync and synchronous_commit on, as a deployment runs (default: the test-suite settings)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not write docs/benchmarks.md")
    ap.add_argument("--note", default="", help="a remark to record under the figures")
    ap.add_argument("--ablation", action="store_true", help="only the ablation of the batched path")
    args = ap.parse_args()
    writers = tuple(int(w) for w in args.writers.split(","))
    cluster = temporary_cluster("tessera-ingest-bench-", fast=not args.durable)
    figures: dict[int, dict[str, float]] = {}
    python: dict[int, dict[str, float]] = {}
    locks = []
    try:
        cluster.start()
        build_template(cluster)
        cluster.set_login_passwords()
        if args.ablation:
            body = ablation_report(ablation(cluster, writers, args.seconds, args.rounds), writers, args.seconds,
                                   args.rounds)
            print(body if args.no_write else f"wrote {write_section('ingest-ablation', body)}")
            return
        db = fresh_database(cluster, "ingest_bench")
        for w in writers:
            best: dict[str, float] = {}
            for _ in range(args.rounds):
                for name in MEASURES:
                    best[name] = max(best.get(name, 0.0), pgbench(cluster, db, name, w, args.seconds))
            figures[w] = best
            print(f"{w} writers: " + "  ".join(f"{n} {v:,.0f}" for n, v in best.items()), flush=True)
            py: dict[str, float] = {}
            for _ in range(args.rounds):
                for name in ("single", "single INSERT"):
                    py[name] = max(py.get(name, 0.0), python_rate(cluster, db, name, w, args.seconds))
            python[w] = py
            print(f"{w} writers, Python clients: " + "  ".join(f"{n} {v:,.0f}" for n, v in py.items()), flush=True)
        for w in (int(x) for x in args.lock_writers.split(",") if x):
            locks.append(lock_waits(cluster, db, w, args.seconds))
            print(f"lock waits, {w} writers: {locks[-1][2].waits.most_common(5)} of {locks[-1][2].busy} busy",
                  flush=True)
    finally:
        cluster.destroy()
    body = report(figures, python, locks, args.seconds, args.rounds, args.durable, args.note)
    section = "ingest-durable" if args.durable else "ingest"
    if args.no_write:
        print(body)
    else:
        print(f"wrote {write_section(section, body)}")


if __name__ == "__main__":
    main()

"""Benchmark of issue 5 item 8: the audit log's write cost, the sealer and the verifier.

    .venv/bin/python bench/audit_bench.py            # small default size, about a minute
    .venv/bin/python bench/audit_bench.py --full     # issue's sizes: >= 1M audit rows, longer write runs

Against a throwaway cluster (tessera_db.cluster.temporary_cluster(): test-suite settings,
fsync off), built from load.sql, with the sealer running in its own process
(tessera_db.audit.seal.seal_loop, one step a second, as ``tessera-db audit seal
--interval 1`` would) during the write runs:

* audited single-row transactions per second at 1, 4 and 8 concurrent writers, and at 8
  writers with 10 events per transaction, each beside plain INSERTs into an unaudited copy
  of the same table. The audited table is tessera.balance_transactions (every top-up,
  usage charge and credit of the money ledger is written there, one row per
  transaction, by service_role jobs and operators); writers log in as the authenticator
  and act as service_role (JWT sub "bench"), as a server-side job does. Three statements:
  - ``record``: tessera.record_balance_transaction(...) (the API; audited);
  - ``audited``: INSERT INTO tessera.balance_transactions (audited);
  - ``plain``: the same INSERT into ``bench_balance_unaudited``, a copy of the table with
    the same columns, defaults, CHECKs, keys, index, foreign key and stamping trigger but
    no audit trigger: the audit trigger is the only difference from ``audited``.
  The writers are pgbench clients (C, prepared statements, 2 threads), so the Python
  client does not eat the 2 CPUs; rounds are interleaved and the median is reported.
* insert-to-signed-checkpoint latency: a probe commits one audited transaction every
  50 ms during the write runs and records (its txid, its commit time); the sealer
  process records when each checkpoint (horizon, tree size) was committed; a probe's
  latency is the commit time of the first checkpoint whose horizon is above its txid
  minus its own commit time;
* sealer rows/s: audit rows are bulk-loaded through the real trigger path (INSERT ...
  SELECT generate_series into tessera.balance_transactions, so each row is written by
  tessera_private.audit_row_change -> write_audit_event -> the stamping trigger, with a
  real content hash) until the log holds the target size, then one sealing step over all
  of them is timed;
* verify rows/s: ``tessera_db.audit.verify.verify`` over the whole log as service_role
  through the authenticator (as ``tessera-db audit verify`` runs), with its default worker
  processes, and in one process (workers=1) for comparison;
* at the end: zero forks (the checkpoint chain links, one checkpoint per prev_tree_size,
  the sealer lost no race) and zero gaps (every event is in exactly one checkpoint: the
  rows between each checkpoint's horizons number exactly its growth, none is above the
  last horizon, and the verifier rebuilt every root).

Writes its section ("audit") of docs/benchmarks.md (bench/report.py) unless --no-write.
"""

from __future__ import annotations

import argparse
import bisect
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from readings_bench import machine  # noqa: E402
from report import write_section  # noqa: E402

from tessera_db import manifest  # noqa: E402
from tessera_db.audit import seal, verify  # noqa: E402
from tessera_db.cluster import pg_bindir, temporary_cluster  # noqa: E402

CLIENTS = 16
CLAIMS = json.dumps({"role": "service_role", "sub": "bench"}, separators=(",", ":"))
SEAL_INTERVAL = 1.0
PROBE_INTERVAL = 0.05


def client_id(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


CLIENT_EXPR = "('00000000-0000-4000-8000-' || lpad(:c::text, 12, '0'))::uuid"
COLUMNS = "client_id, kind, amount_usd, reason, actor"
SCRIPTS = {
    # single-row transactions (autocommit statements)
    ("record", 1): f"SELECT 1 FROM tessera.record_balance_transaction({CLIENT_EXPR}, 'top_up', 1.25, 'bench');",
    ("audited", 1): f"INSERT INTO tessera.balance_transactions ({COLUMNS}) VALUES "
                    f"({CLIENT_EXPR}, 'top_up', 1.25, 'bench', '(stamped)');",
    ("plain", 1): f"INSERT INTO bench_balance_unaudited ({COLUMNS}) VALUES "
                  f"({CLIENT_EXPR}, 'top_up', 1.25, 'bench', '(stamped)');",
    # 10 events per transaction (one statement writing 10 rows)
    ("record", 10): f"SELECT count(tessera.record_balance_transaction({CLIENT_EXPR}, 'top_up', 1.25, 'bench ' || g))"
                    " FROM generate_series(1, 10) AS g;",
    ("audited", 10): f"INSERT INTO tessera.balance_transactions ({COLUMNS}) SELECT {CLIENT_EXPR}, 'top_up', 1.25,"
                     " 'bench ' || g, '(stamped)' FROM generate_series(1, 10) AS g;",
    ("plain", 10): f"INSERT INTO bench_balance_unaudited ({COLUMNS}) SELECT {CLIENT_EXPR}, 'top_up', 1.25,"
                   " 'bench ' || g, '(stamped)' FROM generate_series(1, 10) AS g;",
}
KINDS = ("record", "audited", "plain")
CONFIGS = ((1, 1), (4, 1), (8, 1), (8, 10))  # (writers, events per transaction)


# --------------------------------------------------------------------------- setup


def setup(conn: psycopg.Connection[Any]) -> None:
    for i in range(1, CLIENTS + 1):
        conn.execute("INSERT INTO tessera.clients (client_id, name) VALUES (%s, %s)", (client_id(i), f"bench {i}"))
    # The unaudited copy: everything of tessera.balance_transactions but the audit
    # trigger (and RLS, which service_role bypasses anyway).
    conn.execute("CREATE TABLE bench_balance_unaudited (LIKE tessera.balance_transactions INCLUDING ALL)")
    conn.execute("ALTER TABLE bench_balance_unaudited ADD FOREIGN KEY (client_id) REFERENCES tessera.clients")
    conn.execute("CREATE TRIGGER bench_balance_unaudited_stamp BEFORE INSERT ON bench_balance_unaudited"
                 " FOR EACH ROW EXECUTE FUNCTION tessera_private.stamp_balance_transaction()")
    conn.execute("GRANT INSERT, SELECT ON bench_balance_unaudited TO service_role")
    conn.commit()


# --------------------------------------------------------------------------- the sealer process


def sealer_process(dsn: str, key_bytes: bytes, stop: Any, out: Any) -> None:
    """seal_loop every SEAL_INTERVAL; reports (horizon, tree_size, rows, commit time)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(key_bytes)
    conflicts = 0

    def report(result: seal.SealResult) -> None:
        if result.checkpoint is not None:
            out.put(("checkpoint", result.checkpoint.horizon, result.checkpoint.tree_size, result.sealed_rows,
                     time.time()))

    try:
        seal.seal_loop(dsn, key, SEAL_INTERVAL, report=report, stop=stop.is_set)
    except seal.SealConflict:  # cannot happen with one sealer; counted as a fork attempt
        conflicts += 1
    out.put(("done", conflicts))


# --------------------------------------------------------------------------- writers


def pgbench(dsn: str, script: str, clients: int, seconds: float, *, act_as_service_role: bool = True,
            options: str | None = None) -> float:
    """Transactions per second of ``script`` with ``clients`` pgbench clients, acting as
    service_role with the bench's claims (or as the DSN's login alone, with ``options``
    as its PGOPTIONS when given)."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(f"\\set c random(1, {CLIENTS})\n{script}\n")
        path = f.name
    try:
        env = {key: value for key, value in os.environ.items() if key != "PGOPTIONS"}
        if act_as_service_role:
            env["PGOPTIONS"] = f"-c role=service_role -c request.jwt.claims={CLAIMS}"
        elif options:
            env["PGOPTIONS"] = options
        proc = subprocess.run(
            [str(pg_bindir() / "pgbench"), "-n", "-M", "prepared", "-f", path, "-c", str(clients),
             "-j", str(min(clients, 2)), "-T", str(int(seconds)), dsn],
            capture_output=True, text=True, env=env, check=False)
    finally:
        os.unlink(path)
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", proc.stdout)
    failed = re.search(r"number of failed transactions: ([0-9]+)", proc.stdout)
    if proc.returncode != 0 or match is None or (failed and int(failed.group(1))):
        raise RuntimeError(f"pgbench failed:\n{proc.stdout}\n{proc.stderr}")
    return float(match.group(1))


class Probe(threading.Thread):
    """One audited transaction every PROBE_INTERVAL: (txid, commit time)."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.samples: list[tuple[int, float]] = []
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True,
                                 options=f"-c role=service_role -c request.jwt.claims={CLAIMS}") as conn:
                while not self.stopping.is_set():
                    row = conn.execute(
                        "SELECT pg_current_xact_id()::text FROM tessera.record_balance_transaction("
                        "%s, 'top_up', 1.00, 'latency probe')", (client_id(1),)).fetchone()
                    assert row is not None
                    self.samples.append((int(row[0]), time.time()))
                    self.stopping.wait(PROBE_INTERVAL)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc


# --------------------------------------------------------------------------- bulk load


def bulk_load(dsn: str, rows: int, connections: int = 2, batch: int = 25_000) -> float:
    """``rows`` balance transactions by INSERT ... SELECT (the audit trigger writes one
    audit row each), over ``connections`` sessions; audit rows per second."""
    per = -(-rows // connections)
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                done = 0
                while done < per:
                    n = min(batch, per - done)
                    conn.execute(
                        "INSERT INTO tessera.balance_transactions (client_id, kind, amount_usd, reason, actor)"
                        " SELECT ('00000000-0000-4000-8000-' || lpad((1 + g %% 16)::text, 12, '0'))::uuid,"
                        " 'top_up', (g %% 1000 + 1) * 0.01, 'bulk ' || %s || '-' || g, '(stamped)'"
                        " FROM generate_series(1, %s) AS g", (w, n))
                    done += n
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return per * connections / (time.perf_counter() - t0)


# --------------------------------------------------------------------------- checks


def chain_and_gaps(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Forks and gaps, counted by SQL over the final log (the verifier checks the same
    independently)."""
    links = conn.execute(
        """
        SELECT count(*) FILTER (WHERE prev_tree_size IS DISTINCT FROM lag_size
                                   OR prev_root_hash IS DISTINCT FROM lag_root
                                   OR prev_horizon IS DISTINCT FROM lag_horizon),
               count(*) - count(DISTINCT prev_tree_size),
               count(*)
          FROM (SELECT c.*, COALESCE(lag(tree_size) OVER w, 0) AS lag_size,
                       COALESCE(lag(root_hash) OVER w, sha256(''::bytea)) AS lag_root,
                       COALESCE(lag(horizon) OVER w, '0'::xid8) AS lag_horizon
                  FROM tessera.audit_checkpoints AS c WINDOW w AS (ORDER BY checkpoint_id)) AS s
        """).fetchone()
    assert links is not None
    growth = conn.execute(
        """
        SELECT count(*) FILTER (WHERE n <> c.tree_size - c.prev_tree_size)
          FROM tessera.audit_checkpoints AS c,
               LATERAL (SELECT count(*) AS n FROM tessera.audit_events AS e
                         WHERE e.txid >= c.prev_horizon AND e.txid < c.horizon) AS r
        """).fetchone()
    totals = conn.execute(
        """
        SELECT (SELECT count(*) FROM tessera.audit_events),
               (SELECT tree_size FROM tessera.audit_checkpoints ORDER BY checkpoint_id DESC LIMIT 1),
               (SELECT count(*) FROM tessera.audit_events
                 WHERE txid >= (SELECT horizon FROM tessera.audit_checkpoints ORDER BY checkpoint_id DESC LIMIT 1))
        """).fetchone()
    assert growth is not None and totals is not None
    return {"broken_links": links[0], "duplicate_prev_tree_size": links[1], "checkpoints": links[2],
            "checkpoints_with_wrong_growth": growth[0], "events": totals[0], "tree_size": totals[1],
            "unsealed": totals[2]}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="issue sizes: >= 1M audit rows, 3 rounds of 10 s per write run")
    ap.add_argument("--no-write", action="store_true", help="print only; do not write docs/benchmarks.md")
    ap.add_argument("--note", default="", help="a remark to record under the figures")
    args = ap.parse_args()
    target_rows = 1_000_000 if args.full else 100_000
    rounds, seconds = (3, 10) if args.full else (1, 3)

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    key_bytes = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                  serialization.NoEncryption())
    results: dict[str, Any] = {}
    cluster = temporary_cluster("tessera-audit-bench-")
    try:
        cluster.start()
        with psycopg.connect(**cluster.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute("CREATE DATABASE tessera_bench")
        su = cluster.dsn(dbname="tessera_bench")
        with psycopg.connect(su) as conn:
            conn.execute(manifest.full_sql())
            conn.commit()
            setup(conn)
        cluster.set_login_passwords()
        app = cluster.dsn("authenticator", "tessera_bench")
        sealer_dsn = cluster.dsn("tessera_sealer", "tessera_bench")

        # -- write runs, with the sealer and the latency probe running
        ctx = multiprocessing.get_context("spawn")
        stop, out = ctx.Event(), ctx.Queue()
        sealer = ctx.Process(target=sealer_process, args=(sealer_dsn, key_bytes, stop, out), daemon=True)
        sealer.start()
        probe = Probe(app)
        probe.start()
        rates: dict[str, list[float]] = {}
        for rnd in range(rounds):  # interleaved rounds, median: the machine is shared
            for writers, events in CONFIGS:
                for kind in KINDS:
                    tps = pgbench(app, SCRIPTS[(kind, events)], writers, seconds)
                    rates.setdefault(f"{kind}_{writers}_{events}", []).append(tps)
                    print(f"round {rnd + 1}: {kind:8} {writers} writer(s) x {events} event(s): {tps:8.0f} tx/s",
                          flush=True)
        probe.stopping.set()
        probe.join()
        if probe.error is not None:
            raise probe.error
        last_probe = max(t for t, _ in probe.samples)
        # wait until a checkpoint covers the last probe, then stop the sealer
        checkpoints: list[tuple[int, int, int, float]] = []
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                message = out.get(timeout=0.5)
            except Exception:  # queue.Empty
                continue
            if message[0] == "checkpoint":
                checkpoints.append(message[1:])
                if message[1] > last_probe:
                    break
        stop.set()
        while True:
            message = out.get(timeout=60)
            if message[0] == "done":
                results["seal_conflicts"] = message[1]
                break
            checkpoints.append(message[1:])
        sealer.join(timeout=30)
        for key_name, values in rates.items():
            results[key_name] = statistics.median(values)
        horizons = [c[0] for c in checkpoints]
        latencies = []
        for txid, committed in probe.samples:
            i = bisect.bisect_right(horizons, txid)
            if i == len(horizons):
                raise RuntimeError(f"probe txid {txid} is in no checkpoint (gap)")
            latencies.append(checkpoints[i][3] - committed)
        results["probes"] = len(latencies)
        results["latency_p50"] = percentile(latencies, 50)
        results["latency_p99"] = percentile(latencies, 99)
        results["latency_max"] = max(latencies)
        results["loop_checkpoints"] = len(checkpoints)
        print(f"checkpoint latency over {len(latencies)} probes: p50 {results['latency_p50']:.2f}s, "
              f"p99 {results['latency_p99']:.2f}s, max {results['latency_max']:.2f}s "
              f"({len(checkpoints)} checkpoints)", flush=True)

        # -- bulk load to the target size, then one timed sealing step
        with psycopg.connect(su, autocommit=True) as conn:
            have = conn.execute("SELECT count(*) FROM tessera.audit_events").fetchone()[0]  # type: ignore[index]
        # at least half the target, so the timed sealing step is a big one
        to_load = max(target_rows - have + 10, target_rows // 2)
        results["bulk_rows"] = to_load
        results["bulk_rate"] = bulk_load(su, to_load) if to_load else 0.0
        print(f"bulk-loaded {to_load} audit rows through the trigger path at {results['bulk_rate']:.0f} rows/s",
              flush=True)
        t0 = time.perf_counter()
        step = seal.seal_once(sealer_dsn, key)
        results["seal_seconds"] = time.perf_counter() - t0
        results["seal_rows"] = step.sealed_rows
        results["seal_rate"] = step.sealed_rows / results["seal_seconds"]
        print(f"sealer: {step.sealed_rows} rows in one step, {results['seal_seconds']:.2f}s "
              f"= {results['seal_rate']:.0f} rows/s", flush=True)

        # -- verify, as service_role through the authenticator. VACUUM first: the first
        # reader of freshly bulk-loaded rows sets their hint bits (writes every page), a
        # one-off cost a verifier reading long-committed rows does not pay.
        with psycopg.connect(su, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) tessera.audit_events")
        public = [key.public_key()]
        with tempfile.TemporaryDirectory() as tmp:
            state = Path(tmp) / "state.json"
            for label, workers in (("verify_parallel", None), ("verify_single", 1), ("verify_parallel2", None),
                                   ("verify_parallel3", None)):
                with psycopg.connect(app, autocommit=True) as conn:
                    t0 = time.perf_counter()
                    outcome = verify.verify(conn, public, state, workers=workers)
                    took = time.perf_counter() - t0
                if not outcome.ok:
                    raise RuntimeError(f"verify failed: {outcome.problem}")
                results[label] = outcome.rows / took
                results["verify_rows"] = outcome.rows
                results["verify_sealed"] = outcome.sealed_rows
                results["verify_checkpoints"] = outcome.checkpoints
                print(f"{label}: {outcome.rows} rows, {outcome.checkpoints} checkpoints in {took:.2f}s "
                      f"= {results[label]:.0f} rows/s", flush=True)
        results["verify_rate"] = statistics.median(
            [results["verify_parallel"], results["verify_parallel2"], results["verify_parallel3"]])
        results["verify_workers"] = (min(os.cpu_count() or 1, verify.MAX_WORKERS)
                                     if results["verify_rows"] >= verify.PARALLEL_MIN_ROWS else 1)

        with psycopg.connect(su, autocommit=True) as conn:
            checks = chain_and_gaps(conn)
        results.update(checks)
        print(f"checks: {checks}, sealer conflicts {results['seal_conflicts']}", flush=True)
        forks = checks["broken_links"] + checks["duplicate_prev_tree_size"] + results["seal_conflicts"]
        gaps = (checks["checkpoints_with_wrong_growth"] + checks["unsealed"]
                + abs(checks["events"] - checks["tree_size"]))
        results["forks"], results["gaps"] = forks, gaps
        assert forks == 0, f"{forks} fork(s)"
        assert gaps == 0, f"{gaps} gap(s)"
    finally:
        cluster.destroy()

    if args.no_write:
        return
    write_section("audit", render(results, args, rounds, seconds))
    print("wrote section audit of docs/benchmarks.md")


def render(r: dict[str, Any], args: Any, rounds: int, seconds: int) -> str:
    size = "--full" if args.full else "(default size)"

    def met(ok: bool) -> str:
        return "met" if ok else "**missed**"

    lines = []
    for writers, events in CONFIGS:
        rec, aud, plain = (r[f"{k}_{writers}_{events}"] for k in KINDS)
        label = f"{writers} writer{'s' if writers > 1 else ''}" + (f", {events} events/tx" if events > 1 else "")
        target = ">= 70%" if (writers, events) == (8, 1) else "-"
        verdict = f" ({met(aud / plain >= 0.7)})" if target != "-" else ""
        lines.append(f"| {label} | {aud * events:,.0f} | {rec * events:,.0f} | {plain * events:,.0f} | "
                     f"{aud / plain * 100:.0f}% | {rec / plain * 100:.0f}% | {target}{verdict} |")
    writes = "\n".join(lines)
    return f"""## Audit log (issue 5)

Issue 5, item 8. Generated by `bench/audit_bench.py`; reproduce with

```sh
.venv/bin/python bench/audit_bench.py          # default size, about a minute
.venv/bin/python bench/audit_bench.py --full   # the issue's sizes (>= 1M audit rows)
```

Last run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, size {size}.
Machine: {machine()}.
Cluster: a throwaway `tessera_db.cluster.temporary_cluster()` (test-suite settings: fsync off),
schema built from `load.sql`; the sealer ran in its own process, one step a second
(`tessera-db audit seal --interval 1`), during all write runs.

**Writes** (events per second; median of {rounds} interleaved round(s) of {seconds} s; pgbench clients
logged in as the authenticator acting as service_role):

| writers | audited INSERT | `record_balance_transaction` | plain INSERT, unaudited copy | audited / plain | record / plain | target |
| --- | --- | --- | --- | --- | --- | --- |
{writes}

The audited table is `tessera.balance_transactions`: the money ledger's top-ups, usage
charges and credits, one row per business transaction, written by service_role jobs and
operators, i.e. a table a real workload writes row by row. The unaudited copy
(`bench_balance_unaudited`) has its columns, defaults, CHECKs, primary key, index, foreign
key and stamping trigger, and no audit trigger, so "audited / plain" is the audit's own cost:
`audit_row_change` (row to jsonb, key text), `write_audit_event`, the stamping trigger
(`stamp_audit_event`: actor, request id, `audit_content_hash`) and the audit row's heap and
three index entries. "10 events/tx" is one statement writing 10 rows per transaction.

**Sealer, verifier, latency**

| measure | rows | result | target |
| --- | --- | --- | --- |
| sealer, one step over the bulk-loaded rows (`seal_once`) | {r['seal_rows']:,} | {r['seal_rate']:,.0f} rows/s | >= 200k rows/s ({met(r['seal_rate'] >= 200_000)}) |
| verify, default ({r['verify_workers']} process(es)), as service_role | {r['verify_rows']:,} | {r['verify_rate']:,.0f} rows/s | >= 250k rows/s ({met(r['verify_rate'] >= 250_000)}) |
| verify, one process (`workers=1`) | same | {r['verify_single']:,.0f} rows/s | - |
| insert-to-signed-checkpoint latency, p50 / p99 / max ({r['probes']} probes) | | {r['latency_p50']:.2f} s / {r['latency_p99']:.2f} s / {r['latency_max']:.2f} s | p99 <= 2 s ({met(r['latency_p99'] <= 2)}) |
| forks (broken links, duplicate prev_tree_size, lost sealer races) | {r['checkpoints']:,} checkpoints | {r['forks']} | 0 ({met(r['forks'] == 0)}) |
| gaps (rows outside exactly one checkpoint) | {r['events']:,} events | {r['gaps']} | 0 ({met(r['gaps'] == 0)}) |

Bulk load: {r['bulk_rows']:,} audit rows through the real trigger path (INSERT ... SELECT into
`tessera.balance_transactions`, 2 sessions) at {r['bulk_rate']:,.0f} rows/s; then one sealing
step over all of them. Verify: the whole log ({r['verify_checkpoints']:,} checkpoints) after `VACUUM
(ANALYZE)`, median of three runs with the default workers (runs: {r['verify_parallel']:,.0f},
{r['verify_parallel2']:,.0f}, {r['verify_parallel3']:,.0f} rows/s; each after the first checks the
state file the previous one wrote); one run in one process.
Latency: a probe commits an audited row every 50 ms during the write runs; latency = commit
of the first checkpoint covering its txid minus the probe's commit (a one-second seal
interval puts the p50 near half a second plus one step). Forks and gaps are counted in SQL
at the end (`chain_and_gaps`) and the verifier rebuilt every checkpoint's root.
""" + (f"\nNote: {args.note}\n" if args.note else "")


if __name__ == "__main__":
    main()

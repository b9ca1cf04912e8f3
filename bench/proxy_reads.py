"""The proxy's per-request reads (issue 12, item 6): calls per second of
tessera.verify_api_key and tessera.worker_config against ``SELECT 1``.

    .venv/bin/python bench/proxy_reads.py                       # 3 rounds of 5 s, about 2 minutes
    .venv/bin/python bench/proxy_reads.py --baseline 1600731    # also that revision, interleaved
    .venv/bin/python bench/proxy_reads.py --seconds 10 --rounds 5

Against a throwaway cluster (tessera_db.cluster.temporary_cluster(): test-suite
settings, fsync off) built from load.sql, with 8 clients of 2 workloads each and one
API key per client. The keys are made here, in Python, and stored as the database
stores them (SHA-256, display hint); the bench sends only their hashed form
``tkh_<client hex>_<sha256 hex>``, as the proxy does.

The callers are pgbench clients (C, prepared statements, 2 threads) logged in as
tessera_proxy, with no JWT, exactly as the edge worker connects. Three statements:

* ``SELECT 1``: the floor (connection, protocol, executor);
* ``verify_api_key``: the proxy's full check of a valid key: hashed key, source IP,
  workload and capability (``tessera.verify_api_key(tkh, ip, workload, 'proxy')``);
* ``worker_config``: ``tessera.worker_config(client, workload)``.

Each at 4 and 8 clients; the runs are interleaved, ``--rounds`` times, and the median is
reported. ``--baseline REV`` also builds a second database from that git revision's SQL
(``git archive``; the same seed) in the same cluster and measures it in the same rounds,
so a before / after comparison is one command on one machine state (the machine has 2 cores and may be shared: the load average before and after is
recorded with the figures). Target (issue 12): both functions >= 20,000 calls/s at 8
clients.

Writes its section ("proxy-reads") of docs/benchmarks.md unless --no-write.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from audit_bench import pgbench  # noqa: E402
from readings_bench import machine  # noqa: E402
from report import write_section  # noqa: E402

from tessera_db import manifest  # noqa: E402
from tessera_db.cluster import temporary_cluster  # noqa: E402

CLIENTS = 8
TARGET = 20_000
CLIENT_COUNTS = (4, 8)


def client_id(i: int) -> uuid.UUID:
    return uuid.UUID(f"c0000000-0000-4000-8000-{i:012d}")


def workload_id(i: int, w: int) -> uuid.UUID:
    return uuid.UUID(f"c1000000-0000-4000-8000-{i:08d}{w:04d}")


def seed(conn: psycopg.Connection) -> str:
    """Clients, workloads (some mechanics on, kill switch off) and one key per client;
    returns the hashed form of client 1's key (the one the bench verifies)."""
    hashed = {}
    for i in range(1, CLIENTS + 1):
        conn.execute("INSERT INTO tessera.clients (client_id, name) VALUES (%s, %s)", (client_id(i), f"proxy {i}"))
        for w in (1, 2):
            conn.execute("INSERT INTO tessera.workloads (client_id, workload_id, name, mechanic_exact_cache,"
                         " mechanic_auto_route) VALUES (%s, %s, %s, true, %s)",
                         (client_id(i), workload_id(i, w), f"w{w}", w == 1))
        raw = f"tk_{client_id(i).hex}_{secrets.token_urlsafe(32)}"
        digest = hashlib.sha256(raw.encode()).digest()
        conn.execute("INSERT INTO tessera.api_keys (client_id, key_sha256, display_hint, name, capabilities,"
                     " created_by) VALUES (%s, %s, %s, 'bench', '{cache,proxy}', 'bench')",
                     (client_id(i), digest, "tk_…" + raw[-4:]))
        hashed[i] = f"tkh_{client_id(i).hex}_{digest.hex()}"
    conn.commit()
    return hashed[1]


def statements(hashed_key: str) -> dict[str, str]:
    return {
        "SELECT 1": "SELECT 1;",
        "verify_api_key": f"SELECT * FROM tessera.verify_api_key('{hashed_key}', '198.51.100.7',"
                          f" '{workload_id(1, 1)}', 'proxy');",
        "worker_config": f"SELECT * FROM tessera.worker_config('{client_id(1)}', '{workload_id(1, 1)}');",
    }


def loadavg() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min) / {five:.2f} (5 min)"


def head() -> str:
    out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "functions", "policies", "schema"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return (out or "unknown") + (" + uncommitted SQL changes" if dirty else "")


def build(cluster, dbname: str, root: Path | None) -> str:
    """A database from the SQL tree at ``root`` (None: this checkout), seeded; returns the
    hashed key to verify."""
    with psycopg.connect(**cluster.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f"CREATE DATABASE {dbname}")
    with psycopg.connect(cluster.dsn(dbname=dbname)) as conn:
        conn.execute(manifest.full_sql(root))
        conn.commit()
        hashed_key = seed(conn)
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return hashed_key


def checkout(revision: str, into: Path) -> Path:
    """The tree of ``revision`` (git archive) under ``into``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", revision],
                             capture_output=True, check=True).stdout
    with tempfile.TemporaryFile() as tar_file:
        tar_file.write(archive)
        tar_file.seek(0)
        with tarfile.open(fileobj=tar_file) as tar:
            tar.extractall(into, filter="data")
    return into


Rates = dict[tuple[str, str, int], list[float]]  # (tree, statement, clients) -> calls/s per round


def measure(seconds: float, rounds: int, baseline: str | None) -> tuple[Rates, str, str]:
    cluster = temporary_cluster("tessera-proxy-reads-")
    rates: Rates = {}
    try:
        cluster.start()
        trees: dict[str, str] = {"this tree": build(cluster, "proxy_reads", None)}
        if baseline:
            with tempfile.TemporaryDirectory() as tmp:
                trees[baseline] = build(cluster, "proxy_reads_base", checkout(baseline, Path(tmp)))
        cluster.set_login_passwords()
        dsns = {tree: cluster.dsn("tessera_proxy", "proxy_reads" if tree == "this tree" else "proxy_reads_base")
                for tree in trees}
        for tree, hashed_key in trees.items():  # the statements work and the key verifies
            with psycopg.connect(dsns[tree], autocommit=True) as conn:
                scripts = statements(hashed_key)
                assert conn.execute(scripts["verify_api_key"].rstrip(";")).fetchone() is not None, tree
                assert conn.execute(scripts["worker_config"].rstrip(";")).fetchone() is not None, tree
        load_before = loadavg()
        for rnd in range(rounds):
            for clients in CLIENT_COUNTS:
                for tree, hashed_key in trees.items():
                    for name, script in statements(hashed_key).items():
                        tps = pgbench(dsns[tree], script, clients, seconds, act_as_service_role=False)
                        rates.setdefault((tree, name, clients), []).append(tps)
                        print(f"round {rnd + 1}: {tree:10} {name:15} {clients} clients: {tps:9,.0f} calls/s",
                              flush=True)
        return rates, load_before, loadavg()
    finally:
        cluster.destroy()


def render(rates: Rates, seconds: float, rounds: int, load: tuple[str, str], baseline: str | None,
           note: str) -> str:
    rows = []
    for tree in ["this tree"] + ([baseline] if baseline else []):
        for name in ("SELECT 1", "verify_api_key", "worker_config"):
            cells = " | ".join(f"{statistics.median(rates[(tree, name, c)]):,.0f}" for c in CLIENT_COUNTS)
            at8 = statistics.median(rates[(tree, name, 8)])
            target = "-" if name == "SELECT 1" else (
                f">= {TARGET:,} at 8 ({'met' if at8 >= TARGET else '**missed**'})")
            label = "this tree" if tree == "this tree" else f"before: `{tree}`"
            rows.append(f"| {label} | `{name}` | {cells} | {target} |")
    table = "\n".join(rows)
    command = ".venv/bin/python bench/proxy_reads.py" + (f" --baseline {baseline}" if baseline else "")
    before = (' ("before": the same bench on a database built from that revision\'s SQL, in the same'
              " cluster and rounds)") if baseline else ""
    return f"""## The proxy's per-request reads (issue 12)

Issue 12, item 6. Generated by `bench/proxy_reads.py`; reproduce with

```sh
{command}
```

Last run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, tree {head()}.
Machine: {machine()}. Load average before / after the runs: {load[0]}; {load[1]}
(other work may have been running on the 2 cores: the figures are comparable with each
other, and with a rerun, more than with another machine).
Cluster: a throwaway `tessera_db.cluster.temporary_cluster()` (test-suite settings: fsync off),
schema built from `load.sql`; {CLIENTS} clients, 2 workloads and one API key each.

Calls per second, median of {rounds} interleaved rounds of {seconds:g} s; pgbench (C client, prepared
statements, 2 threads) logged in as `tessera_proxy`, no JWT, as the edge worker connects{before}:

| tree | statement | 4 clients | 8 clients | target |
| --- | --- | --- | --- | --- |
{table}

`verify_api_key` is the full check of a valid key: its hashed form, a source IP, a workload and
the capability `proxy` (the throttle count, the key lookup, the workload check).
`worker_config` is one workload's effective config (kill switch, mechanics, TTL, version).
""" + (f"\n{note}\n" if note else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="length of one pgbench run (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds, median kept (default 3)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not write docs/benchmarks.md")
    ap.add_argument("--baseline", metavar="REV", help="also measure the SQL of this git revision, interleaved")
    ap.add_argument("--note", default="", help="a remark to record under the figures")
    args = ap.parse_args()
    rates, before, after = measure(args.seconds, args.rounds, args.baseline)
    body = render(rates, args.seconds, args.rounds, (before, after), args.baseline, args.note)
    if args.no_write:
        print(body)
    else:
        print(f"wrote {write_section('proxy-reads', body)}")


if __name__ == "__main__":
    main()

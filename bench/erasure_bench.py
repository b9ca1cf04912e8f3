"""A client's erasure at scale (issue 14): 1M savings rows and 100k audit events.

    .venv/bin/python bench/erasure_bench.py                # 1M rows, 100k events per client
    .venv/bin/python bench/erasure_bench.py --rows 100000  # smaller, quicker

Against a throwaway cluster (tessera_db.cluster.temporary_cluster(): test-suite settings,
fsync off) with the declared schema and the demo data. For each of two clients, Globex
(free: every row deleted, audit events tombstoned) and Acme (invoiced: savings rows kept
with their tags replaced, audit events stripped), the bench adds ``--rows`` savings rows
(copies of the client's demo row, each with its idempotency key) and ``--events`` audit
events, as the superuser (bulk set-up, not the measured path). Initech keeps the same
number of savings rows, so the deletes run among another tenant's rows, not on a table
holding one client only.

Measured: ``tessera.erase_client`` as the demo operator, one transaction, wall clock from
the client (commit included), then the sealer's step over the tombstones and the
verifier's full run, which must accept them. Target (issue 14): < 60 s for the free
client's erasure.

Writes its section ("erasure") of docs/benchmarks.md unless --no-write.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from readings_bench import machine  # noqa: E402
from report import write_section  # noqa: E402

from tessera_db import demo, manifest  # noqa: E402
from tessera_db.audit import seal, verify  # noqa: E402
from tessera_db.cluster import temporary_cluster  # noqa: E402
from tessera_db.db import Database  # noqa: E402

ACME = "a0000000-0000-4000-8000-000000000001"
GLOBEX = "b0000000-0000-4000-8000-000000000002"
INITECH = "c0000000-0000-4000-8000-000000000003"


def bulk(su: psycopg.Connection[Any], client_id: str, rows: int, events: int, source: str) -> None:
    """``rows`` copies of a demo savings row of ``source`` moved to ``client_id`` (with
    their keys) and ``events`` audit events of the client, as the superuser."""
    columns = [r[0] for r in su.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'tessera.optimize_savings'::regclass AND attnum > 0"
        " AND NOT attisdropped AND attgenerated = '' AND attname NOT IN ('client_id', 'workload_id', 'request_id')"
        " ORDER BY attnum")]
    listed = ", ".join(columns)
    # 50 distinct tags: what an invoiced client's erasure replaces by pseudonyms.
    selected = ", ".join("'bench-feature-' || (g %% 50)" if c == "feature_tag" else c for c in columns)
    workload = su.execute("SELECT workload_id FROM tessera.workloads WHERE client_id = %s LIMIT 1",
                          (client_id,)).fetchone()[0]  # type: ignore[index]
    su.execute(f"INSERT INTO tessera.optimize_savings (client_id, workload_id, request_id, {listed})"
               f" SELECT %s, %s, 'bench-' || g, {selected}"
               "   FROM (SELECT * FROM tessera.optimize_savings WHERE client_id = %s LIMIT 1) AS s,"
               "        generate_series(1, %s) AS g", (client_id, workload, source, rows))
    su.execute("INSERT INTO tessera.savings_request_keys (client_id, request_id, occurred_at)"
               " SELECT client_id, request_id, occurred_at FROM tessera.optimize_savings"
               " WHERE client_id = %s AND request_id LIKE 'bench-%%'", (client_id,))
    if events:
        su.execute("SELECT count(tessera_private.write_audit_event(%s, 'probe', g::text, 'insert', NULL,"
                   " jsonb_build_object('email', 'someone@example.com', 'n', g))) FROM generate_series(1, %s) AS g",
                   (client_id, events))
    su.commit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="savings rows per client (default 1M)")
    ap.add_argument("--events", type=int, default=100_000, help="audit events per client (default 100k)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not write docs/benchmarks.md")
    ap.add_argument("--note", default="", help="a remark to record under the figures")
    args = ap.parse_args()
    cluster = temporary_cluster("tessera-erasure-bench-")
    results: dict[str, Any] = {}
    try:
        cluster.start()
        with psycopg.connect(**cluster.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute("CREATE DATABASE tessera_bench")
        su_dsn = cluster.dsn(dbname="tessera_bench")
        with psycopg.connect(su_dsn) as conn:
            conn.execute(manifest.full_sql())
            conn.commit()
        cluster.set_login_passwords()
        app = cluster.dsn("authenticator", "tessera_bench")
        sealer_dsn = cluster.dsn("tessera_sealer", "tessera_bench")
        key = Ed25519PrivateKey.generate()
        with Database(app, max_size=2) as db:
            demo.load(db)
        with psycopg.connect(su_dsn) as su:
            t = time.perf_counter()
            for client_id in (GLOBEX, ACME, INITECH):
                bulk(su, client_id, args.rows, 0 if client_id == INITECH else args.events,
                     ACME if client_id == INITECH else client_id)
            su.autocommit = True
            su.execute("VACUUM ANALYZE")
            results["setup_s"] = time.perf_counter() - t
        t = time.perf_counter()
        seal.seal_once(sealer_dsn, key)
        results["seal_before_s"] = time.perf_counter() - t
        print(f"set-up {results['setup_s']:.1f} s; first seal {results['seal_before_s']:.1f} s", flush=True)
        with Database(app, max_size=1) as db:
            for name, client_id in (("free", GLOBEX), ("invoiced", ACME)):
                t = time.perf_counter()
                with db.as_operator(demo.DEMO_OPERATOR) as conn:
                    counts = conn.execute("SELECT counts FROM tessera.erase_client(%s, 'bench')",
                                          (client_id,)).fetchone()[0]  # type: ignore[index]
                results[f"{name}_s"] = time.perf_counter() - t
                results[f"{name}_counts"] = counts
                print(f"erase {name}: {results[f'{name}_s']:.1f} s  {counts['optimize_savings']} "
                      f"{counts['audit_events']}", flush=True)
        t = time.perf_counter()
        seal.seal_once(sealer_dsn, key)
        results["seal_after_s"] = time.perf_counter() - t
        with psycopg.connect(su_dsn, autocommit=True) as conn:
            t = time.perf_counter()
            outcome = verify.verify(conn, [key.public_key()], None)
            results["verify_s"] = time.perf_counter() - t
        assert outcome.ok, outcome.problem
        results["verified_rows"], results["erased_rows"] = outcome.rows, outcome.erased_rows
        print(f"seal {results['seal_after_s']:.1f} s; verify {results['verify_s']:.1f} s "
              f"({outcome.rows} rows, {outcome.erased_rows} erased accepted)", flush=True)
    finally:
        cluster.destroy()
    body = render(results, args)
    print(body)
    if not args.no_write:
        print(f"wrote {write_section('erasure', body)}")


def render(r: dict[str, Any], args: Any) -> str:
    met = "met" if r["free_s"] < 60 else "NOT met"
    free, inv = r["free_counts"], r["invoiced_counts"]
    return f"""## Erasure (issue 14): `bench/erasure_bench.py`

{machine()}
Cluster: a throwaway `tessera_db.cluster.temporary_cluster()` (test-suite settings: fsync off).
Per client: {args.rows:,} savings rows (with their idempotency keys) and {args.events:,} audit
events; Initech holds {args.rows:,} more savings rows. Wall clock of `tessera.erase_client`
as the operator, one transaction, commit included.

| erasure | what it did | time |
| --- | --- | --- |
| Globex, free | optimize_savings {free['optimize_savings']}, savings_request_keys {free['savings_request_keys']}, audit_events {free['audit_events']} | **{r['free_s']:.1f} s** (target < 60 s: {met}) |
| Acme, invoiced | optimize_savings {inv['optimize_savings']}, audit_events {inv['audit_events']} | {r['invoiced_s']:.1f} s |

Afterwards: the sealer's step {r['seal_after_s']:.1f} s; `audit verify` of the whole log
{r['verify_s']:.1f} s ({r['verified_rows']:,} rows, {r['erased_rows']:,} erased rows accepted
on their erasure events). Set-up (bulk copies as the superuser, not measured) took
{r['setup_s']:.0f} s.
{args.note}
"""


if __name__ == "__main__":
    main()

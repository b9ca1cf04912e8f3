"""What each guarantee costs on the two write paths whose throughput targets are missed.

    .venv/bin/python bench/write_costs.py            # 4 s runs, about 10 minutes
    .venv/bin/python bench/write_costs.py --seconds 8
    .venv/bin/python bench/write_costs.py --durable --no-write   # fsync on, as deployed

Issue 4 asks record_request for >= 50% of a plain INSERT's rate, and issue 5 asks audited
single-row writes for >= 70% of a plain INSERT's rate at 8 writers. Both miss
(docs/benchmarks.md, sections money-ledger and audit). This bench is an ablation: it
gives up one guarantee at a time, in a scratch database, and measures what that buys.
It is a decision aid, not a proposal: every variant below removes something an issue
asks for, except the "floor" rows, which are not audit logs at all.

How: a throwaway cluster (test-suite settings, fsync off) builds load.sql and the benches'
fixtures once into a template database; every variant gets a fresh clone of it, applies
its change (as superuser) and is timed with pgbench (C client, prepared statements,
2 threads), shipped-path and baseline runs interleaved, best of ``--rounds``. A variant
that edits a function takes the declared source from functions/ and replaces exact text
in it; when that text is gone (the function changed), the bench fails instead of timing
something else.

* audit (issue 5): ``INSERT INTO tessera.balance_transactions`` as service_role against
  the same INSERT into its unaudited copy, as bench/audit_bench.py writes (no sealer
  here: it would slow both sides alike).
* record_request (issue 4): ``tessera.record_request(...)`` as tessera_proxy against the
  INSERT of the same row into the unconstrained heap copy, as bench/readings_bench.py
  writes them, but with pgbench instead of Python clients, so the ratios are lower than
  that section's (the client's own cost per row is smaller).

Writes its section ("write-costs") of docs/benchmarks.md unless --no-write.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import audit_bench  # noqa: E402
import readings_bench  # noqa: E402
from report import write_section  # noqa: E402

from tessera_db import manifest  # noqa: E402
from tessera_db.cluster import temporary_cluster  # noqa: E402

FUNCTIONS = REPO / "functions"


def redefine(function: str, *edits: tuple[str, str]) -> str:
    """CREATE OR REPLACE of functions/<function>.sql with exact-text edits applied."""
    source = (FUNCTIONS / f"{function}.sql").read_text(encoding="utf-8")
    source = source.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    for old, new in edits:
        if old not in source:
            raise SystemExit(f"write_costs: {function}.sql no longer contains {old!r}; update the variant")
        source = source.replace(old, new)
    return source


@dataclass(frozen=True)
class Variant:
    name: str
    gives_up: str
    sql: tuple[str, ...] = ()
    # The measured statement and who runs it; None: the suite's shipped statement and writer.
    statement: str | None = None
    superuser: bool = False


# --------------------------------------------------------------------------- issue 5

ZERO_HASH = "'\\x" + "00" * 32 + "'::bytea"


def drop_checks(table: str) -> str:
    """Drops every CHECK of ``table`` (read from the catalog, so none is missed)."""
    return (
        "DO $do$ DECLARE c text; BEGIN FOR c IN SELECT conname FROM pg_constraint"
        f" WHERE conrelid = '{table}'::regclass AND contype = 'c' LOOP"
        f" EXECUTE format('ALTER TABLE {table} DROP CONSTRAINT %I', c); END LOOP; END $do$")


CLAIMS_EDIT = ("claims := tessera_private.jwt_claims();", "claims := NULL;")
HASH_EDIT = ("NEW.content_hash := tessera_private.audit_content_hash(NEW);", f"NEW.content_hash := {ZERO_HASH};")
NO_CLAIMS = redefine("tessera_private.stamp_audit_event", CLAIMS_EDIT)
NO_HASH = redefine("tessera_private.stamp_audit_event", HASH_EDIT)
NO_CLAIMS_NO_HASH = redefine("tessera_private.stamp_audit_event", CLAIMS_EDIT, HASH_EDIT)
NO_CHECKS = drop_checks("tessera.audit_events")
NO_GATE = (redefine("tessera_private.write_audit_event",
                    ("PERFORM pg_catalog.set_config('tessera.audit_writer', 'write_audit_event', true);", ""),
                    ("PERFORM pg_catalog.set_config('tessera.audit_writer', '', true);", "")),
           "ALTER TABLE tessera.audit_events NO FORCE ROW LEVEL SECURITY")
STAMP_CONSTANTS = (
    "CREATE OR REPLACE FUNCTION tessera_private.stamp_audit_event() RETURNS trigger LANGUAGE plpgsql"
    " SET search_path = pg_catalog, pg_temp AS $f$ BEGIN NEW.actor_role := 'x'; NEW.actor_session_role := 'x';"
    f" NEW.request_id := 'x'; NEW.content_hash := {ZERO_HASH}; RETURN NEW; END $f$")
NO_STAMP = ("ALTER TABLE tessera.audit_events DISABLE TRIGGER audit_events_stamp",
            "ALTER TABLE tessera.audit_events ALTER COLUMN actor_role DROP NOT NULL,"
            " ALTER COLUMN actor_session_role DROP NOT NULL, ALTER COLUMN request_id DROP NOT NULL,"
            " ALTER COLUMN content_hash DROP NOT NULL")
# Not an audit log: the lightest trigger-written log there is, on a copy of the table.
FLOOR = (
    "CREATE TABLE bench_floor_log (id bigint GENERATED ALWAYS AS IDENTITY, at timestamptz NOT NULL DEFAULT now(),"
    " row_image jsonb, digest bytea, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)",
    "CREATE TABLE bench_floor_log_all PARTITION OF bench_floor_log FOR VALUES FROM (MINVALUE) TO (MAXVALUE)",
    "CREATE FUNCTION bench_floor_log_row() RETURNS trigger LANGUAGE plpgsql AS $f$ DECLARE image jsonb := to_jsonb(NEW);"
    " BEGIN INSERT INTO bench_floor_log (row_image, digest) VALUES (image, sha256(convert_to(image::text, 'UTF8')));"
    " RETURN NULL; END $f$",
    "CREATE TABLE bench_floor (LIKE bench_balance_unaudited INCLUDING ALL)",
    "ALTER TABLE bench_floor ADD FOREIGN KEY (client_id) REFERENCES tessera.clients",
    "CREATE TRIGGER bench_floor_stamp BEFORE INSERT ON bench_floor FOR EACH ROW"
    " EXECUTE FUNCTION tessera_private.stamp_balance_transaction()",
    "CREATE TRIGGER bench_floor_log AFTER INSERT ON bench_floor FOR EACH ROW EXECUTE FUNCTION bench_floor_log_row()",
    "GRANT INSERT ON bench_floor, bench_floor_log TO service_role",
)
AUDIT_SHIPPED = audit_bench.SCRIPTS[("audited", 1)]
AUDIT_BASELINE = audit_bench.SCRIPTS[("plain", 1)]
AUDIT_VARIANTS = (
    Variant("shipped", "nothing"),
    Variant("no claims parsing", "actor_email / actor_sub (jwt_claims() in the stamp)", (NO_CLAIMS,)),
    Variant("no content hash", "tamper evidence (content_hash constant)", (NO_HASH,)),
    Variant("no CHECKs", "the CHECKs of audit_events", (NO_CHECKS,)),
    Variant("no writer gate", "the owner's insert gate (setting + forced RLS)", NO_GATE),
    Variant("all four above", "JWT identity, tamper evidence, CHECKs, gate", (NO_CLAIMS_NO_HASH, NO_CHECKS) + NO_GATE),
    Variant("... and a stamp of constants", "also the rest of the stamp (role, request id, supplied-field refusals)",
            (NO_CHECKS, STAMP_CONSTANTS) + NO_GATE),
    Variant("... and no stamp trigger", "also the stamp trigger itself (those columns NULL)",
            (NO_CHECKS,) + NO_GATE + NO_STAMP),
    Variant("floor: minimal trigger log", "not an audit log: to_jsonb(NEW) and its sha256 into a 4-column table",
            FLOOR, AUDIT_BASELINE.replace("bench_balance_unaudited", "bench_floor")),
)

# --------------------------------------------------------------------------- issue 4

SAVINGS_CLIENTS = 10  # readings_bench.seed_clients(conn, SAVINGS_CLIENTS): clients 0 .. 9
# pgbench draws the client index :k; the ids are readings_bench's client_id(k) and
# workload_id(k), whose last 12 hex digits are k. (:c is audit_bench.pgbench's own draw.)
PREFIX = f"\\set k random(0, {SAVINGS_CLIENTS - 1})\n\\set r random(1, 4000000000000000000)\n"
CLIENT = f"('{readings_bench.client_id(0)[:-12]}' || lpad(to_hex(:k::bigint), 12, '0'))::uuid"
WORKLOAD = f"('{readings_bench.workload_id(0)[:-12]}' || lpad(to_hex(:k::bigint), 12, '0'))::uuid"
REQUEST = "'r' || :r"


def pgbench_script(sql: str) -> str:
    """A readings_bench statement (client, workload, request id as %s) as a pgbench script."""
    return PREFIX + sql.replace("%s, %s, %s", f"{CLIENT}, {WORKLOAD}, {REQUEST}", 1) + ";"


NO_FKS = ("ALTER TABLE tessera.optimize_savings DROP CONSTRAINT optimize_savings_workload_fkey,"
          " DROP CONSTRAINT optimize_savings_requested_snapshot_fkey,"
          " DROP CONSTRAINT optimize_savings_routed_snapshot_fkey")
NO_RLS = "ALTER TABLE tessera.optimize_savings NO FORCE ROW LEVEL SECURITY"
RR_SHIPPED = pgbench_script(readings_bench.RR_SQL)
RR_BASELINE = pgbench_script(readings_bench.PLAIN_SQL)
RR_VARIANTS = (
    Variant("shipped", "nothing"),
    Variant("no CHECKs", "the CHECKs of optimize_savings (token buckets, PII tags, ...)", (drop_checks("tessera.optimize_savings"),)),
    Variant("no foreign keys", "the workload and both snapshot foreign keys", (NO_FKS,)),
    Variant("no forced RLS", "row-level security for the owner (the definer's insert)", (NO_RLS,)),
    Variant("all three above", "CHECKs, foreign keys, forced RLS", (drop_checks("tessera.optimize_savings"), NO_FKS, NO_RLS)),
    Variant("INSERT into the real table", "record_request itself (idempotency key, pricing, validation, the call)",
            (), pgbench_script(readings_bench.DIRECT_SQL), superuser=True),
)


@dataclass(frozen=True)
class Suite:
    name: str
    issue: int
    target: float
    statement: str
    baseline: str
    variants: tuple[Variant, ...]
    # The shipped statement's writer: the authenticator acting as service_role with the
    # audit bench's claims ("service_role"), or the tessera_proxy login ("tessera_proxy").
    writer: str
    # The baseline's writer: the same, or the superuser (as readings_bench runs its copies).
    baseline_superuser: bool


SUITES = (
    Suite("audited single-row INSERT", 5, 0.70, AUDIT_SHIPPED, AUDIT_BASELINE, AUDIT_VARIANTS, "service_role", False),
    Suite("record_request", 4, 0.50, RR_SHIPPED, RR_BASELINE, RR_VARIANTS, "tessera_proxy", True),
)


def build_template(cluster) -> None:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE write_costs_template")
    with psycopg.connect(cluster.dsn(dbname="write_costs_template")) as conn:
        conn.execute(manifest.full_sql())
        conn.commit()
        audit_bench.setup(conn)
        readings_bench.seed_clients(conn, SAVINGS_CLIENTS)
        readings_bench.create_write_baselines(conn)
        conn.commit()


def login(suite: Suite) -> str:
    """The login role of the suite's writer."""
    return "authenticator" if suite.writer == "service_role" else suite.writer


@dataclass(frozen=True)
class Run:
    dsn: str
    statement: str
    act_as_service_role: bool


def runs(suite: Suite, variant: Variant, superuser_dsn: str, writer_dsn: str) -> tuple[Run, Run]:
    """The variant's measured run and the suite's baseline run: which statement, through
    which login, acting as service_role or not."""
    act_as = suite.writer == "service_role"
    measured = Run(superuser_dsn if variant.superuser else writer_dsn, variant.statement or suite.statement,
                   act_as and not variant.superuser)
    baseline = Run(superuser_dsn if suite.baseline_superuser else writer_dsn, suite.baseline,
                   act_as and not suite.baseline_superuser)
    return measured, baseline


def pgbench(run: Run, writers: int, seconds: float) -> float:
    return audit_bench.pgbench(run.dsn, run.statement, writers, seconds, act_as_service_role=run.act_as_service_role)


def measure(cluster, suite: Suite, variant: Variant, writers: tuple[int, ...], seconds: float,
            rounds: int) -> dict[int, tuple[float, float]]:
    """{writers: (variant tx/s, baseline tx/s)}, best of ``rounds`` interleaved pairs, in a
    fresh clone of the template with the variant's change applied."""
    db = "write_costs_variant"
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db} TEMPLATE write_costs_template")
    try:
        with psycopg.connect(cluster.dsn(dbname=db)) as conn:
            for sql in variant.sql:
                conn.execute(sql)
            conn.commit()
        measured, baseline = runs(suite, variant, cluster.dsn(dbname=db), cluster.dsn(login(suite), db))
        out = {}
        for w in writers:
            tps: tuple[list[float], list[float]] = ([], [])
            for _ in range(rounds):
                for run, figures in zip((measured, baseline), tps, strict=False):
                    figures.append(pgbench(run, w, seconds))
            out[w] = (max(tps[0]), max(tps[1]))
        return out
    finally:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {db}")


def report(results: dict[str, list[tuple[Variant, dict[int, tuple[float, float]]]]], writers: tuple[int, ...],
           seconds: float, rounds: int, durable: bool, note: str) -> str:
    lines = [
        "## What each guarantee costs on the write path (issues 4 and 5)",
        "",
        "Generated by `bench/write_costs.py` (an ablation; see its docstring); reproduce with",
        "",
        "```sh",
        ".venv/bin/python bench/write_costs.py",
        "```",
        "",
        f"Last run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {readings_bench.machine()}.",
        "Cluster: a throwaway `tessera_db.cluster.temporary_cluster()` ("
        + ("fsync and synchronous_commit on, `--durable`)." if durable else "test-suite settings: fsync off)."),
        "Each variant: a fresh clone of one template database with one guarantee removed; pgbench (C",
        f"client, prepared statements), {seconds:g} s runs, best of {rounds} interleaved pairs against the suite's baseline.",
        "Every row but \"shipped\" removes something the issue asks for; the floor row is not an audit",
        "log at all. A decision aid for the throughput targets, not a proposal.",
    ]
    for suite in SUITES:
        rows = results.get(suite.name)
        if not rows:
            continue
        head = " | ".join(f"{w} writer{'s' if w > 1 else ''}: tx/s, ratio" for w in writers)
        lines += ["", f"**{suite.name}** (issue {suite.issue}; target >= {suite.target:.0%} of the baseline"
                  f" at {max(writers)} writers). Baseline: "
                  + ("INSERT of the same row into the unconstrained heap copy, as the superuser."
                     if suite.baseline_superuser else
                     "the same INSERT into the unaudited copy, as service_role."),
                  "", f"| variant | gives up | {head} |", "| --- | --- |" + " --- |" * len(writers)]
        for variant, figures in rows:
            cells = " | ".join(f"{figures[w][0]:,.0f} / {figures[w][1]:,.0f} = {figures[w][0] / figures[w][1]:.0%}"
                               for w in writers)
            lines.append(f"| {variant.name} | {variant.gives_up} | {cells} |")
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=4.0, help="length of one pgbench run (default 4)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved pairs per measure, best kept (default 2)")
    ap.add_argument("--writers", default="1,8", help="comma-separated writer counts (default 1,8)")
    ap.add_argument("--suite", choices=("audit", "record_request", "both"), default="both")
    ap.add_argument("--durable", action="store_true",
                    help="fsync and synchronous_commit on, as a deployment runs (default: the test-suite settings)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not write docs/benchmarks.md")
    ap.add_argument("--note", default="", help="a remark to record under the figures")
    args = ap.parse_args()
    writers = tuple(int(w) for w in args.writers.split(","))
    suites = [s for s in SUITES if args.suite == "both" or (args.suite == "audit") == (s.issue == 5)]
    cluster = temporary_cluster("tessera-write-costs-", fast=not args.durable)
    results: dict[str, list[tuple[Variant, dict[int, tuple[float, float]]]]] = {}
    try:
        cluster.start()
        build_template(cluster)
        cluster.set_login_passwords()
        for suite in suites:
            for variant in suite.variants:
                figures = measure(cluster, suite, variant, writers, args.seconds, args.rounds)
                results.setdefault(suite.name, []).append((variant, figures))
                print(f"{suite.name:26} {variant.name:28} " + "  ".join(
                    f"w={w}: {v:8,.0f} / {b:8,.0f} = {v / b:4.0%}" for w, (v, b) in figures.items()), flush=True)
    finally:
        cluster.destroy()
    body = report(results, writers, args.seconds, args.rounds, args.durable, args.note)
    if not args.no_write and args.suite == "both":
        print(f"wrote {write_section('write-costs', body)}")
    else:
        print(body)


if __name__ == "__main__":
    main()

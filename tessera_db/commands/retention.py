"""``tessera-db retention``: the retention job (docs/erasure.md, "Retention").

    tessera-db retention run [--dry-run] [--now TIMESTAMP] [--dsn DSN]

Runs ``tessera.retention_run(now, dry_run)`` as a server-side job (service_role): per
table of the retention list, the cutoff (now minus its window), the whole monthly
partitions and the rows past it. ``--dry-run`` only counts, for any ``--now`` (the
future included); a real run removes them through the guarded path, which re-checks
every window against the database clock, and records one audit event.
"""

from __future__ import annotations

import datetime as dt

import click

from tessera_db.commands._options import TIMESTAMP, as_utc, dsn_option, friendly_errors, resolve_app_dsn
from tessera_db.db import Database


@click.group()
def retention() -> None:
    """Retention classes: remove what is past its window."""


@retention.command("run")
@click.option("--dry-run", "dry_run", is_flag=True, help="Count what would go; remove nothing.")
@click.option("--now", "now", type=TIMESTAMP,
              help="The clock, UTC (default: the database's). A real run may not be later than the database clock.")
@dsn_option
@friendly_errors
def run(dry_run: bool, now: dt.datetime | None, dsn: str | None) -> None:
    """Remove (or, with --dry-run, list) what is past its retention window."""
    clock = as_utc(now)
    with Database(resolve_app_dsn(dsn), max_size=1) as db, db.as_service("retention") as conn:
        rows = conn.execute(
            "SELECT table_name, partitions_dropped, rows_removed, cutoff, detail"
            "  FROM tessera.retention_run(COALESCE(%s::timestamptz, now()), %s)", (clock, dry_run)).fetchall()
    verb = "would go" if dry_run else "removed"
    click.echo(f"retention {'dry run' if dry_run else 'run'}"
               f"{' as of ' + clock.isoformat() if clock else ''}: per table, what {verb}")
    for table, partitions, removed, cutoff, detail in rows:
        line = (f"  {table:<22} before {cutoff:%Y-%m-%d %H:%M}: {'?' if removed is None else removed} row(s)"
                f"{f', {partitions} whole monthly partition(s)' if partitions else ''}")
        click.echo(line + (f" ({detail})" if detail else ""))
    total = sum(r[2] or 0 for r in rows)
    click.echo(f"total: {total} row(s) {verb}" + ("" if dry_run else "; one audit event (action retention) records it"))

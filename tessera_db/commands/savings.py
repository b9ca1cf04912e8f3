"""``tessera-db savings export`` (one client's month of optimize_savings rows as CSV) and
``tessera-db savings replay-rejected`` (retry the dead letters of record_requests).

The export's rows are streamed: ``COPY (SELECT ...) TO STDOUT WITH (FORMAT csv, HEADER)`` through
psycopg's copy, written out block by block as they arrive, never collected in memory.
The query runs as the caller's identity (``--as-sponsor`` / ``--as-operator``; a
server-side job as ``service_role`` when neither is given), so row-level security
decides the rows; a client the caller may not see is refused with an error before any
output is written.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import IO, Any

import click
import psycopg
from psycopg import sql

from tessera_db.commands._options import (
    client_option,
    dsn_option,
    friendly_errors,
    identity_options,
    month_option,
    parse_uuid,
    resolve_app_dsn,
    session,
)
from tessera_db.db import Database
from tessera_db.errors import PermissionDenied

#: CSV columns, in order (mechanics joined with ';', timestamps in UTC).
COLUMNS = (
    "client_id", "workload_id", "request_id", "occurred_at", "recorded_at",
    "requested_provider", "requested_model", "routed_provider", "routed_model",
    "requested_snapshot_id", "routed_snapshot_id",
    "uncached_input_tokens", "cache_read_input_tokens", "cache_write_5m_input_tokens",
    "cache_write_1h_input_tokens", "output_tokens", "reasoning_tokens", "batch",
    "original_cost_usd", "actual_cost_usd", "savings_usd", "mechanics",
    "finish_reason", "feature_tag", "customer_tag",
)


def export_query(client_id: str, month: dt.date) -> sql.Composed:
    """The COPY statement for one client's UTC month, ordered by time then request id."""
    cols = [sql.SQL("array_to_string(s.mechanics, ';') AS mechanics") if c == "mechanics"
            else sql.SQL("s.{}").format(sql.Identifier(c)) for c in COLUMNS]
    return sql.SQL(
        "COPY (SELECT {cols} FROM tessera.optimize_savings AS s"
        " WHERE s.client_id = {client}"
        "   AND s.occurred_at >= ({month}::timestamp AT TIME ZONE 'UTC')"
        "   AND s.occurred_at < (({month}::date + interval '1 month')::timestamp AT TIME ZONE 'UTC')"
        " ORDER BY s.occurred_at, s.request_id)"
        " TO STDOUT WITH (FORMAT csv, HEADER true)"
    ).format(cols=sql.SQL(", ").join(cols), client=sql.Literal(client_id),
             month=sql.Literal(month.isoformat()))


def export_csv(conn: psycopg.Connection[Any], client_id: str, month: dt.date, out: IO[bytes]) -> int:
    """Stream the CSV into ``out`` (binary); returns the bytes written. Raises
    PermissionDenied when the caller cannot see the client."""
    visible = conn.execute("SELECT EXISTS (SELECT 1 FROM tessera.clients WHERE client_id = %s)",
                           (client_id,)).fetchone()
    if not visible or not visible[0]:
        raise PermissionDenied(f"not permitted to export client {client_id} (or no such client)",
                               sqlstate="42501")
    conn.execute("SET LOCAL TimeZone = 'UTC'")
    written = 0
    with conn.cursor() as cur, cur.copy(export_query(client_id, month)) as copy:
        for block in copy:
            out.write(block)
            written += len(block)
    return written


@click.group()
def savings() -> None:
    """Per-request savings rows (tessera.optimize_savings)."""


@savings.command("export")
@client_option
@month_option
@identity_options
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              help="CSV file to write (default: standard output).")
@dsn_option
@friendly_errors
def export(client_id: str, month: dt.date, as_sponsor: str | None, as_operator: str | None,
           output: str | None, dsn: str | None) -> None:
    """Export one client's month of savings rows as CSV with a header, streamed."""
    with Database(resolve_app_dsn(dsn), max_size=1) as db, \
            session(db, as_sponsor, as_operator, "savings-export") as conn:
        if output is None:
            export_csv(conn, client_id, month, sys.stdout.buffer)
            return
        # Write to the file only once access is established; a refused export leaves none.
        partial = output + ".partial"
        try:
            with open(partial, "wb") as fh:
                size = export_csv(conn, client_id, month, fh)
        except BaseException:
            if os.path.exists(partial):
                os.unlink(partial)
            raise
        os.replace(partial, output)
    click.echo(f"wrote {output} ({size} bytes)", err=True)


def replay_rejected(conn: psycopg.Connection[Any], client_id: str | None,
                    max_requests: int) -> list[tuple[Any, ...]]:
    """tessera.replay_dead_letters as the caller (service_role): one row per request
    tried, (client_id, request_id, outcome, sqlstate, message)."""
    return conn.execute("SELECT client_id, request_id, outcome, sqlstate, message"
                        "  FROM tessera.replay_dead_letters(%s, %s)", (client_id, max_requests)).fetchall()


@savings.command("replay-rejected")
@click.option("--client", "client_id", callback=lambda c, p, v: None if v is None else parse_uuid(c, p, v),
              help="Only this client's dead letters (uuid; default: every client).")
@click.option("--max", "max_requests", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Retry at most this many requests, oldest first.")
@dsn_option
@friendly_errors
def replay_rejected_command(client_id: str | None, max_requests: int, dsn: str | None) -> None:
    """Retry the requests record_requests rejected (tessera.savings_dead_letters), e.g.
    after the missing price was published: each one recorded (exactly once) or found
    already recorded is resolved by an appended row; the rest stay, with a new attempt.
    Runs as service_role."""
    with Database(resolve_app_dsn(dsn), max_size=1) as db, db.as_service("replay-rejected") as conn:
        rows = replay_rejected(conn, client_id, max_requests)
    counts = {"recorded": 0, "replayed": 0, "rejected": 0}
    for client, request_id, outcome, sqlstate, message in rows:
        counts[outcome] += 1
        if outcome == "rejected":
            click.echo(f"still rejected: client {client} request {request_id}: {message} [{sqlstate}]")
    click.echo(f"tried {len(rows)}: {counts['recorded']} recorded, {counts['replayed']} already recorded,"
               f" {counts['rejected']} still rejected")

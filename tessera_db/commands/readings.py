"""``tessera-db readings``: issue monthly readings and re-derive them from the raw rows.

    tessera-db readings issue    --client C --month YYYY-MM [--reason TEXT]
    tessera-db readings rederive --client C --month YYYY-MM
    tessera-db readings share    --client C --month YYYY-MM --as-sponsor EMAIL | --as-operator EMAIL

Each runs as one API identity (``--as-sponsor`` / ``--as-operator``; a server-side job
as ``service_role`` when neither is given), so row-level security applies as it does to
the API. ``rederive`` exits 0 when the latest issued reading agrees with the raw
optimize_savings rows and 3 (printing every differing figure) when it does not; 1 is an
error (no reading, no access, no database).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

import click

from tessera_db import sla
from tessera_db.commands._options import (
    client_option,
    dsn_option,
    friendly_errors,
    identity_options,
    month_option,
    resolve_app_dsn,
    session,
)
from tessera_db.db import Database

#: Exit status of ``rederive`` when the issued reading and the raw rows disagree.
EXIT_DISAGREES = 3


def _fmt(value: Any) -> str:
    return "(missing)" if value is None else json.dumps(value)


@click.group()
def readings() -> None:
    """Monthly readings: issue, re-derive from the raw rows, share."""


@readings.command("issue")
@client_option
@month_option
@click.option("--reason", help="Why this corrects the issued reading (required for a new version).")
@identity_options
@dsn_option
@friendly_errors
def issue(client_id: str, month: dt.date, reason: str | None, as_sponsor: str | None,
          as_operator: str | None, dsn: str | None) -> None:
    """Issue the client's reading for the month (the next version when one exists)."""
    with Database(resolve_app_dsn(dsn), max_size=1) as db, \
            session(db, as_sponsor, as_operator, "readings-issue") as conn:
        row = conn.execute(
            "SELECT version, requests, original_cost_usd, actual_cost_usd, savings_usd"
            "  FROM tessera.issue_monthly_reading(%s, %s, %s)",
            (client_id, month, reason)).fetchone()
    assert row is not None
    version, requests, original, actual, savings = row
    click.echo(f"issued reading {client_id} {month:%Y-%m} version {version}: {requests} requests, "
               f"original {original} USD, actual {actual} USD, savings {savings} USD")


@readings.command("rederive")
@client_option
@month_option
@identity_options
@dsn_option
@friendly_errors
def rederive(client_id: str, month: dt.date, as_sponsor: str | None, as_operator: str | None,
             dsn: str | None) -> None:
    """Recompute the reading from the raw rows; exit 3 and print the differences if it
    disagrees with the latest issued version."""
    with Database(resolve_app_dsn(dsn), max_size=1) as db, \
            session(db, as_sponsor, as_operator, "readings-rederive") as conn:
        # One statement, one snapshot: the version named is the one compared (the
        # function is STABLE and runs in the calling statement's snapshot).
        row = conn.execute(
            "SELECT (SELECT max(version) FROM tessera.monthly_readings"
            "         WHERE client_id = %(c)s AND month = %(m)s),"
            "       (SELECT coalesce(jsonb_agg(jsonb_build_array(d.figure, d.issued, d.rederived)"
            "                                  ORDER BY d.figure), '[]')"
            "          FROM tessera.rederive_monthly_reading(%(c)s, %(m)s) AS d)",
            {"c": client_id, "m": month}).fetchone()
        credit_diffs = sla.credit_differences(conn, client_id, month)  # issue 15: the month's SLA credits
    assert row is not None
    version, diffs = row
    diffs = list(diffs) + credit_diffs
    label = f"reading {client_id} {month:%Y-%m} version {version}"
    if not diffs:
        click.echo(f"{label} agrees with the raw rows")
        return
    click.echo(f"{label} DISAGREES with the raw rows in {len(diffs)} figure(s):")
    width = max(len(d[0]) for d in diffs)
    for figure, issued_value, rederived_value in diffs:
        click.echo(f"  {figure:<{width}}  issued {_fmt(issued_value)}  rederived {_fmt(rederived_value)}")
    sys.exit(EXIT_DISAGREES)


@readings.command("share")
@client_option
@month_option
@click.option("--version", "version", type=int, help="Version to share (default: the latest).")
@click.option("--valid-days", type=click.IntRange(1, 366), default=30, show_default=True)
@identity_options
@dsn_option
@friendly_errors
def share(client_id: str, month: dt.date, version: int | None, valid_days: int,
          as_sponsor: str | None, as_operator: str | None, dsn: str | None) -> None:
    """Create a share link token for a reading (printed once; only its hash is kept)."""
    if not (as_sponsor or as_operator):
        raise click.UsageError("sharing needs --as-sponsor or --as-operator")
    with Database(resolve_app_dsn(dsn), max_size=1) as db, \
            session(db, as_sponsor, as_operator, "readings-share") as conn:
        row = conn.execute(
            "SELECT share_token_id, token, version, expires_at"
            "  FROM tessera.create_reading_share_token(%s, %s, %s, make_interval(days => %s))",
            (client_id, month, version, valid_days)).fetchone()
    assert row is not None
    share_token_id, token, shared_version, expires_at = row
    click.echo(token)
    click.echo(f"shares version {shared_version} until {expires_at:%Y-%m-%d %H:%M %Z}; "
               f"revoke with share_token_id {share_token_id}", err=True)

"""``tessera-db readings``: issue monthly readings and re-derive them from the raw rows.

    tessera-db readings issue    --client C --month YYYY-MM [--reason TEXT]
    tessera-db readings rederive --client C --month YYYY-MM
    tessera-db readings share    --client C --month YYYY-MM --as-sponsor EMAIL | --as-operator EMAIL

Each runs as one API identity (``--as-sponsor`` / ``--as-operator``; a server-side job
as ``service_role`` when neither is given), so row-level security applies as it does to
the API. ``rederive`` re-prices every row of the month from its token buckets and the
pricing snapshots it references (tessera_db/pricing/rederive.py, independent of the
database's pricing functions) and exits 0 when every row's stored costs and every figure
of the latest issued reading agree with that, 3 (naming the first differing rows and
every differing figure) when they do not; rows recorded after the issuance are listed
apart and are no disagreement. 1 is an error (no reading, no access, no database).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from decimal import Decimal
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
from tessera_db.pricing.rederive import FigureDiff, RederiveResult, rederive_reading

#: Exit status of ``rederive`` when the issued reading and the raw rows disagree.
EXIT_DISAGREES = 3


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
@click.option("--show", type=click.IntRange(1, 100000), default=20, show_default=True,
              help="How many differing rows and late rows to list (all are counted).")
@identity_options
@dsn_option
@friendly_errors
def rederive(client_id: str, month: dt.date, show: int, as_sponsor: str | None, as_operator: str | None,
             dsn: str | None) -> None:
    """Re-price every row of the month from its token buckets and pricing snapshots
    (independently of the database's pricing) and compare with the stored costs and the
    latest issued reading; exit 3 naming what differs. Rows recorded after the issuance
    are listed apart with their effect on each figure."""
    with Database(resolve_app_dsn(dsn), max_size=1) as db, \
            session(db, as_sponsor, as_operator, "readings-rederive") as conn:
        result = rederive_reading(conn, client_id, month, keep=show)
        # Issue 15: the month's SLA service credits, re-derived from the ledger on the same
        # connection and identity (tessera_db/sla.py, docs/operations.md).
        credits = sla.credit_differences(conn, client_id, month)
    print_rederive(result)
    if credits:
        click.echo(f"{len(credits)} SLA credit(s) DISAGREE with their re-derivation from the ledger:")
        width = max(len(c[0]) for c in credits)
        for figure, recorded, rederived in credits:
            click.echo(f"  {figure:<{width}}  recorded {recorded}  rederived {rederived}")
    disagrees = not result.agrees or bool(credits)
    if disagrees:
        sys.exit(EXIT_DISAGREES)


def _fmt(value: Any) -> str:
    """A figure for the report: numbers exactly as stored, breakdown elements as JSON."""
    if value is None:
        return "(missing)"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return json.dumps(value)
    if isinstance(value, Decimal):
        return f"{value:f}"  # plain digits, never 0E-12
    return str(value)


def _table(diffs: list[FigureDiff], left: str, right: str) -> None:
    width = max(len(d.figure) for d in diffs)
    for d in diffs:
        click.echo(f"  {d.figure:<{width}}  {left} {_fmt(d.left)}  {right} {_fmt(d.right)}")


def print_rederive(result: RederiveResult) -> None:
    """The report of ``readings rederive``: agreement, differing rows, differing figures,
    then the late rows and their effect."""
    label = f"reading {result.client_id} {result.month:%Y-%m} version {result.version}"
    click.echo(f"{label}: {result.rows} row(s) re-priced from their token buckets and "
               f"{len(result.snapshots_used)} pricing snapshot(s); covers recorded_seq <= {result.recorded_cutoff}")
    if result.agrees:
        click.echo(f"{label} agrees with the raw rows")
    else:
        click.echo(f"{label} DISAGREES with the raw rows")
    if result.differing_rows:
        click.echo(f"{result.differing_rows} row(s) whose stored costs are not what their buckets and snapshots "
                   f"give (first {len(result.first_differing)}):")
        for r in result.first_differing:
            why = f"  ({r.problem})" if r.problem else ""
            click.echo(f"  request {r.request_id} at {r.occurred_at}: original_cost_usd stored "
                       f"{_fmt(r.stored_original)} rederived {_fmt(r.rederived_original)}, actual_cost_usd "
                       f"stored {_fmt(r.stored_actual)} rederived {_fmt(r.rederived_actual)}{why}")
    if result.figure_diffs:
        click.echo(f"{len(result.figure_diffs)} figure(s) of the issued reading differ from the re-derived ones:")
        _table(result.figure_diffs, "issued", "rederived")
    if result.late_rows:
        click.echo(f"{result.late_rows} row(s) of {result.month:%Y-%m} recorded after the issuance, not in "
                   f"version {result.version} (a correction, readings issue --reason, takes them in; "
                   f"first {len(result.first_late)}):")
        for late in result.first_late:
            click.echo(f"  request {late.request_id} at {late.occurred_at}, recorded {late.recorded_at} "
                       f"(recorded_seq {late.recorded_seq}): original_cost_usd {_fmt(late.original)}, "
                       f"actual_cost_usd {_fmt(late.actual)}")
        click.echo("their effect on each figure:")
        _table(result.late_effect, "issued", "with late rows")


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

"""``tessera-db sla`` and ``tessera-db killswitch`` (issue 15; docs/operations.md).

    tessera-db sla run [--now TIMESTAMP]
    tessera-db killswitch report --client C [--from T] [--to T] [--as-sponsor E | --as-operator E]

``sla run`` is the daily quality-SLA job (``tessera.sla_run``) as a server-side job
(service_role): it prints every breach in its window, new (stack disabled, credit
written) or already recorded; a rerun changes nothing. ``killswitch report`` lists each
engagement of the client's kill switch, when the last mechanic fired after it and
whether the 60 s contract held (exit 0 either way; 1 is an error).
"""

from __future__ import annotations

import datetime as dt

import click

from tessera_db import sla
from tessera_db.commands._options import (
    TIMESTAMP,
    as_utc,
    client_option,
    dsn_option,
    friendly_errors,
    identity_options,
    resolve_app_dsn,
    session,
)
from tessera_db.db import Database


@click.group("sla")
def sla_group() -> None:
    """Quality SLA: the daily auto-rollback job."""


@sla_group.command("run")
@click.option("--now", "now", type=TIMESTAMP,
              help="The clock, UTC (default: the database's): the job judges the complete UTC days before it.")
@dsn_option
@friendly_errors
def sla_run(now: dt.datetime | None, dsn: str | None) -> None:
    """Disable every stack that breached the quality SLA, credit the client, once."""
    clock = as_utc(now)
    with Database(resolve_app_dsn(dsn), max_size=1) as db, db.as_service("sla-run") as conn:
        breaches = sla.run(conn, clock)
    new = [b for b in breaches if b.status == "disabled"]
    click.echo(f"sla run{' as of ' + clock.isoformat() if clock else ''}: "
               f"{len(new)} new breach(es), {len(breaches) - len(new)} already recorded")
    for b in breaches:
        days = ", ".join(f"{d['day']} mean {float(d['mean_routed_score']):.4f} n={d['samples']}" for d in b.days)
        click.echo(f"  {b.status:<16} client {b.client_id} workload {b.workload_id} stack {'+'.join(b.mechanics)}: "
                   f"{days}; credit {b.credit_usd} USD of {b.charged_usd} charged (anomaly {b.anomaly_id})")


@click.group("killswitch")
def killswitch_group() -> None:
    """The kill-switch contract (effect within 60 s)."""


@killswitch_group.command("report")
@client_option
@click.option("--from", "start", type=TIMESTAMP, help="Engagements from this time, UTC (inclusive).")
@click.option("--to", "end", type=TIMESTAMP, help="Engagements before this time, UTC (exclusive).")
@identity_options
@dsn_option
@friendly_errors
def killswitch_report(client_id: str, start: dt.datetime | None, end: dt.datetime | None,
                      as_sponsor: str | None, as_operator: str | None, dsn: str | None) -> None:
    """Each engagement, the last mechanic that fired after it, and whether 60 s held."""
    with Database(resolve_app_dsn(dsn), max_size=1) as db, \
            session(db, as_sponsor, as_operator, "killswitch-report") as conn:
        rows = sla.kill_switch_report(conn, client_id, as_utc(start), as_utc(end))
    click.echo(f"kill switch of client {client_id}: {len(rows)} engagement(s)")
    for r in rows:
        released = r["released_at"].isoformat() if r["released_at"] else "still engaged"
        if r["last_mechanic_at"] is None:
            last = "no mechanic fired after it"
        else:
            last = (f"last mechanic fired {r['last_mechanic_at'].isoformat()} "
                    f"({float(r['seconds_after_engagement']):.0f} s after; {r['requests_with_mechanics']} request(s))")
        verdict = "60 s contract held" if r["contract_held"] else "60 s contract BROKEN"
        click.echo(f"  engaged {r['engaged_at'].isoformat()} by {r['engaged_by']}, released {released}: "
                   f"{last}: {verdict}")

"""``tessera-db jobs``: the periodic jobs (tessera_db/jobs.py, docs/jobs.md).

    tessera-db jobs list
    tessera-db jobs schedule [--dry-run] [--dsn DEPLOY_DSN]
    tessera-db jobs run NAME [--dsn DSN]

``schedule`` registers every job with pg_cron where the database has the extension
(as the login of --dsn / $TESSERA_DSN, which is who pg_cron will run them as; each job
switches to its own role first), and otherwise prints the crontab lines of the
equivalent ``tessera-db`` commands. The audit sealer's line is printed either way: its
key stays outside the database. ``run`` runs one job's SQL now, exactly as pg_cron would.
"""

from __future__ import annotations

from typing import Any

import click
import psycopg

from tessera_db import jobs as declared
from tessera_db.commands._options import friendly_errors, resolve_dsn
from tessera_db.errors import from_psycopg


@click.group()
def jobs() -> None:
    """Periodic jobs: pg_cron where the database has it, else a crontab."""


def _connect(dsn: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(dsn, autocommit=True)
    except psycopg.Error as exc:
        raise from_psycopg(exc) from None


@jobs.command("list")
def list_jobs() -> None:
    """Print the declared jobs (no database needed)."""
    for j in declared.JOBS:
        click.echo(f"{j.cron_name:<20} {j.schedule:<14} as {j.run_as:<14} {j.summary}")
        click.echo(f"{'':<20} sql: {j.statements}")
        click.echo(f"{'':<20} cli: {j.cli}   (${j.dsn_env})")
    for schedule, command, env, summary in declared.OUTSIDE:
        click.echo(f"{'(outside)':<20} {schedule:<14} {command}   (${env}): {summary}")


def _outside_lines() -> list[str]:
    return [f"  {schedule}  {command}  # {env}: {summary}" for schedule, command, env, summary in declared.OUTSIDE]


@jobs.command("schedule")
@click.option("--dry-run", "dry_run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--dsn", envvar="TESSERA_DSN",
              help="The deploy login's DSN: pg_cron runs the jobs as this login "
                   "(default: $TESSERA_DSN, else the dev cluster).")
@friendly_errors
def schedule(dry_run: bool, dsn: str | None) -> None:
    """Register the jobs with pg_cron (idempotent), or print their crontab lines."""
    with _connect(resolve_dsn(dsn)) as conn:
        try:
            if not declared.has_pg_cron(conn):
                database = conn.info.dbname
                click.echo(f"pg_cron is not installed in database {database}: "
                           "run these from cron on a host with tessera-db instead:")
                for line in declared.crontab_lines():
                    click.echo(line)
                return
            results = declared.schedule(conn, dry_run=dry_run)
            strays = declared.others(conn)
            login = conn.execute("SELECT current_user, current_database()").fetchone()
            assert login is not None
        except psycopg.Error as exc:
            raise from_psycopg(exc) from None
    click.echo(f"pg_cron{' (dry run)' if dry_run else ''}: jobs of database {login[1]}, "
               f"run by login {login[0]} (each switches to its role first):")
    for result in results:
        j = result.job
        where = f"{j.schedule:<14} as {j.run_as:<14}" if j else f"{'':<14}    {'':<14}"
        click.echo(f"  {result.name:<20} {where} {result.outcome}")
    for name, user in strays:
        click.echo(f"warning: job {name} is also scheduled by login {user}; it runs in addition to these: "
                   f"unschedule it as {user} (SELECT cron.unschedule('{name}'))", err=True)
    click.echo("Outside the database (its key must stay outside), in the crontab of the sealer's host:")
    for line in _outside_lines():
        click.echo(line)


@jobs.command("run")
@click.argument("name")
@click.option("--dsn", help="A login that may SET ROLE the job's role (default: the variable the job "
                            "names, $TESSERA_APP_DSN or $TESSERA_DSN, else the dev cluster).")
@friendly_errors
def run(name: str, dsn: str | None) -> None:
    """Run one job now, exactly as pg_cron runs it (the crontab path)."""
    import os

    from tessera_db.cluster import SUPERUSER

    j = declared.job(name)
    url = dsn or os.environ.get(j.dsn_env) or resolve_dsn(
        None, "authenticator" if j.run_as == "service_role" else SUPERUSER)
    with _connect(url) as conn:
        try:
            rows = declared.run(conn, name)
        except psycopg.Error as exc:
            raise from_psycopg(exc) from None
    shown = ", ".join(" ".join(str(v) for v in row) for row in rows) or "done"
    click.echo(f"job {j.name} (as {j.run_as}): {shown}")


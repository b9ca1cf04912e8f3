"""The ``tessera-db`` command line.

    tessera-db dev up | down | dsn | psql     the embedded development cluster
    tessera-db migrate [--dsn DSN] [--sql]    upgrade to head (or --target REV)
    tessera-db downgrade --target REV         downgrade (``base`` removes everything)

and the command groups of tessera_db/commands/ (readings, savings, prices, audit, keys,
...), added at the end. What they share (error reporting, finding the database, the
caller's identity) is in tessera_db/commands/_options.py, below both.

Expected failures print one ``error: ...`` line on stderr and exit 1 (2 for usage);
tracebacks are for bugs only.
"""

from __future__ import annotations

import os
import shutil

import click

from tessera_db import migrations
from tessera_db.cluster import LOGIN_ROLES, SUPERUSER
from tessera_db.commands import (
    audit,
    clients,
    evidence,
    jobs,
    keys,
    operations,
    policy,
    prices,
    readings,
    retention,
    savings,
    secrets,
    sweep,
)
from tessera_db.commands._options import dev_cluster, friendly_errors, resolve_dsn
from tessera_db.errors import TesseraError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tessera-db")
def main() -> None:
    """tessera-db: the Tessera proxy's database, policies and tooling."""


# -- dev cluster ---------------------------------------------------------------------


@main.group()
def dev() -> None:
    """Manage the embedded development cluster (kept in .tessera/, git-ignored)."""


@dev.command("up")
@click.option("--demo/--no-demo", default=True, show_default=True, help="Load the demo data.")
@friendly_errors
def dev_up(demo: bool) -> None:
    """Start (or reuse) the cluster, migrate it to head and load demo data."""
    from tessera_db import demo as demo_data
    from tessera_db.db import Database

    cluster = dev_cluster()
    created = not cluster.exists()
    cluster.start()
    cron = cluster.ensure_cron()
    superuser_dsn = cluster.dsn()
    migrations.upgrade(superuser_dsn)
    cluster.set_login_passwords()
    revision = migrations.current(superuser_dsn)

    click.echo(f"tessera-db dev cluster {'created and ' if created else ''}running "
               f"(PostgreSQL, 127.0.0.1:{cluster.port}, data in {cluster.data_dir})")
    click.echo(f"schema at revision: {revision}")
    click.echo("pg_cron: loaded; `tessera-db jobs schedule` registers the periodic jobs" if cron else
               "pg_cron: not installed (postgresql-15-cron); `tessera-db jobs schedule` prints crontab lines")
    click.echo("")
    click.echo("DSNs (passwords come from the cluster's pgpass file, never printed):")
    click.echo(f"  superuser (maintenance, review): {superuser_dsn}")
    click.echo("  application login (authenticator -> anon | authenticated | service_role):")
    click.echo(f"      {cluster.dsn('authenticator')}")
    click.echo(f"  proxy worker:     {cluster.dsn('tessera_proxy')}")
    click.echo(f"  settlement job:   {cluster.dsn('tessera_settlement')}")
    click.echo(f"  audit sealer:     {cluster.dsn('tessera_sealer')}")

    with Database(cluster.dsn("authenticator"), max_size=2) as db:
        if demo:
            demo_data.load(db)
            demo_data.load_proxy_side(cluster.dsn("tessera_proxy"), cluster.dsn("tessera_settlement"), cluster.base)
        click.echo("")
        click.echo(demo_data.seal_audit_log(cluster.dsn("tessera_sealer"), cluster.base))
        click.echo("")
        click.echo("What each identity can see:")
        for line in demo_data.summary_lines(db):
            click.echo(f"  {line}")
    click.echo("")
    click.echo("Next: `tessera-db dev psql` for a superuser shell, `tessera-db dev down` to stop.")


@dev.command("down")
@friendly_errors
def dev_down() -> None:
    """Stop the cluster (data is kept; `dev up` restarts it)."""
    cluster = dev_cluster()
    if not cluster.exists():
        click.echo("no dev cluster here; nothing to stop")
        return
    cluster.stop()
    click.echo("tessera-db dev cluster stopped")


@dev.command("dsn")
@click.option(
    "--role",
    type=click.Choice([SUPERUSER, *LOGIN_ROLES]),
    default=SUPERUSER,
    show_default=True,
    help="Which login role the DSN is for.",
)
@friendly_errors
def dev_dsn(role: str) -> None:
    """Print a DSN for the cluster (one line, nothing else)."""
    cluster = dev_cluster()
    if not cluster.exists():
        raise TesseraError("no dev cluster here; run `tessera-db dev up` first")
    click.echo(cluster.dsn(role))


@dev.command("psql", context_settings={"ignore_unknown_options": True})
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
@friendly_errors
def dev_psql(psql_args: tuple[str, ...]) -> None:
    """Open psql on the cluster as the superuser (extra arguments go to psql)."""
    cluster = dev_cluster()
    if not cluster.is_running():
        raise TesseraError("the dev cluster is not running; run `tessera-db dev up`")
    psql = shutil.which("psql")
    if psql is None:
        raise TesseraError("psql not found; install postgresql-client-15")
    os.execv(psql, [psql, cluster.dsn(), *psql_args])


# -- migrations ------------------------------------------------------------------------

dsn_option = click.option(
    "--dsn",
    envvar="TESSERA_DSN",
    help="Database to migrate (default: $TESSERA_DSN, else the dev cluster).",
)


@main.command()
@dsn_option
@click.option("--sql", "offline", is_flag=True, help="Print the SQL instead of applying it.")
@click.option("--target", default="head", show_default=True, help="Revision to upgrade to.")
@friendly_errors
def migrate(dsn: str | None, offline: bool, target: str) -> None:
    """Upgrade the database to the target revision (bootstrap roles first).

    Prints one line per change made to a role (``roles: ...``) and per thing left for a
    person to review (``warning: ...`` on stderr), then ``migrated to REV``.
    """
    if offline:
        click.echo(migrations.offline_sql(target), nl=False)
        return
    url = resolve_dsn(dsn)
    for note in migrations.upgrade(url, target):
        if note.is_warning:
            click.echo(f"warning: {note.message}", err=True)
        else:
            click.echo(f"roles: {note.message}")
    click.echo(f"migrated to {migrations.current(url)}")


@main.command()
@dsn_option
@click.option("--target", required=True, help="Revision to downgrade to ('base' drops everything).")
@click.option("--sql", "offline", is_flag=True, help="Print the SQL (from head) instead of applying it.")
@friendly_errors
def downgrade(dsn: str | None, target: str, offline: bool) -> None:
    """Downgrade the database to the target revision."""
    if offline:
        click.echo(migrations.offline_sql(target, downgrade_from="head"), nl=False)
        return
    url = resolve_dsn(dsn)
    migrations.downgrade(url, target)
    click.echo(f"downgraded to {migrations.current(url) or 'base'}")


# The command groups, each in tessera_db/commands/<group>.py.
main.add_command(readings.readings)
main.add_command(savings.savings)
main.add_command(prices.prices)
main.add_command(audit.audit)
main.add_command(keys.keys)
main.add_command(sweep.sweep)
main.add_command(secrets.secrets)
main.add_command(secrets.batches)
main.add_command(clients.clients)
main.add_command(retention.retention)
main.add_command(jobs.jobs)
main.add_command(policy.policy)
main.add_command(operations.sla_group)
main.add_command(operations.killswitch_group)
main.add_command(evidence.evidence)

if __name__ == "__main__":  # pragma: no cover
    main()

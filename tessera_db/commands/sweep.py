"""``tessera-db sweep``: the retention sweeper.

    tessera-db sweep [--dsn DSN] [--loop SECONDS]

Runs ``tessera.sweep()`` as a server-side job (service_role): destroys every settlement
secret older than 48 hours whatever its batch's state, purges expired exact-cache
entries and week-old API key failure rows. ``--loop`` repeats it every SECONDS until
interrupted (a cron job running it hourly does the same).
"""

from __future__ import annotations

import time

import click

from tessera_db.commands._options import dsn_option, friendly_errors, resolve_app_dsn
from tessera_db.db import Database


@click.command()
@dsn_option
@click.option("--loop", "every", type=click.IntRange(10, 86400), help="Repeat every SECONDS until interrupted.")
@friendly_errors
def sweep(dsn: str | None, every: int | None) -> None:
    """Destroy settlement secrets older than 48 h; purge expired cache entries."""
    with Database(resolve_app_dsn(dsn), max_size=1) as db:
        while True:
            with db.as_service("sweeper") as conn:
                row = conn.execute("SELECT secrets_destroyed, cache_entries_purged, key_failures_purged"
                                   "  FROM tessera.sweep()").fetchone()
            assert row is not None
            click.echo(f"sweep: destroyed {row[0]} settlement secret(s) older than 48 h, purged {row[1]} "
                       f"expired cache entr{'y' if row[1] == 1 else 'ies'} and {row[2]} old key failure row(s)")
            if every is None:
                return
            time.sleep(every)

"""``tessera-db prices``: import model prices into the versioned catalog.

    tessera-db prices import --source litellm|tokencost|openrouter FILE [--dsn DSN]

The import runs as service_role through the application login (``authenticator``),
so it uses exactly the definer functions the import job is granted
(tessera.record_price_observations, tessera.publish_price), never the superuser.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import click

from tessera_db.commands._options import TIMESTAMP, dsn_option, friendly_errors, resolve_app_dsn
from tessera_db.pricing.sources import SOURCES


@click.group()
def prices() -> None:
    """Model prices: import source files into the versioned pricing catalog."""


@prices.command("import")
@click.option("--source", required=True, type=click.Choice(SOURCES), help="Format and origin of FILE.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@dsn_option
@click.option("--observed-at", type=TIMESTAMP,
              default=None, help="When the file's prices were true (default: now).")
def import_prices(source: str, file: str, dsn: str | None, observed_at: datetime | None) -> None:
    """Import FILE: store every observation, publish changed prices, print a summary."""
    @friendly_errors
    def run() -> None:
        from tessera_db.db import Database
        from tessera_db.pricing.importer import import_file

        def progress(items: list[Any]) -> Iterator[Any]:
            with click.progressbar(items, label=f"publishing {source} prices",
                                   item_show_func=lambda k: f"{k[0]}/{k[1]}" if k else None,
                                   file=sys.stderr) as bar:
                yield from bar

        with Database(resolve_app_dsn(dsn), max_size=1) as db:
            summary = import_file(db, source, file, observed_at=observed_at, progress=progress)
        for line in summary.lines():
            click.echo(line)

    run()


__all__ = ["prices"]

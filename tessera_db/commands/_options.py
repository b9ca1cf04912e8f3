"""What every ``tessera-db`` command shares: error reporting, finding the database
(``--dsn``, else the dev cluster), the caller's identity and the month.

It sits below both ``tessera_db/cli.py`` and the command groups in
``tessera_db/commands/``, which import it and never each other, so the CLI reads top
down: cli.py defines the ``dev``/``migrate``/``downgrade`` commands and adds the groups.

Commands that read or write data run as an API identity through
:class:`tessera_db.db.Database` (the ``authenticator`` login switching to
``authenticated``/``service_role`` per transaction), so row-level security decides what
they see, exactly as for the API.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import alembic.util
import click

from tessera_db.cluster import SUPERUSER, Cluster
from tessera_db.db import Database
from tessera_db.errors import TesseraError
from tessera_db.paths import state_root

F = TypeVar("F", bound=Callable[..., Any])

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def friendly_errors(func: F) -> F:
    """Turn expected failures into one clear line and a non-zero exit."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TesseraError as exc:
            where = f" [{exc.sqlstate}{' ' + exc.constraint if exc.constraint else ''}]" if exc.sqlstate else ""
            message = " ".join(exc.message.split())  # one line, whatever libpq said
            click.echo(f"error: {message}{where}", err=True)
            sys.exit(1)
        except alembic.util.CommandError as exc:
            # alembic's own "expected" failures, e.g. an unknown --target revision.
            click.echo(f"error: {' '.join(str(exc).split())}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def dev_cluster() -> Cluster:
    # The dev cluster preloads pg_cron when it is installed (tessera-db jobs schedule).
    return Cluster(state_root(), cron=True)


def resolve_dsn(dsn: str | None, user: str = SUPERUSER) -> str:
    """The given DSN, else the dev cluster's DSN for ``user``."""
    if dsn:
        return dsn
    cluster = dev_cluster()
    if cluster.exists():
        return cluster.dsn(user)
    raise TesseraError("no database given: pass --dsn (or set the variable --help names), or run `tessera-db dev up`")


#: A point in time on the command line: a date, or a date and time, with or without an
#: offset ("2026-12-05", "2026-12-05T09:00:00", "2026-12-05T09:00:00Z", "...+02:00").
#: A time without an offset is UTC (see as_utc).
TIMESTAMP = click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z",
                                    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"])


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A TIMESTAMP option's value as an aware UTC datetime (a naive one is taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def parse_month(_ctx: Any, _param: Any, value: str) -> dt.date:
    """click callback: ``YYYY-MM`` -> the first day of that month."""
    match = _MONTH.match(value.strip())
    if not match:
        raise click.BadParameter(f"expected YYYY-MM, got {value!r}")
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def parse_uuid(_ctx: Any, _param: Any, value: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise click.BadParameter(f"not a client id (uuid): {value!r}") from None


def dev_key(name: str) -> Path | None:
    """The dev cluster's demo key (``tessera-db dev up`` creates it), if there is one."""
    from tessera_db.paths import state_root

    path = state_root() / name
    return path if path.exists() else None


def resolve_app_dsn(dsn: str | None) -> str:
    """--dsn / $TESSERA_APP_DSN, else the dev cluster's authenticator login."""
    return resolve_dsn(dsn, "authenticator")


dsn_option = click.option(
    "--dsn", envvar="TESSERA_APP_DSN",
    help="Application DSN (the authenticator login; default: $TESSERA_APP_DSN, else the dev cluster).")
client_option = click.option("--client", "client_id", required=True, callback=parse_uuid,
                             help="Client id (uuid).")
month_option = click.option("--month", required=True, callback=parse_month, help="Month, YYYY-MM (UTC).")


def identity_options(func: F) -> F:
    func = click.option("--as-operator", "as_operator", metavar="EMAIL",
                        help="Run as this operator (JWT email).")(func)
    func = click.option("--as-sponsor", "as_sponsor", metavar="EMAIL",
                        help="Run as this sponsor (JWT email); sees only their own clients.")(func)
    return func


def session(db: Database, as_sponsor: str | None, as_operator: str | None,
            job: str) -> AbstractContextManager[Any]:
    """One transaction as the chosen identity; a server-side job (service_role) if none."""
    if as_sponsor and as_operator:
        raise click.UsageError("give at most one of --as-sponsor and --as-operator")
    if as_sponsor:
        return db.as_sponsor(as_sponsor)  # type: ignore[no-any-return]
    if as_operator:
        return db.as_operator(as_operator)  # type: ignore[no-any-return]
    return db.as_service(job)  # type: ignore[no-any-return]

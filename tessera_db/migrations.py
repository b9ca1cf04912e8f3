"""Migrations: bootstrap (roles), alembic upgrade/downgrade, offline SQL.

Each alembic revision runs one frozen SQL file from ``alembic/sql/`` -- generated from
the manifest when the revision is written (``python -m tessera_db.freeze``) and never
edited after it is merged. The drift test proves the declared SQL and the migrations
build identical catalogs.
"""

from __future__ import annotations

import io
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config

from tessera_db import manifest
from tessera_db.errors import TesseraError, translate_errors
from tessera_db.paths import sql_root

FROZEN_DIR = "alembic/sql"


class MigrationError(TesseraError):
    """A migration could not be planned or applied."""


def frozen_path(filename: str) -> Path:
    return sql_root() / FROZEN_DIR / filename


def run_frozen(filename: str) -> None:
    """Run one frozen SQL file from inside an alembic revision.

    Online, the file goes to psycopg verbatim (no SQLAlchemy ``text()`` parsing, which
    would mistake ``[:space:]`` in a regex for a bind parameter); offline, it is copied
    verbatim into the emitted script.
    """
    from alembic import context, op

    sql_text = frozen_path(filename).read_text(encoding="utf-8")
    if context.is_offline_mode():
        context.get_context().impl.static_output(sql_text)
    else:
        op.get_bind().connection.driver_connection.execute(sql_text)


def alembic_config(dsn: str | None = None, output_buffer: io.StringIO | None = None) -> Config:
    root = sql_root()
    cfg = Config(str(root / "alembic.ini"), output_buffer=output_buffer)
    cfg.set_main_option("script_location", str(root / "alembic"))
    if dsn:
        cfg.attributes["dsn"] = dsn
    if output_buffer is not None:
        cfg.attributes["output_buffer"] = output_buffer
    return cfg


def bootstrap(dsn: str) -> None:
    """Create or refresh the cluster roles and the database grant (idempotent)."""
    with translate_errors(), psycopg.connect(dsn) as conn:
        conn.execute(manifest.bootstrap_sql())


def upgrade(dsn: str, target: str = "head") -> None:
    bootstrap(dsn)
    with translate_errors():
        command.upgrade(alembic_config(dsn), target)


def downgrade(dsn: str, target: str) -> None:
    with translate_errors():
        command.downgrade(alembic_config(dsn), target)


def current(dsn: str) -> str | None:
    """The revision the database is at, or None (never migrated / at base)."""
    with translate_errors(), psycopg.connect(dsn) as conn:
        exists = conn.execute("SELECT to_regclass('tessera_migrations.alembic_version')").fetchone()
        if not exists or exists[0] is None:
            return None
        row = conn.execute("SELECT version_num FROM tessera_migrations.alembic_version").fetchone()
        return row[0] if row else None


def offline_sql(target: str = "head", *, downgrade_from: str | None = None) -> str:
    """The SQL a deployment pipeline can review and apply with psql: the bootstrap
    first (for upgrades), then the migrations, in one transaction each."""
    buf = io.StringIO()
    cfg = alembic_config(output_buffer=buf)
    if downgrade_from is not None:
        command.downgrade(cfg, f"{downgrade_from}:{target}", sql=True)
        return buf.getvalue()
    command.upgrade(cfg, target, sql=True)
    header = (
        "-- tessera-db offline migration script\n"
        "-- Apply with: psql -v ON_ERROR_STOP=1 -f <this file>\n"
        "-- Part 1: bootstrap (cluster roles, database grant); needs a superuser or deploy login.\n"
    )
    return header + manifest.bootstrap_sql() + "\n-- Part 2: migrations (run as tessera_owner)\n" + buf.getvalue()

"""Migrations: bootstrap (roles), alembic upgrade/downgrade, offline SQL.

Each alembic revision runs one frozen SQL file from ``alembic/sql/`` -- generated from
the manifest when the revision is written (``python -m tessera_db.freeze``) and never
edited after it is merged. The drift test proves the declared SQL and the migrations
build identical catalogs.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from alembic.config import Config

from alembic import command
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
        driver = op.get_bind().connection.driver_connection
        assert driver is not None, "alembic's connection has no psycopg connection behind it"
        driver.execute(sql_text)


def alembic_config(dsn: str | None = None, output_buffer: io.StringIO | None = None) -> Config:
    root = sql_root()
    cfg = Config(str(root / "alembic.ini"), output_buffer=output_buffer)
    cfg.set_main_option("script_location", str(root / "alembic"))
    if dsn:
        cfg.attributes["dsn"] = dsn
    if output_buffer is not None:
        cfg.attributes["output_buffer"] = output_buffer
    return cfg


@dataclass(frozen=True)
class Note:
    """One line the server reported while bootstrapping: ``NOTICE`` for a change made to
    a role ("created role tessera_owner", "altered role x: LOGIN -> NOLOGIN", "granted
    ...", "revoked ..."), ``WARNING`` for something left in place for a person to review
    (a membership in a platform role, a grant the login could not give)."""

    severity: str
    message: str

    @property
    def is_warning(self) -> bool:
        return self.severity not in ("NOTICE", "INFO", "LOG", "DEBUG")


@contextmanager
def collecting_notes(conn: psycopg.Connection[object]) -> Iterator[list[Note]]:
    """The NOTICE/WARNING lines the server sends ``conn`` inside the block, in order."""
    notes: list[Note] = []

    def keep(diag: psycopg.errors.Diagnostic) -> None:
        notes.append(Note(diag.severity_nonlocalized or diag.severity or "NOTICE",
                          " ".join((diag.message_primary or "").split())))

    conn.add_notice_handler(keep)
    try:
        yield notes
    finally:
        conn.remove_notice_handler(keep)


def bootstrap(dsn: str) -> list[Note]:
    """Create or refresh the cluster roles and the database grant (idempotent); returns
    what it did to roles and what it left for a person to review."""
    with translate_errors(), psycopg.connect(dsn) as conn, collecting_notes(conn) as notes:
        conn.execute(manifest.bootstrap_sql())
    return notes


def upgrade(dsn: str, target: str = "head") -> list[Note]:
    """Bootstrap, then upgrade to ``target``; returns the bootstrap's notes."""
    notes = bootstrap(dsn)
    with translate_errors():
        command.upgrade(alembic_config(dsn), target)
    return notes


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
        "-- Part 1: bootstrap (cluster roles, database grant); needs a superuser, or a deploy login\n"
        "-- with CREATEROLE that owns the database (Supabase's postgres). What it does to roles\n"
        "-- is reported as NOTICE lines, what it leaves for review as WARNING lines.\n"
    )
    return header + manifest.bootstrap_sql() + "\n-- Part 2: migrations (run as tessera_owner)\n" + buf.getvalue()

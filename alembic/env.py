"""Alembic environment for tessera-db.

Every migration runs as tessera_owner (``SET ROLE``), so the owner owns every object it
creates; the connecting login must be a superuser or a member of tessera_owner, and the
bootstrap (roles/*.sql) must have run first -- ``tessera-db migrate`` does both.
The version table lives in its own schema, tessera_migrations, outside the application
schemas the drift test compares.
"""

from __future__ import annotations

import os

import psycopg
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from alembic import context

VERSION_SCHEMA = "tessera_migrations"
PREAMBLE = (
    "SET ROLE tessera_owner",
    f"CREATE SCHEMA IF NOT EXISTS {VERSION_SCHEMA}",
    f"COMMENT ON SCHEMA {VERSION_SCHEMA} IS 'Alembic bookkeeping for tessera-db (alembic_version).'",
)

config = context.config


def _dsn() -> str:
    dsn = config.attributes.get("dsn") or os.environ.get("TESSERA_DSN")
    if not dsn:
        raise RuntimeError("no database DSN: pass --dsn or set TESSERA_DSN")
    return str(dsn)


def run_migrations_offline() -> None:
    context.configure(
        url="postgresql+psycopg://",
        literal_binds=True,
        version_table_schema=VERSION_SCHEMA,
        transactional_ddl=True,
        output_buffer=config.attributes.get("output_buffer"),
    )
    impl = context.get_context().impl
    for statement in PREAMBLE:
        impl.static_output(statement + ";")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    dsn = _dsn()
    engine = create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), poolclass=NullPool
    )
    with engine.connect() as connection:
        for statement in PREAMBLE:
            connection.exec_driver_sql(statement)
        connection.commit()
        context.configure(
            connection=connection,
            version_table_schema=VERSION_SCHEMA,
            transactional_ddl=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

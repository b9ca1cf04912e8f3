"""Test fixtures: one throwaway PostgreSQL 15 cluster per test run, a fresh database per
test.

The cluster is started by tessera-db's own cluster code (tessera_db/cluster.py), which
runs the server as an unprivileged OS user when the tests run as root: pytest-postgresql's
process fixture refuses root, so it attaches with its ``noproc`` fixture instead, builds a
template database once from the declared SQL, and clones a fresh database from it for
every test that asks for ``postgresql`` (or ``db``).

Fixtures:
    tessera_cluster   the running throwaway Cluster (session)
    postgresql        superuser psycopg connection to a fresh, fully built database
    dsn               superuser DSN of that database
    app_dsn           the authenticator login's DSN of that database
    db                tessera_db.Database (pool, authenticator) on that database
    conn              the superuser connection of ``built``, rolled back after the test
    built             a fresh, fully built database: by default the ``postgresql`` one; a
                      module with ``pytest_generate_tests = on_every_build`` also gets it
                      deployed on a Supabase-style cluster (tests/supabase_platform.py)
    empty_database    DSN of a fresh database with nothing in it (migration tests)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from pytest_postgresql import factories

from tessera_db import manifest
from tessera_db.cluster import Cluster, temporary_cluster
from tessera_db.db import Database
from tests.supabase_platform import (  # noqa: F401 (the Supabase-style deployments are fixtures)
    BuiltDatabase,
    fresh_copy,
    supabase,
    supabase_offline,
    supabase_online,
)


@dataclass
class _Server:
    """What pytest-postgresql's noproc ``depends_on`` reads from a base fixture."""

    host: str
    port: int
    user: str
    password: str
    options: str = ""
    maintenance_dbname: str = "postgres"
    template_dbname: str | None = None


@pytest.fixture(scope="session")
def tessera_cluster() -> Iterator[Cluster]:
    cluster = temporary_cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def tessera_server(tessera_cluster: Cluster) -> _Server:
    info = tessera_cluster.conninfo()
    return _Server(host=str(info["host"]), port=int(info["port"]), user=str(info["user"]),
                   password=str(info["password"]))


def build_declared(**conninfo: Any) -> None:
    """pytest-postgresql loader: build the template from load.sql (bootstrap + objects)."""
    conninfo.pop("autocommit", None)
    with psycopg.connect(**conninfo) as conn:
        conn.execute(manifest.full_sql())


postgresql_proc = factories.postgresql_noproc(
    depends_on="tessera_server", dbname="tessera_test", load=[build_declared]
)
postgresql = factories.postgresql("postgresql_proc")


@pytest.fixture(scope="session")
def _login_passwords(tessera_cluster: Cluster, postgresql_proc: Any) -> None:
    # The roles exist once the template is built; give the LOGIN roles their passwords.
    tessera_cluster.set_login_passwords()


def _dsn(cluster: Cluster, user: str, dbname: str) -> str:
    info = cluster.conninfo(user=user, dbname=dbname)
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items()})


@pytest.fixture
def dsn(tessera_cluster: Cluster, postgresql: psycopg.Connection[Any]) -> str:
    return _dsn(tessera_cluster, "postgres", postgresql.info.dbname)


@pytest.fixture
def app_dsn(tessera_cluster: Cluster, postgresql: psycopg.Connection[Any], _login_passwords: None) -> str:
    return _dsn(tessera_cluster, "authenticator", postgresql.info.dbname)


@pytest.fixture
def role_dsn(tessera_cluster: Cluster, postgresql: psycopg.Connection[Any], _login_passwords: None):  # type: ignore[no-untyped-def]
    """role_dsn('tessera_proxy') -> DSN of that LOGIN role on the test database."""
    return lambda role: _dsn(tessera_cluster, role, postgresql.info.dbname)


@pytest.fixture
def db(app_dsn: str) -> Iterator[Database]:
    database = Database(app_dsn, min_size=1, max_size=2)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def built(request: pytest.FixtureRequest, tessera_cluster: Cluster) -> Iterator[BuiltDatabase]:
    build = getattr(request, "param", "declared")
    if build == "declared":
        postgresql: psycopg.Connection[Any] = request.getfixturevalue("postgresql")
        yield BuiltDatabase(build, tessera_cluster.conninfo(dbname=postgresql.info.dbname), postgresql)
        return
    deployment = request.getfixturevalue(build.replace("-", "_"))
    for dbname in fresh_copy(deployment):
        info = deployment.cluster.conninfo(dbname=dbname)
        with psycopg.connect(**info) as connection:
            yield BuiltDatabase(build, info, connection)


@pytest.fixture
def conn(built: BuiltDatabase) -> Iterator[psycopg.Connection[Any]]:
    """The superuser connection in an open transaction, always rolled back."""
    try:
        yield built.connection
    finally:
        built.connection.rollback()


@pytest.fixture
def empty_database(tessera_cluster: Cluster) -> Iterator[str]:
    """A brand-new empty database (no schema, no bootstrap); dropped afterwards."""
    name = f"tessera_empty_{uuid.uuid4().hex[:10]}"
    admin = tessera_cluster.conninfo(dbname="postgres")
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _dsn(tessera_cluster, "postgres", name)
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Database tests never skip silently: a skipped test fails the run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and exitstatus == 0 and not os.environ.get("TESSERA_ALLOW_SKIPS"):
        session.exitstatus = 1
        if reporter:
            reporter.write_line(f"FAILED: {skipped} test(s) skipped; the suite must run everything", red=True)

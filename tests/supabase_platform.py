"""A Supabase-style platform cluster, and tessera-db deployed on it as the platform's
non-superuser deploy login -- the second and third way the suite builds a database.

A throwaway cluster whose superuser is ``supabase_admin`` (the project never uses it to
deploy) gets the roles and default grants Supabase's init scripts make
(tests/fixtures/supabase/platform.sql: anon, authenticated and service_role NOINHERIT,
an authenticator login, the deploy login ``postgres`` with CREATEROLE but not SUPERUSER,
owner of the database ``postgres``). Then, as ``postgres``, exactly what README
"Deploying" tells a Supabase project to run:

    online    tessera-db migrate --dsn postgresql://postgres@.../postgres
    offline   tessera-db migrate --sql | psql -v ON_ERROR_STOP=1 (as postgres)

and afterwards, still as ``postgres``, passwords for the three service logins. One
cluster per path, so each path meets the platform's roles as the platform left them.

Builds (the ``built`` fixture, conftest.py):

    declared           the main suite's database: load.sql, built by the superuser
    supabase-online    a fresh copy of the database the online path built
    supabase-offline   a fresh copy of the database the offline path built

A test module runs every database test it has on every build with one line,
``pytest_generate_tests = on_every_build`` (tests/test_policy_matrix.py and
tests/test_pgtap.py do). The copies are made and probed by ``supabase_admin``, as a
platform admin would install pgTAP; only the deployment itself runs as ``postgres``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tessera_db.cluster import Cluster, temporary_cluster

PLATFORM_SQL = Path(__file__).resolve().parent / "fixtures" / "supabase" / "platform.sql"
TESSERA_DB = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "tessera-db")
PLATFORM_SUPERUSER = "supabase_admin"
DEPLOY_LOGIN = "postgres"
DATABASE = "postgres"
#: The logins the migration creates; README "Deploying" has the deploy login set their passwords.
SERVICE_LOGINS = ("tessera_proxy", "tessera_settlement", "tessera_sealer")
PATHS = ("online", "offline")
BUILDS = ("declared", *(f"supabase-{path}" for path in PATHS))


@dataclass
class Deployment:
    """One Supabase-style cluster with tessera-db deployed on it by ``path``."""

    path: str
    cluster: Cluster
    stdout: str  # what the deployment printed (the CLI's, or psql's)
    stderr: str

    def deploy_dsn(self, dbname: str = DATABASE) -> str:
        return self.cluster.dsn(DEPLOY_LOGIN, dbname)

    def admin(self, dbname: str = DATABASE) -> psycopg.Connection[Any]:
        """An autocommit connection as the platform's superuser."""
        return psycopg.connect(**self.cluster.conninfo(dbname=dbname), autocommit=True)  # type: ignore[arg-type]


@dataclass
class BuiltDatabase:
    """A fresh, fully built database: how it was built, and its superuser's way in."""

    build: str  # one of BUILDS
    conninfo: dict[str, object]  # the (platform) superuser's, for psycopg.connect / PG* variables
    connection: psycopg.Connection[Any]


def run(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """A deployment command, without the caller's libpq or tessera settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "TESSERA_"))}
    return subprocess.run(args, input=stdin, capture_output=True, text=True, env=env, timeout=300, check=False)


def migrate_online(dsn: str) -> subprocess.CompletedProcess[str]:
    return run([TESSERA_DB, "migrate", "--dsn", dsn])


def migrate_offline(dsn: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    """README: ``tessera-db migrate --sql > tessera.sql``, review, then
    ``psql DSN -X -q -v ON_ERROR_STOP=1 -f tessera.sql``."""
    script = run([TESSERA_DB, "migrate", "--sql"])
    if script.returncode != 0:
        return script
    path = workdir / "tessera.sql"
    path.write_text(script.stdout, encoding="utf-8")
    psql = shutil.which("psql")
    assert psql, "psql (postgresql-client-15) is required"
    return run([psql, dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(path)])


def deploy(path: str, cluster: Cluster) -> Deployment:
    """Start ``cluster``, set the platform up on it, then deploy tessera-db on it as the
    deploy login by ``path``."""
    cluster.start()
    with psycopg.connect(**cluster.conninfo(dbname=DATABASE), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(PLATFORM_SQL.read_text(encoding="utf-8"))
    cluster.set_passwords([DEPLOY_LOGIN, "authenticator"])  # the platform's logins
    dsn = cluster.dsn(DEPLOY_LOGIN, DATABASE)
    proc = migrate_online(dsn) if path == "online" else migrate_offline(dsn, cluster.base)
    deployment = Deployment(path, cluster, proc.stdout, proc.stderr)
    if proc.returncode != 0:
        pytest.fail(f"tessera-db did not deploy on the Supabase-style cluster ({path}, exit "
                    f"{proc.returncode}):\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    cluster.set_passwords(SERVICE_LOGINS, as_user=DEPLOY_LOGIN)
    return deployment


def _deployment(path: str) -> Iterator[Deployment]:
    cluster = temporary_cluster(prefix=f"tessera-supabase-{path}-", superuser=PLATFORM_SUPERUSER)
    try:
        yield deploy(path, cluster)
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def supabase_online() -> Iterator[Deployment]:
    yield from _deployment("online")


@pytest.fixture(scope="session")
def supabase_offline() -> Iterator[Deployment]:
    yield from _deployment("offline")


@pytest.fixture(params=PATHS)
def supabase(request: pytest.FixtureRequest) -> Deployment:
    """Each Supabase-style deployment in turn."""
    return request.getfixturevalue(f"supabase_{request.param}")  # type: ignore[no-any-return]


def fresh_copy(deployment: Deployment) -> Iterator[str]:
    """A new database copied from the deployed one (so a test cannot disturb the next);
    yields its name and drops it afterwards."""
    name = f"tessera_sb_{uuid.uuid4().hex[:10]}"
    with deployment.admin("template1") as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(DATABASE), sql.Identifier(DEPLOY_LOGIN)))
    try:
        yield name
    finally:
        with deployment.admin("template1") as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def on_every_build(metafunc: pytest.Metafunc) -> None:
    """``pytest_generate_tests`` for a module whose database tests run on every build."""
    if "built" in metafunc.fixturenames:
        metafunc.parametrize("built", BUILDS, indirect=True)

"""Migrations: the database `alembic upgrade head` builds is the declared one, down and
up again works, the offline SQL applies, and merged migrations are frozen."""

from __future__ import annotations

import re
import subprocess

import psycopg
import pytest

from tessera_db import catalog, freeze, manifest, migrations
from tessera_db.paths import sql_root

FROZEN = sql_root() / migrations.FROZEN_DIR
VERSIONS = sql_root() / "alembic" / "versions"
REVISIONS = sorted(p.stem for p in VERSIONS.glob("*.py"))


def snapshot_of(dsn: str) -> dict:
    with psycopg.connect(dsn) as conn:
        return catalog.snapshot(conn)


def psql(dsn: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", dsn, *args],
        input=stdin, capture_output=True, text=True, check=True,
    )


def assert_same_catalog(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for kind in expected:
        extra = sorted(set(actual[kind]) - set(expected[kind]))
        missing = sorted(set(expected[kind]) - set(actual[kind]))
        assert (extra, missing) == ([], []), f"{kind} drifted:\n  extra={extra}\n  missing={missing}"


@pytest.fixture
def declared(dsn: str) -> dict:
    """Catalog of the database built from the declared SQL (load.sql)."""
    snap = snapshot_of(dsn)
    assert snap["relations"] and snap["policies"] and snap["functions"], "declared build is empty"
    return snap


def test_upgrade_head_matches_declared_sql(declared, empty_database):
    migrations.upgrade(empty_database)
    assert migrations.current(empty_database) == _head_revision()
    assert_same_catalog(snapshot_of(empty_database), declared)


def test_psql_manifest_builds_the_same_database(declared, empty_database):
    """load.sql is a real psql script too (\\ir lines), not only a list for Python."""
    psql(empty_database, "-f", str(sql_root() / "load.sql"))
    assert_same_catalog(snapshot_of(empty_database), declared)


def test_upgrade_downgrade_upgrade(declared, empty_database):
    migrations.upgrade(empty_database)
    migrations.downgrade(empty_database, "base")
    assert migrations.current(empty_database) is None
    with psycopg.connect(empty_database) as conn:
        left = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname IN ('tessera', 'tessera_private')"
        ).fetchall()
        default_acl = conn.execute(
            "SELECT count(*) FROM pg_default_acl WHERE defaclrole = 'tessera_owner'::regrole"
        ).fetchone()
    assert left == [] and default_acl == (0,), "downgrade to base must remove every object"
    migrations.upgrade(empty_database)
    assert_same_catalog(snapshot_of(empty_database), declared)


@pytest.mark.parametrize("revision", REVISIONS)
def test_downgrade_to_each_revision_restores_its_catalog(empty_database, revision):
    """Every revision's downgrade undoes exactly what the later revisions added."""
    migrations.upgrade(empty_database, revision)
    at_revision = snapshot_of(empty_database)
    migrations.upgrade(empty_database, "head")
    migrations.downgrade(empty_database, revision)
    assert migrations.current(empty_database) == revision
    assert_same_catalog(snapshot_of(empty_database), at_revision)


def test_offline_sql_applies_with_psql(declared, empty_database):
    script = migrations.offline_sql("head")
    assert "CREATE ROLE" in script and "CREATE TABLE tessera.clients" in script
    psql(empty_database, stdin=script)
    assert_same_catalog(snapshot_of(empty_database), declared)
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT version_num FROM tessera_migrations.alembic_version").fetchone() == (
            _head_revision(),
        )


def test_offline_downgrade_sql_renders():
    script = migrations.offline_sql("base", downgrade_from="head")
    assert "DROP SCHEMA tessera CASCADE" in script


def _revisions() -> list[str]:
    return REVISIONS


def _head_revision() -> str:
    return _revisions()[-1]


def test_revisions_are_named_and_each_has_frozen_sql():
    revisions = _revisions()
    assert revisions, "no migrations"
    for number, rev in enumerate(revisions, start=1):
        assert re.fullmatch(r"\d{4}_[a-z][a-z0-9_]*", rev), rev
        # alembic_version.version_num is varchar(32): a longer id fails only at upgrade time.
        assert len(rev) <= 32, f"revision id longer than alembic_version.version_num allows: {rev}"
        assert rev.startswith(f"{number:04d}_"), f"revisions must be numbered consecutively: {rev}"
        text = (VERSIONS / f"{rev}.py").read_text()
        assert f'revision = "{rev}"' in text
        assert f'run_frozen("{rev}.sql")' in text and f'run_frozen("{rev}.down.sql")' in text
        assert (FROZEN / f"{rev}.sql").is_file() and (FROZEN / f"{rev}.down.sql").is_file()


def test_frozen_migrations_match_their_recorded_hashes():
    """alembic/sql/SHA256SUMS pins every frozen file: a merged migration is never edited
    (write a new revision instead). New files are added with `python -m tessera_db.freeze`."""
    recorded = freeze.recorded_hashes(FROZEN)
    on_disk = {p.name: manifest.sha256_of(p) for p in FROZEN.glob("*.sql")}
    assert on_disk == recorded

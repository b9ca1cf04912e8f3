"""The ``tessera-db`` command line: migrate / downgrade / dev.

Happy paths of migrate and downgrade run in-process through click's CliRunner; anything
about what a person sees on failure (one ``error:`` line on stderr, exit code 1, no
traceback) runs the installed console script in a subprocess, as a user would. Every
run gets an empty TESSERA_HOME so nothing falls back to the checkout's own dev cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner

from tessera_db import jobs, migrations
from tessera_db.cli import main
from tessera_db.cluster import Cluster

TESSERA_DB = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "tessera-db")
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2"


def head_revision() -> str:
    head = ScriptDirectory.from_config(migrations.alembic_config()).get_current_head()
    assert head
    return head


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without libpq/tessera settings, plus an explicit home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "TESSERA_"))}
    env["TESSERA_HOME"] = str(home)
    env.update(extra)
    return env


def run_cli(*args: str, home: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TESSERA_DB, *args], capture_output=True, text=True, env=clean_env(home, **extra),
        timeout=120, check=False,
    )


def invoke(*args: str, home: Path, **extra: str) -> Any:
    runner = CliRunner()
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith(("PG", "TESSERA_"))}
    env.update({"TESSERA_HOME": str(home), **extra})
    return runner.invoke(main, list(args), env=env, catch_exceptions=False)


def assert_one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def schema_state(dsn: str) -> tuple[str | None, int]:
    """(alembic revision, number of relations in schema tessera)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'tessera'"
        ).fetchone()
    assert row is not None
    return migrations.current(dsn), int(row[0])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    empty = tmp_path / "tessera-home"
    empty.mkdir()
    return empty


# -- migrate / downgrade ----------------------------------------------------------------


def test_migrate_upgrades_to_head_and_is_idempotent(empty_database: str, home: Path) -> None:
    head = head_revision()
    assert schema_state(empty_database) == (None, 0)

    first = invoke("migrate", "--dsn", empty_database, home=home)
    assert first.exit_code == 0, first.output
    # The roles may already exist on the shared test cluster, or be created now.
    *role_lines, last = first.stdout.splitlines()
    assert last == f"migrated to {head}"
    assert all(line.startswith(("roles: created role ", "roles: granted ")) for line in role_lines), role_lines
    revision, relations = schema_state(empty_database)
    assert revision == head and relations > 0

    second = invoke("migrate", "--dsn", empty_database, home=home)
    assert second.exit_code == 0, second.output
    assert second.stdout == f"migrated to {head}\n"  # nothing left to do to any role
    assert schema_state(empty_database) == (head, relations)


def test_migrate_reads_tessera_dsn_from_the_environment(empty_database: str, home: Path) -> None:
    result = invoke("migrate", home=home, TESSERA_DSN=empty_database)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(f"migrated to {head_revision()}\n")
    assert schema_state(empty_database)[0] == head_revision()


def test_downgrade_to_base_then_migrate_again(empty_database: str, home: Path) -> None:
    head = head_revision()
    assert invoke("migrate", "--dsn", empty_database, home=home).exit_code == 0
    relations = schema_state(empty_database)[1]

    down = invoke("downgrade", "--dsn", empty_database, "--target", "base", home=home)
    assert down.exit_code == 0, down.output
    assert down.stdout == "downgraded to base\n"
    assert schema_state(empty_database) == (None, 0)
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT to_regnamespace('tessera')").fetchone() == (None,)

    up = invoke("migrate", "--dsn", empty_database, home=home)
    assert up.exit_code == 0, up.output
    assert schema_state(empty_database) == (head, relations)


def test_migrate_sql_prints_bootstrap_then_migration_without_a_database(home: Path) -> None:
    # An unreachable --dsn proves nothing is contacted.
    proc = run_cli("migrate", "--sql", "--dsn", UNREACHABLE, home=home)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    markers = [
        "-- >>> roles/roles.sql",
        "CREATE ROLE %I",
        "-- >>> roles/database_grants.sql",
        "SET ROLE tessera_owner;",
        "CREATE TABLE tessera_migrations.alembic_version",
        "CREATE TABLE tessera.clients",
        "CREATE POLICY clients_select_operator_or_sponsor",
        # The version row reaches head (INSERT for the first revision, UPDATE after).
        f"'{head_revision()}'",
        "COMMIT;",
    ]
    positions = [out.find(m) for m in markers]
    assert all(p >= 0 for p in positions), dict(zip(markers, positions, strict=False))
    assert positions == sorted(positions)  # bootstrap first, then the migration


def test_migrate_sql_output_applies_with_psql(empty_database: str, home: Path) -> None:
    psql = shutil.which("psql")
    assert psql, "psql (postgresql-client-15) is required"
    script = run_cli("migrate", "--sql", home=home)
    assert script.returncode == 0, script.stderr
    applied = subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", empty_database, "-f", "-"],
        input=script.stdout, capture_output=True, text=True, env=clean_env(home), check=False,
    )
    assert applied.returncode == 0, applied.stderr
    revision, relations = schema_state(empty_database)
    assert revision == head_revision() and relations > 0


# -- failures: one line, exit 1, no traceback ---------------------------------------------


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (("migrate", "--dsn", UNREACHABLE), "error: connection failed"),
        (("downgrade", "--dsn", UNREACHABLE, "--target", "base"), "error: connection failed"),
        (("migrate", "--dsn", "not a dsn"), "error: "),
        (("migrate",), "error: no database given"),
        (("downgrade", "--target", "base"), "error: no database given"),
        (("migrate", "--sql", "--target", "no-such-revision"), "error: Can't locate revision"),
        (("dev", "dsn"), "error: no dev cluster here"),
        (("dev", "psql"), "error: the dev cluster is not running"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_expected_failures_print_one_error_line(home: Path, args: tuple[str, ...], expect: str) -> None:
    line = assert_one_error_line(run_cli(*args, home=home))
    assert line.startswith(expect)


def test_unknown_target_against_a_database_is_one_line(empty_database: str, home: Path) -> None:
    line = assert_one_error_line(run_cli("migrate", "--dsn", empty_database, "--target", "nope", home=home))
    assert "nope" in line
    assert schema_state(empty_database)[0] is None


def test_dev_dsn_prints_one_uri_for_an_existing_cluster(tessera_cluster: Cluster, app_dsn: str) -> None:
    base = tessera_cluster.base
    state = json.loads((base / "cluster.json").read_text())
    secrets = [state["superuser_password"], *state["passwords"].values()]
    for role in ("postgres", "authenticator"):
        proc = run_cli("dev", "dsn", "--role", role, home=base)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        lines = proc.stdout.splitlines()
        assert len(lines) == 1 and lines[0].startswith("postgresql://")
        assert lines[0] == Cluster(base).dsn(role)
        assert not any(s in proc.stdout for s in secrets)
        params = psycopg.conninfo.conninfo_to_dict(lines[0])
        assert (params["host"], int(params["port"]), params["user"]) == ("127.0.0.1", tessera_cluster.port, role)
        assert params["passfile"] == str(base / "pgpass")
        # The password really comes from the passfile (the test cluster's database is
        # 'postgres', not the dev default 'tessera').
        with psycopg.connect(**{**params, "dbname": "postgres"}) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role,)


# -- dev up / dsn / down end to end --------------------------------------------------------


@pytest.fixture
def dev_home() -> Iterator[Path]:
    """A fresh TESSERA_HOME the server user can reach; always stopped and removed."""
    base = Path(tempfile.mkdtemp(prefix="tessera-cli-dev-"))
    os.chmod(base, 0o755)
    try:
        yield base
    finally:
        run_cli("dev", "down", home=base)
        Cluster(base).destroy()
        assert not base.exists()


def _postmaster_uid(cluster: Cluster) -> int:
    pid = int((cluster.data_dir / "postmaster.pid").read_text().splitlines()[0])
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


def test_dev_up_dsn_down_end_to_end(dev_home: Path) -> None:
    up = run_cli("dev", "up", home=dev_home)
    assert up.returncode == 0, up.stderr
    assert "Traceback" not in up.stderr
    assert "created and running" in up.stdout
    assert f"schema at revision: {head_revision()}" in up.stdout

    cluster = Cluster(dev_home)
    assert cluster.is_running()
    state = json.loads((dev_home / "cluster.json").read_text())
    for secret in [state["superuser_password"], *state["passwords"].values()]:
        assert secret not in up.stdout + up.stderr
    # initdb/postgres refuse root: the server must run as an unprivileged user.
    if os.geteuid() == 0:
        assert state["server_user"] in ("postgres", "tessera-pg")
        assert _postmaster_uid(cluster) != 0
    else:
        assert _postmaster_uid(cluster) == os.geteuid()

    # The dev cluster preloads pg_cron (postgresql-15-cron, scripts/bootstrap.sh), so the
    # periodic jobs register there (tests/test_jobs.py has the details).
    assert "pg_cron: loaded" in up.stdout
    scheduled = run_cli("jobs", "schedule", home=dev_home)
    assert scheduled.returncode == 0, scheduled.stderr
    assert scheduled.stdout.count(" created") == len(jobs.JOBS)

    again = run_cli("dev", "up", home=dev_home)
    assert again.returncode == 0, again.stderr
    assert "created" not in again.stdout and " running " in again.stdout
    assert json.loads((dev_home / "cluster.json").read_text())["port"] == state["port"]

    dsn = run_cli("dev", "dsn", home=dev_home)
    assert dsn.returncode == 0 and dsn.stderr == ""
    assert len(dsn.stdout.splitlines()) == 1 and dsn.stdout.startswith("postgresql://")
    with psycopg.connect(dsn.stdout.strip()) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == ("postgres", "tessera")
        # Demo data loaded once, not duplicated by the second `dev up`.
        assert conn.execute("SELECT count(*) FROM tessera.clients").fetchone() == (3,)
        assert conn.execute("SELECT count(*) FROM cron.job WHERE jobname LIKE 'tessera%'").fetchone() == (len(jobs.JOBS),)
        # Not in public (Supabase's Security Advisor: extension_in_public); where Supabase puts it.
        assert conn.execute("SELECT extnamespace::regnamespace::text FROM pg_extension"
                            " WHERE extname = 'pg_cron'").fetchone() == ("pg_catalog",)
        assert migrations.current(dsn.stdout.strip()) == head_revision()

    app = run_cli("dev", "dsn", "--role", "authenticator", home=dev_home)
    assert app.returncode == 0, app.stderr
    with psycopg.connect(app.stdout.strip()) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("authenticator",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM tessera.clients")

    down = run_cli("dev", "down", home=dev_home)
    assert down.returncode == 0, down.stderr
    assert down.stdout == "tessera-db dev cluster stopped\n"
    assert not cluster.is_running()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn.stdout.strip(), connect_timeout=2)


@pytest.mark.parametrize("text", ["2034-01-01T02:00:00+02:00", "2034-01-01T00:00:00Z", "2034-01-01T00:00:00",
                                  "2034-01-01 00:00:00", "2034-01-01"])
def test_command_line_timestamps_take_an_offset_and_default_to_utc(text: str) -> None:
    """--now / --from / --to / --observed-at share one parser: an offset is honoured
    (never overwritten), a time without one is UTC."""
    import datetime as dt

    from tessera_db.commands._options import TIMESTAMP, as_utc

    assert as_utc(TIMESTAMP.convert(text, None, None)) == dt.datetime(2034, 1, 1, tzinfo=dt.timezone.utc)

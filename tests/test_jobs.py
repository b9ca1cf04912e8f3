"""Periodic jobs (tessera_db/jobs.py, docs/jobs.md): one declarative list, registered
with pg_cron where the database has it, printed as crontab lines where it has not.

* On a cluster that preloads pg_cron the way the dev cluster does (Cluster(cron=True)),
  ``tessera-db jobs schedule`` registers exactly the declared jobs, once each; a re-run
  changes nothing, a job edited by hand is put back, a ``tessera_*`` job no longer
  declared is removed and anybody else's job is left alone; --dry-run changes nothing;
  a login that may not take a job's role is refused and nothing is registered.
* Where pg_cron is absent (the declared build and both Supabase-style deployments) it
  prints one crontab line per declared job plus the sealer's, and registers nothing.
* Every job's command runs as pg_cron would run it, in its own role: retention and the
  sweeper as service_role from the authenticator login (the audit event names the job),
  the partition job as tessera_owner, creating months ahead with every guard.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from tessera_db import jobs, manifest
from tessera_db.cli import main
from tessera_db.cluster import Cluster, pg_cron_available
from tests.supabase_platform import BuiltDatabase, on_every_build
from tests.test_partitions import guard_problems, lint_rows

pytest_generate_tests = on_every_build  # the crontab fallback also on the Supabase-style deployments


def invoke(*args: str) -> Any:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith(("PG", "TESSERA_"))}
    env["TESSERA_HOME"] = tempfile.mkdtemp(prefix="tessera-jobs-home-")
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def dsn_of(conninfo: dict[str, object]) -> str:
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in conninfo.items()})


# -- the declared list -----------------------------------------------------------------


def test_the_list_is_one_declarative_list() -> None:
    names = [j.name for j in jobs.JOBS]
    assert len(names) == len(set(names))
    assert {"retention", "sweep", "partitions"} <= set(names)
    for j in jobs.JOBS:
        assert j.run_as in ("service_role", "tessera_owner"), j
        assert j.cron_name == "tessera_" + j.name
        assert len(j.schedule.split()) == 5, j
        assert j.command.startswith(f"SET ROLE {j.run_as}; "), j
        assert j.cli.startswith("tessera-db "), j
    # The sealer is never a pg_cron job: its key stays outside.
    assert not any("seal" in j.statements or "seal" in j.cli for j in jobs.JOBS)
    assert any("audit seal" in command for _, command, _, _ in jobs.OUTSIDE)


# -- pg_cron absent: crontab ---------------------------------------------------------------


def test_crontab_where_pg_cron_is_absent(built: BuiltDatabase) -> None:
    assert built.connection.execute(
        "SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'").fetchone() == (0,)
    result = invoke("jobs", "schedule", "--dsn", dsn_of(built.conninfo))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("pg_cron is not installed in database ")
    entries = [line for line in lines[1:] if not line.startswith("#")]
    expected = [f"{j.schedule}  {j.cli}  # {j.dsn_env}: {j.summary}" for j in jobs.JOBS]
    expected += [f"{s}  {c}  # {e}: {w}" for s, c, e, w in jobs.OUTSIDE]
    assert entries == expected  # each declared job once, in order, and the sealer
    assert "tessera-db audit seal" in entries[-1]
    # Nothing registered anywhere (there is nowhere to), and the schema has no cron schema.
    assert built.connection.execute("SELECT to_regnamespace('cron')").fetchone() == (None,)


# -- pg_cron present: registered once ------------------------------------------------------------


@pytest.fixture(scope="module")
def cron_cluster() -> Iterator[Cluster]:
    """A throwaway cluster started the way `tessera-db dev up` starts the dev cluster
    (pg_cron preloaded for its database), with the declared schema and the extension."""
    assert pg_cron_available(), "postgresql-15-cron is not installed (scripts/bootstrap.sh installs it)"
    base = Path(tempfile.mkdtemp(prefix="tessera-cron-"))
    os.chmod(base, 0o755)
    cluster = Cluster(base, dbname="tessera", fast=True, cron=True)
    try:
        cluster.start()
        with psycopg.connect(**cluster.conninfo()) as conn:  # type: ignore[arg-type]
            conn.execute(manifest.full_sql())
        assert cluster.ensure_cron() and cluster.cron_loaded()
        yield cluster
    finally:
        cluster.destroy()


def cron_jobs(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT jobname, schedule, command, username, database, active FROM cron.job ORDER BY jobname").fetchall()


def test_schedule_registers_exactly_the_declared_jobs_once(cron_cluster: Cluster) -> None:
    with psycopg.connect(**cron_cluster.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute("SELECT cron.unschedule(jobid) FROM cron.job")
        conn.execute("SELECT cron.schedule('someone_else', '0 0 * * *', 'SELECT 1')")
        dsn = cron_cluster.dsn()

        dry = invoke("jobs", "schedule", "--dry-run", "--dsn", dsn)
        assert dry.exit_code == 0, dry.output
        assert dry.output.count("would be created") == len(jobs.JOBS)
        assert [r[0] for r in cron_jobs(conn)] == ["someone_else"]  # a dry run changes nothing

        first = invoke("jobs", "schedule", "--dsn", dsn)
        assert first.exit_code == 0, first.output
        assert first.output.count(" created") == len(jobs.JOBS)
        assert "tessera-db audit seal" in first.output  # the sealer stays outside, and is said so
        expected = sorted([(j.cron_name, j.schedule, j.command, cron_cluster.superuser, "tessera", True)
                           for j in jobs.JOBS] + [("someone_else", "0 0 * * *", "SELECT 1", "postgres", "tessera", True)])
        assert cron_jobs(conn) == expected
        ids = conn.execute("SELECT jobname, jobid FROM cron.job ORDER BY 1").fetchall()

        again = invoke("jobs", "schedule", "--dsn", dsn)
        assert again.exit_code == 0, again.output
        assert again.output.count(" unchanged") == len(jobs.JOBS)
        assert cron_jobs(conn) == expected
        assert conn.execute("SELECT jobname, jobid FROM cron.job ORDER BY 1").fetchall() == ids

        # Edited by hand, or left over from a job no longer declared: put back, removed.
        conn.execute("SELECT cron.alter_job(jobid, schedule => '1 1 1 1 *') FROM cron.job WHERE jobname = 'tessera_sweep'")
        conn.execute("SELECT cron.schedule('tessera_retired', '0 3 * * *', 'SELECT 1')")
        fixed = invoke("jobs", "schedule", "--dsn", dsn)
        assert fixed.exit_code == 0, fixed.output
        assert "tessera_sweep" in fixed.output and " updated" in fixed.output
        assert "tessera_retired" in fixed.output and " removed" in fixed.output
        assert cron_jobs(conn) == expected
        assert conn.execute("SELECT jobname, jobid FROM cron.job ORDER BY 1").fetchall() == ids


def test_a_login_that_may_not_take_the_jobs_role_is_refused(cron_cluster: Cluster) -> None:
    with psycopg.connect(**cron_cluster.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute("SELECT cron.unschedule(jobid) FROM cron.job")
        conn.execute("DROP ROLE IF EXISTS tessera_jobs_probe")
        conn.execute("CREATE ROLE tessera_jobs_probe LOGIN PASSWORD 'probe-only'")
        conn.execute("GRANT USAGE ON SCHEMA cron TO tessera_jobs_probe")
        conn.execute("GRANT CONNECT ON DATABASE tessera TO tessera_jobs_probe")
        conn.execute("GRANT tessera_owner TO tessera_jobs_probe")  # the owner, but not service_role
        try:
            dsn = dsn_of({**cron_cluster.conninfo(), "user": "tessera_jobs_probe", "password": "probe-only"})
            refused = invoke("jobs", "schedule", "--dsn", dsn)
            assert refused.exit_code == 1
            assert "may not SET ROLE service_role" in refused.output
            assert "GRANT service_role TO tessera_jobs_probe" in refused.output
            assert cron_jobs(conn) == []  # nothing registered, not even the owner's job

            # As Supabase's `postgres` is (not a superuser; a member of service_role and,
            # through the bootstrap, of tessera_owner): registered as that login, and each
            # command runs from it exactly as pg_cron will run it.
            conn.execute("GRANT service_role TO tessera_jobs_probe")
            scheduled = invoke("jobs", "schedule", "--dsn", dsn)
            assert scheduled.exit_code == 0, scheduled.output
            assert {(r[0], r[3]) for r in cron_jobs(conn)} == {(j.cron_name, "tessera_jobs_probe") for j in jobs.JOBS}
            for j in jobs.JOBS:
                ran = invoke("jobs", "run", j.name, "--dsn", dsn)
                assert ran.exit_code == 0, ran.output
            assert conn.execute("SELECT actor_role, actor_session_role, actor_job FROM tessera.audit_events"
                                " WHERE action = 'retention' ORDER BY event_id DESC LIMIT 1").fetchone() \
                == ("service_role", "tessera_jobs_probe", "retention")
            conn.execute("SELECT cron.unschedule(jobid) FROM cron.job")
        finally:
            conn.execute("DROP OWNED BY tessera_jobs_probe")
            conn.execute("DROP ROLE tessera_jobs_probe")


# -- each job's command, as pg_cron runs it ----------------------------------------------------


def test_service_jobs_run_as_service_role_from_the_authenticator(
        postgresql: psycopg.Connection[Any], app_dsn: str) -> None:
    for name in ("retention", "sweep"):
        result = invoke("jobs", "run", name, "--dsn", app_dsn)
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"job {name} (as service_role): ")
    event = postgresql.execute(
        "SELECT actor_role, actor_session_role, actor_job FROM tessera.audit_events"
        " WHERE action = 'retention' ORDER BY event_id DESC LIMIT 1").fetchone()
    assert event == ("service_role", "authenticator", "retention")


def test_a_service_job_cannot_take_the_owner_role(app_dsn: str) -> None:
    # The authenticator (the crontab's login for service jobs) cannot run the owner's job.
    refused = invoke("jobs", "run", "partitions", "--dsn", app_dsn)
    assert refused.exit_code == 1
    assert refused.output.startswith("error: permission denied to set role \"tessera_owner\"")


def test_the_partition_job_creates_months_ahead_with_every_guard(
        postgresql: psycopg.Connection[Any], dsn: str) -> None:
    def months() -> set[str]:
        return {r[0] for r in postgresql.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent IN ('tessera.optimize_savings'::regclass, 'tessera.audit_events'::regclass)")}

    before = months()
    result = invoke("jobs", "run", "partitions", "--dsn", dsn)
    assert result.exit_code == 0, result.output
    postgresql.commit()
    created = months() - before
    assert len(created) == 4  # two more months ahead for each of the two tables
    for name in sorted(created):
        assert guard_problems(postgresql, f"tessera.{name}") == [], name
    assert lint_rows(postgresql) == []
    again = invoke("jobs", "run", "partitions", "--dsn", dsn)
    assert again.exit_code == 0 and months() - before == created  # idempotent

"""The periodic jobs: ONE declarative list, registered with pg_cron or printed as crontab.

Every periodic job that needs no key outside the database is one SQL command on a SQL
function, so pg_cron can run it inside the database; ``tessera-db jobs schedule``
registers exactly the jobs of :data:`JOBS` (idempotent: a re-run updates, never
duplicates, and removes a ``tessera_*`` job no longer listed), and where the database
has no pg_cron it prints the crontab lines of the equivalent ``tessera-db`` commands
instead. The audit sealer is never one of them: its signing key must stay outside the
database, so it is always a crontab line (:data:`OUTSIDE`). Details: docs/jobs.md.

Why a Python list and not a SQL function: the list is deployment configuration (a
schedule, the role a job runs as, the command a crontab runs instead), read by the one
program that registers it, and it must work where pg_cron is absent; keeping it out of
the schema means a schedule change is not a migration and the schema never depends on
pg_cron. The functions the jobs call are in the schema, and ``jobs schedule`` refuses to
register a job whose function the database does not have (``requires``).

Who runs a job: pg_cron runs a job as the login that scheduled it (only a superuser may
name another, and Supabase's deploy login ``postgres`` is not one), so every command
starts by switching to the least role that can do it: ``service_role`` for retention and
the sweeper (what ``tessera-db retention run`` and ``tessera-db sweep`` do through the
authenticator login), ``tessera_owner`` for creating partitions (DDL is the owner's). The
scheduling login must be a member of both (the bootstrap makes the deploy login a member
of ``tessera_owner``; Supabase makes ``postgres`` a member of ``service_role``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from tessera_db.errors import TesseraError

#: pg_cron job names are this prefix + the job's name; jobs schedule owns every such job.
PREFIX = "tessera_"


@dataclass(frozen=True)
class Job:
    """One periodic job."""

    name: str
    #: cron syntax; pg_cron reads it in UTC (GMT), and so should the crontab's host.
    schedule: str
    #: the role the command switches to before it runs (SET ROLE).
    run_as: str
    #: the work: one or more SQL statements (no parameters).
    statements: str
    #: the function it needs, as a regprocedure (jobs schedule checks it exists).
    requires: str
    #: the equivalent tessera-db command, for the crontab where pg_cron is absent.
    cli: str
    #: the environment variable holding that command's DSN (which login runs it).
    dsn_env: str
    summary: str

    @property
    def cron_name(self) -> str:
        return PREFIX + self.name

    @property
    def command(self) -> str:
        """The exact SQL pg_cron runs (and ``tessera-db jobs run`` sends): switch to the
        job's role, name the job for the audit log (tessera.job_name, as db.as_service
        does), then the work. pg_cron starts a new session for every run, so nothing
        set here outlives it."""
        claims = '{"role": "%s", "sub": "%s"}' % (self.run_as, self.name)
        return (f"SET ROLE {self.run_as}; "
                f"SELECT pg_catalog.set_config('tessera.job_name', '{self.name}', false), "
                f"pg_catalog.set_config('request.jwt.claims', '{claims}', false); "
                f"{self.statements}")


# The job list. Adding a job is one line here plus its row in docs/jobs.md.
JOBS: tuple[Job, ...] = (
    Job("retention", "23 2 * * *", "service_role",
        "SELECT pg_catalog.count(*) FROM tessera.retention_run(pg_catalog.now(), false);",
        "tessera.retention_run(timestamptz,boolean)",
        "tessera-db retention run", "TESSERA_APP_DSN",
        "remove what is past its retention window (whole monthly partitions, guarded deletes); one audit event"),
    Job("sweep", "*/15 * * * *", "service_role",
        "SELECT * FROM tessera.sweep(pg_catalog.now());",
        "tessera.sweep(timestamptz)",
        "tessera-db sweep", "TESSERA_APP_DSN",
        "destroy settlement secrets older than 48 h, purge expired cache entries and old key failures"),
    Job("partitions", "7 1 * * *", "tessera_owner",
        "SELECT tessera_private.create_monthly_partitions(p.parent,"
        " (pg_catalog.now() AT TIME ZONE 'UTC')::date, 4)"
        " FROM unnest(ARRAY['tessera.optimize_savings', 'tessera.audit_events']::regclass[]) AS p (parent);",
        "tessera_private.create_monthly_partitions(regclass,date,integer)",
        "tessera-db jobs run partitions", "TESSERA_DSN",
        "create the monthly partitions of the current and next three UTC months, every guard included"),
    # Issue 15: judged per closed UTC day, so it runs shortly after midnight; idempotent
    # (a rerun for the same day disables and credits nothing twice).
    Job("sla", "17 0 * * *", "service_role",
        "SELECT * FROM tessera.sla_run(pg_catalog.now());",
        "tessera.sla_run(timestamptz)",
        "tessera-db sla run", "TESSERA_APP_DSN",
        "the quality-SLA job: disable a stack below 0.95 on 3 qualifying days, credit 10 %, audit it"),
)

#: Periodic work that must stay outside the database (a key the database must not hold).
OUTSIDE: tuple[tuple[str, str, str, str], ...] = (
    ("*/5 * * * *", "tessera-db audit seal --once --key /etc/tessera/audit-sealer.key", "TESSERA_SEALER_DSN",
     "the audit sealer: its Ed25519 signing key never enters the database, so pg_cron cannot run it"),
)


def job(name: str) -> Job:
    for candidate in JOBS:
        if candidate.name == name:
            return candidate
    raise TesseraError(f"no job named {name!r}; the jobs are: {', '.join(j.name for j in JOBS)}")


def crontab_lines() -> list[str]:
    """The crontab for a host that runs the jobs where the database has no pg_cron."""
    lines = [
        "# tessera-db periodic jobs (schedules in UTC: run this crontab on a UTC host).",
        "# Each command reads its DSN from the variable named after it; set them above these lines.",
    ]
    for j in JOBS:
        lines.append(f"{j.schedule}  {j.cli}  # {j.dsn_env}: {j.summary}")
    lines.append("# Outside the database by design (its key must stay outside):")
    for schedule, command, env, summary in OUTSIDE:
        lines.append(f"{schedule}  {command}  # {env}: {summary}")
    return lines


def has_pg_cron(conn: Any) -> bool:
    """Whether pg_cron is installed in this database (cron.schedule is callable here)."""
    row = conn.execute("SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron')").fetchone()
    return bool(row and row[0])


@dataclass(frozen=True)
class Scheduled:
    name: str
    outcome: str  # created | updated | unchanged | removed | (dry run: would be …)
    job: Job | None


def schedule(conn: Any, *, dry_run: bool = False) -> list[Scheduled]:
    """Register every job of JOBS with pg_cron as the connected login (idempotent).

    ``conn`` is an autocommit connection of the login the jobs will run as (pg_cron's
    rule), not switched to another role: the checks and the registration happen in one
    transaction, so a refusal leaves the schedule as it was."""
    login = conn.execute("SELECT current_user, session_user").fetchone()
    if login[0] != login[1]:
        raise TesseraError(f"jobs schedule must run as the login itself (current_user {login[0]} "
                           f"is not session_user {login[1]}): pg_cron would run the jobs as {login[0]}")
    results: list[Scheduled] = []
    with conn.transaction():
        for j in JOBS:
            found = conn.execute("SELECT pg_catalog.to_regprocedure(%s) IS NOT NULL", (j.requires,)).fetchone()[0]
            if not found:
                raise TesseraError(f"job {j.name} needs {j.requires}, which this database does not have; "
                                   "migrate it to head first")
            member = conn.execute("SELECT pg_catalog.pg_has_role(current_user, %s, 'MEMBER')",
                                  (j.run_as,)).fetchone()[0]
            if not member:
                raise TesseraError(
                    f"login {login[0]} may not SET ROLE {j.run_as}, which job {j.name} runs as; pg_cron runs a job "
                    f"as the login that scheduled it: schedule as a login that is a member of {j.run_as} "
                    f"(a platform admin may run: GRANT {j.run_as} TO {login[0]};)")
        existing = {
            name: (schedule_, command)
            for name, schedule_, command in conn.execute(
                "SELECT jobname, schedule, command FROM cron.job"
                " WHERE username = current_user AND jobname LIKE %s", (PREFIX.replace("_", r"\_") + "%",))
        }
        for j in JOBS:
            before = existing.pop(j.cron_name, None)
            if before == (j.schedule, j.command):
                outcome = "unchanged"
            else:
                outcome = "created" if before is None else "updated"
                if not dry_run:
                    # pg_cron (1.3+): a job of the same name and user is updated, not added.
                    conn.execute("SELECT cron.schedule(%s, %s, %s)", (j.cron_name, j.schedule, j.command))
            results.append(Scheduled(j.cron_name, outcome if not dry_run or outcome == "unchanged"
                                     else f"would be {outcome}", j))
        for stale in sorted(existing):
            if not dry_run:
                conn.execute("SELECT cron.unschedule(%s)", (stale,))
            results.append(Scheduled(stale, "would be removed" if dry_run else "removed", None))
    return results


def others(conn: Any) -> list[tuple[str, str]]:
    """tessera_* jobs scheduled by another login (visible to a superuser only): each
    would run in addition to this login's, so jobs schedule reports them."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT jobname, username FROM cron.job WHERE username <> current_user AND jobname LIKE %s ORDER BY 1, 2",
        (PREFIX.replace("_", r"\_") + "%",))]


def run(conn: Any, name: str) -> list[tuple[Any, ...]]:
    """Run one job's command now, exactly as pg_cron would (the crontab path for jobs
    without a command of their own). ``conn``: an autocommit connection of a login that
    may SET ROLE the job's role; it is used for this job only (the role switch stays)."""
    j = job(name)
    cur = conn.execute(sql.SQL(j.command))  # a constant of this module, no parameters
    rows: list[tuple[Any, ...]] = []
    while True:
        if cur.description is not None:
            rows = cur.fetchall()
        if not cur.nextset():
            break
    return rows

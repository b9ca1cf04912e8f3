"""tessera-db deployed the way Supabase runs it: migrations as a non-superuser deploy
login over platform-owned API roles (issue 13).

tests/supabase_platform.py sets up a cluster as Supabase's init scripts do and deploys
on it as ``postgres`` (CREATEROLE, not SUPERUSER), online and offline; the RLS matrix
(tests/test_policy_matrix.py) and the pgTAP suite (tests/test_pgtap.py) run on both
results. Here:

* the deployment's own output: one ``roles:`` line per role created or membership
  granted, one warning per membership the platform made outside the project's roles,
  nothing altered, and (offline) the same lines from psql;
* the platform's roles are as the platform left them, the deploy login is still no
  superuser, the migration reached head, the extension is the owner's, and the catalog
  equals the declared build's (tests/test_migrations.py's normalised snapshot);
* the passwords the deploy login gives the service logins let them in;
* an unsafe attribute the deploy login may not fix stops ``migrate`` with one line
  naming the statement a platform admin must run; after the admin runs it, it goes
  through; ``btree_gist`` already enabled elsewhere stops it with one line too;
* README "What to check afterwards" returns no row on every build, and names planted
  problems.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tessera_db import catalog, migrations
from tessera_db.cluster import Cluster
from tests.supabase_platform import (
    DATABASE,
    DEPLOY_LOGIN,
    SERVICE_LOGINS,
    Deployment,
    migrate_online,
    on_every_build,
)
from tests.test_cli import head_revision
from tests.test_migrations import assert_same_catalog, snapshot_of

README = Path(__file__).resolve().parents[1] / "README.md"

pytest_generate_tests = on_every_build  # the README check runs on every build

ROLE_LINES = [
    "created role tessera_owner",
    "created role tessera_proxy",
    "created role tessera_settlement",
    "created role tessera_sealer",
    f"granted tessera_owner to {DEPLOY_LOGIN} (the deploy login, to run migrations as it)",
]
WARNING_LINES = [
    f"role {member} is a member of {role}, a role tessera-db does not manage: left in place and not"
    " checked; revoke it unless the platform needs it"
    for member, role in (("authenticator", "supabase_admin (a superuser)"), ("service_role", "pgsodium_keyholder"))
]


def roles(conn: psycopg.Connection[Any], *names: str) -> dict[str, tuple[Any, ...]]:
    """rolname -> (super, inherit, login, bypassrls, createrole, replication)."""
    rows = conn.execute(
        "SELECT rolname, rolsuper, rolinherit, rolcanlogin, rolbypassrls, rolcreaterole, rolreplication"
        "  FROM pg_roles WHERE rolname = ANY(%s)", (list(names),)).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def memberships(conn: psycopg.Connection[Any], member: str) -> set[str]:
    rows = conn.execute("SELECT m.roleid::regrole::text FROM pg_auth_members m"
                        " WHERE m.member = %s::regrole", (member,)).fetchall()
    return {r[0] for r in rows}


def one_error_line(proc: Any) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return str(lines[0])


# --------------------------------------------------------------------------- the deployment


def test_migrate_reports_what_it_did_to_roles(supabase: Deployment) -> None:
    if supabase.path == "online":
        *done, last = supabase.stdout.splitlines()
        assert done == [f"roles: {line}" for line in ROLE_LINES]
        assert last == f"migrated to {head_revision()}"
        assert supabase.stderr.splitlines() == [f"warning: {line}" for line in WARNING_LINES]
    else:  # psql prefixes each server message with "psql:FILE:LINE: SEVERITY:  "
        said = re.findall(r"^psql:[^:]+:\d+: (NOTICE|WARNING):  (.*)$", supabase.stderr, re.MULTILINE)
        role_notices = [m for s, m in said if s == "NOTICE" and m.startswith(("created", "altered", "granted",
                                                                              "revoked"))]
        assert role_notices == ROLE_LINES
        assert [m for s, m in said if s == "WARNING"] == WARNING_LINES
    assert "altered role" not in supabase.stdout + supabase.stderr


def test_the_platform_roles_are_as_the_platform_left_them(supabase: Deployment) -> None:
    with supabase.admin() as conn:
        assert roles(conn, "anon", "authenticated", "service_role", "authenticator", DEPLOY_LOGIN) == {
            "anon": (False, False, False, False, False, False),
            "authenticated": (False, False, False, False, False, False),
            "service_role": (False, False, False, True, False, False),
            "authenticator": (False, False, True, False, False, False),
            DEPLOY_LOGIN: (False, True, True, True, True, True),  # never a superuser
        }
        described = conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)"
                                 " AND shobj_description(oid, 'pg_authid') IS NOT NULL",
                                 (["anon", "authenticated", "service_role", "authenticator"],)).fetchone()
        assert described == (0,)  # not even a comment added to the platform's roles
        assert memberships(conn, "authenticator") == {"anon", "authenticated", "service_role", "supabase_admin"}
        assert memberships(conn, "service_role") == {"pgsodium_keyholder"}
        assert memberships(conn, DEPLOY_LOGIN) == {"anon", "authenticated", "service_role", "pg_read_all_data",
                                                   "pg_signal_backend", "tessera_owner"}


def test_the_migration_reached_head_and_the_owner_owns_the_extension(supabase: Deployment) -> None:
    assert migrations.current(supabase.deploy_dsn()) == head_revision()
    with supabase.admin() as conn:
        ext = conn.execute("SELECT extnamespace::regnamespace::text, pg_get_userbyid(extowner)"
                           "  FROM pg_extension WHERE extname = 'btree_gist'").fetchone()
        assert ext == ("tessera_ext", "tessera_owner")
        grants = conn.execute(
            "SELECT r, has_database_privilege(r, current_database(), 'CONNECT'),"
            "       has_database_privilege(r, current_database(), 'CREATE')"
            "  FROM unnest(%s::text[]) AS r ORDER BY r",
            (["tessera_owner", "authenticator", *SERVICE_LOGINS],)).fetchall()
        assert {r: (connect, create) for r, connect, create in grants} == {
            "authenticator": (True, False), "tessera_owner": (True, True),
            **{login: (True, False) for login in SERVICE_LOGINS}}


def test_each_deployment_builds_the_declared_database(supabase: Deployment, dsn: str) -> None:
    """The normalised catalog (relations, policies, ACLs, definer flags, function bodies,
    default privileges, ...) equals the declared build's: deploying as the
    non-superuser login left nothing out and the platform's defaults added nothing."""
    with supabase.admin() as conn:
        deployed = catalog.snapshot(conn)
    # The platform's own extensions (uuid-ossp, pgcrypto in schema extensions) are not the project's.
    deployed["extensions"] = [e for e in deployed["extensions"] if e[1] != "extensions"]
    assert_same_catalog(deployed, snapshot_of(dsn))


@pytest.mark.parametrize("login", [*SERVICE_LOGINS, "authenticator"])
def test_logins_connect_with_the_passwords_they_were_given(supabase: Deployment, login: str) -> None:
    with psycopg.connect(**supabase.cluster.conninfo(login, DATABASE)) as conn:  # type: ignore[arg-type]
        assert conn.execute("SELECT current_user").fetchone() == (login,)


# --------------------------------------------------------------------------- stops


def _set_role_attribute(cluster: Cluster, statement: str) -> None:
    with psycopg.connect(**cluster.conninfo(dbname=DATABASE), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(statement)


def test_an_unsafe_attribute_stops_migrate_with_the_admin_statement(supabase_online: Deployment) -> None:
    deployment = supabase_online
    _set_role_attribute(deployment.cluster, "ALTER ROLE anon REPLICATION")
    try:
        line = one_error_line(migrate_online(deployment.deploy_dsn()))
        assert line == (
            "error: role anon has REPLICATION; the deploy login postgres may not change this (must be"
            " superuser to alter replication roles or change replication attribute); a platform admin"
            " must run: ALTER ROLE anon NOREPLICATION; [42501]")
        admin_runs = line.split("a platform admin must run: ")[1].removesuffix(" [42501]")
        _set_role_attribute(deployment.cluster, admin_runs)
        again = migrate_online(deployment.deploy_dsn())
        assert again.returncode == 0, again.stderr
        assert again.stdout == f"migrated to {head_revision()}\n"
    finally:
        _set_role_attribute(deployment.cluster, "ALTER ROLE anon NOREPLICATION")


def test_btree_gist_enabled_elsewhere_stops_migrate(supabase_online: Deployment) -> None:
    deployment = supabase_online
    with deployment.admin("template1") as admin:
        admin.execute("CREATE DATABASE tessera_sb_btree OWNER postgres")
    try:
        with deployment.admin("tessera_sb_btree") as conn:
            conn.execute("CREATE SCHEMA extensions")
            conn.execute("CREATE EXTENSION btree_gist WITH SCHEMA extensions")
        line = one_error_line(migrate_online(deployment.deploy_dsn("tessera_sb_btree")))
        assert line == 'error: extension "btree_gist" already exists [42710]'
    finally:
        with deployment.admin("template1") as admin:
            admin.execute("DROP DATABASE IF EXISTS tessera_sb_btree WITH (FORCE)")


# --------------------------------------------------------------------------- README check


def readme_deploy_check() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- deploy-check:[^>]*-->\n```sql\n(.*?)```", text, re.DOTALL)
    assert found, "README: the deploy-check block is missing"
    return found.group(1)


def deploy_check(conn: psycopg.Connection[Any]) -> list[str]:
    """README's check, as the deploy login (``postgres`` on every build)."""
    conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(DEPLOY_LOGIN)))
    problems = [r[0] for r in conn.execute(readme_deploy_check()).fetchall()]
    conn.execute("RESET ROLE")
    return problems


def test_the_readme_deploy_check_finds_nothing(conn: psycopg.Connection[Any]) -> None:
    assert deploy_check(conn) == []


def test_the_readme_deploy_check_names_planted_problems(conn: psycopg.Connection[Any]) -> None:
    conn.execute("GRANT USAGE ON SCHEMA tessera_ext TO anon")
    conn.execute("ALTER TABLE tessera.clients NO FORCE ROW LEVEL SECURITY")
    conn.execute("ALTER ROLE tessera_proxy NOLOGIN")
    conn.execute("ALTER ROLE authenticated BYPASSRLS")
    assert sorted(deploy_check(conn)) == sorted([
        "role anon may use schema tessera_ext",
        "table tessera.clients does not force row-level security",
        "role tessera_proxy has NOLOGIN",
        "role authenticated has BYPASSRLS",
    ])

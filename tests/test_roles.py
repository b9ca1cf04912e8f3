"""Role bootstrap (roles/roles.sql) and what the authenticator login may become.

The bootstrap is run as the cluster superuser and, switched with SET ROLE to a login
with CREATEROLE but not SUPERUSER, as a platform's deploy login (Supabase's postgres):
that login fixes what it may, stops with one message naming the statements a platform
admin must run for what it may not, and each change is reported as one NOTICE line.

Roles are cluster-wide and shared by every test database, so any test that changes a
role does it inside a transaction that is always rolled back, and then checks from a
new connection that the role is back as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tessera_db.errors import PermissionDenied, translate_errors
from tessera_db.migrations import collecting_notes
from tessera_db.paths import sql_root

ROLES_SQL = sql_root() / "roles" / "roles.sql"

# rolname: (login, bypassrls, inherit); every role is also NOSUPERUSER NOCREATEDB
# NOCREATEROLE NOREPLICATION.
EXPECTED = {
    "tessera_owner": (False, False, True),
    "anon": (False, False, True),
    "authenticated": (False, False, True),
    "service_role": (False, True, True),
    "tessera_proxy": (True, False, True),
    "tessera_settlement": (True, False, True),
    "tessera_sealer": (True, False, True),
    "authenticator": (True, False, False),
}
PROJECT_ROLES = set(EXPECTED)
API_ROLES = {"anon", "authenticated", "service_role"}


def roles_sql() -> str:
    return ROLES_SQL.read_text(encoding="utf-8")


def run_roles(conn: psycopg.Connection[Any]) -> tuple[list[str], list[str]]:
    """Run the bootstrap on ``conn``: (its NOTICE lines, its WARNING lines)."""
    with collecting_notes(conn) as notes:
        conn.execute(roles_sql())
    return ([n.message for n in notes if not n.is_warning], [n.message for n in notes if n.is_warning])


def attributes(conn: psycopg.Connection[Any]) -> dict[str, tuple[Any, ...]]:
    """rolname -> (super, login, bypassrls, inherit, createrole, createdb, replication)."""
    rows = conn.execute(
        "SELECT rolname, rolsuper, rolcanlogin, rolbypassrls, rolinherit, rolcreaterole,"
        "       rolcreatedb, rolreplication"
        "  FROM pg_roles WHERE rolname = ANY(%s)",
        (sorted(PROJECT_ROLES),),
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def expected_attributes() -> dict[str, tuple[Any, ...]]:
    return {
        name: (False, login, bypass, inherit, False, False, False)
        for name, (login, bypass, inherit) in EXPECTED.items()
    }


def member_of(conn: psycopg.Connection[Any], role: str) -> set[str]:
    """The roles ``role`` is a direct member of."""
    rows = conn.execute(
        "SELECT g.rolname FROM pg_auth_members m"
        "  JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member"
        " WHERE u.rolname = %s",
        (role,),
    ).fetchall()
    return {r[0] for r in rows}


def catalog_state(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    comments = conn.execute(
        "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles"
        " WHERE rolname = ANY(%s) ORDER BY rolname",
        (sorted(PROJECT_ROLES),),
    ).fetchall()
    members = {role: member_of(conn, role) for role in sorted(PROJECT_ROLES)}
    return attributes(conn), members, comments


@pytest.fixture
def txn(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A superuser connection in one transaction that is always rolled back; afterwards
    the roles must be exactly as the bootstrap leaves them."""
    conn = psycopg.connect(dsn, autocommit=False)
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()
        with psycopg.connect(dsn, autocommit=True) as check:
            assert attributes(check) == expected_attributes(), "a role was left modified"
            assert member_of(check, "authenticator") == API_ROLES


# -- the bootstrap ---------------------------------------------------------------------------


def test_bootstrap_runs_twice_without_changing_anything(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        before = catalog_state(conn)
        conn.execute(roles_sql())
        conn.execute(roles_sql())
        assert catalog_state(conn) == before


def test_roles_have_the_expected_attributes(postgresql: psycopg.Connection[Any]) -> None:
    assert attributes(postgresql) == expected_attributes()
    comments = dict(catalog_state(postgresql)[2])
    assert all(comments[name] for name in PROJECT_ROLES), comments


def test_memberships(postgresql: psycopg.Connection[Any]) -> None:
    assert member_of(postgresql, "authenticator") == API_ROLES
    rows = postgresql.execute(
        "SELECT g.rolname, m.admin_option FROM pg_auth_members m"
        "  JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member"
        " WHERE u.rolname = 'authenticator'"
    ).fetchall()
    assert not any(admin for _, admin in rows)  # cannot grant the API roles onwards
    for role in PROJECT_ROLES - {"authenticator"}:
        assert member_of(postgresql, role) & PROJECT_ROLES == set(), role
    for worker in ("tessera_proxy", "tessera_settlement", "tessera_sealer"):
        assert member_of(postgresql, worker) == set(), worker
    # Nothing of the project can become the owner.
    owners = postgresql.execute(
        "SELECT u.rolname FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member"
        " WHERE m.roleid = 'tessera_owner'::regrole"
    ).fetchall()
    assert {r[0] for r in owners} & PROJECT_ROLES == set()


def test_wrong_attributes_are_corrected(txn: psycopg.Connection[Any]) -> None:
    txn.execute("ALTER ROLE anon LOGIN BYPASSRLS CREATEDB CREATEROLE")
    txn.execute("ALTER ROLE service_role NOBYPASSRLS")
    txn.execute("ALTER ROLE authenticator INHERIT CREATEDB")
    txn.execute("ALTER ROLE tessera_proxy NOLOGIN")
    txn.execute("REVOKE service_role FROM authenticator")
    broken = attributes(txn)
    assert broken["anon"][1] is True and broken["service_role"][2] is False
    assert member_of(txn, "authenticator") == API_ROLES - {"service_role"}

    done, warnings = run_roles(txn)
    assert attributes(txn) == expected_attributes()
    assert member_of(txn, "authenticator") == API_ROLES
    # One line per attribute changed, naming it.
    assert done == [
        "altered role anon: CREATEROLE -> NOCREATEROLE",
        "altered role anon: CREATEDB -> NOCREATEDB",
        "altered role anon: LOGIN -> NOLOGIN",
        "altered role anon: BYPASSRLS -> NOBYPASSRLS",
        "altered role service_role: NOBYPASSRLS -> BYPASSRLS",
        "altered role tessera_proxy: NOLOGIN -> LOGIN",
        "altered role authenticator: CREATEDB -> NOCREATEDB",
        "altered role authenticator: INHERIT -> NOINHERIT",
        "granted service_role to authenticator",
    ]
    assert warnings == []


def test_replication_and_stray_memberships_are_removed(txn: psycopg.Connection[Any]) -> None:
    # A replication login streams the whole database past every policy; a stray
    # membership (owner to the API login, pg_read_all_data to a worker) widens a role.
    txn.execute("ALTER ROLE tessera_proxy REPLICATION")
    txn.execute("GRANT tessera_owner TO authenticator")
    txn.execute("GRANT pg_read_all_data TO tessera_settlement")
    txn.execute("GRANT service_role TO anon")
    assert attributes(txn)["tessera_proxy"][6] is True
    done, _ = run_roles(txn)
    assert attributes(txn) == expected_attributes()
    assert member_of(txn, "authenticator") == API_ROLES
    assert member_of(txn, "tessera_settlement") == set()
    assert member_of(txn, "anon") == set()
    assert done == [
        "altered role tessera_proxy: REPLICATION -> NOREPLICATION",
        "revoked membership of anon in service_role",
        "revoked membership of authenticator in tessera_owner",
        "revoked membership of tessera_settlement in pg_read_all_data",
    ]


def test_missing_role_is_created(txn: psycopg.Connection[Any]) -> None:
    # Renaming inside the rolled-back transaction stands in for "role does not exist".
    txn.execute("ALTER ROLE tessera_settlement RENAME TO tessera_settlement_away")
    assert "tessera_settlement" not in attributes(txn)
    assert run_roles(txn) == (["created role tessera_settlement"], [])
    assert attributes(txn)["tessera_settlement"] == expected_attributes()["tessera_settlement"]


@pytest.mark.parametrize("role", ["anon", "tessera_owner", "authenticator", "service_role"])
def test_role_existing_as_superuser_is_refused(txn: psycopg.Connection[Any], role: str) -> None:
    txn.execute(sql.SQL("ALTER ROLE {} SUPERUSER").format(sql.Identifier(role)))
    with pytest.raises(PermissionDenied) as info, translate_errors():
        txn.execute(roles_sql())
    assert info.value.sqlstate == "42501"
    assert role in info.value.message and "superuser" in info.value.message
    assert f"a platform admin must run: ALTER ROLE {role} NOSUPERUSER;" in info.value.message
    assert isinstance(info.value.__cause__, psycopg.errors.InsufficientPrivilege)


@pytest.mark.parametrize("role", sorted(API_ROLES))
def test_noinherit_api_roles_are_accepted(txn: psycopg.Connection[Any], role: str) -> None:
    """Supabase creates anon, authenticated and service_role NOINHERIT: members of
    nothing, so it changes nothing; the bootstrap leaves it (and says nothing)."""
    txn.execute(sql.SQL("ALTER ROLE {} NOINHERIT").format(sql.Identifier(role)))
    assert run_roles(txn) == ([], [])
    assert attributes(txn)[role][3] is False


def test_platform_memberships_are_reported_not_revoked(txn: psycopg.Connection[Any]) -> None:
    """A membership in a role outside the project (Supabase's init scripts gave the
    authenticator its admin role; service_role gets pgsodium_keyholder) is the
    platform's: one WARNING each, and it stays."""
    txn.execute("CREATE ROLE platform_admin SUPERUSER NOLOGIN")
    txn.execute("CREATE ROLE platform_keyholder NOLOGIN")
    txn.execute("GRANT platform_admin TO authenticator")
    txn.execute("GRANT platform_keyholder TO service_role")
    done, warnings = run_roles(txn)
    assert done == []
    assert warnings == [
        "role authenticator is a member of platform_admin (a superuser), a role tessera-db does not manage:"
        " left in place and not checked; revoke it unless the platform needs it",
        "role service_role is a member of platform_keyholder, a role tessera-db does not manage:"
        " left in place and not checked; revoke it unless the platform needs it",
    ]
    assert member_of(txn, "authenticator") == API_ROLES | {"platform_admin"}
    assert member_of(txn, "service_role") == {"platform_keyholder"}


# -- as a deploy login that is not a superuser (Supabase's postgres) ----------------------


@pytest.fixture
def deploy_login(txn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """The rolled-back transaction, switched to a login with CREATEROLE but not
    SUPERUSER, as Supabase gives a project: privilege checks now see that login."""
    txn.execute("CREATE ROLE tessera_test_deployer LOGIN CREATEROLE CREATEDB NOSUPERUSER")
    txn.execute("SET ROLE tessera_test_deployer")
    return txn


def test_deploy_login_bootstraps_supabase_style_roles(deploy_login: psycopg.Connection[Any]) -> None:
    """The issue's failure: NOINHERIT API roles made the old bootstrap send
    ALTER ROLE ... NOREPLICATION BYPASSRLS, which only a superuser may run."""
    deploy_login.execute("RESET ROLE")
    deploy_login.execute("ALTER ROLE anon NOINHERIT")
    deploy_login.execute("ALTER ROLE authenticated NOINHERIT")
    deploy_login.execute("ALTER ROLE service_role NOINHERIT")
    deploy_login.execute("ALTER ROLE tessera_proxy NOLOGIN CREATEDB")
    deploy_login.execute("SET ROLE tessera_test_deployer")
    done, warnings = run_roles(deploy_login)
    assert done == [
        "altered role tessera_proxy: CREATEDB -> NOCREATEDB",
        "altered role tessera_proxy: NOLOGIN -> LOGIN",
        "granted tessera_owner to tessera_test_deployer (the deploy login, to run migrations as it)",
    ]
    assert warnings == []
    assert member_of(deploy_login, "tessera_test_deployer") == {"tessera_owner"}
    assert attributes(deploy_login)["service_role"] == (False, False, True, False, False, False, False)


@pytest.mark.parametrize(("role", "unsafe", "admin_runs"), [
    ("anon", "REPLICATION", "ALTER ROLE anon NOREPLICATION;"),
    ("authenticated", "BYPASSRLS", "ALTER ROLE authenticated NOBYPASSRLS;"),
    ("tessera_sealer", "REPLICATION", "ALTER ROLE tessera_sealer NOREPLICATION;"),
    ("service_role", "NOBYPASSRLS", "ALTER ROLE service_role BYPASSRLS;"),  # not unsafe, but needed
])
def test_deploy_login_stops_on_what_only_a_superuser_can_fix(
        deploy_login: psycopg.Connection[Any], role: str, unsafe: str, admin_runs: str) -> None:
    deploy_login.execute("RESET ROLE")
    deploy_login.execute(sql.SQL("ALTER ROLE {} " + unsafe).format(sql.Identifier(role)))
    deploy_login.execute("ALTER ROLE tessera_proxy NOLOGIN")  # fixable, but nothing may change
    deploy_login.execute("SET ROLE tessera_test_deployer")
    deploy_login.execute("SAVEPOINT bootstrap")
    with pytest.raises(PermissionDenied) as info, translate_errors():
        deploy_login.execute(roles_sql())
    deploy_login.execute("ROLLBACK TO SAVEPOINT bootstrap")
    message = info.value.message
    assert message.startswith(f"role {role} has {unsafe}; the deploy login tessera_test_deployer may not change this (")
    assert message.endswith(f"a platform admin must run: {admin_runs}")
    assert "\n" not in message
    assert attributes(deploy_login)["tessera_proxy"][1] is False  # the whole bootstrap rolled back


def test_deploy_login_lists_every_statement_it_may_not_run(deploy_login: psycopg.Connection[Any]) -> None:
    deploy_login.execute("RESET ROLE")
    deploy_login.execute("ALTER ROLE anon REPLICATION LOGIN")
    deploy_login.execute("ALTER ROLE service_role RENAME TO service_role_away")
    deploy_login.execute("SET ROLE tessera_test_deployer")
    with pytest.raises(PermissionDenied) as info, translate_errors():
        deploy_login.execute(roles_sql())
    assert info.value.message.endswith(
        "a platform admin must run: ALTER ROLE anon NOREPLICATION; ALTER ROLE anon NOLOGIN;"
        " CREATE ROLE service_role NOLOGIN BYPASSRLS INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;"
        " GRANT service_role TO authenticator;")
    assert info.value.message.startswith(
        "role anon has REPLICATION; role anon has LOGIN; role service_role does not exist; the deploy login")


# -- what the authenticator can become ----------------------------------------------------------


@pytest.fixture
def authenticator(app_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(app_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("authenticator",)
        yield conn


@pytest.mark.parametrize("role", sorted(API_ROLES))
def test_authenticator_can_switch_to_api_roles(authenticator: psycopg.Connection[Any], role: str) -> None:
    authenticator.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    assert authenticator.execute("SELECT current_user").fetchone() == (role,)
    authenticator.execute("RESET ROLE")
    with authenticator.transaction():
        authenticator.execute("SELECT set_config('role', %s, true)", (role,))
        assert authenticator.execute("SELECT current_user").fetchone() == (role,)


@pytest.mark.parametrize("role", ["tessera_owner", "tessera_proxy", "tessera_settlement", "tessera_sealer",
                                  "postgres"])
def test_authenticator_cannot_switch_to_other_roles(authenticator: psycopg.Connection[Any], role: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        authenticator.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    with pytest.raises(psycopg.errors.InsufficientPrivilege), authenticator.transaction():
        authenticator.execute("SELECT set_config('role', %s, true)", (role,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        authenticator.execute(sql.SQL("SET SESSION AUTHORIZATION {}").format(sql.Identifier(role)))
    assert authenticator.execute("SELECT current_user").fetchone() == ("authenticator",)


def test_authenticator_holds_no_privileges_of_its_own(authenticator: psycopg.Connection[Any]) -> None:
    # NOINHERIT: membership in service_role gives nothing until SET ROLE.
    for table in ("clients", "workloads", "operators", "client_users"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            authenticator.execute(sql.SQL("SELECT 1 FROM {}").format(sql.Identifier("tessera", table)))

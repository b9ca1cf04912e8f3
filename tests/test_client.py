"""tessera_db.Database: identity-scoped transactions on a pooled authenticator login.

Each ``with db.as_...()`` block must see exactly what its identity may see, leave
nothing behind on the pooled connection (role, claims), and turn database errors into
typed TesseraErrors that keep the SQLSTATE and constraint.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tessera_db import demo
from tessera_db.db import Database
from tessera_db.errors import (
    CONSTRAINT_MESSAGES,
    DatabaseUnavailable,
    InvalidInput,
    NotFound,
    PermissionDenied,
)

ACME = "a0000000-0000-4000-8000-000000000001"
GLOBEX = "b0000000-0000-4000-8000-000000000002"
INITECH = "c0000000-0000-4000-8000-000000000003"
ALL_CLIENTS = {ACME, GLOBEX, INITECH}
OPERATOR = "ops@tessera.example"


@pytest.fixture
def demo_db(db: Database) -> Database:
    demo.load(db)
    return db


@pytest.fixture
def single(app_dsn: str) -> Iterator[Database]:
    """A pool of exactly one connection: every block reuses the same backend."""
    database = Database(app_dsn, min_size=1, max_size=1)
    try:
        demo.load(database)
        yield database
    finally:
        database.close()


def client_ids(conn: psycopg.Connection[Any]) -> set[str]:
    return {str(r[0]) for r in conn.execute("SELECT client_id FROM tessera.clients").fetchall()}


def raw_state(db: Database) -> tuple[int, str, str, str]:
    """The pooled connection as the next borrower gets it, outside any identity block:
    (backend pid, current_user, session_user, request.jwt.claims)."""
    with db.pool.connection() as conn:
        row = conn.execute(
            "SELECT pg_backend_pid(), current_user, session_user,"
            " coalesce(current_setting('request.jwt.claims', true), '')"
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1]), str(row[2]), str(row[3])


def assert_clean(db: Database, pid: int) -> None:
    """Same backend as before (reused, not replaced), back to authenticator, no claims."""
    assert raw_state(db) == (pid, "authenticator", "authenticator", "")


# -- who sees what ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("alice@acme.example", {ACME}),
        ("bob@globex.example", {GLOBEX}),
        ("carol@acme.example", {ACME, GLOBEX}),
        ("ALICE@Acme.Example", {ACME}),  # claims are compared lower-cased
        ("nobody@nowhere.example", set()),
    ],
)
def test_sponsor_sees_own_clients_only(demo_db: Database, email: str, expected: set[str]) -> None:
    with demo_db.as_sponsor(email) as conn:
        assert client_ids(conn) == expected
        workload_clients = {
            str(r[0]) for r in conn.execute("SELECT client_id FROM tessera.workloads").fetchall()
        }
        assert workload_clients == expected
        # Sponsors never see the staff list.
        assert conn.execute("SELECT count(*) FROM tessera.operators").fetchone() == (0,)


def test_operator_sees_all(demo_db: Database) -> None:
    with demo_db.as_operator(OPERATOR) as conn:
        assert client_ids(conn) == ALL_CLIENTS
        assert conn.execute("SELECT count(*) FROM tessera.workloads").fetchone() == (5,)  # issue 15 added Acme's "triage"
        assert conn.execute("SELECT count(*) FROM tessera.client_users").fetchone() == (4,)
        assert conn.execute("SELECT email FROM tessera.operators").fetchall() == [(OPERATOR,)]


def test_operator_status_comes_from_the_table_not_the_method(demo_db: Database) -> None:
    # as_operator with an unlisted email is just a stranger.
    with demo_db.as_operator("intruder@tessera.example") as conn:
        assert client_ids(conn) == set()


def test_anon_is_denied_on_tables(demo_db: Database) -> None:
    for table in ("clients", "workloads", "operators", "client_users"):
        with pytest.raises(PermissionDenied) as info, demo_db.as_anon() as conn:
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("tessera", table)))
        assert info.value.sqlstate == "42501"


def test_service_sees_all_and_names_the_job(demo_db: Database) -> None:
    with demo_db.as_service("nightly-sweep") as conn:
        assert client_ids(conn) == ALL_CLIENTS
        assert conn.execute("SELECT count(*) FROM tessera.workloads").fetchone() == (5,)  # issue 15 added Acme's "triage"
        assert conn.execute("SELECT current_user").fetchone() == ("service_role",)
        claims = conn.execute("SELECT current_setting('request.jwt.claims')").fetchone()
        assert claims is not None
        assert json.loads(claims[0]) == {"role": "service_role", "sub": "nightly-sweep"}


def test_unknown_api_role_is_refused(db: Database) -> None:
    for role in ("tessera_owner", "postgres", "authenticator"):
        with pytest.raises(ValueError):
            with db.as_identity(role, {}):
                pass


# -- nothing leaks on a pooled connection ----------------------------------------------


def test_sponsor_then_anon_on_the_same_connection_leaks_nothing(single: Database) -> None:
    pid, user, session, claims = raw_state(single)
    assert (user, session, claims) == ("authenticator", "authenticator", "")

    with single.as_sponsor("alice@acme.example") as conn:
        row = conn.execute(
            "SELECT pg_backend_pid(), current_user, current_setting('request.jwt.claims')"
        ).fetchone()
        assert row is not None
        assert (row[0], row[1]) == (pid, "authenticated")
        assert json.loads(row[2])["email"] == "alice@acme.example"
        assert client_ids(conn) == {ACME}
    assert_clean(single, pid)

    with single.as_anon() as conn:
        row = conn.execute(
            "SELECT pg_backend_pid(), current_user, current_setting('request.jwt.claims')"
        ).fetchone()
        assert row is not None
        assert (row[0], row[1]) == (pid, "anon")
        assert json.loads(row[2]) == {"role": "anon"}
        for table in ("clients", "workloads", "client_users"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(sql.SQL("SELECT 1 FROM {}").format(sql.Identifier("tessera", table)))
        # Nor can anon reach the identity helpers that read the sponsor's rows.
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("SELECT tessera_private.sponsor_client_ids()")
    assert_clean(single, pid)

    # And a stranger after alice sees no client (RLS answer, not an error).
    with single.as_sponsor("stranger@nowhere.example") as conn:
        assert conn.execute("SELECT pg_backend_pid()").fetchone() == (pid,)
        assert client_ids(conn) == set()
    assert_clean(single, pid)


def test_exception_inside_block_rolls_back_and_leaves_connection_clean(single: Database) -> None:
    pid = raw_state(single)[0]
    new_client = str(uuid.uuid4())

    class Boom(Exception):
        pass

    # A write followed by an application exception: rolled back, connection reused clean.
    with pytest.raises(Boom), single.as_service("writer") as conn:
        conn.execute(
            "INSERT INTO tessera.clients (client_id, name) VALUES (%s, 'Half Written')", (new_client,)
        )
        assert conn.execute("SELECT pg_backend_pid()").fetchone() == (pid,)
        raise Boom
    assert_clean(single, pid)

    # A database error inside a sponsor block: typed, rolled back, clean.
    with pytest.raises(PermissionDenied), single.as_sponsor("alice@acme.example") as conn:
        conn.execute("INSERT INTO tessera.clients (name) VALUES ('Sneaky')")
    assert_clean(single, pid)

    with single.as_service() as conn:
        assert conn.execute(
            "SELECT count(*) FROM tessera.clients WHERE client_id = %s OR name = 'Sneaky'", (new_client,)
        ).fetchone() == (0,)
    with single.as_anon() as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("anon",)
    assert_clean(single, pid)


def test_session_level_setting_made_inside_a_block_never_reaches_the_next_borrower(
    single: Database,
) -> None:
    """Second line of defence: the pool's reset hook. If code inside a block changes the
    role or claims for the whole session, the connection is discarded, not reused."""
    pid = raw_state(single)[0]
    with single.as_sponsor("alice@acme.example") as conn:
        conn.execute(
            "SELECT set_config('request.jwt.claims', %s, false)",
            (json.dumps({"email": "alice@acme.example"}),),
        )
        conn.execute("SET SESSION ROLE authenticated")
    new_pid, user, session, claims = raw_state(single)
    assert (user, session, claims) == ("authenticator", "authenticator", "")
    assert new_pid != pid  # the dirty backend was closed, a fresh one took its place


# -- typed errors ---------------------------------------------------------------------------


def test_constraint_error_inside_block_is_typed_with_sqlstate_and_constraint(demo_db: Database) -> None:
    with pytest.raises(InvalidInput) as info, demo_db.as_operator(OPERATOR) as conn:
        conn.execute("INSERT INTO tessera.clients (name) VALUES ('   ')")
    err = info.value
    assert (err.sqlstate, err.constraint, err.table) == ("23514", "clients_name_not_blank", "clients")
    assert err.message == CONSTRAINT_MESSAGES["clients_name_not_blank"]
    assert isinstance(err.__cause__, psycopg.errors.CheckViolation)


def test_rls_and_function_errors_inside_block_are_typed(demo_db: Database) -> None:
    with pytest.raises(PermissionDenied) as denied, demo_db.as_sponsor("alice@acme.example") as conn:
        conn.execute("SELECT tessera.set_kill_switch(%s, true)", (GLOBEX,))
    assert denied.value.sqlstate == "42501"
    assert isinstance(denied.value.__cause__, psycopg.errors.InsufficientPrivilege)

    with pytest.raises(NotFound) as missing, demo_db.as_operator(OPERATOR) as conn:
        conn.execute("SELECT tessera.set_kill_switch(%s, true)", (str(uuid.uuid4()),))
    assert missing.value.sqlstate == "P0002"


def test_non_database_exceptions_pass_through_unchanged(db: Database) -> None:
    with pytest.raises(KeyError), db.as_anon():
        raise KeyError("not a database problem")


def test_unreachable_database_is_typed() -> None:
    with pytest.raises(DatabaseUnavailable):
        Database("host=127.0.0.1 port=1 user=nobody dbname=nothing connect_timeout=1", timeout=1.0)

"""Bad input gets a typed error and writes nothing; from_psycopg maps SQLSTATEs.

The database tests go through tessera_db.Database (as_operator / as_sponsor /
as_service) on the demo data, and compare a snapshot of every tessera table before and
after each failure: not a single row may change.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import psycopg_pool
import pytest
import sqlalchemy.exc
from psycopg import errors as pe
from psycopg import sql

from tessera_db import demo
from tessera_db.db import Database
from tessera_db.errors import (
    CONSTRAINT_MESSAGES,
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TesseraError,
    from_psycopg,
    translate_errors,
)

ACME = "a0000000-0000-4000-8000-000000000001"
GLOBEX = "b0000000-0000-4000-8000-000000000002"
OPERATOR = "ops@tessera.example"
ALICE = "alice@acme.example"
TABLES = ("clients", "workloads", "operators", "client_users")


@pytest.fixture
def demo_db(db: Database) -> Database:
    demo.load(db)
    return db


def snapshot(db: Database) -> dict[str, list[str]]:
    """Every row of every tessera table (as service_role, which bypasses RLS)."""
    result: dict[str, list[str]] = {}
    with db.as_service("test-snapshot") as conn:
        for table in TABLES:
            query = sql.SQL("SELECT to_jsonb(t)::text AS r FROM {} AS t ORDER BY 1").format(
                sql.Identifier("tessera", table)
            )
            result[table] = [r[0] for r in conn.execute(query).fetchall()]
    assert sum(len(rows) for rows in result.values()) > 0
    return result


# (who, statement, params, error class, sqlstate, constraint or None, table or None)
BAD_INPUT: list[Any] = [
    pytest.param("operator", "INSERT INTO tessera.clients (name) VALUES (%s)", ("",),
                 InvalidInput, "23514", "clients_name_not_blank", "clients", id="empty-client-name"),
    pytest.param("operator", "INSERT INTO tessera.clients (name) VALUES (%s)", ("   ",),
                 InvalidInput, "23514", "clients_name_not_blank", "clients", id="blank-client-name"),
    pytest.param("operator", "INSERT INTO tessera.clients (name) VALUES (%s)", (" \t\n ",),
                 InvalidInput, "23514", "clients_name_not_blank", "clients", id="whitespace-client-name"),
    pytest.param("operator", "INSERT INTO tessera.workloads (client_id, name) VALUES (%s, %s)", (ACME, "\t"),
                 InvalidInput, "23514", "workloads_name_not_blank", "workloads", id="whitespace-workload-name"),
    pytest.param("service", "INSERT INTO tessera.clients (name) VALUES (%s)", ("x" * 201,),
                 InvalidInput, "23514", "clients_name_length", "clients", id="long-client-name"),
    pytest.param("operator", "INSERT INTO tessera.clients (name, plan_tier) VALUES ('Gold Co', %s)", ("gold",),
                 InvalidInput, "23514", "clients_plan_tier_known", "clients", id="unknown-plan-tier"),
    pytest.param("operator", "UPDATE tessera.clients SET plan_tier = %s WHERE client_id = %s", ("enterprise", ACME),
                 InvalidInput, "23514", "clients_plan_tier_known", "clients", id="update-to-unknown-tier"),
    pytest.param("operator", "INSERT INTO tessera.clients (name) VALUES (%s)", (None,),
                 InvalidInput, "23502", None, "clients", id="null-client-name"),
    pytest.param("operator", "INSERT INTO tessera.workloads (client_id, name) VALUES (%s, 'orphan')",
                 (str(uuid.uuid4()),),
                 InvalidInput, "23503", "workloads_client_id_fkey", "workloads", id="workload-unknown-client"),
    pytest.param("service", "INSERT INTO tessera.workloads (client_id, name) VALUES (%s, 'orphan')",
                 (str(uuid.uuid4()),),
                 InvalidInput, "23503", "workloads_client_id_fkey", "workloads", id="workload-unknown-client-service"),
    pytest.param("operator", "INSERT INTO tessera.operators (email) VALUES (%s)", ("not-an-email",),
                 InvalidInput, "23514", "operators_email_format", "operators", id="operator-email-format"),
    pytest.param("operator", "INSERT INTO tessera.operators (email) VALUES (%s)", ("two words@tessera.example",),
                 InvalidInput, "23514", "operators_email_format", "operators", id="operator-email-space"),
    pytest.param("operator", "INSERT INTO tessera.operators (email) VALUES (%s)", ("New.Op@Tessera.example",),
                 InvalidInput, "23514", "operators_email_lowercase", "operators", id="operator-email-uppercase"),
    pytest.param("operator", "INSERT INTO tessera.client_users (client_id, email) VALUES (%s, %s)", (ACME, "dave@"),
                 InvalidInput, "23514", "client_users_email_format", "client_users", id="sponsor-email-format"),
    pytest.param("operator", "INSERT INTO tessera.client_users (client_id, email) VALUES (%s, %s)",
                 (ACME, "Dave@Acme.example"),
                 InvalidInput, "23514", "client_users_email_lowercase", "client_users", id="sponsor-email-uppercase"),
    pytest.param("operator", "INSERT INTO tessera.client_users (client_id, email) VALUES (%s, %s)",
                 (str(uuid.uuid4()), "dave@acme.example"),
                 InvalidInput, "23503", "client_users_client_id_fkey", "client_users", id="sponsor-unknown-client"),
    pytest.param("operator", "INSERT INTO tessera.workloads (client_id, name) VALUES (%s, %s)", (ACME, "support-bot"),
                 Conflict, "23505", "workloads_client_name_key", "workloads", id="duplicate-workload-name"),
    pytest.param("operator", "INSERT INTO tessera.operators (email) VALUES (%s)", (OPERATOR,),
                 Conflict, "23505", "operators_email_key", "operators", id="duplicate-operator"),
    pytest.param("operator", "INSERT INTO tessera.client_users (client_id, email) VALUES (%s, %s)", (ACME, ALICE),
                 Conflict, "23505", "client_users_client_email_key", "client_users", id="duplicate-sponsor"),
    # Row-level security WITH CHECK: sponsors may not create clients or workloads.
    pytest.param("sponsor", "INSERT INTO tessera.clients (name) VALUES (%s)", ("Alice's Side Project",),
                 PermissionDenied, "42501", None, None, id="rls-sponsor-insert-client"),
    pytest.param("sponsor", "INSERT INTO tessera.workloads (client_id, name) VALUES (%s, 'mine')", (ACME,),
                 PermissionDenied, "42501", None, None, id="rls-sponsor-insert-workload"),
    pytest.param("sponsor", "INSERT INTO tessera.client_users (client_id, email) VALUES (%s, %s)",
                 (GLOBEX, ALICE),
                 PermissionDenied, "42501", None, None, id="rls-sponsor-adds-herself-to-globex"),
    # Sponsors change only mechanic_* flags (column guard).
    pytest.param("sponsor", "UPDATE tessera.workloads SET name = 'renamed' WHERE client_id = %s", (ACME,),
                 PermissionDenied, "42501", None, "workloads", id="sponsor-renames-workload"),
    # Portal settings: another client's kill switch, and the unknown-client cases.
    pytest.param("sponsor", "SELECT tessera.set_kill_switch(%s, true)", (GLOBEX,),
                 PermissionDenied, "42501", None, None, id="kill-switch-other-client"),
    pytest.param("sponsor", "SELECT tessera.set_kill_switch(%s, true)", (str(uuid.uuid4()),),
                 PermissionDenied, "42501", None, None, id="kill-switch-unknown-client-as-sponsor"),
    pytest.param("sponsor", "SELECT tessera.set_cross_customer_intelligence(%s, true)", (GLOBEX,),
                 PermissionDenied, "42501", None, None, id="cross-customer-other-client"),
    pytest.param("operator", "SELECT tessera.set_kill_switch(%s, true)", (str(uuid.uuid4()),),
                 NotFound, "P0002", None, None, id="kill-switch-unknown-client-as-operator"),
    pytest.param("operator", "SELECT tessera.set_kill_switch(%s, NULL)", (ACME,),
                 InvalidInput, "22004", None, None, id="kill-switch-null"),
    pytest.param("operator", "SELECT tessera.set_kill_switch(%s::uuid, true)", ("not-a-uuid",),
                 InvalidInput, "22P02", None, None, id="malformed-uuid"),
]


def _session(db: Database, who: str):  # type: ignore[no-untyped-def]
    if who == "operator":
        return db.as_operator(OPERATOR)
    if who == "sponsor":
        return db.as_sponsor(ALICE)
    assert who == "service"
    return db.as_service("test-errors")


@pytest.mark.parametrize(("who", "statement", "params", "cls", "sqlstate", "constraint", "table"), BAD_INPUT)
def test_bad_input_is_typed_and_writes_nothing(
    demo_db: Database, who: str, statement: str, params: tuple[Any, ...],
    cls: type[TesseraError], sqlstate: str, constraint: str | None, table: str | None,
) -> None:
    before = snapshot(demo_db)
    with pytest.raises(TesseraError) as info, _session(demo_db, who) as conn:
        conn.execute(statement, params)
    err = info.value
    assert type(err) is cls
    assert err.sqlstate == sqlstate
    assert err.constraint == constraint
    if table is not None:
        assert err.table == table
    if constraint in CONSTRAINT_MESSAGES:
        assert err.message == CONSTRAINT_MESSAGES[constraint]
    assert isinstance(err.__cause__, psycopg.Error)
    assert snapshot(demo_db) == before


def test_rls_with_check_refusal_keeps_postgres_message(demo_db: Database) -> None:
    with pytest.raises(PermissionDenied) as info, demo_db.as_sponsor(ALICE) as conn:
        conn.execute("INSERT INTO tessera.clients (name) VALUES ('Nope')")
    assert info.value.sqlstate == "42501"
    assert "row-level security" in info.value.message
    assert isinstance(info.value.__cause__, pe.InsufficientPrivilege)


def test_failure_after_a_successful_write_leaves_nothing_partial(demo_db: Database) -> None:
    before = snapshot(demo_db)
    with pytest.raises(InvalidInput) as info, demo_db.as_operator(OPERATOR) as conn:
        conn.execute("INSERT INTO tessera.clients (name) VALUES ('Half Done Ltd')")
        conn.execute("SELECT tessera.set_kill_switch(%s, true)", (ACME,))
        conn.execute(
            "INSERT INTO tessera.workloads (client_id, name) VALUES (%s, 'orphan')", (str(uuid.uuid4()),)
        )
    assert info.value.constraint == "workloads_client_id_fkey"
    assert snapshot(demo_db) == before


def test_valid_writes_do_land(demo_db: Database) -> None:
    """The counterpart of the cases above: the same identities can write good input."""
    before = snapshot(demo_db)
    with demo_db.as_operator(OPERATOR) as conn:
        conn.execute("INSERT INTO tessera.clients (name, plan_tier) VALUES ('Good Co', 'hobby')")
    with demo_db.as_sponsor(ALICE) as conn:
        assert conn.execute("SELECT tessera.set_kill_switch(%s, true)", (ACME,)).fetchone() == (True,)
    after = snapshot(demo_db)
    assert len(after["clients"]) == len(before["clients"]) + 1
    assert after["clients"] != before["clients"]


def test_unknown_sqlstate_from_the_server_maps_by_class(db: Database) -> None:
    raise_with = "DO $$ BEGIN RAISE EXCEPTION 'custom' USING ERRCODE = {}; END $$"
    with pytest.raises(TesseraError) as data, db.as_service() as conn:
        conn.execute(sql.SQL(raise_with).format(sql.Literal("22T01")))
    assert type(data.value) is InvalidInput and data.value.sqlstate == "22T01"

    with pytest.raises(TesseraError) as other, db.as_service() as conn:
        conn.execute(sql.SQL(raise_with).format(sql.Literal("T0001")))
    assert type(other.value) is TesseraError and other.value.sqlstate == "T0001"
    assert other.value.message == "custom"


# -- from_psycopg without a database -----------------------------------------------------


@pytest.mark.parametrize(
    ("exc_class", "expected"),
    [
        # exact SQLSTATEs
        (pe.InsufficientPrivilege, PermissionDenied),  # 42501
        (pe.NoDataFound, NotFound),  # P0002
        (pe.NoData, NotFound),  # 02000
        (pe.NotNullViolation, InvalidInput),  # 23502
        (pe.ForeignKeyViolation, InvalidInput),  # 23503
        (pe.CheckViolation, InvalidInput),  # 23514
        (pe.UniqueViolation, Conflict),  # 23505
        (pe.ExclusionViolation, Conflict),  # 23P01
        (pe.SerializationFailure, Conflict),  # 40001
        (pe.DeadlockDetected, Conflict),  # 40P01
        (pe.LockNotAvailable, Conflict),  # 55P03
        # class fallback
        (pe.InvalidTextRepresentation, InvalidInput),  # 22P02
        (pe.NumericValueOutOfRange, InvalidInput),  # 22003
        (pe.DivisionByZero, InvalidInput),  # 22012
        (pe.NullValueNotAllowed, InvalidInput),  # 22004
        (pe.ConnectionFailure, DatabaseUnavailable),  # 08006
        (pe.SqlclientUnableToEstablishSqlconnection, DatabaseUnavailable),  # 08001
        # unmapped classes fall back to the root
        (pe.UndefinedTable, TesseraError),  # 42P01: a bug, not a privilege problem
        (pe.RestrictViolation, TesseraError),  # 23001: class 23 has no fallback
        (pe.StatementCompletionUnknown, TesseraError),  # 40003
        (pe.AdminShutdown, TesseraError),  # 57P01
        (pe.InternalError_, TesseraError),  # XX000
    ],
)
def test_from_psycopg_maps_sqlstate(exc_class: type[psycopg.Error], expected: type[TesseraError]) -> None:
    exc = exc_class("server said no")
    err = from_psycopg(exc)
    assert type(err) is expected
    assert err.sqlstate == exc_class.sqlstate
    assert err.constraint is None and err.table is None
    assert err.message == "server said no"
    assert err.__cause__ is exc


def test_from_psycopg_class_fallback_for_codes_psycopg_does_not_know() -> None:
    # psycopg itself maps an unknown SQLSTATE to its class's base error; so must we.
    data_error = pe.lookup("22003")("x")
    assert type(from_psycopg(data_error)) is InvalidInput
    connection_exc = pe.lookup("08004")("x")  # sqlserver_rejected_establishment_of_sqlconnection
    assert type(from_psycopg(connection_exc)) is DatabaseUnavailable


def test_from_psycopg_without_sqlstate() -> None:
    assert type(from_psycopg(psycopg.OperationalError("connection failed: refused"))) is DatabaseUnavailable
    assert type(from_psycopg(psycopg_pool.PoolTimeout("no connection in 10 sec"))) is DatabaseUnavailable
    # A non-operational client-side error without SQLSTATE is not "unavailable".
    assert type(from_psycopg(psycopg.ProgrammingError("bad query"))) is TesseraError
    already = NotFound("gone", sqlstate="P0002")
    assert from_psycopg(already) is already


def test_translate_errors_unwraps_sqlalchemy_wrappers() -> None:
    """alembic runs through SQLAlchemy, which wraps psycopg errors; the CLI must still
    get a typed error (one line, no traceback)."""
    inner = psycopg.OperationalError("connection failed: refused")
    wrapped = sqlalchemy.exc.OperationalError("connect", None, inner)
    with pytest.raises(DatabaseUnavailable) as info, translate_errors():
        raise wrapped
    assert info.value.__cause__ is wrapped
    assert "refused" in info.value.message

    with pytest.raises(Conflict), translate_errors():
        raise sqlalchemy.exc.IntegrityError("INSERT", None, pe.UniqueViolation("dup"))


def test_translate_errors_leaves_other_exceptions_alone() -> None:
    with pytest.raises(ZeroDivisionError), translate_errors():
        raise ZeroDivisionError
    with pytest.raises(sqlalchemy.exc.ArgumentError), translate_errors():
        raise sqlalchemy.exc.ArgumentError("no orig here")

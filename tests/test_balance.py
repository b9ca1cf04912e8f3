"""tessera.balance_transactions and tessera.client_balances (issue 4, item 4).

Proves: sign rules per kind and a required reason (CHECKs); actor, database role and
time are stamped by the database from the caller's claims, never taken from the caller
(a forged actor is overwritten; no actor -> refused); only operators and service jobs
write, sponsors read only their own clients' ledger and balance, anon and the proxy
nothing; the balance is a sum, and N concurrent top-ups from separate connections add up
exactly; rows are never updated or deleted (see test_savings_append_only.py).
"""

from __future__ import annotations

import threading
from decimal import Decimal as D
from typing import Any

import psycopg
import pytest

from tessera_db import InvalidInput, PermissionDenied
from tests.savings_fixtures import OPERATOR, SPONSOR, A, B, seed

INSERT = "SELECT * FROM tessera.record_balance_transaction(%s, %s, %s, %s)"


@pytest.fixture
def seeded(postgresql: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    seed(postgresql)
    return postgresql


def _balance(conn: psycopg.Connection[Any], client: Any) -> Any:
    row = conn.execute("SELECT balance_usd FROM tessera.client_balances WHERE client_id = %s", (client,)).fetchone()
    return row[0] if row else None


def test_operator_and_service_write_with_stamped_actor(seeded, db):
    with db.as_operator(OPERATOR) as conn:
        row = conn.execute(INSERT, (A, "top_up", D("100.50"), "wire transfer 2026-11")).fetchone()
    with db.as_service("usage-settlement") as conn:
        conn.execute(INSERT, (A, "usage_charge", D("-0.0044"), "usage 2026-11-22"))
        conn.execute(INSERT, (B, "service_credit", D("5"), "SLA credit"))
        # A forged actor / role / time in a direct INSERT is overwritten by the trigger.
        conn.execute("INSERT INTO tessera.balance_transactions (client_id, kind, amount_usd, reason, actor,"
                     " db_role, created_at) VALUES (%s, 'adjustment', -1, 'fix', 'someone-else', 'postgres',"
                     " '2000-01-01')", (A,))
    assert seeded.execute(
        "SELECT kind, actor, db_role, created_at > now() - interval '1 hour' FROM tessera.balance_transactions"
        " ORDER BY amount_usd").fetchall() == [
        ("adjustment", "usage-settlement", "service_role", True),
        ("usage_charge", "usage-settlement", "service_role", True),
        ("service_credit", "usage-settlement", "service_role", True),
        ("top_up", OPERATOR, "authenticated", True)]
    assert row is not None
    assert _balance(seeded, A) == D("99.4956") and _balance(seeded, B) == D("5")


@pytest.mark.parametrize(("kind", "amount", "constraint"), [
    ("top_up", D("-1"), "balance_transactions_amount_sign"),
    ("top_up", D("0"), "balance_transactions_amount_sign"),
    ("usage_charge", D("1"), "balance_transactions_amount_sign"),
    ("service_credit", D("-1"), "balance_transactions_amount_sign"),
    ("adjustment", D("0"), "balance_transactions_amount_sign"),
    ("refund", D("1"), "balance_transactions_kind_known"),
])
def test_sign_rules_per_kind(seeded, db, kind, amount, constraint):
    with pytest.raises(InvalidInput) as err, db.as_service("job") as conn:
        conn.execute(INSERT, (A, kind, amount, "why"))
    assert err.value.constraint == constraint


@pytest.mark.parametrize("reason", ["", "   ", "\t\n", None])
def test_reason_is_required(seeded, db, reason):
    with pytest.raises(InvalidInput), db.as_service("job") as conn:
        conn.execute(INSERT, (A, "top_up", 1, reason))


def test_no_actor_no_transaction(seeded):
    seeded.execute("SET ROLE service_role")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="needs an actor"):
        seeded.execute(INSERT, (A, "top_up", 1, "anonymous money"))


def test_who_may_write(seeded, db, role_dsn):
    for ctx in (lambda: db.as_sponsor(SPONSOR[A]), lambda: db.as_sponsor("stranger@x.example"), db.as_anon):
        with pytest.raises(PermissionDenied), ctx() as conn:
            conn.execute(INSERT, (A, "top_up", 1, "self-service money"))
    with psycopg.connect(role_dsn("tessera_proxy")) as proxy:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            proxy.execute(INSERT, (A, "top_up", 1, "proxy"))
    assert seeded.execute("SELECT count(*) FROM tessera.balance_transactions").fetchone()[0] == 0


def test_sponsors_see_only_their_own_balance(seeded, db):
    with db.as_service("job") as conn:
        conn.execute(INSERT, (A, "top_up", 10, "a"))
        conn.execute(INSERT, (B, "top_up", 20, "b"))
    with db.as_sponsor(SPONSOR[A]) as conn:
        assert conn.execute("SELECT client_id, balance_usd FROM tessera.client_balances").fetchall() == [(A, 10)]
        assert conn.execute("SELECT count(*) FROM tessera.balance_transactions WHERE client_id = %s",
                            (B,)).fetchone()[0] == 0
    with db.as_sponsor(SPONSOR[B]) as conn:
        assert conn.execute("SELECT client_id, balance_usd FROM tessera.client_balances").fetchall() == [(B, 20)]
    with db.as_operator(OPERATOR) as conn:
        assert conn.execute("SELECT count(*) FROM tessera.client_balances").fetchone()[0] == 2
    with pytest.raises(PermissionDenied), db.as_anon() as conn:
        conn.execute("SELECT * FROM tessera.client_balances")


def test_concurrent_top_ups_sum_exactly(seeded, app_dsn):
    writers, per_writer = 16, 25
    amount = D("0.01")
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with psycopg.connect(app_dsn) as conn:
                barrier.wait()
                for i in range(per_writer):
                    with conn.transaction():
                        conn.execute("SELECT set_config('role', 'service_role', true),"
                                     " set_config('request.jwt.claims', %s, true)", (f'{{"sub": "writer-{n}"}}',))
                        conn.execute(INSERT, (A, "top_up", amount, f"top-up {n}/{i}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _balance(seeded, A) == writers * per_writer * amount == D("4.00")
    assert seeded.execute("SELECT count(DISTINCT actor) FROM tessera.balance_transactions").fetchone()[0] == writers

"""Pooled client with identity-scoped transactions.

The pool logs in as the ``authenticator`` role (NOINHERIT: no privileges of its own).
Each ``with db.as_...():`` block is one transaction that first switches role and
request.jwt.claims with ``set_config(..., true)`` -- transaction-local -- so when the
block ends nothing is left on the pooled connection; the pool's reset hook also
verifies that before a connection is reused.

    db = Database(dsn)
    with db.as_sponsor("alice@acme.example") as conn:
        conn.execute("SELECT name FROM tessera.clients").fetchall()
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from tessera_db.errors import translate_errors

__all__ = ["Database"]

# The roles an identity-scoped transaction may switch into.
ANON, AUTHENTICATED, SERVICE = "anon", "authenticated", "service_role"


def _check_clean(conn: psycopg.Connection[Any]) -> None:
    """Pool reset hook: a returned connection must carry no role or claims."""
    row = conn.execute(
        "SELECT current_user = session_user, coalesce(current_setting('request.jwt.claims', true), '')"
    ).fetchone()
    assert row is not None
    if not row[0] or row[1] != "":
        # Should be impossible (everything is set transaction-locally); refuse to reuse.
        raise psycopg.InterfaceError("pooled connection left with a role or claims set")


class Database:
    """A connection pool plus identity-scoped transactions."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 10.0) -> None:
        self.pool = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True},
            reset=_check_clean,
            open=False,
        )
        with translate_errors():
            self.pool.open(wait=True, timeout=timeout)

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def as_identity(self, role: str, claims: dict[str, Any]) -> Iterator[psycopg.Connection[Any]]:
        """One transaction as ``role`` with these JWT claims; typed errors on failure."""
        if role not in (ANON, AUTHENTICATED, SERVICE):
            raise ValueError(f"unknown API role {role!r}")
        with translate_errors(), self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "SELECT set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                (role, json.dumps(claims)),
            )
            yield conn

    def as_sponsor(self, email: str) -> Any:
        """A client contact (tessera.client_users); RLS shows their own clients only."""
        return self.as_identity(AUTHENTICATED, _claims(email))

    def as_operator(self, email: str) -> Any:
        """Tessera staff (tessera.operators); the email must be listed to get anything."""
        return self.as_identity(AUTHENTICATED, _claims(email))

    def as_anon(self) -> Any:
        """An unauthenticated caller: only the anonymous surfaces."""
        return self.as_identity(ANON, {"role": ANON})

    def as_service(self, job: str = "service") -> Any:
        """A server-side job (service_role bypasses RLS). ``job`` names it in claims."""
        return self.as_identity(SERVICE, {"role": SERVICE, "sub": job})


def _claims(email: str) -> dict[str, Any]:
    return {"email": email, "sub": email, "role": AUTHENTICATED}


def rows(conn: psycopg.Connection[Any], query: Any, params: Any = None) -> list[dict[str, Any]]:
    """Run a query and return dict rows."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()

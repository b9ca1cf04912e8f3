"""Pooled client with identity-scoped transactions.

The pool logs in as the ``authenticator`` role (NOINHERIT: no privileges of its own).
Each ``with db.as_...():`` block is one transaction that first switches role and
request.jwt.claims with ``set_config(..., true)`` -- transaction-local -- so when the
block ends nothing is left on the pooled connection; the pool's reset hook also
verifies that before a connection is reused.

    db = Database(dsn)
    with db.as_sponsor("alice@acme.example") as conn:
        conn.execute("SELECT name FROM tessera.clients").fetchall()

Every ``as_...`` also takes the audit context of the transaction (issue 5), set the same
transaction-local way and stamped on every audit event it writes:

    with db.as_service("importer", request_id=req_id) as conn: ...   # job = "importer"
    with db.as_sponsor(email, request_id=req_id, prompt_fingerprint=fp) as conn: ...

``request_id`` -> setting tessera.request_id (else the database generates one per
transaction), ``prompt_fingerprint`` (a prompt fingerprint v1 dict) ->
tessera.prompt_fingerprint_v1, ``job`` -> tessera.job_name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
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
    def as_identity(
        self,
        role: str,
        claims: dict[str, Any],
        *,
        request_id: str | None = None,
        prompt_fingerprint: Mapping[str, Any] | None = None,
        job: str | None = None,
    ) -> Iterator[psycopg.Connection[Any]]:
        """One transaction as ``role`` with these JWT claims; typed errors on failure.

        ``request_id``, ``prompt_fingerprint`` and ``job`` are the audit context of the
        transaction (module docstring); None leaves the setting unset."""
        if role not in (ANON, AUTHENTICATED, SERVICE):
            raise ValueError(f"unknown API role {role!r}")
        with translate_errors(), self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "SELECT set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                (role, json.dumps(claims)),
            )
            context = _audit_context(request_id, prompt_fingerprint, job)
            if context:
                conn.execute(
                    "SELECT set_config(s.name, s.value, true) FROM jsonb_each_text(%s::jsonb) AS s (name, value)",
                    (json.dumps(context),),
                )
            yield conn

    def as_sponsor(self, email: str, **context: Any) -> Any:
        """A client contact (tessera.client_users); RLS shows their own clients only."""
        return self.as_identity(AUTHENTICATED, _claims(email), **context)

    def as_operator(self, email: str, **context: Any) -> Any:
        """Tessera staff (tessera.operators); the email must be listed to get anything."""
        return self.as_identity(AUTHENTICATED, _claims(email), **context)

    def as_anon(self, **context: Any) -> Any:
        """An unauthenticated caller: only the anonymous surfaces."""
        return self.as_identity(ANON, {"role": ANON}, **context)

    def as_service(self, job: str = "service", **context: Any) -> Any:
        """A server-side job (service_role bypasses RLS). ``job`` names it in the claims
        (``sub``) and in the audit events it writes (tessera.job_name)."""
        return self.as_identity(SERVICE, {"role": SERVICE, "sub": job}, job=job, **context)


def _audit_context(
    request_id: str | None, prompt_fingerprint: Mapping[str, Any] | None, job: str | None
) -> dict[str, str]:
    """The transaction-local settings the audit insert trigger reads."""
    context: dict[str, str] = {}
    if request_id is not None:
        context["tessera.request_id"] = request_id
    if prompt_fingerprint is not None:
        context["tessera.prompt_fingerprint_v1"] = json.dumps(dict(prompt_fingerprint))
    if job is not None:
        context["tessera.job_name"] = job
    return context


def _claims(email: str) -> dict[str, Any]:
    return {"email": email, "sub": email, "role": AUTHENTICATED}


def rows(conn: psycopg.Connection[Any], query: Any, params: Any = None) -> list[dict[str, Any]]:
    """Run a query and return dict rows."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()

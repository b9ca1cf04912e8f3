"""Typed errors for tessera-db: the one place psycopg errors are mapped.

Hierarchy::

    TesseraError                 root; keeps .sqlstate, .constraint, .table
     +-- PermissionDenied        42501 (also RLS WITH CHECK refusals), 42xxx privilege
     +-- NotFound                P0002 no_data_found, 02000
     +-- InvalidInput            23502/23503/23514, class 22 (data exceptions), 22004 null
     +-- Conflict                23505 unique, 23P01 exclusion, 40001/40P01, 55P03
     |                            55000 (wrong state: e.g. an illegal batch transition)
     +-- RateLimited             TS429 (too many failed API key verifications; issue 6)
     +-- DatabaseUnavailable     class 08 (connection), pool timeouts, server not running
     +-- ClusterError            the embedded dev cluster could not be set up or started

Unknown SQLSTATEs map by their two-character class, then fall back to TesseraError.
The original psycopg exception stays available as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import psycopg_pool

__all__ = [
    "ClusterError",
    "Conflict",
    "DatabaseUnavailable",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "TesseraError",
    "from_psycopg",
    "translate_errors",
]


class TesseraError(Exception):
    """Root of every error tessera-db raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        constraint: str | None = None,
        table: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.constraint = constraint
        self.table = table


class PermissionDenied(TesseraError):
    """The caller's identity may not do this (privilege or row-level security)."""


class NotFound(TesseraError):
    """The thing asked for does not exist (or is not visible to the caller)."""


class InvalidInput(TesseraError):
    """The input breaks a constraint or is malformed; nothing was written."""


class Conflict(TesseraError):
    """The write collides with existing data or a concurrent transaction."""


class RateLimited(TesseraError):
    """Refused by a rate limit (SQLSTATE TS429): retry later, after fixing the cause."""


class DatabaseUnavailable(TesseraError):
    """The database could not be reached."""


class ClusterError(TesseraError):
    """The embedded development cluster could not be initialised or started."""


_BY_SQLSTATE: dict[str, type[TesseraError]] = {
    "42501": PermissionDenied,  # insufficient_privilege; also RLS WITH CHECK failures
    "P0002": NotFound,  # no_data_found (RAISE ... USING ERRCODE = 'no_data_found')
    "02000": NotFound,
    "23502": InvalidInput,  # not_null_violation
    "23503": InvalidInput,  # foreign_key_violation: e.g. a workload of an unknown client
    "23514": InvalidInput,  # check_violation
    "23505": Conflict,  # unique_violation
    "23P01": Conflict,  # exclusion_violation
    "40001": Conflict,  # serialization_failure
    "40P01": Conflict,  # deadlock_detected
    "55P03": Conflict,  # lock_not_available
    "55000": Conflict,  # object_not_in_prerequisite_state: illegal batch transition, revoked key
    "TS429": RateLimited,  # tessera.verify_api_key: too many failures from one source
}

_BY_CLASS: dict[str, type[TesseraError]] = {
    "22": InvalidInput,  # data exceptions: bad uuid, bad number, null not allowed ...
    "08": DatabaseUnavailable,
}

# Human messages for the constraints a person can trip from the CLI or an API call.
# Anything not listed keeps PostgreSQL's own message.
CONSTRAINT_MESSAGES: dict[str, str] = {
    "clients_name_not_blank": "client name must not be empty",
    "clients_name_length": "client name must be at most 200 characters",
    "clients_plan_tier_known": "plan tier must be one of hobby, free, invoiced",
    "workloads_client_id_fkey": "workload refers to a client that does not exist",
    "workloads_name_not_blank": "workload name must not be empty",
    "workloads_client_name_key": "this client already has a workload with that name",
    "operators_email_format": "operator email is not a valid email address",
    "operators_email_lowercase": "operator email must be lower-case",
    "operators_email_key": "an operator with that email already exists",
    "client_users_email_format": "sponsor email is not a valid email address",
    "client_users_email_lowercase": "sponsor email must be lower-case",
    "client_users_client_id_fkey": "sponsor refers to a client that does not exist",
    "client_users_client_email_key": "that email is already a sponsor of this client",
    # Keys, settlement secrets, exact cache (issue 6)
    "api_keys_capabilities_known": "capabilities must be one or more of batch, cache, proxy, usage_read",
    "api_keys_name_not_blank": "key name must not be empty (at most 200 characters)",
    "api_keys_workload_fkey": "that workload is not a workload of this client",
    "api_keys_display_hint_format": "display hint must be tk_… followed by the key's last 4 characters",
    "api_keys_client_hash_key": "this key is registered already; generate a new one",
    "batch_secrets_pkey": "this batch already holds a secret",
    "batch_secrets_key_id_format": "key id must be 1-64 characters of a-z, 0-9, '.', '_', '-'",
    "batch_secrets_sealed_length": "sealed secret has the wrong size (header 1..8192 bytes)",
    "workload_settings_ttl_range": "exact-cache TTL must be between 1 minute and 30 days",
    # Audit checkpoints (issue 5, the sealer)
    "audit_checkpoints_prev_tree_size_key": "another sealer appended a checkpoint from the same tree size first",
    "audit_checkpoints_tree_size_key": "a checkpoint of that tree size exists already",
    "audit_checkpoints_sizes": "a checkpoint must add at least one row to the previous tree size",
    "audit_checkpoints_horizons": "a checkpoint's horizon must be above the previous one",
    "audit_checkpoints_genesis": "the first checkpoint must extend the empty tree (SHA-256 of nothing, horizon 0)",
    "audit_checkpoints_key_id_format": "checkpoint key_id must be 64 lower-case hex characters",
    "audit_checkpoints_signature_length": "checkpoint signature must be 64 bytes (Ed25519)",
    "audit_checkpoints_frontier_shape": "checkpoint frontier must hold one hash per set bit of tree_size",
}


def _wrapped_driver_error(exc: BaseException) -> psycopg.Error | None:
    """The psycopg error inside a wrapper that keeps it as ``.orig`` (SQLAlchemy's
    DBAPIError, which is what alembic raises), else None."""
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, psycopg.Error) else None


def from_psycopg(exc: BaseException) -> TesseraError:
    """Map a psycopg (or pool) exception to the matching TesseraError.

    A SQLAlchemy wrapper (alembic's errors) is mapped by the psycopg error it carries.
    """
    if isinstance(exc, TesseraError):
        return exc
    if isinstance(exc, psycopg_pool.PoolTimeout):
        err: TesseraError = DatabaseUnavailable(f"no database connection available: {exc}")
        err.__cause__ = exc
        return err
    source = _wrapped_driver_error(exc) or exc
    sqlstate = getattr(source, "sqlstate", None)
    diag = getattr(source, "diag", None)
    constraint = getattr(diag, "constraint_name", None) if diag is not None else None
    table = getattr(diag, "table_name", None) if diag is not None else None
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if sqlstate is None and isinstance(source, psycopg.OperationalError):
        cls: type[TesseraError] = DatabaseUnavailable
    else:
        cls = _BY_SQLSTATE.get(sqlstate or "") or _BY_CLASS.get((sqlstate or "")[:2], TesseraError)
    message = CONSTRAINT_MESSAGES.get(constraint or "") or primary or str(source).strip()
    err = cls(message, sqlstate=sqlstate, constraint=constraint, table=table)
    err.__cause__ = exc
    return err


@contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise psycopg errors inside the block (bare, or wrapped by SQLAlchemy as
    alembic raises them) as typed TesseraErrors."""
    try:
        yield
    except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
        raise from_psycopg(exc) from exc
    except Exception as exc:
        if _wrapped_driver_error(exc) is None:
            raise
        raise from_psycopg(exc) from exc

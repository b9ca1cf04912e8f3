"""Proxy API keys (``tk_...``): create, verify, revoke, rotate.

Key format (schema/92_api_keys.sql)::

    tk_<client id as 32 hex digits>_<43 base64url characters>     the raw key
    tkh_<client id as 32 hex digits>_<SHA-256 of the raw key, hex>  its hashed form

The database stores only the SHA-256 of the raw key and hands the raw key back exactly
once, from :func:`create_api_key` / :func:`rotate_api_key`. The edge worker may verify
with :func:`hashed_form` so the raw key never crosses the database connection.

Who calls what:

    create / revoke / rotate   a sponsor of the client or an operator
                               (``Database.as_sponsor`` / ``as_operator`` connections)
    verify                     the proxy login (``tessera_proxy``) only

Every function takes an open psycopg connection (its transaction is the caller's) and
raises :mod:`tessera_db.errors` types; :class:`~tessera_db.errors.RateLimited` when a
source has failed too often.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

from tessera_db.errors import translate_errors

__all__ = [
    "CAPABILITIES",
    "CreatedKey",
    "VerifiedKey",
    "create_api_key",
    "hashed_form",
    "revoke_api_key",
    "rotate_api_key",
    "verify_api_key",
]

#: The capability vocabulary (CHECK api_keys_capabilities_known).
CAPABILITIES = ("batch", "cache", "proxy", "usage_read")

RAW_KEY = re.compile(r"^tk_([0-9a-f]{32})_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class CreatedKey:
    """A new key. ``api_key`` is the raw key: shown once, never stored, never logged
    (it is left out of ``repr``)."""

    api_key_id: uuid.UUID
    api_key: str = field(repr=False)
    display_hint: str
    capabilities: list[str]
    workload_id: uuid.UUID | None
    expires_at: dt.datetime | None


@dataclass(frozen=True)
class VerifiedKey:
    """What a valid key may do: its own client, workload scope and capabilities."""

    client_id: uuid.UUID
    api_key_id: uuid.UUID
    workload_id: uuid.UUID | None
    capabilities: list[str]
    expires_at: dt.datetime | None


def hashed_form(raw_key: str) -> str:
    """``tkh_<client hex>_<sha256 hex>`` of a raw key, for :func:`verify_api_key`."""
    match = RAW_KEY.match(raw_key)
    if not match:
        raise ValueError("not a tk_ API key")
    return f"tkh_{match.group(1)}_{hashlib.sha256(raw_key.encode('utf-8')).hexdigest()}"


def _created(row: Any) -> CreatedKey:
    return CreatedKey(api_key_id=row[0], api_key=row[1], display_hint=row[2], capabilities=list(row[3]),
                      workload_id=row[4], expires_at=row[5])


def create_api_key(conn: psycopg.Connection[Any], client_id: uuid.UUID | str, capabilities: list[str],
                   name: str, *, workload_id: uuid.UUID | str | None = None,
                   valid_for: dt.timedelta | None = None) -> CreatedKey:
    """Create a key for the client (sponsor of it or operator); the raw key is returned once."""
    with translate_errors():
        row = conn.execute(
            "SELECT api_key_id, api_key, display_hint, capabilities, workload_id, expires_at"
            "  FROM tessera.create_api_key(%s, %s, %s, %s, %s)",
            (client_id, list(capabilities), name, workload_id, valid_for)).fetchone()
    assert row is not None
    return _created(row)


def verify_api_key(conn: psycopg.Connection[Any], key: str, *, source_ip: str | None = None,
                   workload_id: uuid.UUID | str | None = None,
                   capability: str | None = None) -> VerifiedKey | None:
    """The proxy's check (tessera_proxy): the key's grants, or None (failure recorded).
    ``key`` may be the raw key or its :func:`hashed_form`."""
    with translate_errors():
        row = conn.execute(
            "SELECT client_id, api_key_id, workload_id, capabilities, expires_at"
            "  FROM tessera.verify_api_key(%s, %s, %s, %s)",
            (key, source_ip, workload_id, capability)).fetchone()
    if row is None:
        return None
    return VerifiedKey(client_id=row[0], api_key_id=row[1], workload_id=row[2],
                       capabilities=list(row[3]), expires_at=row[4])


def revoke_api_key(conn: psycopg.Connection[Any], client_id: uuid.UUID | str, api_key_id: uuid.UUID | str,
                   reason: str | None = None) -> dt.datetime:
    """Revoke a key (sponsor of the client or operator); the next verify fails."""
    with translate_errors():
        row = conn.execute("SELECT tessera.revoke_api_key(%s, %s, %s)",
                           (client_id, api_key_id, reason)).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def rotate_api_key(conn: psycopg.Connection[Any], client_id: uuid.UUID | str, api_key_id: uuid.UUID | str,
                   *, valid_for: dt.timedelta | None = None) -> CreatedKey:
    """Replace a key by a new one with the same scope and capabilities and revoke the old
    one, in the caller's transaction; the new raw key is returned once."""
    with translate_errors():
        row = conn.execute(
            "SELECT api_key_id, api_key, display_hint, capabilities, workload_id, expires_at"
            "  FROM tessera.rotate_api_key(%s, %s, %s)",
            (client_id, api_key_id, valid_for)).fetchone()
    assert row is not None
    return _created(row)

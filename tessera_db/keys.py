"""Proxy API keys (``tk_...``): create, verify, revoke, rotate.

Key format (schema/92_api_keys.sql)::

    tk_<client id as 32 hex digits>_<43 base64url characters>     the raw key
    tkh_<client id as 32 hex digits>_<SHA-256 of the raw key, hex>  its hashed form

Secrets and raw keys never cross the database connection in the clear. A key is
generated here (:func:`generate_key`: 32 bytes from :mod:`secrets`), returned once from
:func:`create_api_key` / :func:`rotate_api_key`, and the database is sent only its hashed
form and display hint; :func:`verify_api_key` hashes the presented key before sending
it, and sends a fixed placeholder for anything that is not shaped like a key (a garbled
key could be a real key with a typo). ``tessera.verify_api_key`` refuses a raw key.

Who calls what:

    create / revoke / rotate   a sponsor of the client or an operator
                               (``Database.as_sponsor`` / ``as_operator`` connections)
    verify                     the proxy login (``tessera_proxy``) only

Every function takes an open psycopg connection (its transaction is the caller's) and
raises :mod:`tessera_db.errors` types; :class:`~tessera_db.errors.RateLimited` when a
source has failed too often.

A worker that caches verified keys (by hashed form) keeps one no longer than its
``expires_at`` and LISTENs on :data:`NOTIFY_CHANNEL`: a revocation, rotation, expiry
change or deletion sends ``{"client_id", "api_key_id", "key_sha256_prefix", "reason"}``
(:func:`hash_prefix` of the cached key's hashed form matches it).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

from tessera_db.errors import translate_errors

__all__ = [
    "CAPABILITIES",
    "NOTIFY_CHANNEL",
    "CreatedKey",
    "NewKey",
    "VerifiedKey",
    "create_api_key",
    "display_hint",
    "generate_key",
    "hash_prefix",
    "hashed_form",
    "revoke_api_key",
    "rotate_api_key",
    "verify_api_key",
]

#: The capability vocabulary (CHECK api_keys_capabilities_known).
CAPABILITIES = ("batch", "cache", "proxy", "usage_read")

RAW_KEY = re.compile(r"^tk_([0-9a-f]{32})_[A-Za-z0-9_-]{43}$")
HASHED_KEY = re.compile(r"^tkh_([0-9a-f]{32})_([0-9a-f]{64})$")

#: What :func:`verify_api_key` sends instead of a string that is not shaped like a key:
#: the database records it as malformed (and counts it for the throttle).
MALFORMED = "(malformed)"

#: The channel on which a key's revocation, rotation, expiry change or deletion is
#: announced (functions/tessera_private.notify_api_key_change.sql).
NOTIFY_CHANNEL = "tessera_api_keys"
#: Hex digits of the key's SHA-256 that a notification names.
HASH_PREFIX_LENGTH = 16


@dataclass(frozen=True)
class CreatedKey:
    """A new key. ``api_key`` is the raw key: generated here, shown once, never sent to the
    database, never stored, never logged (it is left out of ``repr``)."""

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


@dataclass(frozen=True)
class NewKey:
    """A freshly generated key: ``raw`` for the one-time display (left out of ``repr``),
    ``hashed`` and ``hint`` for the database."""

    raw: str = field(repr=False)
    hashed: str
    hint: str


def generate_key(client_id: uuid.UUID | str) -> NewKey:
    """A new raw key for the client: ``tk_<client hex>_`` + 32 bytes from :mod:`secrets`
    as 43 base64url characters."""
    client = client_id if isinstance(client_id, uuid.UUID) else uuid.UUID(str(client_id))
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    raw = f"tk_{client.hex}_{secret}"
    return NewKey(raw=raw, hashed=hashed_form(raw), hint=display_hint(raw))


def hashed_form(raw_key: str) -> str:
    """``tkh_<client hex>_<sha256 hex>`` of a raw key: all the database is ever sent."""
    match = RAW_KEY.match(raw_key)
    if not match:
        raise ValueError("not a tk_ API key")
    return f"tkh_{match.group(1)}_{hashlib.sha256(raw_key.encode('utf-8')).hexdigest()}"


def display_hint(raw_key: str) -> str:
    """``tk_…`` and the key's last 4 characters: all of a key that may be shown again."""
    return "tk_…" + raw_key[-4:]


def hash_prefix(hashed_key: str) -> str:
    """The SHA-256 prefix a :data:`NOTIFY_CHANNEL` notification names for this key."""
    match = HASHED_KEY.match(hashed_key)
    if not match:
        raise ValueError("not the hashed form of an API key")
    return match.group(2)[:HASH_PREFIX_LENGTH]


def _created(row: Any, key: NewKey) -> CreatedKey:
    return CreatedKey(api_key_id=row[0], api_key=key.raw, display_hint=row[1], capabilities=list(row[2]),
                      workload_id=row[3], expires_at=row[4])


def create_api_key(conn: psycopg.Connection[Any], client_id: uuid.UUID | str, capabilities: list[str],
                   name: str, *, workload_id: uuid.UUID | str | None = None,
                   valid_for: dt.timedelta | None = None) -> CreatedKey:
    """Create a key for the client (sponsor of it or operator): generated here, registered
    by its hashed form and hint; the raw key is returned once and never sent."""
    key = generate_key(client_id)
    with translate_errors():
        row = conn.execute(
            "SELECT api_key_id, display_hint, capabilities, workload_id, expires_at"
            "  FROM tessera.create_api_key(%s, %s, %s, %s, %s, %s, %s)",
            (client_id, key.hashed, key.hint, list(capabilities), name, workload_id, valid_for)).fetchone()
    assert row is not None
    return _created(row, key)


def verify_api_key(conn: psycopg.Connection[Any], key: str, *, source_ip: str | None = None,
                   workload_id: uuid.UUID | str | None = None,
                   capability: str | None = None) -> VerifiedKey | None:
    """The proxy's check (tessera_proxy): the key's grants, or None (failure recorded).
    ``key`` is the presented raw key or its :func:`hashed_form`; only the hashed form (or,
    for anything not shaped like a key, :data:`MALFORMED`) is sent."""
    if RAW_KEY.match(key):
        sent = hashed_form(key)
    elif HASHED_KEY.match(key):
        sent = key
    else:
        sent = MALFORMED
    with translate_errors():
        row = conn.execute(
            "SELECT client_id, api_key_id, workload_id, capabilities, expires_at"
            "  FROM tessera.verify_api_key(%s, %s, %s, %s)",
            (sent, source_ip, workload_id, capability)).fetchone()
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
    one, in the caller's transaction; the new key is generated here (as by
    :func:`create_api_key`) and returned once."""
    key = generate_key(client_id)
    with translate_errors():
        row = conn.execute(
            "SELECT api_key_id, display_hint, capabilities, workload_id, expires_at"
            "  FROM tessera.rotate_api_key(%s, %s, %s, %s, %s)",
            (client_id, api_key_id, key.hashed, key.hint, valid_for)).fetchone()
    assert row is not None
    return _created(row, key)

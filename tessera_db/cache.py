"""The exact-response cache: request normalisation, entry ids, lookup / put / flush.

Normalisation (what makes two request bodies "the same request"): the body is parsed as
JSON and re-serialised with RFC 8785, the JSON Canonicalization Scheme, by the
``rfc8785`` package (Trail of Bits). So:

* object keys are sorted (by UTF-16 code units, as RFC 8785 says) and whitespace between
  tokens disappears;
* numbers are written in their shortest ECMAScript form: ``1.0``, ``1`` and ``1e0`` are
  all ``1``; ``100`` and ``1E2`` are ``100``; ``-0`` is ``0``;
* strings are UTF-8 with the minimal escapes (``"\\u00e9"`` and ``"é"`` are the same).

Array order, string contents (including case and inner whitespace) and every value are
significant. A body that is not such JSON is **not cacheable** (:class:`NotCacheable`):
invalid JSON, a duplicate object key (ambiguous), NaN/Infinity, or an integer outside
+-(2**53 - 1) (it cannot be represented exactly as RFC 8785 requires). The proxy then
simply skips the cache.

entry_id = SHA-256 of the canonical bytes (32 bytes). Only that hash and the response
body are stored, never the request or the prompt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import rfc8785

from tessera_db.errors import InvalidInput, translate_errors

__all__ = ["CacheHit", "NotCacheable", "canonical_body", "entry_id", "flush", "lookup", "put"]


class NotCacheable(InvalidInput):
    """The request body has no canonical form (see the module doc): skip the cache."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise NotCacheable(f"duplicate key {key!r} in the request body")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise NotCacheable(f"{name} is not JSON")


def canonical_body(body: bytes | str) -> bytes:
    """The RFC 8785 canonical form of a JSON request body."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except NotCacheable:
        raise
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotCacheable(f"request body is not valid JSON: {exc}") from None
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError) as exc:
        raise NotCacheable(f"request body has no canonical form: {exc}") from None


def entry_id(body: bytes | str) -> bytes:
    """SHA-256 of the canonical request body: the cache key within a workload."""
    return hashlib.sha256(canonical_body(body)).digest()


@dataclass(frozen=True)
class CacheHit:
    response_body: bytes
    content_type: str
    stored_at: dt.datetime
    expires_at: dt.datetime


def lookup(conn: psycopg.Connection[Any], client_id: uuid.UUID | str, workload_id: uuid.UUID | str,
           body: bytes | str) -> CacheHit | None:
    """The calling workload's cached response for this body (tessera_proxy), or None."""
    with translate_errors():
        row = conn.execute(
            "SELECT response_body, content_type, stored_at, expires_at FROM tessera.cache_lookup(%s, %s, %s)",
            (client_id, workload_id, entry_id(body))).fetchone()
    return None if row is None else CacheHit(bytes(row[0]), row[1], row[2], row[3])


def put(conn: psycopg.Connection[Any], client_id: uuid.UUID | str, workload_id: uuid.UUID | str,
        body: bytes | str, response_body: bytes, content_type: str = "application/json") -> dt.datetime:
    """Cache a response for this body in the calling workload (tessera_proxy); returns
    its expiry. The body itself is only hashed, never sent."""
    with translate_errors():
        row = conn.execute("SELECT tessera.cache_put(%s, %s, %s, %s, %s)",
                           (client_id, workload_id, entry_id(body), response_body, content_type)).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def flush(conn: psycopg.Connection[Any], client_id: uuid.UUID | str,
          workload_id: uuid.UUID | str | None = None) -> int:
    """Delete a workload's (or all the client's) entries: sponsor of the client or operator."""
    with translate_errors():
        row = conn.execute("SELECT tessera.flush_cache(%s, %s)", (client_id, workload_id)).fetchone()
    assert row is not None
    return int(row[0])

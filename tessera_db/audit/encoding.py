"""content_hash v1 of tessera.audit_events, re-implemented independently of the database.

The database computes it in SQL (tessera_private.audit_content_hash, called by the insert
trigger); the verifier recomputes it here from the stored values, so an edited row is
caught even when the stored hash was left alone. Contract (docs/audit.md, "Encoding v1")::

    content_hash = SHA-256( b"tessera.audit_events.v1" || f(field_1) || ... || f(field_18) )
    f(NULL) = FF FF FF FF
    f(v)    = 4-byte big-endian len(b) || b,   b = UTF-8 of v's canonical text

Canonical texts, produced here from the values psycopg returns:

    bigint          decimal digits                      (Python int -> str)
    xid8            decimal digits                      (fetched as ::text)
    timestamptz     UTC, 'YYYY-MM-DDTHH:MM:SS.ffffffZ'  (Python datetime, converted here)
    uuid            lower-case, hyphenated              (Python UUID -> str)
    text            as is
    inet            host/masklen, e.g. '10.0.0.1/32'    (fetched as ::text, the mask added
                                                         here when PostgreSQL omits it)
    jsonb           PostgreSQL's jsonb text rendering   (fetched as ::text)

``SELECT_SQL`` is the query that fetches rows in exactly that shape.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
import uuid
from collections.abc import Sequence
from typing import Any

PREFIX = b"tessera.audit_events.v1"
NULL_FIELD = b"\xff\xff\xff\xff"

#: The 18 hashed columns, in hash order (content_hash is not an input).
FIELDS: tuple[str, ...] = (
    "event_id", "occurred_at", "txid", "client_id", "entity", "entity_id", "action", "before",
    "after", "actor_role", "actor_session_role", "actor_email", "actor_sub", "actor_job",
    "request_id", "reason", "source_ip", "prompt_fingerprint_v1",
)

#: Column expressions: native types where Python can render them itself, ::text where
#: the canonical text *is* PostgreSQL's rendering (xid8, inet, jsonb).
_SELECT_EXPR = {
    "txid": "txid::text",
    "before": "before::text",
    "after": "after::text",
    "source_ip": "source_ip::text",
    "prompt_fingerprint_v1": "prompt_fingerprint_v1::text",
}

#: SELECT list of the hashed fields (in FIELDS order) followed by content_hash.
SELECT_COLUMNS = ", ".join(_SELECT_EXPR.get(f, f) for f in FIELDS) + ", content_hash"

_pack = struct.Struct(">I").pack


def canonical_timestamp(value: dt.datetime) -> str:
    """timestamptz -> 'YYYY-MM-DDTHH:MM:SS.ffffffZ' in UTC."""
    if value.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware")
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_inet(text: str) -> str:
    """inet's text (mask omitted when it is the full width) -> 'host/masklen'."""
    if "/" in text:
        return text
    return f"{text}/{128 if ':' in text else 32}"


def _field(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # never a hashed type; refuse rather than render 'True'
        raise TypeError("unexpected boolean in an audit row")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return canonical_timestamp(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"no canonical text for {type(value).__name__}")


def canonical_texts(row: Sequence[Any]) -> list[str | None]:
    """The 18 canonical texts of a row fetched with SELECT_COLUMNS (extra trailing
    columns, such as content_hash, are ignored)."""
    texts = [_field(v) for v in row[: len(FIELDS)]]
    ip = FIELDS.index("source_ip")
    if texts[ip] is not None:
        texts[ip] = canonical_inet(texts[ip])  # type: ignore[arg-type]
    return texts


def encode_texts(texts: Sequence[str | None]) -> bytes:
    """PREFIX followed by the length-prefixed fields."""
    if len(texts) != len(FIELDS):
        raise ValueError(f"expected {len(FIELDS)} fields, got {len(texts)}")
    parts = [PREFIX]
    for text in texts:
        if text is None:
            parts.append(NULL_FIELD)
        else:
            b = text.encode("utf-8")
            parts.append(_pack(len(b)))
            parts.append(b)
    return b"".join(parts)


def content_hash_of_texts(texts: Sequence[str | None]) -> bytes:
    """content_hash v1 of the 18 canonical texts (what a third party checks)."""
    return hashlib.sha256(encode_texts(texts)).digest()


def content_hash(row: Sequence[Any]) -> bytes:
    """content_hash v1 of a row fetched with SELECT_COLUMNS."""
    return content_hash_of_texts(canonical_texts(row))

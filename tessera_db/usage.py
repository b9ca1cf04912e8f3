"""Provider usage objects -> tessera's non-overlapping token buckets, and the proxy's
recording calls: :func:`record_many` (batches, ``tessera.record_requests``: the hot
path) and :func:`record_request` (one request, raises on refusal).

Copyright (c) tessera-db contributors.

The buckets (columns of tessera.optimize_savings) never overlap::

    uncached_input + cache_read_input + cache_write_5m_input + cache_write_1h_input = prompt
    output + reasoning                                                        = completion

OpenAI-style usage counts cached tokens INSIDE ``prompt_tokens`` and reasoning tokens
INSIDE ``completion_tokens``; Anthropic-style usage counts cache reads and writes
OUTSIDE ``input_tokens``. The mapping is documented in docs/usage-buckets.md. Each
mapping also returns the provider's reported totals, which the database checks against
the bucket sums (CHECK optimize_savings_input_total_matches / _output_total_matches), so
a cached token counted twice is refused rather than billed.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from functools import partial
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tessera_db.errors import InvalidInput, translate_errors

__all__ = [
    "MAX_BATCH",
    "RequestOutcome",
    "TokenBuckets",
    "from_anthropic",
    "from_openai",
    "record_many",
    "record_request",
    "request_fields",
]

#: The most elements tessera.record_requests takes in one call.
MAX_BATCH = 1000


@dataclass(frozen=True)
class TokenBuckets:
    """Non-overlapping token buckets plus the provider's reported totals (if any)."""

    uncached_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_5m_input_tokens: int = 0
    cache_write_1h_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int | None = None
    reported_input_tokens: int | None = None
    reported_output_tokens: int | None = None


def _int(obj: Mapping[str, Any] | None, key: str) -> int | None:
    if not obj:
        return None
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"usage field {key!r} must be a non-negative integer, got {value!r}")
    return int(value)


def from_openai(usage: Mapping[str, Any]) -> TokenBuckets:
    """Map an OpenAI-style usage object (Chat Completions; also OpenRouter, Gemini's
    OpenAI-compatible API).

    ``prompt_tokens`` INCLUDES ``prompt_tokens_details.cached_tokens``, and
    ``completion_tokens`` INCLUDES ``completion_tokens_details.reasoning_tokens``, so both
    are subtracted. OpenAI has no separately billed cache writes.
    """
    prompt = _int(usage, "prompt_tokens")
    completion = _int(usage, "completion_tokens")
    if prompt is None or completion is None:
        raise InvalidInput("OpenAI usage needs prompt_tokens and completion_tokens")
    cached = _int(usage.get("prompt_tokens_details"), "cached_tokens") or 0
    reasoning = _int(usage.get("completion_tokens_details"), "reasoning_tokens")
    if cached > prompt:
        raise InvalidInput(f"cached_tokens ({cached}) exceed prompt_tokens ({prompt})")
    if (reasoning or 0) > completion:
        raise InvalidInput(f"reasoning_tokens ({reasoning}) exceed completion_tokens ({completion})")
    return TokenBuckets(
        uncached_input_tokens=prompt - cached,
        cache_read_input_tokens=cached,
        output_tokens=completion - (reasoning or 0),
        reasoning_tokens=reasoning,
        reported_input_tokens=prompt,
        reported_output_tokens=completion,
    )


def from_anthropic(usage: Mapping[str, Any]) -> TokenBuckets:
    """Map an Anthropic-style usage object (Messages API).

    ``input_tokens`` EXCLUDES ``cache_read_input_tokens`` and
    ``cache_creation_input_tokens``. Cache writes split by TTL in
    ``cache_creation.ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens``; when only
    the total is given, it is a 5-minute write (the default TTL). Anthropic reports
    thinking inside ``output_tokens`` without a split, so reasoning is not reported.
    """
    uncached = _int(usage, "input_tokens")
    output = _int(usage, "output_tokens")
    if uncached is None or output is None:
        raise InvalidInput("Anthropic usage needs input_tokens and output_tokens")
    cache_read = _int(usage, "cache_read_input_tokens") or 0
    creation_total = _int(usage, "cache_creation_input_tokens")
    split = usage.get("cache_creation")
    w5m = _int(split, "ephemeral_5m_input_tokens")
    w1h = _int(split, "ephemeral_1h_input_tokens")
    if w5m is None and w1h is None:
        w5m, w1h = creation_total or 0, 0
    else:
        w5m, w1h = w5m or 0, w1h or 0
        if creation_total is not None and creation_total != w5m + w1h:
            raise InvalidInput(
                f"cache_creation_input_tokens ({creation_total}) differs from the 5m + 1h split ({w5m} + {w1h})")
    return TokenBuckets(
        uncached_input_tokens=uncached,
        cache_read_input_tokens=cache_read,
        cache_write_5m_input_tokens=w5m,
        cache_write_1h_input_tokens=w1h,
        output_tokens=output,
        reasoning_tokens=None,
        reported_input_tokens=uncached + cache_read + w5m + w1h,
        reported_output_tokens=output,
    )


def request_fields(
    *,
    client_id: Any,
    workload_id: Any,
    request_id: str,
    occurred_at: dt.datetime,
    requested: tuple[str, str],
    routed: tuple[str, str],
    tokens: TokenBuckets,
    batch: bool = False,
    mechanics: Sequence[str] = (),
    finish_reason: str | None = None,
    feature_tag: str | None = None,
    customer_tag: str | None = None,
    config_version: int | None = None,
) -> dict[str, Any]:
    """One request as the fields ``tessera.record_request`` / ``record_requests`` take
    (parameter names without ``p_``): the element :func:`record_many` sends.
    ``config_version`` is the worker config version (``tessera.worker_config``) the proxy
    acted on; None = unknown (consent is then judged by the workload's opt-ins now)."""
    return dict(
        client_id=client_id, workload_id=workload_id, request_id=request_id, occurred_at=occurred_at,
        requested_provider=requested[0], requested_model=requested[1],
        routed_provider=routed[0], routed_model=routed[1], batch=batch, mechanics=list(mechanics),
        finish_reason=finish_reason, feature_tag=feature_tag, customer_tag=customer_tag,
        config_version=config_version, **asdict(tokens))


_RECORD = (
    "SELECT * FROM tessera.record_request("
    "p_client_id => %(client_id)s, p_workload_id => %(workload_id)s, p_request_id => %(request_id)s,"
    " p_occurred_at => %(occurred_at)s, p_requested_provider => %(requested_provider)s,"
    " p_requested_model => %(requested_model)s, p_routed_provider => %(routed_provider)s,"
    " p_routed_model => %(routed_model)s, p_uncached_input_tokens => %(uncached_input_tokens)s,"
    " p_cache_read_input_tokens => %(cache_read_input_tokens)s,"
    " p_cache_write_5m_input_tokens => %(cache_write_5m_input_tokens)s,"
    " p_cache_write_1h_input_tokens => %(cache_write_1h_input_tokens)s,"
    " p_output_tokens => %(output_tokens)s, p_reasoning_tokens => %(reasoning_tokens)s,"
    " p_batch => %(batch)s, p_mechanics => %(mechanics)s::text[], p_finish_reason => %(finish_reason)s,"
    " p_feature_tag => %(feature_tag)s, p_customer_tag => %(customer_tag)s,"
    " p_reported_input_tokens => %(reported_input_tokens)s,"
    " p_reported_output_tokens => %(reported_output_tokens)s,"
    " p_config_version => %(config_version)s)"
)


def record_request(conn: psycopg.Connection[Any], **fields: Any) -> dict[str, Any]:
    """Call tessera.record_request on ``conn`` (the proxy login's connection) and return
    its row: key fields, snapshot ids, costs, mechanics and ``replayed``. Takes the
    keyword arguments of :func:`request_fields`. A refusal raises a tessera_db.errors
    type and is not kept anywhere: the hot path is :func:`record_many`."""
    params = request_fields(**fields)
    with translate_errors(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_RECORD, params)
        row = cur.fetchone()
    assert row is not None
    return row


@dataclass(frozen=True)
class RequestOutcome:
    """What happened to one request of :func:`record_many`.

    ``outcome`` is ``recorded`` (written now), ``replayed`` (already in the ledger: the
    costs are the original row's) or ``rejected`` (``sqlstate`` and ``message`` say why;
    nothing of it is in the ledger, and it is kept in tessera.savings_dead_letters for
    ``tessera-db savings replay-rejected``)."""

    index: int
    client_id: uuid.UUID | None
    request_id: str | None
    outcome: str
    sqlstate: str | None = None
    message: str | None = None
    original_cost_usd: Decimal | None = None
    actual_cost_usd: Decimal | None = None
    savings_usd: Decimal | None = None


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInput(f"occurred_at must be timezone-aware, got {value.isoformat()}")
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"cannot send {type(value).__name__} in a request")


_dumps = partial(json.dumps, default=_json_value, allow_nan=False)

_RECORD_MANY = (
    "SELECT ordinality, client_id, request_id, outcome, sqlstate, message,"
    " original_cost_usd, actual_cost_usd, savings_usd FROM tessera.record_requests(%s)"
)


def record_many(conn: psycopg.Connection[Any], requests: Iterable[Mapping[str, Any]], *,
                batch_size: int = 500) -> list[RequestOutcome]:
    """Record requests in batches of ``batch_size`` (1..1000) through
    tessera.record_requests, on ``conn`` (the proxy login's connection, or service_role's
    for a replay), in the caller's transaction. Each request is a mapping of
    record_request's fields without ``p_`` (:func:`request_fields` builds one).

    Returns one :class:`RequestOutcome` per request, in order (``index`` counts from 0).
    A rejected request does not raise: it is in the outcome, and the database kept it
    as a dead letter. Errors of the call itself (a lost connection, a deadlock) raise a
    tessera_db.errors type; the transaction then holds nothing of the batch, and sending
    it again is safe (a recorded request_id comes back ``replayed``)."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise InvalidInput(f"batch_size must be between 1 and {MAX_BATCH}, got {batch_size}")
    outcomes: list[RequestOutcome] = []
    chunk: list[Mapping[str, Any]] = []

    def flush() -> None:
        base = len(outcomes)
        with translate_errors():
            rows = conn.execute(_RECORD_MANY, (Jsonb(list(chunk), dumps=_dumps),)).fetchall()
        outcomes.extend(RequestOutcome(base + row[0] - 1, *row[1:]) for row in rows)
        chunk.clear()

    for request in requests:
        chunk.append(request)
        if len(chunk) == batch_size:
            flush()
    if chunk:
        flush()
    return outcomes

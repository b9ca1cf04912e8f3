"""Provider usage objects -> tessera's non-overlapping token buckets, and a thin
wrapper around ``tessera.record_request``.

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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tessera_db.errors import InvalidInput, translate_errors

__all__ = ["TokenBuckets", "from_anthropic", "from_openai", "record_request"]


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
    return value


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
    " p_reported_output_tokens => %(reported_output_tokens)s)"
)


def record_request(
    conn: psycopg.Connection[Any],
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
) -> dict[str, Any]:
    """Call tessera.record_request on ``conn`` (the proxy login's connection) and return
    its row: key fields, snapshot ids, costs, mechanics and ``replayed``. Errors come out
    as tessera_db.errors types."""
    params = dict(
        client_id=client_id, workload_id=workload_id, request_id=request_id, occurred_at=occurred_at,
        requested_provider=requested[0], requested_model=requested[1],
        routed_provider=routed[0], routed_model=routed[1], batch=batch, mechanics=list(mechanics),
        finish_reason=finish_reason, feature_tag=feature_tag, customer_tag=customer_tag, **asdict(tokens))
    with translate_errors(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_RECORD, params)
        row = cur.fetchone()
    assert row is not None
    return row

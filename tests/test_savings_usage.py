"""tessera_db.usage: OpenAI- and Anthropic-style usage objects map into the
non-overlapping buckets (docs/usage-buckets.md), and the mapped buckets pass the
database's double-counting CHECKs when recorded."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import psycopg
import pytest

from tessera_db import InvalidInput
from tessera_db.usage import TokenBuckets, from_anthropic, from_openai, record_request
from tests.savings_fixtures import BIG, WL, A, seed

OPENAI = {"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
          "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
          "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0}}
ANTHROPIC = {"input_tokens": 50, "cache_creation_input_tokens": 248, "cache_read_input_tokens": 1800,
             "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 48},
             "output_tokens": 503}


def test_openai_prompt_includes_cached_and_completion_includes_reasoning():
    assert from_openai(OPENAI) == TokenBuckets(
        uncached_input_tokens=86, cache_read_input_tokens=1920, output_tokens=108, reasoning_tokens=192,
        reported_input_tokens=2006, reported_output_tokens=300)
    # No details at all: nothing cached, reasoning not reported.
    assert from_openai({"prompt_tokens": 10, "completion_tokens": 2}) == TokenBuckets(
        uncached_input_tokens=10, output_tokens=2, reported_input_tokens=10, reported_output_tokens=2)
    with pytest.raises(InvalidInput):
        from_openai({"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 11}})


def test_anthropic_input_excludes_cache_reads_and_writes():
    assert from_anthropic(ANTHROPIC) == TokenBuckets(
        uncached_input_tokens=50, cache_read_input_tokens=1800, cache_write_5m_input_tokens=200,
        cache_write_1h_input_tokens=48, output_tokens=503, reasoning_tokens=None,
        reported_input_tokens=2098, reported_output_tokens=503)
    # Only the total cache-creation count: a 5-minute write (the default TTL).
    legacy = {"input_tokens": 5, "cache_creation_input_tokens": 100, "output_tokens": 1}
    assert from_anthropic(legacy).cache_write_5m_input_tokens == 100
    with pytest.raises(InvalidInput, match="differs from the 5m"):
        from_anthropic({**ANTHROPIC, "cache_creation_input_tokens": 1})


def test_both_styles_record_with_exact_costs(postgresql, role_dsn):
    seed(postgresql)
    at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    with psycopg.connect(role_dsn("tessera_proxy"), autocommit=True) as proxy:
        common = dict(client_id=A, workload_id=WL[A], occurred_at=at, requested=("anthropic", "big"),
                      routed=("anthropic", "big"))
        o = record_request(proxy, request_id="openai", tokens=from_openai(OPENAI), **common)
        a = record_request(proxy, request_id="anthropic", tokens=from_anthropic(ANTHROPIC), **common)
    assert o["original_cost_usd"] == 86 * BIG["input"] + 1920 * BIG["cache_read"] + 300 * BIG["output"]
    assert a["original_cost_usd"] == (50 * BIG["input"] + 1800 * BIG["cache_read"] + 200 * BIG["cw5m"]
                                      + 48 * BIG["cw1h"] + 503 * BIG["output"]) == D("0.009273")
    stored = postgresql.execute(
        "SELECT request_id, uncached_input_tokens, cache_read_input_tokens, cache_write_5m_input_tokens,"
        " cache_write_1h_input_tokens, output_tokens, reasoning_tokens FROM tessera.optimize_savings"
        " ORDER BY request_id").fetchall()
    assert stored == [("anthropic", 50, 1800, 200, 48, 503, None), ("openai", 86, 1920, 0, 0, 108, 192)]

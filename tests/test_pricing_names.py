"""Pricing parsers without a database: name normalisation, exact decimals, fixtures.

* normalise() maps each source's spelling to one (provider, model), table-driven;
* parse_price keeps the exact decimal of the source text (no float round trip);
* each fixture parses to the expected accepted/rejected entries and raw texts.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tessera_db.pricing.names import normalise
from tessera_db.pricing.sources import load_json, parse, parse_price

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "prices"
LITELLM = FIXTURES / "litellm-1.109.1-cut.json"
TOKENCOST = FIXTURES / "tokencost-0.1.26-cut.json"
OPENROUTER = FIXTURES / "openrouter-models.json"


@pytest.mark.parametrize(("name", "provider", "expected"), [
    ("gpt-4o", "openai", ("openai", "gpt-4o")),                      # LiteLLM
    ("openai/gpt-4o", None, ("openai", "gpt-4o")),                   # OpenRouter
    ("openai/gpt-4o", "openai", ("openai", "gpt-4o")),               # prefix = provider
    ("gpt-3.5-turbo-instruct", "text-completion-openai", ("openai", "gpt-3.5-turbo-instruct")),
    ("gemini/gemini-2.5-pro", "gemini", ("google", "gemini-2.5-pro")),
    ("google/gemini-2.5-pro", None, ("google", "gemini-2.5-pro")),
    ("claude-sonnet-4-5", "anthropic", ("anthropic", "claude-sonnet-4-5")),
    ("anthropic/claude-sonnet-4.5", None, ("anthropic", "claude-sonnet-4-5")),  # explicit alias
    ("x-ai/grok-4", None, ("xai", "grok-4")),
    ("azure/gpt-4o", "azure", ("azure", "gpt-4o")),                 # a reseller stays itself
    ("openrouter/openai/gpt-4o", "openrouter", ("openrouter", "openai/gpt-4o")),
    ("standard/1024-x-1024/gpt-image-1.5", "openai", ("openai", "standard/1024-x-1024/gpt-image-1.5")),
    ("  GPT-4o ", "OpenAI", ("openai", "GPT-4o")),                  # provider case-folded, model kept
])
def test_normalise(name: str, provider: str | None, expected: tuple[str, str]) -> None:
    assert normalise(name, provider) == expected


@pytest.mark.parametrize(("name", "provider"), [
    ("gpt-4o", None),            # no prefix, no provider
    ("", "openai"),
    ("openai/", None),
    ("Bad Provider/x", None),    # not a provider name
])
def test_normalise_refuses(name: str, provider: str | None) -> None:
    with pytest.raises(ValueError):
        normalise(name, provider)


@pytest.mark.parametrize(("raw", "expected"), [
    ("1.25e-06", Decimal("0.00000125")),
    ("2.5e-06", Decimal("0.0000025")),
    ("1e-05", Decimal("0.00001")),
    ("0.000000075", Decimal("0.000000075")),
    ("3.75E-6", Decimal("0.00000375")),
    ("0", Decimal("0")),
    ("200000", Decimal("200000")),
])
def test_parse_price_is_exact(raw: str, expected: Decimal) -> None:
    value = parse_price(raw)
    assert value == expected
    assert str(value) == str(expected)  # same digits, positional notation


@pytest.mark.parametrize("raw", [1.25e-06, "-1", "abc", "NaN", "Infinity", True, None])
def test_parse_price_refuses(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_price(raw)


def test_load_json_never_makes_floats() -> None:
    data = load_json('{"a": 1.25e-06, "b": 0.1, "c": 3}')
    assert data == {"a": "1.25e-06", "b": "0.1", "c": "3"}


def _by_name(entries):  # type: ignore[no-untyped-def]
    return {e.source_model: e for e in entries}


def test_litellm_fixture() -> None:
    entries = _by_name(parse("litellm", LITELLM.read_text()))
    assert entries["sample_spec"].reason == "LiteLLM's schema example, not a model"
    assert "no per-token input or output price" == entries["standard/1024-x-1024/gpt-image-1.5"].reason
    gpt = entries["gpt-4o"]
    assert (gpt.provider, gpt.model) == ("openai", "gpt-4o")
    assert gpt.components == {"input": "2.5e-06", "output": "1e-05", "cache_read": "1.25e-06",
                              "batch_input": "1.25e-06", "batch_output": "5e-06"}
    claude = entries["claude-sonnet-4-5"]
    assert claude.components["cache_write_5m"] == "3.75e-06"
    assert claude.components["cache_write_1h"] == "6e-06"
    gemini = entries["gemini/gemini-2.5-pro"]
    assert (gemini.provider, gemini.model) == ("google", "gemini-2.5-pro")
    assert gemini.components["tier_threshold_tokens"] == "200000"
    assert gemini.components["above_tier_input"] == "2.5e-06"
    assert gemini.components["above_tier_output"] == "1.5e-05"
    assert gemini.components["above_tier_cache_read"] == "2.5e-07"


def test_tokencost_fixture() -> None:
    entries = _by_name(parse("tokencost", TOKENCOST.read_text()))
    assert set(entries) == {"gpt-4o", "gpt-4o-mini", "claude-sonnet-4-20250514"}
    assert all(not e.rejected for e in entries.values())
    assert entries["gpt-4o-mini"].components["input"] == "1.5e-07"


def test_openrouter_fixture() -> None:
    entries = _by_name(parse("openrouter", OPENROUTER.read_text()))
    assert entries["openrouter/auto"].rejected and "negative price" in (entries["openrouter/auto"].reason or "")
    claude = entries["anthropic/claude-sonnet-4.5"]
    assert (claude.provider, claude.model) == ("anthropic", "claude-sonnet-4-5")
    assert claude.components == {"input": "0.000003", "output": "0.000015", "cache_read": "0.0000003",
                                 "cache_write_5m": "0.00000375"}


def test_duplicate_names_are_rejected() -> None:
    text = '{"gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},' \
           ' "openai/gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": 1e-06, "output_cost_per_token": 3e-06}}'
    entries = _by_name(parse("litellm", text))
    assert not entries["gpt-4o"].rejected
    assert entries["openai/gpt-4o"].reason == "same model as 'gpt-4o' (openai/gpt-4o)"


def test_several_tiers_are_rejected() -> None:
    text = ('{"m": {"litellm_provider": "openai", "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,'
            ' "input_cost_per_token_above_128k_tokens": 2e-06, "output_cost_per_token_above_128k_tokens": 4e-06,'
            ' "input_cost_per_token_above_200k_tokens": 3e-06, "output_cost_per_token_above_200k_tokens": 5e-06}}')
    assert "several price tiers" in (parse("litellm", text)[0].reason or "")

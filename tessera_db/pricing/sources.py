"""Parsers for the three price-file formats, keeping every price as its exact text.

Files are read with ``json.loads(..., parse_float=str, parse_int=str)``: a JSON number
never becomes a float, so ``1.25e-06`` stays the text ``'1.25e-06'`` (stored as
``raw_value``) and parses to ``Decimal('0.00000125')`` exactly (see parse_price).

    litellm     model_prices_and_context_window.json: {name: {litellm_provider, ...}}
    tokencost   model_prices.json: the same shape (a copy of LiteLLM's file)
    openrouter  /api/v1/models: {"data": [{"id": "openai/gpt-4o", "pricing": {...}}]}

Components are the pricing_catalog columns without ``_usd_per_token``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from tessera_db.pricing.names import normalise

SOURCES = ("litellm", "tokencost", "openrouter")
COMPONENTS = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h", "batch_input",
              "batch_output", "tier_threshold_tokens", "above_tier_input", "above_tier_output",
              "above_tier_cache_read")

#: LiteLLM/tokencost key -> component.
LITELLM_KEYS: dict[str, str] = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cache_read",
    "cache_creation_input_token_cost": "cache_write_5m",
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h",
    "input_cost_per_token_batches": "batch_input",
    "output_cost_per_token_batches": "batch_output",
}
#: LiteLLM's above-threshold keys, e.g. input_cost_per_token_above_200k_tokens.
LITELLM_TIER = re.compile(
    r"^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost)_above_(\d+)k_tokens$")
LITELLM_TIER_COMPONENT = {"input_cost_per_token": "above_tier_input",
                          "output_cost_per_token": "above_tier_output",
                          "cache_read_input_token_cost": "above_tier_cache_read"}

#: OpenRouter pricing key -> component. input_cache_write is the provider's default
#: (5-minute) cache write; OpenRouter has no separate 1-hour price.
OPENROUTER_KEYS: dict[str, str] = {
    "prompt": "input",
    "completion": "output",
    "input_cache_read": "cache_read",
    "input_cache_write": "cache_write_5m",
}


@dataclass
class Entry:
    """One model of a source file: accepted (components) or rejected (reason)."""

    source_model: str
    provider: str | None = None
    model: str | None = None
    components: dict[str, str] = field(default_factory=dict)  # component -> raw text
    reason: str | None = None

    @property
    def rejected(self) -> bool:
        return self.reason is not None


def load_json(text: str) -> Any:
    """JSON with every number kept as its source text (never a float)."""
    return json.loads(text, parse_float=str, parse_int=str)


def parse_price(raw: Any) -> Decimal:
    """The exact decimal of a price's text: '1.25e-06' -> Decimal('0.00000125').

    Refuses floats (they have already lost the source's digits), booleans, non-finite
    and negative values."""
    if isinstance(raw, bool) or not isinstance(raw, str):
        raise ValueError(f"price {raw!r} is not text (read the file with load_json)")
    text = raw.strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"price {raw!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"price {raw!r} is not finite")
    if value < 0:
        raise ValueError(f"negative price {raw!r}")
    if len(text) > 100:
        raise ValueError(f"price text {raw[:20]!r}... is too long")
    # Plain positional notation, exact: Decimal('1.25e-06') -> 0.00000125.
    return Decimal(format(value, "f"))


def _checked(entry: Entry) -> Entry:
    """Validate an entry's raw prices and required components; set reason if bad."""
    for component, raw in entry.components.items():
        try:
            parse_price(raw)
        except ValueError as exc:
            entry.reason = f"{component}: {exc}"
            return entry
    missing = [c for c in ("input", "output") if c not in entry.components]
    if missing:
        entry.reason = f"no per-token {' or '.join(missing)} price"
    return entry


def _name(entry: Entry, provider: str | None) -> Entry:
    try:
        entry.provider, entry.model = normalise(entry.source_model, provider)
    except ValueError as exc:
        entry.reason = str(exc)
    return entry


def _finish(entry: Entry, provider: str | None) -> Entry:
    """The last steps every parser shares: validate prices, then normalise the name
    (each only while the entry is still accepted)."""
    if entry.reason is None:
        _checked(entry)
    if entry.reason is None:
        _name(entry, provider)
    return entry


def parse_litellm(data: Mapping[str, Any]) -> Iterator[Entry]:
    """LiteLLM's (and tokencost's) {name: {...}} file."""
    if not isinstance(data, Mapping):
        raise ValueError("a LiteLLM/tokencost price file is a JSON object of models")
    for name, spec in data.items():
        entry = Entry(source_model=name)
        if name == "sample_spec":
            entry.reason = "LiteLLM's schema example, not a model"
            yield entry
            continue
        if not isinstance(spec, Mapping):
            entry.reason = "entry is not an object"
            yield entry
            continue
        provider = spec.get("litellm_provider")
        if not isinstance(provider, str):
            entry.reason = "no litellm_provider"
            yield entry
            continue
        for key, component in LITELLM_KEYS.items():
            if key in spec and spec[key] is not None:
                entry.components[component] = spec[key]
        tiers: dict[int, dict[str, Any]] = {}
        for key, raw in spec.items():
            match = LITELLM_TIER.match(key)
            if match and raw is not None:
                tiers.setdefault(int(match.group(2)) * 1000, {})[LITELLM_TIER_COMPONENT[match.group(1)]] = raw
        if len(tiers) > 1:
            entry.reason = (f"several price tiers ({', '.join(str(t) for t in sorted(tiers))} tokens); "
                            "the catalog holds one")
            yield entry
            continue
        for threshold, prices in tiers.items():
            entry.components["tier_threshold_tokens"] = str(threshold)
            entry.components.update(prices)
            if "above_tier_input" not in prices or "above_tier_output" not in prices:
                entry.reason = f"tier above {threshold} tokens lacks its input or output price"
        yield _finish(entry, provider)


def parse_openrouter(data: Mapping[str, Any]) -> Iterator[Entry]:
    """OpenRouter's /api/v1/models response."""
    models = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(models, list):
        raise ValueError('an OpenRouter models file is {"data": [...]}')
    for item in models:
        model_id = item.get("id") if isinstance(item, Mapping) else None
        entry = Entry(source_model=str(model_id) if model_id else "?")
        pricing = item.get("pricing") if isinstance(item, Mapping) else None
        if not model_id or not isinstance(pricing, Mapping):
            entry.reason = "no id or no pricing"
            yield entry
            continue
        for key, component in OPENROUTER_KEYS.items():
            if pricing.get(key) is not None:
                entry.components[component] = pricing[key]
        request = pricing.get("request")
        if entry.components and request not in (None, "0") and _is_positive(request):
            entry.reason = f"per-request fee {request!r} is not a per-token price"
        yield _finish(entry, None)


def _is_positive(raw: Any) -> bool:
    try:
        return Decimal(str(raw)) > 0
    except InvalidOperation:
        return True


def parse(source: str, text: str) -> list[Entry]:
    """Every entry of a file, accepted or rejected, in file order; duplicates rejected."""
    data = load_json(text)
    if source in ("litellm", "tokencost"):
        entries = list(parse_litellm(data))
    elif source == "openrouter":
        entries = list(parse_openrouter(data))
    else:
        raise ValueError(f"unknown price source {source!r}; one of {', '.join(SOURCES)}")
    seen: dict[tuple[str, str], str] = {}
    for entry in entries:
        if entry.rejected:
            continue
        key = (entry.provider or "", entry.model or "")
        if key in seen:
            entry.reason = f"same model as {seen[key]!r} ({key[0]}/{key[1]})"
        else:
            seen[key] = entry.source_model
    return entries

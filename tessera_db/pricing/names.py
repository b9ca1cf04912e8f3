"""Model-name normalisation: every source's spelling -> (provider, model).

Sources name the same model differently: LiteLLM writes ``gpt-4o`` with
``litellm_provider: openai`` and ``gemini/gemini-2.5-pro`` with ``gemini``; OpenRouter
writes ``openai/gpt-4o`` and ``anthropic/claude-sonnet-4.5``. The catalog keys prices by
a canonical (provider, model): provider lower-case from PROVIDERS, model without the
provider prefix, and the few spellings that differ mapped explicitly in MODEL_ALIASES.
Nothing is guessed: an unknown provider is kept as its own lower-case name (a distinct
seller, priced apart), and a name that cannot be made canonical raises ValueError.
"""

from __future__ import annotations

import re

#: Source provider names -> canonical provider. A provider that resells another's model
#: at its own prices (azure, bedrock, vertex_ai, openrouter's own models) stays itself.
PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "chatgpt": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "google": "google",
    "google-ai-studio": "google",
    "mistral": "mistral",
    "mistralai": "mistral",
    "x-ai": "xai",
    "xai": "xai",
    "deepseek": "deepseek",
    "meta-llama": "meta",
    "cohere": "cohere",
    "cohere_chat": "cohere",
}

#: (canonical provider, model as a source spells it) -> canonical model. OpenRouter
#: writes Anthropic's versions with dots; Anthropic and LiteLLM with dashes.
MODEL_ALIASES: dict[tuple[str, str], str] = {
    ("anthropic", "claude-sonnet-4.5"): "claude-sonnet-4-5",
    ("anthropic", "claude-opus-4.1"): "claude-opus-4-1",
    ("anthropic", "claude-haiku-4.5"): "claude-haiku-4-5",
    ("anthropic", "claude-3.7-sonnet"): "claude-3-7-sonnet",
    ("anthropic", "claude-3.5-sonnet"): "claude-3-5-sonnet",
    ("anthropic", "claude-3.5-haiku"): "claude-3-5-haiku",
}

_PROVIDER_FORMAT = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def canonical_provider(name: str) -> str:
    """A source's provider name -> canonical provider (lower-cased, mapped)."""
    key = name.strip().lower()
    provider = PROVIDERS.get(key, key)
    if not _PROVIDER_FORMAT.match(provider):
        raise ValueError(f"provider {name!r} is not a valid provider name")
    return provider


def normalise(name: str, provider: str | None = None) -> tuple[str, str]:
    """(provider, model) for a model name as a source writes it.

    ``provider`` is the source's own provider field (LiteLLM's ``litellm_provider``);
    without it the name must carry a ``provider/`` prefix (OpenRouter's ids). A prefix
    equal to the provider (``gemini/gemini-2.5-pro`` with provider ``gemini``) is removed.
    """
    raw = name.strip()
    if not raw:
        raise ValueError("empty model name")
    if provider is None:
        if "/" not in raw:
            raise ValueError(f"model {name!r} has no provider prefix and no provider was given")
        prefix, model = raw.split("/", 1)
        canonical = canonical_provider(prefix)
    else:
        canonical = canonical_provider(provider)
        model = raw
        if "/" in raw:
            prefix, rest = raw.split("/", 1)
            if prefix.lower() == provider.strip().lower() or PROVIDERS.get(prefix.lower()) == canonical:
                model = rest
    model = model.strip()
    if not model or len(model) > 200:
        raise ValueError(f"model {name!r} has no usable model name")
    return canonical, MODEL_ALIASES.get((canonical, model), model)

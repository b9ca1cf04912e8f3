"""Prompt fingerprint v1: the anonymised shape of one LLM request (seed: "Prompt
fingerprint v1"; docs/audit.md, section "Prompt fingerprint v1").

    fp = build_fingerprint(payload, token_count=usage.input_tokens, embedding_cluster_id=None)
    with db.as_sponsor(email, request_id=req_id, prompt_fingerprint=fp.as_dict()) as conn: ...

``payload`` is an OpenAI-style request (``messages`` with roles system / developer /
user / assistant / tool, content a string or a list of parts, ``tool_calls``) or an
Anthropic-style one (top-level ``system`` plus ``messages`` whose content is a string or
a list of blocks: text, image, tool_use, tool_result, ...). One parser reads both.

The result has exactly three keys and is content-free by construction: every value is
computed from roles, a few yes/no markers and counts, never copied from the input.

* ``structural_signature`` ``<letters>/c=<0|1>/j=<0|1>/t=<0|1>/b=<band>``, e.g.
  ``s.u.a/c=1/j=0/t=0/b=2``:

  - letters, ``.``-separated, one per turn, consecutive equal letters collapsed:
    ``s`` system, ``d`` developer, ``u`` user, ``a`` assistant, ``t`` tool output (an
    OpenAI ``tool``/``function`` message; in an Anthropic user message the run of
    ``tool_result`` blocks, so both styles give ``a.t.a`` for a tool round trip). The
    Anthropic top-level ``system`` is the first turn, ``s``. More than 64 letters after
    collapsing keep the first 31, then ``x`` (elided), then the last 32 (the database
    pattern allows 64 letters; ``x`` is never a role);
  - ``c`` a code fence: ```` ``` ```` anywhere in a text, or a line starting (after at
    most three spaces) with ``~~~``;
  - ``j`` a JSON block: a fence whose info string is json/jsonc/json5/jsonl/ndjson, or a
    non-empty JSON object, or a JSON array holding an object or array, that starts at the
    beginning of a line (leading whitespace allowed; the whole text, a fenced body);
  - ``t`` tool use: a non-empty ``tool_calls``, a ``function_call``, a ``tool`` /
    ``function`` message, or a ``tool_use`` / ``server_tool_use`` / ``tool_result``
    block. Tool *definitions* (``tools``) without a call are not tool use;
  - ``b`` the turn-count band: turns = messages, plus one for a non-empty Anthropic
    ``system``; ``b = min(8, max(1, ceil(log2(turns))))``: 1 = 1-2 turns, 2 = 3-4,
    3 = 5-8, 4 = 9-16, 5 = 17-32, 6 = 33-64, 7 = 65-128, 8 = 129 or more.

  Texts scanned for ``c`` and ``j``: string contents, text / refusal / thinking parts,
  the content of tool outputs. Tool-call arguments and ``tool_use`` inputs are
  structured data, flagged by ``t`` only.

* ``token_count_band`` 1..6 from the request's input token count, "k" = 1024 (the seed's
  first boundary, 512, is a power of two; so are the rest), upper bounds inclusive:
  1 = 0-512, 2 = 513-2048, 3 = 2049-8192, 4 = 8193-32768, 5 = 32769-131072,
  6 = 131073 and more. The caller passes the real count when it has one (the worker
  knows ``usage``); otherwise :func:`estimate_tokens` estimates it.

* ``embedding_cluster_id`` an integer >= 1 or None, passed in by the caller (the worker
  computes the embedding in memory and looks the cluster up; this module never does).

Errors: a malformed payload or argument raises :class:`tessera_db.errors.InvalidInput`;
the message names the offending place (``messages[2].content[0]``), never its content.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tessera_db.errors import InvalidInput

#: The database's pattern (functions/tessera_private.prompt_fingerprint_v1_is_valid.sql);
#: every signature built here matches it.
SIGNATURE_PATTERN = re.compile(r"^[a-z](\.[a-z]){0,63}/c=[01]/j=[01]/t=[01]/b=[0-9]{1,2}$")

#: Role -> letter. ``function`` is OpenAI's legacy name for a tool output.
ROLE_LETTERS = {"system": "s", "developer": "d", "user": "u", "assistant": "a", "tool": "t", "function": "t"}
#: Marks the elided middle of a role sequence longer than MAX_LETTERS.
ELIDED = "x"
#: Letters the database pattern allows; kept: HEAD letters, ELIDED, TAIL letters.
MAX_LETTERS, HEAD, TAIL = 64, 31, 32

#: Inclusive upper bounds of token bands 1..5 (band 6 is everything above), k = 1024.
TOKEN_BAND_UPPER = (512, 2 * 1024, 8 * 1024, 32 * 1024, 128 * 1024)
#: Highest turn-count band (129 turns or more).
MAX_TURN_BAND = 8
#: Largest cluster id the database accepts (at most 18 digits).
MAX_CLUSTER_ID = 10**18 - 1

#: Token estimate: characters per token (the providers' rule of thumb for English), a
#: per-turn overhead, and a flat charge per image / audio / file / document part.
CHARS_PER_TOKEN, TOKENS_PER_TURN, TOKENS_PER_MEDIA = 4, 4, 1024

_FENCE = re.compile(r"```|^ {0,3}~~~", re.MULTILINE)
_JSON_FENCE = re.compile(r"^ {0,3}(?:```|~~~)[ \t]*(?:jsonc?|json5|jsonl|ndjson)\b", re.MULTILINE | re.IGNORECASE)
_JSON_START = re.compile(r"^[ \t]*[\[{]", re.MULTILINE)
#: JSON parse attempts per text (each stops at the first syntax error; bounded work).
_JSON_ATTEMPTS = 64
_DECODER = json.JSONDecoder()

_MEDIA_TYPES = frozenset({"image", "image_url", "input_image", "input_audio", "audio", "file", "input_file",
                          "document"})
_TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use"})


@dataclass(frozen=True)
class PromptFingerprintV1:
    """The three v1 fields; :meth:`as_dict` is what goes into the audit row."""

    structural_signature: str
    token_count_band: int
    embedding_cluster_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"structural_signature": self.structural_signature,
                "token_count_band": self.token_count_band,
                "embedding_cluster_id": self.embedding_cluster_id}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))


def build_fingerprint(payload: Mapping[str, Any], *, token_count: int | None = None,
                      embedding_cluster_id: int | None = None) -> PromptFingerprintV1:
    """Fingerprint one request. ``token_count``: the request's input tokens if known
    (else estimated); ``embedding_cluster_id``: the caller's cluster lookup, or None."""
    shape = _read(payload)
    if token_count is None:
        tokens = shape.estimated_tokens
    else:
        tokens = _non_negative_int(token_count, "token_count")
    signature = (f"{_letters(shape.letters)}/c={int(shape.code_fence)}/j={int(shape.json_block)}"
                 f"/t={int(shape.tool_use)}/b={turn_count_band(shape.turns)}")
    if not SIGNATURE_PATTERN.match(signature):  # pragma: no cover - a bug here, not bad input
        raise AssertionError("built a structural_signature outside the v1 pattern")
    return PromptFingerprintV1(signature, token_count_band(tokens), validate_cluster_id(embedding_cluster_id))


def token_count_band(tokens: int) -> int:
    """1..6: <=512, 513-2048, 2049-8192, 8193-32768, 32769-131072, >=131073."""
    tokens = _non_negative_int(tokens, "token_count")
    for band, upper in enumerate(TOKEN_BAND_UPPER, start=1):
        if tokens <= upper:
            return band
    return len(TOKEN_BAND_UPPER) + 1


def turn_count_band(turns: int) -> int:
    """1..8: 1-2 turns, 3-4, 5-8, 9-16, 17-32, 33-64, 65-128, >=129."""
    if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
        raise InvalidInput("a prompt needs at least one turn")
    return min(MAX_TURN_BAND, max(1, (turns - 1).bit_length()))


def validate_cluster_id(cluster_id: Any) -> int | None:
    """None, or an integer 1..10^18-1 (not a bool, not a float)."""
    if cluster_id is None:
        return None
    if isinstance(cluster_id, bool) or not isinstance(cluster_id, int) or not 1 <= cluster_id <= MAX_CLUSTER_ID:
        raise InvalidInput("embedding_cluster_id must be None or an integer from 1 to 10^18-1")
    return int(cluster_id)


def estimate_tokens(payload: Mapping[str, Any]) -> int:
    """Deterministic, offline estimate of the input tokens: ceil(characters / 4) over
    every text, tool-call name and argument and tool input (compact JSON), plus 4 per
    turn and 1024 per image / audio / file / document part. An estimate (English ~4
    characters a token; code and non-Latin scripts run denser): pass the real count to
    build_fingerprint when the provider reported it."""
    return _read(payload).estimated_tokens


# --------------------------------------------------------------------------- reading a payload


@dataclass
class _Shape:
    letters: list[str]
    turns: int = 0
    code_fence: bool = False
    json_block: bool = False
    tool_use: bool = False
    chars: int = 0
    media: int = 0

    @property
    def estimated_tokens(self) -> int:
        return math.ceil(self.chars / CHARS_PER_TOKEN) + TOKENS_PER_TURN * self.turns + TOKENS_PER_MEDIA * self.media

    def text(self, value: str) -> None:
        """A text the request carries: counted and scanned for fences and JSON."""
        self.chars += len(value)
        if not self.code_fence and _FENCE.search(value):
            self.code_fence = True
        if not self.json_block and _has_json_block(value):
            self.json_block = True

    def data(self, value: Any) -> None:
        """Structured tool data: counted only (compact JSON text length)."""
        self.chars += len(value) if isinstance(value, str) else len(
            json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str))


def _read(payload: Any) -> _Shape:
    if not isinstance(payload, Mapping):
        raise InvalidInput("prompt payload must be a JSON object with 'messages'")
    messages = payload.get("messages")
    if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)):
        raise InvalidInput("prompt payload needs a 'messages' list")
    if len(messages) == 0:
        raise InvalidInput("prompt payload has no messages")
    shape = _Shape(letters=[])
    if payload.get("system") is not None:  # Anthropic: the system prompt is a field
        _system(shape, payload["system"])
    for i, message in enumerate(messages):
        _message(shape, message, f"messages[{i}]")
    return shape


def _system(shape: _Shape, system: Any) -> None:
    if isinstance(system, str):
        texts = [system]
    elif isinstance(system, Sequence) and not isinstance(system, bytes):
        texts = []
        for i, block in enumerate(system):
            if _block_type(block, f"system[{i}]") == "text":
                texts.append(_string(block, "text", f"system[{i}]"))
    else:
        raise InvalidInput("'system' must be a string or a list of text blocks")
    if len(system) == 0:
        return  # an empty system prompt ("" or []) is no turn
    shape.turns += 1
    shape.letters.append("s")
    for text in texts:
        shape.text(text)


def _message(shape: _Shape, message: Any, where: str) -> None:
    if not isinstance(message, Mapping):
        raise InvalidInput(f"{where} must be an object with 'role'")
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLE_LETTERS:
        raise InvalidInput(f"{where}.role must be one of {', '.join(sorted(ROLE_LETTERS))}")
    shape.turns += 1
    letter = ROLE_LETTERS[role]
    if letter == "t":
        shape.tool_use = True
    content = message.get("content")
    letters: list[str] = []
    if content is None:
        if role not in ("assistant", "tool", "function"):
            raise InvalidInput(f"{where}.content is missing")
    elif isinstance(content, str):
        shape.text(content)
    elif isinstance(content, Sequence) and not isinstance(content, bytes):
        for i, block in enumerate(content):
            if _block(shape, block, f"{where}.content[{i}]") == "tool_result" and role == "user":
                letters.append("t")  # Anthropic: tool output travels in a user message
            else:
                letters.append(letter)
    else:
        raise InvalidInput(f"{where}.content must be a string, a list of parts or null")
    shape.letters.extend(letters or [letter])

    tool_calls = message.get("tool_calls")
    if tool_calls is not None:
        if not isinstance(tool_calls, Sequence) or isinstance(tool_calls, (str, bytes)):
            raise InvalidInput(f"{where}.tool_calls must be a list")
        for i, call in enumerate(tool_calls):
            if not isinstance(call, Mapping):
                raise InvalidInput(f"{where}.tool_calls[{i}] must be an object")
            # {"type": "function", "function": {...}} or {"type": "custom", "custom": {...}}
            for key in ("function", "custom"):
                if call.get(key) is not None:
                    _function(shape, call[key], f"{where}.tool_calls[{i}].{key}")
        shape.tool_use = shape.tool_use or len(tool_calls) > 0
    if message.get("function_call") is not None:
        _function(shape, message["function_call"], f"{where}.function_call")
        shape.tool_use = True


def _function(shape: _Shape, function: Any, where: str) -> None:
    if not isinstance(function, Mapping):
        raise InvalidInput(f"{where} must be an object with 'name' and 'arguments'")
    for key in ("name", "arguments", "input"):
        if function.get(key) is not None:
            shape.data(function[key])


def _block(shape: _Shape, block: Any, where: str) -> str:
    """One content part / block; returns its type."""
    kind = _block_type(block, where)
    if kind == "text":
        shape.text(_string(block, "text", where))
    elif kind == "refusal":
        shape.text(_string(block, "refusal", where))
    elif kind == "thinking":
        shape.text(_string(block, "thinking", where))
    elif kind in _MEDIA_TYPES:
        shape.media += 1
    elif kind in _TOOL_BLOCKS:
        shape.tool_use = True
        if block.get("name") is not None:
            shape.data(block["name"])
        if block.get("input") is not None:
            shape.data(block["input"])
    elif kind == "tool_result":
        shape.tool_use = True
        inner = block.get("content")
        if isinstance(inner, str):
            shape.text(inner)
        elif isinstance(inner, Sequence) and not isinstance(inner, bytes):
            for i, part in enumerate(inner):
                _block(shape, part, f"{where}.content[{i}]")
        elif inner is not None:
            raise InvalidInput(f"{where}.content must be a string or a list of blocks")
    # Other types (redacted_thinking, citations, types added later) carry no text we read.
    return kind


def _block_type(block: Any, where: str) -> str:
    if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
        raise InvalidInput(f"{where} must be an object with a string 'type'")
    return str(block["type"])


def _string(block: Mapping[str, Any], key: str, where: str) -> str:
    value = block.get(key)
    if not isinstance(value, str):
        raise InvalidInput(f"{where}.{key} must be a string")
    return value


def _letters(letters: list[str]) -> str:
    collapsed = [letter for i, letter in enumerate(letters) if i == 0 or letters[i - 1] != letter]
    if len(collapsed) > MAX_LETTERS:
        collapsed = collapsed[:HEAD] + [ELIDED] + collapsed[-TAIL:]
    return ".".join(collapsed)


def _has_json_block(text: str) -> bool:
    if _JSON_FENCE.search(text):
        return True
    for attempt, match in enumerate(_JSON_START.finditer(text)):
        if attempt >= _JSON_ATTEMPTS:
            return False
        try:
            value, _end = _DECODER.raw_decode(text, match.end() - 1)
        except (ValueError, RecursionError):
            continue
        if (isinstance(value, dict) and value) or (
                isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)):
            return True
    return False


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{name} must be a non-negative integer")
    return int(value)

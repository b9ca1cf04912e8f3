"""Prompt fingerprint v1 (issue 5 item 6): tessera_db.fingerprint against the seed's
definition, and against the database's CHECK.

* the seed's example, collapsing, each marker, both payload styles, the turn bands and
  the token band edges (512 / 513 / 2k / 8k / 32k / 128k, k = 1024) exactly;
* cluster ids: None or an integer >= 1; malformed payloads raise InvalidInput without
  echoing content;
* property (hypothesis): no substring of length >= 8 of any text in the input appears in
  the serialized fingerprint, and the fingerprint is unchanged when every text is
  replaced by another of the same kind (it depends on structure only);
* round trip: fingerprints built here pass tessera_private.prompt_fingerprint_v1_is_valid
  and are stored through tessera_private.write_audit_event; wrong types and out-of-range
  values are refused by the CHECK.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera_db.errors import InvalidInput
from tessera_db.fingerprint import (
    MAX_CLUSTER_ID,
    SIGNATURE_PATTERN,
    build_fingerprint,
    estimate_tokens,
    token_count_band,
    turn_count_band,
)

FENCED = "Here is my code:\n```python\nprint('hello')\n```\nWhy does it fail?"


def sig(payload: dict[str, Any], **kw: Any) -> str:
    return build_fingerprint(payload, **kw).structural_signature


def oa(*turns: tuple[str, Any], **extra: Any) -> dict[str, Any]:
    """OpenAI-style payload from (role, content) pairs."""
    return {"model": "gpt-x", "messages": [{"role": r, "content": c} for r, c in turns], **extra}


def anth(system: Any, *turns: tuple[str, Any]) -> dict[str, Any]:
    """Anthropic-style payload: top-level system, then (role, content) pairs."""
    payload: dict[str, Any] = {"model": "claude-x", "max_tokens": 100,
                               "messages": [{"role": r, "content": c} for r, c in turns]}
    if system is not None:
        payload["system"] = system
    return payload


# --------------------------------------------------------------------------- the seed's definition


def test_the_seeds_example_in_both_styles() -> None:
    openai = oa(("system", "You are a careful reviewer."), ("user", FENCED), ("assistant", "Missing import."))
    anthropic = anth("You are a careful reviewer.", ("user", [{"type": "text", "text": FENCED}]),
                     ("assistant", [{"type": "text", "text": "Missing import."}]))
    for payload in (openai, anthropic):
        fp = build_fingerprint(payload, token_count=700)
        assert fp.as_dict() == {"structural_signature": "s.u.a/c=1/j=0/t=0/b=2", "token_count_band": 2,
                                "embedding_cluster_id": None}
        assert json.loads(fp.to_json()) == fp.as_dict()


def test_consecutive_same_role_turns_collapse() -> None:
    assert sig(oa(("user", "a"), ("user", "b"), ("assistant", "c"), ("assistant", "d"), ("user", "e"))) \
        == "u.a.u/c=0/j=0/t=0/b=3"
    assert sig(oa(("system", "a"), ("developer", "b"), ("developer", "c"), ("user", "d"))) == "s.d.u/c=0/j=0/t=0/b=2"
    # An Anthropic assistant turn of text + tool_use blocks is one letter.
    assert sig(anth(None, ("user", "q"), ("assistant", [{"type": "text", "text": "x"},
                                                        {"type": "tool_use", "id": "1", "name": "f", "input": {}}])))\
        .startswith("u.a/")


def test_long_agent_loops_bucket_uniformly() -> None:
    def loop(rounds: int) -> dict[str, Any]:
        turns: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
        for i in range(rounds):
            turns.append({"role": "assistant", "content": None,
                          "tool_calls": [{"id": f"c{i}", "type": "function",
                                          "function": {"name": "step", "arguments": "{}"}}]})
            turns.append({"role": "tool", "tool_call_id": f"c{i}", "content": "ok"})
        turns.append({"role": "assistant", "content": "done"})
        return {"messages": turns}

    short, long_ = sig(loop(40)), sig(loop(400))
    letters = short.split("/")[0].split(".")
    assert len(letters) == 64 and letters[31] == "x" and letters[:3] == ["u", "a", "t"] and letters[-1] == "a"
    assert short.split("/b=")[0] == long_.split("/b=")[0]          # same bucket but for the turn band
    assert short.endswith("/t=1/b=7") and long_.endswith("/t=1/b=8")
    assert SIGNATURE_PATTERN.match(long_)
    assert sig(loop(15)).split("/")[0].count("x") == 0           # 32 letters: nothing elided


@pytest.mark.parametrize(("text", "c"), [
    (FENCED, 1),
    ("inline ```x = 1``` works too", 1),
    ("~~~\ncode\n~~~", 1),
    ("   ~~~ruby\nputs 1\n~~~", 1),
    ("no fence, just `inline` code and ``two``", 0),
    ("a tilde ~~~ inside a line", 0),
])
def test_code_fence_marker(text: str, c: int) -> None:
    assert f"/c={c}/" in sig(oa(("user", text)))


@pytest.mark.parametrize(("text", "j"), [
    ('{"name": "x", "n": 1}', 1),                                 # the whole text
    ('Use this config:\n  {"retries": 3,\n   "backoff": [1, 2]}\nthanks', 1),  # a line-start object
    ('[{"id": 1}, {"id": 2}]', 1),                                # an array of objects
    ("```json\nnot even valid\n```", 1),                          # a fence tagged json
    ("```\n{\"a\": [1, 2]}\n```", 1),                             # a fenced body that is JSON
    ("[1, 2, 3]", 0),                                             # an array of scalars
    ("{}", 0),                                                    # empty
    ("set {x} and {y} inline, or {not: json}", 0),
    ("[link](http://example.com) and [x] done", 0),
    ("[" * 5000, 0),                                              # deep nesting: no crash
])
def test_json_block_marker(text: str, j: int) -> None:
    assert f"/j={j}/" in sig(oa(("user", text)))


def test_tool_use_marker_in_every_form() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "get", "arguments": '{"q": 1}'}}
    assert sig({"messages": [{"role": "user", "content": "q"},
                             {"role": "assistant", "content": None, "tool_calls": [call]},
                             {"role": "tool", "tool_call_id": "c1", "content": "r"}]}) == "u.a.t/c=0/j=0/t=1/b=2"
    assert sig({"messages": [{"role": "user", "content": "q"},
                             {"role": "assistant", "content": None, "function_call": {"name": "g", "arguments": "{}"}},
                             {"role": "function", "name": "g", "content": "r"}]}) == "u.a.t/c=0/j=0/t=1/b=2"
    assert sig(anth(None, ("user", "q"),
                    ("assistant", [{"type": "tool_use", "id": "t1", "name": "get", "input": {"q": 1}}]),
                    ("user", [{"type": "tool_result", "tool_use_id": "t1", "content": "r"},
                              {"type": "text", "text": "and now?"}]))) == "u.a.t.u/c=0/j=0/t=1/b=2"
    # Tool definitions alone, or an empty tool_calls list, are not tool use.
    assert sig(oa(("user", "q"), tools=[{"type": "function", "function": {"name": "get"}}])).endswith("/t=0/b=1")
    assert sig({"messages": [{"role": "assistant", "content": "x", "tool_calls": []}]}).endswith("/t=0/b=1")


def test_both_styles_give_one_signature_for_one_conversation() -> None:
    openai = {"messages": [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "what is in"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "look", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": '{"label": "cat"}'},
        {"role": "assistant", "content": "A cat:\n```\ncat\n```"}]}
    anthropic = anth([{"type": "text", "text": "sys"}], ("user", [
        {"type": "text", "text": "what is in"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]),
        ("assistant", [{"type": "tool_use", "id": "c", "name": "look", "input": {}}]),
        ("user", [{"type": "tool_result", "tool_use_id": "c", "content": [{"type": "text", "text": '{"label": "cat"}'}]}]),
        ("assistant", "A cat:\n```\ncat\n```"))
    assert sig(openai) == sig(anthropic) == "s.u.a.t.a/c=1/j=1/t=1/b=3"


def test_an_empty_system_prompt_is_no_turn() -> None:
    assert sig(anth("", ("user", "q"))) == sig(anth([], ("user", "q"))) == sig(anth(None, ("user", "q"))) \
        == "u/c=0/j=0/t=0/b=1"


@pytest.mark.parametrize(("turns", "band"), [
    (1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (8, 3), (9, 4), (16, 4), (17, 5), (32, 5), (33, 6), (64, 6),
    (65, 7), (128, 7), (129, 8), (10_000, 8),
])
def test_turn_count_bands(turns: int, band: int) -> None:
    assert turn_count_band(turns) == band
    payload = oa(*[("user" if i % 2 else "assistant", "x") for i in range(turns)])
    assert sig(payload).endswith(f"/b={band}")


# --------------------------------------------------------------------------- token bands


@pytest.mark.parametrize(("tokens", "band"), [
    (0, 1), (1, 1), (512, 1), (513, 2),
    (2048, 2), (2049, 3),            # 2k = 2048
    (8192, 3), (8193, 4),            # 8k
    (32768, 4), (32769, 5),          # 32k
    (131072, 5), (131073, 6),        # 128k
    (10**9, 6),
])
def test_token_count_band_edges(tokens: int, band: int) -> None:
    assert token_count_band(tokens) == band
    assert build_fingerprint(oa(("user", "hi")), token_count=tokens).token_count_band == band


def test_the_estimate_is_chars_over_four_plus_turns_and_media() -> None:
    # One turn (4) + ceil(2032 / 4) = 512 -> band 1; one character more -> 513 -> band 2.
    assert estimate_tokens(oa(("user", "x" * 2032))) == 512
    assert build_fingerprint(oa(("user", "x" * 2032))).token_count_band == 1
    assert estimate_tokens(oa(("user", "x" * 2033))) == 513
    assert build_fingerprint(oa(("user", "x" * 2033))).token_count_band == 2
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    assert estimate_tokens(oa(("user", [{"type": "text", "text": "abcd"}, image]))) == 1 + 4 + 1024
    tool = {"messages": [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "1", "type": "function", "function": {"name": "abcd", "arguments": "efgh"}}]}]}
    assert estimate_tokens(tool) == 2 + 4
    # The caller's count wins over the estimate.
    assert build_fingerprint(oa(("user", "x" * 2033)), token_count=10).token_count_band == 1


@pytest.mark.parametrize("bad", [-1, True, 1.5, "512", None])
def test_token_count_must_be_a_non_negative_integer(bad: Any) -> None:
    with pytest.raises(InvalidInput, match="token_count"):
        token_count_band(bad)
    if bad is not None:  # None means "estimate it" to the builder
        with pytest.raises(InvalidInput, match="token_count"):
            build_fingerprint(oa(("user", "hi")), token_count=bad)


# --------------------------------------------------------------------------- cluster id


@pytest.mark.parametrize("cluster", [None, 1, 42, MAX_CLUSTER_ID])
def test_cluster_id_accepted(cluster: int | None) -> None:
    assert build_fingerprint(oa(("user", "hi")), embedding_cluster_id=cluster).embedding_cluster_id == cluster


@pytest.mark.parametrize("cluster", [0, -3, True, False, 2.0, "7", MAX_CLUSTER_ID + 1])
def test_cluster_id_refused(cluster: Any) -> None:
    with pytest.raises(InvalidInput, match="embedding_cluster_id"):
        build_fingerprint(oa(("user", "hi")), embedding_cluster_id=cluster)


# --------------------------------------------------------------------------- malformed payloads

SECRET = "sk-live-DO-NOT-ECHO-0123456789"


@pytest.mark.parametrize(("payload", "where"), [
    ([{"role": "user", "content": SECRET}], "JSON object"),
    ({"prompt": SECRET}, "'messages' list"),
    ({"messages": SECRET}, "'messages' list"),
    ({"messages": []}, "no messages"),
    ({"system": SECRET, "messages": []}, "no messages"),
    ({"messages": [SECRET]}, r"messages\[0\] must be an object"),
    ({"messages": [{"role": SECRET, "content": "x"}]}, r"messages\[0\]\.role"),
    ({"messages": [{"content": SECRET}]}, r"messages\[0\]\.role"),
    ({"messages": [{"role": "user"}]}, r"messages\[0\]\.content is missing"),
    ({"messages": [{"role": "user", "content": 7}]}, r"messages\[0\]\.content must be"),
    ({"messages": [{"role": "user", "content": [SECRET]}]}, r"messages\[0\]\.content\[0\]"),
    ({"messages": [{"role": "user", "content": [{"text": SECRET}]}]}, r"content\[0\] must be an object with a string 'type'"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": [SECRET]}]}]}, r"content\[0\]\.text"),
    ({"messages": [{"role": "user", "content": [{"type": "tool_result", "content": 3}]}]}, r"content\[0\]\.content"),
    ({"messages": [{"role": "assistant", "content": None, "tool_calls": SECRET}]}, r"tool_calls must be a list"),
    ({"messages": [{"role": "assistant", "content": None, "tool_calls": [SECRET]}]}, r"tool_calls\[0\]"),
    ({"messages": [{"role": "assistant", "content": None, "function_call": SECRET}]}, r"function_call"),
    ({"system": 5, "messages": [{"role": "user", "content": "x"}]}, "'system'"),
    ({"system": [{"type": "text", "text": 5}], "messages": [{"role": "user", "content": "x"}]}, r"system\[0\]\.text"),
])
def test_malformed_payloads_raise_invalid_input_without_content(payload: Any, where: str) -> None:
    with pytest.raises(InvalidInput, match=where) as info:
        build_fingerprint(payload)
    assert SECRET not in str(info.value) and "DO-NOT" not in str(info.value)


# --------------------------------------------------------------------------- property tests

OPENAI_ROLES = ["system", "developer", "user", "assistant", "tool"]
KINDS = ["plain", "fence", "tilde", "json", "jsonfence"]


def wrap(kind: str, text: str) -> str:
    """Put a text into one of the shapes the markers look for."""
    return {"plain": text,
            "fence": f"see:\n```\n{text}\n```",
            "tilde": f"~~~\n{text}\n~~~",
            "json": json.dumps({"k": text, "n": [1]}),
            "jsonfence": f"```json\n{text}\n```"}[kind]


# A skeleton is the structure of a payload without its texts: rendering it with two
# different text sources gives two payloads of identical shape.
openai_turn = st.tuples(st.sampled_from(OPENAI_ROLES), st.sampled_from(KINDS), st.booleans(), st.booleans(),
                        st.booleans())
anthropic_block = st.tuples(st.sampled_from(["text", "image", "tool_use", "tool_result"]), st.sampled_from(KINDS))
anthropic_turn = st.tuples(st.sampled_from(["user", "assistant"]), st.sampled_from(KINDS),
                           st.none() | st.lists(anthropic_block, min_size=1, max_size=4))
skeletons = st.one_of(
    st.tuples(st.just("openai"), st.none(), st.lists(openai_turn, min_size=1, max_size=12)),
    st.tuples(st.just("openai"), st.none(), st.lists(openai_turn, min_size=60, max_size=90)),  # elision
    st.tuples(st.just("anthropic"), st.sampled_from([None, "plain", "blocks"]),
              st.lists(anthropic_turn, min_size=1, max_size=12)),
)


def render(skeleton: Any, text: Callable[[str], str]) -> dict[str, Any]:
    """The payload of ``skeleton`` with every text from ``text(kind)``."""
    style, system, turns = skeleton
    messages: list[dict[str, Any]] = []
    if style == "openai":
        for role, kind, as_parts, with_call, with_image in turns:
            content: Any = text(kind)
            if as_parts:
                content = [{"type": "text", "text": content}]
                if with_image:
                    content.append({"type": "image_url", "image_url": {"url": text("plain")}})
            message: dict[str, Any] = {"role": role, "content": content}
            if role == "assistant" and with_call:
                message["tool_calls"] = [{"id": "c", "type": "function",
                                          "function": {"name": text("plain"), "arguments": text("json")}}]
            messages.append(message)
        return {"model": "m", "messages": messages}
    payload: dict[str, Any] = {"model": "m", "max_tokens": 10, "messages": messages}
    if system == "plain":
        payload["system"] = text("plain")
    elif system == "blocks":
        payload["system"] = [{"type": "text", "text": text("plain")}]
    for role, kind, blocks in turns:
        if blocks is None:
            messages.append({"role": role, "content": text(kind)})
            continue
        rendered = []
        for block, block_kind in blocks:
            if block == "text":
                rendered.append({"type": "text", "text": text(block_kind)})
            elif block == "image":
                rendered.append({"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                             "data": text("plain")}})
            elif block == "tool_use":
                rendered.append({"type": "tool_use", "id": "t", "name": text("plain"), "input": {"q": text(block_kind)}})
            else:
                rendered.append({"type": "tool_result", "tool_use_id": "t",
                                 "content": [{"type": "text", "text": text(block_kind)}]})
        messages.append({"role": role, "content": rendered})
    return payload


def strings_in(value: Any) -> Iterator[str]:
    """Every string in a payload (texts, names, arguments, roles, ids)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)


# Any text, but without the format's own punctuation. The fingerprint is a fixed template
# ('{"structural_signature": "', '/c=', ...) around closed-vocabulary values, and a user
# can of course type that vocabulary ("token_count_band", "u.a.u.a."): hypothesis finds
# such strings (it mines the module's constants), and a match on them is no copy. Every
# 8-character window of a serialized fingerprint, its key names blanked out, holds one of
# these characters (cluster ids stay below 8 digits here), so with them excluded any match
# can only be a copy of the input.
FORMAT_PUNCTUATION = '_/=.":,{}'
input_text = st.text(alphabet=st.characters(exclude_characters=FORMAT_PUNCTUATION), max_size=120)


@settings(max_examples=300, deadline=None)
@given(skeleton=skeletons, data=st.data(),
       cluster=st.none() | st.integers(min_value=1, max_value=9_999_999),
       token_count=st.none() | st.integers(min_value=0, max_value=10**7))
def test_no_input_substring_of_length_8_reaches_the_fingerprint(skeleton: Any, data: Any, cluster: int | None,
                                                                 token_count: int | None) -> None:
    payload = render(skeleton, lambda kind: wrap(kind, data.draw(input_text)))
    fp = build_fingerprint(payload, token_count=token_count, embedding_cluster_id=cluster)
    serialized = [fp.to_json(), json.dumps(fp.as_dict()), fp.structural_signature]
    assert SIGNATURE_PATTERN.match(fp.structural_signature)
    # The format's own key names are long runs without punctuation: a user who types
    # "signatur" matches "structural_signature", which is no copy. Blank them out.
    for key in fp.as_dict():
        serialized = [s.replace(key, "\0") for s in serialized]
    for text in strings_in(payload):
        for start in range(len(text) - 7):
            piece = text[start:start + 8]  # every longer substring contains one of these
            assert not any(piece in s for s in serialized), f"input substring {piece!r} leaked"


def test_typing_the_format_is_not_content() -> None:
    # A user who types a fingerprint gets the fingerprint of any other one-line prompt.
    typed = '{"structural_signature": "s.u.a/c=1/j=1/t=1/b=8", "token_count_band": 6}'
    assert build_fingerprint(oa(("user", f"say {typed}")), token_count=3) == \
        build_fingerprint(oa(("user", "what is the weather")), token_count=3)


filler = st.text(alphabet=string.ascii_letters + string.digits + " ", min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(skeleton=skeletons, data=st.data(), token_count=st.integers(min_value=0, max_value=200_000))
def test_the_fingerprint_depends_on_structure_only(skeleton: Any, data: Any, token_count: int) -> None:
    # The same skeleton with two independent sets of texts (same kinds) fingerprints alike.
    first = render(skeleton, lambda kind: wrap(kind, data.draw(filler)))
    second = render(skeleton, lambda kind: wrap(kind, data.draw(filler)))
    assert build_fingerprint(first, token_count=token_count) == build_fingerprint(second, token_count=token_count)


# --------------------------------------------------------------------------- the database CHECK


def db_valid(conn: psycopg.Connection[Any], fingerprint: Any) -> bool:
    row = conn.execute("SELECT tessera_private.prompt_fingerprint_v1_is_valid(%s::jsonb)",
                       (json.dumps(fingerprint),)).fetchone()
    assert row is not None
    return bool(row[0])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(skeleton=skeletons, data=st.data(),
       cluster=st.none() | st.integers(min_value=1, max_value=MAX_CLUSTER_ID),
       token_count=st.none() | st.integers(min_value=0, max_value=10**7))
def test_every_built_fingerprint_passes_the_database_check(conn: psycopg.Connection[Any], skeleton: Any, data: Any,
                                                           cluster: int | None, token_count: int | None) -> None:
    # Read-only (an IMMUTABLE function call), so reusing the fixture across examples is safe.
    payload = render(skeleton, lambda kind: wrap(kind, data.draw(filler)))
    fp = build_fingerprint(payload, token_count=token_count, embedding_cluster_id=cluster)
    assert db_valid(conn, fp.as_dict()), fp


def test_built_fingerprints_are_stored_by_the_audit_trigger(conn: psycopg.Connection[Any]) -> None:
    long_loop = {"messages": [{"role": "user" if i % 2 else "assistant", "content": "x"} for i in range(300)]}
    built = [
        build_fingerprint(oa(("system", "s"), ("user", FENCED), ("assistant", "ok")), token_count=700),
        build_fingerprint(long_loop, token_count=131073, embedding_cluster_id=MAX_CLUSTER_ID),
        build_fingerprint(anth("s", ("user", '{"a": 1}')), embedding_cluster_id=1),
    ]
    stored = []
    for fp in built:
        conn.execute("SELECT set_config('tessera.prompt_fingerprint_v1', %s, true)", (fp.to_json(),))
        event = conn.execute("SELECT tessera_private.write_audit_event(NULL, 'probe', NULL, 'insert')").fetchone()
        assert event is not None
        row = conn.execute("SELECT prompt_fingerprint_v1 FROM tessera.audit_events WHERE event_id = %s",
                           (event[0],)).fetchone()
        assert row is not None
        stored.append(row[0])
    assert stored == [fp.as_dict() for fp in built]
    assert stored[1]["structural_signature"].endswith("/b=8") and stored[1]["token_count_band"] == 6


GOOD = build_fingerprint(oa(("system", "s"), ("user", FENCED), ("assistant", "ok")), token_count=700).as_dict()


@pytest.mark.parametrize("change", [
    {"token_count_band": 0}, {"token_count_band": 7}, {"token_count_band": "2"}, {"token_count_band": 2.5},
    {"token_count_band": True}, {"token_count_band": None},
    {"embedding_cluster_id": 0}, {"embedding_cluster_id": -1}, {"embedding_cluster_id": 1.5},
    {"embedding_cluster_id": "3"}, {"embedding_cluster_id": True},
    {"structural_signature": "s.u.a/c=1/j=0/t=0"}, {"structural_signature": "S.U/c=1/j=0/t=0/b=2"},
    {"structural_signature": "s.u.a/c=2/j=0/t=0/b=2"}, {"structural_signature": "my prompt/c=0/j=0/t=0/b=1"},
    {"structural_signature": ".".join("u" * 65) + "/c=0/j=0/t=0/b=8"},
    {"structural_signature": ["s", "u"]},
])
def test_wrong_types_and_out_of_range_values_are_refused(conn: psycopg.Connection[Any], change: dict[str, Any]) -> None:
    assert db_valid(conn, GOOD)
    assert not db_valid(conn, {**GOOD, **change})
    conn.execute("SELECT set_config('tessera.prompt_fingerprint_v1', %s, true)", (json.dumps({**GOOD, **change}),))
    conn.execute("SAVEPOINT probe")
    with pytest.raises(psycopg.errors.CheckViolation, match="audit_events_prompt_fingerprint_v1_shape"):
        conn.execute("SELECT tessera_private.write_audit_event(NULL, 'probe', NULL, 'insert')")
    conn.execute("ROLLBACK TO SAVEPOINT probe")


@pytest.mark.parametrize("missing", ["structural_signature", "token_count_band", "embedding_cluster_id"])
def test_a_missing_key_is_refused_extra_keys_are_allowed(conn: psycopg.Connection[Any], missing: str) -> None:
    assert not db_valid(conn, {k: v for k, v in GOOD.items() if k != missing})
    assert db_valid(conn, {**GOOD, "v1_added_later": 3})

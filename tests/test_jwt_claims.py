"""tessera_private.jwt_claims(): validated without an exception block (parallel safe).

jwt_claims() parses request.jwt.claims into a jsonb object, or NULL. It validates the
text with regular expressions before it casts, so that it needs no BEGIN ... EXCEPTION
block (a subtransaction, which parallel mode refuses). Checked here against the real
cast, in a real database:

* property (hypothesis): for JSON texts (json.dumps of random values, ASCII-escaped or
  not, pretty or compact), mutated and truncated versions of them, random text over a
  JSON alphabet, strings full of \\u escapes (surrogates, \\u0000) and big numbers,
  jwt_claims() never raises, and it returns the object exactly when ``raw::jsonb``
  succeeds and is an object -- except beyond the documented caps (65536 characters,
  nesting 64, digit runs of 200, exponents of 3 digits), where it may return NULL although
  the cast would succeed (failing closed), never the reverse (nesting up to 64 levels
  is always accepted; deeper nesting may be refused);
* explicit examples: an escaped emoji surrogate pair, lone surrogates, \\u0000, 1e1001,
  nesting beyond the cap, a typical Supabase claims object;
* parallel mode: under force_parallel_mode (debug_parallel_query from PostgreSQL 16) the
  function and a query calling it run without error, in a parallel plan.
"""

from __future__ import annotations

import json
import re
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

MAX_LENGTH = 65536
MAX_DEPTH = 64

SUPABASE_CLAIMS = {
    "aud": "authenticated",
    "exp": 1767225600,
    "iat": 1767222000,
    "iss": "https://abcdefghijklmnop.supabase.co/auth/v1",
    "sub": "8c2f4e1a-3b5d-4c7e-9f01-23456789abcd",
    "email": "sponsor-a@tenant-a.example",
    "phone": "",
    "app_metadata": {"provider": "email", "providers": ["email"]},
    "user_metadata": {"full_name": "Ada Sponsor", "email_verified": True},
    "role": "authenticated",
    "aal": "aal1",
    "amr": [{"method": "password", "timestamp": 1767222000}],
    "session_id": "1f2e3d4c-5b6a-4789-8abc-def012345678",
    "is_anonymous": False,
}


def set_claims(conn: psycopg.Connection[Any], raw: str | None) -> None:
    conn.execute("SELECT pg_catalog.set_config('request.jwt.claims', %s, true)", (raw if raw is not None else "",))


def jwt_claims(conn: psycopg.Connection[Any], raw: str) -> Any:
    """jwt_claims() for these claims; outside any savepoint, so an error fails the test."""
    set_claims(conn, raw)
    row = conn.execute("SELECT tessera_private.jwt_claims()").fetchone()
    assert row is not None
    return row[0]


def jwt_claims_text(conn: psycopg.Connection[Any], raw: str) -> str | None:
    """jwt_claims()::text (no Python decoding: jsonb numbers may exceed Python's limits)."""
    set_claims(conn, raw)
    row = conn.execute("SELECT tessera_private.jwt_claims()::text").fetchone()
    assert row is not None
    return row[0]


def cast(conn: psycopg.Connection[Any], raw: str) -> tuple[bool, str | None]:
    """(True, raw::jsonb::text) when raw::jsonb succeeds and is an object, else (False, None)."""
    try:
        with conn.transaction():  # a savepoint: the outer transaction survives the error
            row = conn.execute("SELECT pg_catalog.jsonb_typeof(%s::jsonb) = 'object', %s::jsonb::text",
                               (raw, raw)).fetchone()
    except psycopg.DataError:
        return False, None
    assert row is not None
    return bool(row[0]), row[1]


def depth(jsonb_text: str) -> int:
    """Nesting depth of a JSON text (jsonb's output), counted outside strings."""
    deepest = level = 0
    in_string = escaped = False
    for char in jsonb_text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            level += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level -= 1
    return deepest


def beyond_caps(raw: str, value: str) -> bool:
    """The documented caps, where jwt_claims() may fail closed."""
    return (len(raw) > MAX_LENGTH or depth(value) > MAX_DEPTH
            or re.search(r"[0-9]{201}", raw) is not None
            or re.search(r"[eE][-+]?[0-9]{4}", raw) is not None)


# --- Strategies ------------------------------------------------------------------------

# Text a JSON string may hold when dumped with ensure_ascii=False (no lone surrogates:
# they cannot be sent as UTF-8); with ensure_ascii=True lone surrogates become \\uD8xx.
plain_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
any_text = st.text(max_size=12)

scalars = (st.none() | st.booleans() | st.integers()
           | st.integers(min_value=-10**250, max_value=10**250)
           | st.floats(allow_nan=False, allow_infinity=False))


def json_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(scalars | text,
                        lambda children: st.lists(children, max_size=4)
                        | st.dictionaries(text, children, max_size=4),
                        max_leaves=25)


@st.composite
def dumped(draw: st.DrawFn) -> str:
    ensure_ascii = draw(st.booleans())
    values = json_values(any_text if ensure_ascii else plain_text)
    value = draw(st.dictionaries(any_text if ensure_ascii else plain_text, values, max_size=5)
                 | values)
    indent = draw(st.sampled_from([None, None, 0, 2, "\t"]))
    separators = draw(st.sampled_from([None, (",", ":"), (" , ", " : ")]))
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators)


JSON_ALPHABET = '{}[]:,"\\ \t\n\r0123456789-+.eEtrufalsnbxABCDEFdé😀\x01\x1f\x7f'


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(dumped())
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(["truncate", "delete", "insert", "replace"]))
        at = draw(st.integers(min_value=0, max_value=len(text)))
        char = draw(st.sampled_from(JSON_ALPHABET))
        if kind == "truncate":
            text = text[:at]
        elif kind == "delete":
            text = text[:at] + text[at + 1:]
        elif kind == "insert":
            text = text[:at] + char + text[at:]
        else:
            text = text[:at] + char + text[at + 1:]
    return text


random_text = st.builds(lambda prefix, body: prefix + body,
                        st.sampled_from(["", "{", '{"', " {"]), st.text(alphabet=JSON_ALPHABET, max_size=40))

HEX4 = st.sampled_from(["0000", "0001", "001f", "0020", "007f", "0080", "00e9", "ffff", "FFFE",
                        "d7ff", "D800", "d83d", "DBFF", "dc00", "DE00", "dfff", "e000"]) \
    | st.text(alphabet="0123456789abcdefABCDEF", min_size=4, max_size=4)
escape_piece = (st.builds(lambda h: "\\u" + h, HEX4)
                | st.sampled_from(['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\x", "\\",
                                   "\\u12", "a", "é", '"', "\t"]))
escapes = st.builds(lambda key, pieces: '{"' + key + '": "' + "".join(pieces) + '"}',
                    st.sampled_from(["k", "\\ud83d\\ude00", "\\u0000"]), st.lists(escape_piece, max_size=6))


@st.composite
def big_number(draw: st.DrawFn) -> str:
    sign = draw(st.sampled_from(["", "-", "+"]))
    whole = draw(st.sampled_from(["0", "1", "9" * 199, "9" * 200, "9" * 201, "1" + "0" * 300, "01"])
                 | st.integers(min_value=0, max_value=10**30).map(str))
    frac = draw(st.sampled_from(["", ".5", "." + "0" * 200 + "1", "." + "5" * 201, "."]))
    exp = draw(st.sampled_from(["", "e", "E+"]) | st.builds(
        lambda e, s, d: e + s + d, st.sampled_from(["e", "E"]), st.sampled_from(["", "+", "-"]),
        st.sampled_from(["0", "5", "308", "999", "1000", "1001", "0999", "16383", "16384", "131072",
                         "1000000", "99999999999"])))
    return '{"exp": ' + sign + whole + frac + exp + "}"


claims_texts = st.one_of(dumped(), dumped(), mutated(), random_text, escapes, big_number())


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=claims_texts)
@example(raw='{"a": "\\ud83d\\ude00"}')
@example(raw='{"a": "\\ud83d"}')
@example(raw='{"a": "\\ude00\\ud83d"}')
@example(raw='{"a": 1, }')
@example(raw='{"a": 1}\n')
@example(raw='{"a": 1\\n}')
@example(raw='{"a"\t:\r\n1}')
@example(raw='{"a": "\\"}')
@example(raw='{"a": "\\\\"}')
def test_jwt_claims_agrees_with_the_jsonb_cast(conn: psycopg.Connection[Any], raw: str) -> None:
    raw = raw.replace("\x00", "")  # a setting cannot hold NUL
    got = jwt_claims_text(conn, raw)  # never raises: an error would abort the transaction
    ok, value = cast(conn, raw)
    event("valid object" if ok else "refused by jsonb or not an object")
    if got is not None:
        assert ok, f"jwt_claims() accepted what jsonb refuses (or is no object): {raw!r}"
        assert got == value
    elif ok:
        event("beyond the caps: failed closed")
        assert value is not None and beyond_caps(raw, value), f"jwt_claims() refused a valid claims object within the caps: {raw!r}"


# --- Explicit examples -----------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ('{"name": "\\ud83d\\ude00"}', {"name": "\U0001F600"}),
    ('{"name": "\\uD83D\\uDE00 \\u00e9\\/\\"\\\\\\b\\f\\n\\r\\t"}', {"name": "\U0001F600 é/\"\\\b\f\n\r\t"}),
    ('{"name": "\\ud83d"}', None),
    ('{"name": "\\ude00"}', None),
    ('{"name": "\\ud83d\\ud83d\\ude00"}', None),
    ('{"name": "\\ud83dx"}', None),
    ('{"email": "ops@tessera.example\\u0000"}', None),
    ('{"exp": 1e1001}', None),
    ('{"exp": 1e999}', {"exp": 10**999}),
    ('{"exp": 1e1000000}', None),
    ('{"exp": ' + "9" * 200 + "}", {"exp": int("9" * 200)}),
    ('{"exp": ' + "9" * 201 + "}", None),
    ('{"a": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}", {"a": json.loads("[" * 63 + "]" * 63)}),
    ('{"a": ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}", None),
    ('{"a": ' + '{"a": ' * 200 + "1" + "}" * 200 + "}", None),
    ("{" + '"k": "' + "x" * MAX_LENGTH + '"}', None),
    ("", None),
    ("  ", None),
    ("[]", None),
    ('"x"', None),
    ("{} {}", None),
    ('{"a": 01}', None),
    ('{"a": tru}', None),
    ('{"a": "\x01"}', None),
    ('{"a": "\t"}', None),
    ("{\x01}", None),
    ("{\x02}", None),
    (json.dumps(SUPABASE_CLAIMS), SUPABASE_CLAIMS),
    (json.dumps(SUPABASE_CLAIMS, indent=2, ensure_ascii=True), SUPABASE_CLAIMS),
])
def test_jwt_claims_examples(conn: psycopg.Connection[Any], raw: str, expected: Any) -> None:
    assert jwt_claims(conn, raw) == expected


def test_jwt_claims_missing_setting_is_null(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute("SELECT pg_catalog.current_setting('request.jwt.claims', true)").fetchone()
    assert row is not None and row[0] is None
    row = conn.execute("SELECT tessera_private.jwt_claims()").fetchone()
    assert row is not None and row[0] is None


def test_jwt_claims_has_no_exception_block(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute("SELECT prosrc, proparallel, provolatile FROM pg_catalog.pg_proc"
                       " WHERE oid = 'tessera_private.jwt_claims()'::regprocedure").fetchone()
    assert row is not None
    source, parallel, volatility = row
    assert re.search(r"\bEXCEPTION\b", source, re.IGNORECASE) is None
    assert (parallel, volatility) == ("s", "s")


# --- Parallel mode ---------------------------------------------------------------------

def test_jwt_claims_runs_in_parallel_mode(conn: psycopg.Connection[Any]) -> None:
    """With the old EXCEPTION body this raised "cannot start subtransactions during a
    parallel operation"."""
    set_claims(conn, json.dumps(SUPABASE_CLAIMS))
    setting = "debug_parallel_query" if conn.info.server_version >= 160000 else "force_parallel_mode"
    conn.execute(f"SET LOCAL {setting} = on")
    conn.execute("SET LOCAL parallel_setup_cost = 0")
    conn.execute("SET LOCAL parallel_tuple_cost = 0")

    query = "SELECT tessera_private.jwt_claims()"
    plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN (COSTS OFF) {query}").fetchall())
    assert "Gather" in plan, plan
    row = conn.execute(query).fetchone()
    assert row is not None and row[0] == SUPABASE_CLAIMS

    query = ("SELECT pg_catalog.count(*) FROM pg_catalog.generate_series(1, 1000) AS g(i)"
             " WHERE tessera_private.jwt_claims() ->> 'email' = 'sponsor-a@tenant-a.example'"
             " AND tessera_private.jwt_email() = 'sponsor-a@tenant-a.example'")
    plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN (COSTS OFF) {query}").fetchall())
    assert "Gather" in plan, plan
    row = conn.execute(query).fetchone()
    assert row is not None and row[0] == 1000

    # Malformed claims in parallel mode: NULL, not an error.
    set_claims(conn, '{"email": "ops@tessera.example\\u0000"}')
    row = conn.execute("SELECT tessera_private.jwt_claims()").fetchone()
    assert row is not None and row[0] is None


def test_rls_identity_helpers_allow_a_parallel_plan(conn: psycopg.Connection[Any]) -> None:
    """A sponsor's and an operator's queries may run in parallel: every helper their
    policies call (is_operator, sponsor_client_ids, jwt_email, jwt_claims) is PARALLEL
    SAFE. One PARALLEL UNSAFE helper anywhere in the policies and the plan has no Gather
    (the month-to-date RLS overhead in docs/benchmarks.md doubled that way)."""
    ours, theirs = "00000000-0000-4000-8000-00000000a001", "00000000-0000-4000-8000-00000000a002"
    conn.execute("INSERT INTO tessera.clients (client_id, name) VALUES (%s, 'ours'), (%s, 'theirs')", (ours, theirs))
    conn.execute("INSERT INTO tessera.client_users (client_id, email) VALUES (%s, 'sponsor-a@tenant-a.example')",
                 (ours,))
    setting = "debug_parallel_query" if conn.info.server_version >= 160000 else "force_parallel_mode"
    for name in ("parallel_setup_cost", "parallel_tuple_cost", "min_parallel_table_scan_size"):
        conn.execute(f"SET LOCAL {name} = 0")
    conn.execute(f"SET LOCAL {setting} = on")
    set_claims(conn, json.dumps(SUPABASE_CLAIMS))
    conn.execute("SET LOCAL ROLE authenticated")
    query = "SELECT pg_catalog.array_agg(client_id::text) FROM tessera.clients"
    plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN (VERBOSE, COSTS OFF) {query}").fetchall())
    assert "Gather" in plan, plan
    assert "tessera_private.is_operator" in plan and "tessera_private.sponsor_client_ids" in plan, plan
    row = conn.execute(query).fetchone()
    assert row is not None and row[0] == [ours]  # the policies still apply in parallel

"""The pgTAP suite (tests/pgtap/NN_<concern>.sql), run by pg_prove, plus checks on its form.

* Each tests/pgtap/[0-9]*.sql file runs under ``pg_prove --verbose`` against its own
  fresh, fully built test database of every build (the ``built`` fixture: the declared
  build, and tessera-db deployed on a Supabase-style cluster by its non-superuser deploy
  login, online and offline); a non-zero exit fails the test with pg_prove's whole
  output. A missing pg_prove is a failure, not a skip.
* Offline checks on every file, so the suite cannot quietly lose its teeth:
  - it is named NN_<snake_case>.sql, opens with BEGIN and the act_as helper, declares
    ``plan(``, calls ``finish()`` and ends in ROLLBACK;
  - every ``throws_ok(`` names the SQLSTATE it expects: exactly four arguments
    (sql, '<5-character SQLSTATE>', message or NULL, description). pgTAP reads a
    three-argument throws_ok(sql, '42501', 'text') as (sql, errcode, *message*), so the
    three-argument form cannot carry a description and is refused too;
  - every assertion carries its description inside the call (a minimum argument count
    per pgTAP function; assertions inside dollar-quoted bodies are checked as well).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.supabase_platform import BuiltDatabase, on_every_build

PGTAP_DIR = Path(__file__).resolve().parent / "pgtap"
PGTAP_FILES = sorted(PGTAP_DIR.glob("[0-9]*.sql"))
FILE_NAME = re.compile(r"^\d{2}_[a-z0-9_]+\.sql$")

#: Concerns the foundation suite must cover (a file may not silently disappear).
REQUIRED = (
    "01_structure.sql",
    "02_clients_isolation.sql",
    "03_workloads_sponsor_update.sql",
    "04_operators_and_client_users.sql",
    "05_portal_settings.sql",
    "06_identity_claims.sql",
    "07_search_path_hijack.sql",
)

#: pgTAP assertion -> fewest arguments of the form that carries a description.
#: Forms whose description-less variant has as many arguments (has_table(schema,
#: table), is_definer(schema, function, args)) are held to the longer form.
MIN_ARGS = {
    "ok": 2, "is": 3, "isnt": 3, "cmp_ok": 4, "matches": 3, "imatches": 3,
    "doesnt_match": 3, "alike": 3, "unalike": 3,
    "is_empty": 2, "isnt_empty": 2, "results_eq": 3, "results_ne": 3,
    "set_eq": 3, "set_ne": 3, "set_has": 3, "set_hasnt": 3,
    "bag_eq": 3, "bag_ne": 3, "bag_has": 3, "bag_hasnt": 3, "row_eq": 3,
    "lives_ok": 2, "throws_ok": 4, "throws_like": 3, "throws_ilike": 3,
    "throws_matching": 3, "throws_imatching": 3,
    "has_schema": 2, "hasnt_schema": 2, "has_table": 3, "hasnt_table": 3,
    "has_column": 4, "has_function": 4, "policies_are": 4, "policy_roles_are": 5,
    "policy_cmd_is": 5, "is_definer": 4, "isnt_definer": 4,
    "function_privs_are": 6, "table_privs_are": 5, "schema_privs_are": 4, "tables_are": 3,
}
SQLSTATE = re.compile(r"^[0-9A-Z]{5}$")


# --------------------------------------------------------------------------- running


def _pg_prove() -> str:
    path = shutil.which("pg_prove")
    if path is None:
        pytest.fail("pg_prove not found on PATH: install pgTAP's client (Debian: apt-get install "
                    "libtap-parser-sourcehandler-pgtap-perl) -- the pgTAP suite must run, not skip")
    return path


def test_the_foundation_concerns_are_all_present() -> None:
    names = [p.name for p in PGTAP_FILES]
    missing = [name for name in REQUIRED if name not in names]
    assert not missing, f"pgTAP files missing from {PGTAP_DIR}: {missing}"


pytest_generate_tests = on_every_build  # each file also on the Supabase-style deployments


@pytest.mark.parametrize("path", PGTAP_FILES, ids=[p.name for p in PGTAP_FILES])
def test_pgtap_file(path: Path, built: BuiltDatabase) -> None:
    pg_prove = _pg_prove()
    built.connection.commit()  # nothing of the fixture's may hold a lock pg_prove's session meets
    info = built.conninfo
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGHOST=str(info["host"]), PGPORT=str(info["port"]), PGUSER=str(info["user"]),
               PGPASSWORD=str(info["password"]), PGDATABASE=str(info["dbname"]))
    result = subprocess.run(
        [pg_prove, "--verbose", "--nocolor", "--failures", path.name],
        cwd=PGTAP_DIR, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    output = f"$ pg_prove --verbose {path.name}  (exit {result.returncode})\n{result.stdout}\n{result.stderr}"
    if result.returncode != 0 or "Result: PASS" not in result.stdout:
        pytest.fail(output, pytrace=False)


# --------------------------------------------------------------------------- form


@dataclass(frozen=True)
class Token:
    kind: str  # "str" (a quoted literal), "dollar" (a dollar-quoted body), "word", "punct", "other"
    text: str
    line: int


_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def tokenize(sql: str, first_line: int = 1) -> list[Token]:
    """Just enough of PostgreSQL's lexer to find function calls and their arguments:
    comments dropped, '...' / E'...' literals and $tag$...$tag$ bodies kept whole."""
    tokens: list[Token] = []
    i, line, n = 0, first_line, len(sql)
    while i < n:
        c = sql[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
        elif sql.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            line += sql.count("\n", i, j)
            i = j
        elif c == "'":
            escape = bool(tokens) and tokens[-1].kind == "word" and tokens[-1].text in ("E", "e") \
                and i > 0 and sql[i - 1] in "Ee"
            if escape:
                tokens.pop()
            j, value = i + 1, []
            while j < n:
                if escape and sql[j] == "\\" and j + 1 < n:
                    value.append(sql[j:j + 2])
                    j += 2
                elif sql[j] == "'" and sql.startswith("''", j):
                    value.append("'")
                    j += 2
                elif sql[j] == "'":
                    break
                else:
                    value.append(sql[j])
                    j += 1
            tokens.append(Token("str", "".join(value), line))
            line += sql.count("\n", i, j)
            i = j + 1
        elif c == '"':
            j = sql.find('"', i + 1)
            j = n if j < 0 else j
            tokens.append(Token("word", sql[i + 1:j], line))
            i = j + 1
        elif c == "$" and (m := _DOLLAR_TAG.match(sql, i)):
            tag = m.group(0)
            end = sql.find(tag, m.end())
            end = n if end < 0 else end
            tokens.append(Token("dollar", sql[m.end():end], line))
            line += sql.count("\n", i, end)
            i = end + len(tag)
        elif m := _WORD.match(sql, i):
            tokens.append(Token("word", m.group(0), line))
            i = m.end()
        elif c in "(),[].":
            tokens.append(Token("punct", c, line))
            i += 1
        else:
            tokens.append(Token("other", c, line))
            i += 1
    return tokens


@dataclass(frozen=True)
class Call:
    name: str
    line: int
    args: list[list[Token]]


def assertion_calls(sql: str, first_line: int = 1) -> list[Call]:
    """Every call of a pgTAP assertion in ``sql``, including inside dollar-quoted bodies
    (DO blocks, helper functions)."""
    tokens = tokenize(sql, first_line)
    calls: list[Call] = []
    for k, tok in enumerate(tokens):
        if tok.kind == "dollar":
            calls.extend(assertion_calls(tok.text, tok.line))
        if (tok.kind != "word" or tok.text.lower() not in MIN_ARGS
                or k + 1 >= len(tokens) or tokens[k + 1].text != "("
                or (k > 0 and tokens[k - 1].text == ".")):
            continue
        depth, args, current = 0, [], []
        for inner in tokens[k + 2:]:
            if inner.kind == "punct" and inner.text in "([":
                depth += 1
            elif inner.kind == "punct" and inner.text in ")]":
                if depth == 0:
                    break
                depth -= 1
            elif inner.kind == "punct" and inner.text == "," and depth == 0:
                args.append(current)
                current = []
                continue
            current.append(inner)
        args.append(current)
        calls.append(Call(tok.text.lower(), tok.line, [a for a in args if a]))
    return calls


def form_problems(sql: str) -> list[str]:
    problems = []
    for call in assertion_calls(sql):
        where = f"line {call.line}: {call.name}("
        if call.name == "throws_ok":
            code = call.args[1] if len(call.args) > 1 else []
            if len(call.args) != 4:
                problems.append(f"{where} has {len(call.args)} argument(s); write "
                                "throws_ok(sql, '<SQLSTATE>', <message or NULL>, '<description>')")
            elif not (len(code) == 1 and code[0].kind == "str" and SQLSTATE.match(code[0].text)):
                problems.append(f"{where} second argument must be a 5-character SQLSTATE literal")
        elif len(call.args) < MIN_ARGS[call.name]:
            problems.append(f"{where} has {len(call.args)} argument(s), {MIN_ARGS[call.name]} "
                            "needed to carry its description inside the call")
    return problems


@pytest.mark.parametrize("path", PGTAP_FILES, ids=[p.name for p in PGTAP_FILES])
def test_pgtap_file_form(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    statements = [line.strip() for line in text.splitlines()
                  if line.strip() and not line.strip().startswith("--")]
    assert FILE_NAME.match(path.name), f"{path.name}: pgTAP files are named NN_<snake_case_concern>.sql"
    assert statements[:2] == ["BEGIN;", r"\ir helpers/act_as.sql"], \
        f"{path.name}: must open with BEGIN; then \\ir helpers/act_as.sql"
    assert re.search(r"\bSELECT\s+plan\(", text), f"{path.name}: no SELECT plan(...)"
    assert "SELECT * FROM finish();" in text, f"{path.name}: no SELECT * FROM finish();"
    assert statements[-1] == "ROLLBACK;", f"{path.name}: must end with ROLLBACK;"
    assert assertion_calls(text), f"{path.name}: no pgTAP assertion found"
    problems = form_problems(text)
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("snippet, problem", [
    ("SELECT throws_ok($$ SELECT 1 $$);", "has 1 argument"),
    ("SELECT throws_ok('SELECT 1', 'boom', 'description');", "has 3 argument"),
    ("SELECT throws_ok($$ SELECT 1 $$, '42501', 'description only');", "has 3 argument"),
    ("SELECT throws_ok($$ SELECT 1 $$, 'P01', NULL, 'd');", "SQLSTATE literal"),
    ("SELECT ok(true), 'description outside the call';", "ok( has 1 argument"),
    ("SELECT is(1, 1);", "is( has 2 argument"),
    ("SELECT is_empty($$ SELECT 1 WHERE false $$);", "is_empty( has 1 argument"),
    ("DO $do$ BEGIN PERFORM lives_ok('SELECT 1'); END $do$;", "lives_ok( has 1 argument"),
])
def test_form_check_catches(snippet: str, problem: str) -> None:
    """The form check itself can fail (each snippet is one planted violation)."""
    problems = form_problems(snippet)
    assert len(problems) == 1 and problem in problems[0], problems


def test_form_check_accepts_the_house_style() -> None:
    snippet = """
        SELECT throws_ok($$ SELECT 'a, b' || (1, 2)::text $$, '42501', NULL, 'refused, with commas');
        SELECT throws_ok(E'SELECT \\'x\\'', 'P0002', 'client x not found', 'd');  -- ok(
        SELECT ok(f(1, ARRAY[2, 3]), format('%s, %s', 1, 2));
        SELECT tests.ok(1);   /* a function of another schema: not pgTAP's */
    """
    assert form_problems(snippet) == []
    assert [c.name for c in assertion_calls(snippet)] == ["throws_ok", "throws_ok", "ok"]

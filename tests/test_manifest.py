"""The layout is the architecture: every SQL object lives in a file named for it, and
load.sql lists every file exactly once."""

from __future__ import annotations

import re
from collections import Counter

from tessera_db import manifest
from tessera_db.paths import sql_root

ROOT = sql_root()


def _tables_declared() -> dict[str, str]:
    """table name -> schema file that creates it."""
    found = {}
    for path in sorted((ROOT / "schema").glob("*.sql")):
        for name in re.findall(r"CREATE TABLE tessera\.(\w+)", path.read_text()):
            found[name] = path.name
    return found


def test_every_sql_file_is_listed_exactly_once():
    listed = manifest.listed_files()
    duplicates = [f for f, n in Counter(listed).items() if n > 1]
    assert duplicates == [], f"listed more than once in load.sql: {duplicates}"
    assert sorted(listed) == manifest.declared_files(), (
        "load.sql and the SQL folders disagree: "
        f"unlisted={sorted(set(manifest.declared_files()) - set(listed))} "
        f"missing={sorted(set(listed) - set(manifest.declared_files()))}"
    )


def test_schema_files_are_numbered_and_hold_one_table_each():
    for path in sorted((ROOT / "schema").glob("*.sql")):
        assert re.fullmatch(r"\d\d_[a-z][a-z0-9_]*\.sql", path.name), path.name
        tables = re.findall(r"CREATE TABLE tessera\.(\w+)", path.read_text())
        if path.name.startswith("0"):
            assert tables == [], f"{path.name}: 00-09 are for schemas, extensions and defaults, not tables"
            continue
        assert tables == [path.name[3:-4]], f"{path.name} should create exactly its own table, found {tables}"


def test_function_files_hold_exactly_the_function_they_are_named_for():
    for path in sorted((ROOT / "functions").glob("*.sql")):
        match = re.fullmatch(r"(tessera|tessera_private)\.([a-z][a-z0-9_]*)\.sql", path.name)
        assert match, f"{path.name} is not named <schema>.<function>.sql"
        created = re.findall(r"CREATE (?:OR REPLACE )?FUNCTION (\w+)\.(\w+)\(", path.read_text())
        assert created == [match.groups()], f"{path.name} creates {created}"


def test_function_files_revoke_public_execute():
    for path in sorted((ROOT / "functions").glob("*.sql")):
        assert re.search(r"REVOKE ALL ON FUNCTION .+ FROM PUBLIC;", path.read_text()), path.name


def test_every_table_has_one_policy_file_holding_all_its_policies():
    tables = _tables_declared()
    policy_files = {p.stem: p.read_text() for p in (ROOT / "policies").glob("*.sql")}
    assert sorted(policy_files) == sorted(tables), "one policies/<table>.sql per table, no strays"
    for table, text in policy_files.items():
        assert f"ALTER TABLE tessera.{table} ENABLE ROW LEVEL SECURITY;" in text
        assert f"ALTER TABLE tessera.{table} FORCE ROW LEVEL SECURITY;" in text
        targets = set(re.findall(r"CREATE POLICY \w+ ON tessera\.(\w+)", text))
        assert targets <= {table}, f"policies/{table}.sql defines policies on {targets - {table}}"
    # ... and no policy is defined anywhere else.
    for folder in ("schema", "functions", "roles"):
        for path in (ROOT / folder).glob("*.sql"):
            assert "CREATE POLICY" not in path.read_text(), f"{path} defines a policy outside policies/"


def test_policies_name_their_roles():
    for path in (ROOT / "policies").glob("*.sql"):
        for policy in re.findall(r"CREATE POLICY .*?;", path.read_text(), flags=re.S):
            assert re.search(r"\bTO (authenticated|anon|service_role|tessera_\w+)\b", policy), policy
            assert not re.search(r"\bTO public\b", policy, flags=re.I), policy

"""``tessera-db policy matrix`` and ``policy diff`` against real databases, as a reviewer
and a deployment pipeline run them (README "Reviewing a deployment").

* ``policy diff`` exits 0 on the database the suite builds (the CI step "after building"),
  and exits 1 naming a planted GRANT (table and function) and a dropped policy; a login
  that may not probe is refused in one ``error:`` line (probing as Supabase's
  non-superuser deploy login: tests/test_policy_matrix.py, on the Supabase-style builds);
* ``policy matrix`` on a database with the demo's data leaves no role, membership, row,
  object, grant, policy or setting behind (a catalog and row snapshot before and after;
  only sequences may advance, which PostgreSQL never rolls back), and its matrix still
  equals the declared one (the deployment's own rows are not counted);
* the HTML page is self-contained and opens in a real headless browser (Debian's
  chromium through selenium), which finds every table's grid, the legend, the function
  grid, the colours, and takes a screenshot (kept in pytest's tmp dir);
* the Markdown and CSV renderings hold every cell and function.

The probing itself (every cell on every build) is tests/test_policy_matrix.py.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tessera_db import demo
from tessera_db import policy_matrix as pm
from tessera_db.db import Database

TESSERA_DB = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "tessera-db")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TESSERA_DB, *args], capture_output=True, text=True, timeout=300, check=False)


# --------------------------------------------------------------------------- policy diff


def test_policy_diff_passes_on_the_built_database(dsn: str) -> None:
    result = _cli("policy", "diff", "--dsn", dsn)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "matches" in result.stdout and str(pm.declared_path()) in result.stdout


def test_policy_diff_names_a_planted_grant(postgresql: psycopg.Connection[Any], dsn: str) -> None:
    postgresql.execute("GRANT SELECT ON tessera.operators TO anon")
    postgresql.execute("GRANT EXECUTE ON FUNCTION tessera.sweep(timestamptz) TO authenticated")
    postgresql.commit()
    result = _cli("policy", "diff", "--dsn", dsn)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "table tessera.operators: anon SELECT: declared denied, live none" in lines, result.stdout
    assert ("function tessera.sweep(timestamp with time zone): EXECUTE for authenticated: declared no, live yes"
            in lines), result.stdout
    assert "differs from" in lines[0] and "in 2 place(s)" in lines[0], result.stdout


def test_policy_diff_names_a_dropped_policy(postgresql: psycopg.Connection[Any], dsn: str) -> None:
    postgresql.execute("DROP POLICY client_users_delete_operator ON tessera.client_users")
    postgresql.commit()
    result = _cli("policy", "diff", "--dsn", dsn)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert lines[1:] == ["table tessera.client_users: operator DELETE: declared A,B, live none"], result.stdout


def test_policy_diff_refuses_an_unreadable_expected_file(dsn: str, tmp_path: Path) -> None:
    bad = tmp_path / "expected.json"
    bad.write_text('{"format": "not-a-matrix"}', encoding="utf-8")
    result = _cli("policy", "diff", "--dsn", dsn, "--expected", str(bad))
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot read the declared matrix") and "Traceback" not in result.stderr


def test_a_login_that_cannot_probe_is_refused_in_one_line(role_dsn: Any) -> None:
    result = _cli("policy", "matrix", "--dsn", role_dsn("tessera_proxy"))
    assert result.returncode == 1
    assert result.stderr.startswith("error: policy matrix: role tessera_proxy cannot probe"), result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""


# --------------------------------------------------------------------------- nothing left behind


_CATALOG = {
    "roles": "SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication,"
             "       rolbypassrls, rolconnlimit, rolconfig FROM pg_catalog.pg_roles ORDER BY 1",
    "memberships": "SELECT roleid::regrole::text, member::regrole::text, admin_option"
                   "  FROM pg_catalog.pg_auth_members ORDER BY 1, 2",
    "settings": "SELECT setdatabase, setrole, setconfig FROM pg_catalog.pg_db_role_setting ORDER BY 1, 2",
    "database": "SELECT datname, datacl::text FROM pg_catalog.pg_database ORDER BY 1",
    "relations": "SELECT n.nspname, c.relname, c.relkind, c.relacl::text, c.relrowsecurity, c.relforcerowsecurity"
                 "  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                 " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'"
                 " ORDER BY 1, 2",
    "columns_acl": "SELECT attrelid::regclass::text, attname, attacl::text FROM pg_catalog.pg_attribute"
                   " WHERE attacl IS NOT NULL ORDER BY 1, 2",
    "policies": "SELECT polrelid::regclass::text, polname, polcmd, polpermissive, polroles::text,"
                "       pg_catalog.pg_get_expr(polqual, polrelid), pg_catalog.pg_get_expr(polwithcheck, polrelid)"
                "  FROM pg_catalog.pg_policy ORDER BY 1, 2",
    "functions": "SELECT p.oid::regprocedure::text, p.proacl::text, p.prosecdef, p.proconfig::text, md5(p.prosrc)"
                 "  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
                 " WHERE n.nspname LIKE 'tessera%' ORDER BY 1",
    "constraints": "SELECT conrelid::regclass::text, conname, contype FROM pg_catalog.pg_constraint"
                   " WHERE connamespace::regnamespace::text LIKE 'tessera%' ORDER BY 1, 2",
    "triggers": "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_catalog.pg_trigger ORDER BY 1, 2",
    "schemas": "SELECT nspname, nspacl::text FROM pg_catalog.pg_namespace ORDER BY 1",
    "default_acl": "SELECT defaclrole::regrole::text, defaclnamespace, defaclobjtype, defaclacl::text"
                   "  FROM pg_catalog.pg_default_acl ORDER BY 1, 2, 3",
    "prepared": "SELECT gid FROM pg_catalog.pg_prepared_xacts",
}


def _snapshot(dsn: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The catalog, every row of every tessera table (as a count and digest), and the
    sequences' values separately."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        state: dict[str, Any] = {name: conn.execute(query).fetchall() for name, query in _CATALOG.items()}
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c"
            "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname LIKE 'tessera%' AND c.relkind = 'r' ORDER BY 1, 2").fetchall()
        for schema, table in tables:
            state[f"rows {schema}.{table}"] = conn.execute(sql.SQL(
                "SELECT count(*), md5(COALESCE(string_agg(r::text, '|' ORDER BY r::text), ''))"
                "  FROM (SELECT to_jsonb(t) AS r FROM {} t) s").format(sql.Identifier(schema, table))).fetchone()
        sequences = dict(conn.execute(
            "SELECT schemaname || '.' || sequencename, COALESCE(last_value, 0) FROM pg_catalog.pg_sequences").fetchall())
    return state, sequences


def test_policy_matrix_leaves_nothing_behind(postgresql: psycopg.Connection[Any], dsn: str, app_dsn: str,
                                             tmp_path: Path) -> None:
    """On a database with data (the demo's), the probe's roles, rows and settings are gone
    afterwards, and the deployment's own rows change no cell."""
    with Database(app_dsn, min_size=1, max_size=1) as db:
        demo.load(db)
    state_before, sequences_before = _snapshot(dsn)
    assert state_before["rows tessera.operators"][0] >= 1  # there is data to get in the way

    out = tmp_path / "matrix.json"
    result = _cli("policy", "matrix", "--dsn", dsn, "--format", "json", "-o", str(out))
    assert result.returncode == 0, result.stdout + result.stderr

    state_after, sequences_after = _snapshot(dsn)
    changed = sorted(k for k in state_before.keys() | state_after.keys()
                     if state_before.get(k) != state_after.get(k))
    assert changed == [], f"policy matrix left changes behind in: {changed}"
    # nextval is never rolled back: sequences may only have advanced (the probe's inserts).
    assert sequences_after.keys() == sequences_before.keys()
    assert all(sequences_after[s] >= sequences_before[s] for s in sequences_before)

    taken = json.loads(out.read_text(encoding="utf-8"))
    assert taken["database"] == postgresql.info.dbname and taken["taken_at"].endswith("UTC")
    assert pm.diff(pm.PolicyMatrix.from_json(taken), pm.load()) == []


# --------------------------------------------------------------------------- HTML in a browser


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "chromium and chromium-driver are missing: scripts/bootstrap.sh installs them"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1600,1200"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def test_html_page_opens_in_a_headless_browser(dsn: str, postgresql: psycopg.Connection[Any],
                                               tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "policy-matrix.html"
    result = _cli("policy", "matrix", "--dsn", dsn, "--format", "html", "-o", str(page))
    assert result.returncode == 0, result.stdout + result.stderr
    text = page.read_text(encoding="utf-8")
    for external in ("<script", "<link", "src=", "url(", "@import", "http://", "https://"):
        assert external not in text, f"the page is not self-contained: {external}"

    declared = pm.load()
    browser = _browser()
    try:
        browser.get(page.as_uri())
        assert postgresql.info.dbname in browser.find_element(By.TAG_NAME, "h1").text
        assert "UTC" in browser.find_element(By.ID, "taken").text
        assert browser.find_element(By.ID, "legend").is_displayed()
        grids = browser.find_elements(By.CSS_SELECTOR, "table.grid[data-table]")
        assert sorted(g.get_attribute("data-table") for g in grids) == sorted(
            f"tessera.{t}" for t in declared.tables)
        clients = browser.find_element(By.CSS_SELECTOR, 'table.grid[data-table="tessera.clients"]')
        rows = {r.find_element(By.TAG_NAME, "th").text: r.find_elements(By.TAG_NAME, "td")
                for r in clients.find_elements(By.CSS_SELECTOR, "tbody tr")}
        assert list(rows) == list(pm.ACTOR_NAMES)
        colours = {}
        for actor, kind in (("anon", "denied"), ("sponsor_A", "own"), ("operator", "allowed"), ("stranger", "none")):
            cell = rows[actor][0]  # SELECT
            assert kind in cell.get_attribute("class").split(), (actor, cell.get_attribute("class"))
            colours[kind] = cell.value_of_css_property("background-color")
        assert len(set(colours.values())) == 4, colours  # four visibly different colours
        functions = browser.find_elements(By.CSS_SELECTOR, "#functions tbody tr")
        assert len(functions) == len(declared.functions)
        assert functions[0].is_displayed()
        screenshot = tmp_path / "policy-matrix.png"
        assert browser.save_screenshot(str(screenshot))
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        browser.quit()


# --------------------------------------------------------------------------- other renderings


def test_markdown_and_csv_hold_every_cell_and_function() -> None:
    declared = pm.load()
    rows = list(csv.reader(io.StringIO(pm.render_csv(declared))))
    assert rows[0] == ["kind", "object", "subject", "attribute", "value"]
    cells = [r for r in rows if r[0] == "table"]
    assert len(cells) == len(declared.tables) * len(pm.ACTORS) * len(pm.COMMANDS)
    assert ["table", "tessera.clients", "sponsor_A", "SELECT", "A"] in cells
    assert {r[1] for r in rows if r[0] == "function"} == {f"tessera.{s}" for s in declared.functions}
    markdown = pm.render_markdown(declared)
    assert all(f"## tessera.{t}" in markdown for t in declared.tables)
    assert all(f"`{s}`" in markdown for s in declared.functions)
    assert pm.PolicyMatrix.from_json(json.loads(pm.dump_json(declared))).to_json() == declared.to_json()

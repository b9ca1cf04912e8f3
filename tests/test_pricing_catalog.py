"""tessera.pricing_catalog stays append-only and versioned, for every role.

* publish_price: first version 'created'; identical components 'unchanged' (same id, no
  write); a change closes the old row at the new row's effective_from ('changed');
  never backdated; a caller without EXECUTE (authenticated, anon, tessera_proxy) is
  refused with 42501.
* the guard triggers: for the superuser under session_replication_role = replica, for
  tessera_owner, service_role and an operator, each of: UPDATE of another column, a
  second close, a close before effective_from, re-opening, DELETE and TRUNCATE fails with
  42501; the one allowed close succeeds for the owner and the superuser.
* the exclusion constraint refuses overlapping periods of one model.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from tessera_db.errors import InvalidInput, PermissionDenied

OPERATOR = "ops@tessera.example"




def _seed(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Three versions of one model, inserted directly by the superuser:
    past   [now-10d, now-5d)  closed in the past (invisible to definer functions)
    soon   [now-5d, now+1d)   closed in the future (visible to the owner)
    open   [now+1d, -)        current
    """
    conn.execute("INSERT INTO tessera.operators (email) VALUES (%s)", (OPERATOR,))
    ids = {}
    for name, start, end in (("past", "-10 days", "-5 days"), ("soon", "-5 days", "+1 day"),
                             ("open", "+1 day", None)):
        ids[name] = conn.execute(
            "INSERT INTO tessera.pricing_catalog (provider, model, input_usd_per_token, output_usd_per_token,"
            " effective_from, effective_to) VALUES ('openai', 'gpt-4o', 0.0000025, 0.00001,"
            " now() + %s::interval, now() + %s::interval) RETURNING pricing_snapshot_id",
            (start, end)).fetchone()[0]
    return ids


def _become(conn: psycopg.Connection[Any], who: str) -> None:
    if who == "superuser-replica":
        conn.execute("SET LOCAL session_replication_role = replica")
    elif who == "owner":
        conn.execute("SET LOCAL ROLE tessera_owner")
    elif who == "service_role":
        conn.execute("SELECT set_config('request.jwt.claims', '{\"role\":\"service_role\"}', true)")
        conn.execute("SET LOCAL ROLE service_role")
    elif who == "operator":
        conn.execute("SELECT set_config('request.jwt.claims', %s, true)",
                     (json.dumps({"email": OPERATOR, "role": "authenticated"}),))
        conn.execute("SET LOCAL ROLE authenticated")
    else:
        raise ValueError(who)


def _refused(conn: psycopg.Connection[Any], who: str, statement: str, params: Any = None) -> str:
    """Run as ``who`` in a savepoint; return the SQLSTATE (None if it succeeded)."""
    conn.execute("SAVEPOINT t")
    try:
        _become(conn, who)
        conn.execute(statement, params)
        return "ok"
    except psycopg.Error as exc:
        return exc.sqlstate or "?"
    finally:
        conn.execute("ROLLBACK TO SAVEPOINT t")
        conn.execute("RESET ROLE")
        conn.execute("RESET session_replication_role")


ROLES = ("superuser-replica", "owner", "service_role", "operator")

FORBIDDEN = {
    "update-other-column-open": "UPDATE tessera.pricing_catalog SET input_usd_per_token = 0.000001 WHERE pricing_snapshot_id = %(open)s",
    "update-other-column-same-value": "UPDATE tessera.pricing_catalog SET model = model WHERE pricing_snapshot_id = %(open)s",
    "update-other-column-no-row": "UPDATE tessera.pricing_catalog SET output_usd_per_token = 0 WHERE false",
    "update-scale-only": "UPDATE tessera.pricing_catalog SET input_usd_per_token = input_usd_per_token::numeric(20,12) WHERE pricing_snapshot_id = %(open)s",
    "close-plus-scale-change": "UPDATE tessera.pricing_catalog SET effective_to = effective_from + interval '1 day', input_usd_per_token = input_usd_per_token::numeric(20,12) WHERE pricing_snapshot_id = %(open)s",
    "close-plus-other-column": "UPDATE tessera.pricing_catalog SET effective_to = effective_from + interval '1 day', published_at = published_at - interval '1 second' WHERE pricing_snapshot_id = %(open)s",
    "second-close": "UPDATE tessera.pricing_catalog SET effective_to = now() + interval '2 days' WHERE pricing_snapshot_id = %(soon)s",
    "close-unchanged": "UPDATE tessera.pricing_catalog SET effective_to = effective_to WHERE pricing_snapshot_id = %(soon)s",
    "close-before-effective-from": "UPDATE tessera.pricing_catalog SET effective_to = effective_from - interval '1 hour' WHERE pricing_snapshot_id = %(open)s",
    "reopen": "UPDATE tessera.pricing_catalog SET effective_to = NULL WHERE pricing_snapshot_id = %(soon)s",
    "delete": "DELETE FROM tessera.pricing_catalog WHERE pricing_snapshot_id = %(past)s",
    "delete-no-row": "DELETE FROM tessera.pricing_catalog WHERE false",
    "truncate": "TRUNCATE tessera.pricing_catalog",
}


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("case", sorted(FORBIDDEN))
def test_forbidden_changes_fail_for_every_role(conn: psycopg.Connection[Any], who: str, case: str) -> None:
    ids = _seed(conn)
    sql = FORBIDDEN[case]
    if case == "truncate":
        # TRUNCATE refuses while a foreign key points at the table (optimize_savings):
        # the guard must hold without that help, so CASCADE is what an attacker would try.
        sql = "TRUNCATE tessera.pricing_catalog CASCADE"
    assert _refused(conn, who, sql, ids) == "42501"
    # Nothing changed.
    rows = conn.execute("SELECT count(*), count(effective_to) FROM tessera.pricing_catalog").fetchone()
    assert rows == (3, 2)


def test_owner_cannot_even_see_a_row_closed_in_the_past(conn: psycopg.Connection[Any]) -> None:
    """Definer functions (running as the owner) see only open or not-yet-ended rows, so a
    second close of a past row reaches no row at all (and changes nothing)."""
    ids = _seed(conn)
    conn.execute("SET LOCAL ROLE tessera_owner")
    cur = conn.execute("UPDATE tessera.pricing_catalog SET effective_to = now() WHERE pricing_snapshot_id = %s",
                       (ids["past"],))
    assert cur.rowcount == 0
    seen = {r[0] for r in conn.execute("SELECT pricing_snapshot_id FROM tessera.pricing_catalog")}
    assert seen == {ids["soon"], ids["open"]}
    conn.execute("RESET ROLE")


@pytest.mark.parametrize("who", ["superuser-replica", "owner"])
def test_the_one_allowed_close(conn: psycopg.Connection[Any], who: str) -> None:
    ids = _seed(conn)
    stmt = ("UPDATE tessera.pricing_catalog SET effective_to = effective_from + interval '1 day'"
            " WHERE pricing_snapshot_id = %(open)s")
    assert _refused(conn, who, stmt, ids) == "ok"


def test_exclusion_constraint_refuses_overlap(conn: psycopg.Connection[Any]) -> None:
    _seed(conn)
    with pytest.raises(psycopg.errors.ExclusionViolation) as exc:
        conn.execute("INSERT INTO tessera.pricing_catalog (provider, model, input_usd_per_token, output_usd_per_token,"
                     " effective_from, effective_to) VALUES ('openai', 'gpt-4o', 1, 1, now() - interval '6 days',"
                     " now() - interval '4 days')")
    assert exc.value.diag.constraint_name == "pricing_catalog_no_overlap"


def test_exclusion_allows_touching_periods_and_other_models(conn: psycopg.Connection[Any]) -> None:
    _seed(conn)
    conn.execute("INSERT INTO tessera.pricing_catalog (provider, model, input_usd_per_token, output_usd_per_token,"
                 " effective_from, effective_to) VALUES ('openai', 'gpt-4o', 1, 1, now() - interval '20 days',"
                 " now() - interval '10 days')")  # ends exactly where 'past' starts
    conn.execute("INSERT INTO tessera.pricing_catalog (provider, model, input_usd_per_token, output_usd_per_token,"
                 " effective_from) VALUES ('openai', 'gpt-4o-mini', 1, 1, now() - interval '6 days')")


# --------------------------------------------------------------------------- publish_price


PUBLISH = ("SELECT pricing_snapshot_id, outcome FROM tessera.publish_price(%s, %s, %s, %s,"
           " p_cache_read => %s, p_effective_from => coalesce(%s::timestamptz, now()))")


def test_publish_created_unchanged_changed(db: Any) -> None:
    with db.as_service("test") as c:
        first, outcome = c.execute(PUBLISH, ("openai", "gpt-4o", "0.0000025", "0.00001", "0.00000125", None)).fetchone()
        assert outcome == "created"
    with db.as_service("test") as c:
        # Same numbers in another spelling: numerically identical -> unchanged, no write.
        again = c.execute(PUBLISH, ("openai", "gpt-4o", "2.5e-6", "1.0e-5", "0.000001250", None)).fetchone()
        assert again == (first, "unchanged")
        assert c.execute("SELECT count(*) FROM tessera.pricing_catalog").fetchone()[0] == 1
    with db.as_service("test") as c:
        second, outcome = c.execute(PUBLISH, ("openai", "gpt-4o", "0.000002", "0.00001", "0.00000125", None)).fetchone()
        assert outcome == "changed" and second != first
        rows = {r[0]: r[1:] for r in c.execute(
            "SELECT pricing_snapshot_id, effective_from, effective_to FROM tessera.pricing_catalog")}
        assert rows[first][1] == rows[second][0]   # old closed exactly where the new one starts
        assert rows[second][1] is None
    with db.as_service("test") as c:
        # Dropping a component (cache_read -> NULL) is a change too.
        assert c.execute(PUBLISH, ("openai", "gpt-4o", "0.000002", "0.00001", None, None)).fetchone()[1] == "changed"


def test_publish_is_never_backdated(db: Any) -> None:
    # A model's first version may start in the past (nothing can have been priced with
    # it yet: this is how dead-lettered requests for a new model get their price) ...
    with db.as_service("test") as c:
        assert c.execute(PUBLISH, ("openai", "gpt-4o", "1", "1", None, "2020-01-01T00:00:00Z")).fetchone()[1] == "created"
    # ... every later version takes effect now or later.
    with pytest.raises(InvalidInput, match="never backdated"), db.as_service("test") as c:
        c.execute(PUBLISH, ("openai", "gpt-4o", "2", "2", None, "2020-06-01T00:00:00Z"))


def test_publish_future_version_then_earlier_refused(db: Any) -> None:
    with db.as_service("test") as c:
        c.execute(PUBLISH, ("openai", "gpt-4o", "1", "1", None, None))
        c.execute(PUBLISH, ("openai", "gpt-4o", "2", "2", None, "2999-01-01T00:00:00Z"))
    with pytest.raises(InvalidInput, match="cannot start before"), db.as_service("test") as c:
        c.execute(PUBLISH, ("openai", "gpt-4o", "3", "3", None, None))


@pytest.mark.parametrize("who", ["operator", "sponsor", "anon"])
def test_publish_refused_without_execute(db: Any, postgresql: psycopg.Connection[Any], who: str) -> None:
    postgresql.execute("INSERT INTO tessera.operators (email) VALUES (%s)", (OPERATOR,))
    postgresql.commit()
    session = {"operator": lambda: db.as_operator(OPERATOR),
               "sponsor": lambda: db.as_sponsor("alice@acme.example"),
               "anon": db.as_anon}[who]
    with pytest.raises(PermissionDenied) as exc, session() as c:
        c.execute(PUBLISH, ("openai", "gpt-4o", "1", "1", None, None))
    assert exc.value.sqlstate == "42501"


@pytest.mark.parametrize("function", [
    "tessera.publish_price('openai', 'gpt-4o', 1, 1)",
    "tessera.record_price_observations('litellm', 'f', repeat('0', 64), now(), '[]')",
])
def test_proxy_login_cannot_execute_price_writers(role_dsn: Any, function: str) -> None:
    with psycopg.connect(role_dsn("tessera_proxy")) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(f"SELECT {function}")


def test_service_role_cannot_write_tables_directly(db: Any) -> None:
    for stmt in ("INSERT INTO tessera.pricing_catalog (provider, model, input_usd_per_token,"
                 " output_usd_per_token, effective_from) VALUES ('x', 'y', 1, 1, now())",
                 "INSERT INTO tessera.price_observations (import_run_id, source, provider, model, source_model,"
                 " component, value, raw_value, observed_at) VALUES (gen_random_uuid(), 'litellm', 'x', 'y', 'y',"
                 " 'input', 1, '1', now())"):
        with pytest.raises(PermissionDenied), db.as_service("test") as c:
            c.execute(stmt)


def test_concurrent_first_publishers_serialise(app_dsn: str) -> None:
    """Two jobs publish a brand-new model at once: there is no row to lock, so the
    advisory lock must serialise them (without it the second insert overlaps the first
    and fails with an exclusion violation)."""
    import threading

    def connect() -> psycopg.Connection[Any]:
        c = psycopg.connect(app_dsn)
        c.execute("SET ROLE service_role")
        return c

    first, second = connect(), connect()
    result: dict[str, Any] = {}
    try:
        assert first.execute(PUBLISH, ("openai", "o-new", "1", "1", None, None)).fetchone()[1] == "created"

        def run() -> None:
            try:
                result["second"] = second.execute(PUBLISH, ("openai", "o-new", "2", "2", None, None)).fetchone()[1]
                second.commit()
            except psycopg.Error as exc:  # pragma: no cover - the failure being tested for
                result["second"] = exc.sqlstate

        worker = threading.Thread(target=run)
        worker.start()
        worker.join(0.5)
        assert worker.is_alive(), "the second publisher did not wait for the first"
        first.commit()
        worker.join(10)
        assert result["second"] == "changed"
        rows = first.execute("SELECT count(*), count(effective_to) FROM tessera.pricing_catalog"
                             " WHERE model = 'o-new'").fetchone()
        assert rows == (2, 1)
    finally:
        first.close()
        second.close()


def test_import_fills_components_the_preferred_source_lacks(db: Any) -> None:
    from pathlib import Path

    from tessera_db.pricing import import_file

    fixtures = Path(__file__).resolve().parent / "fixtures" / "prices"
    import_file(db, "litellm", fixtures / "litellm-1.109.1-cut.json")
    s = import_file(db, "openrouter", fixtures / "openrouter-models.json")
    assert s.changed == 1   # gemini: OpenRouter adds a cache-write price LiteLLM lacks
    with db.as_service("test") as c:
        row = c.execute("SELECT cache_read_usd_per_token::text, cache_write_5m_usd_per_token::text"
                        " FROM tessera.pricing_catalog WHERE model = 'gemini-2.5-pro' AND effective_to IS NULL").fetchone()
        # cache_read stays LiteLLM's (precedence 1) although OpenRouter disagrees.
        assert row == ("0.000000125", "0.000001625")

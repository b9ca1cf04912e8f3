"""``readings rederive`` from nothing but the raw inputs, and the reading's cut-off
(issue 16, item 4).

* the Python pricing (tessera_db/pricing/rederive.py) equals the database's on every
  bucket / tier / batch / cache case: tessera_private.request_cost over a grid of
  buckets x snapshots x batch (refusals included), and the costs record_requests stored
  for every mechanics rule (prompt_cache_header, batch_routing, Tessera cache hits);
* a cost edited by a superuser (triggers off) BEFORE the reading was issued is caught:
  exit 3 naming the row with stored and re-derived costs (the SQL rederive, which sums
  stored costs, does not see it);
* an issued reading keeps its cut-off: rows recorded later (a late measurement) leave an
  untouched month at exit 0 and are listed apart with their effect on each figure; a
  correction version takes them in;
* concurrency: a writer whose transaction started before the issuance and commits
  after it is waited for (covered), never silently on the wrong side;
* the demo, as a new user finds it after ``dev up``: one more request for the current
  month, rederive of the demo's issued reading still exits 0 and lists the late row.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import time
import uuid
from decimal import Decimal as D
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from tessera_db.cli import main
from tessera_db.db import Database
from tessera_db.pricing.rederive import MissingPrice, load_prices, request_cost, row_costs
from tessera_db.usage import TokenBuckets, record_many, record_request
from tests.savings_fixtures import OPERATOR, WL, A, B, seed

MONTH = dt.date(2026, 10, 1)
AT = dt.datetime(2026, 10, 15, 12, 0, tzinfo=dt.timezone.utc)
ISSUE = "SELECT version, requests, recorded_cutoff FROM tessera.issue_monthly_reading(%s, %s, %s)"


@pytest.fixture
def priced(postgresql: psycopg.Connection[Any], role_dsn: Any) -> Any:
    """The savings seed (big: every price component and a 200k tier; small: input,
    output and cache read only), every mechanic opted in, and the proxy's connection."""
    seed(postgresql)
    postgresql.execute("UPDATE tessera.workloads SET mechanic_batch_routing = true, mechanic_semantic_cache = true"
                       " WHERE workload_id = %s", (WL[A],))
    postgresql.commit()
    with psycopg.connect(role_dsn("tessera_proxy"), autocommit=True) as conn:
        yield conn


def _rec(conn: psycopg.Connection[Any], request_id: str, *, tokens: TokenBuckets | None = None,
         requested: tuple[str, str] = ("anthropic", "big"), routed: tuple[str, str] = ("anthropic", "small"),
         mechanics: tuple[str, ...] = ("auto_route",), occurred_at: dt.datetime = AT, **kw: Any) -> Any:
    return record_request(conn, client_id=A, workload_id=WL[A], request_id=request_id, occurred_at=occurred_at,
                          requested=requested, routed=routed,
                          tokens=tokens or TokenBuckets(uncached_input_tokens=1000, output_tokens=200),
                          mechanics=mechanics, **kw)


def _issue(db: Database, reason: str | None = None) -> tuple[int, int, int]:
    with db.as_operator(OPERATOR) as conn:
        row = conn.execute(ISSUE, (A, MONTH, reason)).fetchone()
    assert row is not None
    return row


def _rederive(app_dsn: str, month: str = "2026-10", client: Any = A) -> Any:
    return CliRunner().invoke(main, ["readings", "rederive", "--client", str(client), "--month", month,
                                     "--dsn", app_dsn], catch_exceptions=False)


def _lines(output: str) -> list[str]:
    return [" ".join(line.split()) for line in output.splitlines()]


def _tamper(conn: psycopg.Connection[Any], sql: str) -> None:
    """A superuser rewriting history: every append-only trigger off first."""
    parts = [r[0] for r in conn.execute(
        "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'tessera.optimize_savings'::regclass")]
    for table in ["tessera.optimize_savings", *parts]:
        conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    conn.execute(sql)
    for table in ["tessera.optimize_savings", *parts]:
        conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    conn.commit()


# --------------------------------------------------------------------------- Python pricing == DB pricing

BUCKETS = [  # uncached, cache_read, cache_5m, cache_1h, output, reasoning
    (0, 0, 0, 0, 0, None), (1000, 0, 0, 0, 200, None), (100, 1000, 10, 20, 50, 30), (0, 0, 0, 0, 0, 7),
    (0, 500, 0, 0, 0, None), (0, 0, 33, 0, 0, None), (0, 0, 0, 44, 1, 0), (200000, 0, 0, 0, 5, None),
    (199990, 10, 0, 0, 0, None), (199990, 0, 11, 0, 0, None), (240000, 10000, 0, 0, 1000, 3),
    (1, 0, 0, 200000, 0, None), (123456789, 987654, 321, 12345, 98765, 4321), (7, 3, 0, 0, 9, 2),
]


def test_python_request_cost_equals_the_database_on_every_bucket_tier_and_batch_case(priced: Any,
                                                                                  postgresql: Any) -> None:
    prices = load_prices(postgresql)
    assert len(prices) == 2
    compared = refused = 0
    for (snap, price), buckets, batch in itertools.product(prices.items(), BUCKETS, (False, True)):
        try:
            want: D | str = postgresql.execute(
                "SELECT tessera_private.request_cost(p, %s, %s, %s, %s, %s, %s, %s)"
                "  FROM tessera.pricing_catalog AS p WHERE p.pricing_snapshot_id = %s",
                (*buckets, batch, snap)).fetchone()[0]
        except psycopg.errors.NoDataFound:
            postgresql.rollback()
            want = "refused"
        try:
            got: D | str = request_cost(price, *buckets, batch=batch)
        except MissingPrice:
            got = "refused"
        assert got == want, (price.model, buckets, batch)
        if want == "refused":
            refused += 1
        else:
            assert str(got) == str(want), "same digits, not just the same value"
            compared += 1
    assert compared >= 30 and refused >= 10  # both sides of every rule were exercised


MECHANICS_CASES = [  # request_id, tokens, requested, routed, mechanics, batch
    ("route", TokenBuckets(uncached_input_tokens=1000, output_tokens=200), "big", "small", ("auto_route",), False),
    ("same", TokenBuckets(uncached_input_tokens=1000, output_tokens=200), "big", "big", (), False),
    ("pch", TokenBuckets(uncached_input_tokens=100, cache_read_input_tokens=1000, cache_write_5m_input_tokens=10,
                         cache_write_1h_input_tokens=20, output_tokens=50, reasoning_tokens=30),
     "big", "big", ("prompt_cache_header",), False),
    ("own-cache", TokenBuckets(uncached_input_tokens=100, cache_read_input_tokens=1000, output_tokens=5),
     "big", "big", (), False),
    ("batch", TokenBuckets(uncached_input_tokens=1000, output_tokens=200), "big", "big", (), True),
    ("batch-routed", TokenBuckets(uncached_input_tokens=1000, output_tokens=200), "big", "big",
     ("batch_routing",), True),
    ("tier", TokenBuckets(uncached_input_tokens=240000, cache_read_input_tokens=10000, output_tokens=1000),
     "big", "big", (), False),
    ("at-tier", TokenBuckets(uncached_input_tokens=200000), "big", "big", (), False),
    ("tier-pch", TokenBuckets(uncached_input_tokens=150000, cache_read_input_tokens=60000, output_tokens=10),
     "big", "big", ("prompt_cache_header",), False),
    ("tier-routed", TokenBuckets(uncached_input_tokens=240000, cache_read_input_tokens=10, output_tokens=7),
     "big", "small", ("auto_route",), False),
    ("exact-hit", TokenBuckets(uncached_input_tokens=1000, output_tokens=200), "big", "big", ("exact_cache",),
     False),
    ("semantic-hit", TokenBuckets(uncached_input_tokens=10, cache_read_input_tokens=5, output_tokens=2), "big",
     "small", ("auto_route", "semantic_cache"), False),
    ("reasoning-only", TokenBuckets(uncached_input_tokens=0, output_tokens=0, reasoning_tokens=30), "big",
     "small", ("auto_route",), False),
    ("small-read", TokenBuckets(uncached_input_tokens=3, cache_read_input_tokens=999, output_tokens=1), "small",
     "small", (), False),
]


def _recorded_and_repriced(postgresql: Any) -> list[Any]:
    """Every recorded row (one per MECHANICS_CASES entry), each checked: the Python
    re-pricing from its buckets, snapshots, mechanics and unconsented mechanics gives
    exactly the costs the database stored."""
    prices = load_prices(postgresql)
    rows = postgresql.execute(
        "SELECT request_id, requested_snapshot_id::text, routed_snapshot_id::text, uncached_input_tokens,"
        " cache_read_input_tokens, cache_write_5m_input_tokens, cache_write_1h_input_tokens, output_tokens,"
        " reasoning_tokens, batch, mechanics, unconsented_mechanics, original_cost_usd, actual_cost_usd"
        " FROM tessera.optimize_savings ORDER BY request_id").fetchall()
    assert len(rows) == len(MECHANICS_CASES)
    for rid, req, rte, unc, cr, c5, c1, out, rea, batch, mech, uncons, orig, act in rows:
        assert row_costs(prices[req], prices[rte], unc, cr, c5, c1, out, rea, batch, mech, uncons) == (orig, act), rid
    return list(rows)


def test_python_row_costs_equal_what_the_database_recorded_for_every_mechanics_rule(priced: Any,
                                                                                    postgresql: Any) -> None:
    for rid, tokens, req, rte, mechanics, batch in MECHANICS_CASES:
        _rec(priced, rid, tokens=tokens, requested=("anthropic", req), routed=("anthropic", rte),
             mechanics=mechanics, batch=batch)
    rows = _recorded_and_repriced(postgresql)
    # The hand-worked expectations of tests/test_savings_record.py, once more.
    by_id = {r[0]: (r[12], r[13]) for r in rows}
    assert by_id["route"] == (D("0.006"), D("0.0016"))
    assert by_id["pch"][1] == D("0.0019575")
    assert by_id["exact-hit"] == (D("0.006"), 0)


def test_python_row_costs_credit_nothing_to_an_unconsented_mechanic(priced: Any, postgresql: Any) -> None:
    """Issue 15's rule, re-derived independently: a mechanic the workload did not opt into
    is recorded, and its part of the original equals its part of the actual (auto_route ->
    the routed snapshot, prompt_cache_header -> the cache buckets as sent, batch_routing ->
    batch prices, a Tessera cache hit -> an original of 0)."""
    postgresql.execute("UPDATE tessera.workloads SET mechanic_auto_route = false, mechanic_prompt_cache_header = false,"
                       " mechanic_batch_routing = false, mechanic_exact_cache = false,"
                       " mechanic_semantic_cache = false WHERE workload_id = %s", (WL[A],))
    postgresql.commit()
    for rid, tokens, req, rte, mechanics, batch in MECHANICS_CASES:
        _rec(priced, f"u-{rid}", tokens=tokens, requested=("anthropic", req), routed=("anthropic", rte),
             mechanics=mechanics, batch=batch)
    rows = _recorded_and_repriced(postgresql)
    assert {r[0] for r in rows if r[11]} == {f"u-{c[0]}" for c in MECHANICS_CASES if c[4]}, "all flagged"
    for rid, *_, uncons, orig, act in rows:
        if uncons:  # no saving credited: the original is what was actually paid
            assert orig == act, rid


# --------------------------------------------------------------------------- tampering before issuance


def test_cost_edited_by_a_superuser_before_issuance_is_caught(priced: Any, postgresql: Any, db: Database,
                                                              app_dsn: str) -> None:
    for i in range(4):
        _rec(priced, f"r-{i}")
    _tamper(postgresql, "UPDATE tessera.optimize_savings SET actual_cost_usd = 0.0001 WHERE request_id = 'r-2'")
    _issue(db)  # the reading faithfully sums the edited row: the SQL rederive sees nothing
    with db.as_operator(OPERATOR) as conn:
        assert conn.execute("SELECT count(*) FROM tessera.rederive_monthly_reading(%s, %s)",
                            (A, MONTH)).fetchone() == (0,)
    result = _rederive(app_dsn)
    assert result.exit_code == 3, result.output
    lines = _lines(result.output)
    assert any("DISAGREES" in line for line in lines)
    assert ("request r-2 at 2026-10-15 12:00:00+00: original_cost_usd stored 0.00600000 rederived"
            " 0.00600000, actual_cost_usd stored 0.0001 rederived 0.00160000") in lines
    assert not any("request r-1" in line or "request r-3" in line for line in lines)  # only the edited row
    assert "actual_cost_usd issued 0.00490000 rederived 0.00640000" in lines  # 3 x 0.0016 + 0.0001 vs 4 x 0.0016


def test_a_row_with_edited_buckets_after_issuance_changes_the_figures(priced: Any, postgresql: Any, db: Database,
                                                                     app_dsn: str) -> None:
    _rec(priced, "r-0")
    _issue(db)
    assert _rederive(app_dsn).exit_code == 0
    _tamper(postgresql, "UPDATE tessera.optimize_savings SET output_tokens = 201, original_cost_usd = 0.006015,"
                        " actual_cost_usd = 0.001604 WHERE request_id = 'r-0'")  # consistent, but not what was issued
    result = _rederive(app_dsn)
    assert result.exit_code == 3, result.output
    assert "output_tokens issued 200 rederived 201" in _lines(result.output)


# --------------------------------------------------------------------------- cut-off and late rows


def test_untouched_month_exits_0_with_late_rows_listed_and_a_correction_takes_them_in(
        priced: Any, db: Database, app_dsn: str) -> None:
    for i in range(3):
        _rec(priced, f"r-{i}")
    version, requests, cutoff = _issue(db)
    assert (version, requests) == (1, 3) and cutoff > 0
    ok = _rederive(app_dsn)
    assert ok.exit_code == 0 and "agrees with the raw rows" in ok.output and "after the issuance" not in ok.output
    # A late measurement of October (and a row of November, which is no concern of it).
    _rec(priced, "late-1", occurred_at=dt.datetime(2026, 10, 2, tzinfo=dt.timezone.utc),
         tokens=TokenBuckets(uncached_input_tokens=10, output_tokens=1), mechanics=("exact_cache",),
         routed=("anthropic", "big"), feature_tag="search")
    _rec(priced, "nov-1", occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc))
    late = _rederive(app_dsn)
    assert late.exit_code == 0, late.output
    lines = _lines(late.output)
    assert any(line.endswith("agrees with the raw rows") for line in lines)
    assert any(line.startswith("1 row(s) of 2026-10 recorded after the issuance, not in version 1") for line in lines)
    assert any(line.startswith("request late-1 at 2026-10-02 00:00:00+00, recorded ") and
               line.endswith("original_cost_usd 0.00004500, actual_cost_usd 0") for line in lines)
    assert "requests issued 3 with late rows 4" in lines
    assert "original_cost_usd issued 0.01800000 with late rows 0.01804500" in lines
    assert "savings_usd issued 0.01320000 with late rows 0.01324500" in lines
    assert any(line.startswith('by_feature_tag["search"] issued (missing) with late rows {"requests": 1')
               for line in lines)
    assert not any("nov-1" in line for line in lines)
    # The SQL rederive applies the same cut-off: no difference either.
    with db.as_operator(OPERATOR) as conn:
        assert conn.execute("SELECT count(*) FROM tessera.rederive_monthly_reading(%s, %s)",
                            (A, MONTH)).fetchone() == (0,)
    # A correction takes the late row in.
    version, requests, cutoff2 = _issue(db, "late measurement of 2026-10-02")
    assert (version, requests) == (2, 4) and cutoff2 > cutoff
    after = _rederive(app_dsn)
    assert after.exit_code == 0 and "after the issuance" not in after.output
    assert "version 2" in after.output


def _wait_until_blocked(conn: psycopg.Connection[Any], pid: int, done: threading.Event) -> bool:
    """True once backend ``pid`` waits for a lock; False if its work finished first (no
    sleep: the catalog is polled, bounded by a deadline)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not done.is_set():
        if conn.execute("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                        (pid,)).fetchone() == (True,):
            return True
    return False


def test_a_writer_in_flight_at_issuance_is_waited_for_not_left_on_the_wrong_side(
        priced: Any, postgresql: Any, role_dsn: Any, db: Database, app_dsn: str) -> None:
    """W records a row of October and stays open (its recorded_seq is assigned); another
    writer records one and commits (a greater recorded_seq); the issuance must wait for
    W. Without the writers' shared lock it would not: its cut-off (the greatest visible
    recorded_seq) would lie above W's row, which it could not see -- W's row would be
    silently inside the cut-off but outside the figures, and rederive would exit 3."""
    postgresql.autocommit = True
    with psycopg.connect(role_dsn("tessera_proxy")) as writer:  # a transaction left open
        _rec(writer, "in-flight")
        _rec(priced, "committed")
        outcome: dict[str, Any] = {}
        done = threading.Event()
        issuer = psycopg.connect(app_dsn)
        pid = issuer.info.backend_pid

        def issue() -> None:
            try:
                with issuer.transaction():
                    issuer.execute("SELECT set_config('role', 'authenticated', true),"
                                   " set_config('request.jwt.claims', %s, true)", (f'{{"email": "{OPERATOR}"}}',))
                    outcome["row"] = issuer.execute(ISSUE, (A, MONTH, None)).fetchone()
            finally:
                done.set()

        thread = threading.Thread(target=issue)
        thread.start()
        outcome["blocked"] = _wait_until_blocked(postgresql, pid, done)
        writer.commit()
        thread.join(60)
        issuer.close()
    result = _rederive(app_dsn)
    assert result.exit_code == 0, result.output  # (exit 3 when the issuance did not wait)
    assert outcome["blocked"], "the issuance did not wait for the writer in flight"
    assert outcome["row"][:2] == (1, 2)  # both rows covered


def test_a_writer_held_back_by_an_issuance_is_late_even_though_its_transaction_began_before(
        priced: Any, postgresql: Any, role_dsn: Any, app_dsn: str) -> None:
    _rec(priced, "early")
    postgresql.autocommit = True
    with psycopg.connect(role_dsn("tessera_proxy")) as writer, psycopg.connect(app_dsn) as issuer:
        writer.execute("SELECT now()")  # the writer's transaction (and its recorded_at) begins here
        issuer.execute("SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
                       (f'{{"email": "{OPERATOR}"}}',))
        assert issuer.execute(ISSUE, (A, MONTH, None)).fetchone()[:2] == (1, 1)  # not committed yet
        done = threading.Event()
        thread = threading.Thread(target=lambda: (_rec(writer, "held-back"), writer.commit(), done.set()))
        thread.start()
        assert _wait_until_blocked(postgresql, writer.info.backend_pid, done), "the writer was not held back"
        issuer.commit()
        thread.join(60)
    recorded_at, issued_at = postgresql.execute(
        "SELECT (SELECT recorded_at FROM tessera.optimize_savings WHERE request_id = 'held-back'),"
        "       (SELECT issued_at FROM tessera.monthly_readings)").fetchone()
    assert recorded_at < issued_at  # a timestamp cut-off would have put it inside
    result = _rederive(app_dsn)
    assert result.exit_code == 0, result.output
    assert any(line.startswith("request held-back at ") for line in _lines(result.output))


def test_issuance_outside_read_committed_is_refused(priced: Any, postgresql: Any) -> None:
    postgresql.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    postgresql.execute("SET LOCAL ROLE service_role")
    with pytest.raises(psycopg.errors.InvalidTransactionState, match="READ COMMITTED"):
        postgresql.execute("SELECT tessera.issue_monthly_reading(%s, %s)", (A, MONTH))
    postgresql.rollback()


def test_rederive_without_a_reading_and_as_a_sponsor(priced: Any, db: Database, app_dsn: str) -> None:
    missing = _rederive(app_dsn, client=B)
    assert missing.exit_code == 1 and "error: no issued reading" in missing.output
    _rec(priced, "r-0")
    _issue(db)
    sponsor = CliRunner().invoke(main, ["readings", "rederive", "--client", str(A), "--month", "2026-10",
                                        "--as-sponsor", "sponsor@a.example", "--dsn", app_dsn])
    assert sponsor.exit_code == 0, sponsor.output
    other = CliRunner().invoke(main, ["readings", "rederive", "--client", str(A), "--month", "2026-10",
                                      "--as-sponsor", "sponsor@b.example", "--dsn", app_dsn])
    assert other.exit_code == 1 and "error: no issued reading" in other.output  # RLS: not theirs


# --------------------------------------------------------------------------- as a new user finds it


def test_demo_reading_stays_reproducible_after_one_more_request(db: Database, app_dsn: str,
                                                                role_dsn: Any) -> None:
    from tessera_db import demo

    demo.load(db)
    acme = uuid.UUID("a0000000-0000-4000-8000-000000000001")
    now = dt.datetime.now(dt.timezone.utc)
    month = f"{now:%Y-%m}"
    first = _rederive(app_dsn, month, acme)
    assert first.exit_code == 0 and "after the issuance" not in first.output, first.output
    with db.as_service("test") as conn:  # one of Acme's workloads and a model it used
        workload, provider, model = conn.execute(
            "SELECT workload_id, requested_provider, requested_model FROM tessera.optimize_savings"
            " WHERE client_id = %s LIMIT 1", (acme,)).fetchone()
    with psycopg.connect(role_dsn("tessera_proxy"), autocommit=True) as proxy:
        outcomes = record_many(proxy, [dict(
            client_id=str(acme), workload_id=str(workload), request_id="new-user-1",
            occurred_at=now.isoformat(), requested_provider=provider, requested_model=model,
            routed_provider=provider, routed_model=model, uncached_input_tokens=100, output_tokens=10)])
        assert outcomes[0].outcome == "recorded", outcomes
    after = _rederive(app_dsn, month, acme)
    assert after.exit_code == 0, after.output
    assert any(line.startswith("request new-user-1 at ") for line in _lines(after.output))


def test_tags_and_request_ids_with_copy_escapes_group_and_report_exactly(priced: Any, postgresql: Any,
                                                                          db: Database, app_dsn: str) -> None:
    odd = "tab\there back\\slash nl\nü"
    _rec(priced, "odd\tid\\1", feature_tag=odd)
    _rec(priced, "plain", feature_tag="plain")
    _issue(db)
    ok = _rederive(app_dsn)
    assert ok.exit_code == 0, ok.output  # the tag's breakdown element matched the issued one
    _tamper(postgresql, "UPDATE tessera.optimize_savings SET original_cost_usd = 1 WHERE feature_tag = 'plain'")
    _rec(priced, "late\tone", feature_tag=odd, occurred_at=dt.datetime(2026, 10, 3, tzinfo=dt.timezone.utc))
    bad = _rederive(app_dsn)
    assert bad.exit_code == 3, bad.output
    assert "request late\tone at 2026-10-03 00:00:00+00, recorded" in bad.output
    # the late row's effect, under its own tag
    assert f"by_feature_tag[{json.dumps(odd, ensure_ascii=False)}].requests" in bad.output

"""tessera.record_requests, the dead letters and their replay (issue 12, items 1, 2, 3, 7).

Proves: a mixed batch (good rows of two clients, a negative token count, an unknown
model, a request_id repeated inside the batch, a replay of an earlier call) gives
exactly the expected outcomes and ledger rows; a rejection writes nothing to the ledger
and one dead letter (its reason, no personal data, unknown keys by name only); an
element the set-based statement cannot take (a snapshot without the price component a
bucket needs, an impossible date) is isolated and rejected with the database's own
error while the rest are recorded; record_request and record_requests report the same
refusals (one implementation); 0 and 1001 elements are refused; only the proxy and
service_role may call it, only service_role may replay; a dead letter replayed after
the price is published is recorded exactly once and resolved by an appended row;
sponsors read only their own dead letters; a concurrent writer of the same request_id
makes the other a replay with the original's costs.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from decimal import Decimal as D
from typing import Any

import psycopg
import pytest

from tessera_db import PermissionDenied
from tessera_db.errors import TesseraError
from tessera_db.usage import TokenBuckets, record_many, record_request, request_fields
from tests.savings_fixtures import OPERATOR, SPONSOR, WL, WL_PLAIN, A, B, proxy, seed  # noqa: F401 (fixture)

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=5)


def _req(request_id: str, *, client: uuid.UUID = A, **kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(client_id=client, workload_id=WL[client], request_id=request_id, occurred_at=NOW,
                                  requested=("anthropic", "big"), routed=("anthropic", "small"),
                                  tokens=TokenBuckets(uncached_input_tokens=1000, output_tokens=200),
                                  mechanics=("auto_route",))
    fields.update(kw)
    return request_fields(**fields)


def _ledger(su: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return su.execute("SELECT client_id, request_id, original_cost_usd FROM tessera.optimize_savings"
                      " ORDER BY client_id, request_id").fetchall()


def _letters(su: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    with su.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT * FROM tessera.savings_dead_letters ORDER BY dead_letter_id").fetchall()


def test_a_mixed_batch_gives_exactly_the_expected_outcomes(proxy, postgresql):
    earlier = record_many(proxy, [_req("earlier")])[0]
    assert earlier.outcome == "recorded"
    batch = [
        _req("a-1"),
        _req("b-1", client=B),
        _req("negative", tokens=TokenBuckets(uncached_input_tokens=-5)),
        _req("no-model", routed=("anthropic", "nope")),
        _req("a-1", tokens=TokenBuckets(uncached_input_tokens=1, output_tokens=1)),  # repeated inside the batch
        _req("earlier", tokens=TokenBuckets(uncached_input_tokens=7)),                # replay of an earlier call
        _req("a-2"),
    ]
    out = record_many(proxy, batch)
    assert [(o.index, o.request_id, o.outcome, o.sqlstate) for o in out] == [
        (0, "a-1", "recorded", None),
        (1, "b-1", "recorded", None),
        (2, "negative", "rejected", "23514"),
        (3, "no-model", "rejected", "P0002"),
        (4, "a-1", "replayed", None),
        (5, "earlier", "replayed", None),
        (6, "a-2", "recorded", None),
    ]
    assert [o.client_id for o in out] == [A, B, A, A, A, A, A]
    assert "optimize_savings_tokens_non_negative" in out[2].message
    assert out[3].message.startswith("no price in force for routed model anthropic/nope")
    # Replays return the ORIGINAL row's figures, not the element's.
    assert out[4].original_cost_usd == out[0].original_cost_usd == D("0.006")
    assert out[5].original_cost_usd == earlier.original_cost_usd == D("0.006")
    assert out[0].savings_usd == D("0.0044")
    assert _ledger(postgresql) == [(A, "a-1", D("0.006")), (A, "a-2", D("0.006")), (A, "earlier", D("0.006")),
                                   (B, "b-1", D("0.006"))]
    letters = _letters(postgresql)
    assert [(d["request_id"], d["entry"], d["sqlstate"], d["constraint_name"]) for d in letters] == [
        ("negative", "rejected", "23514", "optimize_savings_tokens_non_negative"),
        ("no-model", "rejected", "P0002", None)]
    assert letters[0]["payload"]["uncached_input_tokens"] == -5
    assert letters[0]["db_role"] == "tessera_proxy"


def test_record_request_and_record_requests_refuse_alike(proxy, postgresql):
    """The one implementation: every refusal record_request raises is the rejection
    record_requests reports (SQLSTATE and message), and neither writes to the ledger."""
    cases = {
        "mechanic": dict(mechanics=("teleport",)),
        "foreign-workload": dict(workload_id=WL[B]),
        "pii": dict(feature_tag="someone@example.com"),
        "requested-price": dict(requested=("anthropic", "nope")),
        "batch-flag": dict(mechanics=("batch_routing",)),
        "totals": dict(tokens=TokenBuckets(uncached_input_tokens=10, reported_input_tokens=11)),
        "finish": dict(finish_reason=""),
        "missing-component": dict(routed=("anthropic", "small"),
                                  tokens=TokenBuckets(uncached_input_tokens=1, cache_write_5m_input_tokens=5)),
    }
    for name, kw in cases.items():
        fields = _req(f"same-{name}", **kw)
        with pytest.raises(TesseraError) as raised:
            record_request(proxy, **_as_kwargs(fields))
        [out] = record_many(proxy, [fields])
        assert (out.outcome, out.sqlstate, out.message) == ("rejected", raised.value.sqlstate, str(raised.value)), name
    assert _ledger(postgresql) == []
    assert len(_letters(postgresql)) == len(cases)


def _as_kwargs(fields: dict[str, Any]) -> dict[str, Any]:
    """request_fields() output back into record_request()'s keyword arguments."""
    f = dict(fields)
    tokens = TokenBuckets(**{k: f.pop(k) for k in list(f) if k in TokenBuckets.__dataclass_fields__})
    requested = (f.pop("requested_provider"), f.pop("requested_model"))
    routed = (f.pop("routed_provider"), f.pop("routed_model"))
    return dict(f, tokens=tokens, requested=requested, routed=routed)


def test_what_the_statement_cannot_test_first_is_isolated(proxy, postgresql):
    # 'small' has no cache-write price: request_cost refuses it inside the insert, which
    # fails the set-based statement; the batch is re-run element by element.
    out = record_many(proxy, [
        _req("ok-1"),
        _req("component", tokens=TokenBuckets(uncached_input_tokens=1, cache_write_5m_input_tokens=5)),
        {**_req("feb-30"), "occurred_at": "2026-02-30T00:00:00Z"},
        _req("ok-2"),
        _req("ok-1"),
    ])
    assert [(o.request_id, o.outcome, o.sqlstate) for o in out] == [
        ("ok-1", "recorded", None), ("component", "rejected", "P0002"), ("feb-30", "rejected", "22008"),
        ("ok-2", "recorded", None), ("ok-1", "replayed", None)]
    assert "has no cache_write_5m price" in out[1].message
    assert [r[1] for r in _ledger(postgresql)] == ["ok-1", "ok-2"]
    assert [d["request_id"] for d in _letters(postgresql)] == ["component", "feb-30"]


def test_shapes_unknown_keys_and_personal_data_are_kept_by_name_only(proxy, postgresql):
    elements = [
        {**_req("typo"), "ouput_tokens": 5},
        {**_req("pii"), "customer_tag": "+1 415 555 0100"},
        {**_req("naive"), "occurred_at": "2026-12-01T10:00:00"},
        {**_req("count"), "output_tokens": "12"},
        "not an object",
        {k: v for k, v in _req("missing").items() if k != "routed_model"},
    ]
    out = record_many(proxy, elements)
    assert [(o.outcome, o.sqlstate) for o in out] == [
        ("rejected", "22023"), ("rejected", "23514"), ("rejected", "22P02"), ("rejected", "22P02"),
        ("rejected", "22023"), ("rejected", "22004")]
    assert out[0].message == "unknown request field(s): ouput_tokens"
    assert out[2].message == ("invalid request field(s): occurred_at must be an ISO 8601 timestamp string"
                              " with a UTC offset")
    assert out[5].message.endswith("(missing: routed_model)")
    letters = _letters(postgresql)
    assert letters[0]["payload"]["_unknown_fields"] == ["ouput_tokens"] and "ouput_tokens" not in letters[0]["payload"]
    assert letters[1]["payload"]["_redacted"] == ["customer_tag"]
    assert "555" not in json.dumps([d["payload"] for d in letters])
    assert letters[4]["payload"] == {"_not_an_object": "string"}
    assert letters[4]["client_id"] == uuid.UUID(int=0) and out[4].client_id is None


@pytest.mark.parametrize("count", [0, 1001])
def test_element_count_is_bounded(proxy, postgresql, count):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="1 to 1000 requests per call"):
        proxy.execute("SELECT * FROM tessera.record_requests(%s)",
                      (psycopg.types.json.Jsonb([json.loads(json.dumps(_req(f"r{i}"), default=str))
                                                 for i in range(count)]),))
    assert _ledger(postgresql) == [] and _letters(postgresql) == []


def test_a_non_array_is_refused(proxy):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="JSON array"):
        proxy.execute("SELECT * FROM tessera.record_requests('{}'::jsonb)")


@pytest.mark.parametrize("who", ["sponsor", "operator", "anon", "tessera_settlement", "tessera_sealer"])
def test_only_the_proxy_and_service_role_record_and_only_service_role_replays(postgresql, role_dsn, db, who):
    seed(postgresql)
    payload = psycopg.types.json.Jsonb([json.loads(json.dumps(_req("x"), default=str))])
    calls = [("SELECT * FROM tessera.record_requests(%s)", (payload,)),
             ("SELECT * FROM tessera.replay_dead_letters()", None)]
    for stmt, args in calls:
        if who.startswith("tessera_"):
            with psycopg.connect(role_dsn(who)) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(stmt, args)
        else:
            scope = {"sponsor": lambda: db.as_sponsor(SPONSOR[A]), "operator": lambda: db.as_operator(OPERATOR),
                     "anon": db.as_anon}[who]
            with pytest.raises(PermissionDenied), scope() as conn:
                conn.execute(stmt, args)
    with psycopg.connect(role_dsn("tessera_proxy")) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM tessera.replay_dead_letters()")
    with db.as_service("test") as conn:
        assert [o.outcome for o in record_many(conn, [_req("svc")])] == ["recorded"]
        conn.execute("SELECT * FROM tessera.replay_dead_letters()").fetchall()
    assert _ledger(postgresql) == [(A, "svc", D("0.006"))]


def test_a_dead_letter_replayed_after_the_fix_is_recorded_exactly_once(proxy, postgresql, db):
    late_model = ("anthropic", "brand-new")
    out = record_many(proxy, [_req("waits", routed=late_model), _req("stays", mechanics=("teleport",))])
    assert [o.outcome for o in out] == ["rejected", "rejected"]
    with db.as_service("replay") as conn:   # nothing fixed yet: both rejected again
        again = conn.execute("SELECT request_id, outcome FROM tessera.replay_dead_letters()").fetchall()
    assert sorted(again) == [("stays", "rejected"), ("waits", "rejected")]
    # The fix: the model's first price, from before the request (a first version may
    # start in the past; tessera.publish_price).
    postgresql.execute("SET ROLE service_role")
    postgresql.execute("SELECT tessera.publish_price('anthropic', 'brand-new', 0.000001, 0.000002,"
                       " p_effective_from => %s)", (NOW - dt.timedelta(days=1),))
    postgresql.execute("RESET ROLE")
    postgresql.commit()
    with db.as_service("replay") as conn:
        done = conn.execute("SELECT request_id, outcome FROM tessera.replay_dead_letters(%s)", (A,)).fetchall()
    assert sorted(done) == [("stays", "rejected"), ("waits", "recorded")]
    with db.as_service("replay") as conn:
        assert conn.execute("SELECT request_id, outcome FROM tessera.replay_dead_letters()").fetchall() == [
            ("stays", "rejected")]
    assert [r[1] for r in _ledger(postgresql)] == ["waits"]
    # The proxy sending it once more changes nothing either.
    assert record_many(proxy, [_req("waits", routed=late_model)])[0].outcome == "replayed"
    assert [r[1] for r in _ledger(postgresql)] == ["waits"]
    status = dict((r[0], r[1:]) for r in postgresql.execute(
        "SELECT request_id, attempts, resolution, first_attempt_at <= last_attempt_at"
        " FROM tessera.savings_dead_letter_status").fetchall())
    assert status == {"waits": (2, "recorded", True), "stays": (4, None, True)}
    entries = [(d["request_id"], d["entry"]) for d in _letters(postgresql)]
    assert entries.count(("waits", "resolved")) == 1


def test_a_mechanic_turned_off_in_flight_is_judged_by_the_config_version_acted_on(proxy, postgresql, db):
    # Issue 15: the proxy read config version v (auto_route on); the sponsor turns it
    # off while the request is in flight. Sent with v, the request had consent: recorded
    # with its saving. Sent without a version (unknown), it is judged by the opt-ins now:
    # still recorded (never dead-lettered), with no saving and an anomaly.
    [[version]] = proxy.execute("SELECT config_version FROM tessera.worker_config(%s, %s)", (A, WL[A])).fetchall()
    with db.as_sponsor(SPONSOR[A]) as conn:
        conn.execute("UPDATE tessera.workloads SET mechanic_auto_route = false WHERE workload_id = %s", (WL[A],))
    [held, unknown] = record_many(proxy, [dict(_req("in-flight"), config_version=version), _req("no-version")])
    assert (held.outcome, unknown.outcome) == ("recorded", "recorded")
    assert held.savings_usd > 0 and unknown.savings_usd == 0
    assert _letters(postgresql) == []
    rows = dict((r[0], r[1:]) for r in postgresql.execute(
        "SELECT request_id, worker_config_version, unconsented_mechanics FROM tessera.optimize_savings").fetchall())
    assert rows == {"in-flight": (version, []), "no-version": (None, ["auto_route"])}
    assert postgresql.execute("SELECT kind, details->>'request_id' FROM tessera.anomalies").fetchall() == [
        ("unconsented_mechanic", "no-version")]


def test_sponsors_read_only_their_own_dead_letters(proxy, postgresql, db):
    record_many(proxy, [_req("a-bad", mechanics=("teleport",)), _req("b-bad", client=B, mechanics=("teleport",)),
                        "garbage"])
    with db.as_sponsor(SPONSOR[A]) as conn:
        assert conn.execute("SELECT request_id FROM tessera.savings_dead_letters").fetchall() == [("a-bad",)]
        assert conn.execute("SELECT request_id FROM tessera.savings_dead_letter_status").fetchall() == [("a-bad",)]
    with db.as_operator(OPERATOR) as conn:
        assert conn.execute("SELECT count(*) FROM tessera.savings_dead_letters").fetchone() == (3,)
    with pytest.raises(PermissionDenied), db.as_anon() as conn:
        conn.execute("SELECT * FROM tessera.savings_dead_letters")


def test_an_element_reads_only_its_own_clients_rows(proxy, postgresql):
    """B's request_id under A's client_id is a new request of A, never B's row; A's
    element naming B's workload is refused."""
    [b] = record_many(proxy, [_req("shared-id", client=B, tokens=TokenBuckets(uncached_input_tokens=10))])
    # B is in the batch too, so the owner's policies admit B's rows: only the
    # per-element keying keeps A's element from B's key and workload.
    out = record_many(proxy, [_req("shared-id"), {**_req("foreign"), "workload_id": str(WL[B])},
                              _req("b-2", client=B)])
    assert [(o.outcome, o.sqlstate) for o in out] == [("recorded", None), ("rejected", "23503"), ("recorded", None)]
    assert out[0].original_cost_usd == D("0.006") != b.original_cost_usd


def test_a_concurrent_writer_of_the_same_request_makes_the_other_a_replay(postgresql, role_dsn):
    seed(postgresql)
    first = psycopg.connect(role_dsn("tessera_proxy"))
    second = psycopg.connect(role_dsn("tessera_proxy"), autocommit=True)
    try:
        [mine] = record_many(first, [_req("race")])            # uncommitted: holds the key
        result: list[Any] = []
        waiter = threading.Thread(target=lambda: result.extend(record_many(second, [_req("race", client=A)])))
        waiter.start()
        waiter.join(timeout=1)
        assert waiter.is_alive()                                # waits for the key's owner
        first.commit()
        waiter.join(timeout=10)
        [theirs] = result
        assert (mine.outcome, theirs.outcome) == ("recorded", "replayed")
        assert theirs.original_cost_usd == mine.original_cost_usd == D("0.006")
    finally:
        first.close()
        second.close()


def test_the_replay_command_reports_each_request(proxy, postgresql, app_dsn):
    from click.testing import CliRunner

    from tessera_db.cli import main

    record_many(proxy, [_req("cli-stays", mechanics=("teleport",)), _req("cli-waits", routed=("anthropic", "later"))])
    postgresql.execute("SET ROLE service_role")
    postgresql.execute("SELECT tessera.publish_price('anthropic', 'later', 0.000001, 0.000002,"
                       " p_effective_from => %s)", (NOW - dt.timedelta(days=1),))
    postgresql.execute("RESET ROLE")
    postgresql.commit()
    result = CliRunner().invoke(main, ["savings", "replay-rejected", "--dsn", app_dsn, "--client", str(A)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"still rejected: client {A} request cli-stays: unknown mechanic(s): teleport; known: auto_route,"
        " batch_routing, exact_cache, history_pruning, json_schema_enforcement, prompt_cache_header,"
        " semantic_cache [23514]",
        "tried 2: 1 recorded, 0 already recorded, 1 still rejected"]
    refused = CliRunner().invoke(main, ["savings", "replay-rejected", "--dsn", app_dsn, "--client", "acme"])
    assert refused.exit_code == 2 and "not a client id (uuid): 'acme'" in refused.output

"""Operations (issue 15): canary scores, the quality SLA's auto-rollback and credit,
anomalies and their state machine, kill-switch and consent compliance.

Every security test here was seen red with its guard broken (docs/operations.md,
"Tests"). Clock: the SLA job takes ``now``; the kill-switch tests place requests
relative to the engagement's own timestamp. No sleeps."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from decimal import Decimal as D
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from tessera_db import sla
from tessera_db.cli import main
from tessera_db.errors import InvalidInput, PermissionDenied, TesseraError
from tessera_db.usage import TokenBuckets, record_many, request_fields
from tests.savings_fixtures import OPERATOR, SMALL, SPONSOR, WL, WL_PLAIN, A, B, proxy, seed  # noqa: F401

UTC = dt.timezone.utc
DAY1 = dt.date(2026, 11, 10)
STACK = ["auto_route", "prompt_cache_header"]          # m1+m7: the two-mechanic stack


def _day(n: int) -> dt.date:
    return DAY1 + dt.timedelta(days=n - 1)


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=UTC)


def _after(day: dt.date) -> dt.datetime:
    """The job's clock the morning after ``day``: it judges the days up to ``day``."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(6), tzinfo=UTC)


def scores(proxy: psycopg.Connection[Any], day: dt.date, n: int, mean: str | float, *,
           stack: list[str] | None = None, client: Any = A, workload: Any = None, tag: str = "") -> None:
    """n samples on ``day``, every routed score = mean (so the day's mean is exactly it)."""
    stack = STACK if stack is None else stack
    elements = [dict(client_id=str(client), workload_id=str(workload or WL[client]),
                     request_id=f"s{tag}-{'+'.join(stack)}-{day}-{i}", mechanics=stack, eval_set="golden",
                     routed_score=float(mean) if isinstance(mean, float) else json.loads(str(mean)),
                     baseline_score=1, sampled_at=_noon(day).isoformat())
                for i in range(n)]
    out = proxy.execute("SELECT outcome FROM tessera.record_canary_scores(%s::jsonb)",
                        (json.dumps(elements),)).fetchall()
    assert {o[0] for o in out} == {"recorded"}, out


def run_sla(db: Any, now: dt.datetime) -> list[sla.Breach]:
    with db.as_service("sla-run") as conn:
        return sla.run(conn, now)


def _config(proxy: psycopg.Connection[Any], client: Any = A, workload: Any = None) -> dict[str, Any]:
    from psycopg.rows import dict_row

    with proxy.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT * FROM tessera.worker_config(%s, %s)", (client, workload or WL[client]))
        row = cur.fetchone()
    assert row is not None
    return row


def _count(su: psycopg.Connection[Any], query: str, *args: Any) -> int:
    return su.execute(query, args).fetchone()[0]  # type: ignore[index,no-any-return]


# --------------------------------------------------------------------------- canary scores


def test_canary_scores_are_stored_normalised_replayed_and_bad_elements_rejected(proxy, postgresql):
    base = dict(client_id=str(A), workload_id=str(WL[A]), eval_set="golden", routed_score=0.9,
                baseline_score=0.95, sampled_at="2026-11-10T12:00:00Z")
    batch = [
        dict(base, request_id="ok", mechanics=["prompt_cache_header", "auto_route", "auto_route"]),
        dict(base, request_id="ok", mechanics=["auto_route"]),                # same request + eval set
        dict(base, request_id="high", routed_score=1.0001, mechanics=["auto_route"]),
        dict(base, request_id="none", mechanics=[]),
        dict(base, request_id="teleport", mechanics=["teleport"]),
        dict(base, request_id="foreign", workload_id=str(WL[B]), mechanics=["auto_route"]),
        dict(base, request_id="extra", mechanics=["auto_route"], extra=1),
        dict(base, request_id="tz", mechanics=["auto_route"], sampled_at="2026-11-10 12:00"),
        {k: v for k, v in dict(base, request_id="missing", mechanics=["auto_route"]).items() if k != "eval_set"},
        "garbage",
    ]
    out = proxy.execute("SELECT ordinality, outcome, sqlstate FROM tessera.record_canary_scores(%s::jsonb)",
                        (json.dumps(batch),)).fetchall()
    assert out == [(1, "recorded", None), (2, "replayed", None), (3, "rejected", "23514"), (4, "rejected", "23514"),
                   (5, "rejected", "23514"), (6, "rejected", "23503"), (7, "rejected", "22023"),
                   (8, "rejected", "22P02"), (9, "rejected", "22004"), (10, "rejected", "22023")]
    assert postgresql.execute("SELECT request_id, mechanics, routed_score FROM tessera.canary_scores").fetchall() == [
        ("ok", STACK, D("0.9"))]
    # Append-only: nobody changes a sample, the owner included.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        postgresql.execute("UPDATE tessera.canary_scores SET routed_score = 1")
    postgresql.rollback()


def test_scores_and_anomalies_are_isolated_between_clients(proxy, db, postgresql):
    for client in (A, B):
        scores(proxy, _day(1), 1, 0.5, client=client)
        [out] = record_many(proxy, [request_fields(
            client_id=client, workload_id=WL[client], request_id=f"iso-{client}", occurred_at=_noon(_day(1)),
            requested=("anthropic", "big"), routed=("anthropic", "small"), mechanics=["history_pruning"],
            tokens=TokenBuckets(uncached_input_tokens=10))])
        assert out.outcome == "recorded", out
    assert _count(postgresql, "SELECT count(DISTINCT client_id) FROM tessera.anomalies") == 2
    for client, other in ((A, B), (B, A)):
        with db.as_sponsor(SPONSOR[client]) as conn:
            for table in ("canary_scores", "anomalies"):
                seen = {r[0] for r in conn.execute(f"SELECT client_id FROM tessera.{table}").fetchall()}
                assert seen == {client}, (table, seen)
            # Not even by naming the other client's rows.
            assert conn.execute("SELECT count(*) FROM tessera.anomalies WHERE client_id = %s",
                                (other,)).fetchone() == (0,)
    with db.as_operator(OPERATOR) as conn:
        assert conn.execute("SELECT count(DISTINCT client_id) FROM tessera.canary_scores").fetchone() == (2,)
    for table in ("canary_scores", "anomalies"):
        with pytest.raises(PermissionDenied), db.as_anon() as conn:
            conn.execute(f"SELECT 1 FROM tessera.{table}")


# --------------------------------------------------------------------------- the SLA job


def _three_bad_days(proxy: psycopg.Connection[Any], *, mean: str = "0.9", n: int = 30) -> None:
    for d in (1, 2, 3):
        scores(proxy, _day(d), n, mean)


@pytest.mark.parametrize(("mean", "breach"), [("0.9499", True), ("0.95", False)])
def test_threshold_is_a_mean_below_095(proxy, db, mean, breach):
    _three_bad_days(proxy, mean=mean)
    assert [b.status for b in run_sla(db, _after(_day(3)))] == (["disabled"] if breach else [])


@pytest.mark.parametrize(("samples", "breach"), [(29, False), (30, True)])
def test_a_day_needs_30_samples_to_count(proxy, db, samples, breach):
    scores(proxy, _day(1), 30, "0.9")
    scores(proxy, _day(2), 30, "0.9")
    scores(proxy, _day(3), samples, "0.9")
    assert [b.status for b in run_sla(db, _after(_day(3)))] == (["disabled"] if breach else [])


def test_two_bad_days_are_not_a_breach_three_are(proxy, db):
    scores(proxy, _day(1), 30, "0.9")
    scores(proxy, _day(2), 30, "0.9")
    assert run_sla(db, _after(_day(2))) == []
    scores(proxy, _day(3), 30, "0.9")
    [breach] = run_sla(db, _after(_day(3)))
    assert (breach.first_day, breach.last_day) == (_day(1), _day(3))
    assert [(d["samples"], D(str(d["mean_routed_score"]))) for d in breach.days] == [(30, D("0.9"))] * 3


@pytest.mark.parametrize("between", ["gap", "thin"])
def test_a_gap_or_thin_day_neither_counts_nor_resets(proxy, db, between):
    scores(proxy, _day(1), 30, "0.9")
    if between == "thin":
        scores(proxy, _day(2), 29, "0.1")   # fewer than 30 samples: skipped, however bad
    scores(proxy, _day(3), 30, "0.9")
    assert run_sla(db, _after(_day(3))) == []           # two qualifying days so far
    scores(proxy, _day(4), 30, "0.9")
    [breach] = run_sla(db, _after(_day(4)))
    assert [d["day"] for d in breach.days] == [str(_day(1)), str(_day(3)), str(_day(4))]


def test_a_good_qualifying_day_resets_the_run(proxy, db):
    scores(proxy, _day(1), 30, "0.9")
    scores(proxy, _day(2), 30, "0.96")
    scores(proxy, _day(3), 30, "0.9")
    scores(proxy, _day(4), 30, "0.9")
    assert run_sla(db, _after(_day(4))) == []


def _charge(proxy: psycopg.Connection[Any], request_id: str, day: dt.date, mechanics: list[str],
            client: Any = A) -> D:
    [out] = record_many(proxy, [request_fields(
        client_id=client, workload_id=WL[client], request_id=request_id, occurred_at=_noon(day),
        requested=("anthropic", "big"), routed=("anthropic", "small"), mechanics=mechanics,
        tokens=TokenBuckets(uncached_input_tokens=1000, output_tokens=200))])
    assert out.outcome == "recorded", out
    assert out.actual_cost_usd is not None
    return out.actual_cost_usd


def test_breach_disables_exactly_that_stack_credits_10pct_once_and_notifies(proxy, db, postgresql, dsn):
    listener = psycopg.connect(dsn, autocommit=True)
    listener.execute("LISTEN tessera_worker_config")
    charged = sum(_charge(proxy, f"c{d}", _day(d), STACK) for d in (1, 2, 3))
    _charge(proxy, "single", _day(2), ["auto_route"])           # another stack: not in the credit
    _charge(proxy, "later", _day(5), STACK)                     # outside the window: not in the credit
    _three_bad_days(proxy)
    scores(proxy, _day(1), 30, "0.99", stack=["auto_route"])    # m1 alone is fine
    scores(proxy, _day(1), 30, "0.99", stack=["prompt_cache_header"])
    before = _config(proxy)
    list(listener.notifies(timeout=0.2))                        # drain

    [breach] = run_sla(db, _after(_day(3)))
    assert breach.status == "disabled" and breach.mechanics == STACK
    assert charged == 3 * (1000 * SMALL["input"] + 200 * SMALL["output"])
    assert breach.charged_usd == charged and breach.credit_usd == charged * D("0.10")

    after = _config(proxy)
    assert after["disabled_stacks"] == [STACK]
    assert after["mechanics"] == before["mechanics"]            # m1 alone and m7 alone stay live
    assert after["config_version"] > before["config_version"]
    deadline = time.monotonic() + 5
    notes: list[dict[str, Any]] = []
    while not notes and time.monotonic() < deadline:
        notes = [json.loads(n.payload) for n in listener.notifies(timeout=0.5, stop_after=1)]
    listener.close()
    assert notes and notes[0]["reason"] == "stack_disabled" and notes[0]["config_version"] == after["config_version"]
    # What the proxy acted on is on record for that version.
    assert postgresql.execute(
        "SELECT disabled_stacks FROM tessera.worker_config_versions WHERE client_id = %s AND config_version = %s",
        (A, after["config_version"])).fetchone() == ([STACK],)

    [credit] = postgresql.execute(
        "SELECT transaction_id, kind, amount_usd, actor FROM tessera.balance_transactions WHERE client_id = %s",
        (A,)).fetchall()
    assert credit[1:] == ("service_credit", charged * D("0.10"), "sla-run")
    [event] = postgresql.execute(
        "SELECT after FROM tessera.audit_events WHERE entity = 'anomalies' AND action = 'insert'").fetchall()
    details = event[0]["details"]
    assert [d["samples"] for d in details["days"]] == [30, 30, 30]
    assert details["credit_transaction_id"] == str(credit[0]) and D(str(details["credit_usd"])) == credit[2]
    assert "respond_to_anomaly" in details["reactivation"] and event[0]["stack_disabled"] is True

    # Rerun, same day and later: no second credit, event, anomaly or config version.
    for now in (_after(_day(3)), _after(_day(3)) + dt.timedelta(hours=5), _after(_day(6))):
        assert [b.status for b in run_sla(db, now)] == ["already_recorded"]
    assert _count(postgresql, "SELECT count(*) FROM tessera.balance_transactions") == 1
    assert _count(postgresql, "SELECT count(*) FROM tessera.anomalies WHERE kind = 'sla_breach'") == 1
    assert _count(postgresql, "SELECT count(*) FROM tessera.audit_events WHERE entity = 'anomalies'") == 1
    assert _config(proxy)["config_version"] == after["config_version"]

    # The credit re-derives from the raw rows (tessera-db readings rederive).
    with db.as_sponsor(SPONSOR[A]) as conn:
        [check] = sla.rederive_credits(conn, A, dt.date.today().replace(day=1))
    assert check.agrees and check.recorded_usd == check.rederived_usd == charged * D("0.10")


def test_sponsor_reenables_only_their_own_workloads_stack(proxy, db, postgresql):
    _three_bad_days(proxy)
    scores(proxy, _day(1), 30, "0.9", client=B, tag="b")
    scores(proxy, _day(2), 30, "0.9", client=B, tag="b")
    scores(proxy, _day(3), 30, "0.9", client=B, tag="b")
    breaches = {b.client_id: b for b in run_sla(db, _after(_day(3)))}
    assert set(breaches) == {A, B}
    disabled = _config(proxy)

    # Sponsor B cannot touch A's breach (nor can anon or an unknown user).
    with pytest.raises(PermissionDenied), db.as_sponsor(SPONSOR[B]) as conn:
        conn.execute("SELECT tessera.respond_to_anomaly(%s, %s, 'reenable_stack')", (A, breaches[A].anomaly_id))
    with pytest.raises(PermissionDenied), db.as_sponsor(SPONSOR[B]) as conn:  # A's id under B's client
        conn.execute("SELECT tessera.respond_to_anomaly(%s, %s, 'reenable_stack')", (B, breaches[A].anomaly_id))
    with pytest.raises(PermissionDenied), db.as_sponsor("nobody@nowhere.example") as conn:
        conn.execute("SELECT tessera.respond_to_anomaly(%s, %s, 'reenable_stack')", (A, breaches[A].anomaly_id))
    with pytest.raises(PermissionDenied), db.as_anon() as conn:
        conn.execute("SELECT tessera.respond_to_anomaly(%s, %s, 'reenable_stack')", (A, breaches[A].anomaly_id))
    assert _config(proxy)["disabled_stacks"] == [STACK]

    with db.as_sponsor(SPONSOR[A]) as conn:
        row = conn.execute("SELECT state, stack_disabled, reenabled_by FROM tessera.respond_to_anomaly(%s, %s,"
                           " 'reenable_stack')", (A, breaches[A].anomaly_id)).fetchone()
    assert row == ("acknowledged", False, SPONSOR[A])
    live = _config(proxy)
    assert live["disabled_stacks"] == [] and live["config_version"] > disabled["config_version"]
    assert _config(proxy, B)["disabled_stacks"] == [STACK]               # B's stays disabled
    # The history stays: the anomaly, its credit, and the audited transition with its actor.
    assert _count(postgresql, "SELECT count(*) FROM tessera.anomalies WHERE client_id = %s", A) == 1
    assert postgresql.execute(
        "SELECT actor_email, before->>'stack_disabled', after->>'stack_disabled' FROM tessera.audit_events"
        " WHERE entity = 'anomalies' AND action = 'update'").fetchall() == [(SPONSOR[A], "true", "false")]
    # Re-enabling twice is an illegal transition; a rerun of the job does not re-disable.
    with pytest.raises(TesseraError) as err, db.as_sponsor(SPONSOR[A]) as conn:
        conn.execute("SELECT tessera.respond_to_anomaly(%s, %s, 'reenable_stack')", (A, breaches[A].anomaly_id))
    assert err.value.sqlstate == "23514"
    assert {b.status for b in run_sla(db, _after(_day(3)))} == {"already_recorded"}
    assert _config(proxy)["disabled_stacks"] == []


# --------------------------------------------------------------------------- anomaly state machine


def _open_anomaly(proxy: psycopg.Connection[Any], su: psycopg.Connection[Any],
                  request_id: str = "unconsented") -> uuid.UUID:
    [out] = record_many(proxy, [request_fields(
        client_id=A, workload_id=WL_PLAIN, request_id=request_id, occurred_at=_noon(_day(1)),
        requested=("anthropic", "big"), routed=("anthropic", "small"), mechanics=["auto_route"],
        tokens=TokenBuckets(uncached_input_tokens=10))])
    assert out.outcome == "recorded"
    return su.execute("SELECT anomaly_id FROM tessera.anomalies WHERE details->>'request_id' = %s",
                      (request_id,)).fetchone()[0]  # type: ignore[index,no-any-return]


def test_anomaly_transitions_are_open_acknowledged_resolved_and_audited(proxy, db, postgresql):
    anomaly = _open_anomaly(proxy, postgresql)
    respond = "SELECT state, acknowledged_by, resolved_by FROM tessera.respond_to_anomaly(%s, %s, %s)"
    # A sponsor may not resolve, and an open anomaly cannot jump to resolved.
    with pytest.raises(PermissionDenied), db.as_sponsor(SPONSOR[A]) as conn:
        conn.execute(respond, (A, anomaly, "resolve"))
    with pytest.raises(TesseraError) as err, db.as_operator(OPERATOR) as conn:
        conn.execute(respond, (A, anomaly, "resolve"))
    assert err.value.sqlstate == "23514" and "open -> resolved" in str(err.value)
    with pytest.raises(InvalidInput), db.as_operator(OPERATOR) as conn:
        conn.execute(respond, (A, anomaly, "delete"))
    with db.as_sponsor(SPONSOR[A]) as conn:
        assert conn.execute(respond, (A, anomaly, "acknowledge")).fetchone() == ("acknowledged", SPONSOR[A], None)
    with pytest.raises(TesseraError) as err, db.as_sponsor(SPONSOR[A]) as conn:
        conn.execute(respond, (A, anomaly, "acknowledge"))
    assert err.value.sqlstate == "23514"
    with pytest.raises(TesseraError), db.as_sponsor(SPONSOR[A]) as conn:   # no stack to re-enable
        conn.execute(respond, (A, anomaly, "reenable_stack"))
    with db.as_operator(OPERATOR) as conn:
        assert conn.execute(respond, (A, anomaly, "resolve")).fetchone() == ("resolved", SPONSOR[A], OPERATOR)
    # The database refuses illegal transitions whoever asks, the superuser included.
    for sql_text, guard in (("UPDATE tessera.anomalies SET state = 'open'", "anomalies_state_transition"),
                            ("UPDATE tessera.anomalies SET state = 'acknowledged'", "anomalies_state_transition"),
                            ("UPDATE tessera.anomalies SET details = '{}'", "anomalies_immutable"),
                            ("UPDATE tessera.anomalies SET stack_disabled = true", "anomalies_state_transition")):
        with pytest.raises(psycopg.errors.CheckViolation) as refused:
            postgresql.execute(sql_text)
        assert refused.value.diag.constraint_name == guard, sql_text
        postgresql.rollback()
    # Forged stamps are ignored: the trigger sets who and when.
    second = _open_anomaly(proxy, postgresql, "unconsented-2")
    postgresql.execute("UPDATE tessera.anomalies SET state = 'acknowledged', acknowledged_by = 'forged'"
                       " WHERE anomaly_id = %s", (second,))
    postgresql.commit()
    assert _count(postgresql, "SELECT count(*) FROM tessera.anomalies WHERE acknowledged_by = 'forged'") == 0
    # Every transition is one audit event with its actor.
    events = postgresql.execute(
        "SELECT before->>'state', after->>'state', actor_email FROM tessera.audit_events"
        " WHERE entity = 'anomalies' AND action = 'update' AND entity_id LIKE %s ORDER BY event_id",
        (f"%{anomaly}%",)).fetchall()
    assert events == [("open", "acknowledged", SPONSOR[A]), ("acknowledged", "resolved", OPERATOR)]


def test_definer_functions_refuse_callers_without_the_grant(db, proxy):
    for call in ("SELECT tessera_private.actor_label()",
                 "SELECT tessera_private.respond_to_anomaly(gen_random_uuid(), gen_random_uuid(), 'acknowledge')",
                 "SELECT tessera.respond_to_anomaly(gen_random_uuid(), gen_random_uuid(), 'acknowledge')",
                 "SELECT tessera.record_canary_scores('[]')", "SELECT tessera.sla_run(now())"):
        with pytest.raises(PermissionDenied), db.as_anon() as conn:
            conn.execute(call)
    for call in ("SELECT tessera.record_canary_scores('[{}]')", "SELECT tessera.sla_run(now())"):
        with pytest.raises(PermissionDenied), db.as_operator(OPERATOR) as conn:
            conn.execute(call)
    with pytest.raises(PermissionDenied), db.as_service() as conn:   # a person's act, not a job's
        conn.execute("SELECT tessera.respond_to_anomaly(%s, gen_random_uuid(), 'acknowledge')", (A,))


# --------------------------------------------------------------------------- kill switch and consent


def _engage(db: Any, postgresql: psycopg.Connection[Any]) -> dt.datetime:
    with db.as_sponsor(SPONSOR[A]) as conn:
        conn.execute("SELECT tessera.set_kill_switch(%s, true)", (A,))
    return postgresql.execute("SELECT engaged_at FROM tessera.kill_switch_engagements WHERE client_id = %s"
                              " AND released_at IS NULL", (A,)).fetchone()[0]  # type: ignore[index,no-any-return]


def _fired(request_id: str, at: dt.datetime, mechanics: tuple[str, ...] = ("auto_route",),
           version: int | None = None, routed: str = "small") -> dict[str, Any]:
    return request_fields(client_id=A, workload_id=WL[A], request_id=request_id, occurred_at=at,
                          requested=("anthropic", "big"), routed=("anthropic", routed), mechanics=mechanics,
                          tokens=TokenBuckets(uncached_input_tokens=1000, output_tokens=200),
                          config_version=version)


def test_a_late_kill_switch_request_is_recorded_and_flagged_not_refused(proxy, db, postgresql):
    stale = _config(proxy)["config_version"]            # the version the proxy held before the switch
    engaged = _engage(db, postgresql)
    assert _config(proxy)["mechanics"] == []
    outs = record_many(proxy, [
        _fired("within", engaged + dt.timedelta(seconds=30), version=stale),
        _fired("late", engaged + dt.timedelta(seconds=61), version=stale),
        _fired("later", engaged + dt.timedelta(seconds=90), version=stale),
        _fired("passthrough", engaged + dt.timedelta(seconds=120), mechanics=(), routed="big"),
    ])
    assert [o.outcome for o in outs] == ["recorded"] * 4                 # a true measurement is never lost
    assert [o.savings_usd for o in outs] == [0, 0, 0, 0]                 # no saving credited under the switch
    rows = dict(postgresql.execute(
        "SELECT request_id, unconsented_mechanics FROM tessera.optimize_savings").fetchall())
    assert rows == {"within": ["auto_route"], "late": ["auto_route"], "later": ["auto_route"], "passthrough": []}
    anomalies = postgresql.execute(
        "SELECT kind, details->>'request_id', state FROM tessera.anomalies ORDER BY kind").fetchall()
    assert anomalies == [("kill_switch_late", "late", "open"), ("unconsented_mechanic", "within", "open")]

    with db.as_sponsor(SPONSOR[A]) as conn:
        [report] = sla.kill_switch_report(conn, A)
    assert report["engaged_by"] == SPONSOR[A] and report["released_at"] is None
    assert report["requests_with_mechanics"] == 3 and report["contract_held"] is False
    assert report["last_mechanic_at"] == engaged + dt.timedelta(seconds=90)
    assert report["seconds_after_engagement"] == 90
    with db.as_sponsor(SPONSOR[B]) as conn:                              # another client's: nothing
        assert sla.kill_switch_report(conn, A) == []
    with db.as_operator(OPERATOR) as conn:                               # releasing closes the engagement
        conn.execute("SELECT tessera.set_kill_switch(%s, false)", (A,))
    assert postgresql.execute("SELECT released_by, released_at >= engaged_at FROM tessera.kill_switch_engagements"
                              ).fetchall() == [(OPERATOR, True)]


def test_a_mechanic_within_60_seconds_keeps_the_contract_but_credits_nothing(proxy, db, postgresql):
    engaged = _engage(db, postgresql)
    [out] = record_many(proxy, [_fired("within", engaged + dt.timedelta(seconds=60))])
    assert out.outcome == "recorded" and out.savings_usd == 0
    assert postgresql.execute("SELECT kind FROM tessera.anomalies").fetchall() == [("unconsented_mechanic",)]
    with db.as_operator(OPERATOR) as conn:
        [report] = sla.kill_switch_report(conn, A)
    assert report["contract_held"] is True and report["released_at"] is None


def test_consent_is_judged_at_the_config_version_acted_on(proxy, db, postgresql):
    v_on = _config(proxy)["config_version"]
    with db.as_sponsor(SPONSOR[A]) as conn:
        conn.execute("UPDATE tessera.workloads SET mechanic_prompt_cache_header = false WHERE workload_id = %s",
                     (WL[A],))
    v_off = _config(proxy)["config_version"]
    at = _noon(_day(1))
    tokens = TokenBuckets(uncached_input_tokens=100, cache_read_input_tokens=900, output_tokens=10)
    outs = record_many(proxy, [
        dict(_fired("held", at, ("prompt_cache_header",), v_on, routed="big"), **dict(tokens.__dict__)),
        dict(_fired("stale", at, ("prompt_cache_header",), v_off, routed="big"), **dict(tokens.__dict__)),
    ])
    assert [o.outcome for o in outs] == ["recorded", "recorded"]
    assert outs[0].savings_usd > 0 and outs[1].savings_usd == 0           # original = actual for that part
    assert outs[1].original_cost_usd == outs[1].actual_cost_usd
    assert postgresql.execute("SELECT details->>'request_id', details->>'config_version' FROM tessera.anomalies"
                              ).fetchall() == [("stale", str(v_off))]


# --------------------------------------------------------------------------- CLI


def test_cli_sla_run_and_killswitch_report(proxy, db, postgresql, app_dsn):
    _three_bad_days(proxy)
    runner = CliRunner()
    first = runner.invoke(main, ["sla", "run", "--now", _after(_day(3)).strftime("%Y-%m-%dT%H:%M:%S"),
                                 "--dsn", app_dsn])
    assert first.exit_code == 0, first.output
    assert "1 new breach(es), 0 already recorded" in first.output and "auto_route+prompt_cache_header" in first.output
    again = runner.invoke(main, ["sla", "run", "--now", _after(_day(3)).strftime("%Y-%m-%d"), "--dsn", app_dsn])
    assert "0 new breach(es), 1 already recorded" in again.output
    engaged = _engage(db, postgresql)
    record_many(proxy, [_fired("late", engaged + dt.timedelta(seconds=75))])
    report = runner.invoke(main, ["killswitch", "report", "--client", str(A), "--as-sponsor", SPONSOR[A],
                                  "--dsn", app_dsn])
    assert report.exit_code == 0, report.output
    assert "1 engagement(s)" in report.output and "75 s after" in report.output and "BROKEN" in report.output
    bad = runner.invoke(main, ["killswitch", "report", "--client", "nope", "--dsn", app_dsn])
    assert bad.exit_code != 0 and "Traceback" not in bad.output


# --------------------------------------------------------------------------- demo


def test_demo_has_a_breached_stack_an_open_anomaly_and_a_kill_switch_engagement(db, postgresql, app_dsn):
    from tessera_db import demo

    demo.load(db)
    acme, triage = "a0000000-0000-4000-8000-000000000001", "a1000000-0000-4000-8000-000000000003"
    initech = "c0000000-0000-4000-8000-000000000003"
    with db.as_service("check") as conn:
        config = conn.execute("SELECT mechanics, disabled_stacks FROM tessera.worker_config(%s, %s)",
                              (acme, triage)).fetchone()
        [breach] = conn.execute("SELECT anomaly_id, state, details FROM tessera.anomalies"
                                " WHERE kind = 'sla_breach'").fetchall()
        credits = conn.execute("SELECT amount_usd FROM tessera.balance_transactions WHERE client_id = %s"
                               " AND kind = 'service_credit' AND reason LIKE 'quality SLA breach%%'", (acme,)).fetchall()
        open_anomalies = conn.execute("SELECT count(*) FROM tessera.anomalies WHERE state = 'open'").fetchone()
        [at_creation, engagement] = sla.kill_switch_report(conn, initech)
    assert config == (["auto_route", "prompt_cache_header"], [STACK])       # both singles live, the pair off
    assert breach[1] == "open" and [d["samples"] for d in breach[2]["days"]] == [30, 30, 30]
    assert credits == [(D(str(breach[2]["credit_usd"])),)] and credits[0][0] > 0
    assert open_anomalies[0] >= 2 and engagement["contract_held"] is False
    # Initech was created with the switch on: engaged from its creation, released by the operator.
    assert at_creation["released_by"] == OPERATOR and at_creation["contract_held"] is True
    assert _count(postgresql, "SELECT count(*) FROM tessera.audit_events WHERE entity = 'anomalies'"
                              " AND action = 'insert' AND after->>'kind' = 'sla_breach'") == 1
    # As of today the summariser's third bad day is in: one new breach (its stack, one
    # credit, one audit event), triage's already recorded; a second run changes nothing.
    runner = CliRunner()
    today = dt.datetime.now(UTC).strftime("%Y-%m-%d")
    out = runner.invoke(main, ["sla", "run", "--now", today, "--dsn", app_dsn])
    assert out.exit_code == 0 and "1 new breach(es), 1 already recorded" in out.output, out.output
    assert "stack prompt_cache_header:" in out.output
    with db.as_service("check") as conn:
        assert conn.execute("SELECT disabled_stacks FROM tessera.worker_config(%s, %s)",
                            (acme, "a1000000-0000-4000-8000-000000000002")).fetchone() == ([["prompt_cache_header"]],)
        assert conn.execute("SELECT mechanics, disabled_stacks FROM tessera.worker_config(%s, %s)",
                            (acme, triage)).fetchone() == config                 # untouched
        assert conn.execute("SELECT count(*) FROM tessera.balance_transactions WHERE client_id = %s"
                            " AND reason LIKE 'quality SLA breach%%'", (acme,)).fetchone() == (2,)
    events = "SELECT count(*) FROM tessera.audit_events WHERE entity = 'anomalies' AND after->>'kind' = 'sla_breach'"
    assert _count(postgresql, events) == 2
    again = runner.invoke(main, ["sla", "run", "--now", today, "--dsn", app_dsn])
    assert "0 new breach(es), 2 already recorded" in again.output, again.output
    assert _count(postgresql, events) == 2
    report = runner.invoke(main, ["killswitch", "report", "--client", initech, "--as-operator", OPERATOR,
                                  "--dsn", app_dsn])
    assert report.exit_code == 0 and "BROKEN" in report.output, report.output
    demo.load(db)                                                            # reloading adds nothing
    assert _count(postgresql, "SELECT count(*) FROM tessera.anomalies") == 4


def test_erasure_removes_the_operations_rows(db, postgresql):
    from tessera_db import demo

    demo.load(db)
    acme, initech = "a0000000-0000-4000-8000-000000000001", "c0000000-0000-4000-8000-000000000003"
    tables = ("canary_scores", "anomalies", "kill_switch_engagements", "worker_config_versions")

    def rows(client: str) -> dict[str, int]:
        return {t: _count(postgresql, f"SELECT count(*) FROM tessera.{t} WHERE client_id = %s", client)
                for t in tables}

    assert all(rows(acme)[t] > 0 for t in ("canary_scores", "anomalies", "worker_config_versions"))
    assert all(rows(initech)[t] > 0 for t in ("anomalies", "kill_switch_engagements", "worker_config_versions"))
    with db.as_operator(OPERATOR) as conn:
        conn.execute("SELECT tessera.erase_client(%s, 'test')", (initech,))   # hobby: everything goes
        conn.execute("SELECT tessera.erase_client(%s, 'test')", (acme,))      # invoiced: config history stays
    postgresql.commit()
    assert rows(initech) == dict.fromkeys(tables, 0)
    after = rows(acme)
    assert after["worker_config_versions"] > 0
    assert {t: after[t] for t in tables[:3]} == dict.fromkeys(tables[:3], 0)


def test_a_disabled_stack_fired_anyway_is_unconsented_its_parts_alone_are_not(proxy, db, postgresql):
    _three_bad_days(proxy)
    run_sla(db, _after(_day(3)))
    version = _config(proxy)["config_version"]
    at = _noon(_day(5))
    outs = record_many(proxy, [_fired("pair", at, tuple(STACK), version), _fired("single", at, ("auto_route",), version)])
    assert [o.outcome for o in outs] == ["recorded", "recorded"]
    assert outs[0].savings_usd == 0 and outs[1].savings_usd > 0
    assert dict(postgresql.execute("SELECT request_id, unconsented_mechanics FROM tessera.optimize_savings"
                                   ).fetchall()) == {"pair": STACK, "single": []}
    assert postgresql.execute("SELECT kind, mechanics FROM tessera.anomalies WHERE kind <> 'sla_breach'"
                              ).fetchall() == [("unconsented_mechanic", STACK)]

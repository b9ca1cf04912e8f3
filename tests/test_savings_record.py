"""tessera.record_request and tessera.optimize_savings (issue 4, items 3 and 6).

Proves: costs computed in the database from the snapshots (exact Decimals worked out
here by hand: base, cache components, batch, above-tier, Tessera cache hit); a replay
writes nothing and returns the original even with a different payload; a later price
change leaves recorded rows unchanged; cached tokens cannot be counted twice (CHECK);
personal-data-looking tags, unknown mechanics, mechanics the workload did not opt in to,
a foreign workload and a model without a price in force are refused with typed errors
and write nothing; only tessera_proxy and service_role may EXECUTE record_request.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

import psycopg
import pytest

from tessera_db import InvalidInput, NotFound, PermissionDenied
from tessera_db.usage import TokenBuckets, record_request
from tests.savings_fixtures import BIG, SMALL, WL, WL_PLAIN, A, B, proxy, seed  # noqa: F401 (fixture)

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=5)


def _rec(conn: psycopg.Connection[Any], request_id: str = "r-1", *, client=A, workload=None,
         requested=("anthropic", "big"), routed=("anthropic", "small"), tokens=None,
         mechanics=("auto_route",), occurred_at=NOW, **kw: Any) -> dict[str, Any]:
    return record_request(conn, client_id=client, workload_id=workload or WL[client], request_id=request_id,
                          occurred_at=occurred_at, requested=requested, routed=routed,
                          tokens=tokens or TokenBuckets(uncached_input_tokens=1000, output_tokens=200),
                          mechanics=mechanics, **kw)


def _count(su: psycopg.Connection[Any]) -> int:
    return su.execute("SELECT count(*) FROM tessera.optimize_savings").fetchone()[0]  # type: ignore[index]


def test_costs_are_computed_from_the_snapshots(proxy, postgresql):
    row = _rec(proxy)
    original = 1000 * BIG["input"] + 200 * BIG["output"]            # 0.003 + 0.003
    actual = 1000 * SMALL["input"] + 200 * SMALL["output"]          # 0.0008 + 0.0008
    assert (row["original_cost_usd"], row["actual_cost_usd"]) == (D("0.006"), D("0.0016"))
    assert row["original_cost_usd"] == original and row["actual_cost_usd"] == actual
    assert row["savings_usd"] == D("0.0044") and row["replayed"] is False
    snaps = dict(postgresql.execute("SELECT model, pricing_snapshot_id FROM tessera.pricing_catalog").fetchall())
    assert (row["requested_snapshot_id"], row["routed_snapshot_id"]) == (snaps["big"], snaps["small"])


def test_cache_components_reasoning_batch_and_tier(proxy):
    t = TokenBuckets(uncached_input_tokens=100, cache_read_input_tokens=1000, cache_write_5m_input_tokens=10,
                     cache_write_1h_input_tokens=20, output_tokens=50, reasoning_tokens=30)
    row = _rec(proxy, "cache", requested=("anthropic", "big"), routed=("anthropic", "big"), tokens=t,
               mechanics=("prompt_cache_header",))
    want = (100 * BIG["input"] + 1000 * BIG["cache_read"] + 10 * BIG["cw5m"] + 20 * BIG["cw1h"]
            + 80 * BIG["output"])
    assert row["actual_cost_usd"] == want == D("0.0019575")
    # Tessera turned the prompt cache on: without it, all 1,130 prompt tokens were input.
    assert row["original_cost_usd"] == 1130 * BIG["input"] + 80 * BIG["output"]
    # The client's own caching (no Tessera mechanic) is no saving of ours.
    row = _rec(proxy, "own-cache", requested=("anthropic", "big"), routed=("anthropic", "big"), tokens=t,
               mechanics=())
    assert row["original_cost_usd"] == row["actual_cost_usd"] == want and row["savings_usd"] == 0

    row = _rec(proxy, "batch", routed=("anthropic", "big"), batch=True, mechanics=())
    assert row["original_cost_usd"] == 1000 * BIG["batch_in"] + 200 * BIG["batch_out"] == D("0.003")

    # 250,000-token prompt > 200,000 tier: above-tier input/output/cache-read prices.
    t = TokenBuckets(uncached_input_tokens=240000, cache_read_input_tokens=10000, output_tokens=1000)
    row = _rec(proxy, "tier", routed=("anthropic", "big"), tokens=t, mechanics=())
    assert row["original_cost_usd"] == 240000 * BIG["above_in"] + 10000 * BIG["above_read"] + 1000 * BIG["above_out"]
    # Exactly at the threshold: base prices.
    t = TokenBuckets(uncached_input_tokens=200000)
    assert _rec(proxy, "at-tier", routed=("anthropic", "big"), tokens=t, mechanics=())["original_cost_usd"] \
        == 200000 * BIG["input"]


def test_batch_routing_saves_the_batch_discount(proxy, postgresql):
    postgresql.execute("UPDATE tessera.workloads SET mechanic_batch_routing = true WHERE workload_id = %s", (WL[A],))
    postgresql.commit()
    row = _rec(proxy, "routed-to-batch", routed=("anthropic", "big"), batch=True, mechanics=("batch_routing",))
    assert row["original_cost_usd"] == 1000 * BIG["input"] + 200 * BIG["output"]
    assert row["actual_cost_usd"] == 1000 * BIG["batch_in"] + 200 * BIG["batch_out"]
    with pytest.raises(InvalidInput, match="batch_routing fired but the request was not priced as a batch"):
        _rec(proxy, "not-batched", routed=("anthropic", "big"), batch=False, mechanics=("batch_routing",))
    assert _count(postgresql) == 1


def test_tessera_cache_hit_costs_nothing(proxy):
    row = _rec(proxy, "hit", routed=("anthropic", "big"), mechanics=("exact_cache",))
    assert row["actual_cost_usd"] == 0 and row["savings_usd"] == row["original_cost_usd"] == D("0.006")


def test_missing_price_component_is_refused_not_guessed(proxy, postgresql):
    # 'small' has no cache-write price: never priced as input.
    with pytest.raises(NotFound, match="no cache_write_5m price") as err:
        _rec(proxy, "x", tokens=TokenBuckets(uncached_input_tokens=1, cache_write_5m_input_tokens=5))
    assert err.value.sqlstate == "P0002"
    with pytest.raises(NotFound, match="no price in force for routed model anthropic/nope"):
        _rec(proxy, "y", routed=("anthropic", "nope"))
    with pytest.raises(NotFound, match="no price in force for requested model"):
        _rec(proxy, "z", occurred_at=dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc))
    assert _count(postgresql) == 0


def test_replay_writes_nothing_and_returns_the_original(proxy, postgresql):
    first = _rec(proxy, "dup")
    again = _rec(proxy, "dup", routed=("anthropic", "big"), occurred_at=NOW + dt.timedelta(days=40),
                 tokens=TokenBuckets(uncached_input_tokens=5, output_tokens=5), mechanics=())
    assert again["replayed"] is True
    assert {k: v for k, v in again.items() if k != "replayed"} == {k: v for k, v in first.items() if k != "replayed"}
    assert _count(postgresql) == 1
    assert postgresql.execute("SELECT count(*) FROM tessera.savings_request_keys").fetchone()[0] == 1
    # The same request_id for another client is another request.
    assert _rec(proxy, "dup", client=B)["replayed"] is False


def test_price_change_after_recording_leaves_the_row_unchanged(proxy, postgresql):
    before = _rec(proxy, "p")
    stored = postgresql.execute("SELECT * FROM tessera.optimize_savings").fetchall()
    postgresql.execute("SELECT tessera.publish_price('anthropic', 'big', 0.00009, 0.00009)")
    postgresql.commit()
    assert postgresql.execute("SELECT count(*) FROM tessera.pricing_catalog WHERE model = 'big'").fetchone()[0] == 2
    assert postgresql.execute("SELECT * FROM tessera.optimize_savings").fetchall() == stored
    assert _rec(proxy, "p")["original_cost_usd"] == before["original_cost_usd"] == D("0.006")
    later = _rec(proxy, "p2", occurred_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1))
    assert later["original_cost_usd"] == 1200 * D("0.00009")
    assert later["requested_snapshot_id"] != before["requested_snapshot_id"]


def test_late_measurement_is_priced_at_the_closed_version_in_force_then(proxy, postgresql):
    # A measurement spooled during an outage and replayed after a price change: it is
    # priced at the version in force when the request happened, now closed.
    postgresql.execute("SELECT tessera.publish_price('anthropic', 'big', 0.00009, 0.00009)")
    postgresql.commit()
    old, new = postgresql.execute(
        "SELECT pricing_snapshot_id FROM tessera.pricing_catalog WHERE model = 'big'"
        " ORDER BY effective_from").fetchall()
    late = _rec(proxy, "late", occurred_at=NOW)
    assert late["requested_snapshot_id"] == old[0] != new[0]
    assert late["original_cost_usd"] == D("0.006")
    # The widened read is the recording function's only: the proxy still reads nothing,
    # and outside record_request the owner's definer functions see open versions only.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        proxy.execute("SELECT 1 FROM tessera.pricing_catalog")
    with postgresql.transaction():
        postgresql.execute("SET LOCAL ROLE tessera_owner")
        seen = postgresql.execute("SELECT count(*) FROM tessera.pricing_catalog WHERE model = 'big'").fetchone()
        postgresql.execute("SELECT set_config('tessera.ingest_client_ids', %s, true)", ("{%s}" % A,))
        recording = postgresql.execute(
            "SELECT count(*) FROM tessera.pricing_catalog WHERE model = 'big'").fetchone()
    assert (seen[0], recording[0]) == (1, 2)


def test_cached_tokens_cannot_be_counted_twice(proxy, postgresql):
    # OpenAI-style mistake: prompt_tokens (incl. 800 cached) passed as uncached.
    t = TokenBuckets(uncached_input_tokens=1000, cache_read_input_tokens=800, output_tokens=10,
                     reported_input_tokens=1000, reported_output_tokens=10)
    with pytest.raises(InvalidInput) as err:
        _rec(proxy, "twice", tokens=t)
    assert err.value.constraint == "optimize_savings_input_total_matches"
    t = TokenBuckets(uncached_input_tokens=10, output_tokens=100, reasoning_tokens=40, reported_output_tokens=100)
    with pytest.raises(InvalidInput) as err:
        _rec(proxy, "twice-out", tokens=t)
    assert err.value.constraint == "optimize_savings_output_total_matches"
    with pytest.raises(InvalidInput) as err:
        _rec(proxy, "neg", tokens=TokenBuckets(uncached_input_tokens=10, cache_read_input_tokens=-1))
    assert err.value.constraint == "optimize_savings_tokens_non_negative"
    assert _count(postgresql) == 0


@pytest.mark.parametrize(("tag", "kind"), [
    ("jane.doe@example.com", "an email address"),
    ("+44 20 7946 0958", "a phone number"),
    ("(555) 123-4567", "a phone number"),
    ("4111 1111 1111 1111", "a payment card number"),
    ("4111-1111-1111-1111", "a payment card number"),
])
def test_personal_data_tags_are_refused(proxy, postgresql, tag, kind):
    for column in ("feature_tag", "customer_tag"):
        with pytest.raises(InvalidInput, match=f"{column} looks like {kind}") as err:
            _rec(proxy, "pii", **{column: tag})
        assert err.value.sqlstate == "23514" and err.value.constraint == f"optimize_savings_{column}_not_pii"
    assert _count(postgresql) == 0


def test_ordinary_tags_pass_and_long_tags_are_refused(proxy):
    assert _rec(proxy, "ok", feature_tag="search-v2", customer_tag="enterprise_tier_3")["replayed"] is False
    with pytest.raises(InvalidInput) as err:
        _rec(proxy, "long", feature_tag="x" * 101)
    assert err.value.constraint == "optimize_savings_feature_tag_length"


def test_pii_check_holds_at_the_table_too(postgresql):
    seed(postgresql)
    assert postgresql.execute("SELECT tessera_private.tag_pii_kind('bob@x.io'),"
                              " tessera_private.tag_pii_kind('v2-search')").fetchone() == ("email", None)
    # The CHECK backs up record_request's own message (a superuser INSERT bypasses the function).
    with pytest.raises(psycopg.errors.CheckViolation, match="optimize_savings_customer_tag_not_pii"):
        postgresql.execute(
            "INSERT INTO tessera.optimize_savings (client_id, workload_id, request_id, occurred_at,"
            " requested_provider, requested_model, routed_provider, routed_model, requested_snapshot_id,"
            " routed_snapshot_id, original_cost_usd, actual_cost_usd, customer_tag)"
            " SELECT %s, %s, 'direct', now(), 'a', 'b', 'a', 'b', p.pricing_snapshot_id, p.pricing_snapshot_id,"
            " 0, 0, 'bob@x.io' FROM tessera.pricing_catalog p LIMIT 1", (A, WL[A]))


def test_unknown_mechanic_is_refused_and_stack_is_normalised(proxy, postgresql):
    with pytest.raises(InvalidInput, match="unknown mechanic.*teleport") as err:
        _rec(proxy, "m", mechanics=("auto_route", "teleport"))
    assert err.value.constraint == "optimize_savings_mechanics_known"
    row = _rec(proxy, "m2", mechanics=("prompt_cache_header", "auto_route", "auto_route"))
    assert row["mechanics"] == ["auto_route", "prompt_cache_header"]
    # The table's CHECK too: unsorted stacks never get in.
    assert postgresql.execute("SELECT tessera_private.mechanics_are_valid('{b_x}'),"
                              " tessera_private.mechanics_are_valid('{exact_cache,auto_route}'),"
                              " tessera_private.mechanics_are_valid('{}')").fetchone() == (False, False, True)


def test_mechanic_without_opt_in_is_recorded_flagged_and_credited_nothing(proxy, postgresql):
    # Issue 15: a true measurement is never lost. The unconsented auto_route is recorded,
    # credited no saving (the original is priced at the routed model) and flagged.
    row = _rec(proxy, "o", workload=WL_PLAIN)
    assert row["replayed"] is False and row["savings_usd"] == 0
    assert row["original_cost_usd"] == row["actual_cost_usd"] == D("0.0016")
    assert postgresql.execute(
        "SELECT unconsented_mechanics, worker_config_version FROM tessera.optimize_savings WHERE request_id = 'o'"
    ).fetchone() == (["auto_route"], None)
    assert postgresql.execute(
        "SELECT kind, state, mechanics FROM tessera.anomalies WHERE workload_id = %s", (WL_PLAIN,)
    ).fetchall() == [("unconsented_mechanic", "open", ["auto_route"])]
    assert _rec(proxy, "o2", workload=WL_PLAIN, mechanics=())["replayed"] is False
    assert _count(postgresql) == 2


def test_workload_of_another_client_is_refused(proxy, postgresql):
    with pytest.raises(InvalidInput, match="does not belong to client") as err:
        _rec(proxy, "w", client=A, workload=WL[B])
    assert err.value.sqlstate == "23503"
    assert _count(postgresql) == 0
    # The key claimed before the refusal was rolled back with it: the id is still free.
    assert _rec(proxy, "w")["replayed"] is False


@pytest.mark.parametrize("identity", ["anon", "sponsor", "operator"])
def test_only_the_proxy_and_service_may_execute(db, postgresql, identity):
    seed(postgresql)
    ctx = {"anon": db.as_anon, "sponsor": lambda: db.as_sponsor("sponsor@a.example"),
           "operator": lambda: db.as_operator("ops@tessera.example")}[identity]
    with pytest.raises(PermissionDenied), ctx() as conn:
        _rec(conn, "nope")
    assert _count(postgresql) == 0


def test_service_role_may_replay_spooled_measurements(db, postgresql):
    seed(postgresql)
    with db.as_service("spool-replay") as conn:
        assert _rec(conn, "spooled")["original_cost_usd"] == D("0.006")


def test_settlement_login_may_not_execute(postgresql, role_dsn):
    seed(postgresql)
    with psycopg.connect(role_dsn("tessera_settlement"), autocommit=True) as conn:
        with pytest.raises(PermissionDenied):
            _rec(conn, "nope")


def test_proxy_reads_nothing_back(proxy):
    _rec(proxy, "r")
    for table in ("optimize_savings", "savings_request_keys", "optimize_savings_default", "workloads",
                  "pricing_catalog", "savings_dead_letters"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            proxy.execute(f"SELECT * FROM tessera.{table}")
    # Forging the recording setting gives nothing: it binds only tessera_owner's policies.
    with proxy.transaction():
        proxy.execute("SELECT set_config('tessera.ingest_client_ids', %s, true)", ("{%s}" % A,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            proxy.execute("SELECT * FROM tessera.optimize_savings")

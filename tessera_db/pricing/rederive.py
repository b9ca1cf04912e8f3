"""Re-derive a monthly reading from nothing but the raw inputs: every row's token
buckets and the pricing snapshots it references.

This is a second, independent implementation of the pricing rules of
``tessera.record_request`` (docs/pricing.md, docs/usage-buckets.md), in Python
``Decimal`` arithmetic: it never calls the database's pricing functions
(``tessera_private.request_cost``, ``tessera_private.ingest_requests``) nor its reading
figures (``tessera.monthly_reading_figures_upto``). It reads three things: the issued
reading (latest version), the ``pricing_catalog`` rows, and the month's
``optimize_savings`` rows, streamed with ``COPY ... TO STDOUT`` (never fetched whole;
memory is bounded by the number of distinct breakdown groups, not rows). It then

* re-prices every row and compares it with the row's stored ``original_cost_usd`` and
  ``actual_cost_usd`` (a cost edited by a superuser, before or after the issuance, is a
  differing row, named by its request id);
* recomputes every figure of the reading (totals, token sums, the by-mechanics and
  by-feature-tag breakdowns, the snapshot ids) from the re-derived costs of the rows the
  reading covers (``recorded_seq <= recorded_cutoff``) and compares them with the issued
  figures;
* lists apart the rows recorded after the issuance (``recorded_seq > recorded_cutoff``:
  late measurements, replays of dead letters) with their effect on each figure; they
  are not differences, a correction version (``readings issue --reason``) takes them in.

Arithmetic is exact: a context of 1000 digits that traps ``Inexact`` and ``Rounded``, so
a result that could not be represented exactly raises instead of rounding (PostgreSQL's
``numeric`` multiplication and addition are exact too).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from tessera_db.errors import InvalidInput, NotFound

__all__ = [
    "CACHE_HIT_MECHANICS",
    "FigureDiff",
    "LateRow",
    "MissingPrice",
    "Price",
    "RederiveResult",
    "RowDiff",
    "exact",
    "figures_diff",
    "load_prices",
    "rederive_reading",
    "request_cost",
    "row_costs",
]

#: Exact arithmetic: large enough for any product of a bigint and a price, and every
#: loss of digits raises.
EXACT = decimal.Context(prec=1000, rounding=decimal.ROUND_HALF_EVEN, Emax=decimal.MAX_EMAX,
                        Emin=decimal.MIN_EMIN,
                        traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow,
                               decimal.Inexact, decimal.Rounded])

ZERO = Decimal(0)

#: A Tessera cache hit made no provider call: the actual cost is 0.
CACHE_HIT_MECHANICS = frozenset({"exact_cache", "semantic_cache"})

#: The metrics of a reading and of each breakdown element, in the reading's order.
METRICS = ("requests", "uncached_input_tokens", "cache_read_input_tokens", "cache_write_5m_input_tokens",
           "cache_write_1h_input_tokens", "output_tokens", "reasoning_tokens", "original_cost_usd",
           "actual_cost_usd", "savings_usd")
#: The reading's plain figures (its breakdowns and snapshot ids apart).
FIGURES = (*METRICS, "snapshot_ids")


def exact() -> decimal.Context:
    """A copy of the exact context, for ``decimal.localcontext``."""
    return EXACT.copy()


class MissingPrice(Exception):
    """A bucket with tokens needs a price component the snapshot does not have (or a
    batch request is above the tier): the database refuses to record such a row, so a
    stored row that needs one was not priced by the database's rules."""


@dataclass(frozen=True, slots=True)
class Price:
    """One ``tessera.pricing_catalog`` version (USD per token; None = not published)."""

    snapshot_id: str
    provider: str
    model: str
    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write_5m: Decimal | None = None
    cache_write_1h: Decimal | None = None
    batch_input: Decimal | None = None
    batch_output: Decimal | None = None
    tier_threshold_tokens: int | None = None
    above_tier_input: Decimal | None = None
    above_tier_output: Decimal | None = None
    above_tier_cache_read: Decimal | None = None


#: pricing_catalog columns, in Price's field order after snapshot_id.
PRICE_COLUMNS = ("provider", "model", "input_usd_per_token", "output_usd_per_token", "cache_read_usd_per_token",
                 "cache_write_5m_usd_per_token", "cache_write_1h_usd_per_token", "batch_input_usd_per_token",
                 "batch_output_usd_per_token", "tier_threshold_tokens", "above_tier_input_usd_per_token",
                 "above_tier_output_usd_per_token", "above_tier_cache_read_usd_per_token")


def _charge(tokens: int, price: Decimal | None, component: str, snap: Price, missing: list[str]) -> Decimal:
    if price is None:  # not published: fine for an empty bucket, refused for a full one
        if tokens:
            missing.append(component)
        return ZERO
    return price * tokens  # exact; keeps the price's scale even for 0 tokens


def _request_cost(p: Price, uncached: int, cache_read: int, cache_5m: int, cache_1h: int, output: int,
                  reasoning: int | None, batch: bool) -> Decimal:
    # Written from the rules (docs/pricing.md), not from the SQL: the prompt's size picks
    # the tier; a batch prices input and completion at the batch prices and never sits
    # above the tier; cache reads have their own (tiered) price, cache writes theirs
    # (untiered); reasoning is completion, billed as output.
    prompt = uncached + cache_read + cache_5m + cache_1h
    completion = output + (reasoning or 0)
    above = p.tier_threshold_tokens is not None and prompt > p.tier_threshold_tokens
    if batch and above:
        raise MissingPrice(f"no batch price above the {p.tier_threshold_tokens} token tier for "
                           f"{p.provider}/{p.model} (snapshot {p.snapshot_id})")
    missing: list[str] = []
    if batch:
        total = (_charge(uncached, p.batch_input, "batch_input", p, missing)
                 + _charge(completion, p.batch_output, "batch_output", p, missing)
                 + _charge(cache_read, p.cache_read, "cache_read", p, missing))
    elif above:
        total = (_charge(uncached, p.above_tier_input, "above_tier_input", p, missing)
                 + _charge(completion, p.above_tier_output, "above_tier_output", p, missing)
                 + _charge(cache_read, p.above_tier_cache_read, "above_tier_cache_read", p, missing))
    else:
        total = (_charge(uncached, p.input, "input", p, missing)
                 + _charge(completion, p.output, "output", p, missing)
                 + _charge(cache_read, p.cache_read, "cache_read", p, missing))
    total += (_charge(cache_5m, p.cache_write_5m, "cache_write_5m", p, missing)
              + _charge(cache_1h, p.cache_write_1h, "cache_write_1h", p, missing))
    if missing:
        raise MissingPrice(f"snapshot {p.snapshot_id} ({p.provider}/{p.model}) has no "
                           f"{', '.join(missing)} price")
    return total


def request_cost(price: Price, uncached: int = 0, cache_read: int = 0, cache_write_5m: int = 0,
                 cache_write_1h: int = 0, output: int = 0, reasoning: int | None = None,
                 batch: bool = False) -> Decimal:
    """USD cost of one request's token buckets at one pricing snapshot (exact)."""
    with decimal.localcontext(EXACT):
        return _request_cost(price, uncached, cache_read, cache_write_5m, cache_write_1h, output, reasoning, batch)


def _row_costs(requested: Price, routed: Price, uncached: int, cache_read: int, cache_5m: int, cache_1h: int,
               output: int, reasoning: int | None, batch: bool, mechanics: frozenset[str] | set[str]
               ) -> tuple[Decimal, Decimal]:
    # original: the request without Tessera, at the requested model's snapshot. What
    # Tessera turned on is taken away: prompt_cache_header -> the whole prompt uncached;
    # batch_routing -> real-time prices.
    if "prompt_cache_header" in mechanics:
        original = _request_cost(requested, uncached + cache_read + cache_5m + cache_1h, 0, 0, 0, output,
                                 reasoning, batch and "batch_routing" not in mechanics)
    else:
        original = _request_cost(requested, uncached, cache_read, cache_5m, cache_1h, output, reasoning,
                                 batch and "batch_routing" not in mechanics)
    # actual: the buckets as sent, at the routed model's snapshot; nothing for a hit of
    # Tessera's own cache (no provider call was made).
    if mechanics & CACHE_HIT_MECHANICS:
        actual = ZERO
    else:
        actual = _request_cost(routed, uncached, cache_read, cache_5m, cache_1h, output, reasoning, batch)
    return original, actual


def row_costs(requested: Price, routed: Price, uncached: int = 0, cache_read: int = 0, cache_write_5m: int = 0,
              cache_write_1h: int = 0, output: int = 0, reasoning: int | None = None, batch: bool = False,
              mechanics: Iterable[str] = ()) -> tuple[Decimal, Decimal]:
    """(original_cost_usd, actual_cost_usd) of one recorded request (exact)."""
    with decimal.localcontext(EXACT):
        return _row_costs(requested, routed, uncached, cache_read, cache_write_5m, cache_write_1h, output,
                          reasoning, batch, frozenset(mechanics))


# --------------------------------------------------------------------------- figures


def _new_sums() -> list[Any]:
    return [0, 0, 0, 0, 0, 0, 0, ZERO, ZERO, ZERO]


@dataclass
class _Figures:
    """Sums per (mechanics stack, feature_tag, requested snapshot, routed snapshot):
    one dict probe and ten additions per row; totals and breakdowns are folded at the end."""

    groups: dict[tuple[str, str | None, str, str], list[Any]] = field(default_factory=dict)

    def add(self, key: tuple[str, str | None, str, str], tokens: Sequence[int], reasoning: int | None,
            original: Decimal, actual: Decimal) -> None:
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = _new_sums()
        g[0] += 1
        g[1] += tokens[0]
        g[2] += tokens[1]
        g[3] += tokens[2]
        g[4] += tokens[3]
        g[5] += tokens[4]
        if reasoning:
            g[6] += reasoning
        g[7] += original
        g[8] += actual
        g[9] += original - actual

    def merged(self, other: _Figures) -> _Figures:
        out = _Figures({k: list(v) for k, v in self.groups.items()})
        for k, v in other.groups.items():
            g = out.groups.setdefault(k, _new_sums())
            for i, x in enumerate(v):
                g[i] += x
        return out

    def document(self) -> dict[str, Any]:
        """The reading's figures: METRICS, snapshot_ids (sorted), by_mechanics keyed by the
        stack (a tuple), by_feature_tag keyed by the tag (None = untagged)."""
        with decimal.localcontext(EXACT):
            total = _new_sums()
            mech: dict[tuple[str, ...], list[Any]] = {}
            tags: dict[str | None, list[Any]] = {}
            snaps: set[str] = set()
            for (stack, tag, req, rte), v in self.groups.items():
                stack_key = tuple(stack.split(",")) if stack else ()
                for target in (total, mech.setdefault(stack_key, _new_sums()), tags.setdefault(tag, _new_sums())):
                    for i, x in enumerate(v):
                        target[i] += x
                snaps.update((req, rte))
        doc: dict[str, Any] = dict(zip(METRICS, total))
        doc["snapshot_ids"] = sorted(snaps)
        doc["by_mechanics"] = {k: dict(zip(METRICS, v)) for k, v in mech.items()}
        doc["by_feature_tag"] = {k: dict(zip(METRICS, v)) for k, v in tags.items()}
        return doc


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class RowDiff:
    """A stored row whose costs are not what its buckets and snapshots give."""

    request_id: str
    occurred_at: str
    stored_original: Decimal
    stored_actual: Decimal
    rederived_original: Decimal | None
    rederived_actual: Decimal | None
    problem: str | None = None  # why it could not be priced at all


@dataclass(frozen=True)
class LateRow:
    """A row of the month recorded after the reading's issuance (not covered by it)."""

    request_id: str
    occurred_at: str
    recorded_at: str
    recorded_seq: int
    original: Decimal
    actual: Decimal


@dataclass(frozen=True)
class FigureDiff:
    """One figure: its name (as tessera.rederive_monthly_reading names it), two values."""

    figure: str
    left: Any
    right: Any


@dataclass
class RederiveResult:
    client_id: str
    month: dt.date
    version: int
    recorded_cutoff: int
    rows: int = 0                      # rows of the month read (covered + late)
    differing_rows: int = 0            # rows whose stored costs differ from the re-derived ones
    first_differing: list[RowDiff] = field(default_factory=list)
    figure_diffs: list[FigureDiff] = field(default_factory=list)   # issued vs re-derived
    late_rows: int = 0
    first_late: list[LateRow] = field(default_factory=list)
    late_effect: list[FigureDiff] = field(default_factory=list)    # covered vs covered + late
    snapshots_used: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        """True when every row re-prices to its stored costs and the re-derived figures
        equal the issued reading's (late rows are no disagreement)."""
        return self.differing_rows == 0 and not self.figure_diffs


# --------------------------------------------------------------------------- comparison


def _key_text(value: Any) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value, ensure_ascii=False)


def _same(a: Any, b: Any) -> bool:
    return a == b  # Decimal/int compare by value: 1.50 == 1.5, 4 == Decimal(4)


def figures_diff(left: Mapping[str, Any], right: Mapping[str, Any]) -> list[FigureDiff]:
    """Every figure that differs between two documents shaped as _Figures.document()
    returns; a breakdown element present on one side only is one entry (its metrics
    object, None on the other side). Sorted by name."""
    out: list[FigureDiff] = []
    for name in FIGURES:
        if not _same(left.get(name), right.get(name)):
            out.append(FigureDiff(name, left.get(name), right.get(name)))
    for breakdown in ("by_mechanics", "by_feature_tag"):
        lb, rb = left.get(breakdown, {}), right.get(breakdown, {})
        for key in sorted(set(lb) | set(rb), key=lambda k: (k is not None, _key_text(k))):
            label = f"{breakdown}[{_key_text(key)}]"
            if key not in lb or key not in rb:
                out.append(FigureDiff(label, lb.get(key), rb.get(key)))
                continue
            for metric in METRICS:
                if not _same(lb[key].get(metric), rb[key].get(metric)):
                    out.append(FigureDiff(f"{label}.{metric}", lb[key].get(metric), rb[key].get(metric)))
    return sorted(out, key=lambda d: d.figure)


def _issued_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """The issued reading in the shape of _Figures.document() (JSON numbers as Decimal)."""
    doc: dict[str, Any] = {m: row[m] for m in METRICS}
    doc["snapshot_ids"] = sorted(str(s) for s in row["snapshot_ids"])
    parse = dict(parse_float=Decimal, parse_int=int)
    doc["by_mechanics"] = {tuple(e.pop("mechanics")): e for e in json.loads(row["by_mechanics"], **parse)}
    doc["by_feature_tag"] = {e.pop("feature_tag"): e for e in json.loads(row["by_feature_tag"], **parse)}
    return doc


# --------------------------------------------------------------------------- the database side


def _price_of(row: Sequence[Any]) -> Price:
    snap, provider, model, *prices = row
    values = [None if v is None else (int(v) if i == 7 else Decimal(v)) for i, v in enumerate(prices)]
    return Price(str(snap), provider, model, *values)


def load_prices(conn: psycopg.Connection[Any], snapshot_ids: Iterable[str] | None = None) -> dict[str, Price]:
    """pricing_catalog rows (as text, parsed here: no float ever), by snapshot id."""
    cols = ", ".join(f"p.{c}::text" if c not in ("provider", "model") else f"p.{c}" for c in PRICE_COLUMNS)
    query = f"SELECT p.pricing_snapshot_id::text, {cols} FROM tessera.pricing_catalog AS p"  # noqa: S608 (constants)
    if snapshot_ids is None:
        rows = conn.execute(query).fetchall()
    else:
        rows = conn.execute(query + " WHERE p.pricing_snapshot_id = ANY (%s::uuid[])", (list(snapshot_ids),)).fetchall()
    return {r[0]: _price_of(r) for r in rows}


READING = """
SELECT r.version, r.recorded_cutoff, r.requests, r.uncached_input_tokens, r.cache_read_input_tokens,
       r.cache_write_5m_input_tokens, r.cache_write_1h_input_tokens, r.output_tokens, r.reasoning_tokens,
       r.original_cost_usd, r.actual_cost_usd, r.savings_usd, r.by_mechanics::text AS by_mechanics,
       r.by_feature_tag::text AS by_feature_tag, r.snapshot_ids::text[] AS snapshot_ids
  FROM tessera.monthly_readings AS r
 WHERE r.client_id = %(c)s AND r.month = %(m)s
 ORDER BY r.version DESC
 LIMIT 1
"""

#: The month's raw rows, streamed. The tokens as integers, the costs as numeric, the
#: rest as text (snapshot ids are only dictionary keys here).
ROWS = """
COPY (SELECT s.request_id, s.recorded_seq, s.occurred_at::text, s.recorded_at::text,
             s.requested_snapshot_id::text, s.routed_snapshot_id::text,
             s.uncached_input_tokens, s.cache_read_input_tokens, s.cache_write_5m_input_tokens,
             s.cache_write_1h_input_tokens, s.output_tokens, s.reasoning_tokens, s.batch,
             pg_catalog.array_to_string(s.mechanics, ','), s.feature_tag,
             s.original_cost_usd, s.actual_cost_usd
        FROM tessera.optimize_savings AS s
       WHERE s.client_id = {client}
         AND s.occurred_at >= {start} AND s.occurred_at < {end})
  TO STDOUT
"""
ROW_TYPES = ["text", "int8", "text", "text", "text", "text", "int8", "int8", "int8", "int8", "int8", "int8",
             "bool", "text", "text", "numeric", "numeric"]


def _month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=dt.timezone.utc)
    return start, end


def rederive_reading(conn: psycopg.Connection[Any], client_id: Any, month: dt.date, *,
                     keep: int = 20) -> RederiveResult:
    """Re-derive the latest issued reading of (client, month) on ``conn`` (its identity's
    row-level security applies). ``keep`` bounds the differing and late rows kept for
    the report (all are counted). Raises NotFound when no reading is issued (or
    visible)."""
    if month != month.replace(day=1):
        raise InvalidInput(f"month must be the first day of a month, got {month}", sqlstate="22023")
    with conn.cursor(row_factory=dict_row) as cur:
        reading = cur.execute(READING, {"c": client_id, "m": month}).fetchone()
    if reading is None:
        raise NotFound(f"no issued reading for client {client_id} and month {month:%Y-%m}", sqlstate="P0002")
    cutoff = int(reading["recorded_cutoff"])
    result = RederiveResult(str(client_id), month, int(reading["version"]), cutoff)
    prices = load_prices(conn)
    covered, late = _Figures(), _Figures()
    pending: list[tuple[Any, ...]] = []  # rows whose snapshot was published after load_prices
    start, end = _month_bounds(month)
    statement = sql.SQL(ROWS).format(client=sql.Literal(str(client_id)), start=sql.Literal(start),
                                     end=sql.Literal(end))

    def one(row: tuple[Any, ...]) -> None:
        (rid, seq, occurred, recorded, req_sid, rte_sid, uncached, cread, c5m, c1h, output, reasoning, batch,
         mech, tag, stored_orig, stored_act) = row
        result.rows += 1
        mechanics = frozenset(mech.split(",")) if mech else frozenset()
        problem = None
        try:
            original, actual = _row_costs(prices[req_sid], prices[rte_sid], uncached, cread, c5m, c1h, output,
                                          reasoning, batch, mechanics)
        except MissingPrice as exc:
            original = actual = None
            problem = str(exc)
        except KeyError as exc:
            original = actual = None
            problem = f"snapshot {exc.args[0]} is not in pricing_catalog"
        if problem is not None or original != stored_orig or actual != stored_act:
            result.differing_rows += 1
            if len(result.first_differing) < keep:
                result.first_differing.append(RowDiff(rid, occurred, stored_orig, stored_act, original, actual,
                                                      problem))
            if original is None:  # unpriceable: count it at its stored costs
                original, actual = stored_orig, stored_act
        key = (mech or "", tag, req_sid, rte_sid)
        if seq <= cutoff:
            covered.add(key, (uncached, cread, c5m, c1h, output), reasoning, original, actual)
        else:
            result.late_rows += 1
            if len(result.first_late) < keep:
                result.first_late.append(LateRow(rid, occurred, recorded, seq, original, actual))
            late.add(key, (uncached, cread, c5m, c1h, output), reasoning, original, actual)

    with decimal.localcontext(EXACT), conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(ROW_TYPES)
        for row in copy.rows():
            if row[4] in prices and row[5] in prices:
                one(row)
            else:
                pending.append(row)
    if pending:  # rare: a price published while the rows streamed
        prices.update(load_prices(conn, {r[4] for r in pending} | {r[5] for r in pending}))
        with decimal.localcontext(EXACT):
            for row in pending:
                one(row)

    issued = _issued_document(reading)
    rederived = covered.document()
    result.figure_diffs = figures_diff(issued, rederived)
    if late.groups:
        result.late_effect = figures_diff(rederived, covered.merged(late).document())
    result.snapshots_used = covered.merged(late).document()["snapshot_ids"]
    return result

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
    "issued_document",
    "load_prices",
    "month_bounds",
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


#: One way of paying for a request at one snapshot, as the fast path reads it: the
#: prices of (uncached input, completion, cache read, cache write 5m, cache write 1h),
#: an unpublished one as 0, and the indexes of the unpublished ones.
Mode = tuple[tuple[Decimal, Decimal, Decimal, Decimal, Decimal], tuple[int, ...]]
#: A snapshot's fast-path table: (tier threshold, real-time mode, batch mode, above-tier
#: mode, the Price).
Rates = tuple[int | None, Mode, Mode, Mode, Price]


def _mode(*prices: Decimal | None) -> Mode:
    p = tuple(ZERO if x is None else x for x in prices)
    return (p[0], p[1], p[2], p[3], p[4]), tuple(i for i, x in enumerate(prices) if x is None)


def rates_of(p: Price) -> Rates:
    """The fast path's price table of one snapshot (the same rules as _request_cost)."""
    writes = (p.cache_write_5m, p.cache_write_1h)
    return (p.tier_threshold_tokens,
            _mode(p.input, p.output, p.cache_read, *writes),
            _mode(p.batch_input, p.batch_output, p.cache_read, *writes),
            _mode(p.above_tier_input, p.above_tier_output, p.above_tier_cache_read, *writes),
            p)


def _cost(r: Rates, uncached: int, cache_read: int, cache_5m: int, cache_1h: int, output: int,
          reasoning: int | None, batch: bool) -> Decimal:
    """request cost, fast path: pick the mode, one product per bucket (an unpublished
    price counts 0, as the database's COALESCE(tokens * NULL, 0) does, which is right
    only for an empty bucket). A non-empty bucket without a price and a batch above the
    tier go to _request_cost, which refuses them naming the component."""
    tier = r[0]
    if tier is not None and uncached + cache_read + cache_5m + cache_1h > tier:
        if batch:
            return _request_cost(r[4], uncached, cache_read, cache_5m, cache_1h, output, reasoning, batch)
        k, missing = r[3]
    else:
        k, missing = r[2] if batch else r[1]
    completion = output + reasoning if reasoning else output
    if missing:
        buckets = (uncached, completion, cache_read, cache_5m, cache_1h)
        for i in missing:
            if buckets[i]:
                return _request_cost(r[4], uncached, cache_read, cache_5m, cache_1h, output, reasoning, batch)
    return k[0] * uncached + k[1] * completion + k[2] * cache_read + k[3] * cache_5m + k[4] * cache_1h


def request_cost(price: Price, uncached: int = 0, cache_read: int = 0, cache_write_5m: int = 0,
                 cache_write_1h: int = 0, output: int = 0, reasoning: int | None = None,
                 batch: bool = False) -> Decimal:
    """USD cost of one request's token buckets at one pricing snapshot (exact)."""
    with decimal.localcontext(EXACT):
        return _cost(rates_of(price), uncached, cache_read, cache_write_5m, cache_write_1h, output, reasoning,
                     batch)


#: What a mechanics stack changes in the pricing: (prompt_cache_header credited,
#: batch_routing credited, a Tessera cache hit, the original is 0, the original is priced
#: at the routed snapshot). The last two, and a mechanic fired but not credited, come
#: from the mechanics that fired without consent or under the kill switch (issue 15,
#: docs/operations.md): no saving is credited to them, so their part of the original
#: equals their part of the actual.
Flags = tuple[bool, bool, bool, bool, bool]


def flags_of(mechanics: Iterable[str], unconsented: Iterable[str] = ()) -> Flags:
    m, u = set(mechanics), set(unconsented)
    return ("prompt_cache_header" in m and "prompt_cache_header" not in u,
            "batch_routing" in m and "batch_routing" not in u,
            bool(m & CACHE_HIT_MECHANICS),
            bool(u & CACHE_HIT_MECHANICS),
            "auto_route" in u)


def _row_costs(requested: Rates, routed: Rates, uncached: int, cache_read: int, cache_5m: int, cache_1h: int,
               output: int, reasoning: int | None, batch: bool, flags: Flags) -> tuple[Decimal, Decimal]:
    cache_credit, batch_credit, hit, original_zero, original_routed = flags
    # original: the request without Tessera, at the requested model's snapshot. What
    # Tessera turned on is taken away: prompt_cache_header -> the whole prompt uncached;
    # batch_routing -> real-time prices. What it turned on without consent is credited
    # nothing: auto_route -> the routed snapshot; a cache hit -> 0, like the actual.
    base = routed if original_routed else requested
    if original_zero:
        original = ZERO
    elif cache_credit:
        original = _cost(base, uncached + cache_read + cache_5m + cache_1h, 0, 0, 0, output, reasoning,
                         batch and not batch_credit)
    else:
        original = _cost(base, uncached, cache_read, cache_5m, cache_1h, output, reasoning,
                         batch and not batch_credit)
    # actual: the buckets as sent, at the routed model's snapshot; nothing for a hit of
    # Tessera's own cache (no provider call was made).
    if hit:
        return original, ZERO
    return original, _cost(routed, uncached, cache_read, cache_5m, cache_1h, output, reasoning, batch)


def row_costs(requested: Price, routed: Price, uncached: int = 0, cache_read: int = 0, cache_write_5m: int = 0,
              cache_write_1h: int = 0, output: int = 0, reasoning: int | None = None, batch: bool = False,
              mechanics: Iterable[str] = (), unconsented: Iterable[str] = ()) -> tuple[Decimal, Decimal]:
    """(original_cost_usd, actual_cost_usd) of one recorded request (exact);
    ``unconsented``: the row's unconsented_mechanics."""
    with decimal.localcontext(EXACT):
        return _row_costs(rates_of(requested), rates_of(routed), uncached, cache_read, cache_write_5m,
                          cache_write_1h, output, reasoning, batch, flags_of(mechanics, unconsented))


# --------------------------------------------------------------------------- figures


_NULL = b"\\N"
_ESCAPES = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v", b"\\": b"\\"}


def copy_text(field_: bytes) -> str | None:
    """One field of COPY's text format as text (\\N = NULL; backslash escapes undone)."""
    if field_ == _NULL:
        return None
    if b"\\" not in field_:
        return field_.decode()
    out, i = bytearray(), 0
    while i < len(field_):
        c = field_[i:i + 1]
        if c != b"\\":
            out += c
            i += 1
            continue
        nxt = field_[i + 1:i + 2]
        if nxt in _ESCAPES:
            out += _ESCAPES[nxt]
            i += 2
        elif nxt == b"x":
            j = i + 2
            while j < min(i + 4, len(field_)) and field_[j:j + 1] in b"0123456789abcdefABCDEF":
                j += 1
            out.append(int(field_[i + 2:j], 16))
            i = j
        elif nxt.isdigit():
            j = i + 1
            while j < min(i + 4, len(field_)) and field_[j:j + 1] in b"01234567":
                j += 1
            out.append(int(field_[i + 1:j], 8) & 0xFF)
            i = j
        else:
            out += nxt
            i += 2
    return out.decode()


@dataclass
class _Figures:
    """Sums per (mechanics stack, feature_tag, requested snapshot, routed snapshot), the
    key as the raw COPY fields: the rows' loop does one dict probe and nine additions;
    totals, breakdowns and savings (original - actual, exact) are folded at the end."""

    groups: dict[tuple[bytes, bytes, bytes, bytes], list[Any]] = field(default_factory=dict)

    def merged(self, other: _Figures) -> _Figures:
        out = _Figures({k: list(v) for k, v in self.groups.items()})
        with decimal.localcontext(EXACT):
            for k, v in other.groups.items():
                g = out.groups.setdefault(k, [0, 0, 0, 0, 0, 0, 0, ZERO, ZERO])
                for i, x in enumerate(v):
                    g[i] += x
        return out

    def document(self) -> dict[str, Any]:
        """The reading's figures: METRICS, snapshot_ids (sorted), by_mechanics keyed by the
        stack (a tuple), by_feature_tag keyed by the tag (None = untagged)."""
        def sums() -> list[Any]:
            return [0, 0, 0, 0, 0, 0, 0, ZERO, ZERO]

        with decimal.localcontext(EXACT):
            total = sums()
            mech: dict[tuple[str, ...], list[Any]] = {}
            tags: dict[str | None, list[Any]] = {}
            snaps: set[str] = set()
            for (stack, tag, req, rte), v in self.groups.items():
                text = copy_text(stack)
                stack_key = tuple(text.split(",")) if text else ()
                for target in (total, mech.setdefault(stack_key, sums()), tags.setdefault(copy_text(tag), sums())):
                    for i, x in enumerate(v):
                        target[i] += x
                snaps.update((req.decode(), rte.decode()))

            def metrics(v: list[Any]) -> dict[str, Any]:
                return dict(zip(METRICS, [*v, v[7] - v[8]], strict=True))

            doc: dict[str, Any] = metrics(total)
            doc["snapshot_ids"] = sorted(snaps)
            doc["by_mechanics"] = {k: metrics(v) for k, v in mech.items()}
            doc["by_feature_tag"] = {k: metrics(v) for k, v in tags.items()}
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
    return bool(a == b)  # Decimal/int compare by value: 1.50 == 1.5, 4 == Decimal(4)


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


def issued_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """The issued reading in the shape of _Figures.document() (JSON numbers as Decimal).
    Its breakdowns come as jsonb text (read here) or already parsed (an evidence pack)."""
    doc: dict[str, Any] = {m: row[m] for m in METRICS}
    doc["snapshot_ids"] = sorted(str(s) for s in row["snapshot_ids"])

    def elements(value: Any) -> list[dict[str, Any]]:
        if isinstance(value, str):
            return list(json.loads(value, parse_float=Decimal, parse_int=int))
        return [dict(e) for e in value]

    doc["by_mechanics"] = {tuple(e.pop("mechanics")): e for e in elements(row["by_mechanics"])}
    doc["by_feature_tag"] = {e.pop("feature_tag"): e for e in elements(row["by_feature_tag"])}
    return doc


# --------------------------------------------------------------------------- the database side


def _price_of(row: Sequence[Any]) -> Price:
    snap, provider, model, *text = row

    def price(i: int) -> Decimal | None:
        return None if text[i] is None else Decimal(text[i])

    return Price(str(snap), provider, model, Decimal(text[0]), Decimal(text[1]), price(2), price(3), price(4),
                 price(5), price(6), None if text[7] is None else int(text[7]), price(8), price(9), price(10))


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

#: The month's raw rows, streamed in COPY's text format and parsed here (a row is one
#: CopyData message; splitting it ourselves is several times faster than a typed row
#: loader). Only what pricing and the figures need: the rows' times are looked up
#: afterwards for the few rows a report names.
ROWS = """
COPY (SELECT s.request_id, s.recorded_seq, s.requested_snapshot_id, s.routed_snapshot_id,
             s.uncached_input_tokens, s.cache_read_input_tokens, s.cache_write_5m_input_tokens,
             s.cache_write_1h_input_tokens, s.output_tokens, s.reasoning_tokens, s.batch,
             pg_catalog.array_to_string(s.mechanics, ','), s.feature_tag,
             s.original_cost_usd, s.actual_cost_usd, pg_catalog.array_to_string(s.unconsented_mechanics, ',')
        FROM tessera.optimize_savings AS s
       WHERE s.client_id = {client}
         AND s.occurred_at >= {start} AND s.occurred_at < {end})
  TO STDOUT
"""

TIMES = """
SELECT s.request_id, s.occurred_at::text, s.recorded_at::text
  FROM tessera.optimize_savings AS s
 WHERE s.client_id = %(c)s AND s.occurred_at >= %(start)s AND s.occurred_at < %(end)s
   AND s.request_id = ANY (%(ids)s)
"""


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=dt.timezone.utc)
    return start, end


def _same_cost(stored: bytes, rederived: Decimal) -> bool:
    # The database keeps a product's and a sum's exact scale, as Decimal does, so an
    # untouched row's text is identical; otherwise compare values (0.50 == 0.5).
    text = stored.decode()
    return str(rederived) == text or bool(Decimal(text) == rederived)


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
    rates = {sid.encode(): rates_of(p) for sid, p in load_prices(conn).items()}
    flags: dict[tuple[bytes, bytes], Flags] = {}
    covered, late = _Figures(), _Figures()
    differing: list[tuple[bytes, bytes, bytes, Decimal | None, Decimal | None, str | None]] = []
    late_kept: list[tuple[bytes, int, Decimal, Decimal]] = []
    pending: list[bytes] = []  # rows whose snapshot was published after the prices were read
    start, end = month_bounds(month)
    statement = sql.SQL(ROWS).format(client=sql.Literal(str(client_id)), start=sql.Literal(start),
                                     end=sql.Literal(end))
    rows = differing_rows = late_rows = 0
    covered_groups, late_groups = covered.groups, late.groups

    def process(lines: Iterable[bytes | bytearray | memoryview], defer: list[bytes] | None) -> None:
        """The rows' loop (one function, its names local: it runs a million times). A row
        whose snapshot is not loaded yet goes to ``defer`` when one is given."""
        nonlocal rows, differing_rows, late_rows
        for data in lines:
            line = bytes(data)
            (rid, seq_b, req, rte, unc_b, cr_b, c5_b, c1_b, out_b, rea_b, batch_b, mech, tag, orig_b,
             act_b, uncons) = line[:-1].split(b"\t")
            req_rates, rte_rates = rates.get(req), rates.get(rte)
            if defer is not None and (req_rates is None or rte_rates is None):
                defer.append(line)
                continue
            rows += 1
            unc, cr, c5, c1, out = int(unc_b), int(cr_b), int(c5_b), int(c1_b), int(out_b)
            rea = None if rea_b == _NULL else int(rea_b)
            f = flags.get((mech, uncons))
            if f is None:
                f = flags[mech, uncons] = flags_of(mech.decode().split(",") if mech else (),
                                                   uncons.decode().split(",") if uncons else ())
            problem = None
            original = actual = ZERO
            if req_rates is None or rte_rates is None:
                problem = f"snapshot {(req if req_rates is None else rte).decode()} is not in pricing_catalog"
            else:
                try:
                    original, actual = _row_costs(req_rates, rte_rates, unc, cr, c5, c1, out, rea, batch_b == b"t",
                                                  f)
                except MissingPrice as exc:
                    problem = str(exc)
            if problem is not None or not (_same_cost(orig_b, original) and _same_cost(act_b, actual)):
                differing_rows += 1
                if len(differing) < keep:
                    differing.append((rid, orig_b, act_b, None if problem else original,
                                      None if problem else actual, problem))
                if problem is not None:  # unpriceable: counted at its stored costs
                    original, actual = Decimal(orig_b.decode()), Decimal(act_b.decode())
            seq = int(seq_b)
            if seq <= cutoff:
                groups = covered_groups
            else:
                groups = late_groups
                late_rows += 1
                if len(late_kept) < keep:
                    late_kept.append((rid, seq, original, actual))
            key = (mech, tag, req, rte)
            g = groups.get(key)
            if g is None:
                g = groups[key] = [0, 0, 0, 0, 0, 0, 0, ZERO, ZERO]
            g[0] += 1
            g[1] += unc
            g[2] += cr
            g[3] += c5
            g[4] += c1
            g[5] += out
            if rea:
                g[6] += rea
            g[7] += original
            g[8] += actual

    with decimal.localcontext(EXACT), conn.cursor() as cur, cur.copy(statement) as copy:
        process(copy, pending)
    if pending:  # rare: a price published while the rows streamed; read it now
        more = load_prices(conn, {line.split(b"\t")[i].decode() for line in pending for i in (2, 3)})
        rates.update({sid.encode(): rates_of(p) for sid, p in more.items()})
        with decimal.localcontext(EXACT):
            process(pending, None)

    result.rows, result.differing_rows, result.late_rows = rows, differing_rows, late_rows
    named = [copy_text(d[0]) for d in differing] + [copy_text(x[0]) for x in late_kept]
    times = {r[0]: (r[1], r[2]) for r in conn.execute(TIMES, {"c": client_id, "start": start, "end": end,
                                                              "ids": named}).fetchall()} if named else {}
    for rid_b, orig_b, act_b, original, actual, problem in differing:
        rid = copy_text(rid_b) or ""
        result.first_differing.append(RowDiff(rid, times.get(rid, ("?", "?"))[0], Decimal(orig_b.decode()),
                                              Decimal(act_b.decode()), original, actual, problem))
    for rid_b, seq, original, actual in late_kept:
        rid = copy_text(rid_b) or ""
        occurred, recorded = times.get(rid, ("?", "?"))
        result.first_late.append(LateRow(rid, occurred, recorded, seq, original, actual))

    issued = issued_document(reading)
    rederived = covered.document()
    result.figure_diffs = figures_diff(issued, rederived)
    everything = covered.merged(late).document() if late.groups else rederived
    if late.groups:
        result.late_effect = figures_diff(rederived, everything)
    result.snapshots_used = everything["snapshot_ids"]
    return result

"""The verifier's row scan: recompute content_hash v1 of every audit row, fast.

One scan covers the rows with ``lo <= event_id <= hi`` and returns, per checkpoint bucket
(``prev_horizon <= txid < horizon``), the RFC 6962 leaf hashes of its rows in event_id
order, or the first bad row. ``tessera_db.audit.verify`` runs one scan in process, or
many in worker processes that share its snapshot (``SET TRANSACTION SNAPSHOT``).

How the bytes are produced (docs/audit.md, "How the verifier reads rows"). The rows
leave PostgreSQL through ``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` with every
hashed column selected as ``text``: a text column as is; bigint, xid8, uuid and jsonb
through ``::text``, i.e. the type's standard output function; inet through ``::text``,
the built-in cast that always prints host/masklen (``text(inet)``, unlike inet's output
function, which drops a full-width mask); occurred_at through timestamptz's output
function under TimeZone UTC and DateStyle ISO. In binary COPY a text field is framed as
a 4-byte big-endian length and its UTF-8 bytes, and a NULL as the length -1
(``FF FF FF FF``): exactly encoding v1's f(field). So for every field but occurred_at
the bytes on the wire *are* f(field); txid .. prompt_fingerprint_v1 arrive as one
contiguous run, in encoding v1 order, and are hashed as they arrive. occurred_at
('2026-11-23 21:05:03.1234+00') is rewritten here to the canonical
'2026-11-23T21:05:03.123400Z'. The prefix and the SHA-256 are computed here. No SQL
function, expression or stored hash goes into the recomputed hash: a row whose stored
value was changed reaches this code as different output bytes, so its recomputed hash
changes; a wire framing that were not encoding v1's would make every row fail (loudly),
never make an edited row pass.

The hot loop reads CopyData messages straight from libpq (``PGconn.get_copy_data``)
and keeps per-row work to a few slices, one join and two SHA-256 calls; see
docs/benchmarks.md for the figures.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import select
import struct
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import pq, sql

from tessera_db.audit import encoding, merkle

try:  # CPython's own SHA-256: same digests, less call overhead than OpenSSL's for 33 bytes
    from _sha256 import sha256 as _small_sha256  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - other interpreters
    _small_sha256 = hashlib.sha256

#: Columns in wire order: content_hash; erasure_event_id (NULL but on the rows an
#: erasure emptied or stripped, whose content no longer hashes to content_hash: their
#: leaf is the stored hash, and tessera_db.audit.verify checks that a sealed erasure
#: event authorises exactly them); occurred_at and event_id, whose lengths are read
#: here; then txid .. prompt_fingerprint_v1 in encoding v1 order, which arrive as one
#: contiguous run of already-framed fields and are hashed as they are.
_COLUMNS = (
    "e.content_hash", "e.erasure_event_id::text", "e.occurred_at::text", "e.event_id::text",
    "e.txid::text", "e.client_id::text", "e.entity", "e.entity_id", "e.action", "e.before::text",
    "e.after::text", "e.actor_role", "e.actor_session_role", "e.actor_email", "e.actor_sub", "e.actor_job",
    "e.request_id", "e.reason", "e.source_ip::text", "e.prompt_fingerprint_v1::text",
)
assert [c.removeprefix("e.").removesuffix("::text") for c in _COLUMNS[2:]] == [
    "occurred_at", "event_id", *encoding.FIELDS[2:]]

_QUERY = sql.SQL(
    "COPY (SELECT " + ", ".join(_COLUMNS) + " FROM tessera.audit_events AS e"
    " WHERE e.event_id BETWEEN {lo} AND {hi} ORDER BY e.event_id) TO STDOUT (FORMAT binary)")

#: The whole bigint range: the first scan starts at MIN_EVENT_ID and the last ends at
#: MAX_EVENT_ID, so no row is left out whatever min()/max() said.
MIN_EVENT_ID = -(2 ** 63)
MAX_EVENT_ID = 2 ** 63 - 1

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
#: Field count (20) and the content_hash length (32): every row starts with these 6 bytes.
_ROW_START = struct.pack(">hi", len(_COLUMNS), 32)
_TRAILER = b"\xff\xff"
_TS_FIELD = struct.pack(">I", 27)  # len('YYYY-MM-DDTHH:MM:SS.ffffffZ')
_LEAF = b"\x00"
_NULL = b"\xff\xff\xff\xff"
#: Where occurred_at's length sits in a row whose erasure_event_id is NULL.
_TS_AT = 42


def prepare_session(conn: psycopg.Connection[Any]) -> None:
    """Transaction-local settings the scan depends on (inside the read transaction):
    UTC ISO timestamps and UTF-8 text; JIT off and index order (planner choices only)."""
    conn.execute("SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true),"
                 " set_config('client_encoding', 'UTF8', true), set_config('jit', 'off', true),"
                 " set_config('enable_seqscan', 'off', true), set_config('enable_sort', 'off', true)")


@dataclass
class ChunkResult:
    """What one scan found: ``counts[b]`` rows of bucket b (horizons[b-1] <= txid <
    horizons[b]) and ``leaves[b]``, their concatenated 32-byte leaf hashes in event_id
    order (kept by a worker process, not sent back); ``problem`` is (item, message) of
    the first bad row, when there is one."""

    lo: int
    hi: int
    rows: int = 0
    unsealed: int = 0
    first_event: int | None = None
    last_event: int | None = None
    problem: tuple[str, str] | None = None
    counts: list[int] = field(default_factory=list)
    leaves: list[bytes] = field(default_factory=list)
    #: (event_id, content_hash, erasure_event_id) of the rows an erasure emptied or
    #: stripped, in event_id order: accepted only if a sealed erasure event commits to
    #: exactly them (tessera_db.audit.verify).
    erased: list[tuple[int, bytes, int]] = field(default_factory=list)


def subtrees(leaves: bytes, start: int, cuts: list[int]) -> list[tuple[int, bytes]]:
    """The leaves (concatenated hashes) at tree positions start, start + 1, ... as
    aligned perfect subtrees (merkle.aligned_subtrees), none spanning a position in
    ``cuts`` (where the caller needs the root of the tree so far)."""
    hashes = split_leaves(leaves)
    out: list[tuple[int, bytes]] = []
    pos = start
    for cut in [*sorted(c for c in cuts if start < c < start + len(hashes)), start + len(hashes)]:
        out += merkle.aligned_subtrees(hashes[pos - start:cut - start], pos)
        pos = cut
    return out


_TS_SECOND = re.compile(rb"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)")


def _timestamp_second(text: bytes) -> bytes:
    """The canonical field start up to the fraction, f('YYYY-MM-DDTHH:MM:SS.' ...),
    from timestamptz output under TimeZone UTC, DateStyle ISO ('2026-11-23 21:05:03.1234+00';
    ValueError for anything else)."""
    m = _TS_SECOND.match(text)
    if m is None or not text.endswith(b"+00"):
        raise ValueError(f"unexpected timestamp text {text!r}")
    return _TS_FIELD + m[1] + b"T" + m[2] + b"."


def scan(conn: psycopg.Connection[Any], lo: int, hi: int, horizons: list[int]) -> ChunkResult:
    """Recompute the rows with lo <= event_id <= hi inside ``conn``'s open transaction
    (``prepare_session`` done). Stops at the first bad row."""
    result = ChunkResult(lo, hi)
    nb = len(horizons)
    buckets: list[list[bytes]] = [[] for _ in range(nb)]
    query = _QUERY.format(lo=sql.Literal(lo), hi=sql.Literal(hi)).as_bytes(conn)
    pgconn = conn.pgconn
    pgconn.send_query(query)
    while (flushed := pgconn.flush()) != 0:
        if flushed < 0:
            raise psycopg.OperationalError(pgconn.get_error_message())
        select.select([], [pgconn.socket], [])
    res = _next_result(conn)
    if res is None or res.status != pq.ExecStatus.COPY_OUT:
        _drain(conn)
        if res is not None and res.status == pq.ExecStatus.FATAL_ERROR:
            raise psycopg.errors.error_from_result(res, encoding="utf-8")
        raise psycopg.OperationalError("COPY of the audit rows did not start")

    get = pgconn.get_copy_data
    fd = pgconn.socket
    i32 = struct.Struct(">i").unpack_from
    sha256 = hashlib.sha256
    leaf_sha = _small_sha256
    prefix = encoding.PREFIX
    row_start = _ROW_START
    bisect_right = bisect.bisect_right
    below, above = -1, 2 ** 64  # xid8 is unsigned 64-bit
    last_raw_ts = b""
    last_ts = b""
    last_second_raw = b""
    last_second = b""
    last_event = lo - 1  # below every event_id of this scan
    cur_lo, cur_hi = above, below  # the current bucket's horizon range (empty at first)
    cur: list[bytes] | None = None
    rows = 0
    unsealed = 0
    first_message = True
    first_event: int | None = None
    problem: tuple[str, str] | None = None
    erased: list[tuple[int, bytes, int]] = []
    while True:
        n, data = get(1)
        if n == 0:  # nothing buffered: wait for the socket (releases the GIL), read on
            select.select([fd], [], [])
            pgconn.consume_input()
            continue
        if n < 0:
            break
        if problem is not None:  # drain the rest of the COPY after the first bad row
            continue
        line = bytes(data)
        if first_message:
            first_message = False
            if not line.startswith(_SIGNATURE):
                problem = (f"rows from event_id={lo}", "COPY binary header missing")
                continue
            ext = i32(line, 15)[0]
            line = line[19 + ext:]
        if line[:6] != row_start:
            if line == _TRAILER:
                continue
            problem = (f"the row after event_id={last_event}",
                       "unexpected row layout (content_hash is not 32 bytes)")
            continue
        if line[38:42] != _NULL:  # erased (tombstone or stripped): the stored hash is its leaf
            try:
                erased_by, event_id, txid = _erased_row(line, i32)
            except (ValueError, struct.error) as exc:
                problem = (f"the row after event_id={last_event}", f"malformed ({exc})")
                continue
            stored = line[6:38]
            rows += 1
            if event_id <= last_event:
                problem = (f"row event_id={event_id}", "event_id appears twice" if event_id == last_event
                           else "rows did not arrive in event_id order")
                continue
            if last_event < lo:
                first_event = event_id
            last_event = event_id
            erased.append((event_id, stored, erased_by))
            b = bisect_right(horizons, txid)
            if b < nb:
                buckets[b].append(leaf_sha(_LEAF + stored).digest())
            else:
                unsealed += 1
            cur_lo, cur_hi = above, below  # re-derive the bucket for the next row
            continue
        try:
            o = 46 + i32(line, _TS_AT)[0]
            raw_ts = line[46:o]
            if raw_ts != last_raw_ts:  # rows of one transaction share now()
                if raw_ts[:19] != last_second_raw:  # rows of one second share the start
                    last_second = _timestamp_second(raw_ts)
                    last_second_raw = raw_ts[:19]
                if o == 68:  # no fraction: '...:SS+00'
                    if raw_ts[19:] != b"+00":
                        raise ValueError(f"unexpected timestamp text {raw_ts!r}")
                    last_ts = last_second + b"000000Z"
                else:
                    fraction = raw_ts[20:-3]
                    if raw_ts[19:20] != b"." or raw_ts[-3:] != b"+00" or len(fraction) > 6 or not fraction.isdigit():
                        raise ValueError(f"unexpected timestamp text {raw_ts!r}")
                    last_ts = last_second + fraction.ljust(6, b"0") + b"Z"
                last_raw_ts = raw_ts
            el = i32(line, o)[0]
            ev = line[o:o + 4 + el]
            event_id = int(ev[4:])
            o += 4 + el
            txid = int(line[o + 4:o + 4 + i32(line, o)[0]])
        except (ValueError, struct.error) as exc:
            problem = (f"the row after event_id={last_event}", f"malformed ({exc})")
            continue
        stored = line[6:38]
        rows += 1
        if event_id <= last_event:
            problem = (f"row event_id={event_id}", "event_id appears twice" if event_id == last_event
                       else "rows did not arrive in event_id order")
            continue
        if last_event < lo:
            first_event = event_id
        last_event = event_id
        recomputed = sha256(b"".join((prefix, ev, last_ts, line[o:]))).digest()
        if recomputed != stored:
            problem = (f"row event_id={event_id}", f"stored content_hash {stored.hex()} does not match its content "
                                 f"(recomputed {recomputed.hex()}): the row was edited")
            continue
        if not cur_lo <= txid < cur_hi:
            b = bisect_right(horizons, txid)
            cur_lo = horizons[b - 1] if b else below
            cur_hi = horizons[b] if b < nb else above
            cur = buckets[b] if b < nb else None
        if cur is None:
            unsealed += 1
        else:
            cur.append(leaf_sha(_LEAF + stored).digest())
    res = _next_result(conn)
    _drain(conn)
    if res is None or res.status != pq.ExecStatus.COMMAND_OK:
        if res is not None and res.status == pq.ExecStatus.FATAL_ERROR:
            raise psycopg.errors.error_from_result(res, encoding="utf-8")
        raise psycopg.OperationalError(f"COPY of the audit rows failed: {pgconn.get_error_message()}")
    result.rows = rows
    result.unsealed = unsealed
    result.first_event = first_event
    result.last_event = last_event if rows else None
    result.problem = problem
    result.counts = [len(bucket) for bucket in buckets]
    result.leaves = [b"".join(bucket) for bucket in buckets]
    result.erased = erased
    return result


def _erased_row(line: bytes, i32: Any) -> tuple[int, int, int]:
    """(erasure_event_id, event_id, txid) of a row an erasure emptied or stripped: its
    content is not hashed (it no longer matches content_hash by design)."""
    n = i32(line, 38)[0]
    erased_by = int(line[42:42 + n])
    o = 42 + n
    o += 4 + i32(line, o)[0]  # occurred_at
    el = i32(line, o)[0]
    event_id = int(line[o + 4:o + 4 + el])
    o += 4 + el
    txid = int(line[o + 4:o + 4 + i32(line, o)[0]])
    return erased_by, event_id, txid


def _next_result(conn: psycopg.Connection[Any]) -> pq.abc.PGresult | None:
    pgconn = conn.pgconn
    while pgconn.is_busy():
        select.select([pgconn.socket], [], [])
        pgconn.consume_input()
    return pgconn.get_result()


def _drain(conn: psycopg.Connection[Any]) -> None:
    while _next_result(conn) is not None:
        pass


def split_leaves(buf: bytes) -> list[bytes]:
    """Concatenated 32-byte hashes -> a list of hashes."""
    return [buf[i:i + 32] for i in range(0, len(buf), 32)]


# -- worker processes ----------------------------------------------------------------


def open_worker_connection(params: dict[str, Any], snapshot: str, as_service_role: bool) -> psycopg.Connection[Any]:
    """A connection reading in the verifier's own snapshot (exported by the main
    connection with pg_export_snapshot()), so every worker sees the same rows."""
    conn = psycopg.connect(**params, autocommit=True)
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
    if as_service_role:
        conn.execute("SELECT set_config('role', 'service_role', true)")
    prepare_session(conn)
    return conn


def worker_main(params: dict[str, Any], snapshot: str, as_service_role: bool, horizons: list[int],
                chunks: list[tuple[int, int, int]], out: Any, commands: Any) -> None:
    """A verifier worker process. Phase 1: scan ``chunks`` ((index, lo, hi)) in order,
    putting ("chunk", index, ChunkResult without its leaves) on ``out``, then close the
    connection. Phase 2: take one list of (index, bucket, start, cuts) from ``commands``
    (None: stop) and put ("subtrees", index, bucket, subtrees(...)) for each, then
    ("done", None). An error is put as ("error", index, text)."""
    kept: dict[int, list[bytes]] = {}
    try:
        conn = open_worker_connection(params, snapshot, as_service_role)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put(("error", chunks[0][0] if chunks else -1, f"worker could not connect: {exc}"))
        return
    try:
        for index, lo, hi in chunks:
            try:
                chunk = scan(conn, lo, hi, horizons)
            except Exception as exc:  # noqa: BLE001 - reported to the parent
                out.put(("error", index, f"{type(exc).__name__}: {exc}"))
                return
            kept[index], chunk.leaves = chunk.leaves, []
            out.put(("chunk", index, chunk))
    finally:
        conn.close()
    requests = commands.get()
    if requests is None:
        return
    try:
        for index, bucket, start, cuts in requests:
            out.put(("subtrees", index, bucket, subtrees(kept[index][bucket], start, cuts)))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put(("error", -1, f"{type(exc).__name__}: {exc}"))
        return
    out.put(("done", None))

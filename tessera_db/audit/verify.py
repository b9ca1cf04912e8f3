"""The independent verifier: recompute everything, trust nothing the database says.

It holds the public key(s) and a state file outside the database, and reads the log in
one REPEATABLE READ, READ ONLY snapshot (as ``service_role`` when it logs in as the
``authenticator``, else as the login it is given, e.g. a superuser), which worker
processes share for big logs (tessera_db/audit/rowscan.py: how rows are read and hashed,
and why that keeps the verifier independent of the database). In seal order it
checks, stopping at the first bad item:

1. every row (by event_id): its content_hash equals encoding v1 recomputed here from the
   stored values (an edited row whose hash was left alone), and event_ids are unique;
2. every checkpoint (by checkpoint_id): a known key (key_id of a given public key), a
   valid Ed25519 signature over the message v1, the links to the previous checkpoint
   (prev_tree_size, prev_root_hash, prev_horizon; the first links to the empty tree and
   horizon 0), sealed_at not going backwards;
3. the tree, rebuilt checkpoint by checkpoint from the rows with
   prev_horizon <= txid < horizon in event_id order: each checkpoint's tree_size and
   root_hash (rows edited with a recomputed hash, deleted, or inserted into the past) and
   its stored frontier;
4. the state file: the log must not be shorter than the last verified tree_size, and the
   rebuilt root at that size must equal the remembered root (a rolled-back, truncated or
   rewritten database), and the checkpoint remembered must still be there unchanged.

On success the state file is (re)written with the latest checkpoint. Rows at or above
the latest horizon are not sealed yet and are only counted.

Two kinds of change are part of the log's life, not tampering (docs/erasure.md):

* erased rows (tessera.erase_client): a row with erasure_event_id set keeps its
  content_hash, which is its leaf, and no longer hashes from its content. It is accepted
  only when that names a sealed, intact audit event of action ``erasure`` whose
  ``after`` commits to exactly the erased rows naming it: their count, first and last
  event_id and SHA-256('tessera.erasure.v1' || int8(event_id) || content_hash ...). A row
  blanked by hand names no such event, or breaks its commitment.
* dropped months (tessera.retention_run): when a sealed, intact ``retention`` event
  records an ``audit_prune`` checkpoint, the tree is rebuilt from that checkpoint's stored
  frontier (checked against its signed root) instead of from the first leaf; rows sealed
  at or before it are hashed but not re-folded. The result says where it started.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import struct
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tessera_db.audit import merkle, rowscan
from tessera_db.audit.seal import CHECKPOINT_COLUMNS, Checkpoint, checkpoint_from_row
from tessera_db.audit.signing import key_id
from tessera_db.errors import TesseraError, translate_errors

STATE_FORMAT = "tessera.audit.verifier_state.v1"
#: Logs spanning fewer event_ids than this are recomputed in this process (starting
#: worker processes costs more than it saves).
PARALLEL_MIN_ROWS = 200_000
MAX_WORKERS = 8
#: Chunks per worker: smaller chunks even out the workers' finishing times.
CHUNKS_PER_WORKER = 4


class StateFileError(TesseraError):
    """The state file is unreadable or malformed (nothing was verified against it)."""


@dataclass(frozen=True)
class Problem:
    """The first bad item: ``item`` names it (``row event_id=42``, ``checkpoint 7``,
    ``state file``)."""

    item: str
    message: str

    def __str__(self) -> str:
        return f"{self.item}: {self.message}"


@dataclass
class VerifyResult:
    problem: Problem | None
    checkpoints: int = 0
    rows: int = 0
    sealed_rows: int = 0
    unsealed_rows: int = 0
    latest: Checkpoint | None = None
    state_written: bool = False
    #: rows an erasure emptied or stripped, each authorised by a sealed erasure event
    erased_rows: int = 0
    #: the checkpoint the tree was rebuilt from when retention dropped older months
    verified_from: Checkpoint | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class State:
    tree_size: int
    root_hash: bytes
    checkpoint_id: int

    @classmethod
    def load(cls, path: Path) -> State | None:
        path = Path(path)
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != STATE_FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, expected {STATE_FORMAT!r}")
            root = bytes.fromhex(data["root_hash"])
            if len(root) != 32:
                raise ValueError("root_hash is not 32 bytes")
            return cls(int(data["tree_size"]), root, int(data["checkpoint_id"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StateFileError(f"state file {path} is unreadable or malformed ({exc}); "
                                 "refusing to verify without it (restore it, or start a new one only "
                                 "if you know why it was lost)") from None

    @staticmethod
    def save(path: Path, latest: Checkpoint, key_ids: Iterable[str]) -> None:
        path = Path(path)
        data = {
            "format": STATE_FORMAT,
            "tree_size": latest.tree_size,
            "root_hash": latest.root_hash.hex(),
            "checkpoint_id": latest.checkpoint_id,
            "sealed_at": latest.sealed_at.astimezone(dt.timezone.utc).isoformat(),
            "key_ids": sorted(key_ids),
            "verified_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)


def begin_read(conn: psycopg.Connection[Any]) -> None:
    """Open one REPEATABLE READ, READ ONLY snapshot; as service_role when logged in as
    the authenticator (which holds no privilege of its own)."""
    if conn.autocommit:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    else:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
    row = conn.execute("SELECT session_user::text").fetchone()
    if row is not None and row[0] == "authenticator":
        conn.execute("SELECT set_config('role', 'service_role', true)")


def read_checkpoints(conn: psycopg.Connection[Any]) -> list[Checkpoint]:
    rows = conn.execute(
        f"SELECT {CHECKPOINT_COLUMNS} FROM tessera.audit_checkpoints ORDER BY checkpoint_id").fetchall()
    return [checkpoint_from_row(r) for r in rows]


class _RowScan:
    """Every row recomputed, in event_id order, as chunks; then the tree's subtrees.

    In process (one chunk), or in worker processes that import this transaction's
    snapshot (pg_export_snapshot), each scanning chunks i, i + workers, ... and keeping
    their leaf hashes: the Merkle rebuild asks them for the aligned perfect subtrees of
    their runs of leaves (``subtrees``), so the node hashing is spread too and only
    O(log n) hashes per chunk come back."""

    def __init__(self, conn: psycopg.Connection[Any], horizons: list[int], workers: int | None,
                 chunk_rows: int | None) -> None:
        self.procs: list[Any] = []
        self.commands: list[Any] = []
        rowscan.prepare_session(conn)
        row = conn.execute("SELECT min(event_id), max(event_id) FROM tessera.audit_events").fetchone()
        first, last = (0, 0) if row is None or row[0] is None else (int(row[0]), int(row[1]))
        span = last - first + 1
        if workers is None:
            workers = min(os.cpu_count() or 1, MAX_WORKERS) if span >= PARALLEL_MIN_ROWS else 1
        if workers <= 1:
            self.chunks = [rowscan.scan(conn, rowscan.MIN_EVENT_ID, rowscan.MAX_EVENT_ID, horizons)]
            return
        # Chunk bounds split [first, last]; the outer ones reach the ends of bigint.
        size = max(1, chunk_rows or -(-span // (workers * CHUNKS_PER_WORKER)))
        starts = list(range(first, last + 1, size))
        bounds = [(rowscan.MIN_EVENT_ID if i == 0 else lo,
                   rowscan.MAX_EVENT_ID if i == len(starts) - 1 else starts[i + 1] - 1)
                  for i, lo in enumerate(starts)]
        self._start_workers(conn, horizons, bounds, min(workers, len(bounds)))

    def _start_workers(self, conn: psycopg.Connection[Any], horizons: list[int], bounds: list[tuple[int, int]],
                       workers: int) -> None:
        import multiprocessing

        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
        session_user = conn.execute("SELECT session_user::text").fetchone()[0]  # type: ignore[index]
        params: dict[str, Any] = dict(conn.info.get_parameters())
        if conn.info.password:
            params["password"] = conn.info.password
        # fork starts a worker in milliseconds (spawn re-imports everything, ~0.3 s); it
        # is safe only while this process runs no other thread, so spawn otherwise.
        # Workers never touch the inherited connection: they open their own and leave
        # with os._exit (multiprocessing's way), running no finalizer on inherited objects.
        fork = threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork") if fork else multiprocessing.get_context("spawn")
        self.out = ctx.Queue()
        chunks = [(i, lo, hi) for i, (lo, hi) in enumerate(bounds)]
        self.workers = workers
        for w in range(workers):
            commands = ctx.Queue()
            proc = ctx.Process(target=rowscan.worker_main, daemon=True,
                               args=(params, snapshot, session_user == "authenticator", horizons,
                                     chunks[w::workers], self.out, commands))
            proc.start()
            self.procs.append(proc)
            self.commands.append(commands)
        results: dict[int, rowscan.ChunkResult] = {}
        while len(results) < len(chunks):
            message = self._get()
            if message[0] != "chunk":
                raise TesseraError(f"unexpected message from a verifier worker: {message[0]}")
            results[message[1]] = message[2]
        self.chunks = [results[i] for i in range(len(chunks))]

    def _get(self) -> tuple[Any, ...]:
        import queue

        while True:
            try:
                message = self.out.get(timeout=1.0)
            except queue.Empty:
                if not any(p.is_alive() for p in self.procs) and self.out.empty():
                    raise TesseraError("a verifier worker process ended without reporting") from None
                continue
            if message[0] == "error":
                raise TesseraError(f"verifier worker failed (chunk {message[1]}): {message[2]}")
            return message  # type: ignore[no-any-return]

    def subtrees(
        self, requests: list[tuple[int, int, int, list[int]]]
    ) -> dict[tuple[int, int], list[tuple[int, bytes]]]:
        """(chunk, bucket, start, cuts) -> that run of leaves as aligned subtrees."""
        if not self.procs:
            return {(c, b): rowscan.subtrees(self.chunks[c].leaves[b], start, cuts)
                    for c, b, start, cuts in requests}
        for w, commands in enumerate(self.commands):
            commands.put([r for r in requests if r[0] % self.workers == w])
        out: dict[tuple[int, int], list[tuple[int, bytes]]] = {}
        done = 0
        while done < len(self.procs):
            message = self._get()
            if message[0] == "done":
                done += 1
            elif message[0] == "subtrees":
                out[(message[1], message[2])] = message[3]
        self.commands = []
        return out

    def close(self) -> None:
        for commands in self.commands:
            commands.put(None)
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
        self.procs = []
        self.commands = []


def verify(conn: psycopg.Connection[Any], public_keys: Iterable[Ed25519PublicKey],
           state_path: Path | None = None, *, write_state: bool = True, workers: int | None = None,
           chunk_rows: int | None = None) -> VerifyResult:
    """Verify the whole log (module docstring). ``conn`` must be idle; the read
    transaction is rolled back at the end.

    ``workers``: processes recomputing row hashes (default: one per CPU, up to
    MAX_WORKERS, for logs of PARALLEL_MIN_ROWS rows or more; 1 = in this process);
    ``chunk_rows``: event_ids per worker chunk (default: spread evenly)."""
    keys: Mapping[str, Ed25519PublicKey] = {key_id(k): k for k in public_keys}
    if not keys:
        raise TesseraError("verify needs at least one public key")
    state = State.load(state_path) if state_path is not None else None
    with translate_errors():
        try:
            begin_read(conn)
            result = _verify(conn, keys, state, workers, chunk_rows)
        finally:
            conn.rollback()
    if result.ok and state_path is not None and write_state and result.latest is not None:
        State.save(state_path, result.latest, keys)
        result.state_written = True
    return result


def _verify(conn: psycopg.Connection[Any], keys: Mapping[str, Ed25519PublicKey], state: State | None,
            workers: int | None, chunk_rows: int | None) -> VerifyResult:
    checkpoints = read_checkpoints(conn)
    result = VerifyResult(None, checkpoints=len(checkpoints))

    # -- 2 (cheap, first): signatures and links; p = the first checkpoint that fails.
    first_bad: Problem | None = None
    good: list[Checkpoint] = []
    prev_size, prev_root, prev_horizon, prev_sealed, prev_id = 0, merkle.EMPTY_ROOT, 0, None, 0
    for cp in checkpoints:
        item = f"checkpoint {cp.checkpoint_id} (tree_size {cp.tree_size})"
        if cp.key_id not in keys:
            first_bad = Problem(item, f"signed by an unknown key {cp.key_id} (re-signed or replaced checkpoint)")
        elif not cp.head.verify(keys[cp.key_id], cp.signature):
            first_bad = Problem(item, "signature does not verify (replaced or edited checkpoint)")
        elif (cp.prev_tree_size, cp.prev_root_hash, cp.prev_horizon) != (prev_size, prev_root, prev_horizon):
            first_bad = Problem(item, (
                f"does not link to the previous checkpoint: it extends tree_size {cp.prev_tree_size} / horizon "
                f"{cp.prev_horizon}, the log before it ends at tree_size {prev_size} / horizon {prev_horizon} "
                "(a checkpoint was removed, replaced or reordered)"))
        elif prev_sealed is not None and cp.sealed_at < prev_sealed:
            first_bad = Problem(item, "sealed_at goes backwards")
        elif cp.checkpoint_id <= prev_id:
            first_bad = Problem(item, "checkpoint ids are not in seal order")
        if first_bad is not None:
            break
        good.append(cp)
        prev_size, prev_root, prev_horizon, prev_sealed, prev_id = (
            cp.tree_size, cp.root_hash, cp.horizon, cp.sealed_at, cp.checkpoint_id)

    # -- 1: rows, bucketed by the good checkpoints' horizons (seal order inside each).
    horizons = [cp.horizon for cp in good]  # strictly increasing: links verified
    scan = _RowScan(conn, horizons, workers, chunk_rows)
    try:
        problem = _check_rows(scan.chunks, result)
        if problem is not None:
            result.problem = problem
            return result
        # Erasures and retention: what the sealed log itself says happened to it.
        sealed_below = good[-1].horizon if good else 0
        erasures, prune_id = _lifecycle_events(conn, sealed_below)
        problem = _check_erased(scan.chunks, erasures, result)
        if problem is not None:
            result.problem = problem
            return result
        base = 0
        if prune_id is not None:
            base = next((i + 1 for i, cp in enumerate(good) if cp.checkpoint_id == prune_id), 0)
            if base == 0:
                result.problem = Problem(f"checkpoint {prune_id}", (
                    "a retention event starts the log at this checkpoint, which is missing or does not verify"))
                return result
            result.verified_from = good[base - 1]
        # -- 3: rebuild the tree checkpoint by checkpoint.
        problem, size, root_at_state = _rebuild(scan, good, state, result, base)
        if problem is not None:
            result.problem = problem
            return result
    finally:
        scan.close()

    if first_bad is not None:
        result.problem = first_bad
        return result
    # Rows bucketed above every good horizon are unsealed (counted already).

    # -- 4: the state file.
    if state is not None:
        if size < state.tree_size:
            result.problem = Problem("state file", (
                f"the log is shorter than last verified: tree_size {size} < {state.tree_size} "
                f"(checkpoint {state.checkpoint_id}): the database was rolled back or truncated"))
            return result
        if root_at_state != state.root_hash:
            result.problem = Problem("state file", (
                f"the root at tree_size {state.tree_size} is {(root_at_state or b'').hex()}, last verified "
                f"{state.root_hash.hex()} (checkpoint {state.checkpoint_id}): the database was rolled back "
                "and rewritten, or is not the log verified before"))
            return result
        same_size = [cp for cp in good if cp.tree_size == state.tree_size]
        if not same_size or same_size[0].checkpoint_id != state.checkpoint_id:
            result.problem = Problem("state file", (
                f"checkpoint {state.checkpoint_id} (tree_size {state.tree_size}), last verified, is gone or was "
                "replaced"))
            return result
    return result


def _lifecycle_events(conn: psycopg.Connection[Any], sealed_below: int) -> tuple[dict[int, dict[str, Any]], int | None]:
    """The sealed erasure events (event_id -> their ``after``) and the latest checkpoint a
    sealed retention event starts the log from. Read in the verifier's snapshot; their
    rows' hashes were recomputed by the scan (an edited one has already failed), and
    only events below the latest good horizon count: a checkpoint signed them."""
    erasures: dict[int, dict[str, Any]] = {}
    prune: int | None = None
    rows = conn.execute(
        "SELECT event_id, txid::text, action, after::text FROM tessera.audit_events"
        " WHERE action IN ('erasure', 'retention') AND erasure_event_id IS NULL ORDER BY event_id").fetchall()
    for event_id, txid, action, after in rows:
        if int(txid) >= sealed_below or after is None:
            continue
        details = json.loads(after)
        if action == "erasure":
            erasures[int(event_id)] = details
        elif isinstance(details.get("audit_prune"), dict):
            checkpoint_id = int(details["audit_prune"]["checkpoint_id"])
            prune = checkpoint_id if prune is None else max(prune, checkpoint_id)
    return erasures, prune


def erasure_commitment(rows: Iterable[tuple[int, bytes]]) -> bytes:
    """SHA-256('tessera.erasure.v1' || for each (event_id, content_hash), in event_id
    order, the 8-byte big-endian event_id and the 32-byte hash): what an erasure event's
    ``events_sha256`` commits to (tessera.erase_client computes it in SQL)."""
    h = hashlib.sha256(b"tessera.erasure.v1")
    for event_id, content_hash in rows:
        h.update(struct.pack(">q", event_id) + content_hash)
    return h.digest()


def _check_erased(chunks: list[rowscan.ChunkResult], erasures: Mapping[int, Mapping[str, Any]],
                  result: VerifyResult) -> Problem | None:
    """Every erased row names a sealed erasure event, and each such event's commitment is
    exactly the erased rows naming it."""
    named: dict[int, list[tuple[int, bytes]]] = {}
    for chunk in chunks:
        for event_id, content_hash, erased_by in chunk.erased:
            if erased_by not in erasures:
                return Problem(f"row event_id={event_id}", (
                    f"emptied or stripped, naming erasure event {erased_by}, which is not a sealed erasure "
                    "event: the row was blanked by hand"))
            named.setdefault(erased_by, []).append((event_id, content_hash))
            result.erased_rows += 1
    for erased_by, details in erasures.items():
        rows = named.get(erased_by, [])
        expected = (int(details.get("events", -1)), details.get("events_sha256"))
        if (len(rows), erasure_commitment(rows).hex()) != expected:
            return Problem(f"erasure event {erased_by}", (
                f"commits to {expected[0]} erased row(s), {len(rows)} name it and their hashes do not match "
                "its commitment: erased rows were added, removed or altered by hand"))
    return None


def _check_rows(chunks: list[rowscan.ChunkResult], result: VerifyResult) -> Problem | None:
    """Counts the rows; the first bad row (or rows out of event_id order across chunks)."""
    last_event: int | None = None
    for chunk in chunks:
        result.rows += chunk.rows
        result.unsealed_rows += chunk.unsealed
        if chunk.first_event is not None and last_event is not None and chunk.first_event <= last_event:
            return Problem(f"row event_id={chunk.first_event}", "rows did not arrive in event_id order")
        if chunk.problem is not None:
            return Problem(*chunk.problem)
        if chunk.last_event is not None:
            last_event = chunk.last_event
    return None


def _rebuild(scan: _RowScan, good: list[Checkpoint], state: State | None,
             result: VerifyResult, base: int = 0) -> tuple[Problem | None, int, bytes | None]:
    """Rebuild the tree checkpoint by checkpoint from the rows' leaves (in seal order:
    bucket by bucket, chunk by chunk inside a bucket, event_id order inside a chunk) and
    compare each checkpoint's size, root and frontier; also the root at the state
    file's tree_size."""
    start = good[base - 1] if base else None
    pos = start.tree_size if start is not None else 0
    cut = [state.tree_size] if state is not None and state.tree_size > pos else []
    requests: list[tuple[int, int, int, list[int]]] = []
    for b in range(base, len(good)):
        for c, chunk in enumerate(scan.chunks):
            n = chunk.counts[b]
            if n:
                requests.append((c, b, pos, [x for x in cut if pos < x < pos + n]))
                pos += n
    subtrees = scan.subtrees(requests)
    frontier = merkle.Frontier()
    root_at_state: bytes | None = merkle.EMPTY_ROOT if state is not None and state.tree_size == 0 else None
    if start is not None:
        # Retention dropped the months sealed up to this checkpoint: start from its stored
        # frontier, which must fold to the root its signature covers.
        item = f"checkpoint {start.checkpoint_id} (tree_size {start.tree_size})"
        try:
            frontier = merkle.Frontier(start.tree_size, start.frontier)
        except ValueError as exc:
            return Problem(item, f"stored frontier is malformed ({exc})"), 0, None
        if frontier.root() != start.root_hash:
            return Problem(item, "stored frontier does not fold to its signed root (edited checkpoint)"), 0, None
        if state is not None and state.tree_size <= start.tree_size:
            # Leaves before the start are gone: the signed root of the remembered
            # checkpoint stands for them (its signature was checked above).
            root_at_state = next((cp.root_hash for cp in good[:base] if cp.tree_size == state.tree_size), None)
        result.sealed_rows = start.tree_size
        result.latest = start
    runs = iter(requests)
    run = next(runs, None)
    for b, cp in enumerate(good):
        if b < base:
            continue
        item = f"checkpoint {cp.checkpoint_id} (tree_size {cp.tree_size})"
        while run is not None and run[1] == b:
            for height, root in subtrees[(run[0], run[1])]:
                frontier.append_subtree(root, height)
                if state is not None and frontier.size == state.tree_size:
                    root_at_state = frontier.root()
            run = next(runs, None)
        if frontier.size != cp.tree_size:
            return Problem(item, (
                f"the rows between its horizons ({cp.prev_horizon} <= txid < {cp.horizon}) make tree_size "
                f"{frontier.size}, it signed {cp.tree_size}: rows were deleted, or inserted into the past")), \
                frontier.size, root_at_state
        if frontier.root() != cp.root_hash:
            return Problem(item, (
                f"root hash mismatch: rebuilt {frontier.root().hex()}, signed {cp.root_hash.hex()}: "
                "sealed rows were changed (content and hash), reordered or swapped")), \
                frontier.size, root_at_state
        if tuple(frontier.nodes) != cp.frontier:
            return Problem(item, "stored frontier does not match the rebuilt tree (edited checkpoint)"), \
                frontier.size, root_at_state
        result.sealed_rows = frontier.size
        result.latest = cp
    return None, frontier.size, root_at_state

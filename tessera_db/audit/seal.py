"""The sealer: append signed Merkle checkpoints over the newly sealable audit rows.

One step (``seal_once``), in one READ COMMITTED transaction of the ``tessera_sealer``
login, which holds no table privilege and only calls three definer functions:

1. ``tessera.audit_latest_checkpoint()``: what to extend (none: the empty tree).
   Its frontier must fold to its signed root, and when it was signed with our key the
   signature must verify; otherwise the sealer refuses to build on it.
2. ``horizon = pg_snapshot_xmin(pg_current_snapshot())``: every transaction below it
   has ended, so the rows with ``prev_horizon <= txid < horizon`` are complete and final.
   A writer still running (or committing later) is at or above it and waits for the
   next step: never skipped, never forked.
3. ``tessera.audit_sealable_leaves(prev_horizon, horizon)``: (event_id, content_hash)
   in event_id order. None: nothing to do (idempotent), the transaction is rolled back.
4. Extend the tree, sign the checkpoint message with the key file's Ed25519 key and
   ``tessera.audit_append_checkpoint(...)``; commit.

No explicit lock is taken: the reads take ACCESS SHARE, so writers never wait. Two
sealers racing from the same checkpoint collide on UNIQUE (prev_tree_size) and the
second fails (``SealConflict``) instead of forking the log.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tessera_db.audit import merkle
from tessera_db.audit.signing import CheckpointHead, key_id
from tessera_db.errors import Conflict, TesseraError, translate_errors

#: The sealer's job name (stamped on nothing it writes: checkpoints are not audited).
JOB_NAME = "sealer"
#: Fetch leaves in batches of this many rows.
FETCH_ROWS = 50_000


class SealConflict(Conflict):
    """Another sealer appended a checkpoint first; nothing was written."""


class SealRefused(TesseraError):
    """The latest checkpoint cannot be extended (its frontier or signature is wrong)."""


@dataclass(frozen=True)
class Checkpoint:
    """A stored checkpoint row."""

    checkpoint_id: int
    version: int
    tree_size: int
    root_hash: bytes
    prev_tree_size: int
    prev_root_hash: bytes
    horizon: int
    prev_horizon: int
    sealed_at: dt.datetime
    key_id: str
    signature: bytes
    frontier: tuple[bytes, ...]

    @property
    def head(self) -> CheckpointHead:
        return CheckpointHead(self.tree_size, self.root_hash, self.prev_tree_size, self.prev_root_hash,
                              self.horizon, self.prev_horizon, self.sealed_at, self.key_id, self.version)


#: Column list that Checkpoint.from_row expects (xid8 as text: psycopg has no loader).
CHECKPOINT_COLUMNS = (
    "checkpoint_id, version, tree_size, root_hash, prev_tree_size, prev_root_hash, horizon::text, "
    "prev_horizon::text, sealed_at, key_id, signature, frontier"
)


def checkpoint_from_row(row: Any) -> Checkpoint:
    (cid, version, size, root, psize, proot, horizon, phorizon, sealed_at, kid, sig, frontier) = row
    return Checkpoint(int(cid), int(version), int(size), bytes(root), int(psize), bytes(proot), int(horizon),
                      int(phorizon), sealed_at, kid, bytes(sig), tuple(bytes(f) for f in (frontier or ())))


@dataclass(frozen=True)
class SealResult:
    """What one step did: ``checkpoint`` is None when there was nothing new to seal."""

    checkpoint: Checkpoint | None
    sealed_rows: int
    tree_size: int

    def describe(self) -> str:
        if self.checkpoint is None:
            return f"nothing new to seal (tree_size {self.tree_size})"
        c = self.checkpoint
        return (f"sealed {self.sealed_rows} row(s): checkpoint {c.checkpoint_id}, tree_size {c.tree_size}, "
                f"root {c.root_hash.hex()}, horizon {c.horizon}")


@dataclass
class Pending:
    """A prepared step (read and signed, not yet appended): lets tests interleave two
    sealers deterministically."""

    previous: Checkpoint | None
    head: CheckpointHead
    signature: bytes
    frontier: merkle.Frontier
    sealed_rows: int


def _latest(conn: psycopg.Connection[Any]) -> Checkpoint | None:
    row = conn.execute(f"SELECT {CHECKPOINT_COLUMNS} FROM tessera.audit_latest_checkpoint()").fetchone()
    return None if row is None else checkpoint_from_row(row)


def prepare(conn: psycopg.Connection[Any], key: Ed25519PrivateKey) -> Pending | None:
    """Steps 1-3 and the signature, inside the caller's open transaction. None when there
    is nothing new below the horizon."""
    my_key_id = key_id(key.public_key())
    previous = _latest(conn)
    if previous is None:
        frontier = merkle.Frontier()
        prev_size, prev_root, prev_horizon = 0, merkle.EMPTY_ROOT, 0
    else:
        try:
            frontier = merkle.Frontier(previous.tree_size, previous.frontier)
        except ValueError as exc:
            raise SealRefused(f"checkpoint {previous.checkpoint_id}: stored frontier is malformed ({exc}); "
                              "run `tessera-db audit verify`") from None
        if frontier.root() != previous.root_hash:
            raise SealRefused(f"checkpoint {previous.checkpoint_id}: stored frontier does not fold to its root; "
                              "run `tessera-db audit verify`")
        if previous.key_id == my_key_id and not previous.head.verify(key.public_key(), previous.signature):
            raise SealRefused(f"checkpoint {previous.checkpoint_id}: signature does not verify with this key; "
                              "run `tessera-db audit verify`")
        prev_size, prev_root, prev_horizon = previous.tree_size, previous.root_hash, previous.horizon

    row = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text, clock_timestamp()").fetchone()
    assert row is not None
    horizon, sealed_at = int(row[0]), row[1]
    if horizon <= prev_horizon:
        return None

    count = 0
    # Binary results (content_hash arrives as raw bytes, no hex decoding); the tree grows
    # a batch at a time (Frontier.extend hashes level by level).
    with conn.cursor(binary=True) as cur:
        cur.execute("SELECT content_hash FROM tessera.audit_sealable_leaves(%s::text::xid8, %s::text::xid8)",
                    (str(prev_horizon), str(horizon)))
        while batch := cur.fetchmany(FETCH_ROWS):
            frontier.extend(merkle.leaf_hashes([bytes(h) for (h,) in batch]))
            count += len(batch)
    if count == 0:
        return None

    head = CheckpointHead(frontier.size, frontier.root(), prev_size, prev_root, horizon, prev_horizon,
                          sealed_at, my_key_id)
    return Pending(previous, head, head.sign(key), frontier, count)


def append(conn: psycopg.Connection[Any], pending: Pending) -> Checkpoint:
    """Step 4 inside the caller's transaction (the caller commits)."""
    h = pending.head
    try:
        row = conn.execute(
            "SELECT tessera.audit_append_checkpoint(%s, %s, %s, %s, %s::text::xid8, %s::text::xid8, %s, %s, %s, %s)",
            (h.tree_size, h.root_hash, h.prev_tree_size, h.prev_root_hash, str(h.horizon), str(h.prev_horizon),
             h.sealed_at, h.key_id, pending.signature, pending.frontier.nodes),
        ).fetchone()
    except (psycopg.errors.UniqueViolation, psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        raise SealConflict(
            f"another sealer appended a checkpoint after tree_size {h.prev_tree_size} first; nothing was written "
            f"({exc.diag.message_primary})", sqlstate=exc.sqlstate,
            constraint=exc.diag.constraint_name) from exc
    assert row is not None
    return Checkpoint(int(row[0]), h.version, h.tree_size, h.root_hash, h.prev_tree_size, h.prev_root_hash,
                      h.horizon, h.prev_horizon, h.sealed_at, h.key_id, pending.signature,
                      tuple(pending.frontier.nodes))


def seal_once(dsn: str, key: Ed25519PrivateKey, *, lock_timeout_ms: int = 30_000) -> SealResult:
    """One sealing step on its own connection; commits a checkpoint or writes nothing."""
    with translate_errors(), psycopg.connect(dsn, autocommit=False) as conn:
        return seal_step(conn, key, lock_timeout_ms=lock_timeout_ms)


def seal_step(conn: psycopg.Connection[Any], key: Ed25519PrivateKey, *, lock_timeout_ms: int = 30_000) -> SealResult:
    """One sealing step on an open (non-autocommit, idle) connection."""
    with translate_errors():
        try:
            conn.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            # Only another sealer's uncommitted checkpoint can make us wait (on the unique
            # index); bound that wait.
            # jit off: compiling the leaves query costs more than it saves (a planner
            # choice only).
            conn.execute("SELECT set_config('lock_timeout', %s, true), set_config('tessera.job_name', %s, true),"
                         " set_config('jit', 'off', true)", (f"{lock_timeout_ms}ms", JOB_NAME))
            pending = prepare(conn, key)
            if pending is None:
                latest = _latest(conn)
                conn.rollback()
                return SealResult(None, 0, latest.tree_size if latest else 0)
            checkpoint = append(conn, pending)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return SealResult(checkpoint, pending.sealed_rows, checkpoint.tree_size)


def seal_loop(dsn: str, key: Ed25519PrivateKey, interval: float, *,
              report: Callable[[SealResult], None] | None = None,
              stop: Callable[[], bool] | None = None) -> None:
    """Seal every ``interval`` seconds until ``stop()`` is true (or forever). A lost race
    with another sealer is reported and retried at the next tick."""
    conn: psycopg.Connection[Any] | None = None
    try:
        while not (stop and stop()):
            started = time.monotonic()
            if conn is None or conn.closed:
                with translate_errors():
                    conn = psycopg.connect(dsn, autocommit=False)
            try:
                result = seal_step(conn, key)
            except SealConflict:
                result = None
            if report and result is not None:
                report(result)
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:
        if conn is not None:
            conn.close()

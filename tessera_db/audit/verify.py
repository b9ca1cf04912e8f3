"""The independent verifier: recompute everything, trust nothing the database says.

It holds the public key(s) and a state file outside the database, and reads the log in
one REPEATABLE READ, READ ONLY snapshot (as ``service_role`` when it logs in as the
``authenticator``, else as the login it is given, e.g. a superuser). In seal order it
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
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import os
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tessera_db.audit import encoding, merkle
from tessera_db.audit.seal import CHECKPOINT_COLUMNS, Checkpoint, checkpoint_from_row
from tessera_db.audit.signing import key_id
from tessera_db.errors import TesseraError, translate_errors

STATE_FORMAT = "tessera.audit.verifier_state.v1"
FETCH_ROWS = 20_000


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


_COPY_ESCAPES = {ord("b"): b"\b", ord("f"): b"\f", ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t",
                 ord("v"): b"\v"}


def _unescape(field: bytes) -> bytes | None:
    """A COPY text-format field: \\N is NULL; backslash escapes decoded."""
    if field == b"\\N":
        return None
    out = bytearray()
    i, n = 0, len(field)
    while i < n:
        c = field[i]
        if c != 0x5C:  # backslash
            out.append(c)
            i += 1
            continue
        nxt = field[i + 1]
        if nxt in _COPY_ESCAPES:
            out += _COPY_ESCAPES[nxt]
            i += 2
        elif 0x30 <= nxt <= 0x37:  # \ooo octal
            j = i + 1
            while j < n and j < i + 4 and 0x30 <= field[j] <= 0x37:
                j += 1
            out.append(int(field[i + 1:j], 8))
            i = j
        elif nxt == ord("x"):  # \xhh
            j = i + 2
            while j < n and j < i + 4 and chr(field[j]) in "0123456789abcdefABCDEF":
                j += 1
            out.append(int(field[i + 2:j], 16))
            i = j
        else:  # \\ and any other escaped character stand for themselves
            out.append(nxt)
            i += 2
    return bytes(out)


def _canonical_timestamp(text: bytes) -> bytes:
    """COPY's timestamptz text under TimeZone UTC and DateStyle ISO
    ('2026-11-23 21:05:03.1234+00', trailing zeros of the fraction dropped) ->
    '2026-11-23T21:05:03.123400Z'."""
    if len(text) < 22 or text[10:11] != b" " or not text.endswith(b"+00"):
        raise ValueError(f"unexpected timestamp text {text!r}")
    body = text[:-3]
    fraction = body[20:] if body[19:20] == b"." else b""
    return body[:10] + b"T" + body[11:19] + b"." + fraction.ljust(6, b"0") + b"Z"


def _row_hashes(conn: psycopg.Connection[Any]) -> Iterable[tuple[int, int, bytes, bytes]]:
    """(event_id, txid, stored content_hash, recomputed content_hash) by event_id.

    The rows come through COPY in text format (the fastest way out of PostgreSQL): every
    field arrives as the UTF-8 of PostgreSQL's text output, which *is* the canonical text
    of encoding v1 for bigint, xid8, uuid, text and jsonb; the timestamp (read in UTC) and
    inet (mask added when omitted) are brought to canonical form here. The encoding
    itself (prefix, length prefixes, NULL marker) is computed here, not in SQL."""
    pack = struct.Struct(">I").pack
    null = encoding.NULL_FIELD
    prefix = encoding.PREFIX
    sha256 = hashlib.sha256
    n_fields = len(encoding.FIELDS)
    ts_index = encoding.FIELDS.index("occurred_at")
    ip_index = encoding.FIELDS.index("source_ip")
    conn.execute("SET LOCAL TimeZone = 'UTC'")
    conn.execute("SET LOCAL DateStyle = 'ISO, YMD'")
    conn.execute("SET LOCAL client_encoding = 'UTF8'")
    columns = ", ".join(f"({c})::text" for c in encoding.SELECT_COLUMNS.split(", ")[:n_fields])
    # ORDER BY the table's column (e.event_id), not the text output column of that name.
    query = (f"COPY (SELECT {columns}, encode(e.content_hash, 'hex') FROM tessera.audit_events AS e "
             "ORDER BY e.event_id) TO STDOUT")
    with conn.cursor() as cur, cur.copy(query) as copy:
        for data in copy:  # one CopyData message per row
            line = bytes(data)
            fields: list[bytes | None] = line[:-1].split(b"\t")  # type: ignore[assignment]
            if b"\\" in line:
                fields = [_unescape(f) if b"\\" in f else f for f in fields]  # type: ignore[arg-type]
            fields[ts_index] = _canonical_timestamp(fields[ts_index])  # type: ignore[arg-type]
            ip = fields[ip_index]
            if ip is not None and b"/" not in ip:
                fields[ip_index] = ip + (b"/128" if b":" in ip else b"/32")
            parts = [prefix]
            for b in fields[:n_fields]:
                if b is None:
                    parts.append(null)
                else:
                    parts.append(pack(len(b)))
                    parts.append(b)
            stored = bytes.fromhex(fields[n_fields].decode("ascii"))  # type: ignore[union-attr]
            yield int(fields[0]), int(fields[2]), stored, sha256(b"".join(parts)).digest()  # type: ignore[arg-type]


def verify(conn: psycopg.Connection[Any], public_keys: Iterable[Ed25519PublicKey],
           state_path: Path | None = None, *, write_state: bool = True) -> VerifyResult:
    """Verify the whole log (module docstring). ``conn`` must be idle; the read
    transaction is rolled back at the end."""
    keys: Mapping[str, Ed25519PublicKey] = {key_id(k): k for k in public_keys}
    if not keys:
        raise TesseraError("verify needs at least one public key")
    state = State.load(state_path) if state_path is not None else None
    with translate_errors():
        try:
            begin_read(conn)
            result = _verify(conn, keys, state)
        finally:
            conn.rollback()
    if result.ok and state_path is not None and write_state and result.latest is not None:
        State.save(state_path, result.latest, keys)
        result.state_written = True
    return result


def _verify(conn: psycopg.Connection[Any], keys: Mapping[str, Ed25519PublicKey], state: State | None) -> VerifyResult:
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
    buckets: list[list[bytes]] = [[] for _ in good]
    leaf = merkle.leaf_hash
    last_event: int | None = None
    for event_id, txid, stored, recomputed in _row_hashes(conn):
        result.rows += 1
        if last_event is not None and event_id <= last_event:
            result.problem = Problem(f"row event_id={event_id}", "event_id appears twice" if event_id == last_event
                                     else "rows did not arrive in event_id order")
            return result
        last_event = event_id
        if stored != recomputed:
            result.problem = Problem(
                f"row event_id={event_id}",
                f"stored content_hash {stored.hex()} does not match its content "
                f"(recomputed {recomputed.hex()}): the row was edited")
            return result
        b = bisect.bisect_right(horizons, txid)
        if b < len(buckets):
            buckets[b].append(leaf(stored))
        else:
            result.unsealed_rows += 1

    # -- 3: rebuild the tree checkpoint by checkpoint.
    frontier = merkle.Frontier()
    root_at_state: bytes | None = merkle.EMPTY_ROOT if state is not None and state.tree_size == 0 else None
    for cp, leaves in zip(good, buckets):
        item = f"checkpoint {cp.checkpoint_id} (tree_size {cp.tree_size})"
        if state is not None and frontier.size < state.tree_size <= frontier.size + len(leaves):
            partial = frontier.copy()
            partial.extend(leaves[: state.tree_size - frontier.size])
            root_at_state = partial.root()
        frontier.extend(leaves)
        if frontier.size != cp.tree_size:
            result.problem = Problem(item, (
                f"the rows between its horizons ({cp.prev_horizon} <= txid < {cp.horizon}) make tree_size "
                f"{frontier.size}, it signed {cp.tree_size}: rows were deleted, or inserted into the past"))
            return result
        if frontier.root() != cp.root_hash:
            result.problem = Problem(item, (
                f"root hash mismatch: rebuilt {frontier.root().hex()}, signed {cp.root_hash.hex()}: "
                "sealed rows were changed (content and hash), reordered or swapped"))
            return result
        if tuple(frontier.nodes) != cp.frontier:
            result.problem = Problem(item, "stored frontier does not match the rebuilt tree (edited checkpoint)")
            return result
        result.sealed_rows = frontier.size
        result.latest = cp

    if first_bad is not None:
        result.problem = first_bad
        return result
    # Rows bucketed above every good horizon are unsealed (counted already).

    # -- 4: the state file.
    if state is not None:
        size = frontier.size
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

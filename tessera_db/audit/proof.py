"""Inclusion proofs: one audit event against the latest signed checkpoint.

``build_proof`` (needs the database) returns a JSON-able dict; ``check_proof`` (needs
only the proof and the public key, no database) checks it. The format, version 1::

    {
      "format": "tessera.audit.inclusion_proof.v1",
      "event": {"event_id": "42", "occurred_at": "2026-11-23T21:05:03.123456Z", ...},
                               # the 18 fields of encoding v1 as canonical text (or null)
      "content_hash": "<hex>", # SHA-256 of encoding v1 of "event"
      "leaf_index": 41,        # 0-based position of the event in seal order
      "audit_path": ["<hex>", ...],   # RFC 6962 PATH, bottom-up
      "checkpoint": {"version": 1, "checkpoint_id": 7, "tree_size": 120, "root_hash": "<hex>",
                     "prev_tree_size": 100, "prev_root_hash": "<hex>", "horizon": "812",
                     "prev_horizon": "790", "sealed_at": "2026-11-23T21:06:00.000000Z",
                     "key_id": "<hex>", "signature": "<hex>"}
    }

A third party checks (docs/audit.md, "Checking a proof"):
1. key_id is the SHA-256 of the raw public key they trust;
2. the signature verifies over the checkpoint message v1 rebuilt from "checkpoint";
3. content_hash = SHA-256("tessera.audit_events.v1" || encoded fields of "event");
4. leaf = SHA-256(0x00 || content_hash), and the audit path from leaf_index in a tree of
   tree_size leaves leads to root_hash (RFC 9162 2.1.3.2).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tessera_db.audit import encoding, merkle
from tessera_db.audit.seal import Checkpoint
from tessera_db.audit.signing import CheckpointHead, key_id
from tessera_db.audit.verify import begin_read, read_checkpoints
from tessera_db.errors import NotFound, TesseraError, translate_errors

PROOF_FORMAT = "tessera.audit.inclusion_proof.v1"


class ProofError(TesseraError):
    """The proof does not check out (or is malformed)."""


def build_proof(conn: psycopg.Connection[Any], event_id: int) -> dict[str, Any]:
    """The inclusion proof of ``event_id`` against the latest checkpoint. ``conn`` reads
    as the verifier does (service_role through the authenticator, or a superuser)."""
    proofs, unsealed, latest = build_proofs(conn, [event_id])
    if event_id in unsealed:
        raise NotFound(f"audit event {event_id} is not sealed yet (txid >= horizon {latest.horizon}); "
                       "run `tessera-db audit seal` and try again")
    return proofs[event_id]


def build_proofs(conn: psycopg.Connection[Any], event_ids: Sequence[int]
                 ) -> tuple[dict[int, dict[str, Any]], list[int], Checkpoint]:
    """Inclusion proofs of many events against the latest checkpoint, reading the log
    once: (proof per sealed event, the events not sealed yet, that checkpoint)."""
    with translate_errors():
        try:
            begin_read(conn)
            return _build(conn, list(event_ids))
        finally:
            conn.rollback()


def checkpoint_document(cp: Checkpoint) -> dict[str, Any]:
    """A checkpoint as the proofs carry it (every field the signature covers)."""
    return {
        "version": cp.version,
        "checkpoint_id": cp.checkpoint_id,
        "tree_size": cp.tree_size,
        "root_hash": cp.root_hash.hex(),
        "prev_tree_size": cp.prev_tree_size,
        "prev_root_hash": cp.prev_root_hash.hex(),
        "horizon": str(cp.horizon),
        "prev_horizon": str(cp.prev_horizon),
        "sealed_at": cp.sealed_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "key_id": cp.key_id,
        "signature": cp.signature.hex(),
    }


def _build(conn: psycopg.Connection[Any], event_ids: list[int]
           ) -> tuple[dict[int, dict[str, Any]], list[int], Checkpoint]:
    checkpoints = read_checkpoints(conn)
    events = {row[0]: row for row in conn.execute(
        f"SELECT {encoding.SELECT_COLUMNS} FROM tessera.audit_events WHERE event_id = ANY (%s)",
        (event_ids,)).fetchall()}
    missing = [e for e in event_ids if e not in events]
    if missing:
        raise NotFound(f"no audit event {missing[0]}")
    if not checkpoints:
        raise NotFound("no checkpoint yet: run `tessera-db audit seal` first")
    latest = checkpoints[-1]
    unsealed = [e for e in event_ids if int(events[e][2]) >= latest.horizon]
    wanted = {e for e in event_ids if e not in unsealed}
    if not wanted:
        return {}, unsealed, latest
    horizons = [cp.horizon for cp in checkpoints]

    # Leaves in seal order: bucket by checkpoint, event_id order inside each.
    buckets: list[list[tuple[int, bytes]]] = [[] for _ in checkpoints]
    with conn.cursor(name="tessera_audit_proof") as cur:
        cur.itersize = 20_000
        cur.execute("SELECT event_id, txid::text, content_hash FROM tessera.audit_events "
                    "WHERE txid < %s::text::xid8 ORDER BY event_id", (str(latest.horizon),))
        for eid, t, h in cur:
            buckets[bisect.bisect_right(horizons, int(t))].append((eid, bytes(h)))
    ordered = [item for bucket in buckets for item in bucket]
    leaves = [merkle.leaf_hash(h) for _, h in ordered]
    if len(leaves) != latest.tree_size:
        raise ProofError(f"the database holds {len(leaves)} sealed rows but checkpoint {latest.checkpoint_id} "
                         f"signed {latest.tree_size}; run `tessera-db audit verify`")
    checkpoint = checkpoint_document(latest)
    proofs: dict[int, dict[str, Any]] = {}
    memo: dict[tuple[int, int], bytes] = {}
    for index, (eid, _) in enumerate(ordered):
        if eid not in wanted:
            continue
        event = events[eid]
        proofs[eid] = {
            "format": PROOF_FORMAT,
            "event": dict(zip(encoding.FIELDS, encoding.canonical_texts(event), strict=True)),
            "content_hash": bytes(event[len(encoding.FIELDS)]).hex(),
            "leaf_index": index,
            "audit_path": [p.hex() for p in merkle.inclusion_proof(leaves, index, memo=memo)],
            "checkpoint": checkpoint,
        }
    return proofs, unsealed, latest


def _hex(value: Any, what: str, size: int | None = 32) -> bytes:
    try:
        b = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise ProofError(f"{what} is not hex") from None
    if size is not None and len(b) != size:
        raise ProofError(f"{what} is not {size} bytes")
    return b


def check_checkpoint(cp: Any, public_key: Ed25519PublicKey) -> CheckpointHead:
    """Check a checkpoint document (as proofs carry it) with only the public key: the
    key id and the Ed25519 signature over the checkpoint message v1. Returns the head or
    raises ProofError naming the failing step."""
    try:
        head = CheckpointHead(
            tree_size=int(cp["tree_size"]), root_hash=_hex(cp["root_hash"], "root_hash"),
            prev_tree_size=int(cp["prev_tree_size"]), prev_root_hash=_hex(cp["prev_root_hash"], "prev_root_hash"),
            horizon=int(cp["horizon"]), prev_horizon=int(cp["prev_horizon"]),
            sealed_at=dt.datetime.strptime(cp["sealed_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc),
            key_id=str(cp["key_id"]), version=int(cp["version"]))
        signature = _hex(cp["signature"], "signature", 64)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"malformed checkpoint ({exc})") from None
    if head.key_id != key_id(public_key):
        raise ProofError(f"the checkpoint names key {head.key_id}, not this public key ({key_id(public_key)})")
    try:
        signed = head.verify(public_key, signature)
    except ValueError as exc:
        raise ProofError(f"malformed checkpoint ({exc})") from None
    if not signed:
        raise ProofError(f"checkpoint {cp.get('checkpoint_id')}: the signature does not verify")
    return head


def check_proof(proof: Any, public_key: Ed25519PublicKey) -> str:
    """Check a proof with only the public key; returns a one-line summary or raises
    ProofError naming the first failing step."""
    if not isinstance(proof, dict) or proof.get("format") != PROOF_FORMAT:
        raise ProofError(f"not a {PROOF_FORMAT} document")
    try:
        cp = proof["checkpoint"]
        event = proof["event"]
        index = int(proof["leaf_index"])
        path = [_hex(p, "audit_path entry") for p in proof["audit_path"]]
        claimed_hash = _hex(proof["content_hash"], "content_hash")
        texts = [event[f] for f in encoding.FIELDS]
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"malformed proof ({exc})") from None
    if any(t is not None and not isinstance(t, str) for t in texts):
        raise ProofError("malformed proof (event fields must be strings or null)")

    # 1. the key and 2. the signature
    head = check_checkpoint(cp, public_key)
    # 3. the event's content hash
    recomputed = encoding.content_hash_of_texts(texts)
    if recomputed != claimed_hash:
        raise ProofError(f"event {event.get('event_id')}: its fields hash to {recomputed.hex()}, "
                         f"not the proof's content_hash {claimed_hash.hex()} (the event was modified)")
    # 4. the audit path
    if not merkle.verify_inclusion(merkle.leaf_hash(recomputed), index, head.tree_size, path, head.root_hash):
        raise ProofError(f"event {event.get('event_id')}: the audit path from leaf {index} does not lead to the "
                         f"signed root of tree_size {head.tree_size}")
    return (f"OK: event {event.get('event_id')} is leaf {index} of the tree of {head.tree_size} leaves signed "
            f"in checkpoint {cp.get('checkpoint_id')} at {cp['sealed_at']} by key {head.key_id}")

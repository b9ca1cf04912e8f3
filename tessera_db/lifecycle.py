"""Data lifecycle (issue 14): a client's erasure with its signed deletion certificate, and
the retention job. docs/erasure.md is the reference.

The database does the erasing (``tessera.erase_client``) and the removing
(``tessera.retention_run``); this module calls them, waits for the erasure's audit event
to be sealed into a signed checkpoint, and writes and checks the certificate:

* the certificate is a JSON document: the delete-log row (client, tier, initiator,
  reason, started/finished, counts per table erased / stripped / kept until), the
  erasure audit event's id and its inclusion proof against the checkpoint that seals it
  (``tessera.audit.inclusion_proof.v1``, checkable with the sealer's public key);
* it is signed with an Ed25519 key held outside the database, as a detached JWS
  (RFC 7515 compact serialisation with the payload left out, ``alg`` Ed25519 (RFC 9864; formerly EdDSA), ``kid`` the
  hex SHA-256 of the raw public key, like the audit checkpoints' key_id) over the
  RFC 8785 canonical JSON of every other member;
* ``verify_certificate`` needs only the document and the public key(s): no database.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tessera_db import detached_jws
from tessera_db.audit.proof import ProofError, build_proof, check_proof
from tessera_db.errors import TesseraError, translate_errors

CERTIFICATE_FORMAT = "tessera.deletion_certificate.v1"
_LOG_COLUMNS = ("client_id", "erasure_id", "plan_tier", "reason", "initiated_by", "started_at", "finished_at",
                "counts", "erasure_event_id", "kept_until", "certificate")


class CertificateError(TesseraError):
    """The certificate does not check out (or is malformed)."""


@dataclass(frozen=True)
class Erasure:
    """A row of tessera.client_erasures, the operator-side delete log."""

    client_id: str
    erasure_id: str
    plan_tier: str
    reason: str
    initiated_by: str
    started_at: dt.datetime
    finished_at: dt.datetime
    counts: dict[str, Any]
    erasure_event_id: int
    kept_until: dt.datetime | None
    certificate: dict[str, Any] | None


def _erasure(row: Any) -> Erasure:
    values = dict(zip(_LOG_COLUMNS, row, strict=False))
    values["client_id"] = str(values["client_id"])
    values["erasure_id"] = str(values["erasure_id"])
    return Erasure(**values)


def erase_client(conn: psycopg.Connection[Any], client_id: str, reason: str) -> Erasure:
    """Run ``tessera.erase_client`` in ``conn``'s transaction (an operator's session);
    returns the delete-log row (the first one, if the client was erased before)."""
    with translate_errors():
        row = conn.execute(
            f"SELECT {', '.join(_LOG_COLUMNS)} FROM tessera.erase_client(%s, %s)", (client_id, reason)).fetchone()
    assert row is not None
    return _erasure(row)


def attach_certificate(conn: psycopg.Connection[Any], erasure: Erasure, certificate: dict[str, Any]) -> None:
    """Store the signed certificate in the delete log (once; an operator's session)."""
    with translate_errors():
        conn.execute("UPDATE tessera.client_erasures SET certificate = %s::jsonb WHERE client_id = %s",
                     (json.dumps(certificate), erasure.client_id))


def wait_for_proof(verifier_conn: psycopg.Connection[Any], event_id: int, *, timeout: float,
                   seal: Callable[[], object] | None = None, poll: float = 0.5) -> dict[str, Any]:
    """The inclusion proof of ``event_id`` once a checkpoint seals it: runs ``seal`` (one
    sealing step) first when given, otherwise waits for the sealer, up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if seal is not None:
            seal()
        try:
            return build_proof(verifier_conn, event_id)
        except TesseraError as exc:
            if "not sealed yet" not in exc.message and "no checkpoint yet" not in exc.message:
                raise
            if time.monotonic() >= deadline:
                raise TesseraError(f"the erasure's audit event {event_id} was not sealed within {timeout:g} s: is the "
                                   "sealer running? (run `tessera-db clients erase` again to finish the certificate; "
                                   "the erasure itself is done)") from None
            time.sleep(poll)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def build_certificate(erasure: Erasure, proof: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The signed deletion certificate of ``erasure``, with the inclusion proof of its
    audit event."""
    document: dict[str, Any] = {
        "format": CERTIFICATE_FORMAT,
        "client_id": erasure.client_id,
        "erasure_id": erasure.erasure_id,
        "plan_tier": erasure.plan_tier,
        "initiated_by": erasure.initiated_by,
        "reason": erasure.reason,
        "started_at": _iso(erasure.started_at),
        "finished_at": _iso(erasure.finished_at),
        "tables": erasure.counts,
        "kept_until": _iso(erasure.kept_until),
        "erasure_event_id": erasure.erasure_event_id,
        "erasure_event_proof": proof,
    }
    return detached_jws.sign(document, key)


def verify_certificate(document: Any, public_key: Ed25519PublicKey,
                       audit_public_key: Ed25519PublicKey | None = None) -> str:
    """Check a certificate offline: the detached JWS over its canonical body with
    ``public_key``; the erasure event's inclusion proof against its checkpoint, signed by
    ``audit_public_key`` (default: the same key); and that the proven event is this
    erasure (its entity, id, client, tier and counts). Returns a one-line summary or
    raises CertificateError naming the first failing step."""
    if not isinstance(document, dict) or document.get("format") != CERTIFICATE_FORMAT:
        raise CertificateError(f"not a {CERTIFICATE_FORMAT} document")
    try:
        kid = detached_jws.verify(document, public_key)
    except detached_jws.SignatureError as exc:
        raise CertificateError(f"the certificate's signature: {exc}") from None
    proof = document.get("erasure_event_proof")
    try:
        summary = check_proof(proof, audit_public_key or public_key)
    except ProofError as exc:
        raise CertificateError(f"the erasure event's inclusion proof: {exc.message}") from None
    event = proof["event"]  # type: ignore[index]
    try:
        after = json.loads(event["after"] or "null")
    except (TypeError, ValueError):
        after = None
    expected = {"entity": "client_erasures", "action": "erasure", "entity_id": document.get("erasure_id"),
                "event_id": str(document.get("erasure_event_id"))}
    for name, value in expected.items():
        if event.get(name) != value:
            raise CertificateError(f"the proven audit event is not this erasure ({name} {event.get(name)!r}, "
                                   f"expected {value!r})")
    if not isinstance(after, dict) or (after.get("client_id"), after.get("plan_tier"), after.get("counts")) != (
            document.get("client_id"), document.get("plan_tier"), document.get("tables")):
        raise CertificateError("the certificate's client, tier or per-table counts differ from the sealed "
                               "erasure event's")
    return (f"OK: client {document['client_id']} ({document['plan_tier']}) erased {document['finished_at']} "
            f"by {document['initiated_by']}; signed by key {kid}; {summary}")

"""Signed JSON documents: a detached JWS over the document's canonical JSON.

One format for everything tessera-db signs outside the database (deletion certificates,
evidence-pack manifests): the document carries a ``signature`` member::

    "signature": {"alg": "Ed25519", "kid": "<hex SHA-256 of the raw public key>",
                  "jws": "<protected header>..<signature>"}

``jws`` is an RFC 7515 compact serialisation with the payload left out (RFC 7515
appendix F), the payload being the RFC 8785 canonical JSON of every *other* member of
the document; ``alg`` is Ed25519 (RFC 9864; formerly EdDSA) and ``kid`` is the same key
id as the audit checkpoints' ``key_id``. Anyone with the public key checks it offline
with any JOSE library. The JOSE work is joserfc's, not hand-rolled.
"""

from __future__ import annotations

from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from tessera_db.audit.signing import key_id

ALGORITHM = "Ed25519"


class SignatureError(ValueError):
    """The document's signature is missing, from another key, or does not verify."""


def canonical(document: dict[str, Any]) -> bytes:
    """The signed bytes: the RFC 8785 canonical JSON of every member but ``signature``."""
    return rfc8785.dumps({k: v for k, v in document.items() if k != "signature"})


def sign(document: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """``document`` with its ``signature`` member (added in place and returned)."""
    kid = key_id(key.public_key())
    token = jws.serialize_compact({"alg": ALGORITHM, "kid": kid}, canonical(document), OKPKey.import_key(key),
                                  algorithms=[ALGORITHM])
    header, _, signature = token.split(".")
    document["signature"] = {"alg": ALGORITHM, "kid": kid, "jws": f"{header}..{signature}"}
    return document


def verify(document: dict[str, Any], public_key: Ed25519PublicKey) -> str:
    """Check the detached JWS of ``document`` with ``public_key``; returns its key id or
    raises SignatureError saying what is wrong."""
    signature = document.get("signature")
    if not isinstance(signature, dict) or not isinstance(signature.get("jws"), str):
        raise SignatureError("it carries no detached JWS signature")
    kid = key_id(public_key)
    if signature.get("kid") != kid:
        raise SignatureError(f"signed with key {signature.get('kid')}, not this public key ({kid})")
    try:
        jws.deserialize_compact(signature["jws"], OKPKey.import_key(public_key), algorithms=[ALGORITHM],
                                payload=canonical(document))
    except (JoseError, ValueError) as exc:
        raise SignatureError(f"the signature does not verify over the content ({exc}): it was changed after "
                             "it was signed") from None
    return kid

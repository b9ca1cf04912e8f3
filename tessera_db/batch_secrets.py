"""Settlement secrets of async batches: sealed outside the database, opened only by the
settlement job.

Design (docs/keys-and-secrets.md):

* **Sealing** is HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
  ChaCha20-Poly1305, from the ``cryptography`` package. The proxy seals the customer's
  upstream Authorization header to the settlement job's *public* key before anything is
  sent to PostgreSQL, so the plaintext never reaches a table, a dead tuple, the WAL, a
  server log line or a dump, and neither the proxy nor the database can open it.
* **Binding**: the HPKE ``info`` (which enters the key schedule, so any difference makes
  the AEAD tag fail) is ``b"tessera.batch_secret.v1" 0x00 scheme 0x00 key_id 0x00
  secret_id(16 bytes) batch_id(16) client_id(16)``. A sealed value copied to another row
  -- another secret, batch or client -- or relabelled with another key id does not open.
* **Keys** live in a keyring file of the settlement job (JSON, mode 0600, path in
  ``$TESSERA_SETTLEMENT_KEYRING``): several X25519 private keys, each with a key id, one
  of them current. The proxy gets only the current public key (``secrets public-key``,
  path in ``$TESSERA_SETTLEMENT_PUBLIC_KEY``). No key is ever in the database.
* **Rotation** (:func:`rotate`): add a new current key, re-seal every stored secret under
  it (open + reseal, compare-and-set on the old key id), and optionally retire keys no
  secret uses any more -- deleting a private key crypto-shreds every copy sealed to it
  that may linger in dead tuples, the WAL or backups.

Never log or print a plaintext; :class:`Keyring` keeps private keys out of ``repr``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from tessera_db.errors import InvalidInput, NotFound, TesseraError, translate_errors

__all__ = [
    "KEYRING_ENV",
    "PUBLIC_KEY_ENV",
    "SCHEME",
    "Keyring",
    "PublicKey",
    "SecretWontOpen",
    "binding",
    "open_secret",
    "open_sealed",
    "rotate",
    "seal",
    "store_secret",
]

SCHEME = "hpke-x25519-sha256-chacha20poly1305.v1"
KEYRING_ENV = "TESSERA_SETTLEMENT_KEYRING"
PUBLIC_KEY_ENV = "TESSERA_SETTLEMENT_PUBLIC_KEY"
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
_KEY_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_PLAINTEXT = 8192


class SecretWontOpen(TesseraError):
    """The sealed value does not open: wrong key, or not sealed for this row."""


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def binding(key_id: str, secret_id: uuid.UUID | str, batch_id: uuid.UUID | str,
            client_id: uuid.UUID | str) -> bytes:
    """The HPKE info string that binds a sealed value to its row (see the module doc)."""
    if not _KEY_ID.match(key_id):
        raise InvalidInput(f"key id {key_id!r} is not 1-64 characters of a-z, 0-9, '.', '_', '-'")
    return (b"tessera.batch_secret.v1\x00" + SCHEME.encode() + b"\x00" + key_id.encode() + b"\x00"
            + _uuid(secret_id).bytes + _uuid(batch_id).bytes + _uuid(client_id).bytes)


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class PublicKey:
    """The current settlement public key, as the proxy holds it."""

    key_id: str
    key: X25519PublicKey

    def to_json(self) -> str:
        raw = self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return json.dumps({"scheme": SCHEME, "key_id": self.key_id,
                           "public_key": base64.b64encode(raw).decode()}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> PublicKey:
        data = json.loads(text)
        if data.get("scheme") != SCHEME:
            raise InvalidInput(f"public key file is for scheme {data.get('scheme')!r}, not {SCHEME}")
        return cls(data["key_id"], X25519PublicKey.from_public_bytes(base64.b64decode(data["public_key"])))

    @classmethod
    def load(cls, path: Path | str | None = None) -> PublicKey:
        where = path or os.environ.get(PUBLIC_KEY_ENV)
        if not where:
            raise TesseraError(f"no settlement public key: pass a path or set ${PUBLIC_KEY_ENV}")
        return cls.from_json(Path(where).read_text(encoding="utf-8"))


@dataclass
class Keyring:
    """The settlement job's private keys (file outside the database, mode 0600)."""

    path: Path
    current: str | None = None
    keys: dict[str, X25519PrivateKey] = field(default_factory=dict, repr=False)
    created: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | str | None = None, *, create: bool = False) -> Keyring:
        where = path or os.environ.get(KEYRING_ENV)
        if not where:
            raise TesseraError(f"no settlement keyring: pass a path or set ${KEYRING_ENV}")
        ring = cls(Path(where))
        if not ring.path.exists():
            if create:
                return ring
            raise TesseraError(f"settlement keyring {ring.path} does not exist"
                               " (create it with `tessera-db secrets keygen`)")
        data = json.loads(ring.path.read_text(encoding="utf-8"))
        ring.current = data.get("current")
        for key_id, entry in data.get("keys", {}).items():
            ring.keys[key_id] = X25519PrivateKey.from_private_bytes(base64.b64decode(entry["private_key"]))
            ring.created[key_id] = entry.get("created_at", "")
        return ring

    def save(self) -> None:
        data = {"version": 1, "scheme": SCHEME, "current": self.current, "keys": {
            key_id: {"created_at": self.created.get(key_id, ""),
                     "private_key": base64.b64encode(key.private_bytes(
                         serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                         serialization.NoEncryption())).decode()}
            for key_id, key in sorted(self.keys.items())}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        tmp.replace(self.path)

    def generate(self, key_id: str | None = None) -> str:
        """Add a new key and make it current; returns its id (default: k<UTC timestamp>)."""
        now = dt.datetime.now(dt.timezone.utc)
        key_id = key_id or f"k{now:%Y%m%d%H%M%S}"
        if not _KEY_ID.match(key_id):
            raise InvalidInput(f"key id {key_id!r} is not 1-64 characters of a-z, 0-9, '.', '_', '-'")
        if key_id in self.keys:
            raise InvalidInput(f"key id {key_id} already exists in {self.path}")
        self.keys[key_id] = X25519PrivateKey.generate()
        self.created[key_id] = now.isoformat()
        self.current = key_id
        return key_id

    def public_key(self) -> PublicKey:
        if self.current is None:
            raise TesseraError(f"settlement keyring {self.path} has no current key")
        return PublicKey(self.current, self.keys[self.current].public_key())

    def private_key(self, key_id: str) -> X25519PrivateKey:
        try:
            return self.keys[key_id]
        except KeyError:
            raise SecretWontOpen(f"key id {key_id} is not in the keyring {self.path} (retired?)") from None

    def retire(self, key_id: str) -> None:
        if key_id == self.current:
            raise InvalidInput("the current key cannot be retired")
        self.keys.pop(key_id, None)
        self.created.pop(key_id, None)


# --------------------------------------------------------------------------- sealing


def seal(plaintext: bytes, public: PublicKey, *, secret_id: uuid.UUID | str, batch_id: uuid.UUID | str,
         client_id: uuid.UUID | str) -> bytes:
    """HPKE-seal ``plaintext`` to the settlement public key, bound to its row."""
    if not 1 <= len(plaintext) <= MAX_PLAINTEXT:
        raise InvalidInput(f"a settlement secret is 1..{MAX_PLAINTEXT} bytes")
    return _SUITE.encrypt(plaintext, public.key, info=binding(public.key_id, secret_id, batch_id, client_id))


def open_sealed(sealed: bytes, keyring: Keyring, *, key_id: str, secret_id: uuid.UUID | str,
                batch_id: uuid.UUID | str, client_id: uuid.UUID | str) -> bytes:
    """Open a sealed value with the keyring's private key ``key_id``; SecretWontOpen if
    it was not sealed for exactly this (key id, secret, batch, client)."""
    try:
        return _SUITE.decrypt(sealed, keyring.private_key(key_id),
                              info=binding(key_id, secret_id, batch_id, client_id))
    except (InvalidTag, ValueError):
        raise SecretWontOpen(f"settlement secret {secret_id} does not open for batch {batch_id} "
                             f"of client {client_id} under key {key_id}") from None


# --------------------------------------------------------------------------- database


def store_secret(conn: psycopg.Connection[Any], public: PublicKey, client_id: uuid.UUID | str,
                 batch_id: uuid.UUID | str, plaintext: bytes) -> uuid.UUID:
    """Seal ``plaintext`` here, then store only the sealed value (the proxy's call,
    tessera_proxy). Returns the secret id, the application's only handle."""
    secret_id = uuid.uuid4()
    sealed = seal(plaintext, public, secret_id=secret_id, batch_id=batch_id, client_id=client_id)
    with translate_errors():
        conn.execute("SELECT tessera.store_batch_secret(%s, %s, %s, %s, %s)",
                     (client_id, batch_id, secret_id, public.key_id, sealed))
    return secret_id


def open_secret(conn: psycopg.Connection[Any], keyring: Keyring, client_id: uuid.UUID | str,
                batch_id: uuid.UUID | str) -> bytes:
    """The settlement job's read (tessera_settlement): fetch the sealed value through
    tessera.open_batch_secret (audited; refused for a terminal batch) and open it."""
    with translate_errors():
        row = conn.execute("SELECT secret_id, scheme, key_id, sealed FROM tessera.open_batch_secret(%s, %s)",
                           (client_id, batch_id)).fetchone()
    if row is None:  # pragma: no cover - the function raises instead
        raise NotFound(f"batch {batch_id} holds no secret")
    secret_id, scheme, key_id, sealed = row
    if scheme != SCHEME:
        raise SecretWontOpen(f"unknown sealing scheme {scheme}")
    return open_sealed(bytes(sealed), keyring, key_id=key_id, secret_id=secret_id, batch_id=batch_id,
                       client_id=client_id)


@dataclass(frozen=True)
class RotationResult:
    current: str
    resealed: int
    skipped: int
    retired: list[str]


def rotate(conn: psycopg.Connection[Any], keyring: Keyring, *, new_key_id: str | None = None,
           generate: bool = True, retire: bool = False) -> RotationResult:
    """Key rotation as the settlement job: make a new current key (unless ``generate`` is
    False: then re-seal to the existing current key), re-seal every secret stored under
    another key id, and with ``retire`` drop from the keyring every other key that no
    stored secret uses any more. The keyring file is saved before any secret is re-sealed
    (a crash never leaves a secret sealed to a key that is not on disk), and each secret is
    re-sealed in its own transaction (compare-and-set on the old key id)."""
    if generate:
        keyring.generate(new_key_id)
        keyring.save()
    public = keyring.public_key()
    with translate_errors():
        pending = conn.execute(
            "SELECT client_id, batch_id, secret_id, key_id FROM tessera.batch_secrets_to_reseal(%s)",
            (public.key_id,)).fetchall()
    conn.commit()
    resealed = skipped = 0
    for client_id, batch_id, secret_id, key_id in pending:
        try:
            plaintext = open_secret(conn, keyring, client_id, batch_id)
            fresh = seal(plaintext, public, secret_id=secret_id, batch_id=batch_id, client_id=client_id)
            del plaintext
            with translate_errors():
                row = conn.execute("SELECT tessera.reseal_batch_secret(%s, %s, %s, %s, %s, %s)",
                                   (client_id, batch_id, secret_id, key_id, public.key_id, fresh)).fetchone()
            conn.commit()
        except (NotFound, TesseraError) as exc:
            # Destroyed or settled meanwhile (or its key already retired): nothing to re-seal.
            conn.rollback()
            if isinstance(exc, SecretWontOpen) or exc.sqlstate in ("P0002", "55000"):
                skipped += 1
                continue
            raise
        if row and row[0]:
            resealed += 1
        else:
            skipped += 1
    retired: list[str] = []
    if retire:
        with translate_errors():
            still = {r[3] for r in conn.execute(
                "SELECT client_id, batch_id, secret_id, key_id FROM tessera.batch_secrets_to_reseal(%s)",
                (public.key_id,)).fetchall()}
        conn.commit()
        for key_id in sorted(set(keyring.keys) - {public.key_id} - still):
            keyring.retire(key_id)
            retired.append(key_id)
        keyring.save()
    return RotationResult(public.key_id, resealed, skipped, retired)

"""Ed25519 keys and the signed checkpoint message (via the ``cryptography`` library).

Key files:

* private key: PKCS#8 PEM, unencrypted, written by ``tessera-db audit keygen --out FILE``
  with mode 0600 (a raw 32-byte seed file is accepted too). It lives outside the
  database, with the sealer; loading refuses a file that group or others can read.
* public key: SubjectPublicKeyInfo PEM (``FILE.pub``); a raw 32-byte file or 64 hex
  characters are accepted too. It is all a verifier or a third party needs.

key_id = lower-case hex SHA-256 of the raw 32-byte public key (the fingerprint stored
with every checkpoint).

The checkpoint message, version 1, is ASCII text, one ``name=value`` line each, every
line ending in LF, in this order::

    tessera.audit_checkpoint.v1
    tree_size=<decimal>
    root_hash=<64 lower-case hex>
    prev_tree_size=<decimal>
    prev_root_hash=<64 lower-case hex>
    horizon=<decimal xid8>
    prev_horizon=<decimal xid8>
    sealed_at=<UTC YYYY-MM-DDTHH:MM:SS.ffffffZ>
    key_id=<64 lower-case hex>

The signature is Ed25519 (RFC 8032, pure) over exactly those bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tessera_db.errors import TesseraError

MESSAGE_VERSION = 1
MESSAGE_HEADER = "tessera.audit_checkpoint.v1"


class KeyFileError(TesseraError):
    """A key file is missing, unreadable, malformed or too widely readable."""


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """The public key's fingerprint: hex SHA-256 of its 32 raw bytes."""
    return hashlib.sha256(raw_public(key)).hexdigest()


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def generate(out: Path) -> tuple[Ed25519PrivateKey, Path]:
    """Create a new private key at ``out`` (0600, refusing to overwrite) and its public
    key at ``out`` + '.pub'. Returns the key and the public key's path."""
    out = Path(out)
    pub_path = out.with_name(out.name + ".pub")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{out} exists already; refusing to overwrite a signing key") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create {out}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(out, 0o600)  # whatever the umask said
    pub_path.write_bytes(public_pem(key.public_key()))
    return key, pub_path


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{what} {path} not found") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} {path}: {exc.strerror}") from None


def load_private_key(path: Path, *, check_mode: bool = True) -> Ed25519PrivateKey:
    """A private key file (PKCS#8 PEM or a raw 32-byte seed)."""
    path = Path(path)
    data = _read(path, "signing key")
    if check_mode and os.name == "posix":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyFileError(f"signing key {path} is readable by others (mode {mode:04o}); chmod 600 it")
    if len(data) == 32:
        return Ed25519PrivateKey.from_private_bytes(data)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"signing key {path} is not an unencrypted PEM or raw Ed25519 key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"signing key {path} is not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key file (PEM, raw 32 bytes, or 64 hex characters)."""
    path = Path(path)
    data = _read(path, "public key")
    stripped = data.strip()
    if len(data) == 32:
        return Ed25519PublicKey.from_public_bytes(data)
    if len(stripped) == 64:
        try:
            return Ed25519PublicKey.from_public_bytes(bytes.fromhex(stripped.decode("ascii")))
        except (ValueError, UnicodeDecodeError):
            pass
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise KeyFileError(f"public key {path} is not a PEM, raw or hex Ed25519 public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"public key {path} is not an Ed25519 key")
    return key


def timestamp_text(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("sealed_at must be timezone-aware")
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class CheckpointHead:
    """The signed fields of a checkpoint."""

    tree_size: int
    root_hash: bytes
    prev_tree_size: int
    prev_root_hash: bytes
    horizon: int
    prev_horizon: int
    sealed_at: dt.datetime
    key_id: str
    version: int = MESSAGE_VERSION

    def message(self) -> bytes:
        """The canonical byte message the signature covers (module docstring)."""
        if self.version != MESSAGE_VERSION:
            raise ValueError(f"unknown checkpoint message version {self.version}")
        lines = [
            MESSAGE_HEADER,
            f"tree_size={int(self.tree_size)}",
            f"root_hash={self.root_hash.hex()}",
            f"prev_tree_size={int(self.prev_tree_size)}",
            f"prev_root_hash={self.prev_root_hash.hex()}",
            f"horizon={int(self.horizon)}",
            f"prev_horizon={int(self.prev_horizon)}",
            f"sealed_at={timestamp_text(self.sealed_at)}",
            f"key_id={self.key_id}",
        ]
        return ("\n".join(lines) + "\n").encode("ascii")

    def sign(self, key: Ed25519PrivateKey) -> bytes:
        if key_id(key.public_key()) != self.key_id:
            raise ValueError("key_id does not belong to the signing key")
        return key.sign(self.message())

    def verify(self, public: Ed25519PublicKey, signature: bytes) -> bool:
        """True when ``signature`` is ``public``'s signature over this head and the head
        names that key."""
        if key_id(public) != self.key_id:
            return False
        try:
            public.verify(bytes(signature), self.message())
        except InvalidSignature:
            return False
        return True

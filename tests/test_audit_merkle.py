"""RFC 6962 Merkle trees, Ed25519 checkpoint signing and encoding v1: no database.

Known answers: the Certificate Transparency reference tree (RFC 6962 implementations
share it: eight leaves "", 00, 10, 2021, 3031, 40414243, 5051525354555657,
606162636465666768696a6b6c6d6e6f, their roots for every size, two audit paths and two
consistency proofs) and RFC 8032 section 7.1 TEST 1 for Ed25519.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tessera_db.audit import encoding, merkle, signing

CT_DATA = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")]
CT_LEAVES = [merkle.leaf_hash(d) for d in CT_DATA]
CT_ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
CT_INCLUSION = [  # (leaf index, tree size, audit path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
CT_CONSISTENCY = [  # (first size, second size, proof)
    (2, 8, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]

MANY = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(70)]


# -- known answers -------------------------------------------------------------------


def test_empty_tree_and_reference_roots() -> None:
    assert merkle.EMPTY_ROOT == CT_ROOTS[0] == hashlib.sha256(b"").digest()
    for n in range(len(CT_LEAVES) + 1):
        assert merkle.root(CT_LEAVES[:n]) == CT_ROOTS[n], n


def test_reference_inclusion_proofs() -> None:
    for index, size, path in CT_INCLUSION:
        proof = merkle.inclusion_proof(CT_LEAVES, index, size)
        assert [p.hex() for p in proof] == path
        assert merkle.verify_inclusion(CT_LEAVES[index], index, size, proof, CT_ROOTS[size])


def test_reference_consistency_proofs() -> None:
    for first, second, path in CT_CONSISTENCY:
        proof = merkle.consistency_proof(CT_LEAVES, first, second)
        assert [p.hex() for p in proof] == path
        assert merkle.verify_consistency(first, second, CT_ROOTS[first], CT_ROOTS[second], proof)


# -- properties over many sizes (non-powers of two included) ----------------------------


def _recursive_mth(leaves: list[bytes]) -> bytes:
    """MTH straight from the RFC's definition, as an independent oracle."""
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(_recursive_mth(leaves[:k]), _recursive_mth(leaves[k:]))


def test_frontier_matches_the_definition_for_every_size() -> None:
    frontier = merkle.Frontier()
    for n in range(len(MANY) + 1):
        assert frontier.size == n
        assert frontier.root() == _recursive_mth(MANY[:n]), n
        assert len(frontier.nodes) == bin(n).count("1")
        # a frontier restored from its nodes continues identically
        restored = merkle.Frontier(frontier.size, frontier.nodes)
        if n < len(MANY):
            frontier.append(MANY[n])
            restored.append(MANY[n])
            assert restored.root() == frontier.root()


def test_batch_extend_and_aligned_subtrees_equal_appending_one_by_one() -> None:
    # The verifier rebuilds with Frontier.extend (level by level) and with
    # aligned_subtrees + append_subtree (runs of leaves hashed by worker processes);
    # both must give exactly the frontier of appending leaf after leaf, from any start.
    for start in range(0, 40):
        for count in (0, 1, 2, 3, 7, 8, 9, 16, 31, 33, len(MANY) - start):
            count = min(count, len(MANY) - start)
            one_by_one = merkle.Frontier()
            for leaf in MANY[:start + count]:
                one_by_one.append(leaf)
            batch = merkle.Frontier()
            batch.extend(MANY[:start])
            batch.extend(MANY[start:start + count])
            assert (batch.size, batch.nodes) == (one_by_one.size, one_by_one.nodes), (start, count)
            pieces = merkle.Frontier()
            pieces.extend(MANY[:start])
            for height, root in merkle.aligned_subtrees(MANY[start:start + count], start):
                pieces.append_subtree(root, height)
            assert (pieces.size, pieces.nodes) == (one_by_one.size, one_by_one.nodes), (start, count)
            assert pieces.root() == _recursive_mth(MANY[:start + count])
    with pytest.raises(ValueError):
        merkle.Frontier(3, MANY[:0] + [merkle.perfect_root(MANY[:2]), MANY[2]]).append_subtree(MANY[3], 1)


def test_frontier_refuses_a_wrong_shape() -> None:
    with pytest.raises(ValueError):
        merkle.Frontier(3, [MANY[0]])  # 3 leaves need 2 nodes
    with pytest.raises(ValueError):
        merkle.Frontier(1, [b"short"])


def test_every_inclusion_proof_verifies_and_mangled_ones_do_not() -> None:
    for n in range(1, 34):
        root = merkle.root(MANY[:n])
        for i in range(n):
            proof = merkle.inclusion_proof(MANY, i, n)
            assert merkle.verify_inclusion(MANY[i], i, n, proof, root), (i, n)
            assert not merkle.verify_inclusion(MANY[(i + 1) % len(MANY)], i, n, proof, root)
            if n > 1:
                assert not merkle.verify_inclusion(MANY[i], (i + 1) % n, n, proof, root) or \
                    MANY[i] == MANY[(i + 1) % n]
            if proof:
                flipped = [bytearray(p) for p in proof]
                flipped[-1][0] ^= 1
                assert not merkle.verify_inclusion(MANY[i], i, n, [bytes(p) for p in flipped], root)
                assert not merkle.verify_inclusion(MANY[i], i, n, proof[:-1], root)
            assert not merkle.verify_inclusion(MANY[i], i, n, [*proof, b"\xab" * 32], root)
            assert not merkle.verify_inclusion(MANY[i], n, n, proof, root)


def test_every_consistency_proof_verifies_and_mangled_ones_do_not() -> None:
    roots = [merkle.root(MANY[:n]) for n in range(34)]
    for second in range(34):
        for first in range(second + 1):
            proof = merkle.consistency_proof(MANY, first, second)
            assert merkle.verify_consistency(first, second, roots[first], roots[second], proof), (first, second)
            if 0 < first < second:
                assert not merkle.verify_consistency(first, second, roots[first - 1] if first > 1 else
                                                     MANY[5], roots[second], proof)
                assert not merkle.verify_consistency(first, second, roots[first], roots[second], proof[:-1])
                assert not merkle.verify_consistency(first, second, roots[first], roots[second],
                                                     [*proof, b"\xcd" * 32])
    # an appended tree is consistent; a rewritten one is not
    rewritten = list(MANY[:20])
    rewritten[3] = merkle.leaf_hash(b"rewritten")
    proof = merkle.consistency_proof(MANY, 10, 20)
    assert not merkle.verify_consistency(10, 20, merkle.root(rewritten[:10]), roots[20], proof)


# -- signing -----------------------------------------------------------------------------

RFC8032_TEST1 = {
    "secret": "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "public": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "signature": "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
}


def test_ed25519_is_rfc8032() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(RFC8032_TEST1["secret"]))
    assert signing.raw_public(key.public_key()).hex() == RFC8032_TEST1["public"]
    assert key.sign(b"").hex() == RFC8032_TEST1["signature"]


def _head(key: Ed25519PrivateKey, **changes: object) -> signing.CheckpointHead:
    values: dict[str, object] = dict(
        tree_size=8, root_hash=CT_ROOTS[8], prev_tree_size=6, prev_root_hash=CT_ROOTS[6], horizon=812,
        prev_horizon=790, sealed_at=dt.datetime(2026, 11, 23, 21, 6, 0, 123456, tzinfo=dt.timezone.utc),
        key_id=signing.key_id(key.public_key()))
    values.update(changes)
    return signing.CheckpointHead(**values)  # type: ignore[arg-type]


def test_checkpoint_message_is_the_documented_text() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(RFC8032_TEST1["secret"]))
    kid = hashlib.sha256(bytes.fromhex(RFC8032_TEST1["public"])).hexdigest()
    assert _head(key).message() == (
        "tessera.audit_checkpoint.v1\n"
        "tree_size=8\n"
        f"root_hash={CT_ROOTS[8].hex()}\n"
        "prev_tree_size=6\n"
        f"prev_root_hash={CT_ROOTS[6].hex()}\n"
        "horizon=812\n"
        "prev_horizon=790\n"
        "sealed_at=2026-11-23T21:06:00.123456Z\n"
        f"key_id={kid}\n").encode("ascii")


def test_signature_covers_every_field() -> None:
    key = Ed25519PrivateKey.generate()
    head = _head(key)
    sig = head.sign(key)
    assert head.verify(key.public_key(), sig)
    for change in (dict(tree_size=9), dict(root_hash=CT_ROOTS[7]), dict(prev_tree_size=5),
                   dict(prev_root_hash=CT_ROOTS[5]), dict(horizon=813), dict(prev_horizon=791),
                   dict(sealed_at=head.sealed_at + dt.timedelta(microseconds=1))):
        assert not _head(key, **change).verify(key.public_key(), sig), change
    other = Ed25519PrivateKey.generate()
    assert not head.verify(other.public_key(), sig)  # names another key
    assert not _head(other).verify(other.public_key(), sig)


def test_keygen_file_modes_and_formats(tmp_path: Path) -> None:
    out = tmp_path / "sealer.key"
    key, pub_path = signing.generate(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in out.read_bytes() and b"PUBLIC KEY" in pub_path.read_bytes()
    assert signing.key_id(signing.load_private_key(out).public_key()) == signing.key_id(key.public_key())
    assert signing.key_id(signing.load_public_key(pub_path)) == signing.key_id(key.public_key())
    raw = tmp_path / "raw.pub"
    raw.write_bytes(signing.raw_public(key.public_key()))
    hexed = tmp_path / "hex.pub"
    hexed.write_text(signing.raw_public(key.public_key()).hex() + "\n")
    assert signing.load_public_key(raw) == signing.load_public_key(hexed) == key.public_key()
    with pytest.raises(signing.KeyFileError, match="refusing to overwrite"):
        signing.generate(out)
    os.chmod(out, 0o644)
    with pytest.raises(signing.KeyFileError, match="readable by others"):
        signing.load_private_key(out)
    with pytest.raises(signing.KeyFileError, match="not found"):
        signing.load_public_key(tmp_path / "missing.pub")


# -- encoding v1 (the database side is compared in test_audit_seal.py) ---------------------


def test_encoding_v1_by_hand() -> None:
    row = [42, dt.datetime(2026, 11, 23, 22, 5, 3, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1))),
           "1234", uuid.UUID("00000000-0000-4000-8000-00000000000A"), "clients", "", "insert", None,
           '{"a": 1}', "authenticated", "authenticator", None, None, None, "req-1", None, "10.0.0.1", None]
    texts = encoding.canonical_texts(row)
    assert texts[1] == "2026-11-23T21:05:03.123456Z"  # converted to UTC
    assert texts[3] == "00000000-0000-4000-8000-00000000000a"
    assert texts[16] == "10.0.0.1/32"
    expected = (b"tessera.audit_events.v1" + b"\x00\x00\x00\x0242" + b"\x00\x00\x00\x1b2026-11-23T21:05:03.123456Z"
                + b"\x00\x00\x00\x041234" + b"\x00\x00\x00\x24" + b"00000000-0000-4000-8000-00000000000a"
                + b"\x00\x00\x00\x07clients" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x06insert" + b"\xff" * 4
                + b'\x00\x00\x00\x08{"a": 1}' + b"\x00\x00\x00\x0dauthenticated" + b"\x00\x00\x00\x0dauthenticator"
                + b"\xff" * 12 + b"\x00\x00\x00\x05req-1" + b"\xff" * 4 + b"\x00\x00\x00\x0b10.0.0.1/32" + b"\xff" * 4)
    assert encoding.encode_texts(texts) == expected
    assert encoding.content_hash(row) == hashlib.sha256(expected).digest()
    # an empty string and NULL differ
    assert encoding.content_hash_of_texts([*texts[:5], None, *texts[6:]]) != encoding.content_hash(row)
    assert encoding.canonical_inet("::1") == "::1/128" and encoding.canonical_inet("10.0.0.0/8") == "10.0.0.0/8"

"""RFC 6962 Merkle trees (Certificate Transparency; also RFC 9162 section 2.1).

Hashing::

    leaf hash   SHA-256(0x00 || data)
    node hash   SHA-256(0x01 || left || right)
    MTH({})     SHA-256("")                       (the empty tree)
    MTH(D[n])   MTH(D[0:k]) and MTH(D[k:n]) joined by a node hash, k the largest power
                of two smaller than n (so trees of any size, not just powers of two)

The functions below take *leaf hashes* (already ``leaf_hash``-ed), which is what the
audit log stores per row: leaf = SHA-256(0x00 || content_hash).

``Frontier`` is the compact form of a growing tree: the roots of its perfect subtrees,
left to right (one per set bit of the size). Appending a leaf and computing the root
need only the frontier, so the sealer extends the log without re-reading old leaves and
the verifier rebuilds a million-leaf log in one pass.

Proofs follow RFC 6962 section 2.1.1 (PATH) and 2.1.2 (PROOF / SUBPROOF); their
verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF = b"\x00"
_NODE = b"\x01"

try:  # CPython's own SHA-256: the same digests, less call overhead than OpenSSL's for 65 bytes
    from _sha256 import sha256 as _small_sha256  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - other interpreters
    _small_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """The RFC 6962 hash of one leaf's data."""
    return hashlib.sha256(_LEAF + data).digest()


def leaf_hashes(datas: Iterable[bytes]) -> list[bytes]:
    """``leaf_hash`` of each, in one list comprehension."""
    sha256 = _small_sha256
    return [sha256(_LEAF + d).digest() for d in datas]


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 6962 hash of an interior node."""
    return hashlib.sha256(_NODE + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hashes(hashes: Iterable[bytes], what: str) -> None:
    for h in hashes:
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            raise ValueError(f"{what} must be {HASH_SIZE}-byte hashes")


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH of the leaf hashes (EMPTY_ROOT for none)."""
    _check_hashes(leaves, "leaves")
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


def _mth(leaves: Sequence[bytes], lo: int, hi: int, memo: dict[tuple[int, int], bytes] | None = None) -> bytes:
    """MTH of leaves[lo:hi] (hi > lo), recursively as the RFC defines it. ``memo`` keeps
    subtree hashes across calls, so many proofs over one tree hash each node once."""
    n = hi - lo
    if n == 1:
        return leaves[lo]
    if memo is not None and (lo, hi) in memo:
        return memo[lo, hi]
    k = _split(n)
    value = node_hash(_mth(leaves, lo, lo + k, memo), _mth(leaves, lo + k, hi, memo))
    if memo is not None:
        memo[lo, hi] = value
    return value


class Frontier:
    """A tree of ``size`` leaves kept as the roots of its perfect subtrees (left to right,
    largest first): enough to append leaves and to compute the root."""

    __slots__ = ("size", "nodes")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(nodes) != bin(size).count("1"):
            raise ValueError(f"a frontier of a {size}-leaf tree has {bin(max(size, 0)).count('1')} nodes, "
                             f"got {len(nodes)}")
        _check_hashes(nodes, "frontier nodes")
        self.size = size
        self.nodes = [bytes(n) for n in nodes]

    def copy(self) -> Frontier:
        return Frontier(self.size, self.nodes)

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash."""
        h = leaf
        s = self.size
        nodes = self.nodes
        while s & 1:
            h = hashlib.sha256(_NODE + nodes.pop() + h).digest()
            s >>= 1
        nodes.append(h)
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append many leaf hashes at once, level by level: the same tree as appending
        them one by one, with one list comprehension of node hashes per level instead
        of a Python loop per leaf (the verifier rebuilds a million-leaf log this way)."""
        seq = list(leaves)
        count = len(seq)
        if count < 8:
            for leaf in seq:
                self.append(leaf)
            return
        size = self.size
        old = self.nodes  # one node per set bit of size, highest level first
        levels = [k for k in range(size.bit_length()) if size >> k & 1]  # ascending
        old_at = dict(zip(reversed(levels), old, strict=False))  # level -> node
        new_at: dict[int, bytes] = {}
        sha256 = _small_sha256
        k = 0
        # At level k, seq holds the level-k nodes from index 2 * (size >> (k + 1)) on
        # (the old frontier node of level k, when there is one, completes the pair).
        while seq or size >> k:
            if size >> k & 1:
                seq = [old_at[k], *seq]
            if len(seq) & 1:
                new_at[k] = seq.pop()
            seq = [sha256(_NODE + a + b).digest() for a, b in zip(seq[0::2], seq[1::2], strict=False)]
            k += 1
        self.size = size + count
        self.nodes = [new_at[j] for j in sorted(new_at, reverse=True)]

    def append_subtree(self, root_hash: bytes, height: int) -> None:
        """Append the root of a perfect subtree of 2**height leaves; the tree's size
        must be a multiple of 2**height (the subtree sits at an aligned position)."""
        if height < 0 or self.size % (1 << height):
            raise ValueError(f"a subtree of height {height} cannot follow {self.size} leaves")
        h = root_hash
        s = self.size >> height
        nodes = self.nodes
        while s & 1:
            h = _small_sha256(_NODE + nodes.pop() + h).digest()
            s >>= 1
        nodes.append(h)
        self.size += 1 << height

    def root(self) -> bytes:
        """MTH of the tree so far."""
        if not self.nodes:
            return EMPTY_ROOT
        h = self.nodes[-1]
        for left in reversed(self.nodes[:-1]):
            h = hashlib.sha256(_NODE + left + h).digest()
        return h


def perfect_root(leaves: Sequence[bytes]) -> bytes:
    """MTH of 2**k leaf hashes (k >= 0), one list comprehension per level."""
    level = list(leaves)
    if not level or len(level) & (len(level) - 1):
        raise ValueError(f"a perfect subtree has 2**k leaves, not {len(level)}")
    sha256 = _small_sha256
    while len(level) > 1:
        level = [sha256(_NODE + a + b).digest() for a, b in zip(level[0::2], level[1::2], strict=False)]
    return level[0]


def aligned_subtrees(leaves: Sequence[bytes], start: int) -> list[tuple[int, bytes]]:
    """The leaves at positions start, start + 1, ... of a tree as the fewest perfect,
    aligned subtrees, left to right: (height, root) pairs that ``Frontier.append_subtree``
    takes in order once the tree holds ``start`` leaves (what appending the leaves one
    by one would give)."""
    out: list[tuple[int, bytes]] = []
    pos, i, end = start, 0, start + len(leaves)
    while pos < end:
        height = (pos & -pos).bit_length() - 1 if pos else (end - pos).bit_length() - 1
        while 1 << height > end - pos:
            height -= 1
        out.append((height, perfect_root(leaves[i:i + (1 << height)])))
        i += 1 << height
        pos += 1 << height
    return out


# -- inclusion proofs (audit paths) -------------------------------------------------


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int | None = None,
                    memo: dict[tuple[int, int], bytes] | None = None) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves
    (RFC 6962 PATH(m, D[n])), bottom-up. Pass the same ``memo`` (an empty dict at first)
    to every call over one tree to hash each subtree once."""
    n = len(leaves) if size is None else size
    if not 0 <= index < n <= len(leaves):
        raise ValueError(f"leaf index {index} is not in a tree of {n} leaves")
    path: list[bytes] = []
    lo, hi, m = 0, n, index
    # Walk top-down, collecting the sibling subtree at each level; reverse at the end.
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(_mth(leaves, lo + k, hi, memo))
            hi = lo + k
        else:
            path.append(_mth(leaves, lo, lo + k, memo))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root the audit path leads to (RFC 9162 2.1.3.2), or None when the proof has
    the wrong shape for (index, size)."""
    if not 0 <= index < size or len(leaf) != HASH_SIZE or any(len(p) != HASH_SIZE for p in proof):
        return None
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return None  # proof longer than the path
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None  # proof shorter than the path
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """True when ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of ``size``
    leaves whose root is ``root_hash``."""
    computed = root_from_inclusion_proof(leaf, index, size, proof)
    return computed is not None and computed == root_hash


# -- consistency proofs ------------------------------------------------------------


def consistency_proof(leaves: Sequence[bytes], first: int, second: int | None = None) -> list[bytes]:
    """Proof that the tree of ``first`` leaves is a prefix of the tree of ``second``
    leaves (RFC 6962 PROOF(m, D[n]))."""
    n = len(leaves) if second is None else second
    if not 0 <= first <= n <= len(leaves):
        raise ValueError(f"no consistency proof from {first} to {n} leaves")
    if first == 0 or first == n:
        return []
    return _subproof(leaves, first, 0, n, True)


def _subproof(leaves: Sequence[bytes], m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if whole else [_mth(leaves, lo, hi)]
    k = _split(n)
    if m <= k:
        return _subproof(leaves, m, lo, lo + k, whole) + [_mth(leaves, lo + k, hi)]
    return _subproof(leaves, m - k, lo + k, hi, False) + [_mth(leaves, lo, lo + k)]


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2: does ``proof`` show the ``first``-leaf tree with root
    ``first_root`` is a prefix of the ``second``-leaf tree with root ``second_root``?"""
    if not 0 <= first <= second:
        return False
    if any(len(p) != HASH_SIZE for p in proof) or len(first_root) != HASH_SIZE or len(second_root) != HASH_SIZE:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first tree is itself a node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root

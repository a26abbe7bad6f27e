"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and proof verification. Pure functions.

leaf = SHA-256(0x00 || data); node = SHA-256(0x01 || left || right); the empty tree hashes to
SHA-256(""). A *frontier* is the list of roots of the perfect subtrees that make up a tree of
size n, left to right (one per set bit of n): enough to append and to compute the root in
O(log n) without reading old leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def frontier_append(frontier: list[bytes], size: int, leaf: bytes) -> list[bytes]:
    """The frontier of the tree of ``size + 1`` leaves, from that of ``size`` leaves."""
    new = [*frontier, leaf]
    merged_size = size
    # Each trailing 1 bit of the old size is a perfect subtree that now pairs with the new one.
    while merged_size & 1:
        right = new.pop()
        left = new.pop()
        new.append(node_hash(left, right))
        merged_size >>= 1
    return new


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """MTH of the tree a frontier describes."""
    if not frontier:
        return EMPTY_ROOT
    acc = frontier[-1]
    for subtree in reversed(frontier[:-1]):
        acc = node_hash(subtree, acc)
    return acc


def pack_frontier(frontier: Sequence[bytes]) -> bytes:
    return b"".join(frontier)


def unpack_frontier(blob: bytes) -> list[bytes]:
    return [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) for leaf ``index`` in the tree of ``leaves``."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError("index out of range")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(leaves[:k], index), root(leaves[k:])]
    return [*inclusion_proof(leaves[k:], index - k), root(leaves[:k])]


def consistency_proof(leaves: Sequence[bytes], first: int) -> list[bytes]:
    """PROOF(m, D[n]): the tree of the first ``first`` leaves is a prefix of ``leaves``."""
    n = len(leaves)
    if not 0 < first <= n:
        raise ValueError("first size out of range")
    return _subproof(leaves, first, True)


def _subproof(leaves: Sequence[bytes], m: int, complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(leaves[:k], m, complete), root(leaves[k:])]
    return [*_subproof(leaves[k:], m - k, False), root(leaves[:k])]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """RFC 9162 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    acc = leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            acc = node_hash(sibling, acc)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            acc = node_hash(acc, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and acc == expected_root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2."""
    if first == second:
        return not proof and first_root == second_root
    if not 0 < first < second or not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # first is a power of two: its root is the first node
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
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0

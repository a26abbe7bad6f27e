"""RFC 6962 Merkle functions against their recursive definitions, with hypothesis."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog import merkle


def leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_known_vectors() -> None:
    # From RFC 6962's reference test data (certificate-transparency-go): empty and one-leaf roots.
    assert merkle.root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    two = merkle.root([merkle.leaf_hash(b"\x00"), merkle.leaf_hash(b"\x10")])
    assert two == hashlib.sha256(b"\x01" + merkle.leaf_hash(b"\x00") + merkle.leaf_hash(b"\x10")).digest()


@given(st.integers(min_value=0, max_value=300))
@settings(max_examples=60, deadline=None)
def test_frontier_root_equals_recursive_root(n: int) -> None:
    frontier: list[bytes] = []
    for size, leaf in enumerate(leaves(n)):
        frontier = merkle.frontier_append(frontier, size, leaf)
    assert len(frontier) == bin(n).count("1")
    assert merkle.frontier_root(frontier) == merkle.root(leaves(n))
    assert merkle.unpack_frontier(merkle.pack_frontier(frontier)) == frontier


@given(st.integers(min_value=1, max_value=130).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
@settings(max_examples=80, deadline=None)
def test_inclusion_proofs_verify_and_tampering_fails(case: tuple[int, int]) -> None:
    n, index = case
    tree = leaves(n)
    proof = merkle.inclusion_proof(tree, index)
    top = merkle.root(tree)
    assert merkle.verify_inclusion(tree[index], index, n, proof, top)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), index, n, proof, top)
    if proof:
        bad = [*proof[:-1], bytes(32)]
        assert not merkle.verify_inclusion(tree[index], index, n, bad, top)
    if n > 1:
        assert not merkle.verify_inclusion(tree[index], (index + 1) % n, n, proof, top)


@given(st.integers(min_value=2, max_value=130).flatmap(lambda n: st.tuples(st.integers(1, n - 1), st.just(n))))
@settings(max_examples=80, deadline=None)
def test_consistency_proofs_verify_and_forks_fail(case: tuple[int, int]) -> None:
    m, n = case
    tree = leaves(n)
    proof = merkle.consistency_proof(tree, m)
    assert merkle.verify_consistency(m, n, merkle.root(tree[:m]), merkle.root(tree), proof)
    forked = [*tree[: m - 1], merkle.leaf_hash(b"rewritten"), *tree[m:]]
    assert not merkle.verify_consistency(m, n, merkle.root(forked[:m]), merkle.root(tree), proof)
    assert not merkle.verify_consistency(m, n, merkle.root(tree[:m]), merkle.root(forked), proof)

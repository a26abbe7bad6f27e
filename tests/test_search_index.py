"""The in-memory face index, against a brute-force reference."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.search_index import FaceIndex


def unit(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), operations=st.lists(st.tuples(st.sampled_from(["put", "remove"]),
                                                                   st.integers(0, 7), st.integers(0, 3)), max_size=30),
       top_k=st.integers(1, 6))
def test_search_equals_a_brute_force_reference(seed: int, operations: list[tuple[str, int, int]], top_k: int) -> None:
    rng = np.random.default_rng(seed)
    index = FaceIndex(dimension=16, capacity=2)
    reference: dict[str, np.ndarray] = {}
    for op, subject, rows in operations:
        name = f"s{subject}"
        if op == "put":
            vectors = unit(rng, rows)
            index.put(name, vectors)
            if rows:
                reference[name] = vectors
            else:
                reference.pop(name, None)
        else:
            index.remove(name)
            reference.pop(name, None)
    assert len(index) == sum(len(v) for v in reference.values())
    query = unit(rng, 1)[0]
    expected = sorted(((float((v @ query).max()), s) for s, v in reference.items()), reverse=True)[:top_k]
    got = index.search(query[None], top_k)[0]
    assert [h.subject_id for h in got] == [s for _, s in expected]
    assert np.allclose([h.score for h in got], [score for score, _ in expected], atol=1e-5)


def test_bulk_load_and_an_empty_index() -> None:
    index = FaceIndex(dimension=16)
    assert index.search(np.zeros((2, 16), np.float32), 3) == [[], []]
    rng = np.random.default_rng(1)
    vectors = unit(rng, 100)
    index.bulk_load([f"s{i}" for i in range(100)], vectors)
    hits = index.search(vectors[42:43], 3)[0]
    assert hits[0].subject_id == "s42" and abs(hits[0].score - 1.0) < 1e-5 and len(hits) == 3
    index.remove("s42")
    assert index.search(vectors[42:43], 1)[0][0].subject_id != "s42"
    assert index.subjects == 99 and len(index) == 99

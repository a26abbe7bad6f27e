"""The search indexes against a brute-force reference: the exact index by itself, the
approximate one through the exact re-rank (which must make its answers the reference's when every
list is scanned), both before and after the approximate index has trained its lists."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.search_index import ExactIndex, Hit, SearchIndex, rerank
from identity_service.search.ann_index import IvfIndex, index_factory, lists_for


def unit(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), operations=st.lists(st.tuples(st.sampled_from(["put", "remove"]),
                                                                   st.integers(0, 7), st.integers(0, 3)), max_size=30),
       top_k=st.integers(1, 6))
@pytest.mark.parametrize("kind", ["exact", "ivf"])
def test_search_equals_a_brute_force_reference(kind: str, seed: int, operations: list[tuple[str, int, int]],
                                               top_k: int) -> None:
    rng = np.random.default_rng(seed)
    # One list and 8 training rows: a few puts train it, so both of its states are exercised.
    index: SearchIndex = (ExactIndex(dimension=16, capacity=2) if kind == "exact"
                          else IvfIndex(16, expected_rows=0, nprobe=1, lists=1, train_rows=8))
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
    if not index.exact:
        got = rerank(query[None], [got], reference, top_k)[0]
    assert [h.subject_id for h in got] == [s for _, s in expected]
    assert np.allclose([h.score for h in got], [score for score, _ in expected], atol=1e-5)


def test_bulk_load_and_an_empty_index() -> None:
    index = ExactIndex(dimension=16)
    assert index.search(np.zeros((2, 16), np.float32), 3) == [[], []]
    rng = np.random.default_rng(1)
    vectors = unit(rng, 100)
    index.bulk_load([f"s{i}" for i in range(100)], vectors)
    hits = index.search(vectors[42:43], 3)[0]
    assert hits[0].subject_id == "s42" and abs(hits[0].score - 1.0) < 1e-5 and len(hits) == 3
    index.remove("s42")
    assert index.search(vectors[42:43], 1)[0][0].subject_id != "s42"
    assert index.subjects == 99 and len(index) == 99


def clustered(rng: np.random.Generator, n: int, dim: int = 32) -> np.ndarray:
    centres = rng.standard_normal((20, dim)).astype(np.float32)
    v = centres[rng.integers(0, 20, n)] + 0.3 * rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_a_trained_ivf_index_finds_near_duplicates_and_follows_changes() -> None:
    rng = np.random.default_rng(3)
    vectors = clustered(rng, 4000)
    index = IvfIndex(32, expected_rows=4000, nprobe=4, lists=32)
    index.bulk_load([f"s{i}" for i in range(4000)], vectors)
    assert index.trained and len(index) == 4000 and index.subjects == 4000
    assert 32 < index.nbytes() / 4000 < 4 * 32  # 8-bit codes: about a byte a dimension, plus ids
    reference = {f"s{i}": vectors[i][None] for i in range(4000)}
    probes = vectors[:200] + 0.02 * rng.standard_normal((200, 32)).astype(np.float32)
    found = rerank(probes, index.search(probes, 5), reference, 5)
    assert all(hits[0].subject_id == f"s{i}" for i, hits in enumerate(found))
    # Online: a subject replaced by new rows, another removed, a new one added; no rebuild.
    moved = clustered(rng, 2)
    index.put("s7", moved)
    index.remove("s8")
    index.put("new", vectors[8][None])
    assert len(index) == 4001 and index.subjects == 3999 + 1
    reference.update({"s7": moved, "new": vectors[8][None]})
    del reference["s8"]
    assert rerank(vectors[8][None], index.search(vectors[8][None], 3), reference, 3)[0][0].subject_id == "new"
    assert rerank(moved[1][None], index.search(moved[1][None], 3), reference, 3)[0][0].subject_id == "s7"
    assert all(h.subject_id != "s8" for h in index.search(vectors[8][None], 50)[0])


def test_rerank_scores_exactly_and_drops_subjects_gone_meanwhile() -> None:
    rng = np.random.default_rng(5)
    vectors = clustered(rng, 3)
    candidates = [[Hit("a", 0.5), Hit("b", 0.9), Hit("gone", 0.99)]]
    got = rerank(vectors[:1], candidates, {"a": vectors[:2], "b": vectors[2:3]}, 2)[0]
    assert [h.subject_id for h in got] == ["a", "b"]
    assert got[0].score == pytest.approx(1.0, abs=1e-6)
    assert got[1].score == pytest.approx(float(vectors[2] @ vectors[0]), abs=1e-6)


@pytest.mark.parametrize(("kind", "rows", "expected"), [
    ("exact", 10**6, ExactIndex), ("ivf", 0, IvfIndex), ("auto", 49_999, ExactIndex), ("auto", 50_000, IvfIndex)])
def test_the_setting_chooses_the_index(kind: str, rows: int, expected: type) -> None:
    make: Callable[[int, int], SearchIndex] = index_factory(kind, ivf_min_templates=50_000, nprobe=8)
    assert isinstance(make(8, rows), expected)
    with pytest.raises(ValueError, match="unknown"):
        index_factory("hnsw", ivf_min_templates=1, nprobe=1)


def test_lists_grow_with_the_square_root_of_the_size() -> None:
    assert lists_for(1000) == 1
    assert lists_for(100_000) == 1024 and lists_for(1_000_000) == 4096


@pytest.mark.parametrize("kind", ["exact", "ivf"])
def test_put_many_is_many_puts(kind: str) -> None:
    rng = np.random.default_rng(9)
    vectors = clustered(rng, 600)
    one: SearchIndex
    many: SearchIndex
    if kind == "exact":
        one, many = ExactIndex(32), ExactIndex(32)
    else:
        one, many = (IvfIndex(32, expected_rows=600, nprobe=8, lists=8) for _ in range(2))
    items = [(f"s{i}", vectors[3 * i:3 * i + 1 + i % 3]) for i in range(200)]
    for subject, rows in items:
        one.put(subject, rows)
    many.put_many(items[:100])
    many.put_many(items[100:])
    many.put_many([("s5", vectors[:0])])  # no rows: the subject is gone
    one.remove("s5")
    assert len(one) == len(many) and one.subjects == many.subjects == 199
    reference = {s: v for s, v in items if s != "s5"}
    for query in vectors[::37]:
        a, b = (rerank(query[None], index.search(query[None], 5), reference, 5)[0] for index in (one, many))
        assert [h.subject_id for h in a] == [h.subject_id for h in b]
    if kind == "ivf":  # its row ranges would overlap; the exact index keeps the last
        with pytest.raises(ValueError, match="twice"):
            many.put_many([("x", vectors[:1]), ("x", vectors[1:2])])

"""In-memory indexes for 1:N search (faces and voices): decrypted templates, or codes made
from them, live only here, in process memory.

``SearchIndex`` is the port: the brute-force ``ExactIndex`` below (one float32 matrix, a query is
one matrix-vector product) is the reference and the default for small deployments; an
approximate index (``identity_service.search.ann_index``) answers from compressed codes, and
``rerank`` turns its candidates into exact scores from the decrypted templates, so the scores a
caller sees, and whether they match, are the same whichever index found them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Hit:
    subject_id: str
    score: float


class SearchIndex(Protocol):
    """Rows of unit vectors owned by subjects (a subject may own several); thread-safe.
    ``exact``: scores are the true inner products (otherwise candidates to ``rerank``)."""

    dimension: int
    exact: bool

    def __len__(self) -> int: ...

    @property
    def subjects(self) -> int: ...

    def nbytes(self) -> int:
        """Memory held for the rows, the codes and the row-to-subject maps."""
        ...

    def put(self, subject_id: str, vectors: np.ndarray) -> None:
        """Replace the subject's rows with ``vectors`` (k x dimension, unit length)."""
        ...

    def put_many(self, items: Sequence[tuple[str, np.ndarray]]) -> None:
        """``put`` for many subjects at once (an index build)."""
        ...

    def bulk_load(self, subject_ids: list[str], vectors: np.ndarray) -> None:
        """Add many one-row subjects at once (index build, benchmarks)."""
        ...

    def remove(self, subject_id: str) -> None: ...

    def search(self, queries: np.ndarray, top_k: int) -> list[list[Hit]]:
        """For each query, up to ``top_k`` subjects, best first (an approximate index may
        return more, as candidates for ``rerank``)."""
        ...


# Builds an empty index for vectors of a dimension, told how many rows it will hold soon.
IndexFactory = Callable[[int, int], SearchIndex]


def rerank(queries: np.ndarray, candidates: Sequence[Sequence[Hit]],
           vectors_of: Mapping[str, np.ndarray], top_k: int) -> list[list[Hit]]:
    """Exact scores for an approximate index's candidates: each candidate's best inner product
    over its decrypted templates (``vectors_of``; a subject missing there has been deleted
    meanwhile and is dropped), the ``top_k`` best per query."""
    results = []
    for query, hits in zip(np.asarray(queries, dtype=np.float32), candidates, strict=True):
        scored = [Hit(h.subject_id, float((vectors_of[h.subject_id] @ query).max()))
                  for h in hits if h.subject_id in vectors_of and len(vectors_of[h.subject_id])]
        scored.sort(key=lambda h: (-h.score, h.subject_id))
        results.append(scored[:top_k])
    return results


class ExactIndex:
    """Brute force over a float32 matrix: exact, 4 bytes a dimension a row. Thread-safe."""

    exact = True

    def __init__(self, dimension: int = 512, capacity: int = 1024) -> None:
        self.dimension = dimension
        self._lock = threading.Lock()
        self._matrix = np.zeros((capacity, dimension), dtype=np.float32)
        self._owner = np.full(capacity, -1, dtype=np.int64)  # subject number per row, -1 = free
        self._used = 0  # rows [0, used) have been handed out; freed ones are reused first
        self._free: list[int] = []
        self._subjects: list[str] = []
        self._number: dict[str, int] = {}
        self._rows: dict[str, list[int]] = {}

    def __len__(self) -> int:
        with self._lock:
            return self._used - len(self._free)

    @property
    def subjects(self) -> int:
        with self._lock:
            return len(self._rows)

    def nbytes(self) -> int:
        return int(self._matrix.nbytes + self._owner.nbytes)

    def _grow(self, needed: int) -> None:
        capacity = len(self._matrix)
        if needed <= capacity:
            return
        new_capacity = max(needed, capacity * 2)
        matrix = np.zeros((new_capacity, self.dimension), dtype=np.float32)
        matrix[:capacity] = self._matrix
        owner = np.full(new_capacity, -1, dtype=np.int64)
        owner[:capacity] = self._owner
        self._matrix, self._owner = matrix, owner

    def _release(self, subject_id: str) -> None:
        for row in self._rows.pop(subject_id, []):
            self._owner[row] = -1
            self._matrix[row] = 0.0
            self._free.append(row)

    def put(self, subject_id: str, vectors: np.ndarray) -> None:
        """Replace the subject's rows with ``vectors`` (k x dimension, unit length)."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimension)
        with self._lock:
            self._release(subject_id)
            if subject_id not in self._number:
                self._number[subject_id] = len(self._subjects)
                self._subjects.append(subject_id)
            number = self._number[subject_id]
            rows = []
            for vector in vectors:
                if self._free:
                    row = self._free.pop()
                else:
                    self._grow(self._used + 1)
                    row = self._used
                    self._used += 1
                self._matrix[row] = vector
                self._owner[row] = number
                rows.append(row)
            if rows:
                self._rows[subject_id] = rows

    def put_many(self, items: Sequence[tuple[str, np.ndarray]]) -> None:
        for subject_id, vectors in items:
            self.put(subject_id, vectors)

    def bulk_load(self, subject_ids: list[str], vectors: np.ndarray) -> None:
        """Append many one-row subjects at once (index build, benchmarks)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        with self._lock:
            start = self._used
            self._grow(start + len(subject_ids))
            self._matrix[start:start + len(subject_ids)] = vectors
            for offset, subject_id in enumerate(subject_ids):
                if subject_id in self._rows:
                    raise ValueError(f"{subject_id} is already indexed; use put")
                self._number[subject_id] = len(self._subjects)
                self._subjects.append(subject_id)
                self._owner[start + offset] = self._number[subject_id]
                self._rows[subject_id] = [start + offset]
            self._used += len(subject_ids)

    def remove(self, subject_id: str) -> None:
        with self._lock:
            self._release(subject_id)

    def search(self, queries: np.ndarray, top_k: int) -> list[list[Hit]]:
        """For each query, the ``top_k`` subjects with the highest score (best row per subject)."""
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, self.dimension)
        with self._lock:
            used = self._used
            if used == 0:
                return [[] for _ in queries]
            scores = self._matrix[:used] @ queries.T  # used x Q
            owner = self._owner[:used]
            results = []
            for column in range(scores.shape[1]):
                results.append(self._best_subjects(scores[:, column], owner, top_k))
            return results

    def _best_subjects(self, scores: np.ndarray, owner: np.ndarray, top_k: int) -> list[Hit]:
        scores = np.where(owner >= 0, scores, -np.inf)
        # Take a few more rows than asked: a subject with several rows may fill several places.
        take = min(len(scores), max(top_k * 4, top_k + 8))
        while True:
            best = np.argpartition(-scores, take - 1)[:take] if take < len(scores) else np.arange(len(scores))
            best = best[np.argsort(-scores[best])]
            hits: list[Hit] = []
            seen: set[int] = set()
            for row in best:
                if not np.isfinite(scores[row]):
                    break
                number = int(owner[row])
                if number in seen:
                    continue
                seen.add(number)
                hits.append(Hit(self._subjects[number], float(scores[row])))
                if len(hits) == top_k:
                    return hits
            if take >= len(scores):
                return hits
            take = min(len(scores), take * 4)


def exact_index(dimension: int, expected_rows: int) -> ExactIndex:
    """An ``IndexFactory`` for the brute-force index."""
    return ExactIndex(dimension, capacity=max(1024, expected_rows))

"""The in-memory face index for 1:N search: decrypted templates live only here, in process
memory, as rows of one float32 matrix; a query is one matrix-vector product."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Hit:
    subject_id: str
    score: float


class FaceIndex:
    """Rows of unit vectors owned by subjects; a subject may own several rows. Thread-safe."""

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

    def vectors_of(self, subject_id: str) -> np.ndarray:
        with self._lock:
            return self._matrix[self._rows.get(subject_id, [])].copy()

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

"""An approximate ``SearchIndex``: faiss's inverted file with 8-bit scalar-quantised codes
(IVF-SQ8), about 520 bytes a 512-d template where brute force holds 2,048.

How it answers: the query is compared with the ``lists`` centroids (k-means over the indexed
templates), the rows of the ``nprobe`` nearest lists are scored from their codes, and the best
rows' subjects come back as candidates with approximate scores; ``identity.search_index.rerank``
makes their scores exact from the decrypted templates. Why IVF-SQ8 and not HNSW or PQ: on this
2-core machine HNSW32-SQ8 reached recall@1 0.69-0.86 where IVF-SQ8 reached 0.905-1.000 and took
4-10x longer to build; PQ64 gave the same recall as SQ8 at 10x the build time
(``scripts/explore_ann_index.py``).

Online changes need no rebuild: rows are added to their nearest list and removed through a hash
map from row id to list position. The centroids are trained once, on the first
``train_rows`` rows (a build's first pages, or the first enrollments of a new deployment; until
then the rows are searched exhaustively); a deployment whose faces drift far from that sample
gets new centroids at its next start, when the index is rebuilt.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import faiss
import numpy as np

from identity.search_index import Hit, IndexFactory, SearchIndex, exact_index

# faiss wants at least this many training rows per centroid (fewer and its k-means warns).
ROWS_PER_LIST = 39
# Training rows per centroid. At 1M rows and 4096 lists, 64 a list built in 61-115 s against
# 167-173 s for 256, with the same recall@1 on the realistic population (0.999) but 0.944 against
# 0.989 on random vectors; 128 is between (a million rows train on 524,288).
TRAIN_PER_LIST = 128
# Rows scored per candidate subject asked for: room for subjects that hold several rows.
ROWS_PER_CANDIDATE = 2


def lists_for(rows: int) -> int:
    """Inverted lists for an index expected to hold ``rows``: about 4 sqrt(n), a power of two,
    so each probe scans ~sqrt(n)/4 rows; 1 for small indexes."""
    if rows < 64 * ROWS_PER_LIST:
        return 1
    return int(min(65536, 2 ** round(math.log2(4 * math.sqrt(rows)))))


class IvfIndex:
    """IVF-SQ8 rows owned by subjects; thread-safe. ``candidates`` extra subjects per query are
    returned beyond ``top_k`` for the exact re-rank to choose from."""

    exact = False

    def __init__(self, dimension: int, *, expected_rows: int, nprobe: int, candidates: int = 8,
                 lists: int | None = None, train_rows: int | None = None) -> None:
        self.dimension = dimension
        self.nprobe = nprobe
        self.candidates = candidates
        self._lists = lists or lists_for(expected_rows)
        self._train_rows = train_rows or max(self._lists * ROWS_PER_LIST,
                                             min(expected_rows, self._lists * TRAIN_PER_LIST))
        # L2, not inner product: for unit vectors both rank alike (|q - x|^2 = 2 - 2 q.x), but
        # k-means centroids are shorter than unit length and an inner-product quantizer sends
        # queries to the longest centroids rather than the nearest (recall@1 0.73 against 0.99+
        # on the realistic population at 100k).
        quantizer = faiss.IndexFlatL2(dimension)
        self._ivf = faiss.IndexIVFScalarQuantizer(quantizer, dimension, self._lists, faiss.ScalarQuantizer.QT_8bit,
                                                  faiss.METRIC_L2)
        self._ivf.nprobe = min(nprobe, self._lists)
        self._ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]  # not in its stubs
        self._quantizer = quantizer  # faiss does not own it: keep it alive as long as the index
        self._lock = threading.Lock()
        # Row ids are handed out in order and never reused, so a subject's rows are one range.
        self._next_row = 0
        self._owner = np.full(1024, -1, dtype=np.int32)  # subject number per row id, -1 = removed
        self._subjects: list[str] = []
        self._number: dict[str, int] = {}
        self._first = np.zeros(1024, dtype=np.int64)  # per subject number: first row id
        self._count = np.zeros(1024, dtype=np.int32)  # per subject number: rows (0 = none)
        self._rows = 0
        # Until trained: rows waiting for the centroids, searched exhaustively meanwhile.
        self._pending_ids: list[np.ndarray] = []
        self._pending: list[np.ndarray] = []

    # --- sizes ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return self._rows

    @property
    def subjects(self) -> int:
        with self._lock:
            return int(np.count_nonzero(self._count[:len(self._subjects)]))

    @property
    def trained(self) -> bool:
        return bool(self._ivf.is_trained)

    def nbytes(self) -> int:
        """Codes and ids in the lists, the centroids, the id hash map (about 16 bytes a row in
        faiss's unordered_map, estimated), and this class's arrays."""
        with self._lock:
            codes = self._ivf.ntotal * (self._ivf.code_size + 8 + 16)
            centroids = self._lists * self.dimension * 4 if self.trained else 0
            pending = sum(p.nbytes for p in self._pending)
            return int(codes + centroids + pending + self._owner.nbytes + self._first.nbytes + self._count.nbytes)

    # --- changes --------------------------------------------------------------------------------

    def put(self, subject_id: str, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimension))
        with self._lock:
            self._release(subject_id)
            if len(vectors):
                self._add([subject_id], vectors, rows_each=len(vectors))

    def put_many(self, items: Sequence[tuple[str, np.ndarray]]) -> None:
        """One add for every subject's rows (faiss starts its threads per call: adding five
        rows costs about what adding thousands does)."""
        shaped = [(s, np.asarray(v, dtype=np.float32).reshape(-1, self.dimension)) for s, v in items]
        with self._lock:
            for subject_id, _ in shaped:
                self._release(subject_id)
            shaped = [(s, v) for s, v in shaped if len(v)]
            if not shaped:
                return
            subjects = [s for s, _ in shaped]
            if len(set(subjects)) != len(subjects):
                raise ValueError("a subject appears twice in one put_many")
            self._add(subjects, np.ascontiguousarray(np.concatenate([v for _, v in shaped])),
                      rows_each=[len(v) for _, v in shaped])

    def bulk_load(self, subject_ids: list[str], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimension))
        with self._lock:
            for subject_id in subject_ids:
                if subject_id in self._number and self._count[self._number[subject_id]]:
                    raise ValueError(f"{subject_id} is already indexed; use put")
            self._add(subject_ids, vectors, rows_each=1)

    def remove(self, subject_id: str) -> None:
        with self._lock:
            self._release(subject_id)

    def _add(self, subject_ids: list[str], vectors: np.ndarray, *, rows_each: int | list[int]) -> None:
        numbers = np.empty(len(subject_ids), dtype=np.int32)
        for i, subject_id in enumerate(subject_ids):
            number = self._number.get(subject_id)
            if number is None:
                number = self._number[subject_id] = len(self._subjects)
                self._subjects.append(subject_id)
            numbers[i] = number
        ids = np.arange(self._next_row, self._next_row + len(vectors), dtype=np.int64)
        self._next_row += len(vectors)
        self._owner = _grown(self._owner, self._next_row, -1)
        counts = np.full(len(numbers), rows_each) if isinstance(rows_each, int) else np.asarray(rows_each)
        self._owner[ids] = np.repeat(numbers, counts)
        self._first = _grown(self._first, len(self._subjects), 0)
        self._count = _grown(self._count, len(self._subjects), 0)
        self._first[numbers] = ids[0] + np.concatenate(([0], np.cumsum(counts)[:-1]))
        self._count[numbers] = counts
        self._rows += len(vectors)
        if self.trained:
            self._ivf.add_with_ids(vectors, ids)
            return
        self._pending.append(vectors.copy() if self._pending or len(vectors) < self._train_rows else vectors)
        self._pending_ids.append(ids)
        if sum(len(p) for p in self._pending) >= self._train_rows:
            self._train()

    def _train(self) -> None:
        vectors = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        ids = self._pending_ids[0] if len(self._pending_ids) == 1 else np.concatenate(self._pending_ids)
        live = self._owner[ids] >= 0
        if not live.all():
            vectors, ids = vectors[live], ids[live]
        sample = vectors
        if len(sample) > self._lists * TRAIN_PER_LIST:
            sample = sample[np.random.default_rng(0).choice(len(sample), self._lists * TRAIN_PER_LIST, replace=False)]
        self._ivf.train(sample)
        self._ivf.add_with_ids(vectors, ids)
        self._pending, self._pending_ids = [], []

    def _release(self, subject_id: str) -> None:
        number = self._number.get(subject_id)
        if number is None or not self._count[number]:
            return
        ids = np.arange(self._first[number], self._first[number] + self._count[number], dtype=np.int64)
        self._owner[ids] = -1
        self._rows -= len(ids)
        self._count[number] = 0
        if self.trained:
            self._ivf.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids)))
        # Pending rows are filtered through _owner when searched or trained.

    # --- search ---------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, top_k: int) -> list[list[Hit]]:
        """Up to ``top_k + candidates`` subjects per query, by approximate score."""
        queries = np.ascontiguousarray(np.asarray(queries, dtype=np.float32).reshape(-1, self.dimension))
        want = top_k + self.candidates
        rows = want * ROWS_PER_CANDIDATE
        with self._lock:
            if self._rows == 0:
                return [[] for _ in queries]
            if self.trained:
                distances, ids = self._ivf.search(queries, min(rows, self._ivf.ntotal))
                scores = 1.0 - distances / 2.0
            else:
                scores, ids = self._search_pending(queries, rows)
            return [self._best_subjects(s, i, want) for s, i in zip(scores, ids, strict=True)]

    def _search_pending(self, queries: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
        vectors = np.concatenate(self._pending)
        ids = np.concatenate(self._pending_ids)
        scores = queries @ vectors.T
        scores[:, self._owner[ids] < 0] = -np.inf
        take = min(rows, scores.shape[1])
        best = np.argpartition(-scores, take - 1, axis=1)[:, :take]
        return np.take_along_axis(scores, best, axis=1), ids[best]

    def _best_subjects(self, scores: np.ndarray, ids: np.ndarray, want: int) -> list[Hit]:
        hits: list[Hit] = []
        seen: set[int] = set()
        for score, row in sorted(zip(scores.tolist(), ids.tolist(), strict=True), reverse=True):
            if row < 0 or not math.isfinite(score):
                continue
            number = int(self._owner[row])
            if number < 0 or number in seen:
                continue
            seen.add(number)
            hits.append(Hit(self._subjects[number], float(score)))
            if len(hits) == want:
                break
        return hits


def _grown(array: np.ndarray, needed: int, fill: int) -> np.ndarray:
    if needed <= len(array):
        return array
    grown = np.full(max(needed, 2 * len(array)), fill, dtype=array.dtype)
    grown[:len(array)] = array
    return grown


def index_factory(kind: str, *, ivf_min_templates: int, nprobe: int, lists: int = 0) -> IndexFactory:
    """The ``IndexFactory`` a setting names: ``exact``, ``ivf``, or ``auto`` (ivf from
    ``ivf_min_templates`` rows at build time, exact below). ``lists`` 0: from the size."""
    if kind not in {"auto", "exact", "ivf"}:
        raise ValueError(f"unknown search index {kind!r}")

    def make(dimension: int, expected_rows: int) -> SearchIndex:
        if kind == "exact" or (kind == "auto" and expected_rows < ivf_min_templates):
            return exact_index(dimension, expected_rows)
        return IvfIndex(dimension, expected_rows=expected_rows, nprobe=nprobe, lists=lists or None)

    return make

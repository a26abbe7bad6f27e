"""How the approximate index was chosen: faiss-cpu's IVF-SQ8, HNSW-SQ8 and IVF-PQ side by side,
measured on this machine before one was built in (``identity_service/search/ann_index.py`` is
the IVF-SQ8 that won; ``scripts/bench_search.py`` measures it).

    .venv/bin/python scripts/explore_ann_index.py [--size 200000] [--queries 200]

For random unit vectors (no structure: the hardest case) and clustered ones (300 centres plus
noise, closer to real face embeddings, where people of one look sit near each other): build time,
one query's time beside a brute-force product in the same run, recall@1 of the index's first
answer and after an exact re-rank of its top 50 against the float vectors. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

DIM = 512
CANDIDATES = 50


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def vectors(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "random":
        return unit(rng.standard_normal((size, DIM), dtype=np.float32))
    centres = unit(rng.standard_normal((300, DIM), dtype=np.float32))
    return unit(centres[rng.integers(0, 300, size)] + 0.06 * rng.standard_normal((size, DIM), dtype=np.float32))


def main() -> int:
    try:
        import faiss
    except ImportError:
        print("needs faiss-cpu: .venv/bin/pip install faiss-cpu", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    faiss.omp_set_num_threads(2)
    rng = np.random.default_rng(0)
    results = []
    for kind in ("random", "clustered"):
        data = vectors(kind, args.size, rng)
        queries = unit(data[rng.integers(0, args.size, args.queries)]
                       + 0.03 * rng.standard_normal((args.queries, DIM), dtype=np.float32))
        started = time.perf_counter()
        truth = np.array([int(np.argmax(data @ q)) for q in queries])
        brute_ms = (time.perf_counter() - started) / len(queries) * 1000
        for factory, nprobe in (("IVF1024,SQ8", 32), ("HNSW32,SQ8", 0), ("IVF1024,PQ64", 32)):
            index = faiss.index_factory(DIM, factory, faiss.METRIC_INNER_PRODUCT)
            started = time.perf_counter()
            index.train(data[: min(50_000, args.size)])
            index.add(data)
            build_s = time.perf_counter() - started
            if nprobe:
                faiss.extract_index_ivf(index).nprobe = nprobe
            else:
                index.hnsw.efSearch = 64
            started = time.perf_counter()
            for query in queries:
                index.search(query[None], CANDIDATES)
            query_ms = (time.perf_counter() - started) / len(queries) * 1000
            _, found = index.search(queries, CANDIDATES)
            reranked = np.array([row[int(np.argmax(data[row[row >= 0]] @ q))] for row, q in zip(found, queries,
                                                                                                  strict=True)])
            row = {"data": kind, "index": factory, "build_s": round(build_s, 1), "query_ms": round(query_ms, 3),
                   "brute_force_ms": round(brute_ms, 3), "recall_at_1": float(np.mean(found[:, 0] == truth)),
                   "recall_at_1_reranked": float(np.mean(reranked == truth))}
            results.append(row)
            print(f"{kind:<9} {factory:<13} build {build_s:6.1f} s  query {query_ms:6.2f} ms (brute force "
                  f"{brute_ms:.2f} ms)  recall@1 {row['recall_at_1']:.3f}, re-ranked top {CANDIDATES} "
                  f"{row['recall_at_1_reranked']:.3f}", flush=True)
    print(json.dumps({"size": args.size, "queries": args.queries, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

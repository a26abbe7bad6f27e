"""1:N search latency of the face index against a bare numpy matrix product, in one run.

    .venv/bin/python scripts/bench_search.py [--sizes 10000,100000,1000000] [--repeat 20] [--batch 32]

For each size: random unit vectors (512-d) loaded into the index; one query (top 5) and a batch
of queries, median over repeats, each beside ``matrix @ query`` plus ``argpartition`` on the same
matrix (the baseline), as a ratio; memory per template. Target on the 2-core reference machine:
1M templates, one query <= 100 ms. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity.search_index import FaceIndex
from scripts._bench import median_seconds

DIM = 512


def measure(size: int, rng: np.random.Generator, repeat: int, batch: int, top_k: int) -> dict[str, float]:
    vectors = rng.standard_normal((size, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = FaceIndex(DIM, capacity=size)
    index.bulk_load([f"s{i}" for i in range(size)], vectors)
    queries = vectors[rng.integers(0, size, batch)] + 0.01 * rng.standard_normal((batch, DIM), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    one = queries[:1]

    def bare_one() -> None:
        scores = vectors @ one[0]
        np.argpartition(-scores, top_k)[:top_k]

    def bare_batch() -> None:
        scores = vectors @ queries.T
        np.argpartition(-scores, top_k, axis=0)[:top_k]

    assert index.search(one, top_k)[0][0].score > 0.9, "the index did not find the query's own vector"
    q1 = median_seconds(lambda: index.search(one, top_k), repeat)
    b1 = median_seconds(bare_one, repeat)
    qb = median_seconds(lambda: index.search(queries, top_k), max(3, repeat // 4)) / batch
    bb = median_seconds(bare_batch, max(3, repeat // 4)) / batch
    return {"templates": size, "query_ms": round(q1 * 1000, 3), "bare_query_ms": round(b1 * 1000, 3),
            "query_ratio": round(q1 / b1, 3), "batch_query_ms": round(qb * 1000, 3),
            "bare_batch_query_ms": round(bb * 1000, 3), "batch_ratio": round(qb / bb, 3),
            "bytes_per_template": round(index.nbytes() / size, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    results = []
    print(f"{'templates':>10} {'one query':>10} {'bare':>9} {'ratio':>6} {'batch/query':>12} {'bare':>9} "
          f"{'ratio':>6} {'bytes/template':>15}")
    for size in (int(s) for s in args.sizes.split(",")):
        r = measure(size, rng, args.repeat, args.batch, args.top_k)
        results.append(r)
        print(f"{size:>10,} {r['query_ms']:>8.2f}ms {r['bare_query_ms']:>7.2f}ms {r['query_ratio']:>5.2f}x "
              f"{r['batch_query_ms']:>10.2f}ms {r['bare_batch_query_ms']:>7.2f}ms {r['batch_ratio']:>5.2f}x "
              f"{r['bytes_per_template']:>15,.0f}")
    largest = max(results, key=lambda r: r["templates"])
    print(json.dumps({"results": results, "target_query_ms_at_1m": 100,
                      "meets_target": largest["templates"] < 1_000_000 or largest["query_ms"] <= 100}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

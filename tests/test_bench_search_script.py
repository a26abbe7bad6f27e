"""The search benchmarks run and report what the README quotes (tiny sizes: a smoke run of the
scripts themselves, not a measurement)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT


def run(*args: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_bench_search_reports_recall_speed_and_memory() -> None:
    report = run("scripts/bench_search.py", "--sizes", "3000", "--queries", "40", "--repeat", "2",
                 "--batch", "4", "--shards", "2")
    results = report["results"]
    assert isinstance(results, list) and {r["kind"] for r in results} == {"random", "realistic"}
    for r in results:
        # 3,000 rows are too few to train 256 lists: the index searches exhaustively, and the
        # re-rank must then give exactly brute force's answers.
        assert r["recall_at_1"] == 1.0 and r["first_identical"] == 1.0
        assert r["bytes_per_template"] > 0 and r["speedup"] > 0 and r["build_seconds"] >= 0
    sharded = report["sharded"]
    assert isinstance(sharded, dict) and sharded["shards"] == 2 and sharded["recall_at_1"] == 1.0
    assert set(report["targets"]) == {"query_ms", "speedup", "recall_at_1", "bytes_per_template"}


def test_bench_search_store_times_the_rerank_from_storage() -> None:
    report = run("scripts/bench_search_store.py", "--subjects", "60", "--repeat", "3")
    assert report["templates"] == 300 and report["backend"] == "sqlite"
    assert float(report["approximate_with_rerank_ms"]) > 0 and float(report["brute_force_ms"]) > 0

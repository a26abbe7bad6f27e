"""What the exact re-rank costs in the service: one face query through ``LikenessService`` with
the approximate index (its candidates' sealed templates read from storage in one transaction,
their data keys unwrapped, the templates decrypted and scored) against the same service with the
brute-force index, over the same database, in one run.

    .venv/bin/python scripts/bench_search_store.py [--subjects 2000] [--repeat 50]
        [--database-url postgresql+psycopg://...] [--top-k 10]

Subjects get five face templates each, as an enrollment stores them (synthetic people drawn like
real ones, ``scripts/_face_population.py``). The probe is a new template of an enrolled person.
Prints both medians, and how long the approximate index took to build from storage (read,
unwrap, decrypt, train, add: what a replica does at start); the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditlog.model import Actor, ActorType
from identity_service.inference.biometrics import Biometrics
from identity_service.settings import Settings
from identity_service.wiring import build_app
from kernel.errors import LikenessTaken
from scripts._bench import median_seconds
from scripts._face_population import FacePopulation, real_embeddings

ACTOR = Actor(ActorType.SERVICE, "bench")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    faces = FacePopulation.fit(*real_embeddings())
    people = faces.people(args.subjects, rng)
    biometrics = Biometrics.load(Settings().resolved_model_dir())
    with tempfile.TemporaryDirectory() as folder:
        # A strict face threshold: at the 1:1 one (0.22) about one pair of synthetic people in a few
        # hundred scores above it, and most of 1,000 would be refused as LIKENESS_TAKEN (README, scaling).
        base = {"data_dir": Path(folder), "template_key_file": Path(folder) / "keys.json", "callers": "[]",
                "face_match_threshold": 0.6}
        if args.database_url:
            base["database_url"] = args.database_url
        # Enough lists that the approximate index is trained and really approximate at this size.
        ivf_app = build_app(Settings(**base, search_index="ivf", search_ivf_lists=16, search_ivf_nprobe=4),
                            biometrics=biometrics)
        exact_app = build_app(Settings(**base, search_index="exact"), biometrics=biometrics, store=ivf_app.store,
                              migrate_now=False)
        try:
            ivf, exact = ivf_app.likeness, exact_app.likeness
            assert ivf is not None and exact is not None
            refused = 0
            for i, person in enumerate(people):
                templates = faces.templates(np.repeat(person[None], 5, axis=0), rng)
                ivf_app.enrollments.start(f"p{i}", reenroll=False, actor=ACTOR)
                try:
                    ivf.store_templates(f"p{i}", list(templates), None, actor=ACTOR)
                except LikenessTaken:  # at the 1:1 threshold, about one synthetic person in a
                    refused += 1       # thousand resembles an earlier one: see README, scaling
            started = time.perf_counter()
            ivf.build_index()
            build_seconds = time.perf_counter() - started
            exact.build_index()
            probe = faces.templates(people[7:8], rng)
            with_store = median_seconds(lambda: ivf.search_vectors("face", probe, args.top_k), args.repeat)
            brute = median_seconds(lambda: exact.search_vectors("face", probe, args.top_k), args.repeat)
            index_only = median_seconds(lambda: ivf.index.search(probe, args.top_k), args.repeat)
        finally:
            ivf_app.close()
            exact_app.likeness.close() if exact_app.likeness else None
    backend = "postgresql" if args.database_url else "sqlite"
    result = {"backend": backend, "subjects": args.subjects, "templates": 5 * args.subjects,
              "approximate_with_rerank_ms": round(with_store * 1000, 3),
              "approximate_index_only_ms": round(index_only * 1000, 3),
              "rerank_ms": round((with_store - index_only) * 1000, 3), "brute_force_ms": round(brute * 1000, 3),
              "candidates": args.top_k + 8, "refused_as_taken": refused,
              "build_seconds": round(build_seconds, 3),
              "build_us_per_template": round(build_seconds / (5 * args.subjects) * 1e6, 1)}
    print(f"{backend}, {args.subjects:,} subjects x 5 templates: approximate + re-rank from storage "
          f"{result['approximate_with_rerank_ms']:.2f} ms (index {result['approximate_index_only_ms']:.2f} ms, "
          f"re-rank of {result['candidates']} candidates {result['rerank_ms']:.2f} ms); brute force "
          f"{result['brute_force_ms']:.2f} ms; index built from storage in {result['build_seconds']:.2f} s "
          f"({result['build_us_per_template']:.0f} us a template: read, unwrap, decrypt, add)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

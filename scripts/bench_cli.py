"""How long the operator CLI takes to answer, against the bare cost of starting Python with click.

    .venv/bin/python scripts/bench_cli.py [--repeat 7]

Each command runs as a fresh process (as an operator types it); the median of --repeat runs is
reported with its ratio to `python -c "import click"` in the same run (the baseline: the least any
click program can cost). Target: `identity-service --help` within 3x of the baseline. The last
line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = str(ROOT / ".venv" / "bin" / "identity-service")


def median_seconds(command: list[str], repeat: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "LIKENESS_DATA_DIR": folder}
        baseline = median_seconds([sys.executable, "-c", "import click"], args.repeat, env)
        commands = {"--help": [CLI, "--help"], "audit --help": [CLI, "audit", "--help"],
                    "config show": [CLI, "config", "show"], "audit stats": [CLI, "audit", "stats"]}
        results = {name: median_seconds(command, args.repeat, env) for name, command in commands.items()}
    print(f"baseline: python -c 'import click'  {baseline * 1000:7.1f} ms")
    for name, seconds in results.items():
        print(f"identity-service {name:<16} {seconds * 1000:7.1f} ms  {seconds / baseline:5.1f}x baseline")
    print(json.dumps({"baseline_ms": round(baseline * 1000, 1),
                      "ms": {k: round(v * 1000, 1) for k, v in results.items()},
                      "ratio": {k: round(v / baseline, 2) for k, v in results.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CI runs the hostile-input check: every case of scripts/hostile_input.py against a real server
(`identity-service serve` in a subprocess), each answered with its refusal and none growing the
server's peak memory by more than 300 MB."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_every_hostile_case_is_refused_within_the_memory_bound() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "hostile_input.py"), "--bound-mb", "300"],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["failed"] == 0 and summary["cases"] >= 11
    assert summary["max_growth_mb"] <= 300

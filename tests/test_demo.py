"""CI runs the quickstart as a user would: scripts/demo.sh against a real serve process."""

from __future__ import annotations

import subprocess

from tests.conftest import ROOT


def test_the_quickstart_runs_every_step() -> None:
    done = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], capture_output=True, text=True, timeout=900,
                          cwd=ROOT)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    printed = done.stdout
    assert printed.count("... ok") == 10 and "every step succeeded" in printed
    assert "PERMISSION_DECISION_ALLOW" in printed and "PERMISSION_DECISION_DENY" in printed
    assert "rejected offline" in printed

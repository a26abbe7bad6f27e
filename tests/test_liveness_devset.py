"""The liveness dev set built from ../shared/data, evaluated by scripts/eval_liveness.py."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_dev_set_attacks_fail_and_bona_fide_recordings_pass(tmp_path: Path, model_dir: Path) -> None:
    build = subprocess.run([sys.executable, "scripts/build_liveness_devset.py", "--out", str(tmp_path / "devset")],
                           cwd=ROOT, capture_output=True, text=True, timeout=600, check=True)
    assert "recordings in" in build.stdout
    manifest = tmp_path / "devset" / "manifest.csv"
    with manifest.open() as handle:
        kinds = {row["attack_type"] for row in csv.DictReader(handle)}
    assert kinds == {"none", "photo_video", "pad_photo", "spliced", "dubbed", "wrong_digits"}
    run = subprocess.run([sys.executable, "scripts/eval_liveness.py", "--manifest", str(manifest), "--model-dir",
                          str(model_dir)], cwd=ROOT, capture_output=True, text=True, timeout=900, check=True)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert {"apcer", "bpcer", "apcer_by_type"} <= result.keys()
    assert result["bona_fide"] == 17 and result["attacks"] == 27 and result["refused"] == {}
    assert result["bpcer"] <= 0.10
    for kind in ("photo_video", "pad_photo", "spliced", "wrong_digits"):
        assert result["apcer_by_type"][kind] == 0.0, kind
    # Photo videos are asked to turn, as the service asks: a still photo cannot.
    assert result["failed_checks"]["photo_video:head_turns"] == 4
    # Dubbing is the open gap: lips against speech energy, and speech without lips, still let
    # one dubbed clip of 11 through when this was written. This bound only guards against it
    # getting worse; the target is 0.
    assert result["apcer_by_type"]["dubbed"] <= 0.10

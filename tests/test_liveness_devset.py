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
    assert result["bona_fide"] == 26 and result["attacks"] == 28 and result["refused"] == {}
    # Lip sync is decided by a model fitted without the clip's source (leave one source out).
    assert len(result["bpcer_by_source"]) == 7
    assert result["bpcer"] <= 0.10
    for kind in ("photo_video", "pad_photo", "spliced", "dubbed", "wrong_digits"):
        assert result["apcer_by_type"][kind] == 0.0, kind
    # Photo videos are asked to turn, as the service asks: a still photo cannot.
    assert result["failed_checks"]["photo_video:head_turns"] == 4


def test_lip_sync_against_many_dubs(model_dir: Path) -> None:
    """Eleven dubbed clips are too few to say how often a dub lines up by chance:
    scripts/eval_lip_sync.py dubs every talking face with every LibriSpeech reader and every other
    source's voice, each source's faces scored by a model fitted without that source. Measured
    when this was written: dubs accepted 1.3% at 3 s, 0.9% at 5 s (threshold 2.33, 1 in 100),
    0 of 324 at 8 s (3.09, 1 in 1,000: 0.3 expected); 1 of 26 genuine clips rejected. These
    bounds guard the numbers against getting worse, with room for one dub at 8 s, since an
    expected 0.3 can come out as 1."""
    run = subprocess.run([sys.executable, "scripts/eval_lip_sync.py", "--model-dir", str(model_dir),
                          "--lengths", "3,5,8"], cwd=ROOT, capture_output=True, text=True, timeout=900, check=True)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    by_length = result["by_length"]
    assert result["bona_fide"] == 26 and result["bpcer"] <= 0.08
    assert by_length["3"]["dubs"] > 2000 and by_length["3"]["apcer"] <= 0.02
    assert by_length["5"]["dubs"] > 700 and by_length["5"]["apcer"] <= 0.015
    assert by_length["8"]["dubs"] >= 300 and round(by_length["8"]["apcer"] * by_length["8"]["dubs"]) <= 1
    assert by_length["3"]["threshold"] == 2.33 and by_length["8"]["threshold"] > 3.0
    assert by_length["8"]["bpcer"] == 0.0

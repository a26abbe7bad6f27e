"""The model manifest, pull and verify, provider choice, and the service refusing bad models."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from identity_service.inference import ort as ort_module
from identity_service.inference.manifest import MODELS, LocalSource, ModelFile, ModelSpec
from identity_service.inference.store import pull, verify
from tests.test_cli import CLI, env_for


def spec_with(tmp_path: Path, content: bytes, *sources: LocalSource) -> ModelSpec:
    return ModelSpec(name="tiny", role="test", licence="MIT",
                     files=(ModelFile("weights.bin", hashlib.sha256(content).hexdigest(), len(content)),),
                     sources=sources)


def test_the_real_models_are_in_place_and_intact(model_dir: Path) -> None:
    assert verify(model_dir) == []
    record = json.loads((model_dir / "voice_embedder" / "ecapa_tdnn.onnx.json").read_text())
    assert record["sources"]["embedding_model.ckpt"].startswith("0575cb64845e6b9a")


def test_every_model_has_a_licence_and_a_source_and_insightface_says_non_commercial() -> None:
    for spec in MODELS:
        assert spec.licence and spec.sources and all(len(f.sha256) == 64 for f in spec.files)
    assert "non-commercial" in next(s for s in MODELS if s.name == "face_embedder").licence


def test_pull_takes_the_first_source_whose_hash_matches(tmp_path: Path) -> None:
    good = b"the real weights"
    (tmp_path / "src/bad").mkdir(parents=True)
    (tmp_path / "src/good").mkdir(parents=True)
    (tmp_path / "src/bad/weights.bin").write_bytes(b"a tampered copy!")
    (tmp_path / "src/good/weights.bin").write_bytes(good)
    spec = spec_with(tmp_path, good, LocalSource("missing"), LocalSource("bad"), LocalSource("good"))
    lines = pull(tmp_path / "models", source_dir=tmp_path / "src", models=(spec,))
    assert lines == [f"tiny/weights.bin: from local folder {tmp_path / 'src'}/good"]
    assert (tmp_path / "models/tiny/weights.bin").read_bytes() == good
    assert pull(tmp_path / "models", source_dir=tmp_path / "src", models=(spec,)) == ["tiny/weights.bin: present"]
    assert sorted(p.name for p in (tmp_path / "models/tiny").iterdir()) == ["weights.bin"]  # no partial files


def test_pull_names_what_no_source_has_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "src/bad").mkdir(parents=True)
    (tmp_path / "src/bad/weights.bin").write_bytes(b"wrong")
    spec = spec_with(tmp_path, b"right", LocalSource("bad"))
    with pytest.raises(RuntimeError, match=r"tiny/weights\.bin"):
        pull(tmp_path / "models", source_dir=tmp_path / "src", models=(spec,))
    assert list((tmp_path / "models/tiny").iterdir()) == []


def test_verify_finds_missing_and_altered_files(tmp_path: Path) -> None:
    content = b"weights" * 100
    spec = spec_with(tmp_path, content, LocalSource("x"))
    assert [p.problem for p in verify(tmp_path, models=(spec,))] == ["missing"]
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny/weights.bin").write_bytes(content[:-1] + b"X")  # same size, one byte flipped
    problems = verify(tmp_path, models=(spec,))
    assert len(problems) == 1 and "altered" in problems[0].problem
    assert verify(tmp_path, models=(spec,), deep=False) == []  # the fast check looks at sizes only


def test_providers_cpu_without_a_gpu_and_cuda_with_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ort_module.pick_providers("cpu") == ["CPUExecutionProvider"]
    # Test doubles for onnxruntime-gpu's provider list and a GPU device node.
    monkeypatch.setattr(ort_module.ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort_module, "gpu_present", lambda: True)
    assert ort_module.pick_providers("auto") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort_module, "gpu_present", lambda: False)
    assert ort_module.pick_providers("auto") == ["CPUExecutionProvider"]
    monkeypatch.setattr(ort_module.ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(RuntimeError, match="onnxruntime-gpu"):
        ort_module.pick_providers("cuda")


def test_sessions_run_on_what_this_machine_has(biometrics: object) -> None:
    expected = "CUDAExecutionProvider" if ort_module.gpu_present() and "CUDAExecutionProvider" in \
        ort_module.ort.get_available_providers() else "CPUExecutionProvider"
    assert biometrics.providers[0] == expected  # type: ignore[attr-defined]


def _serve(tmp_path: Path, model_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "serve", "--address", "127.0.0.1:0"], capture_output=True, text=True, timeout=120,
                          env=env_for(tmp_path, LIKENESS_MODEL_DIR=str(model_dir)))


def test_serve_refuses_to_start_without_models_and_says_how_to_fix(tmp_path: Path) -> None:
    result = _serve(tmp_path, tmp_path / "no-models")
    assert result.returncode == 2
    assert "face_detector/scrfd_500m_bnkps.onnx: missing" in result.stderr
    assert "identity-service models pull" in result.stderr


@pytest.mark.parametrize("name", ["face_embedder/w600k_mbf.onnx", "face_landmarks/2d106det.onnx",
                                  "face_antispoof/MiniFASNetV2.onnx", "speech_recognizer/model.bin"])
def test_serve_refuses_an_altered_model_and_names_it(tmp_path: Path, model_dir: Path, name: str) -> None:
    farm = tmp_path / "models"
    for source in model_dir.rglob("*"):
        if source.is_file():
            target = farm / source.relative_to(model_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(source, target)
    altered = farm / name
    data = bytearray(altered.read_bytes())
    altered.unlink()
    data[len(data) // 2] ^= 0xFF
    altered.write_bytes(bytes(data))
    result = _serve(tmp_path, farm)
    assert result.returncode == 2
    assert f"{name}: altered" in result.stderr, result.stderr[-2000:]


def test_models_cli_list_and_verify(tmp_path: Path, model_dir: Path) -> None:
    env = env_for(tmp_path, LIKENESS_MODEL_DIR=str(model_dir))
    listed = subprocess.run([*CLI, "models", "list", "--json"], env=env, capture_output=True, text=True, check=True)
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["face_detector"]["status"] == "present" and "non-commercial" in rows["face_detector"]["licence"]
    assert rows["voice_embedder"]["licence"].startswith("Apache-2.0")
    ok = subprocess.run([*CLI, "models", "verify"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run([*CLI, "models", "verify"], env=env_for(tmp_path, LIKENESS_MODEL_DIR=str(tmp_path / "x")),
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "missing" in missing.stderr

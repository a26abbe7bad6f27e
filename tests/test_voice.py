"""Voice on real recordings from ../shared/data: the ONNX pipeline against speechbrain itself,
speaker verification accuracy, and bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from identity_service.inference import media
from identity_service.inference.biometrics import Biometrics
from identity_service.inference.voice import fbank
from kernel.errors import DomainError
from scripts._media import mux_audio
from tests.conftest import ROOT, SHARED

LIBRISPEECH = SHARED / "data" / "speech" / "librispeech"
UTTERANCE = LIBRISPEECH / "1688" / "1688-142285-0000.flac"


def wav(samples: np.ndarray, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def encode(samples: np.ndarray, codec: str, container: str, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        mux_audio(out, out.add_stream(codec, rate=rate, layout="mono"), samples)
    return buffer.getvalue()


def reason(call: object) -> str:
    with pytest.raises(DomainError) as caught:
        call()  # type: ignore[operator]
    return caught.value.reason


def test_onnx_pipeline_matches_speechbrain_on_real_utterances(biometrics: Biometrics, model_dir: Path) -> None:
    """The torch-free path (numpy filterbank + exported ECAPA) against speechbrain's own Fbank,
    sentence normalisation and ECAPA-TDNN on the pinned checkpoint."""
    torch = pytest.importorskip("torch", reason="the export extra (torch, speechbrain) is installed by setup.sh")
    from identity_service.inference.ecapa_export import import_speechbrain, load_ecapa

    import_speechbrain()
    from speechbrain.lobes.features import Fbank
    from speechbrain.processing.features import InputNormalization

    network = load_ecapa(model_dir / "voice_embedder")
    front, norm = Fbank(n_mels=80), InputNormalization(norm_type="sentence", std_norm=False)
    files = sorted(LIBRISPEECH.glob("*/*.flac"))[::7] + sorted((SHARED / "data/speech/speechbrain").rglob("*.wav"))[:2]
    assert len(files) >= 8
    for path in files:
        samples = media.decode_audio(path.read_bytes()).samples
        with torch.no_grad():
            reference_feats = norm(front(torch.from_numpy(samples)[None]), torch.ones(1))
            reference = network(reference_feats).numpy().reshape(-1)
        assert np.abs(reference_feats.numpy()[0] - fbank(samples)).max() < 0.01
        ours = biometrics.voice_embedder.embed_batch([samples])[0]
        cosine = float(ours @ reference / np.linalg.norm(reference))
        assert cosine >= 0.999, (path.name, cosine)


def test_voice_eer_on_librispeech_is_at_most_one_percent(model_dir: Path) -> None:
    run = subprocess.run([sys.executable, "scripts/eval_voice.py", "--root", str(LIBRISPEECH), "--model-dir",
                          str(model_dir)], cwd=ROOT, capture_output=True, text=True, timeout=600, check=True)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert {"pairs", "auc", "eer", "tar_at_far_1e-3", "threshold_at_far_1e-3"} <= result.keys()
    assert result["pairs"] == 1225 and result["unscorable_pairs"] == 0
    assert result["eer"] <= 0.01 and result["auc"] > 0.999


def test_eval_voice_reports_refused_files_instead_of_skipping_them(tmp_path: Path, model_dir: Path) -> None:
    for speaker in ("george", "jackson"):  # 8 kHz spoken digits: refused, and said so
        (tmp_path / speaker).mkdir()
        for name in sorted((SHARED / "data/digits" / speaker).glob("*.wav"))[:2]:
            (tmp_path / speaker / name.name).write_bytes(name.read_bytes())
    (tmp_path / "quiet").mkdir()
    (tmp_path / "quiet" / "silence.wav").write_bytes(wav(np.zeros(48_000)))
    (tmp_path / "reader").mkdir()
    for name in sorted((LIBRISPEECH / "1688").glob("*.flac"))[:2]:
        (tmp_path / "reader" / name.name).write_bytes(name.read_bytes())
    command = [sys.executable, "scripts/eval_voice.py", "--root", str(tmp_path), "--model-dir", str(model_dir)]
    # One speaker with speech: no impostor pair can be scored, and the script says so.
    alone = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert alone.returncode == 2 and "cannot score" in alone.stderr and "Traceback" not in alone.stderr
    (tmp_path / "other").mkdir()
    for name in sorted((LIBRISPEECH / "1998").glob("*.flac"))[:2]:
        (tmp_path / "other" / name.name).write_bytes(name.read_bytes())
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["files"] == 9 and result["refused"] == 4 and result["no_speech"] == 1
    assert set(result["refused_files"].values()) == {"ERROR_REASON_AUDIO_SAMPLE_RATE_TOO_LOW"}
    assert result["no_speech_files"] == ["quiet/silence.wav"]
    assert result["pairs"] == 6 and result["unscorable_pairs"] == 30  # pairs: those scored


def test_silence_is_no_speech(biometrics: Biometrics) -> None:
    assert reason(lambda: biometrics.voice_from_audio(wav(np.zeros(48_000)))) == "ERROR_REASON_NO_SPEECH"
    hum = 0.01 * np.sin(2 * np.pi * 50 * np.arange(48_000) / 16_000)
    assert reason(lambda: biometrics.voice_from_audio(wav(hum))) == "ERROR_REASON_NO_SPEECH"


def test_clipped_audio_is_refused(biometrics: Biometrics) -> None:
    samples = media.decode_audio(UTTERANCE.read_bytes()).samples
    assert biometrics.voice_from_audio(wav(samples)).speech_seconds > 5  # the same recording, not clipped
    assert reason(lambda: biometrics.voice_from_audio(wav(samples * 40))) == "ERROR_REASON_AUDIO_CLIPPED"


def test_an_8_khz_file_is_refused_with_its_rate(biometrics: Biometrics) -> None:
    digits = next((SHARED / "data/digits/george").glob("*.wav")).read_bytes()
    with pytest.raises(DomainError) as caught:
        biometrics.voice_from_audio(digits)
    assert caught.value.reason == "ERROR_REASON_AUDIO_SAMPLE_RATE_TOO_LOW"
    assert caught.value.metadata == {"sample_rate": "8000", "min_sample_rate": "16000"}


def test_common_codecs_decode_and_exotic_ones_are_refused(biometrics: Biometrics) -> None:
    samples = media.decode_audio(UTTERANCE.read_bytes()).samples
    reference = biometrics.voice_from_audio(UTTERANCE.read_bytes()).embedding
    for codec, container in (("libopus", "ogg"), ("aac", "mp4"), ("flac", "flac")):
        rate = 48_000 if codec == "libopus" else 16_000
        embedding = biometrics.voice_from_audio(encode(samples, codec, container, rate)).embedding
        assert float(embedding @ reference) > 0.9, codec
    for codec, container in (("nellymoser", "flv"), ("adpcm_ms", "wav")):
        with pytest.raises(DomainError) as caught:
            biometrics.voice_from_audio(encode(samples[:32_000], codec, container))
        assert caught.value.reason == "ERROR_REASON_MEDIA_UNSUPPORTED"
        assert caught.value.metadata["codec"] == codec


def test_corrupt_truncated_and_trackless_files_get_a_reason(biometrics: Biometrics) -> None:
    raw = UTTERANCE.read_bytes()
    assert reason(lambda: biometrics.voice_from_audio(b"\x00" * 4096)) == "ERROR_REASON_MEDIA_CORRUPT"
    assert reason(lambda: biometrics.voice_from_audio(raw[:300])) in {"ERROR_REASON_MEDIA_CORRUPT",
                                                                       "ERROR_REASON_NO_SPEECH"}
    # A cut-off file keeps what decoded: enough speech still embeds.
    assert biometrics.voice_from_audio(raw[: len(raw) // 2]).speech_seconds > 2
    no_audio = (SHARED / "data/video/d0.mp4").read_bytes()
    assert reason(lambda: biometrics.voice_from_audio(no_audio)) == "ERROR_REASON_NO_AUDIO_TRACK"
    image = (SHARED / "data/faces/two_people.jpg").read_bytes()
    assert reason(lambda: biometrics.voice_from_audio(image)) == "ERROR_REASON_NO_AUDIO_TRACK"

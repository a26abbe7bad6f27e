"""Model latency and the inference layer's overhead against bare ONNX Runtime, in one run.

    .venv/bin/python scripts/bench_models.py [--repeat 30] [--device auto|cpu|cuda] [--model-dir DIR]

Reports ms per face for detection (one 640x640 frame, and a batch of 8 frames) and for the
embedding (one crop, and a batch of 16), ms per second of audio for VAD and the voice embedding,
and for each model the ratio of the layer's call to a bare ``session.run`` on the same input
tensor (target <= 1.1x). Timings are medians over interleaved repeats. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity_service.inference import media
from identity_service.inference.biometrics import Biometrics
from identity_service.inference.face import FaceDetector, FaceEmbedder, align
from identity_service.inference.voice import VoiceEmbedder, fbank
from identity_service.settings import Settings
from scripts._bench import median_seconds

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def timed_pair(layer: Callable[[], Any], bare: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median seconds of each, measured alternately so drift hits both alike."""
    layer()
    bare()
    a, b = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        layer()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        bare()
        b.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args()
    bio = Biometrics.load(args.model_dir or Settings().resolved_model_dir(), device=args.device)
    assert isinstance(bio.detector, FaceDetector) and isinstance(bio.face_embedder, FaceEmbedder)
    assert isinstance(bio.voice_embedder, VoiceEmbedder)
    image = media.decode_image((SHARED / "faces/knn_examples/train/obama/obama.jpg").read_bytes())
    audio = media.decode_audio((SHARED / "speech/librispeech/1688/1688-142285-0000.flac").read_bytes()).samples
    r = args.repeat
    results: dict[str, Any] = {"providers": bio.providers, "repeat": r}
    rows: list[tuple[str, str]] = []

    def overhead(name: str, model: Any, tensor: np.ndarray) -> None:
        session, feed = model.session, {model.input_name: tensor}
        layer_s, bare_s = timed_pair(lambda: model.run(tensor), lambda: session.run(None, feed), r)
        results[f"{name}_layer_ms"] = round(layer_s * 1000, 3)
        results[f"{name}_bare_ms"] = round(bare_s * 1000, 3)
        results[f"{name}_overhead"] = round(layer_s / bare_s, 3)
        rows.append((f"{name}: layer / bare session.run", f"{layer_s * 1000:.2f} / {bare_s * 1000:.2f} ms  "
                     f"= {layer_s / bare_s:.3f}x"))

    # Face detection.
    det = bio.detector
    blob1, _ = det.preprocess([image])
    blob8, _ = det.preprocess([image] * 8)
    overhead("detect_1", det.model, blob1)
    overhead("detect_8", det.model, blob8)
    full1 = median_seconds(lambda: det.detect_batch([image]), r)
    full8 = median_seconds(lambda: det.detect_batch([image] * 8), r)
    results["detect_ms_per_frame"] = round(full1 * 1000, 3)
    results["detect_ms_per_frame_batch8"] = round(full8 / 8 * 1000, 3)
    rows.append(("detect, whole call (pre + run + post)", f"{full1 * 1000:.2f} ms a frame, "
                 f"{full8 / 8 * 1000:.2f} ms a frame in a batch of 8"))

    # Face embedding.
    face = det.detect_batch([image])[0][0]
    crop = align(image, face.keypoints)
    crops1, crops16 = crop[None], np.stack([crop] * 16)
    emb = bio.face_embedder
    tensor1 = np.ascontiguousarray((crops1[:, :, :, ::-1].transpose(0, 3, 1, 2).astype(np.float32) - 127.5) / 127.5)
    tensor16 = np.ascontiguousarray((crops16[:, :, :, ::-1].transpose(0, 3, 1, 2).astype(np.float32) - 127.5) / 127.5)
    overhead("embed_face_1", emb.model, tensor1)
    overhead("embed_face_16", emb.model, tensor16)
    e1 = median_seconds(lambda: emb.embed_batch(crops1), r)
    e16 = median_seconds(lambda: emb.embed_batch(crops16), r)
    results["embed_face_ms"] = round(e1 * 1000, 3)
    results["embed_face_ms_batch16"] = round(e16 / 16 * 1000, 3)
    rows.append(("embed face, whole call", f"{e1 * 1000:.2f} ms a face, {e16 / 16 * 1000:.2f} ms a face in 16"))

    # Voice.
    seconds = len(audio) / media.SAMPLE_RATE
    voice = bio.voice_embedder
    feats = fbank(audio)[None]
    overhead("embed_voice", voice.model, feats)
    fb = median_seconds(lambda: fbank(audio), r)
    ev = median_seconds(lambda: voice.embed_batch([audio]), max(5, r // 3))
    vad = median_seconds(lambda: bio.vad.probabilities(audio), max(5, r // 3))
    results["fbank_ms_per_audio_s"] = round(fb / seconds * 1000, 3)
    results["embed_voice_ms_per_audio_s"] = round(ev / seconds * 1000, 3)
    results["vad_ms_per_audio_s"] = round(vad / seconds * 1000, 3)
    rows.append(("voice: filterbank, embedding (incl. fbank), VAD",
                 f"{fb / seconds * 1000:.2f}, {ev / seconds * 1000:.2f}, {vad / seconds * 1000:.2f} ms per s of audio"))

    worst = max(v for k, v in results.items() if k.endswith("_overhead"))
    results["worst_overhead"] = worst
    results["meets_overhead_target"] = worst <= 1.1
    width = max(len(k) for k, _ in rows)
    print(f"models on {', '.join(bio.providers)} (median of {r})")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Variants of the lip-sync signal, each evaluated as eval_lip_sync.py evaluates the shipped one.

    .venv/bin/python scripts/explore_lip_sync.py [--variants baseline,area,...] [--lengths 3,5,8]

The record behind README's "tried and dropped" for lip sync, all on the bands view alone (the
phonetic view is eval_lip_sync.py's): every variant is scored leaving each source of ``talking/``
and ``talking2/`` out (scripts/eval_lip_sync.leave_one_source_out: weights and dub statistics
fitted on the other sources), at the service's short-recording threshold (2.33, 1 dub in 100) at
every length, as they were measured before the threshold tightened with length. Visual variants
measure the mouth differently from the 106 landmarks of every frame (25 fps, where the service
measures 12.5 times a second); audio variants change the bands, the context or the ridge penalty.

    baseline   the service's bands view alone: inner-lip gap over mouth width, 12.5 times a second
    fps25      the same gap on every frame
    area       the inner-lip polygon's area over the width squared
    outer      the outer lips' centre gap over the width
    eyenose    the inner gap over the eyes-to-nose distance (head turns shrink the width, not it)
    ocular     the inner gap over the distance between the eyes
    smooth3    the service's gap averaged over three samples
    taps20     five taps -> nine, 0.2 s either side
    bands16    eight bands -> sixteen, log-spaced 100 Hz - 7 kHz
    ridge0.1   ridge penalty 0.01 -> 0.1
    ridge0.001 ridge penalty 0.01 -> 0.001
    whisper16  the audio side from Whisper tiny's encoder states (the service's recogniser model),
               projected on their first 16 principal components over the LibriSpeech readers
    concat16   the eight bands and those 16 components side by side, one map over both

Prints one row a variant (whole clips rejected; per length genuine cuts rejected and dubs
accepted), then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity_service.inference import media
from identity_service.inference.landmarks import INNER_PAIRS, LEFT_CORNER, RIGHT_CORNER
from identity_service.settings import Settings
from identity_service.wiring import liveness_policy, load_recording_analyzer
from liveness.articulation import band_energies
from liveness.checks import MouthTrack, Observations
from scripts.eval_lip_sync import (
    BAND_EDGES_HZ,
    SHARED,
    clip_sources,
    leave_one_source_out,
    librispeech_samples,
)

# 106-landmark indices (insightface 2d106det): the inner lips in order around the mouth, the
# outer lips' centre points, the two eyes' contours and the base of the nose.
INNER_POLYGON = (65, 66, 62, 70, 69, 57, 60, 54)
OUTER_UPPER, OUTER_LOWER = 71, 53
LEFT_EYE, RIGHT_EYE = slice(33, 43), slice(87, 97)
NOSE_BASE = 80
BANDS16 = tuple(float(x) for x in np.geomspace(100.0, 7000.0, 17).round())

MouthMeasure = Callable[[np.ndarray], np.ndarray]


def _axes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mouth width and the unit normal to the corner-to-corner axis, per frame."""
    left, right = points[:, LEFT_CORNER], points[:, RIGHT_CORNER]
    width = np.maximum(np.linalg.norm(right - left, axis=1), 1e-6)
    axis = (right - left) / width[:, None]
    return width, np.stack([-axis[:, 1], axis[:, 0]], axis=1)


def inner_gap(points: np.ndarray) -> np.ndarray:
    """The inner lips' gap across the mouth's axis, unnormalised (pixels)."""
    _, normal = _axes(points)
    gaps = [np.sum((points[:, lower] - points[:, upper]) * normal, axis=1) for upper, lower in INNER_PAIRS]
    result: np.ndarray = np.mean(gaps, axis=0)
    return result


def _eyes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return points[:, LEFT_EYE].mean(axis=1), points[:, RIGHT_EYE].mean(axis=1)


MEASURES: dict[str, MouthMeasure] = {
    "fps25": lambda p: inner_gap(p) / _axes(p)[0],
    "area": lambda p: _polygon_area(p[:, INNER_POLYGON]) / _axes(p)[0] ** 2,
    "outer": lambda p: np.sum((p[:, OUTER_LOWER] - p[:, OUTER_UPPER]) * _axes(p)[1], axis=1) / _axes(p)[0],
    "eyenose": lambda p: inner_gap(p) / np.linalg.norm(p[:, NOSE_BASE] - sum(_eyes(p)) / 2, axis=1),
    "ocular": lambda p: inner_gap(p) / np.linalg.norm(_eyes(p)[0] - _eyes(p)[1], axis=1),
}
FIT_OPTIONS: dict[str, dict[str, Any]] = {
    "taps20": {"taps": (-20, -15, -10, -5, 0, 5, 10, 15, 20)},
    "bands16": {"band_edges_hz": BANDS16},
    "ridge0.1": {"ridge": 0.1},
    "ridge0.001": {"ridge": 0.001},
}
ENCODER_VARIANTS = ("whisper16", "concat16")
VARIANTS = ("baseline", *MEASURES, "smooth3", *FIT_OPTIONS, *ENCODER_VARIANTS)
ENCODER_COMPONENTS = 16
WHISPER_HOP_SECONDS = 0.02


def _polygon_area(polygon: np.ndarray) -> np.ndarray:
    x, y = polygon[..., 0], polygon[..., 1]
    area: np.ndarray = 0.5 * np.abs(np.sum(x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y, axis=1))
    return area


def every_frame_landmarks(analyzer: Any, data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Times and 106 landmarks of every frame, the face box held from the last frame with a face."""
    _, frames = media.video_frames(data, every_seconds=0.0, max_frames=2000)
    times: list[float] = []
    points: list[np.ndarray] = []
    batch: list[tuple[float, np.ndarray]] = []
    last = None

    def flush() -> None:
        nonlocal last
        found = analyzer.detector.detect_batch([image for _, image in batch])
        kept = []
        for (moment, image), faces in zip(batch, found, strict=True):
            if faces:
                last = max(faces, key=lambda f: f.width * f.height)
            if last is not None:
                kept.append((moment, image, last))
        if kept:
            points.extend(analyzer.landmarks.landmarks_batch([k[1] for k in kept], [k[2] for k in kept]))
            times.extend(k[0] for k in kept)
        batch.clear()

    for moment, image in frames:
        batch.append((moment, image))
        if len(batch) == 8:
            flush()
    if batch:
        flush()
    return np.array(times), np.stack(points)


class EncoderStates:
    """Whisper tiny's encoder output every 20 ms, projected on principal components fitted on
    the LibriSpeech readers (no clip of the evaluation), repeated to the 10 ms hops of the bands."""

    def __init__(self, model_dir: Path, readers: list[np.ndarray]) -> None:
        from faster_whisper import WhisperModel

        self.model = WhisperModel(str(model_dir), device="cpu", compute_type="int8")
        frames = np.concatenate([self.states(r) for r in readers])
        self.mean, self.scale = frames.mean(axis=0), frames.std(axis=0) + 1e-6
        _, _, components = np.linalg.svd((frames - self.mean) / self.scale, full_matrices=False)
        self.components = components[:ENCODER_COMPONENTS]

    def states(self, samples: np.ndarray) -> np.ndarray:
        samples = samples[: 30 * media.SAMPLE_RATE].astype(np.float32)
        features = self.model.feature_extractor(samples)
        frames = min(features.shape[-1], 3000)
        window = np.zeros((features.shape[0], 3000), np.float32)
        window[:, :frames] = features[:, :frames]
        encoded = np.asarray(self.model.encode(window))[0]
        result: np.ndarray = encoded[: int(len(samples) / media.SAMPLE_RATE / WHISPER_HOP_SECONDS)]
        return result

    def projected(self, samples: np.ndarray, hops: int) -> np.ndarray:
        """The projected states at ``hops`` 10 ms hops (the bands' count), the last held."""
        states = (self.states(samples) - self.mean) / self.scale @ self.components.T
        repeated = np.repeat(states, round(WHISPER_HOP_SECONDS / 0.01), axis=0)
        if len(repeated) < hops:
            repeated = np.concatenate([repeated, np.repeat(repeated[-1:], hops - len(repeated), axis=0)])
        result: np.ndarray = repeated[:hops].astype(np.float32)
        return result


def smoothed(track: MouthTrack) -> MouthTrack:
    padded = np.pad(track.openings.astype(np.float64), 1, mode="edge")
    return MouthTrack(track.times, np.convolve(padded, np.ones(3) / 3, mode="valid"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--lengths", default="3,5,8")
    args = parser.parse_args()
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    lengths = [float(x) for x in args.lengths.split(",")]
    settings = Settings()
    analyzer = load_recording_analyzer(settings)
    policy = liveness_policy(settings)
    sources = clip_sources()
    clips: dict[str, Observations] = {}
    samples: dict[str, np.ndarray] = {}
    landmarks: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in sorted(sources):
        data = (SHARED / name).read_bytes()
        clips[name] = analyzer.analyze(data, transcribe=False).observations
        samples[name] = media.decode_audio(data).samples
        if set(variants) & set(MEASURES):
            landmarks[name] = every_frame_landmarks(analyzer, data)
    readers = librispeech_samples()
    # Per audio representation: each clip's features and the LibriSpeech readers' (dub voices).
    audio_of: dict[str, dict[str, np.ndarray]] = {"bands8": {n: o.audio.articulation for n, o in clips.items()
                                                             if o.audio is not None}}
    readers_of = {"bands8": [band_energies(r, media.SAMPLE_RATE, BAND_EDGES_HZ) for r in readers]}
    if "bands16" in variants:
        audio_of["bands16"] = {n: band_energies(x, media.SAMPLE_RATE, BANDS16) for n, x in samples.items()}
        readers_of["bands16"] = [band_energies(r, media.SAMPLE_RATE, BANDS16) for r in readers]
    if set(variants) & set(ENCODER_VARIANTS):
        encoder = EncoderStates(settings.resolved_model_dir() / "speech_recognizer", readers)
        reader_states = [encoder.projected(r, len(b)) for r, b in zip(readers, readers_of["bands8"], strict=True)]
        clip_states = {n: encoder.projected(samples[n], len(b)) for n, b in audio_of["bands8"].items()}
        audio_of["whisper16"], readers_of["whisper16"] = clip_states, reader_states
        audio_of["concat16"] = {n: np.concatenate([b, clip_states[n]], axis=1) for n, b in audio_of["bands8"].items()}
        readers_of["concat16"] = [np.concatenate([b, x], axis=1)
                                  for b, x in zip(readers_of["bands8"], reader_states, strict=True)]
    results: dict[str, dict[str, object]] = {}
    print(f"lip-sync variants, leaving each source out: {len(clips)} clips, threshold {policy.min_lip_sync}")
    print(f"  {'variant':<11} {'clips rejected':>14}  " + "  ".join(f"{t:g} s: genuine / dubs" for t in lengths))
    for variant in variants:
        options = dict(FIT_OPTIONS.get(variant, {}))
        representation = variant if variant in audio_of else "bands8"
        columns = audio_of[representation][next(iter(clips))].shape[1]
        if representation != "bands8" and "band_edges_hz" not in options:
            # The model records its inputs' band edges; these inputs are not bands: numbered columns.
            options["band_edges_hz"] = tuple(float(i) for i in range(columns + 1))
        variant_clips = {}
        for name, obs in clips.items():
            audio, mouth = obs.audio, obs.mouth
            assert audio is not None and mouth is not None
            if variant in MEASURES:
                times, points = landmarks[name]
                mouth = MouthTrack(times, MEASURES[variant](points))
            elif variant == "smooth3":
                mouth = smoothed(mouth)
            audio = replace(audio, articulation=audio_of[representation][name])
            variant_clips[name] = replace(obs, audio=audio, mouth=mouth)
        voices = [("librispeech", v) for v in readers_of[representation]]
        genuine_rows, by_length = leave_one_source_out(variant_clips, sources, voices, policy, lengths, **options)
        rows = [row for rows in genuine_rows.values() for row in rows]
        rejected = sum(not ok for _, _, ok in rows)
        cells, summary = [], {}
        for seconds, scores in by_length.items():
            genuine, dubbed = np.array(scores["genuine"]), np.array(scores["dubbed"])
            g_rejected = int(np.sum(genuine < policy.min_lip_sync))
            d_accepted = int(np.sum(dubbed >= policy.min_lip_sync))
            cells.append(f"{g_rejected:>3}/{len(genuine):<3} {d_accepted:>4}/{len(dubbed):<5}")
            summary[f"{seconds:g}"] = {"genuine_rejected": g_rejected, "genuine": len(genuine),
                                       "dubs_accepted": d_accepted, "dubs": len(dubbed)}
        print(f"  {variant:<11} {rejected:>6}/{len(rows):<7}  " + "  ".join(f"{c:>20}" for c in cells), flush=True)
        results[variant] = {"clips_rejected": rejected, "clips": len(rows), "by_length": summary}
    print(json.dumps({"threshold": policy.min_lip_sync, "variants": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

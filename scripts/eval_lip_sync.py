"""Lip sync on real people from several sources, and against many dubs, leaving each source out.

    .venv/bin/python scripts/eval_lip_sync.py [--model-dir DIR] [--lengths 3,5,8] [--bands-only] [--write]

Every clip of ``talking/`` and ``talking2/`` in ../shared/data (real people speaking in their
own voice, from 7 sources named by each folder's MANIFEST.csv) is analysed once by the service's
recording analyser, and heard through the speech recogniser's encoder (the phonetic view,
projected on principal components fitted on the LibriSpeech readers only). Then, for each source
in turn, the lip-sync model (liveness/articulation.py) is fitted on the other sources only: each
view's map on their genuine clips, each view's null distribution and the two views' correlation
on their faces dubbed with LibriSpeech readers and with the other clips' own voices. The
held-out source's clips are scored whole as the service scores them (BPCER, per source with a
Wilson 95% interval) and cut to each of ``--lengths`` seconds, in their own voice and dubbed with
every voice of another source in both views (dubs accepted, APCER). No number printed comes from
a model that saw the source it is reported on. ``--bands-only`` scores the bands alone (the
decision before the phonetic view, and the service's without a recogniser). Every cut is decided
at the threshold the service applies to its length (``LivenessPolicy.lip_sync_threshold``: 1 dub
in 100 up to 5 s, tightening to 1 in 1,000 at 8 s).

``--write`` fits the model on every source and writes liveness/lip_sync_model.json (the bands)
and liveness/lip_sync_phonetic.json (the phonetic view), which the service ships. Prints the
table, then one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity_service.inference import media
from identity_service.inference.asr import SpeechRecognizer
from identity_service.settings import Settings
from identity_service.wiring import liveness_policy, load_recording_analyzer
from liveness.articulation import (
    HOP_SECONDS,
    ArticulationModel,
    LipSyncModel,
    PhoneticModel,
    PhoneticProjection,
    band_energies,
    fit_null,
    fit_weights,
    shipped_model,
)
from liveness.checks import LivenessPolicy, MouthTrack, Observations, lip_sync, lip_sync_correlation
from scripts._eval_common import wilson

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
SETS = ("talking", "talking2")
OFFSETS_SECONDS = (0.0, 1.3)
BAND_EDGES_HZ = (100.0, 300.0, 600.0, 1000.0, 1500.0, 2200.0, 3200.0, 4500.0, 7000.0)
TAPS = (-10, -5, 0, 5, 10)  # hops of 10 ms: 0.1 s either side
RIDGE = 0.01
NULL_LENGTHS = (3.0, 5.0, 8.0, 12.0)
MODEL_PATH = Path(__file__).resolve().parent.parent / "liveness" / "lip_sync_model.json"
PHONETIC_PATH = MODEL_PATH.with_name("lip_sync_phonetic.json")
PHONETIC_COMPONENTS = 16
# The phonetic map's inputs are components, not bands: its "band edges" number its columns.
PHONETIC_COLUMNS = tuple(float(i) for i in range(PHONETIC_COMPONENTS + 1))


def cut(obs: Observations, seconds: float, voice: np.ndarray | None = None,
        phonetic_voice: np.ndarray | None = None) -> Observations:
    """The recording's first ``seconds``; given another voice's band energies (and its phonetic
    view), with that voice dubbed over the face instead of its own."""
    assert obs.mouth is not None and obs.audio is not None
    keep = obs.mouth.times <= seconds
    hops = int(seconds / HOP_SECONDS) + 1
    articulation = obs.audio.articulation if voice is None else voice
    phonetic = obs.audio.phonetic if voice is None else phonetic_voice
    return replace(obs, mouth=MouthTrack(obs.mouth.times[keep], obs.mouth.openings[keep]),
                   audio=replace(obs.audio, articulation=articulation[:hops],
                                 phonetic=None if phonetic is None else phonetic[:hops]))


def clip_sources() -> dict[str, str]:
    """Each clip's path under ../shared/data -> the source its folder's MANIFEST.csv names."""
    sources = {}
    for folder in SETS:
        with (SHARED / folder / "MANIFEST.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                sources[f"{folder}/{row['file']}"] = row["source_repo"]
    return sources


def seconds_of(obs: Observations) -> float:
    assert obs.mouth is not None
    return float(obs.mouth.times[-1]) if len(obs.mouth.times) else 0.0


def voice_seconds(energies: np.ndarray) -> float:
    return len(energies) * HOP_SECONDS


# A face or a voice, with the source it comes from: a dub lays a voice of another source over a face.
Sourced = tuple[str, Observations]
Voice = tuple[str, np.ndarray]


def dub_correlations(faces: list[Sourced], voices: list[Voice], seconds: float, policy: LivenessPolicy,
                     model: ArticulationModel) -> list[float]:
    """Every face long enough, each with every voice of another source long enough, cut to ``seconds``."""
    out = []
    for face_source, face in faces:
        if seconds_of(face) + 0.1 < seconds:
            continue
        for voice_source, voice in voices:
            if voice_source == face_source or voice_seconds(voice) < seconds:
                continue
            dubbed = cut(face, seconds, voice)
            assert dubbed.mouth is not None and dubbed.audio is not None
            out.append(lip_sync_correlation(dubbed.mouth.times, dubbed.mouth.openings, dubbed.audio.articulation,
                                            policy.max_lip_lag_seconds, model))
    return out


def librispeech_samples() -> list[np.ndarray]:
    """The 50 LibriSpeech utterances, each from its start and from 1.3 s in."""
    readers = [media.decode_audio(p.read_bytes()).samples
               for p in sorted((SHARED / "speech" / "librispeech").glob("*/*.flac"))]
    return [r[int(offset * media.SAMPLE_RATE):] for r in readers for offset in OFFSETS_SECONDS]


def fit_with_dubs(genuine: list[Sourced], voices: list[Voice], policy: LivenessPolicy, *,
                  band_edges_hz: tuple[float, ...] = BAND_EDGES_HZ, taps: tuple[int, ...] = TAPS,
                  ridge: float = RIDGE) -> tuple[ArticulationModel, dict[float, list[float]]]:
    """Weights from the genuine clips; the null from the same faces dubbed with ``voices``. The
    clips' and voices' band energies must be computed with ``band_edges_hz``. Also the dubs'
    correlations at each null length, in ``dub_correlations``' order."""
    pairs = []
    for _, obs in genuine:
        assert obs.mouth is not None and obs.audio is not None
        pairs.append((np.round(obs.mouth.times / HOP_SECONDS).astype(int), obs.mouth.openings,
                      obs.audio.articulation))
    weights = fit_weights(pairs, taps, ridge)
    unscaled = ArticulationModel(band_edges_hz, taps, weights, (0.0, 0.0), (1.0, 0.0))
    scores = {t: dub_correlations(genuine, voices, t, policy, unscaled) for t in NULL_LENGTHS}
    null_mean, null_sd = fit_null({t: v for t, v in scores.items() if len(v) >= 20})
    return replace(unscaled, null_mean=null_mean, null_sd=null_sd), scores


def fit(genuine: list[Sourced], voices: list[Voice], policy: LivenessPolicy, *,
        band_edges_hz: tuple[float, ...] = BAND_EDGES_HZ, taps: tuple[int, ...] = TAPS,
        ridge: float = RIDGE) -> ArticulationModel:
    """``fit_with_dubs``' model alone."""
    return fit_with_dubs(genuine, voices, policy, band_edges_hz=band_edges_hz, taps=taps, ridge=ridge)[0]


def own_voice_of(clips: dict[str, Observations], sources: dict[str, str], name: str) -> Voice:
    audio = clips[name].audio
    assert audio is not None
    return sources[name], audio.articulation


def sourced(clips: dict[str, Observations], sources: dict[str, str], names: list[str]) -> list[Sourced]:
    return [(sources[n], clips[n]) for n in names]


GenuineRows = dict[str, list[tuple[str, float, bool]]]
LengthScores = dict[float, dict[str, list[float]]]


def empty_length_scores(lengths: list[float]) -> LengthScores:
    keys = ("genuine", "genuine_threshold", "dubbed", "dubbed_threshold")
    return {t: {key: [] for key in keys} for t in lengths}


def score_held_out(clips: dict[str, Observations], names: list[str], source: str, lengths: list[float],
                   policy: LivenessPolicy, model: LipSyncModel | ArticulationModel,
                   dubs: Callable[[str, float], list[float]], genuine_by_source: GenuineRows,
                   by_length: LengthScores) -> None:
    """A held-out source's clips scored whole (name, score, passed), and cut to each length in
    their own voice and dubbed (``dubs(name, seconds)``: the dubs' scores), each beside the
    threshold the service applies to that cut (it depends on the mouth track's span, the same
    for the face in its own voice and dubbed)."""
    for name in names:
        result = lip_sync(clips[name], policy, model)
        genuine_by_source[source].append((name, result.score, result.passed))
        for seconds in lengths:
            if seconds_of(clips[name]) + 0.1 < seconds:
                continue
            own = lip_sync(cut(clips[name], seconds), policy, model)
            dubbed = dubs(name, seconds)
            by_length[seconds]["genuine"].append(own.score)
            by_length[seconds]["genuine_threshold"].append(own.threshold)
            by_length[seconds]["dubbed"] += dubbed
            by_length[seconds]["dubbed_threshold"] += [own.threshold] * len(dubbed)


def leave_one_source_out(clips: dict[str, Observations], sources: dict[str, str], librispeech: list[Voice],
                         policy: LivenessPolicy, lengths: list[float],
                         **fit_options: Any) -> tuple[GenuineRows, LengthScores]:
    """For each source: fit on the others, score its clips whole (name, score, passed) and cut to
    each length in their own voice and dubbed (scores in standard deviations above a dub)."""
    genuine_by_source: dict[str, list[tuple[str, float, bool]]] = defaultdict(list)
    by_length: LengthScores = empty_length_scores(lengths)
    for held_out in sorted(set(sources.values())):
        train = [n for n in clips if sources[n] != held_out]
        test = [n for n in clips if sources[n] == held_out]
        # Voices: LibriSpeech readers and the training clips' own, each over faces of other sources.
        train_voices = librispeech + [own_voice_of(clips, sources, n) for n in train]
        model = fit(sourced(clips, sources, train), train_voices, policy, **fit_options)

        def dubs(name: str, seconds: float, model: ArticulationModel = model, voices: list[Voice] = train_voices
                 ) -> list[float]:
            faces = sourced(clips, sources, [name])
            return [model.null_z(c, seconds) for c in dub_correlations(faces, voices, seconds, policy, model)]

        score_held_out(clips, test, held_out, lengths, policy, model, dubs, genuine_by_source, by_length)

    return genuine_by_source, by_length


# --- both views: the bands and the recogniser's encoder ---------------------------------------

# A dub's voice in both views: (source, band energies, projected encoder states), hop for hop.
DubVoice = tuple[str, np.ndarray, np.ndarray]


def encoder_states(recognizer: SpeechRecognizer, samples: np.ndarray) -> np.ndarray:
    return recognizer.encoder_states(recognizer.encode(samples))


def librispeech_dub_voices(projection: PhoneticProjection, readers: list[np.ndarray],
                           reader_states: list[np.ndarray]) -> list[DubVoice]:
    """The LibriSpeech readers (``librispeech_samples``) as dub voices in both views."""
    voices = []
    for samples, states in zip(readers, reader_states, strict=True):
        bands = band_energies(samples, media.SAMPLE_RATE, BAND_EDGES_HZ)
        voices.append(("librispeech", bands, projection.project(states, len(bands))))
    return voices


def phonetic_inputs(recognizer: SpeechRecognizer, clips: dict[str, Observations], clip_samples: dict[str, np.ndarray],
                    ) -> tuple[PhoneticProjection, dict[str, Observations], list[DubVoice]]:
    """The projection (fitted on the LibriSpeech readers' encoder states only: no clip is in it),
    the clips with their phonetic view, and the readers as dub voices in both views."""
    readers = librispeech_samples()
    reader_states = [encoder_states(recognizer, r) for r in readers]
    projection = PhoneticProjection.fit(reader_states, PHONETIC_COMPONENTS)
    voices = librispeech_dub_voices(projection, readers, reader_states)
    with_phonetic = {}
    for name, obs in clips.items():
        assert obs.audio is not None
        phonetic = projection.project(encoder_states(recognizer, clip_samples[name]), len(obs.audio.articulation))
        with_phonetic[name] = replace(obs, audio=replace(obs.audio, phonetic=phonetic))
    return projection, with_phonetic, voices


def own_voices(clips: dict[str, Observations], sources: dict[str, str], names: list[str]) -> list[DubVoice]:
    out = []
    for name in names:
        audio = clips[name].audio
        assert audio is not None and audio.phonetic is not None
        out.append((sources[name], audio.articulation, audio.phonetic))
    return out


def phonetic_only(clips: list[Sourced]) -> list[Sourced]:
    """The clips with the phonetic view in the bands' place (to fit and score that view's map)."""
    out = []
    for source, obs in clips:
        assert obs.audio is not None and obs.audio.phonetic is not None
        out.append((source, replace(obs, audio=replace(obs.audio, articulation=obs.audio.phonetic))))
    return out


def fit_views(genuine: list[Sourced], voices: list[DubVoice], projection: PhoneticProjection,
              policy: LivenessPolicy) -> LipSyncModel:
    """Both maps fitted on ``genuine``, each view's null on the same faces dubbed with ``voices``,
    and how the two views' dub scores correlate (on those dubs, at every null length)."""
    acoustic, acoustic_dubs = fit_with_dubs(genuine, [(v[0], v[1]) for v in voices], policy)
    phonetic, phonetic_dubs = fit_with_dubs(phonetic_only(genuine), [(v[0], v[2]) for v in voices], policy,
                                            band_edges_hz=PHONETIC_COLUMNS)
    # The same faces and voices in the same order in both views: the dubs pair up one to one.
    pairs_a = [acoustic.null_z(c, t) for t in NULL_LENGTHS for c in acoustic_dubs[t]]
    pairs_p = [phonetic.null_z(c, t) for t in NULL_LENGTHS for c in phonetic_dubs[t]]
    correlation = float(np.corrcoef(pairs_a, pairs_p)[0, 1])
    return LipSyncModel(acoustic, PhoneticModel(projection, phonetic, round(correlation, 6)))


def fused_dub_scores(face: Sourced, voices: list[DubVoice], seconds: float, policy: LivenessPolicy,
                     model: LipSyncModel) -> list[float]:
    """The face dubbed with every voice of another source long enough, cut to ``seconds``, scored
    as the service scores (both views)."""
    source, obs = face
    if seconds_of(obs) + 0.1 < seconds:
        return []
    return [lip_sync(cut(obs, seconds, bands, phonetic), policy, model).score
            for voice_source, bands, phonetic in voices
            if voice_source != source and voice_seconds(bands) >= seconds]


def leave_one_source_out_views(clips: dict[str, Observations], sources: dict[str, str], librispeech: list[DubVoice],
                               projection: PhoneticProjection, policy: LivenessPolicy, lengths: list[float]
                               ) -> tuple[GenuineRows, LengthScores, dict[str, float]]:
    """``leave_one_source_out`` for the service's decision with both views; also each held-out
    source's fitted dub correlation between the views."""
    genuine_by_source: GenuineRows = defaultdict(list)
    by_length = empty_length_scores(lengths)
    correlations = {}
    for held_out in sorted(set(sources.values())):
        train = [n for n in clips if sources[n] != held_out]
        test = [n for n in clips if sources[n] == held_out]
        train_voices = librispeech + own_voices(clips, sources, train)
        model = fit_views(sourced(clips, sources, train), train_voices, projection, policy)
        assert model.phonetic is not None
        correlations[held_out] = model.phonetic.null_correlation

        def dubs(name: str, seconds: float, model: LipSyncModel = model, voices: list[DubVoice] = train_voices,
                 source: str = held_out) -> list[float]:
            return fused_dub_scores((source, clips[name]), voices, seconds, policy, model)

        score_held_out(clips, test, held_out, lengths, policy, model, dubs, genuine_by_source, by_length)
    return genuine_by_source, by_length, correlations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--lengths", default="3,5,8", help="Comma-separated lengths in seconds.")
    parser.add_argument("--write", action="store_true",
                        help=f"Fit on every source and write {MODEL_PATH.name} and {PHONETIC_PATH.name}.")
    parser.add_argument("--bands-only", action="store_true",
                        help="Score the bands alone (the service without its recogniser's phonetic view).")
    args = parser.parse_args()
    lengths = [float(x) for x in args.lengths.split(",")]
    settings = Settings() if args.model_dir is None else Settings(model_dir=args.model_dir)
    if tuple(shipped_model().band_edges_hz) != BAND_EDGES_HZ:
        raise SystemExit("the shipped model's bands differ from this script's: write it with --write first")
    analyzer = load_recording_analyzer(settings)
    policy = liveness_policy(settings)
    sources = clip_sources()
    clips = {name: analyzer.analyze((SHARED / name).read_bytes(), transcribe=False).observations
             for name in sorted(sources)}
    recognizer = analyzer.recognizer
    if recognizer is None:
        raise SystemExit("the phonetic view needs the speech recogniser's model")
    clip_samples = {name: media.decode_audio((SHARED / name).read_bytes()).samples for name in clips}
    projection, clips, voices = phonetic_inputs(recognizer, clips, clip_samples)

    correlations: dict[str, float] = {}
    if args.bands_only:
        genuine_by_source, by_length = leave_one_source_out(clips, sources, [(v[0], v[1]) for v in voices],
                                                            policy, lengths)
    else:
        genuine_by_source, by_length, correlations = leave_one_source_out_views(clips, sources, voices, projection,
                                                                                policy, lengths)
    start, end = policy.lip_sync_tightens_seconds
    views = "bands only" if args.bands_only else "bands and the recogniser's encoder, the better of the two"
    print(f"lip sync ({views}), leaving each source out: {len(clips)} genuine clips from {len(genuine_by_source)}"
          f" sources; threshold (standard deviations above a dub) {policy.min_lip_sync} up to {start:g} s, rising to"
          f" {policy.min_lip_sync_long} at {end:g} s; lags within {policy.max_lip_lag_seconds} s")
    if correlations:
        print("  dub scores' correlation between the views, per held-out source: "
              + ", ".join(f"{v:.2f}" for v in correlations.values()))
    print(f"  {'source':<36} {'clips':>5}  {'rejected':>8}  BPCER (95% CI)          lowest score")
    bpcer_by_source = {}
    for source, rows in sorted(genuine_by_source.items()):
        rejected = sum(not ok for _, _, ok in rows)
        low, high = wilson(rejected, len(rows))
        bpcer_by_source[source] = {"clips": len(rows), "rejected": rejected, "bpcer": rejected / len(rows),
                                   "ci95": [round(low, 4), round(high, 4)],
                                   "scores": {Path(n).name: round(s, 3) for n, s, _ in rows}}
        lowest = min(rows, key=lambda r: r[1])
        print(f"  {source:<36} {len(rows):>5}  {rejected:>8}  {rejected / len(rows):>5.1%} ({low:.1%}-{high:.1%})"
              f"   {lowest[1]:.2f} {Path(lowest[0]).name}")
    total = sum(len(r) for r in genuine_by_source.values())
    rejected_all = sum(v["rejected"] for v in bpcer_by_source.values())  # type: ignore[misc]
    low, high = wilson(rejected_all, total)
    print(f"  {'all':<36} {total:>5}  {rejected_all:>8}  {rejected_all / total:>5.1%} ({low:.1%}-{high:.1%})")
    print(f"  {'length':>6}  {'threshold':>9}  {'bona fide rejected':>19}  {'dubs accepted (95% CI)':>30}"
          "  highest dub / lowest bona fide")
    summary: dict[str, dict[str, object]] = {}
    for seconds, scores in by_length.items():
        genuine, dubbed = np.array(scores["genuine"]), np.array(scores["dubbed"])
        if not len(genuine) or not len(dubbed):
            continue
        rejected_cut = float(np.mean(genuine < np.array(scores["genuine_threshold"])))
        accepted = int(np.sum(dubbed >= np.array(scores["dubbed_threshold"])))
        threshold = float(np.median(scores["genuine_threshold"]))
        d_low, d_high = wilson(accepted, len(dubbed))
        summary[f"{seconds:g}"] = {"bona_fide": len(genuine), "dubs": len(dubbed), "threshold": round(threshold, 3),
                                   "bpcer": rejected_cut, "apcer": accepted / len(dubbed),
                                   "apcer_ci95": [round(d_low, 4), round(d_high, 4)],
                                   "highest_dub": float(dubbed.max()), "lowest_bona_fide": float(genuine.min())}
        print(f"  {seconds:>5g}s  {threshold:>9.2f}  {rejected_cut:>8.1%} of {len(genuine):<6}"
              f"  {accepted / len(dubbed):>6.2%} of {len(dubbed):<5} ({d_low:.2%}-{d_high:.2%})"
              f"  {dubbed.max():.2f} / {genuine.min():.2f}")
    if args.write:
        everything = list(clips)
        model = fit_views(sourced(clips, sources, everything), voices + own_voices(clips, sources, everything),
                          projection, policy)
        assert model.phonetic is not None
        MODEL_PATH.write_text(json.dumps(model.acoustic.to_json()) + "\n")
        PHONETIC_PATH.write_text(json.dumps(model.phonetic.to_json()) + "\n")
        print(f"  wrote {MODEL_PATH} and {PHONETIC_PATH.name} (fitted on all {len(everything)} clips;"
              f" dub correlation between the views {model.phonetic.null_correlation:.2f})")
    print(json.dumps({"threshold": {"short": policy.min_lip_sync, "long": policy.min_lip_sync_long,
                                    "tightens_seconds": [start, end]},
                      "by_length": summary, "bpcer_by_source": bpcer_by_source,
                      "bpcer": rejected_all / total, "bona_fide": total}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

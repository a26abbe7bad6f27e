"""Lip sync against many dubs: every talking face of ../shared/data with every LibriSpeech reader.

    .venv/bin/python scripts/eval_lip_sync.py [--model-dir DIR] [--lengths 3,5,8]

The liveness dev set (scripts/build_liveness_devset.py) holds 11 dubbed clips, too few to say
how often a dub lines up with a face by chance. Here each clip of ``talking/`` is analysed once
by the service's recording analyser in its own voice (bona fide), then its mouth track is scored
by the lip-sync check against the 0.8-3 kHz envelope of each of the 50 LibriSpeech utterances,
from their start and from 1.3 s in (the dubs; one voice, so only lip sync can catch them). Both
are cut to each length in ``--lengths`` seconds; a clip or utterance shorter than a length is
left out at that length. Prints, per length, the bona fide rejections (BPCER) and the dubs
accepted (APCER), then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity_service.inference import media
from identity_service.settings import Settings
from identity_service.wiring import load_recording_analyzer
from liveness.articulation import HOP_SECONDS, articulation_envelope
from liveness.checks import LivenessPolicy, MouthTrack, Observations, lip_sync

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
OFFSETS_SECONDS = (0.0, 1.3)


def cut(obs: Observations, seconds: float, voice: np.ndarray | None = None) -> Observations:
    """The recording's first ``seconds``; given another articulation envelope, with that voice
    dubbed over the face instead of its own."""
    assert obs.mouth is not None and obs.audio is not None
    keep = obs.mouth.times <= seconds
    hops = int(seconds / HOP_SECONDS) + 1
    articulation = obs.audio.articulation if voice is None else voice
    return replace(obs, mouth=MouthTrack(obs.mouth.times[keep], obs.mouth.openings[keep]),
                   audio=replace(obs.audio, articulation=articulation[:hops]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--lengths", default="3,5,8", help="Comma-separated lengths in seconds.")
    args = parser.parse_args()
    lengths = [float(x) for x in args.lengths.split(",")]
    settings = Settings() if args.model_dir is None else Settings(model_dir=args.model_dir)
    analyzer = load_recording_analyzer(settings)
    policy = LivenessPolicy()
    readers = [media.decode_audio(p.read_bytes()).samples
               for p in sorted((SHARED / "speech" / "librispeech").glob("*/*.flac"))]
    voices = [articulation_envelope(r[int(offset * media.SAMPLE_RATE):], media.SAMPLE_RATE)
              for r in readers for offset in OFFSETS_SECONDS]
    clips = sorted(p for p in (SHARED / "talking").iterdir() if p.suffix in (".mp4", ".mpg"))
    faces = {clip.name: analyzer.analyze(clip.read_bytes(), transcribe=False).observations for clip in clips}
    summary: dict[str, dict[str, object]] = {}
    print("lip sync: talking faces in their own voice, and dubbed with LibriSpeech readers")
    print(f"  {'length':>6}  {'bona fide rejected':>19}  {'dubs accepted':>18}  highest dub / lowest bona fide")
    for seconds in lengths:
        genuine: list[float] = []
        dubbed: list[float] = []
        for obs in faces.values():
            assert obs.mouth is not None and obs.audio is not None
            if len(obs.mouth.times) == 0 or obs.mouth.times[-1] + 0.1 < seconds:
                continue
            genuine.append(lip_sync(cut(obs, seconds), policy).score)
            for voice in voices:
                if len(voice) * HOP_SECONDS < seconds:
                    continue
                dubbed.append(lip_sync(cut(obs, seconds, voice), policy).score)
        if not genuine or not dubbed:
            continue
        bpcer = float(np.mean(np.array(genuine) < policy.min_lip_sync))
        apcer = float(np.mean(np.array(dubbed) >= policy.min_lip_sync))
        summary[f"{seconds:g}"] = {"bona_fide": len(genuine), "dubs": len(dubbed), "bpcer": bpcer, "apcer": apcer,
                                   "highest_dub": max(dubbed), "lowest_bona_fide": min(genuine)}
        print(f"  {seconds:>5g}s  {bpcer:>8.1%} of {len(genuine):<6}  {apcer:>7.1%} of {len(dubbed):<7}"
              f"  {max(dubbed):.2f} / {min(genuine):.2f}")
    print(f"  threshold {policy.min_lip_sync}, lags within {policy.max_lip_lag_seconds} s")
    print(json.dumps({"threshold": policy.min_lip_sync, "by_length": summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

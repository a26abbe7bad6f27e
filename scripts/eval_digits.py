"""The spoken-digits check on real speech: genuine challenges said aloud, and replays of others.

    .venv/bin/python scripts/eval_digits.py [--per-length 150] [--lengths 4,5,6] [--others 20]

Each sequence is a challenge drawn as the service draws them (no digit twice in a row), said by
one of the four speakers of ../shared/data/digits (Free Spoken Digit Dataset, 8 kHz, resampled
to 16 kHz as every upload is): a random take of each digit, with natural gaps (0.05-0.6 s)
between digits, 0.2-0.8 s of silence around them and faint noise. The service's recogniser
transcribes it once; the check's rule (liveness.checks.spoken_digits_check) then decides it
against its own challenge (genuine) and against ``--others`` fresh challenges of the same length
(a recording made for another session, replayed). Prints per length the genuine pass rate with a
Wilson 95% interval, the exact-read rate, the replays passed and the rule's bound on them, then
one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity_service.inference import media
from identity_service.settings import Settings
from identity_service.wiring import load_recording_analyzer
from liveness.challenge import challenge_count, new_challenge
from liveness.checks import AudioObservation, LivenessPolicy, Observations, spoken_digits_check
from liveness.digits import allowed_errors, replay_pass_probability, spoken_digits
from scripts._eval_common import wilson

DIGITS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "digits"


def said(digits: str, speaker: str, rng: random.Random, takes: dict[Path, np.ndarray]) -> np.ndarray:
    """``digits`` said by ``speaker``, one random take each, with natural gaps, as 16 kHz audio."""
    def silence(low: float, high: float) -> np.ndarray:
        return np.zeros(int(media.SAMPLE_RATE * rng.uniform(low, high)), np.float32)

    parts = [silence(0.2, 0.8)]
    for digit in digits:
        path = DIGITS / speaker / f"{digit}_{speaker}_{rng.randrange(50)}.wav"
        if path not in takes:
            takes[path] = media.decode_audio(path.read_bytes()).samples
        parts += [takes[path], silence(0.05, 0.6)]
    parts.append(silence(0.2, 0.8))
    audio = np.concatenate(parts)
    noise = np.random.default_rng(rng.randrange(1 << 30)).standard_normal(len(audio)).astype(np.float32)
    return audio + rng.uniform(0.0005, 0.003) * noise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-length", type=int, default=150, help="Genuine sequences of each length.")
    parser.add_argument("--lengths", default="4,5,6")
    parser.add_argument("--others", type=int, default=20, help="Other challenges each recording is replayed to.")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args()
    settings = Settings() if args.model_dir is None else Settings(model_dir=args.model_dir)
    recognizer = load_recording_analyzer(settings).recognizer
    assert recognizer is not None
    policy = LivenessPolicy()
    speakers = sorted(p.name for p in DIGITS.iterdir() if p.is_dir())
    rng = random.Random(args.seed)
    takes: dict[Path, np.ndarray] = {}
    summary: dict[str, dict[str, object]] = {}
    misread: list[tuple[str, str]] = []
    started = time.perf_counter()
    audio_seconds = 0.0
    print(f"spoken digits: {len(speakers)} speakers of {DIGITS}, rule: at most {policy.max_digit_errors} error"
          " from six digits up, none below")
    print(f"  {'digits':>6}  {'genuine pass (95% CI)':>28}  {'exact':>6}  {'replays passed':>16}  bound per replay")
    for n in (int(x) for x in args.lengths.split(",")):
        passed = exact = replays = replays_passed = 0
        for i in range(args.per_length):
            # Challenges come from the service's own generator (a CSPRNG); the speech is seeded.
            digits = new_challenge(min_digits=n, max_digits=n).digits
            audio = said(digits, speakers[i % len(speakers)], rng, takes)
            audio_seconds += len(audio) / media.SAMPLE_RATE
            transcript = recognizer.transcribe(audio)
            heard = AudioObservation(len(audio) / media.SAMPLE_RATE, 0.0, np.zeros(1), np.zeros((1, 1)),
                                     transcript=transcript)
            observed = Observations((), heard)
            ok = spoken_digits_check(observed, policy, digits).passed
            passed += ok
            read = spoken_digits(transcript)
            exact += read == digits
            if read != digits:
                misread.append((digits, read))
            for _ in range(args.others):
                other = new_challenge(min_digits=n, max_digits=n).digits
                if other == digits:
                    continue
                replays += 1
                replays_passed += spoken_digits_check(observed, policy, other).passed
        low, high = wilson(passed, args.per_length)
        bound = replay_pass_probability(n, allowed_errors(n, policy.max_digit_errors), challenge_count(n))
        summary[str(n)] = {"genuine": args.per_length, "genuine_pass": passed / args.per_length,
                           "genuine_pass_ci95": [low, high], "exact": exact / args.per_length,
                           "replays": replays, "replays_passed": replays_passed, "replay_pass_bound": bound}
        print(f"  {n:>6}  {passed:>4}/{args.per_length:<4} {passed / args.per_length:>6.1%} ({low:.1%}-{high:.1%})"
              f"  {exact / args.per_length:>6.1%}  {replays_passed:>6}/{replays:<8}  {bound:.1e}")
    elapsed = time.perf_counter() - started
    shown = " ".join(f"{a}->{b or '-'}" for a, b in misread[:40])
    print(f"  misread ({len(misread)}): {shown}")
    print(f"  recogniser: {elapsed / max(audio_seconds, 1e-9) * 1000:.0f} ms per second of audio")
    print(json.dumps({"by_length": summary, "misread": misread}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

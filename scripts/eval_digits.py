"""The spoken-digits check on real speech: genuine challenges said aloud, and replays of others.

    .venv/bin/python scripts/eval_digits.py [--per-length 150] [--lengths 4,5,6] [--others 20]

Each sequence is a challenge drawn as the service draws them (no digit twice in a row), said by
one of the four speakers of ../shared/data/digits (Free Spoken Digit Dataset, 8 kHz, resampled
to 16 kHz as every upload is): a random take of each digit, with natural gaps (0.05-0.6 s)
between digits, 0.2-0.8 s of silence around them and faint noise. The service's recogniser
transcribes it once; the check's rule (liveness.checks.spoken_digits_check) then decides it
against its own challenge (genuine) and against ``--others`` fresh challenges of the same length
(a recording made for another session, replayed), with the recogniser's forced support for each
challenge that lies within reach of the rule (``SpeechRecognizer.support``; a challenge more edits
from the transcript than the rule tolerates fails without it). Near replays are the hardest case:
each recording against ``--near`` challenges one digit away from what it says.

Prints per length the genuine pass rate with a Wilson 95% interval (and per speaker), the
exact-read rate, the replays and near replays passed, and the bound on a replay's pass chance:
(challenges within the rule's edits of a transcript, the most seen in the run) / (challenges
that can be drawn) x (the near replays' Wilson upper bound). ``--transcript-only`` evaluates
the rule without the support (the service's rule before it). Then one JSON line.
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
from liveness.digits import allowed_errors, challenges_within, digit_errors, replay_pass_probability, spoken_digits
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
    parser.add_argument("--near", type=int, default=4, help="Challenges one digit away each recording is tried on.")
    parser.add_argument("--transcript-only", action="store_true", help="The rule without the forced support.")
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args()
    settings = Settings() if args.model_dir is None else Settings(model_dir=args.model_dir)
    recognizer = load_recording_analyzer(settings).recognizer
    assert recognizer is not None
    policy = LivenessPolicy()
    supported = not args.transcript_only
    speakers = sorted(p.name for p in DIGITS.iterdir() if p.is_dir())
    rng = random.Random(args.seed)
    takes: dict[Path, np.ndarray] = {}
    summary: dict[str, dict[str, object]] = {}
    misread: list[tuple[str, str]] = []
    started = time.perf_counter()
    audio_seconds = 0.0
    rule = (f"support >= {policy.min_digit_support:g} nats and at most {policy.max_digit_errors_with_support} "
            "errors from six digits up, none below" if supported
            else f"at most {policy.max_digit_errors} error from six digits up, none below (transcript only)")
    print(f"spoken digits: {len(speakers)} speakers of {DIGITS}; rule: {rule}")
    print(f"  {'digits':>6}  {'genuine pass (95% CI)':>28}  {'exact':>6}  {'replays passed':>16}  "
          f"{'near replays':>14}  bound per replay")

    def check(audio: np.ndarray, transcript: str, challenge: str) -> bool:
        read = spoken_digits(transcript)
        reach = allowed_errors(len(challenge), policy.max_digit_errors_with_support if supported
                               else policy.max_digit_errors)
        support = None
        if supported:
            if digit_errors(challenge, read) > reach:
                return False  # fails whatever the support: not worth a decoder pass
            support = recognizer.support(audio, challenge, read)
        heard = AudioObservation(len(audio) / media.SAMPLE_RATE, 0.0, np.zeros(1), np.zeros((1, 1)),
                                 transcript=transcript, digit_support=support)
        return spoken_digits_check(Observations((), heard), policy, challenge).passed

    for n in (int(x) for x in args.lengths.split(",")):
        passed = exact = replays = replays_passed = near = near_passed = 0
        ball = 0
        by_speaker: dict[str, list[int]] = {s: [0, 0] for s in speakers}
        for i in range(args.per_length):
            # Challenges come from the service's own generator (a CSPRNG); the speech is seeded.
            digits = new_challenge(min_digits=n, max_digits=n).digits
            speaker = speakers[i % len(speakers)]
            audio = said(digits, speaker, rng, takes)
            audio_seconds += len(audio) / media.SAMPLE_RATE
            transcript = recognizer.transcribe(audio)
            ok = check(audio, transcript, digits)
            passed += ok
            by_speaker[speaker][0] += ok
            by_speaker[speaker][1] += 1
            read = spoken_digits(transcript)
            exact += read == digits
            reach = allowed_errors(n, policy.max_digit_errors_with_support if supported else policy.max_digit_errors)
            ball = max(ball, challenges_within(read, n, reach))
            if read != digits:
                misread.append((digits, read))
            for _ in range(args.others):
                other = new_challenge(min_digits=n, max_digits=n).digits
                if other == digits:
                    continue
                replays += 1
                replays_passed += check(audio, transcript, other)
            for _ in range(args.near):
                position = rng.randrange(n)
                choices = [d for d in "0123456789" if d != digits[position]
                           and (position == 0 or d != digits[position - 1])
                           and (position == n - 1 or d != digits[position + 1])]
                neighbour = digits[:position] + rng.choice(choices) + digits[position + 1:]
                near += 1
                near_passed += check(audio, transcript, neighbour)
        low, high = wilson(passed, args.per_length)
        near_high = wilson(near_passed, near)[1]
        bound = ball / challenge_count(n) * (near_high if supported else 1.0)
        if not supported:
            bound = replay_pass_probability(n, allowed_errors(n, policy.max_digit_errors), challenge_count(n))
        summary[str(n)] = {"genuine": args.per_length, "genuine_pass": passed / args.per_length,
                           "genuine_pass_ci95": [low, high], "exact": exact / args.per_length,
                           "genuine_pass_by_speaker": {s: f"{p}/{t}" for s, (p, t) in by_speaker.items()},
                           "replays": replays, "replays_passed": replays_passed, "near_replays": near,
                           "near_replays_passed": near_passed, "near_replays_ci95_high": near_high,
                           "challenges_within_reach": ball, "replay_pass_bound": bound}
        print(f"  {n:>6}  {passed:>4}/{args.per_length:<4} {passed / args.per_length:>6.1%} ({low:.1%}-{high:.1%})"
              f"  {exact / args.per_length:>6.1%}  {replays_passed:>6}/{replays:<8}  {near_passed:>5}/{near:<7}"
              f"  {bound:.1e}")
        print("          by speaker: " + ", ".join(f"{s} {p}/{t}" for s, (p, t) in by_speaker.items()))
    elapsed = time.perf_counter() - started
    shown = " ".join(f"{a}->{b or '-'}" for a, b in misread[:40])
    print(f"  misread ({len(misread)}): {shown}")
    print(f"  recogniser: {elapsed / max(audio_seconds, 1e-9) * 1000:.0f} ms per second of audio")
    print(json.dumps({"by_length": summary, "misread": misread, "rule": rule}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Liveness evaluation per ISO/IEC 30107-3: APCER per attack type, BPCER overall and per source.

    .venv/bin/python scripts/eval_liveness.py --manifest CSV [--model-dir DIR] [--details]
                                              [--shipped-lip-sync]

Rows ``path,label,attack_type[,digits[,turns[,source]]]`` with label ``bona_fide`` or ``attack``.
Runs the checks that need no live session: one face, one identity, one voice, lip sync and
presentation attack; spoken digits when the row gives digits, and head turns when it gives the
turns asked for (``turns`` like ``right left up``). A recording the service would refuse outright
(unreadable, too short, no audio) is counted as rejected and named.

``source`` names where a recording (or, for an attack, the real face in it) comes from; without
it, the recording's folder. Lip sync is the one check with fitted weights, so by default each row
is decided with the lip-sync model (both views) fitted on the bona fide rows of the other sources only
(leave one source out; scripts/eval_lip_sync.py fits it the same way); ``--shipped-lip-sync``
uses the model the service ships instead. Build the dev set with
scripts/build_liveness_devset.py. Prints a table, BPCER per source with a Wilson 95% interval,
P(live) of the bona fide rows by source and resolution, then one JSON line with apcer, bpcer,
apcer_by_type and bpcer_by_source.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity_service.settings import Settings
from identity_service.wiring import liveness_policy, load_recording_analyzer
from kernel.errors import DomainError
from liveness.articulation import LipSyncModel, shipped_lip_sync
from liveness.challenge import HeadTurn
from liveness.checks import Observations, evaluate, passed
from scripts._eval_common import wilson
from scripts.eval_lip_sync import encoder_states, fit_views, librispeech_dub_voices, librispeech_samples


def resolution(path: Path) -> str:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return f"{stream.codec_context.width}x{stream.codec_context.height}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--details", action="store_true", help="Print every recording's check scores.")
    parser.add_argument("--shipped-lip-sync", action="store_true",
                        help="Decide lip sync with the shipped model, not one fitted without the row's source.")
    args = parser.parse_args()
    settings = Settings() if args.model_dir is None else Settings(model_dir=args.model_dir)
    analyzer = load_recording_analyzer(settings)
    policy = liveness_policy(settings)
    with args.manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    refused: dict[str, str] = {}
    analysed: list[tuple[dict[str, str], Path, str, Observations]] = []
    outcomes: list[tuple[str, str, bool]] = []  # (kind, source, accepted) of every row
    for row in rows:
        path = Path(row["path"]) if Path(row["path"]).is_absolute() else args.manifest.parent / row["path"]
        kind = "bona_fide" if row["label"] == "bona_fide" else row["attack_type"]
        source = (row.get("source") or "").strip() or path.parent.name
        try:
            digits = (row.get("digits") or "").strip()
            analysis = analyzer.analyze(path.read_bytes(), transcribe=bool(digits), expected_digits=digits)
        except DomainError as error:
            refused[path.name] = error.reason
            outcomes.append((kind, source, False))
            continue
        analysed.append((row, path, source, analysis.observations))

    # One lip-sync model per source, fitted on the other sources' bona fide recordings (both views,
    # as the service decides; the phonetic projection is the shipped one, fitted on LibriSpeech).
    models: dict[str, LipSyncModel | None] = defaultdict(lambda: None)
    bona_fide = [(source, obs) for row, _, source, obs in analysed if row["label"] == "bona_fide"]
    phonetic_view = shipped_lip_sync().phonetic
    if not args.shipped_lip_sync and len({s for s, _ in bona_fide}) > 1:
        if phonetic_view is None or analyzer.recognizer is None:
            raise SystemExit("lip sync's phonetic view needs the speech recogniser's model and the shipped projection")
        recognizer = analyzer.recognizer
        samples = librispeech_samples()
        readers = librispeech_dub_voices(phonetic_view.projection, samples,
                                         [encoder_states(recognizer, r) for r in samples])
        for source in sorted({s for _, _, s, _ in analysed}):
            train = [(s, obs) for s, obs in bona_fide
                     if s != source and obs.audio is not None and obs.audio.phonetic is not None]
            voices = readers + [(s, obs.audio.articulation, obs.audio.phonetic) for s, obs in train
                                if obs.audio is not None and obs.audio.phonetic is not None]
            models[source] = fit_views(train, voices, phonetic_view.projection, policy)

    failed_checks: Counter[str] = Counter()
    details = []
    live_by_clip = []
    for row, path, source, obs in analysed:
        kind = "bona_fide" if row["label"] == "bona_fide" else row["attack_type"]
        digits = (row.get("digits") or "").strip()
        try:
            turns = tuple(HeadTurn(t) for t in (row.get("turns") or "").lower().replace(",", " ").split())
        except ValueError:
            raise SystemExit(f"{path.name}: turns must be left, right or up, not {row.get('turns')!r}") from None
        results = evaluate(obs, policy, digits=digits, turns=turns, session=None, articulation=models[source])
        ok = passed(results)
        outcomes.append((kind, source, ok))
        for r in results:
            if not r.passed:
                failed_checks[f"{kind}:{r.kind.value}"] += 1
        details.append({"file": path.name, "type": kind, "source": source, "accepted": ok,
                        "scores": {r.kind.value: round(r.score, 3) for r in results}})
        if kind == "bona_fide":
            live = [f.live for f in obs.frames if f.live is not None and f.quality_ok]
            if live:
                live_by_clip.append((source, resolution(path), path.name, float(np.median(live)), float(np.min(live))))
        if args.details:
            print(f"{path.name:<28} {kind:<13} {'ACCEPT' if ok else 'reject'} " + " ".join(
                f"{r.kind.value}={r.score:.2f}{'' if r.passed else '!'}" for r in results))

    bona = [ok for kind, _, ok in outcomes if kind == "bona_fide"]
    bpcer = (len(bona) - sum(bona)) / len(bona) if bona else 0.0
    accepted: dict[str, list[bool]] = defaultdict(list)
    for kind, _, ok in outcomes:
        if kind != "bona_fide":
            accepted[kind].append(ok)
    apcer_by_type = {kind: sum(v) / len(v) for kind, v in sorted(accepted.items())}
    apcer = max(apcer_by_type.values(), default=0.0)
    by_source: dict[str, list[bool]] = defaultdict(list)
    for kind, source, ok in outcomes:
        if kind == "bona_fide":
            by_source[source].append(ok)
    print(f"liveness on {args.manifest} (lip sync: "
          f"{'shipped model' if args.shipped_lip_sync else 'fitted leaving each source out'})")
    print(f"  {'type':<14} {'n':>3}  {'error':>7}")
    print(f"  {'bona fide':<14} {len(bona):>3}  BPCER {bpcer:.1%}")
    for kind, rate in apcer_by_type.items():
        print(f"  {kind:<14} {len(accepted[kind]):>3}  APCER {rate:.1%}")
    print(f"  {'bona fide source':<36} {'n':>3}  {'rejected':>8}  BPCER (95% CI)")
    bpcer_by_source = {}
    for source, oks in sorted(by_source.items()):
        rejected = len(oks) - sum(oks)
        low, high = wilson(rejected, len(oks))
        bpcer_by_source[source] = {"n": len(oks), "rejected": rejected, "bpcer": rejected / len(oks),
                                   "ci95": [round(low, 4), round(high, 4)]}
        print(f"  {source:<36} {len(oks):>3}  {rejected:>8}  {rejected / len(oks):.1%} ({low:.1%}-{high:.1%})")
    low, high = wilson(len(bona) - sum(bona), len(bona))
    print(f"  {'all':<36} {len(bona):>3}  {len(bona) - sum(bona):>8}  {bpcer:.1%} ({low:.1%}-{high:.1%})")
    if live_by_clip:
        print(f"  P(live) of bona fide recordings (threshold {policy.min_live}): median / lowest frame")
        for source, size, name, median, lowest in sorted(live_by_clip):
            print(f"    {source:<34} {size:>10}  {median:.2f} / {lowest:.2f}  {name}")
    print(f"  failed checks: {dict(sorted(failed_checks.items()))}")
    if refused:
        print(f"  refused before the checks: {refused}")
    print(json.dumps({"apcer": apcer, "bpcer": bpcer, "apcer_by_type": apcer_by_type,
                      "bpcer_by_source": bpcer_by_source, "bpcer_ci95": [round(low, 4), round(high, 4)],
                      "bona_fide": len(bona),
                      "attacks": sum(len(v) for v in accepted.values()), "refused": refused,
                      "failed_checks": dict(failed_checks),
                      "live_by_clip": [{"source": s, "resolution": r, "file": n, "median": round(m, 3),
                                        "lowest": round(lo, 3)} for s, r, n, m, lo in live_by_clip],
                      "details": details if args.details else []}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

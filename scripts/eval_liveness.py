"""Liveness evaluation per ISO/IEC 30107-3: APCER per attack type and BPCER.

    .venv/bin/python scripts/eval_liveness.py --manifest CSV [--model-dir DIR] [--details]

Rows ``path,label,attack_type[,digits[,turns]]`` with label ``bona_fide`` or ``attack``. Runs
the checks that need no live session: one face, one identity, one voice, lip sync and
presentation attack; spoken digits when the row gives digits, and head turns when it gives the
turns asked for (``turns`` like ``right left up``). A recording the service would refuse
outright (unreadable, too short, no audio) is counted as rejected and named. Build the dev set
with scripts/build_liveness_devset.py. Prints a table, then one JSON line with apcer, bpcer and
apcer_by_type.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity_service.errors import DomainError
from identity_service.settings import Settings
from identity_service.wiring import load_recording_analyzer
from liveness.challenge import HeadTurn
from liveness.checks import LivenessPolicy, evaluate, passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--details", action="store_true", help="Print every recording's check scores.")
    args = parser.parse_args()
    settings = Settings() if args.model_dir is None else Settings(model_dir=args.model_dir)
    analyzer = load_recording_analyzer(settings)
    policy = LivenessPolicy()
    with args.manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    accepted: dict[str, list[bool]] = defaultdict(list)
    failed_checks: Counter[str] = Counter()
    refused: dict[str, str] = {}
    details = []
    for row in rows:
        path = Path(row["path"]) if Path(row["path"]).is_absolute() else args.manifest.parent / row["path"]
        kind = "bona_fide" if row["label"] == "bona_fide" else row["attack_type"]
        digits = (row.get("digits") or "").strip()
        try:
            analysis = analyzer.analyze(path.read_bytes(), transcribe=bool(digits))
        except DomainError as error:
            refused[path.name] = error.reason
            accepted[kind].append(False)
            continue
        try:
            turns = tuple(HeadTurn(t) for t in (row.get("turns") or "").lower().replace(",", " ").split())
        except ValueError:
            raise SystemExit(f"{path.name}: turns must be left, right or up, not {row.get('turns')!r}") from None
        results = evaluate(analysis.observations, policy, digits=digits, turns=turns, session=None)
        ok = passed(results)
        accepted[kind].append(ok)
        for r in results:
            if not r.passed:
                failed_checks[f"{kind}:{r.kind.value}"] += 1
        details.append({"file": path.name, "type": kind, "accepted": ok,
                        "scores": {r.kind.value: round(r.score, 3) for r in results}})
        if args.details:
            print(f"{path.name:<28} {kind:<13} {'ACCEPT' if ok else 'reject'} " + " ".join(
                f"{r.kind.value}={r.score:.2f}{'' if r.passed else '!'}" for r in results))
    bona = accepted.pop("bona_fide", [])
    bpcer = (len(bona) - sum(bona)) / len(bona) if bona else 0.0
    apcer_by_type = {kind: sum(v) / len(v) for kind, v in sorted(accepted.items())}
    apcer = max(apcer_by_type.values(), default=0.0)
    print(f"liveness on {args.manifest}")
    print(f"  {'type':<14} {'n':>3}  {'error':>7}")
    print(f"  {'bona fide':<14} {len(bona):>3}  BPCER {bpcer:.1%}")
    for kind, rate in apcer_by_type.items():
        print(f"  {kind:<14} {len(accepted[kind]):>3}  APCER {rate:.1%}")
    print(f"  failed checks: {dict(sorted(failed_checks.items()))}")
    if refused:
        print(f"  refused before the checks: {refused}")
    print(json.dumps({"apcer": apcer, "bpcer": bpcer, "apcer_by_type": apcer_by_type, "bona_fide": len(bona),
                      "attacks": sum(len(v) for v in accepted.values()), "refused": refused,
                      "failed_checks": dict(failed_checks), "details": details if args.details else []}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

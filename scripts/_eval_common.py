"""Shared by the evaluation scripts: the result table and the final JSON line."""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

from identity_service.inference.evaluation import VerificationMetrics, verification_metrics


def score(genuine: list[float], impostor: list[float]) -> VerificationMetrics | None:
    """The metrics, or None (having said why on stderr) when one kind of pair is missing."""
    try:
        return verification_metrics(np.array(genuine), np.array(impostor))
    except ValueError as exc:
        print(f"cannot score: {exc} ({len(genuine)} genuine, {len(impostor)} impostor pairs scorable)",
              file=sys.stderr)
        return None


def report(
    title: str, metrics: VerificationMetrics, extra: dict[str, Any], impostor: list[float] | None = None
) -> None:
    rows = [
        ("pairs", f"{metrics.genuine + metrics.impostor} ({metrics.genuine} genuine, {metrics.impostor} impostor)"),
        ("AUC", f"{metrics.auc:.6f}"),
        ("EER", f"{metrics.eer:.4%} at {metrics.eer_threshold:.4f}"),
        (f"TAR at FAR {metrics.far_target:g}", f"{metrics.tar_at_far:.4%} at {metrics.threshold_at_far:.4f}"),
        ("lowest genuine / highest impostor", f"{metrics.min_genuine:.4f} / {metrics.max_impostor:.4f}"),
        ("every genuine above every impostor", "yes" if metrics.separable else "NO"),
        *[(k.replace("_", " "), str(v)) for k, v in extra.items() if not isinstance(v, list | dict)],
    ]
    width = max(len(k) for k, _ in rows)
    print(title)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    summary = {
        "pairs": metrics.genuine + metrics.impostor, "genuine_pairs": metrics.genuine,
        "impostor_pairs": metrics.impostor, "auc": round(metrics.auc, 6), "eer": round(metrics.eer, 6),
        "eer_threshold": round(metrics.eer_threshold, 6), "tar_at_far_1e-3": round(metrics.tar_at_far, 6),
        "threshold_at_far_1e-3": round(metrics.threshold_at_far, 6), "min_genuine": round(metrics.min_genuine, 6),
        "max_impostor": round(metrics.max_impostor, 6), "separable": metrics.separable, **extra,
    }
    if impostor:
        # What identity_service/inference/calibration.py extrapolates thresholds from.
        summary["impostor_mean"] = round(float(np.mean(impostor)), 6)
        summary["impostor_std"] = round(float(np.std(impostor, ddof=1)), 6)
    print(json.dumps(summary))


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% by default); (0, 1) with no trials."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * ((p * (1 - p) / trials + z * z / (4 * trials * trials)) ** 0.5) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)

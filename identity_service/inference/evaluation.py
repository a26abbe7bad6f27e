"""Verification metrics over genuine (same person) and impostor (different people) scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class VerificationMetrics:
    genuine: int
    impostor: int
    auc: float
    eer: float
    eer_threshold: float
    tar_at_far: float
    threshold_at_far: float
    far_target: float
    min_genuine: float
    max_impostor: float

    @property
    def separable(self) -> bool:
        """Every genuine pair scores above every impostor pair."""
        return self.min_genuine > self.max_impostor


def verification_metrics(genuine: np.ndarray, impostor: np.ndarray, far_target: float = 1e-3) -> VerificationMetrics:
    genuine = np.asarray(genuine, dtype=np.float64)
    impostor = np.asarray(impostor, dtype=np.float64)
    if genuine.size == 0 or impostor.size == 0:
        raise ValueError("need at least one genuine and one impostor score")
    return VerificationMetrics(
        genuine=int(genuine.size), impostor=int(impostor.size), auc=auc(genuine, impostor),
        eer=(e := equal_error_rate(genuine, impostor))[0], eer_threshold=e[1],
        tar_at_far=(t := tar_at_far(genuine, impostor, far_target))[0], threshold_at_far=t[1], far_target=far_target,
        min_genuine=float(genuine.min()), max_impostor=float(impostor.max()),
    )


def auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """P(genuine > impostor) + P(tie) / 2, by ranks (Mann-Whitney U)."""
    scores = np.concatenate([genuine, impostor])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[: len(genuine)].sum() - len(genuine) * (len(genuine) + 1) / 2
    return float(u / (len(genuine) * len(impostor)))


def _rates(genuine: np.ndarray, impostor: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FAR (impostors accepted, score >= t) and FRR (genuine rejected, score < t) at each t."""
    g = np.sort(genuine)
    i = np.sort(impostor)
    far = 1.0 - np.searchsorted(i, thresholds, side="left") / len(i)
    frr = np.searchsorted(g, thresholds, side="left") / len(g)
    return far, frr


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """(EER, its threshold): where false accepts and false rejects are closest to equal."""
    thresholds = np.unique(np.concatenate([genuine, impostor, [np.inf]]))
    far, frr = _rates(genuine, impostor, thresholds)
    k = int(np.argmin(np.abs(far - frr)))
    best = float((far[k] + frr[k]) / 2)
    # A gap between the classes: any threshold inside it has both rates at zero.
    both = np.maximum(far, frr)
    m = int(np.argmin(both))
    if both[m] < best:
        return float(both[m]), float(thresholds[m])
    return best, float(thresholds[k])


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far_target: float) -> tuple[float, float]:
    """(TAR, threshold) at the lowest threshold whose FAR is at most ``far_target``. With fewer
    impostor pairs than 1/far_target this means FAR 0: just above the highest impostor score."""
    thresholds = np.unique(np.concatenate([impostor, [np.nextafter(impostor.max(), np.inf)]]))
    far, _ = _rates(genuine, impostor, thresholds)
    ok = np.where(far <= far_target)[0]
    threshold = float(thresholds[ok[0]])
    return float(np.mean(genuine >= threshold)), threshold

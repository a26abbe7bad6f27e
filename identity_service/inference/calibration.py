"""Match thresholds for a configured false-match rate (FMR).

The impostor (different-person) score distribution of each model was measured on the dev set
with the evaluation scripts (their ``impostor_mean``/``impostor_std``): faces, 127 pairs over
../shared/data/faces; voices, 1,000 pairs over LibriSpeech. A threshold for a target FMR is the
normal tail quantile ``mean + z(1 - FMR) * std``, never below the highest impostor score seen.
With so few impostor pairs the tail is an extrapolation: re-run the scripts on a larger set of
your own population and set the constants (or LIKENESS_FACE_MATCH_THRESHOLD /
LIKENESS_VOICE_MATCH_THRESHOLD) from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True, slots=True)
class ImpostorScores:
    model_id: str
    mean: float
    std: float
    highest_seen: float
    pairs: int

    def threshold(self, fmr: float) -> float:
        if not 0 < fmr < 1:
            raise ValueError("fmr must be between 0 and 1")
        z = NormalDist().inv_cdf(1.0 - fmr)
        return round(max(self.mean + z * self.std, self.highest_seen), 4)


FACE = ImpostorScores("insightface/buffalo_sc/w600k_mbf", mean=-0.002366, std=0.072711, highest_seen=0.125406,
                      pairs=127)
VOICE = ImpostorScores("speechbrain/spkrec-ecapa-voxceleb", mean=0.108704, std=0.085729, highest_seen=0.39058,
                       pairs=1000)

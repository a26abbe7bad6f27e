"""What lip movement follows in speech, and a linear model of the mouth opening from it.

The audio side is the log energy of eight bands from 100 Hz to 7 kHz every 10 ms. A mouth
opening is predicted from them by a fixed linear map over five instants from 0.1 s before to
0.1 s after (an articulatory inversion in its simplest form: Chandrasekaran et al., "The natural
statistics of audiovisual speech", PLoS Comput Biol 2009, find lip opening tied to the formant
region's envelope across speakers; a linear map over several bands and a little context learns
that relation where one fixed band measured it only in part). The weights are fitted by ridge
regression on real people speaking in their own voice (``scripts/eval_lip_sync.py --write``,
evaluated leaving each source of recordings out) and shipped in ``lip_sync_model.json``.

The map is applied to each recording's bands standardised over the recording itself, so a
channel's level, tilt or steady noise does not count. Pure numpy: no models, no I/O besides the
packaged weights."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from statistics import NormalDist

import numpy as np

HOP_SECONDS = 0.01
_WINDOW_SECONDS = 0.032
# Band energies are averaged over 50 ms, about one articulatory gesture's rise.
_SMOOTH_HOPS = 5


@dataclass(frozen=True, slots=True)
class ArticulationModel:
    """Predicts the standardised mouth opening from standardised band energies."""

    band_edges_hz: tuple[float, ...]
    taps: tuple[int, ...]  # hops relative to the mouth sample
    weights: np.ndarray  # len(taps) * bands, tap-major
    # The score of a dub (a face with a voice that is not its own) at length T seconds, in Fisher
    # z units: mean and standard deviation, each a + b / sqrt(T), fitted on many dubs.
    null_mean: tuple[float, float]
    null_sd: tuple[float, float]

    @property
    def bands(self) -> int:
        return len(self.band_edges_hz) - 1

    def predict(self, standardised: np.ndarray, hops: np.ndarray) -> np.ndarray:
        prediction: np.ndarray = design(standardised, hops, self.taps) @ self.weights
        return prediction

    def null_z(self, correlation: float, seconds: float) -> float:
        """How many standard deviations above a dub's score at this length a correlation is."""
        inverse_root = 1.0 / np.sqrt(max(seconds, 1.0))
        mean = self.null_mean[0] + self.null_mean[1] * inverse_root
        sd = self.null_sd[0] + self.null_sd[1] * inverse_root
        return float((np.arctanh(np.clip(correlation, -0.999999, 0.999999)) - mean) / max(sd, 1e-6))

    def to_json(self) -> dict[str, object]:
        return {"band_edges_hz": list(self.band_edges_hz), "taps": list(self.taps),
                "weights": [round(float(w), 6) for w in self.weights],
                "null_mean": list(self.null_mean), "null_sd": list(self.null_sd)}

    @staticmethod
    def from_json(data: dict[str, object]) -> ArticulationModel:
        def floats(key: str) -> tuple[float, ...]:
            value = data[key]
            assert isinstance(value, list)
            return tuple(float(v) for v in value)

        mean, sd = floats("null_mean"), floats("null_sd")
        return ArticulationModel(floats("band_edges_hz"), tuple(int(t) for t in floats("taps")),
                                 np.array(floats("weights"), np.float64), (mean[0], mean[1]), (sd[0], sd[1]))


def design(standardised: np.ndarray, hops: np.ndarray, taps: tuple[int, ...]) -> np.ndarray:
    """The regression's inputs at each hop index: the bands at every tap, side by side."""
    last = len(standardised) - 1
    return np.concatenate([standardised[np.clip(hops + tap, 0, last)] for tap in taps], axis=1)


@cache
def shipped_model() -> ArticulationModel:
    """The model fitted by scripts/eval_lip_sync.py --write, packaged beside this module."""
    text = resources.files("liveness").joinpath("lip_sync_model.json").read_text()
    return ArticulationModel.from_json(json.loads(text))


def band_energies(samples: np.ndarray, sample_rate: int, edges_hz: tuple[float, ...]) -> np.ndarray:
    """Log energy in each band between consecutive ``edges_hz`` every ``HOP_SECONDS`` (a 32 ms
    Hann window centred on each hop), smoothed over 50 ms: shape (hops, bands)."""
    hop = round(HOP_SECONDS * sample_rate)
    size = round(_WINDOW_SECONDS * sample_rate)
    if len(samples) < hop:
        return np.zeros((0, len(edges_hz) - 1), np.float32)
    padded = np.concatenate([np.zeros(size // 2, np.float32), samples.astype(np.float32),
                             np.zeros(size - size // 2, np.float32)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, size)[::hop][: len(samples) // hop]
    spectrum = np.abs(np.fft.rfft(windows * np.hanning(size).astype(np.float32), axis=1)) ** 2
    freqs = np.fft.rfftfreq(size, 1.0 / sample_rate)
    columns = [spectrum[:, (freqs >= low) & (freqs < high)].sum(axis=1) for low, high in itertools.pairwise(edges_hz)]
    energies = np.log(np.stack(columns, axis=1) + 1e-6)
    kernel = np.ones(_SMOOTH_HOPS) / _SMOOTH_HOPS
    smoothed = np.stack([np.convolve(energies[:, b], kernel, mode="same") for b in range(energies.shape[1])], axis=1)
    result: np.ndarray = smoothed.astype(np.float32)
    return result


def standardise(values: np.ndarray) -> np.ndarray:
    """Zero mean and unit variance per column (a constant column stays 0)."""
    centred = values - values.mean(axis=0)
    result: np.ndarray = centred / np.maximum(values.std(axis=0), 1e-6)
    return result


def fit_weights(pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]], taps: tuple[int, ...],
                ridge: float = 0.01) -> np.ndarray:
    """Ridge regression of standardised mouth openings on standardised band energies.

    ``pairs``: (hop index of each mouth sample, mouth openings, band energies) per recording.
    ``ridge`` is per sample, so the penalty keeps its weight as recordings are added."""
    inputs, targets = [], []
    for hops, openings, energies in pairs:
        inputs.append(design(standardise(energies[: hops[-1] + 1]), hops, taps))
        targets.append(standardise(openings.astype(np.float64)))
    x, y = np.concatenate(inputs), np.concatenate(targets)
    weights: np.ndarray = np.linalg.solve(x.T @ x + ridge * len(y) * np.eye(x.shape[1]), x.T @ y)
    return weights


def fit_null(scores: dict[float, list[float]]) -> tuple[tuple[float, float], tuple[float, float]]:
    """Mean and standard deviation of dubs' Fisher-z scores as a + b / sqrt(T), least squares over
    the lengths T given (chance correlations shrink as one over the square root of the length)."""
    lengths = sorted(scores)
    inverse_root = np.array([1.0 / np.sqrt(t) for t in lengths])
    z = [np.arctanh(np.clip(np.array(scores[t]), -0.999999, 0.999999)) for t in lengths]
    mean_b, mean_a = np.polyfit(inverse_root, [float(v.mean()) for v in z], 1)
    sd_b, sd_a = np.polyfit(inverse_root, [float(v.std()) for v in z], 1)
    return (round(float(mean_a), 6), round(float(mean_b), 6)), (round(float(sd_a), 6), round(float(sd_b), 6))


# --- the phonetic view -------------------------------------------------------------------------
# The same linear map, fed with what the speech recogniser's encoder hears instead of band
# energies: Whisper tiny's encoder states (every 20 ms) projected on their leading principal
# components. Bands follow loudness and spectral tilt; the encoder follows phones, which is what
# the lips shape. The two views fail on different recordings (a short studio clip for the
# encoder, a noisy interview for the bands), so the check takes the better of the two scores and
# asks of it what it asked of one: that a dub reach it about 1 time in 100.

ENCODER_HOP_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class PhoneticProjection:
    """Encoder states -> standardised -> leading principal components, at the bands' 10 ms hops."""

    mean: np.ndarray  # (states,)
    scale: np.ndarray  # (states,)
    components: np.ndarray  # (components, states)

    def project(self, states: np.ndarray, hops: int) -> np.ndarray:
        """``states`` every 20 ms -> (hops, components), each state held for two 10 ms hops and
        the last one held to the end."""
        if len(states) == 0 or hops <= 0:
            return np.zeros((max(hops, 0), len(self.components)), np.float32)
        projected = (states.astype(np.float64) - self.mean) / self.scale @ self.components.T
        repeated = np.repeat(projected, round(ENCODER_HOP_SECONDS / HOP_SECONDS), axis=0)[:hops]
        if len(repeated) < hops:
            repeated = np.concatenate([repeated, np.repeat(repeated[-1:], hops - len(repeated), axis=0)])
        result: np.ndarray = repeated.astype(np.float32)
        return result

    @staticmethod
    def fit(states: list[np.ndarray], components: int) -> PhoneticProjection:
        frames = np.concatenate(states).astype(np.float64)
        mean, scale = frames.mean(axis=0), frames.std(axis=0) + 1e-6
        _, _, vectors = np.linalg.svd((frames - mean) / scale, full_matrices=False)
        return PhoneticProjection(mean, scale, vectors[:components])

    def to_json(self) -> dict[str, object]:
        return {"mean": [round(float(v), 6) for v in self.mean], "scale": [round(float(v), 6) for v in self.scale],
                "components": [[round(float(v), 6) for v in row] for row in self.components]}

    @staticmethod
    def from_json(data: dict[str, object]) -> PhoneticProjection:
        return PhoneticProjection(np.array(data["mean"], np.float64), np.array(data["scale"], np.float64),
                                  np.array(data["components"], np.float64))


@dataclass(frozen=True, slots=True)
class PhoneticModel:
    """The phonetic view: its projection, its map (columns are components, not bands) and how
    its dub scores correlate with the bands' on the same dubs."""

    projection: PhoneticProjection
    model: ArticulationModel
    null_correlation: float

    def to_json(self) -> dict[str, object]:
        return {"projection": self.projection.to_json(), "model": self.model.to_json(),
                "null_correlation": round(self.null_correlation, 6)}

    @staticmethod
    def from_json(data: dict[str, object]) -> PhoneticModel:
        projection, model, correlation = data["projection"], data["model"], data["null_correlation"]
        assert isinstance(projection, dict) and isinstance(model, dict) and isinstance(correlation, float | int)
        return PhoneticModel(PhoneticProjection.from_json(projection), ArticulationModel.from_json(model),
                             float(correlation))


@dataclass(frozen=True, slots=True)
class LipSyncModel:
    """Both views of the voice: the bands (always) and the encoder's phones (when the recogniser
    ran)."""

    acoustic: ArticulationModel
    phonetic: PhoneticModel | None = None


def fused_z(acoustic: float, phonetic: float, null_correlation: float) -> float:
    """The better of two scores, each in standard deviations above a dub, as one such score: the
    normal quantile of the chance that a dub's better score reaches it, the two scores of a dub
    being standard normals correlated ``null_correlation``. So a threshold of 2.33 still admits
    about 1 dub in 100 (taking the better of two raises a dub's chance; this takes it back)."""
    best = max(acoustic, phonetic)
    tail = 1.0 - _both_below(best, null_correlation)
    if tail <= 1e-15:
        return best
    return -_STANDARD_NORMAL.inv_cdf(min(max(tail, 1e-15), 1.0 - 1e-15))


_STANDARD_NORMAL = NormalDist()


def _both_below(bound: float, correlation: float) -> float:
    """P(Z1 <= bound and Z2 <= bound) for standard normals correlated ``correlation`` (in
    (-1, 1)): the integral over z1 of phi(z1) * Phi((bound - rho z1) / sqrt(1 - rho^2))."""
    rho = min(max(correlation, -0.99), 0.99)
    z1 = np.linspace(-9.0, bound, 2001)
    density = np.exp(-0.5 * z1 ** 2) / np.sqrt(2.0 * np.pi)
    inner = np.array([_STANDARD_NORMAL.cdf(v) for v in (bound - rho * z1) / np.sqrt(1.0 - rho ** 2)])
    return float(np.trapezoid(density * inner, z1))


@cache
def shipped_lip_sync() -> LipSyncModel:
    """The shipped bands model and, when it was fitted, the shipped phonetic view."""
    phonetic = resources.files("liveness").joinpath("lip_sync_phonetic.json")
    if not phonetic.is_file():
        return LipSyncModel(shipped_model())
    return LipSyncModel(shipped_model(), PhoneticModel.from_json(json.loads(phonetic.read_text())))

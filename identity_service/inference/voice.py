"""Voice: speech kept by Silero VAD, speechbrain's filterbank computed with numpy, and the
ECAPA-TDNN speaker embedding (192-d) on ONNX Runtime."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from identity.vectors import l2_normalise
from identity_service.inference.media import SAMPLE_RATE
from identity_service.inference.ort import OnnxModel

N_FFT = 400  # 25 ms at 16 kHz
HOP = 160  # 10 ms
N_MELS = 80
TOP_DB = 80.0
AMIN = 1e-10


def _mel(hz: np.ndarray | float) -> np.ndarray:
    mel: np.ndarray = 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)
    return mel


def _hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def _filterbank_matrix() -> np.ndarray:
    """speechbrain's triangular mel filters (f_min 0, f_max 8 kHz), n_stft x n_mels."""
    hz = _hz(np.linspace(_mel(0.0), _mel(SAMPLE_RATE / 2), N_MELS + 2))
    band = (hz[1:] - hz[:-1])[:-1]
    central = hz[1:-1]
    freqs = np.linspace(0, SAMPLE_RATE // 2, N_FFT // 2 + 1)
    slope = (freqs[None, :] - central[:, None]) / band[:, None]
    matrix: np.ndarray = np.maximum(0.0, np.minimum(slope + 1.0, 1.0 - slope)).T.astype(np.float32)
    return matrix


# torch.hamming_window(400), periodic.
_WINDOW = (0.54 - 0.46 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
_FBANK = _filterbank_matrix()


def fbank(samples: np.ndarray) -> np.ndarray:
    """Log-mel filterbank of one utterance as speechbrain's Fbank(n_mels=80) computes it, then
    sentence mean normalisation (InputNormalization, std_norm off): frames x 80, float32."""
    padded = np.pad(samples.astype(np.float32), (N_FFT // 2, N_FFT // 2))
    frames = 1 + (len(padded) - N_FFT) // HOP
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(frames)[:, None]
    spectrum = np.fft.rfft(padded[index] * _WINDOW, n=N_FFT)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    mel = power @ _FBANK
    db = 10.0 * np.log10(np.maximum(mel, AMIN))
    db = np.maximum(db, db.max() - TOP_DB)
    features: np.ndarray = (db - db.mean(axis=0, keepdims=True)).astype(np.float32)
    return features


class VoiceEmbedder:
    """ECAPA-TDNN (speechbrain spkrec-ecapa-voxceleb) exported to ONNX."""

    dimension = 192

    def __init__(self, model: OnnxModel) -> None:
        self.model = model

    def features(self, samples: np.ndarray) -> np.ndarray:
        return fbank(samples)[None]

    def embed_batch(self, utterances: Sequence[np.ndarray]) -> np.ndarray:
        """One L2-normalised embedding per utterance. Utterances run one by one: padding them to a
        common length would change ECAPA's statistics pooling."""
        out = np.zeros((len(utterances), self.dimension), dtype=np.float32)
        for i, samples in enumerate(utterances):
            out[i] = self.model.run(self.features(samples))[0].reshape(-1)
        return l2_normalise(out)


@dataclass(frozen=True, slots=True)
class Speech:
    samples: np.ndarray  # the speech only, 16 kHz
    speech_seconds: float
    total_seconds: float
    probabilities: np.ndarray  # per 32 ms chunk


class VoiceActivityDetector:
    """Silero VAD: speech probability per 32 ms chunk, with the model's recurrent state carried."""

    CHUNK = 512
    CONTEXT = 64

    def __init__(self, model: OnnxModel, *, threshold: float = 0.5, pad_chunks: int = 3) -> None:
        self.model = model
        self.threshold = threshold
        self.pad_chunks = pad_chunks

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        chunks = len(samples) // self.CHUNK
        state = np.zeros((2, 1, 128), dtype=np.float32)
        context = np.zeros((1, self.CONTEXT), dtype=np.float32)
        sr = np.array(SAMPLE_RATE, dtype=np.int64)
        probs = np.zeros(chunks, dtype=np.float32)
        for i in range(chunks):
            chunk = samples[i * self.CHUNK:(i + 1) * self.CHUNK].astype(np.float32)[None]
            x = np.concatenate([context, chunk], axis=1)
            prob, state = self.model.run_feeds({"input": x, "state": state, "sr": sr})
            probs[i] = float(prob.reshape(-1)[0])
            context = x[:, -self.CONTEXT:]
        return probs

    def speech(self, samples: np.ndarray) -> Speech:
        probs = self.probabilities(samples)
        voiced = probs >= self.threshold
        if self.pad_chunks and voiced.any():
            # Keep a little around each voiced chunk so word edges are not cut.
            kernel = np.ones(2 * self.pad_chunks + 1, dtype=bool)
            voiced = np.convolve(voiced, kernel, mode="same") > 0
        mask = np.repeat(voiced, self.CHUNK)
        kept = samples[: len(mask)][mask]
        return Speech(kept, len(kept) / SAMPLE_RATE, len(samples) / SAMPLE_RATE, probs)

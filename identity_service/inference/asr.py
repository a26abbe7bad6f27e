"""Speech recognition for the spoken challenge: Whisper tiny (CTranslate2) via faster-whisper.

Besides a free transcript, the recogniser scores how well the audio supports a given digit
string: Whisper's decoder is forced through the string's tokens and their log-probabilities are
summed (``support``). A free transcript that drops or swaps a digit the person did say still
leaves the said string almost as likely as the transcript; a recording of other digits leaves
the challenge far less likely (scripts/eval_digits.py measures both)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from identity_service.inference.ort import gpu_present
from identity_service.metrics import MODEL_LATENCY

# Whisper reads 30 s windows of 100 feature frames a second; enrollment recordings fit one.
WINDOW_FRAMES = 3000
# What a transcript without digits scores: nothing supports it (any digit string beats it).
EMPTY_LOG_PROBABILITY = -1000.0
# Whisper's decoder holds 448 positions: a looping transcript ("1 1 1 ...", which Whisper
# produces on repeated digits) forced through it whole would not fit. Its first 64 digits are
# forced instead (at most ~200 tokens however they are written); such a transcript is dozens of
# edits from any challenge, so the check fails it on the digits whatever its support.
MAX_FORCED_DIGITS = 64


@dataclass(frozen=True, slots=True)
class EncodedSpeech:
    """Whisper's encoder output for one recording (on the recogniser's device), with how many of
    its 100-a-second feature frames hold audio; scored against digits and read for lip sync
    without a second encoder pass."""

    output: object  # ctranslate2.StorageView
    frames: int


class SpeechRecognizer:
    def __init__(self, model_dir: Path, *, device: str = "auto", threads: int = 0) -> None:
        from faster_whisper import WhisperModel

        use_cuda = device == "cuda" or (device == "auto" and gpu_present() and _ctranslate2_cuda())
        self.device = "cuda" if use_cuda else "cpu"
        self._model = WhisperModel(str(model_dir), device=self.device,
                                   compute_type="int8_float16" if use_cuda else "int8", cpu_threads=threads)
        # Beside the ONNX models in likeness_model_seconds (it was missing there).
        self._latency = MODEL_LATENCY.labels("whisper_tiny")
        from faster_whisper.tokenizer import Tokenizer

        self._tokenizer = Tokenizer(self._model.hf_tokenizer, self._model.model.is_multilingual, task="transcribe",
                                    language="en")

    def encode(self, samples: np.ndarray) -> EncodedSpeech:
        """The encoder's pass over the first 30 s of 16 kHz mono speech."""
        started = time.perf_counter()
        features = self._model.feature_extractor(samples.astype(np.float32))
        frames = min(features.shape[-1], WINDOW_FRAMES)
        window = np.zeros((features.shape[0], WINDOW_FRAMES), np.float32)
        window[:, :frames] = features[:, :frames]
        encoded = EncodedSpeech(self._model.encode(window), frames)
        self._latency.observe(time.perf_counter() - started)
        return encoded

    def encoder_states(self, encoded: EncodedSpeech) -> np.ndarray:
        """The encoder's output over the audio, one 384-value state every 20 ms: (states, 384)."""
        import ctranslate2

        output = encoded.output
        assert isinstance(output, ctranslate2.StorageView)
        if output.device != "cpu":
            output = output.to_device(ctranslate2.Device.cpu)
        if output.dtype != ctranslate2.DataType.float32:
            output = output.to(ctranslate2.DataType.float32)
        states: np.ndarray = np.asarray(output, dtype=np.float32)[0, : encoded.frames // 2].copy()
        return states

    def support(self, samples: np.ndarray, expected: str, heard: str, *, encoded: EncodedSpeech | None = None
                ) -> float:
        """Log-probability of ``expected`` (digits) minus that of ``heard`` (the digits of the free
        transcript), each forced through the decoder in the likeliest of a few ways of writing
        digits: 0 or more when the audio supports the challenge at least as well as the
        transcript, negative nats when less. ``encoded``: the samples' encoder pass, if done."""
        encoded = encoded or self.encode(samples)
        started = time.perf_counter()
        result = (self._forced(encoded.output, encoded.frames, expected)
                  - self._forced(encoded.output, encoded.frames, heard))
        self._latency.observe(time.perf_counter() - started)
        return result

    def _forced(self, encoded: object, frames: int, digits: str) -> float:
        digits = digits[:MAX_FORCED_DIGITS]
        if not digits:
            return EMPTY_LOG_PROBABILITY
        best = -np.inf
        for spelled in (" " + " ".join(digits), " " + digits, " " + ", ".join(digits) + "."):
            tokens = self._tokenizer.encode(spelled)
            aligned = self._model.model.align(encoded, self._tokenizer.sot_sequence, [tokens], frames)[0]
            probabilities = np.maximum(np.asarray(aligned.text_token_probs, dtype=np.float64), 1e-9)
            best = max(best, float(np.log(probabilities).sum()))
        return best

    def transcribe(self, samples: np.ndarray) -> str:
        """English transcript of 16 kHz mono speech."""
        started = time.perf_counter()
        segments, _ = self._model.transcribe(
            samples.astype(np.float32), language="en", beam_size=1, vad_filter=False, without_timestamps=True,
            condition_on_previous_text=False, initial_prompt="Numbers read one digit at a time: 3 8 1 5.",
        )
        text = " ".join(segment.text.strip() for segment in segments).strip()  # decoding happens here, lazily
        self._latency.observe(time.perf_counter() - started)
        return text


def _ctranslate2_cuda() -> bool:
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count()) > 0
    except Exception:
        return False

"""Speech recognition for the spoken challenge: Whisper tiny (CTranslate2) via faster-whisper."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from identity_service.inference.ort import gpu_present
from identity_service.metrics import MODEL_LATENCY


class SpeechRecognizer:
    def __init__(self, model_dir: Path, *, device: str = "auto", threads: int = 0) -> None:
        from faster_whisper import WhisperModel

        use_cuda = device == "cuda" or (device == "auto" and gpu_present() and _ctranslate2_cuda())
        self.device = "cuda" if use_cuda else "cpu"
        self._model = WhisperModel(str(model_dir), device=self.device,
                                   compute_type="int8_float16" if use_cuda else "int8", cpu_threads=threads)
        # Beside the ONNX models in likeness_model_seconds (it was missing there).
        self._latency = MODEL_LATENCY.labels("whisper_tiny")

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

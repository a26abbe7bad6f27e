"""Speech recognition for the spoken challenge: Whisper tiny (CTranslate2) via faster-whisper."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from identity_service.inference.ort import gpu_present


class SpeechRecognizer:
    def __init__(self, model_dir: Path, *, device: str = "auto", threads: int = 0) -> None:
        from faster_whisper import WhisperModel

        use_cuda = device == "cuda" or (device == "auto" and gpu_present() and _ctranslate2_cuda())
        self.device = "cuda" if use_cuda else "cpu"
        self._model = WhisperModel(str(model_dir), device=self.device,
                                   compute_type="int8_float16" if use_cuda else "int8", cpu_threads=threads)

    def transcribe(self, samples: np.ndarray) -> str:
        """English transcript of 16 kHz mono speech."""
        segments, _ = self._model.transcribe(
            samples.astype(np.float32), language="en", beam_size=1, vad_filter=False, without_timestamps=True,
            condition_on_previous_text=False, initial_prompt="Numbers read one digit at a time: 3 8 1 5.",
        )
        return " ".join(segment.text.strip() for segment in segments).strip()


def _ctranslate2_cuda() -> bool:
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count()) > 0
    except Exception:
        return False

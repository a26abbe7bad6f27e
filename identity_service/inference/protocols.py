"""What the rest of the service sees of the models: small protocols, no onnxruntime."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from identity_service.inference.face import DetectedFace


class FaceDetectorModel(Protocol):
    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[DetectedFace]]:
        """Faces per image (BGR uint8), best first."""
        ...


class FaceEmbedderModel(Protocol):
    dimension: int

    def embed_batch(self, crops: np.ndarray) -> np.ndarray:
        """N aligned 112x112 BGR crops in, N x dimension L2-normalised embeddings out."""
        ...


class VoiceEmbedderModel(Protocol):
    dimension: int

    def embed_batch(self, utterances: Sequence[np.ndarray]) -> np.ndarray:
        """16 kHz mono utterances in, one L2-normalised embedding each out."""
        ...

"""Unit vectors: every embedding and template the service compares is L2-normalised."""

from __future__ import annotations

import numpy as np


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (a zero row stays zero), as float32."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def unit(vector: np.ndarray) -> np.ndarray:
    """One vector scaled to unit length, as float32."""
    row: np.ndarray = l2_normalise(np.asarray(vector).reshape(1, -1))[0]
    return row

"""ONNX Runtime sessions: made once per model file, on CUDA when onnxruntime-gpu and a GPU are
there, on the CPU otherwise. The only module that imports onnxruntime."""

from __future__ import annotations

import glob
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import structlog

from identity_service.metrics import MODEL_LATENCY

log = structlog.get_logger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def gpu_present() -> bool:
    """A GPU device node exists (the CUDA provider alone may be installed on a CPU machine)."""
    return bool(glob.glob("/dev/nvidia[0-9]*"))


def pick_providers(device: str = "auto") -> list[str]:
    """``auto``: CUDA when its provider is installed and a GPU is present; ``cpu``; ``cuda`` (required)."""
    available = ort.get_available_providers()
    if device == "cpu":
        return [CPU]
    if device == "cuda":
        if CUDA not in available:
            raise RuntimeError("LIKENESS_INFERENCE_DEVICE=cuda but onnxruntime-gpu is not installed")
        return [CUDA, CPU]
    return [CUDA, CPU] if CUDA in available and gpu_present() else [CPU]


class OnnxModel:
    """One session, one input: ``run(batch)`` returns every output. Sessions are thread-safe."""

    def __init__(self, path: Path, *, providers: list[str], intra_op_threads: int = 0) -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Errors only: buffalo_sc's recogniser declares a batch of 1 and warns on every larger batch.
        options.log_severity_level = 3
        if intra_op_threads:
            options.intra_op_num_threads = intra_op_threads
        self.path = path
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.providers = self.session.get_providers()
        self._latency = MODEL_LATENCY.labels(path.stem)

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        started = time.perf_counter()
        outputs: list[np.ndarray] = self.session.run(self.output_names, {self.input_name: batch})
        self._latency.observe(time.perf_counter() - started)
        return outputs

    def run_feeds(self, feeds: dict[str, Any]) -> list[np.ndarray]:
        started = time.perf_counter()
        outputs: list[np.ndarray] = self.session.run(self.output_names, feeds)
        self._latency.observe(time.perf_counter() - started)
        return outputs


class SessionCache:
    """Sessions by path, created on first use and then shared: a model is loaded once per process."""

    def __init__(self, *, device: str = "auto", intra_op_threads: int = 0) -> None:
        self.providers = pick_providers(device)
        self._threads = intra_op_threads
        self._lock = threading.Lock()
        self._models: dict[Path, OnnxModel] = {}

    def get(self, path: Path) -> OnnxModel:
        with self._lock:
            model = self._models.get(path)
            if model is None:
                model = OnnxModel(path, providers=self.providers, intra_op_threads=self._threads)
                self._models[path] = model
                log.info("model_loaded", model=path.name, providers=",".join(model.providers))
            return model

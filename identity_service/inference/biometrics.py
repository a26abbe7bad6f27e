"""From media bytes to embeddings with quality gates: what verification, search and enrollment
call. Loads every model once; refuses to load missing or altered files."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from identity_service.inference import media
from identity_service.inference.face import DetectedFace, FaceDetector, FaceEmbedder, FaceQuality, align, quality
from identity_service.inference.ort import SessionCache
from identity_service.inference.protocols import FaceDetectorModel, FaceEmbedderModel, VoiceEmbedderModel
from identity_service.inference.store import require
from identity_service.inference.voice import VoiceActivityDetector, VoiceEmbedder
from kernel.errors import (
    AudioClipped,
    AudioSampleRateTooLow,
    FaceBadlyLit,
    FaceBlurred,
    FaceTooSmall,
    MultipleFaces,
    NoFace,
    NoSpeech,
)

log = structlog.get_logger(__name__)

FACE_MODEL_ID = "insightface/buffalo_sc/w600k_mbf"
VOICE_MODEL_ID = "speechbrain/spkrec-ecapa-voxceleb"


@dataclass(frozen=True, slots=True)
class QualityGates:
    """Below these a face or a voice sample is refused with a reason the user can act on."""

    min_face_px: int = 64
    min_sharpness: float = 40.0
    min_brightness: float = 40.0
    max_brightness: float = 220.0
    # A second face counts when it is at least this fraction of the largest face's size.
    other_face_fraction: float = 0.35
    min_speech_seconds: float = 1.0
    max_clipped_fraction: float = 0.005
    min_sample_rate: int = 16_000


@dataclass(frozen=True, slots=True)
class FaceSample:
    embedding: np.ndarray
    quality: FaceQuality
    face: DetectedFace


@dataclass(frozen=True, slots=True)
class VoiceSample:
    embedding: np.ndarray
    speech_seconds: float
    total_seconds: float


class Biometrics:
    """Face and voice embeddings from images, frames and audio, behind the model protocols."""

    def __init__(
        self, detector: FaceDetectorModel, face_embedder: FaceEmbedderModel, vad: VoiceActivityDetector,
        voice_embedder: VoiceEmbedderModel, gates: QualityGates | None = None,
    ) -> None:
        self.detector = detector
        self.face_embedder = face_embedder
        self.vad = vad
        self.voice_embedder = voice_embedder
        self.gates = gates or QualityGates()
        # Which ONNX Runtime providers the sessions run on (set by load; CPU for hand-built ones).
        self.providers: list[str] = ["CPUExecutionProvider"]

    @classmethod
    def load(cls, model_dir: Path, *, device: str = "auto", threads: int = 0, gates: QualityGates | None = None,
             deep_check: bool = True) -> Biometrics:
        """Every model session, made once. ModelsUnavailable names any missing or altered file."""
        require(model_dir, ("face_detector", "face_embedder", "voice_embedder", "voice_activity"), deep=deep_check)
        started = time.perf_counter()
        sessions = SessionCache(device=device, intra_op_threads=threads)
        biometrics = cls(
            FaceDetector(sessions.get(model_dir / "face_detector" / "scrfd_500m_bnkps.onnx")),
            FaceEmbedder(sessions.get(model_dir / "face_embedder" / "w600k_mbf.onnx")),
            VoiceActivityDetector(sessions.get(model_dir / "voice_activity" / "silero_vad.onnx")),
            VoiceEmbedder(sessions.get(model_dir / "voice_embedder" / "ecapa_tdnn.onnx")),
            gates,
        )
        biometrics.providers = sessions.providers
        log.info("biometrics_loaded", providers=",".join(sessions.providers),
                 seconds=round(time.perf_counter() - started, 3))
        return biometrics

    # --- faces ------------------------------------------------------------------------------

    def faces(self, images: list[np.ndarray]) -> list[list[FaceSample]]:
        """Every face in each image (frames batched through the detector and the embedder)."""
        detected = self.detector.detect_batch(images)
        crops, owners = [], []
        for i, faces in enumerate(detected):
            for face in faces:
                crops.append(align(images[i], face.keypoints))
                owners.append((i, face))
        embeddings = self.face_embedder.embed_batch(np.stack(crops)) if crops else np.zeros((0, 512), np.float32)
        result: list[list[FaceSample]] = [[] for _ in images]
        for (i, face), crop, embedding in zip(owners, crops, embeddings, strict=True):
            result[i].append(FaceSample(embedding, quality(face, crop), face))
        return result

    def one_face(self, image: np.ndarray, *, gate: bool = True) -> FaceSample:
        """The single face of an image; NoFace, MultipleFaces or a quality error otherwise."""
        samples = self.faces([image])[0]
        if not samples:
            raise NoFace()
        largest = max(samples, key=lambda s: s.quality.size_px)
        others = [s for s in samples if s is not largest
                  and s.quality.size_px >= self.gates.other_face_fraction * largest.quality.size_px]
        if others:
            raise MultipleFaces(1 + len(others))
        if gate:
            self.gate_face(largest.quality)
        return largest

    def gate_face(self, q: FaceQuality) -> None:
        g = self.gates
        if q.size_px < g.min_face_px:
            raise FaceTooSmall(q.size_px, g.min_face_px)
        if not g.min_brightness <= q.brightness <= g.max_brightness:
            raise FaceBadlyLit(q.brightness, g.min_brightness, g.max_brightness)
        if q.sharpness < g.min_sharpness:
            raise FaceBlurred(q.sharpness, g.min_sharpness)

    def face_from_image(self, data: bytes, *, gate: bool = True,
                        limits: media.MediaLimits = media.DEFAULT_LIMITS) -> FaceSample:
        return self.one_face(media.decode_image(data, limits), gate=gate)

    # --- voices -----------------------------------------------------------------------------

    def voice_from_audio(self, data: bytes, limits: media.MediaLimits = media.DEFAULT_LIMITS) -> VoiceSample:
        return self.voice(media.decode_audio(data, limits))

    def gate_audio(self, audio: media.Audio) -> None:
        """Refuse audio no voice template should come from: too low a sample rate, or clipped."""
        g = self.gates
        if audio.source_rate and audio.source_rate < g.min_sample_rate:
            raise AudioSampleRateTooLow(audio.source_rate, g.min_sample_rate)
        clipped = float(np.mean(np.abs(audio.samples) >= 0.98)) if len(audio.samples) else 0.0
        if clipped > g.max_clipped_fraction:
            raise AudioClipped(clipped, g.max_clipped_fraction)

    def voice(self, audio: media.Audio) -> VoiceSample:
        g = self.gates
        self.gate_audio(audio)
        speech = self.vad.speech(audio.samples)
        if speech.speech_seconds < g.min_speech_seconds:
            raise NoSpeech(speech.speech_seconds, g.min_speech_seconds)
        embedding = self.voice_embedder.embed_batch([speech.samples])[0]
        return VoiceSample(embedding, speech.speech_seconds, speech.total_seconds)

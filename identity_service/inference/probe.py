"""The identity domain's ``LikenessProbe``: faces and voices in the media a caller sends to
VerifyLikeness and SearchLikeness, decoded here and run through the biometric models."""

from __future__ import annotations

import numpy as np

from identity.model import FoundFace
from identity_service.inference import media
from identity_service.inference.biometrics import FACE_MODEL_ID, VOICE_MODEL_ID, Biometrics, FaceSample
from kernel.errors import NoAudioTrack, NoFace, NoSpeech

# Bumped when the embedding a model produces changes (new weights, new preprocessing): templates
# made by another version are no longer compared, and their subjects are asked to re-enroll.
MODEL_VERSION = "1"
CURRENT_MODELS = {"face": (FACE_MODEL_ID, MODEL_VERSION), "voice": (VOICE_MODEL_ID, MODEL_VERSION)}


def _found(sample: FaceSample) -> FoundFace:
    return FoundFace(sample.embedding, sample.face.box, float(sample.quality.size_px))


class MediaProbe:
    """Decodes media within ``limits`` and finds faces and voices with ``Biometrics``."""

    dimension = 512
    voice_dimension = 192

    def __init__(self, biometrics: Biometrics, limits: media.MediaLimits = media.DEFAULT_LIMITS) -> None:
        self._bio = biometrics
        self._limits = limits

    def model_versions(self) -> dict[str, tuple[str, str]]:
        return dict(CURRENT_MODELS)

    def image_faces(self, content: bytes, *, largest_only: bool) -> list[FoundFace]:
        image = media.decode_image(content, self._limits)
        if not largest_only:
            return [_found(f) for f in self._bio.faces([image])[0]]
        try:
            return [_found(self._bio.one_face(image))]
        except NoFace:
            return []

    def video_faces(self, content: bytes, *, every_seconds: float, max_frames: int,
                    largest_only: bool) -> tuple[list[list[FoundFace]], bool]:
        info, frames = media.video_frames(content, every_seconds=every_seconds, max_frames=max_frames,
                                          limits=self._limits)
        images = [frame for _, frame in frames]
        per_frame = self._bio.faces(images) if images else []
        found: list[list[FoundFace]] = []
        for faces in per_frame:
            if largest_only and faces:
                faces = [max(faces, key=lambda f: f.quality.size_px)]
            found.append([_found(f) for f in faces])
        return found, info.has_audio

    def voice(self, content: bytes) -> np.ndarray | None:
        try:
            return self._bio.voice_from_audio(content, self._limits).embedding
        except (NoSpeech, NoAudioTrack):
            return None

"""Passive presentation-attack detection: MiniFASNet V2 and V1SE (Silent-Face), averaged."""

from __future__ import annotations

import cv2
import numpy as np

from identity_service.inference.face import DetectedFace
from identity_service.inference.ort import OnnxModel

SIZE = 80


def _crop(image: np.ndarray, face: DetectedFace, scale: float) -> np.ndarray:
    """Silent-Face's crop: the face box grown by ``scale`` (less at the image border), 80x80."""
    height, width = image.shape[:2]
    box_w, box_h = face.width, face.height
    scale = min((height - 1) / max(box_h, 1), (width - 1) / max(box_w, 1), scale)
    new_w, new_h = box_w * scale, box_h * scale
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    x1, y1 = max(0.0, cx - new_w / 2), max(0.0, cy - new_h / 2)
    x2, y2 = min(width - 1.0, cx + new_w / 2), min(height - 1.0, cy + new_h / 2)
    crop = image[int(y1):int(y2) + 1, int(x1):int(x2) + 1]
    resized: np.ndarray = cv2.resize(crop, (SIZE, SIZE))
    return resized


class AntiSpoof:
    """P(live) per face: softmax class 1 of each model, averaged."""

    def __init__(self, v2: OnnxModel, v1se: OnnxModel) -> None:
        self.models = ((v2, 2.7), (v1se, 4.0))

    def live_scores(self, images: list[np.ndarray], faces: list[DetectedFace]) -> np.ndarray:
        if not faces:
            return np.zeros(0, dtype=np.float32)
        total = np.zeros(len(faces), dtype=np.float64)
        for model, scale in self.models:
            for i, (image, face) in enumerate(zip(images, faces, strict=True)):
                # BGR, raw 0-255, as the models were trained; they take one crop at a time.
                tensor = _crop(image, face, scale).transpose(2, 0, 1)[None].astype(np.float32)
                logits = model.run(tensor)[0][0].astype(np.float64)
                exp = np.exp(logits - logits.max())
                total[i] += exp[1] / exp.sum()
        scores: np.ndarray = (total / len(self.models)).astype(np.float32)
        return scores

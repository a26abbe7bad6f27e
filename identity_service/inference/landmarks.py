"""106 face landmarks (insightface 2d106det) and the mouth opening measured from them."""

from __future__ import annotations

import cv2
import numpy as np

from identity_service.inference.face import DetectedFace
from identity_service.inference.ort import OnnxModel

SIZE = 192


class LandmarkModel:
    def __init__(self, model: OnnxModel) -> None:
        self.model = model

    def landmarks_batch(self, images: list[np.ndarray], faces: list[DetectedFace]) -> list[np.ndarray]:
        """106 x 2 points in image pixels for each (image, face) pair, in one batch."""
        if not faces:
            return []
        crops, inverses = [], []
        for image, face in zip(images, faces, strict=True):
            centre = (face.box[:2] + face.box[2:]) / 2
            scale = SIZE / (max(face.width, face.height) * 1.5)
            matrix = np.array([[scale, 0, SIZE / 2 - scale * centre[0]], [0, scale, SIZE / 2 - scale * centre[1]]],
                              dtype=np.float32)
            crop = cv2.warpAffine(image, matrix, (SIZE, SIZE), borderValue=0.0)
            crops.append(crop[:, :, ::-1].transpose(2, 0, 1).astype(np.float32))  # RGB, raw 0-255
            inverses.append(cv2.invertAffineTransform(matrix))
        out = self.model.run(np.stack(crops))[0].reshape(len(faces), -1, 2)
        points = []
        for pred, inverse in zip(out, inverses, strict=True):
            local = (pred + 1.0) * (SIZE // 2)
            points.append(local @ inverse[:, :2].T + inverse[:, 2])
        return points


LEFT_CORNER, RIGHT_CORNER = 52, 61
# The inner lips' facing points (upper, lower): left of centre, centre, right of centre.
INNER_PAIRS = ((66, 54), (62, 60), (70, 57))


def mouth_opening(points: np.ndarray, face: DetectedFace) -> float:
    """Gap between the inner lips over the mouth's width (corner to corner), averaged over three
    facing pairs of points (one pair's landmark jitter is a large share of a small face's gap):
    about 0 closed, rising as the mouth opens. Measured across the mouth's own axis, so head roll
    does not count."""
    left, right = points[LEFT_CORNER], points[RIGHT_CORNER]
    width = float(np.linalg.norm(right - left))
    if width < 1e-6:
        return 0.0
    axis = (right - left) / width
    normal = np.array([-axis[1], axis[0]])
    gaps = [float((points[lower] - points[upper]) @ normal) for upper, lower in INNER_PAIRS]
    return float(np.mean(gaps)) / width

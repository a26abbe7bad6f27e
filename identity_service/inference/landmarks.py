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


MOUTH = slice(52, 72)  # the 20 lip points of the 106-point layout; 52 and 61 are the corners
INNER_UPPER, INNER_LOWER = 62, 60


def mouth_opening(points: np.ndarray, face: DetectedFace) -> float:
    """Gap between the inner lips over the mouth's width (corner to corner): about 0 closed,
    rising as the mouth opens. Measured across the mouth's own axis, so head roll does not count."""
    lips = points[MOUTH]
    left, right = lips[0], lips[9]
    width = float(np.linalg.norm(right - left))
    if width < 1e-6:
        return 0.0
    axis = (right - left) / width
    normal = np.array([-axis[1], axis[0]])
    return float((points[INNER_LOWER] - points[INNER_UPPER]) @ normal / width)

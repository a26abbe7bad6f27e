"""Faces: SCRFD detection with 5 keypoints, ArcFace alignment, 512-d embeddings (insightface's
buffalo_sc weights on ONNX Runtime), and the quality measures enrollment gates on."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from identity.vectors import l2_normalise
from identity_service.inference.ort import OnnxModel

# insightface's ArcFace template: where the eyes, nose tip and mouth corners sit in a 112x112 crop.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)
STRIDES = (8, 16, 32)
ANCHORS_PER_CELL = 2


@dataclass(frozen=True, slots=True)
class DetectedFace:
    box: np.ndarray  # x1, y1, x2, y2 in image pixels
    score: float
    keypoints: np.ndarray  # 5 x 2: left eye, right eye, nose, left mouth, right mouth

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])


@dataclass(frozen=True, slots=True)
class FaceQuality:
    size_px: int  # the shorter side of the face box
    sharpness: float  # variance of the Laplacian on the aligned crop
    brightness: float  # mean grey level of the aligned crop, 0-255
    yaw_degrees: float  # + turned to the image's right
    pitch_degrees: float  # + looking up
    detector_score: float


class FaceDetector:
    """SCRFD-500M with keypoints. Images are letterboxed to ``size`` and detected in one batch."""

    def __init__(self, model: OnnxModel, *, size: int = 640, threshold: float = 0.5, nms: float = 0.4) -> None:
        self.model = model
        self.size = size
        self.threshold = threshold
        self.nms = nms
        self._centers = {s: _anchor_centers(size // s, size // s, s) for s in STRIDES}

    def preprocess(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[float]]:
        batch = np.zeros((len(images), 3, self.size, self.size), dtype=np.float32)
        scales = []
        for i, image in enumerate(images):
            h, w = image.shape[:2]
            scale = min(self.size / h, self.size / w)
            nh, nw = max(1, int(h * scale)), max(1, int(w * scale))
            resized = cv2.resize(image, (nw, nh))
            # BGR -> RGB, (x - 127.5) / 128, as SCRFD was trained.
            batch[i, :, :nh, :nw] = (resized[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) - 127.5) / 128.0
            scales.append(scale)
        return batch, scales

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[DetectedFace]]:
        """Faces per image, best first."""
        if not images:
            return []
        batch, scales = self.preprocess(images)
        outputs = self.model.run(batch)
        return self.postprocess(outputs, scales)

    def postprocess(self, outputs: list[np.ndarray], scales: list[float]) -> list[list[DetectedFace]]:
        results: list[list[DetectedFace]] = []
        n = len(STRIDES)
        for i, scale in enumerate(scales):
            boxes, scores, points = [], [], []
            for k, stride in enumerate(STRIDES):
                score = outputs[k][i].reshape(-1)
                keep = np.where(score >= self.threshold)[0]
                if keep.size == 0:
                    continue
                centers = self._centers[stride][keep]
                distances = outputs[n + k][i][keep] * stride
                kps = outputs[2 * n + k][i][keep].reshape(-1, 5, 2) * stride
                boxes.append(np.concatenate([centers - distances[:, :2], centers + distances[:, 2:]], axis=1))
                points.append(centers[:, None, :] + kps)
                scores.append(score[keep])
            if not boxes:
                results.append([])
                continue
            all_boxes = np.concatenate(boxes) / scale
            all_scores = np.concatenate(scores)
            all_points = np.concatenate(points) / scale
            order = _nms(all_boxes, all_scores, self.nms)
            results.append([DetectedFace(all_boxes[j], float(all_scores[j]), all_points[j]) for j in order])
        return results


class FaceEmbedder:
    """w600k MobileFaceNet: aligned 112x112 crops in, L2-normalised 512-d embeddings out."""

    dimension = 512

    def __init__(self, model: OnnxModel) -> None:
        self.model = model

    def embed_batch(self, crops: np.ndarray) -> np.ndarray:
        """``crops``: N x 112 x 112 x 3 BGR uint8."""
        if len(crops) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batch = (crops[:, :, :, ::-1].transpose(0, 3, 1, 2).astype(np.float32) - 127.5) / 127.5
        raw = self.model.run(np.ascontiguousarray(batch))[0]
        return l2_normalise(raw)


def align(image: np.ndarray, keypoints: np.ndarray, size: int = 112) -> np.ndarray:
    """The ArcFace crop: a similarity transform taking the keypoints onto the template."""
    matrix = similarity_transform(keypoints.astype(np.float32), ARCFACE_TEMPLATE * (size / 112.0))
    crop: np.ndarray = cv2.warpAffine(image, matrix, (size, size), borderValue=0.0)
    return crop


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation, uniform scale and translation from ``src`` to ``dst`` (Umeyama)."""
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(covariance)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1
    rotation = u @ np.diag(d) @ vt
    variance = (src_c**2).sum() / len(src)
    scale = float((s * d).sum() / variance) if variance > 0 else 1.0
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]]).astype(np.float32)


def quality(face: DetectedFace, crop: np.ndarray) -> FaceQuality:
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    # Sharpness on the central part of the crop, so the black border of an edge face is not counted.
    centre = grey[16:96, 16:96]
    yaw, pitch = head_pose(face.keypoints)
    return FaceQuality(
        size_px=int(min(face.width, face.height)),
        sharpness=float(cv2.Laplacian(centre, cv2.CV_64F).var()),
        brightness=float(centre.mean()),
        yaw_degrees=yaw, pitch_degrees=pitch, detector_score=face.score,
    )


def head_pose(keypoints: np.ndarray) -> tuple[float, float]:
    """Rough yaw and pitch in degrees from the 5 keypoints: where the nose sits between the eyes
    (yaw) and between the eye line and the mouth line (pitch). Good for 'turned left, right, up'."""
    left_eye, right_eye, nose, left_mouth, right_mouth = keypoints.astype(np.float64)
    eye_mid = (left_eye + right_eye) / 2
    mouth_mid = (left_mouth + right_mouth) / 2
    eye_axis = right_eye - left_eye
    half_eyes = max(float(np.linalg.norm(eye_axis)) / 2, 1e-6)
    unit = eye_axis / (2 * half_eyes)
    normal = np.array([-unit[1], unit[0]])
    horizontal = float((nose - eye_mid) @ unit) / half_eyes
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, horizontal))))
    face_height = max(float((mouth_mid - eye_mid) @ normal), 1e-6)
    # A frontal face has its nose tip about 55% of the way from the eye line to the mouth line.
    vertical = float((nose - eye_mid) @ normal) / face_height
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, (0.55 - vertical) * 2.0))))
    return yaw, pitch


def _anchor_centers(height: int, width: int, stride: int) -> np.ndarray:
    ys, xs = np.mgrid[:height, :width]
    centers = (np.stack([xs, ys], axis=-1).astype(np.float32) * stride).reshape(-1, 2)
    return np.repeat(centers, ANCHORS_PER_CELL, axis=0)


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        overlap = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(overlap <= threshold)[0] + 1]
    return keep

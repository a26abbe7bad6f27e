"""Faces on real photos from ../shared/data: detection, embeddings, quality gates, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from identity_service.inference import media
from identity_service.inference.biometrics import Biometrics
from identity_service.inference.face import head_pose, similarity_transform
from kernel.errors import DomainError
from tests.conftest import ROOT, SHARED

FACES = SHARED / "data" / "faces"
OBAMA = FACES / "knn_examples/train/obama/obama.jpg"


def jpeg(image: np.ndarray) -> bytes:
    return bytes(cv2.imencode(".jpg", image)[1].tobytes())


def reason(call: object) -> str:
    with pytest.raises(DomainError) as caught:
        call()  # type: ignore[operator]
    return caught.value.reason


def test_every_same_person_pair_scores_above_every_different_person_pair(model_dir: Path) -> None:
    """The evaluation script on the repository's pairs over ../shared/data/faces."""
    run = subprocess.run(
        [sys.executable, "scripts/eval_face.py", "--pairs", "scripts/data/face_pairs_shared.csv", "--images",
         str(FACES), "--model-dir", str(model_dir)], cwd=ROOT, capture_output=True, text=True, timeout=300,
        check=True,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert {"pairs", "auc", "eer", "tar_at_far_1e-3", "threshold_at_far_1e-3"} <= result.keys()
    assert result["pairs"] == 171 and result["unscorable_pairs"] == 0 and result["no_face"] == 0
    assert result["separable"] is True and result["auc"] == 1.0 and result["eer"] == 0.0
    assert result["min_genuine"] > 0.4 and result["max_impostor"] < 0.3  # a wide margin, not a coin toss


def test_eval_face_counts_images_without_a_face(tmp_path: Path, model_dir: Path) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((400, 400, 3), 128, np.uint8))
    (tmp_path / "obama.jpg").write_bytes(OBAMA.read_bytes())
    (tmp_path / "biden.jpg").write_bytes((FACES / "knn_examples/train/biden/biden.jpg").read_bytes())
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("file_x,file_y,Decision\nobama.jpg,obama.jpg,Yes\nobama.jpg,biden.jpg,No\nblank.png,obama.jpg,No\n")
    run = subprocess.run([sys.executable, "scripts/eval_face.py", "--pairs", str(pairs), "--images", str(tmp_path),
                          "--model-dir", str(model_dir)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         check=True)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["no_face"] == 1 and result["no_face_files"] == ["blank.png"] and result["unscorable_pairs"] == 1


def test_two_people_are_two_faces_and_refused_where_one_is_needed(biometrics: Biometrics) -> None:
    image = media.decode_image((FACES / "two_people.jpg").read_bytes())
    assert len(biometrics.faces([image])[0]) == 2
    with pytest.raises(DomainError) as caught:
        biometrics.one_face(image)
    assert caught.value.reason == "ERROR_REASON_MULTIPLE_FACES" and caught.value.metadata["faces"] == "2"


def test_frames_are_batched_with_the_same_result(biometrics: Biometrics) -> None:
    images = [media.decode_image(p.read_bytes()) for p in (OBAMA, FACES / "two_people.jpg", OBAMA)]
    batched = biometrics.faces(images)
    alone = [biometrics.faces([image])[0] for image in images]
    assert [len(f) for f in batched] == [1, 2, 1]
    for many, one in zip(batched, alone, strict=True):
        for a, b in zip(many, one, strict=True):
            assert float(a.embedding @ b.embedding) > 0.999
            assert np.allclose(a.face.box, b.face.box, atol=1.0)


@pytest.mark.parametrize(("make", "expected"), [
    (lambda img: cv2.resize(img, None, fx=0.2, fy=0.2), "ERROR_REASON_FACE_TOO_SMALL"),
    (lambda img: cv2.GaussianBlur(img, (0, 0), 8), "ERROR_REASON_FACE_BLURRED"),
    (lambda img: (img * 0.12).astype(np.uint8), "ERROR_REASON_FACE_BADLY_LIT"),
    (lambda img: np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8), "ERROR_REASON_NO_FACE"),
    (lambda img: np.full((480, 640, 3), 128, np.uint8), "ERROR_REASON_NO_FACE"),
], ids=["tiny", "blurred", "dark", "noise", "blank"])
def test_quality_gates_refuse_with_their_own_reason(biometrics: Biometrics, make: object, expected: str) -> None:
    image = media.decode_image(OBAMA.read_bytes())
    altered = make(image)  # type: ignore[operator]
    assert reason(lambda: biometrics.face_from_image(jpeg(altered))) == expected


def test_the_gate_metadata_says_what_to_fix(biometrics: Biometrics) -> None:
    small = jpeg(cv2.resize(media.decode_image(OBAMA.read_bytes()), None, fx=0.2, fy=0.2))
    with pytest.raises(DomainError) as caught:
        biometrics.face_from_image(small)
    assert int(caught.value.metadata["size_px"]) < 64 and caught.value.metadata["min_px"] == "64"


@pytest.mark.parametrize(("data", "expected"), [
    (lambda raw: raw[: len(raw) // 2], "ERROR_REASON_MEDIA_CORRUPT"),
    (lambda raw: raw[:200], "ERROR_REASON_MEDIA_CORRUPT"),
    (lambda raw: b"", "ERROR_REASON_MEDIA_CORRUPT"),
    (lambda raw: b"not an image at all" * 20, "ERROR_REASON_MEDIA_CORRUPT"),
    (lambda raw: bytes(cv2.imencode(".tiff", media.decode_image(raw))[1].tobytes()), "ERROR_REASON_MEDIA_UNSUPPORTED"),
    (lambda raw: (SHARED / "data/speech/librispeech/1688/1688-142285-0000.flac").read_bytes(),
     "ERROR_REASON_MEDIA_UNSUPPORTED"),
], ids=["truncated-half", "truncated-head", "empty", "garbage", "tiff", "audio-not-image"])
def test_bad_image_files_get_a_clear_reason(biometrics: Biometrics, data: object, expected: str) -> None:
    payload = data(OBAMA.read_bytes())  # type: ignore[operator]
    assert reason(lambda: biometrics.face_from_image(payload)) == expected


def test_a_truncated_png_is_refused_and_a_32_bit_png_is_read(biometrics: Biometrics) -> None:
    png = (FACES / "test_images/32bit.png").read_bytes()
    assert biometrics.face_from_image(png).quality.size_px > 100
    assert reason(lambda: biometrics.face_from_image(png[: len(png) - 100])) == "ERROR_REASON_MEDIA_CORRUPT"


def test_head_pose_from_keypoints_follows_a_mirror(biometrics: Biometrics) -> None:
    image = media.decode_image((FACES / "knn_examples/train/kit_harington/john2.jpeg").read_bytes())
    turned = biometrics.one_face(image).quality.yaw_degrees
    mirrored = biometrics.one_face(np.ascontiguousarray(image[:, ::-1])).quality.yaw_degrees
    assert abs(turned) > 10 and np.sign(turned) == -np.sign(mirrored) and abs(turned + mirrored) < 8


def test_head_pose_of_a_frontal_layout_is_near_zero() -> None:
    frontal = np.array([[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]])
    yaw, pitch = head_pose(frontal)
    assert abs(yaw) < 3 and abs(pitch) < 15


def test_similarity_transform_recovers_a_known_transform() -> None:
    src = np.random.default_rng(1).uniform(0, 100, (5, 2)).astype(np.float32)
    angle, scale, shift = 0.3, 1.7, np.array([5.0, -3.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = (scale * src @ rotation.T + shift).astype(np.float32)
    matrix = similarity_transform(src, dst)
    assert np.allclose(matrix[:, :2], scale * rotation, atol=1e-4) and np.allclose(matrix[:, 2], shift, atol=1e-3)

"""Enrollment through the user API (what the capture page calls): a session and its challenge,
then the recording, through the same enrollment code as gRPC's Enroll."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from identity_service.inference.biometrics import Biometrics
from tests.test_enroll import ENROLL_CLIP
from tests.userapi_support import UserApi, running_user_api


@pytest.fixture
def api(tmp_path: Path, biometrics: Biometrics, recording_analyzer: object) -> Iterator[UserApi]:
    # A file made beforehand cannot say a fresh session's digits: those two checks are reported only.
    with running_user_api(tmp_path, biometrics=biometrics, analyzer=recording_analyzer,
                          liveness_optional_checks=["spoken_digits", "head_turns"],
                          enroll_max_bytes=2 * 1024 * 1024) as running:
        yield running


def digest_of(body: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


def upload(client: httpx.Client, session_id: str, body: bytes, **headers: str) -> httpx.Response:
    sent = {"content-type": "video/mp4", "content-digest": digest_of(body), **headers}
    return client.put(f"/v1/subjects/me/enrollment-sessions/{session_id}/recording", content=body, headers=sent,
                      timeout=120)


def problem(response: httpx.Response, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["reason"] == reason, body
    return body


def test_a_person_enrolls_from_a_recording_through_the_user_api(api: UserApi) -> None:
    clip = ENROLL_CLIP.read_bytes()
    with api.client("alice") as alice:
        started = alice.post("/v1/subjects/me/enrollment-sessions", json={})
        assert started.status_code == 201, started.text
        session = started.json()
        assert len(session["digits"]) == 6 and session["head_turns"]
        result = upload(alice, session["session_id"], clip)
        assert result.status_code == 200, result.text
        outcome = result.json()
        assert outcome["subject_id"] == "alice" and outcome["state"] == "active"
        checks = {c["check"]: c for c in outcome["checks"]}
        assert checks["lip_sync"]["passed"] and checks["presentation_attack"]["passed"]
        assert checks["spoken_digits"]["required"] is False
        # The same session cannot be used twice.
        problem(upload(alice, session["session_id"], clip), 409, "ERROR_REASON_ENROLLMENT_SESSION_USED")
    with api.client("alice") as alice:
        assert alice.get("/v1/subjects/me/export").json()["enrollment"]["state"] == "active"


def test_bad_uploads_are_refused_with_their_reason(api: UserApi) -> None:
    clip = ENROLL_CLIP.read_bytes()
    with api.client("bob") as bob:
        session = bob.post("/v1/subjects/me/enrollment-sessions", json={}).json()["session_id"]
        problem(upload(bob, session, clip, **{"content-digest": digest_of(clip[:-1])}), 400,
                "ERROR_REASON_UPLOAD_INCOMPLETE")
        missing = bob.put(f"/v1/subjects/me/enrollment-sessions/{session}/recording", content=clip,
                          headers={"content-type": "video/mp4"})
        assert problem(missing, 400, "ERROR_REASON_FIELD_MISSING")["metadata"]["field"] == "Content-Digest"
        problem(upload(bob, session, clip, **{"content-type": "image/jpeg"}), 400, "ERROR_REASON_FIELD_INVALID")
        too_big = clip + b"\0" * (2 * 1024 * 1024)
        problem(upload(bob, session, too_big), 413, "ERROR_REASON_MESSAGE_TOO_LARGE")
        # A JPEG labelled MP4: refused for what it is; the session is spent.
        photo = Path(__file__).resolve().parents[2] / "shared/data/faces/knn_examples/train/obama/obama.jpg"
        problem(upload(bob, session, photo.read_bytes()), 400, "ERROR_REASON_MEDIA_UNSUPPORTED")
    # Another person's session is not found, whoever asks.
    with api.client("carol") as carol:
        carols = carol.post("/v1/subjects/me/enrollment-sessions", json={}).json()["session_id"]
    with api.client("bob") as bob:
        problem(upload(bob, carols, clip), 404, "ERROR_REASON_ENROLLMENT_SESSION_NOT_FOUND")


def test_without_models_the_upload_says_where_enrollment_is_served(tmp_path: Path) -> None:
    with running_user_api(tmp_path) as api, api.client("dan") as dan:
        session = dan.post("/v1/subjects/me/enrollment-sessions", json={})
        assert session.status_code == 201
        clip = ENROLL_CLIP.read_bytes()
        problem(upload(dan, session.json()["session_id"], clip), 503, "ERROR_REASON_MODELS_UNAVAILABLE")


def test_the_capture_page_is_served_without_secrets(tmp_path: Path) -> None:
    with running_user_api(tmp_path) as api, httpx.Client(base_url=api.base_url) as anonymous:
        page = anonymous.get("/capture")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "getUserMedia" in page.text and "MediaRecorder" in page.text and "Content-Digest" in page.text
    assert "content-security-policy" in page.headers

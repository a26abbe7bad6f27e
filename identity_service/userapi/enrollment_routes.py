"""Enrollment from a web page: the user API's routes to start a session (the challenge to show)
and to upload the recording a browser made (MediaRecorder's WebM), and the capture page itself.
They call the same enrollment code as gRPC's StartEnrollment and Enroll.

No ``from __future__ import annotations``: FastAPI reads the route signatures at definition time.
"""

import base64
import binascii
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from auditlog.model import Actor
from identity_service.uploads import check_declared
from identity_service.wiring import App
from kernel.errors import (
    EnrollmentSessionNotFound,
    FieldInvalid,
    FieldMissing,
    ModelsUnavailable,
)

CAPTURE_PAGE = Path(__file__).with_name("capture.html")
RECORDING_ROUTE = re.compile(r"^/v1/subjects/[^/]+/enrollment-sessions/[^/]+/recording$")
CONTAINERS = {"video/webm": "webm", "video/mp4": "mp4", "video/quicktime": "mov"}
_DIGEST = re.compile(r"sha-256=:([A-Za-z0-9+/=]+):")


class EnrollmentSessionIn(BaseModel):
    reenroll: bool = Field(default=False, description="Replace my active enrollment.")


class EnrollmentSessionOut(BaseModel):
    session_id: str
    digits: str = Field(description="Say these digits, in order, while recording.")
    head_turns: list[str] = Field(description="Turn the head these ways (left, right, up), in order.")
    expire_time: datetime = Field(description="Upload the recording before this.")


class CheckOut(BaseModel):
    check: str = Field(description="single_face, one_identity, head_turns, spoken_digits, one_voice, lip_sync, "
                                   "presentation_attack or session_fresh.")
    passed: bool
    required: bool = Field(description="False for a check the service reports but does not require.")
    score: float
    threshold: float
    reason: str = Field(description="OK, or why the check failed (stable code).")


class EnrollmentResultOut(BaseModel):
    subject_id: str
    state: str = Field(description="active or failed.")
    checks: list[CheckOut]


def recording_body_limit(settings_max_bytes: int, default_limit: int) -> Callable[[str], int]:
    """The request guard's body limit by path: a recording may be as large as an Enroll upload."""

    def limit(path: str) -> int:
        return settings_max_bytes if RECORDING_ROUTE.match(path) else default_limit

    return limit


def add_enrollment_routes(api: FastAPI, app: App, owner: Callable[..., str], actor: Callable[..., Actor],
                          errors: Callable[..., dict[int | str, dict[str, Any]]]) -> None:
    """Add the session and recording routes and the capture page to ``api``; ``owner`` and
    ``actor`` are the API's dependencies for the calling user (path subject must be the caller)."""
    uploads = app.uploads
    assert uploads is not None  # App makes one
    Owner = Annotated[str, Depends(owner)]
    UserActor = Annotated[Actor, Depends(actor)]

    @api.get("/capture", include_in_schema=False)
    def capture_page() -> HTMLResponse:
        # The page holds no secret: it asks for the user's access token and calls the routes below.
        return HTMLResponse(CAPTURE_PAGE.read_text(encoding="utf-8"),
                            headers={"Cache-Control": "no-store", "Content-Security-Policy":
                                     "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                                     "style-src 'self' 'unsafe-inline'; media-src 'self' blob:"})

    @api.post("/v1/subjects/{subject_id}/enrollment-sessions", response_model=EnrollmentSessionOut,
              status_code=201, tags=["enrollment"],
              summary="Start enrolling my face and voice: the challenge to say and do while recording.",
              responses=errors(409, 429))
    def start_session(subject: Owner, who: UserActor, body: EnrollmentSessionIn | None = None) -> EnrollmentSessionOut:
        started = app.enrollments.start(subject, reenroll=bool(body and body.reenroll), actor=who)
        return EnrollmentSessionOut(session_id=started.session_id, digits=started.challenge.digits,
                                    head_turns=[t.value for t in started.challenge.head_turns],
                                    expire_time=started.expire_time)

    @api.put("/v1/subjects/{subject_id}/enrollment-sessions/{session_id}/recording",
             response_model=EnrollmentResultOut, tags=["enrollment"],
             summary="Upload the session's recording (the body: WebM, MP4 or MOV video with its sound) and get "
                     "each liveness check's result. Send Content-Digest: sha-256=:BASE64: of the body.",
             responses=errors(404, 409, 413, 429, 503),
             openapi_extra={"requestBody": {"required": True, "content": {
                 c: {"schema": {"type": "string", "format": "binary"}} for c in CONTAINERS}}})
    def upload_recording(
        subject: Owner, who: UserActor, request: Request,
        session_id: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{8,64}$", description="From the session.")],
        content_type: Annotated[str, Header()] = "",
        content_digest: Annotated[str, Header()] = "",
    ) -> EnrollmentResultOut:
        container = CONTAINERS.get(content_type.split(";")[0].strip().lower())
        if container is None:
            raise FieldInvalid("Content-Type", "video/webm, video/mp4 or video/quicktime")
        digest = _declared_digest(content_digest)
        body: bytes = request.state.body  # read, within the limit, by the request guard
        if not body:
            raise FieldMissing("body")
        check_declared(body, len(body), digest, "body")
        # After the request's own checks, so a malformed upload hears what is wrong with it.
        if app.enroller is None:
            raise ModelsUnavailable("enrollment is served by `identity-service serve`, which loads the models; "
                                    "this process serves the user API alone")
        with app.store.read() as tx:
            session = tx.get_session(session_id)
        if session is None or session.subject_id != subject:
            raise EnrollmentSessionNotFound()  # another person's session is as good as none
        with uploads.slot():
            return _enroll(app, session_id, body, container, who)


def _declared_digest(header: str) -> bytes:
    if not header:
        raise FieldMissing("Content-Digest")
    found = _DIGEST.search(header)
    if found is None:
        raise FieldInvalid("Content-Digest", "sha-256=:BASE64: (RFC 9530)")
    try:
        digest = base64.b64decode(found.group(1), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FieldInvalid("Content-Digest", "sha-256=:BASE64: (RFC 9530)") from exc
    if len(digest) != 32:
        raise FieldInvalid("Content-Digest", "a SHA-256 is 32 bytes")
    return digest


def _enroll(app: App, session_id: str, body: bytes, container: str, who: Actor) -> EnrollmentResultOut:
    from identity_service.inference import media

    assert app.enroller is not None
    session = app.enroller.begin(session_id, actor=who)
    try:
        media.check_container(body[:512], container)
    except Exception as error:
        app.enroller.abandon(session, getattr(error, "reason", "UPLOAD_ABORTED"), actor=who)
        raise
    outcome = app.enroller.finish(session, body, None, actor=who)
    return EnrollmentResultOut(
        subject_id=outcome.subject_id, state=outcome.status.value,
        checks=[CheckOut(check=c.kind.value, passed=c.passed, required=c.required, score=c.score,
                         threshold=c.threshold, reason=c.reason) for c in outcome.checks])

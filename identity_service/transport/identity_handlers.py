"""IdentityService handlers: validate, call the domain, convert. Nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from identity.enroll_recording import RecordingEnrollment
from identity.enrollment import EnrollmentService, EnrollmentView
from identity.matching import LikenessService, MediaKind, Verdict
from identity.model import EnrollmentStatus
from identity_service.inference import media
from identity_service.settings import Settings
from identity_service.transport.convert import service_actor, timestamp
from identity_service.uploads import UploadSlots, check_declared, within_timeout
from identity_service.validation import (
    decode_page_token,
    page_of,
    page_size,
    subject_id,
)
from kernel.errors import (
    DomainError,
    FieldInvalid,
    FieldMissing,
    ModelsUnavailable,
    RecordingTooLarge,
    UploadIncomplete,
)
from likeness.identity.v1 import identity_service_pb2 as pb
from likeness.identity.v1 import identity_service_pb2_grpc as pb_grpc

TURNS = {"left": pb.HEAD_TURN_LEFT, "right": pb.HEAD_TURN_RIGHT, "up": pb.HEAD_TURN_UP}
STATES = {
    EnrollmentStatus.PENDING: pb.ENROLLMENT_STATE_PENDING,
    EnrollmentStatus.ACTIVE: pb.ENROLLMENT_STATE_ACTIVE,
    EnrollmentStatus.FAILED: pb.ENROLLMENT_STATE_FAILED,
    EnrollmentStatus.STALE: pb.ENROLLMENT_STATE_STALE,
}
STATUS_BY_STATE = {v: k for k, v in STATES.items()}
MEDIA_KINDS = {
    pb.MEDIA_CONTAINER_JPEG: MediaKind.IMAGE, pb.MEDIA_CONTAINER_PNG: MediaKind.IMAGE,
    pb.MEDIA_CONTAINER_WAV: MediaKind.AUDIO, pb.MEDIA_CONTAINER_FLAC: MediaKind.AUDIO,
    pb.MEDIA_CONTAINER_MP4: MediaKind.VIDEO, pb.MEDIA_CONTAINER_WEBM: MediaKind.VIDEO,
    pb.MEDIA_CONTAINER_MOV: MediaKind.VIDEO,
}
CONTAINER_NAMES = {
    pb.MEDIA_CONTAINER_MP4: "mp4", pb.MEDIA_CONTAINER_MOV: "mov", pb.MEDIA_CONTAINER_WEBM: "webm",
    pb.MEDIA_CONTAINER_WAV: "wav", pb.MEDIA_CONTAINER_FLAC: "flac", pb.MEDIA_CONTAINER_JPEG: "jpeg",
    pb.MEDIA_CONTAINER_PNG: "png",
}
VERDICTS = {Verdict.MATCH: pb.DECISION_MATCH, Verdict.NO_MATCH: pb.DECISION_NO_MATCH,
            Verdict.INCONCLUSIVE: pb.DECISION_INCONCLUSIVE}
MAX_TOP_K = 50
VIDEO_CONTAINERS = {pb.MEDIA_CONTAINER_MP4, pb.MEDIA_CONTAINER_WEBM, pb.MEDIA_CONTAINER_MOV}
AUDIO_CONTAINERS = {pb.MEDIA_CONTAINER_WAV, pb.MEDIA_CONTAINER_FLAC, pb.MEDIA_CONTAINER_MP4,
                    pb.MEDIA_CONTAINER_WEBM}
CHECK_KINDS = {
    "single_face": pb.LIVENESS_CHECK_KIND_SINGLE_FACE, "one_identity": pb.LIVENESS_CHECK_KIND_ONE_IDENTITY,
    "head_turns": pb.LIVENESS_CHECK_KIND_HEAD_TURNS, "spoken_digits": pb.LIVENESS_CHECK_KIND_SPOKEN_DIGITS,
    "one_voice": pb.LIVENESS_CHECK_KIND_ONE_VOICE, "lip_sync": pb.LIVENESS_CHECK_KIND_LIP_SYNC,
    "presentation_attack": pb.LIVENESS_CHECK_KIND_PRESENTATION_ATTACK,
    "session_fresh": pb.LIVENESS_CHECK_KIND_SESSION_FRESH,
}


def media_of(message: pb.Media, present: bool, field: str) -> tuple[MediaKind, bytes]:
    if not present:
        raise FieldMissing(field)
    if message.container == pb.MEDIA_CONTAINER_UNSPECIFIED:
        raise FieldMissing(f"{field}.container")
    if message.container not in MEDIA_KINDS:
        raise FieldInvalid(f"{field}.container", "unknown container")
    if not message.content:
        raise FieldMissing(f"{field}.content")
    media.check_container(message.content, CONTAINER_NAMES[message.container])
    return MEDIA_KINDS[message.container], message.content


def _declared_sizes(header: pb.EnrollHeader, limit: int) -> tuple[int, int]:
    """The sizes the header declares, checked before a byte of the upload is read."""
    if header.size_bytes <= 0:
        raise FieldMissing("header.size_bytes")
    if len(header.sha256) != 32:
        raise FieldInvalid("header.sha256", "the 32-byte SHA-256 of the recording")
    if header.audio_size_bytes < 0:
        raise FieldInvalid("header.audio_size_bytes", "must not be negative")
    if header.audio_size_bytes and len(header.audio_sha256) != 32:
        raise FieldInvalid("header.audio_sha256", "the 32-byte SHA-256 of the audio track")
    if header.size_bytes + header.audio_size_bytes > limit:
        raise RecordingTooLarge(limit)
    return header.size_bytes, header.audio_size_bytes


def enrollment_message(view: EnrollmentView) -> pb.Enrollment:
    record = view.record
    state = pb.ENROLLMENT_STATE_EXPIRED if view.expired else STATES[record.status]
    message = pb.Enrollment(
        subject_id=record.subject_id,
        state=state,
        create_time=timestamp(record.create_time),
        update_time=timestamp(record.update_time),
        template_models=list(record.template_models),
    )
    expire = timestamp(record.session_expire_time)
    if record.status == EnrollmentStatus.PENDING and expire is not None:
        message.session_expire_time.CopyFrom(expire)
    return message


class IdentityHandlers(pb_grpc.IdentityServiceServicer):
    def __init__(
        self, enrollments: EnrollmentService, settings: Settings, likeness: LikenessService | None = None,
        enroller: RecordingEnrollment | None = None, uploads: UploadSlots | None = None,
    ) -> None:
        self._enrollments = enrollments
        self._settings = settings
        self._likeness = likeness
        self._enroller = enroller
        # The process's one cap, shared with the user API's recording route when there is one.
        self._uploads = uploads or UploadSlots(settings.enroll_upload_slots())

    def _likeness_service(self) -> LikenessService:
        if self._likeness is None:
            raise ModelsUnavailable("this server was started without its face and voice models")
        return self._likeness

    def StartEnrollment(
        self, request: pb.StartEnrollmentRequest, context: grpc.ServicerContext
    ) -> pb.StartEnrollmentResponse:
        started = self._enrollments.start(
            subject_id(request.subject_id), reenroll=request.reenroll, actor=service_actor(context)
        )
        return pb.StartEnrollmentResponse(
            session_id=started.session_id,
            nonce=started.nonce,
            challenge=pb.Challenge(
                digits=started.challenge.digits,
                head_turns=[TURNS[t.value] for t in started.challenge.head_turns],
            ),
            expire_time=timestamp(started.expire_time),
        )

    def Enroll(
        self, request_iterator: Iterator[pb.EnrollRequest], context: grpc.ServicerContext
    ) -> pb.EnrollResponse:
        if self._enroller is None:
            raise ModelsUnavailable("this server was started without its liveness models")
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("part") != "header":
            raise FieldMissing("header")
        header = first.header
        if not header.session_id:
            raise FieldMissing("header.session_id")
        if header.container == pb.MEDIA_CONTAINER_UNSPECIFIED:
            raise FieldMissing("header.container")
        if header.container not in VIDEO_CONTAINERS:
            raise FieldInvalid("header.container", "the recording is a video: MP4, WEBM or MOV")
        if header.audio_container != pb.MEDIA_CONTAINER_UNSPECIFIED and header.audio_container not in AUDIO_CONTAINERS:
            raise FieldInvalid("header.audio_container", "WAV, FLAC, MP4 or WEBM")
        declared = _declared_sizes(header, self._settings.enroll_max_bytes)
        with self._uploads.slot():
            return self._enroll(header, declared, request_iterator, context)

    def _enroll(self, header: pb.EnrollHeader, declared: tuple[int, int], request_iterator: Iterator[pb.EnrollRequest],
                context: grpc.ServicerContext) -> pb.EnrollResponse:
        assert self._enroller is not None
        actor = service_actor(context)
        session = self._enroller.begin(header.session_id, actor=actor)
        video, audio = bytearray(), bytearray()
        limit = self._settings.enroll_max_bytes
        try:
            for message in within_timeout(request_iterator, self._settings.enroll_read_timeout_seconds):
                part = message.WhichOneof("part")
                if part == "header":
                    raise FieldInvalid("header", "only the first message is a header")
                data = message.chunk if part == "chunk" else message.audio_chunk
                if len(video) + len(audio) + len(data) > limit:
                    raise RecordingTooLarge(limit)  # stop reading: the rest is never buffered
                (video if part == "chunk" else audio).extend(data)
                if len(video) > declared[0] or len(audio) > declared[1]:
                    raise UploadIncomplete("more bytes arrived than the header declared")
            if not video:
                raise FieldMissing("chunk")
            if audio and header.audio_container == pb.MEDIA_CONTAINER_UNSPECIFIED:
                raise FieldMissing("header.audio_container")
            check_declared(video, declared[0], header.sha256, "recording")
            check_declared(audio, declared[1], header.audio_sha256, "audio track")
            media.check_container(bytes(video[:512]), CONTAINER_NAMES[header.container])
            if audio:
                media.check_container(bytes(audio[:512]), CONTAINER_NAMES[header.audio_container])
        except grpc.RpcError:
            # The client went away half-way: the session is spent, nothing biometric is kept.
            self._enroller.abandon(session, "UPLOAD_CANCELLED", actor=actor)
            context.abort(grpc.StatusCode.CANCELLED, "the upload stopped before its end")
        except Exception as error:
            # A refused upload still consumed its session; nothing biometric is kept.
            self._enroller.abandon(session, getattr(error, "reason", "UPLOAD_ABORTED"), actor=actor)
            if isinstance(error, DomainError):
                error.mark_audited()
            raise
        if not context.is_active():
            # The stream can end without an error when the client cancels: what arrived is a cut
            # recording, never analysed as if it were whole.
            self._enroller.abandon(session, "UPLOAD_CANCELLED", actor=actor)
            context.abort(grpc.StatusCode.CANCELLED, "the upload stopped before its end")
        outcome = self._enroller.finish(session, bytes(video), bytes(audio) or None, actor=actor)
        return pb.EnrollResponse(
            subject_id=outcome.subject_id, state=STATES[outcome.status],
            checks=[pb.LivenessCheck(kind=CHECK_KINDS[c.kind.value], score=c.score, threshold=c.threshold,
                                     passed=c.passed, required=c.required, reason=c.reason) for c in outcome.checks],
        )

    def GetEnrollment(
        self, request: pb.GetEnrollmentRequest, context: grpc.ServicerContext
    ) -> pb.GetEnrollmentResponse:
        view = self._enrollments.get(subject_id(request.subject_id))
        return pb.GetEnrollmentResponse(enrollment=enrollment_message(view))

    def ListEnrollments(
        self, request: pb.ListEnrollmentsRequest, context: grpc.ServicerContext
    ) -> pb.ListEnrollmentsResponse:
        size = page_size(
            request.page_size,
            default=self._settings.default_page_size,
            maximum=self._settings.max_page_size,
        )
        filters: dict[str, object] = {"state": request.state}
        after = decode_page_token(request.page_token, filters) or ""
        status = STATUS_BY_STATE.get(request.state)
        views, token = page_of(
            self._enrollments.list(status=status, after_subject_id=str(after), limit=size + 1),
            size, lambda v: v.record.subject_id, filters,
        )
        return pb.ListEnrollmentsResponse(enrollments=[enrollment_message(v) for v in views], next_page_token=token)

    def VerifyLikeness(
        self, request: pb.VerifyLikenessRequest, context: grpc.ServicerContext
    ) -> pb.VerifyLikenessResponse:
        sid = subject_id(request.subject_id)
        kind, content = media_of(request.probe, request.HasField("probe"), "probe")
        result = self._likeness_service().verify(sid, kind, content, actor=service_actor(context))
        return pb.VerifyLikenessResponse(
            decision=VERDICTS[result.verdict],
            scores=[pb.ModalityScore(modality=s.modality, score=s.score, threshold=s.threshold, matched=s.matched)
                    for s in result.scores],
        )

    def SearchLikeness(
        self, request: pb.SearchLikenessRequest, context: grpc.ServicerContext
    ) -> pb.SearchLikenessResponse:
        kind, content = media_of(request.media, request.HasField("media"), "media")
        if request.top_k < 0 or request.top_k > MAX_TOP_K:
            raise FieldInvalid("top_k", f"1-{MAX_TOP_K}, or 0 for 5")
        service = self._likeness_service()
        result = service.search(kind, content, request.top_k or 5, actor=service_actor(context))
        face, voice = result.face_threshold, result.voice_threshold
        response = pb.SearchLikenessResponse(faces=[
            pb.FaceMatches(
                face_index=i,
                box=pb.BoundingBox(x=float(f.box[0]), y=float(f.box[1]), width=float(f.box[2] - f.box[0]),
                                   height=float(f.box[3] - f.box[1])),
                candidates=[pb.Candidate(subject_id=h.subject_id, score=h.score, matched=h.score >= face)
                            for h in f.candidates],
            )
            for i, f in enumerate(result.faces)
        ])
        if result.voice is not None:
            response.voice.candidates.extend(
                pb.Candidate(subject_id=h.subject_id, score=h.score, matched=h.score >= voice) for h in result.voice)
        return response

    def DeleteSubject(
        self, request: pb.DeleteSubjectRequest, context: grpc.ServicerContext
    ) -> pb.DeleteSubjectResponse:
        sid = subject_id(request.subject_id)
        destroyed = self._enrollments.delete_subject(sid, actor=service_actor(context))
        return pb.DeleteSubjectResponse(subject_id=sid, templates_destroyed=destroyed)

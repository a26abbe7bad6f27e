"""IdentityService handlers: validate, call the domain, convert. Nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from identity_service.enrollment import EnrollmentService, EnrollmentView
from identity_service.errors import NotImplementedYet
from identity_service.settings import Settings
from identity_service.storage.records import EnrollmentStatus
from identity_service.transport.convert import service_actor, timestamp
from identity_service.validation import (
    decode_page_token,
    page_of,
    page_size,
    subject_id,
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
    def __init__(self, enrollments: EnrollmentService, settings: Settings) -> None:
        self._enrollments = enrollments
        self._settings = settings

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
        raise NotImplementedYet("Enroll", "issue 4: liveness enrollment")

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
        raise NotImplementedYet("VerifyLikeness", "issue 5: templates and verification")

    def SearchLikeness(
        self, request: pb.SearchLikenessRequest, context: grpc.ServicerContext
    ) -> pb.SearchLikenessResponse:
        raise NotImplementedYet("SearchLikeness", "issue 5: templates and search")

    def DeleteSubject(
        self, request: pb.DeleteSubjectRequest, context: grpc.ServicerContext
    ) -> pb.DeleteSubjectResponse:
        sid = subject_id(request.subject_id)
        destroyed = self._enrollments.delete_subject(sid, actor=service_actor(context))
        return pb.DeleteSubjectResponse(subject_id=sid, templates_destroyed=destroyed)

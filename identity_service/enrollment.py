"""Enrollment sessions: start one, read state, erase a subject. Transport-free."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from identity_service.clock import Clock, utc_now
from identity_service.errors import EnrollmentAlreadyActive, EnrollmentNotFound, SubjectNotFound
from identity_service.storage.base import Store
from identity_service.storage.records import (
    EnrollmentRecord,
    EnrollmentSessionRecord,
    EnrollmentStatus,
    SessionStatus,
)
from liveness.challenge import Challenge, HeadTurn, new_challenge

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class StartedSession:
    session_id: str
    nonce: bytes
    challenge: Challenge
    expire_time: datetime


@dataclass(frozen=True, slots=True)
class EnrollmentView:
    """An enrollment as callers see it: EXPIRED is derived from a pending session's clock."""

    record: EnrollmentRecord
    expired: bool


class EnrollmentService:
    """Starts enrollment sessions and answers questions about enrollments."""

    def __init__(self, store: Store, *, session_ttl: timedelta, clock: Clock = utc_now) -> None:
        self._store = store
        self._ttl = session_ttl
        self._clock = clock

    def start(self, subject_id: str, *, reenroll: bool) -> StartedSession:
        """Open a single-use session; earlier open sessions of the subject stop being usable."""
        now = self._clock()
        challenge = new_challenge()
        session = EnrollmentSessionRecord(
            session_id=secrets.token_urlsafe(24),
            subject_id=subject_id,
            nonce=secrets.token_bytes(16),
            digits=challenge.digits,
            head_turns=tuple(t.value for t in challenge.head_turns),
            reenroll=reenroll,
            status=SessionStatus.OPEN,
            create_time=now,
            expire_time=now + self._ttl,
        )
        with self._store.write() as tx:
            current = tx.get_enrollment(subject_id)
            if current is not None and current.status == EnrollmentStatus.ACTIVE and not reenroll:
                raise EnrollmentAlreadyActive(subject_id)
            superseded = tx.supersede_open_sessions(subject_id)
            tx.add_session(session)
            if current is None:
                tx.put_enrollment(
                    EnrollmentRecord(
                        subject_id=subject_id,
                        status=EnrollmentStatus.PENDING,
                        create_time=now,
                        update_time=now,
                        session_id=session.session_id,
                        session_expire_time=session.expire_time,
                    )
                )
            else:
                # An ACTIVE enrollment stays ACTIVE until a re-enrollment passes.
                status = current.status
                if status in (EnrollmentStatus.FAILED, EnrollmentStatus.PENDING):
                    status = EnrollmentStatus.PENDING
                tx.put_enrollment(
                    replace(
                        current,
                        status=status,
                        update_time=now,
                        session_id=session.session_id,
                        session_expire_time=session.expire_time,
                    )
                )
        log.info(
            "enrollment_started",
            subject_id=subject_id,
            reenroll=reenroll,
            superseded_sessions=superseded,
        )
        return StartedSession(
            session_id=session.session_id,
            nonce=session.nonce,
            challenge=Challenge(
                digits=challenge.digits, head_turns=tuple(HeadTurn(t) for t in session.head_turns)
            ),
            expire_time=session.expire_time,
        )

    def get(self, subject_id: str) -> EnrollmentView:
        with self._store.read() as tx:
            record = tx.get_enrollment(subject_id)
        if record is None:
            raise EnrollmentNotFound(subject_id)
        return self._view(record)

    def list(
        self, *, status: EnrollmentStatus | None, after_subject_id: str, limit: int
    ) -> list[EnrollmentView]:
        with self._store.read() as tx:
            records = tx.list_enrollments(
                status=status, after_subject_id=after_subject_id, limit=limit
            )
        return [self._view(r) for r in records]

    def delete_subject(self, subject_id: str) -> int:
        """Erase every row about the subject in one transaction; returns templates destroyed."""
        with self._store.write() as tx:
            record = tx.get_enrollment(subject_id)
            if record is None:
                raise SubjectNotFound(subject_id)
            tx.delete_subject(subject_id)
        log.info("subject_deleted", subject_id=subject_id)
        return len(record.template_models)

    def _view(self, record: EnrollmentRecord) -> EnrollmentView:
        expired = (
            record.status == EnrollmentStatus.PENDING
            and record.session_expire_time is not None
            and record.session_expire_time <= self._clock()
        )
        return EnrollmentView(record=record, expired=expired)

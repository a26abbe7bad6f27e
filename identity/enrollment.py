"""Enrollment sessions: start one, read state, erase a subject. Transport-free."""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from auditlog.model import Actor, Outcome, erased_subject_marker
from identity.model import (
    EnrollmentRecord,
    EnrollmentSessionRecord,
    EnrollmentStatus,
    SessionStatus,
)
from identity.ports import AuditRecorder, IdentityStore, IdentityStoreTx
from kernel.clock import Clock, utc_now
from kernel.errors import (
    DomainError,
    EnrollmentAlreadyActive,
    EnrollmentAttemptsExhausted,
    EnrollmentNotFound,
)
from liveness.challenge import Challenge, new_challenge

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

    def __init__(self, store: IdentityStore, audit: AuditRecorder, *, session_ttl: timedelta, max_attempts: int = 0,
                 attempt_window: timedelta = timedelta(days=1), clock: Clock = utc_now) -> None:
        # Told of each erasure after it commits (the search index drops the subject at once).
        self.erased_listeners: list[Callable[[str], None]] = []
        self._store = store
        self._audit = audit
        self._ttl = session_ttl
        self._max_attempts = max_attempts  # sessions a subject may start per window; 0: no limit
        self._attempt_window = attempt_window
        self._clock = clock

    def start(self, subject_id: str, *, reenroll: bool, actor: Actor) -> StartedSession:
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
            refusal = self._start_in(tx, session, actor)
        if refusal is not None:
            # Raised after commit, so the refused attempt stays in the audit log.
            raise refusal
        log.info("enrollment_started", subject_id=subject_id, reenroll=reenroll)
        return StartedSession(
            session_id=session.session_id,
            nonce=session.nonce,
            challenge=challenge,
            expire_time=session.expire_time,
        )

    def _start_in(self, tx: IdentityStoreTx, session: EnrollmentSessionRecord, actor: Actor) -> DomainError | None:
        subject_id, now = session.subject_id, session.create_time
        current = tx.get_enrollment(subject_id)
        refusal: DomainError | None = None
        if current is not None and current.status == EnrollmentStatus.ACTIVE and not session.reenroll:
            refusal = EnrollmentAlreadyActive(subject_id)
        elif self._max_attempts:
            # Every started session counts, whatever became of it: an attacker whose forged
            # recording passes one time in ten must not get the tenth try today.
            starts = tx.session_starts_since(subject_id, now - self._attempt_window)
            if len(starts) >= self._max_attempts:
                retry_after = starts[len(starts) - self._max_attempts] + self._attempt_window - now
                refusal = EnrollmentAttemptsExhausted(
                    subject_id, self._max_attempts, int(self._attempt_window.total_seconds()),
                    max(1, math.ceil(retry_after.total_seconds())))
        if refusal is not None:
            self._audit.record(tx, actor.draft(
                "identity.enrollment.start", Outcome.FAILURE, subject_id=subject_id, reason=refusal.reason))
            return refusal.mark_audited()
        superseded = tx.supersede_open_sessions(subject_id)
        tx.add_session(session)
        if current is None:
            current = EnrollmentRecord(subject_id, EnrollmentStatus.PENDING, create_time=now, update_time=now)
        # An ACTIVE enrollment stays ACTIVE until a re-enrollment passes.
        status = EnrollmentStatus.ACTIVE if current.status == EnrollmentStatus.ACTIVE else EnrollmentStatus.PENDING
        tx.put_enrollment(replace(
            current, status=status, update_time=now, session_id=session.session_id,
            session_expire_time=session.expire_time,
        ))
        self._audit.record(tx, actor.draft(
            "identity.enrollment.start", Outcome.SUCCESS, subject_id=subject_id,
            details={"reenroll": str(session.reenroll).lower(), "superseded_sessions": str(superseded)}))
        return None

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

    def delete_subject(self, subject_id: str, *, actor: Actor) -> int:
        """Erase the person, in one transaction: enrollment, sessions and templates (their data
        key too: crypto-shredding), their cameo policy and block list, every grant they gave,
        their relationship edges, and the payload of their audit events (the log keeps a hashed
        marker of the erasure). Every use token issued for them stops verifying offline: one
        owner-wide entry goes into the revocation feed. Allowed whatever is left of the person,
        and idempotent: erasing again, or someone never seen, succeeds with nothing destroyed.
        Returns the number of templates destroyed."""
        now = self._clock()
        with self._store.write() as tx:
            had_enrollment = tx.get_enrollment(subject_id) is not None
            templates = tx.delete_subject(subject_id)
            consent = tx.erase_owner(subject_id)
            if had_enrollment or consent.anything:
                tx.add_revocation("", subject_id, now)
            redacted = self._audit.redact_subject(tx, subject_id)
            self._audit.record(tx, actor.draft(
                "identity.subject.erase", Outcome.SUCCESS, subject_id=erased_subject_marker(subject_id),
                details={"audit_events_redacted": str(redacted), "templates_destroyed": str(templates),
                         "grants_revoked": str(consent.grants), "relationships_removed": str(consent.relationships),
                         "policy_removed": str(consent.policy).lower()}))
        log.info("subject_erased", subject_id=subject_id, audit_events_redacted=redacted, templates=templates,
                 grants=consent.grants)
        for listener in self.erased_listeners:
            listener(subject_id)
        return templates

    def _view(self, record: EnrollmentRecord) -> EnrollmentView:
        expired = (
            record.status == EnrollmentStatus.PENDING
            and record.session_expire_time is not None
            and record.session_expire_time <= self._clock()
        )
        return EnrollmentView(record=record, expired=expired)

"""Enrolling from a recording: consume the session, refuse replays, run the liveness checks, and
on a pass store the templates; on a fail store nothing biometric. Transport-free."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from auditlog.model import Actor, Outcome
from identity.matching import LikenessService
from identity.model import (
    EnrollmentRecord,
    EnrollmentSessionRecord,
    EnrollmentStatus,
    SessionStatus,
)
from identity.ports import AuditRecorder, IdentityMetrics, IdentityStore, RecordingAnalyzer
from kernel.clock import Clock, utc_now
from kernel.errors import (
    DomainError,
    EnrollmentSessionExpired,
    EnrollmentSessionNotFound,
    EnrollmentSessionUsed,
    RecordingReplayed,
)
from liveness.challenge import HeadTurn
from liveness.checks import CheckResult, LivenessPolicy, evaluate, passed, session_fresh

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class EnrollOutcome:
    subject_id: str
    status: EnrollmentStatus
    checks: tuple[CheckResult, ...]
    timings_ms: dict[str, float]


class RecordingEnrollment:
    def __init__(self, store: IdentityStore, audit: AuditRecorder, analyzer: RecordingAnalyzer,
                 likeness: LikenessService, policy: LivenessPolicy, *, metrics: IdentityMetrics,
                 replay_window: timedelta = timedelta(hours=24), clock: Clock = utc_now) -> None:
        self._store = store
        self._metrics = metrics
        self._audit = audit
        self.analyzer = analyzer
        self._likeness = likeness
        self.policy = policy
        self._clock = clock
        # How long an upload's SHA-256 is kept to refuse the same bytes again. Only the hash and
        # its time are kept (no subject, nothing biometric), so an erasure leaves nothing of the
        # person in it, and it is forgotten after this window: a recording replayed later still
        # has to say its new session's digits (p <= 1e-4, liveness.digits).
        self._replay_window = replay_window

    def begin(self, session_id: str, *, actor: Actor) -> EnrollmentSessionRecord:
        """Consume the session: from here on it is used, whatever the upload's outcome."""
        now = self._clock()
        with self._store.write() as tx:
            session = tx.get_session(session_id)
            problem: DomainError | None = None
            if session is None:
                problem = EnrollmentSessionNotFound()
            elif session.status != SessionStatus.OPEN or session.used_time is not None:
                problem = EnrollmentSessionUsed()
            elif session.expire_time <= now:
                problem = EnrollmentSessionExpired()
            elif not tx.mark_session_used(session_id, now):
                problem = EnrollmentSessionUsed()  # another upload took it a moment ago
            subject = session.subject_id if session is not None else ""
            if problem is not None:
                self._audit.record(tx, actor.draft("identity.enrollment.upload", Outcome.DENY, subject_id=subject,
                                                   reason=problem.reason))
        if problem is not None:
            raise problem.mark_audited()
        assert session is not None
        return session

    def abandon(self, session: EnrollmentSessionRecord, reason: str, *, actor: Actor) -> None:
        """The upload stopped or was refused before analysis: the enrollment fails, nothing stored."""
        self._fail(session, reason, (), actor)

    def finish(self, session: EnrollmentSessionRecord, video: bytes, audio: bytes | None, *,
               actor: Actor) -> EnrollOutcome:
        digest = hashlib.sha256(video + (audio or b"")).hexdigest()
        with self._store.write() as tx:
            # False too when the same recording is being uploaded concurrently.
            fresh_hash = tx.claim_media_hash(digest, self._clock(), self._replay_window)
        if not fresh_hash:
            self._fail(session, "ERROR_REASON_RECORDING_REPLAYED", (), actor, outcome="replayed")
            raise RecordingReplayed().mark_audited()
        try:
            analysis = self.analyzer.analyze(video, audio, transcribe=True, expected_digits=session.digits)
        except DomainError as error:
            self._fail(session, error.reason, (), actor)
            error.mark_audited()
            raise
        finished = self._clock()
        fresh = session_fresh(finished <= session.expire_time + (session.expire_time - session.create_time),
                              "SESSION_EXPIRED_DURING_UPLOAD", self.policy)
        checks = evaluate(analysis.observations, self.policy, digits=session.digits,
                          turns=tuple(HeadTurn(t) for t in session.head_turns), session=fresh)
        for check in checks:
            # An optional check that fails decides nothing: counted apart, so a dashboard of
            # failures shows what rejects people.
            self._metrics.liveness_check(
                check.kind.value, "pass" if check.passed else "fail" if check.required else "fail_optional")
        if not passed(checks) or not analysis.face_templates:
            self._fail(session, "LIVENESS_FAILED", checks, actor)
            return EnrollOutcome(session.subject_id, EnrollmentStatus.FAILED, tuple(checks), analysis.timings_ms)
        try:
            self._likeness.store_templates(session.subject_id, analysis.face_templates, analysis.voice_template,
                                           actor=actor)
        except DomainError as error:  # e.g. the face is another subject's likeness
            self._fail(session, error.reason, checks, actor)
            raise
        self._audit.record_committed(actor.draft(
            "identity.enrollment.pass", Outcome.SUCCESS, subject_id=session.subject_id,
            details={"checks": check_scores(checks)}))
        self._metrics.enrollment("active")
        log.info("enrollment_passed", subject_id=session.subject_id)
        return EnrollOutcome(session.subject_id, EnrollmentStatus.ACTIVE, tuple(checks), analysis.timings_ms)

    def _fail(self, session: EnrollmentSessionRecord, reason: str, checks: tuple[CheckResult, ...] | list[CheckResult],
              actor: Actor, *, outcome: str = "failed") -> None:
        now: datetime = self._clock()
        failed = [c.kind.value for c in checks if c.required and not c.passed]
        with self._store.write() as tx:
            current = tx.get_enrollment(session.subject_id)
            # A failed re-enrollment leaves an ACTIVE enrollment as it was.
            if current is not None and current.status != EnrollmentStatus.ACTIVE:
                tx.put_enrollment(replace(current, status=EnrollmentStatus.FAILED, update_time=now,
                                          session_id=None, session_expire_time=None))
            elif current is None:
                tx.put_enrollment(EnrollmentRecord(session.subject_id, EnrollmentStatus.FAILED, now, now))
            self._audit.record(tx, actor.draft(
                "identity.enrollment.fail", Outcome.FAILURE, subject_id=session.subject_id, reason=reason,
                details={"failed_checks": ",".join(failed), "checks": check_scores(checks)} if failed else {}))
        self._metrics.enrollment(outcome)
        log.info("enrollment_failed", subject_id=session.subject_id, reason=reason, failed_checks=failed)


def check_scores(checks: tuple[CheckResult, ...] | list[CheckResult]) -> str:
    """Every check's score against its threshold, ``!`` after a failed one, for the audit log:
    "lip_sync=1.85/2.33!,presentation_attack=0.98/0.50", so that an operator can tell from
    ``audit show`` how far a rejected genuine recording fell short, and on which check."""
    return ",".join(f"{c.kind.value}={c.score:.2f}/{c.threshold:.2f}{'' if c.passed else '!'}" for c in checks)

"""Enrollments, sessions and upload hashes in SQL: the identity domain's ``IdentityTx``."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from identity.model import (
    EnrollmentRecord,
    EnrollmentSessionRecord,
    EnrollmentStatus,
    SessionStatus,
)
from identity_service.storage.sql_templates import TemplateRows
from identity_service.storage.tables import (
    EnrollmentMediaRow,
    EnrollmentRow,
    EnrollmentSessionRow,
    SubjectKeyRow,
    TemplateRow,
)
from kernel.clock import from_us, to_us


class IdentityRows(TemplateRows):
    """``identity.ports.IdentityTx`` (over the template rows: deleting a subject deletes their
    templates and notes it in the change feed)."""

    def get_enrollment(self, subject_id: str) -> EnrollmentRecord | None:
        row = self.session.get(EnrollmentRow, subject_id)
        return None if row is None else _enrollment(row)

    def put_enrollment(self, record: EnrollmentRecord) -> None:
        row = self.session.get(EnrollmentRow, record.subject_id) or EnrollmentRow(
            subject_id=record.subject_id, state="", create_us=0, update_us=0
        )
        row.state = record.status.value
        row.create_us = to_us(record.create_time)
        row.update_us = to_us(record.update_time)
        row.template_models = ",".join(record.template_models)
        row.session_id = record.session_id
        row.session_expire_us = (
            None if record.session_expire_time is None else to_us(record.session_expire_time)
        )
        self.session.add(row)
        self.session.flush()

    def list_enrollments(
        self, *, status: EnrollmentStatus | None, after_subject_id: str, limit: int
    ) -> list[EnrollmentRecord]:
        query = select(EnrollmentRow).where(col(EnrollmentRow.subject_id) > after_subject_id)
        if status is not None:
            query = query.where(col(EnrollmentRow.state) == status.value)
        query = query.order_by(col(EnrollmentRow.subject_id)).limit(limit)
        return [_enrollment(row) for row in self.session.exec(query)]

    def add_session(self, record: EnrollmentSessionRecord) -> None:
        self.session.add(
            EnrollmentSessionRow(
                session_id=record.session_id,
                subject_id=record.subject_id,
                nonce=record.nonce,
                digits=record.digits,
                head_turns=",".join(record.head_turns),
                reenroll=record.reenroll,
                state=record.status.value,
                create_us=to_us(record.create_time),
                expire_us=to_us(record.expire_time),
                used_us=None if record.used_time is None else to_us(record.used_time),
            )
        )
        self.session.flush()

    def get_session(self, session_id: str) -> EnrollmentSessionRecord | None:
        row = self.session.get(EnrollmentSessionRow, session_id)
        return None if row is None else _session(row)

    def supersede_open_sessions(self, subject_id: str) -> int:
        result = self.session.exec(
            update(EnrollmentSessionRow)
            .where(col(EnrollmentSessionRow.subject_id) == subject_id)
            .where(col(EnrollmentSessionRow.state) == SessionStatus.OPEN.value)
            .values(state=SessionStatus.SUPERSEDED.value)
        )
        return int(result.rowcount)

    def mark_session_used(self, session_id: str, used_time: datetime) -> bool:
        # A conditional UPDATE is the atomic compare-and-set on both backends: two uploads
        # racing for one session cannot both see it open.
        result = self.session.exec(
            update(EnrollmentSessionRow)
            .where(col(EnrollmentSessionRow.session_id) == session_id)
            .where(col(EnrollmentSessionRow.state) == SessionStatus.OPEN.value)
            .values(state=SessionStatus.USED.value, used_us=to_us(used_time))
        )
        return int(result.rowcount) == 1

    def session_starts_since(self, subject_id: str, since: datetime) -> list[datetime]:
        rows = self.session.exec(
            select(EnrollmentSessionRow.create_us)
            .where(col(EnrollmentSessionRow.subject_id) == subject_id)
            .where(col(EnrollmentSessionRow.create_us) > to_us(since))
            .order_by(col(EnrollmentSessionRow.create_us))
        ).all()
        return [from_us(us) for us in rows]

    def delete_subject(self, subject_id: str) -> int:
        templates = len(self.session.exec(
            select(TemplateRow.template_id).where(col(TemplateRow.subject_id) == subject_id)).all())
        for table, column in (
            (EnrollmentSessionRow, EnrollmentSessionRow.subject_id),
            (EnrollmentRow, EnrollmentRow.subject_id),
            (TemplateRow, TemplateRow.subject_id),
            # The data key goes with the rows: a template surviving anywhere (a backup, a
            # replica lagging behind) can no longer be decrypted. Crypto-shredding.
            (SubjectKeyRow, SubjectKeyRow.subject_id),
        ):
            self.session.exec(delete(table).where(col(column) == subject_id))
        self.add_template_change(subject_id)
        return templates

    def claim_media_hash(self, media_sha256: str, now: datetime, keep: timedelta) -> bool:
        self.session.exec(delete(EnrollmentMediaRow).where(col(EnrollmentMediaRow.create_us) < to_us(now - keep)))
        if self.session.get(EnrollmentMediaRow, media_sha256) is not None:
            return False
        # A concurrent upload of the same bytes makes this insert fail on the key (inside a
        # savepoint, so this transaction goes on and reports the replay).
        try:
            with self.session.begin_nested():
                self.session.add(EnrollmentMediaRow(media_sha256=media_sha256, create_us=to_us(now)))
        except IntegrityError:
            return False
        return True


def _enrollment(row: EnrollmentRow) -> EnrollmentRecord:
    return EnrollmentRecord(
        subject_id=row.subject_id,
        status=EnrollmentStatus(row.state),
        create_time=from_us(row.create_us),
        update_time=from_us(row.update_us),
        template_models=tuple(m for m in row.template_models.split(",") if m),
        session_id=row.session_id,
        session_expire_time=None if row.session_expire_us is None else from_us(row.session_expire_us),
    )


def _session(row: EnrollmentSessionRow) -> EnrollmentSessionRecord:
    return EnrollmentSessionRecord(
        session_id=row.session_id,
        subject_id=row.subject_id,
        nonce=row.nonce,
        digits=row.digits,
        head_turns=tuple(t for t in row.head_turns.split(",") if t),
        reenroll=row.reenroll,
        status=SessionStatus(row.state),
        create_time=from_us(row.create_us),
        expire_time=from_us(row.expire_us),
        used_time=None if row.used_us is None else from_us(row.used_us),
    )

"""The SQL implementation of the storage interface, for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime

import structlog
from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session, col, select, text

from identity_service.clock import from_us, to_us
from identity_service.errors import StorageUnavailable
from identity_service.storage.engine import READONLY, make_engine
from identity_service.storage.records import (
    EnrollmentRecord,
    EnrollmentSessionRecord,
    EnrollmentStatus,
    SessionStatus,
)
from identity_service.storage.tables import EnrollmentRow, EnrollmentSessionRow

log = structlog.get_logger(__name__)


class SqlTx:
    """One transaction over a SQLModel session."""

    def __init__(self, session: Session, dialect: str) -> None:
        self.session = session
        self.dialect = dialect

    # --- identity -------------------------------------------------------------------------

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

    def delete_subject(self, subject_id: str) -> int:
        removed = 0
        for table, column in (
            (EnrollmentSessionRow, EnrollmentSessionRow.subject_id),
            (EnrollmentRow, EnrollmentRow.subject_id),
        ):
            result = self.session.exec(
                delete(table).where(col(column) == subject_id)
            )
            removed += int(result.rowcount)
        return removed


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


class SqlStore:
    """Store over a SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._readonly_engine = engine.execution_options(**{READONLY: True})

    @classmethod
    def from_url(cls, url: str) -> SqlStore:
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def _transaction(self, bind: Engine) -> Iterator[SqlTx]:
        try:
            with Session(bind, expire_on_commit=False) as session, session.begin():
                yield SqlTx(session, self.dialect)
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                log.error("storage_unavailable", error=type(exc).__name__, detail=str(exc.orig))
                raise StorageUnavailable() from exc
            raise

    def write(self) -> AbstractContextManager[SqlTx]:
        return self._transaction(self.engine)

    def read(self) -> AbstractContextManager[SqlTx]:
        return self._transaction(self._readonly_engine)

    def ping(self) -> None:
        with self.read() as tx:
            tx.session.exec(select(text("1")))

    def close(self) -> None:
        self.engine.dispose()

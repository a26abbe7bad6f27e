"""The storage interface. One implementation (SQL) serves SQLite and PostgreSQL; the
conformance suite in tests/storage runs against both.

Work happens inside a transaction: ``with store.write() as tx: ...`` commits on success and
rolls back on any exception, so nothing is half-written. ``store.read()`` is for reads only.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Protocol

from auditlog.ports import AuditTx
from consent.ports import ConsentTx
from identity_service.storage.records import (
    EnrollmentRecord,
    EnrollmentSessionRecord,
    EnrollmentStatus,
    SubjectKeyRecord,
    TemplateRecord,
)


class IdentityTx(Protocol):
    """Enrollment state and sessions."""

    def get_enrollment(self, subject_id: str) -> EnrollmentRecord | None: ...

    def put_enrollment(self, record: EnrollmentRecord) -> None:
        """Insert or replace the subject's enrollment row."""
        ...

    def list_enrollments(
        self, *, status: EnrollmentStatus | None, after_subject_id: str, limit: int
    ) -> list[EnrollmentRecord]:
        """Enrollments with subject_id > after_subject_id, ascending, at most ``limit``."""
        ...

    def add_session(self, record: EnrollmentSessionRecord) -> None: ...

    def get_session(self, session_id: str) -> EnrollmentSessionRecord | None: ...

    def supersede_open_sessions(self, subject_id: str) -> int:
        """Close the subject's open sessions; returns how many."""
        ...

    def mark_session_used(self, session_id: str, used_time: datetime) -> bool:
        """Atomically move an OPEN session to USED; False if it was not open."""
        ...

    def session_starts_since(self, subject_id: str, since: datetime) -> list[datetime]:
        """When the subject's sessions that started after ``since`` started, oldest first."""
        ...

    def claim_media_hash(self, media_sha256: str, now: datetime, keep: timedelta) -> bool:
        """Record an uploaded recording's hash at ``now``; False when it was recorded within
        ``keep`` before. Hashes older than ``keep`` are forgotten."""
        ...

    def delete_subject(self, subject_id: str) -> int:
        """Remove the subject's enrollment, sessions, templates and data key (crypto-shredding
        what any copy of a template holds); returns how many templates went."""
        ...


class TemplateTx(Protocol):
    """Encrypted templates, wrapped data keys and the change feed replicas poll."""

    def get_subject_key(self, subject_id: str) -> SubjectKeyRecord | None: ...

    def put_subject_key(self, record: SubjectKeyRecord) -> None: ...

    def list_subject_keys(self, *, after_subject_id: str, limit: int, kek_id: str = "") -> list[SubjectKeyRecord]:
        ...

    def count_subject_keys_by_kek(self) -> dict[str, int]: ...

    def replace_templates(self, subject_id: str, records: Sequence[TemplateRecord]) -> None:
        """Delete the subject's templates, insert these, and note the change for other replicas."""
        ...

    def list_templates(self, subject_id: str) -> list[TemplateRecord]: ...

    def scan_templates(self, *, after: tuple[str, str], limit: int) -> list[TemplateRecord]: ...

    def add_template_change(self, subject_id: str) -> None: ...

    def template_changes_since(self, change_us: int) -> list[tuple[str, int]]:
        """(subject, time) of changes at or after ``change_us``, oldest first."""
        ...


class Tx(IdentityTx, AuditTx, ConsentTx, TemplateTx, Protocol):
    """Everything a transaction can do."""


class Store(Protocol):
    """A database holding the service's state."""

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        ...

    def write(self) -> AbstractContextManager[Tx]:
        """A read-write transaction (serialised against other writers on SQLite)."""
        ...

    def read(self) -> AbstractContextManager[Tx]:
        """A read-only transaction."""
        ...

    def ping(self) -> None:
        """Raise StorageUnavailable if the database cannot be reached."""
        ...

    def close(self) -> None: ...


"""What the identity domain needs from the outside, as protocols: storage in transactions, the
audit log, the template vault, the models that find faces and voices in media, the recording
analyser and metrics. ``identity_service`` implements each."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np

from auditlog.model import AuditDraft, AuditEvent
from auditlog.ports import AuditTx
from consent.ports import ConsentTx
from identity.model import (
    EnrollmentRecord,
    EnrollmentSessionRecord,
    EnrollmentStatus,
    FoundFace,
    RecordingAnalysis,
    SubjectKeyRecord,
    TemplateBinding,
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
        ``keep`` before, or when a concurrent transaction is recording the same hash. Hashes
        older than ``keep`` are forgotten."""
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

    def templates_of(self, subject_ids: Sequence[str]) -> list[TemplateRecord]:
        """Every template of these subjects (a search's candidates), by subject and template id."""
        ...

    def subject_keys_of(self, subject_ids: Sequence[str]) -> list[SubjectKeyRecord]:
        """The wrapped data keys of those of these subjects that have one."""
        ...

    def count_templates(self) -> dict[str, int]:
        """Templates stored, by modality."""
        ...

    def scan_templates(self, *, after: tuple[str, str], limit: int) -> list[TemplateRecord]: ...

    def add_template_change(self, subject_id: str) -> None: ...

    def template_changes_since(self, change_us: int) -> list[tuple[str, int]]:
        """(subject, time) of changes at or after ``change_us``, oldest first."""
        ...


class IdentityStoreTx(IdentityTx, TemplateTx, AuditTx, ConsentTx, Protocol):
    """One transaction of the identity services: their rows, the audit events about them, and
    (for erasure, which removes a person's consent with their templates, all or nothing) consent's."""


class IdentityStore(Protocol):
    """Transactions: ``write()`` commits on success and rolls back on any exception."""

    def write(self) -> AbstractContextManager[IdentityStoreTx]: ...

    def read(self) -> AbstractContextManager[IdentityStoreTx]: ...


class AuditRecorder(Protocol):
    """The audit log, as the identity services use it (``auditlog.AuditLog`` is one)."""

    def record(self, tx: AuditTx, draft: AuditDraft) -> AuditEvent:
        """Append in the caller's transaction: the event commits with the change it describes."""
        ...

    def record_committed(self, draft: AuditDraft) -> AuditEvent:
        """Append in a transaction of its own."""
        ...

    def redact_subject(self, tx: AuditTx, subject_id: str) -> int: ...


class TemplateUnreadable(Exception):
    """A template or data key failed authentication: altered, moved to another row, or its key is gone."""


class KekNotLoaded(TemplateUnreadable):
    """The data key is wrapped by a KEK this process does not hold (not even in its key file)."""

    def __init__(self, kek_id: str) -> None:
        super().__init__(f"key encryption key {kek_id} is not loaded")
        self.kek_id = kek_id


class TemplateSealer(Protocol):
    """Envelope encryption of templates: a data key per subject, wrapped by a key encryption key.
    Raises ``TemplateUnreadable`` (``KekNotLoaded``) when something cannot be opened."""

    def new_subject_key(self, subject_id: str, now: datetime) -> tuple[SubjectKeyRecord, bytes]: ...

    def data_key(self, record: SubjectKeyRecord) -> bytes: ...

    def seal(self, dek: bytes, binding: TemplateBinding, embedding: np.ndarray, now: datetime) -> TemplateRecord: ...

    def open(self, dek: bytes, record: TemplateRecord) -> np.ndarray: ...


class LikenessProbe(Protocol):
    """Faces and voices in uploaded media: decoding (within its limits) and the models.

    Media errors are raised as the kernel's domain errors (MediaCorrupt, UnsupportedMedia, ...)."""

    dimension: int
    voice_dimension: int

    def model_versions(self) -> dict[str, tuple[str, str]]:
        """modality -> (model id, version) of the templates this process makes."""
        ...

    def image_faces(self, content: bytes, *, largest_only: bool) -> list[FoundFace]:
        """The faces in an image. With ``largest_only``: the image's one face, refused like an
        enrollment photo (MultipleFaces, FaceTooSmall, ...), or none when no face is found."""
        ...

    def video_faces(self, content: bytes, *, every_seconds: float, max_frames: int,
                    largest_only: bool) -> tuple[list[list[FoundFace]], bool]:
        """Faces per sampled frame (only each frame's largest with ``largest_only``), and whether
        the container has an audio track."""
        ...

    def voice(self, content: bytes) -> np.ndarray | None:
        """The speaker embedding of the media's audio; None without a track or speech."""
        ...


class RecordingAnalyzer(Protocol):
    """From an enrollment recording to liveness observations and templates."""

    def analyze(self, video: bytes, audio: bytes | None = None, *, transcribe: bool = True,
                expected_digits: str = "") -> RecordingAnalysis:
        """``expected_digits``: the challenge, for the recogniser to score how well the speech
        supports it (``AudioObservation.digit_support``)."""
        ...


class IdentityMetrics(Protocol):
    """Counters a dashboard reads; the service wires Prometheus in."""

    def liveness_check(self, check: str, outcome: str) -> None:
        """One check's outcome: ``pass``, ``fail`` (a required check) or ``fail_optional``."""
        ...

    def enrollment(self, outcome: str) -> None:
        """One upload's outcome: ``active``, ``failed`` or ``replayed``."""
        ...

    def track_index(self, templates: Callable[[], float], subjects: Callable[[], float],
                    nbytes: Callable[[], float]) -> None:
        """Report the search indexes' size at every scrape: face templates, subjects with a face
        template, bytes held by the face and voice indexes."""
        ...

"""Plain records the storage interface takes and returns (no ORM objects leak out)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class EnrollmentStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    FAILED = "failed"
    STALE = "stale"


class SessionStatus(StrEnum):
    OPEN = "open"
    USED = "used"
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class EnrollmentRecord:
    subject_id: str
    status: EnrollmentStatus
    create_time: datetime
    update_time: datetime
    template_models: tuple[str, ...] = ()
    session_id: str | None = None
    session_expire_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class EnrollmentSessionRecord:
    session_id: str
    subject_id: str
    nonce: bytes
    digits: str
    head_turns: tuple[str, ...]
    reenroll: bool
    status: SessionStatus
    create_time: datetime
    expire_time: datetime
    used_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class SubjectKeyRecord:
    """A subject's data key, only ever stored wrapped by a key encryption key."""

    subject_id: str
    kek_id: str
    wrapped_key: bytes
    create_time: datetime
    rewrap_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class TemplateRecord:
    """An encrypted template. The plaintext embedding exists only in process memory."""

    template_id: str
    subject_id: str
    modality: str  # "face" or "voice"
    model_id: str
    model_version: str
    nonce: bytes
    ciphertext: bytes
    create_time: datetime

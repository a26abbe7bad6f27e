"""The identity domain's records: what storage takes and returns (no ORM objects leak out),
and what the analysers hand the services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import numpy as np

from liveness.checks import Observations


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


@dataclass(frozen=True, slots=True)
class TemplateBinding:
    """What a template's ciphertext is bound to (the vault authenticates it with the template)."""

    template_id: str
    subject_id: str
    modality: str
    model_id: str
    model_version: str


@dataclass(frozen=True, slots=True)
class FoundFace:
    """A face found in media: its embedding (unit length), its box and its size in pixels."""

    embedding: np.ndarray
    box: np.ndarray  # x1, y1, x2, y2
    size_px: float


@dataclass(slots=True)
class RecordingAnalysis:
    """What the analyser found in an enrollment recording: the observations the liveness checks
    decide on, and the templates to keep if they pass."""

    observations: Observations
    face_templates: list[np.ndarray]
    voice_template: np.ndarray | None
    timings_ms: dict[str, float] = field(default_factory=dict)

"""SQLModel tables. Times are integer microseconds since the epoch (UTC), identical on both
backends. Nothing biometric is stored in plaintext; raw media is never stored."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, LargeBinary, String, Text
from sqlmodel import Field, SQLModel


class EnrollmentRow(SQLModel, table=True):
    """One row per subject: the state of their likeness enrollment."""

    __tablename__ = "enrollments"

    subject_id: str = Field(sa_column=Column(String(64), primary_key=True))
    state: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    create_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    update_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    template_models: str = Field(default="", sa_column=Column(Text, nullable=False))
    session_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    session_expire_us: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class EnrollmentSessionRow(SQLModel, table=True):
    """A single-use enrollment session with its challenge."""

    __tablename__ = "enrollment_sessions"
    __table_args__ = (Index("ix_enrollment_sessions_subject", "subject_id"),)

    session_id: str = Field(sa_column=Column(String(64), primary_key=True))
    subject_id: str = Field(sa_column=Column(String(64), nullable=False))
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    digits: str = Field(sa_column=Column(String(8), nullable=False))
    head_turns: str = Field(sa_column=Column(String(64), nullable=False))
    reenroll: bool = Field(default=False, nullable=False)
    state: str = Field(sa_column=Column(String(16), nullable=False))
    create_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    expire_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    used_us: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))

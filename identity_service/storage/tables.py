"""SQLModel tables. Times are integer microseconds since the epoch (UTC), identical on both
backends. Nothing biometric is stored in plaintext; raw media is never stored."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Text
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


class AuditEventRow(SQLModel, table=True):
    """One audit event; ``seq`` is its Merkle leaf index. Never holds biometric data."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject", "subject_id", "seq"),
        Index("ix_audit_events_action", "action", "seq"),
        Index("ix_audit_events_time", "time_us"),
    )

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    time_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    actor_type: str = Field(sa_column=Column(String(16), nullable=False))
    actor_id: str = Field(sa_column=Column(String(128), nullable=False))
    subject_id: str = Field(sa_column=Column(String(64), nullable=False))
    action: str = Field(sa_column=Column(String(64), nullable=False))
    outcome: str = Field(sa_column=Column(String(16), nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    request_id: str = Field(sa_column=Column(String(128), nullable=False))
    details: str = Field(sa_column=Column(Text, nullable=False))
    leaf_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    redacted: bool = Field(default=False, nullable=False)


class AuditHeadRow(SQLModel, table=True):
    """The single row that serialises appends: tree size and frontier (see audit.merkle)."""

    __tablename__ = "audit_head"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    frontier: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class AuditCheckpointRow(SQLModel, table=True):
    """A signed statement of the tree's size and root at a moment."""

    __tablename__ = "audit_checkpoints"

    tree_size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    time_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    key_id: str = Field(sa_column=Column(String(64), nullable=False))
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    signed_body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CameoPolicyRow(SQLModel, table=True):
    __tablename__ = "consent_policies"

    owner_id: str = Field(sa_column=Column(String(64), primary_key=True))
    audience: str = Field(sa_column=Column(String(16), nullable=False))
    refused_categories: str = Field(sa_column=Column(String(256), nullable=False))
    instructions: str = Field(sa_column=Column(Text, nullable=False))
    public_figure: bool = Field(default=False, nullable=False)
    update_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    version: int = Field(sa_column=Column(BigInteger, nullable=False))


class BlockRow(SQLModel, table=True):
    __tablename__ = "consent_blocks"

    owner_id: str = Field(sa_column=Column(String(64), primary_key=True))
    blocked_id: str = Field(sa_column=Column(String(64), primary_key=True))


class GrantRow(SQLModel, table=True):
    __tablename__ = "consent_grants"
    __table_args__ = (
        Index("ix_consent_grants_owner", "owner_id", "grant_id"),
        Index("ix_consent_grants_grantee", "owner_id", "grantee_id"),
    )

    grant_id: str = Field(sa_column=Column(String(32), primary_key=True))
    owner_id: str = Field(sa_column=Column(String(64), nullable=False))
    grantee_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    audience: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    start_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    end_us: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    create_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    revoked: bool = Field(default=False, nullable=False)
    revoke_us: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class RelationshipRow(SQLModel, table=True):
    """A directed friendship edge; deletes leave a tombstone so late upserts stay stale."""

    __tablename__ = "relationships"
    __table_args__ = (Index("ix_relationships_to", "to_id", "from_id"),)

    from_id: str = Field(sa_column=Column(String(64), primary_key=True))
    to_id: str = Field(sa_column=Column(String(64), primary_key=True))
    version: int = Field(sa_column=Column(BigInteger, nullable=False))
    present: bool = Field(default=True, nullable=False)


class RevocationRow(SQLModel, table=True):
    __tablename__ = "consent_revocations"

    cursor: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    grant_name: str = Field(sa_column=Column(String(160), nullable=False))
    owner_id: str = Field(sa_column=Column(String(64), nullable=False))
    revoke_us: int = Field(sa_column=Column(BigInteger, nullable=False))


class SubjectKeyRow(SQLModel, table=True):
    """A subject's AES-256 data key, wrapped by a key encryption key (never stored plain)."""

    __tablename__ = "subject_keys"
    __table_args__ = (Index("ix_subject_keys_kek", "kek_id"),)

    subject_id: str = Field(sa_column=Column(String(64), primary_key=True))
    kek_id: str = Field(sa_column=Column(String(64), nullable=False))
    wrapped_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    create_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    rewrap_us: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class TemplateRow(SQLModel, table=True):
    """An AES-256-GCM sealed template; its associated data binds id, subject, modality and model."""

    __tablename__ = "templates"
    __table_args__ = (Index("ix_templates_subject", "subject_id", "template_id"),)

    template_id: str = Field(sa_column=Column(String(32), primary_key=True))
    subject_id: str = Field(sa_column=Column(String(64), nullable=False))
    modality: str = Field(sa_column=Column(String(8), nullable=False))
    model_id: str = Field(sa_column=Column(String(64), nullable=False))
    model_version: str = Field(sa_column=Column(String(16), nullable=False))
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    create_us: int = Field(sa_column=Column(BigInteger, nullable=False))


class TemplateChangeRow(SQLModel, table=True):
    """Subjects whose templates changed, so every replica's search index can catch up."""

    __tablename__ = "template_changes"
    __table_args__ = (Index("ix_template_changes_time", "change_us"),)

    # INTEGER on SQLite, where only that type autoincrements as the rowid.
    change_id: int | None = Field(default=None, sa_column=Column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True))
    subject_id: str = Field(sa_column=Column(String(64), nullable=False))
    change_us: int = Field(sa_column=Column(BigInteger, nullable=False))


class EnrollmentMediaRow(SQLModel, table=True):
    """The SHA-256 of each uploaded recording (no subject, no media): a re-sent one is refused."""

    __tablename__ = "enrollment_media"

    media_sha256: str = Field(sa_column=Column(String(64), primary_key=True))
    create_us: int = Field(sa_column=Column(BigInteger, nullable=False))

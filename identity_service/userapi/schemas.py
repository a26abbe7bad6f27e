"""Request and response bodies of the user API (JSON), and their conversions from domain values."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from auditlog.model import AuditEvent
from consent.model import Audience, CameoPolicy, ContentCategory, Grant, GrantState
from identity_service.validation import CONTROL_CHARACTERS, SUBJECT_ID_RE, TEXT_RULE

SUBJECT_ID_PATTERN = SUBJECT_ID_RE.pattern
GRANT_ID_PATTERN = r"^[0-9a-f]{16}$"
MAX_TEXT = 2_000


class UseDecision(StrEnum):
    """The two outcomes of a permission check, the only ones a use can have."""

    ALLOW = "allow"
    DENY = "deny"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CameoPolicyIn(_In):
    """Who may put me into a generated video. Blocks are changed through /blocks."""

    audience: Audience = Field(description="nobody, friends (mutual), approved (people I approved) or public.")
    refused_categories: list[ContentCategory] = Field(
        default_factory=list, max_length=len(ContentCategory), description="Content I never want to appear in."
    )
    instructions: str = Field(default="", max_length=MAX_TEXT, description="Passed on to every generator.")
    public_figure: bool = Field(
        default=False, description="A public figure's likeness is unlocked only by explicit approvals."
    )

    @field_validator("instructions")
    @classmethod
    def _plain_text(cls, value: str) -> str:
        if CONTROL_CHARACTERS.search(value):
            raise ValueError(TEXT_RULE)
        return value


class CameoPolicyOut(BaseModel):
    subject_id: str
    audience: Audience
    refused_categories: list[ContentCategory]
    instructions: str
    public_figure: bool
    blocked_ids: list[str]
    etag: str = Field(description="Send back in If-Match to update only the version you read.")
    update_time: datetime | None


class ApprovalIn(_In):
    """Let one person use my likeness, from start_time (default now) until end_time (default: until revoked)."""

    grantee_id: str = Field(pattern=SUBJECT_ID_PATTERN, description="The person I approve.")
    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None


class GrantOut(BaseModel):
    name: str = Field(description="subjects/{owner}/grants/{grant}")
    grant_id: str
    grantee_id: str | None
    audience: Audience | None
    state: GrantState
    start_time: datetime
    end_time: datetime | None
    create_time: datetime
    revoke_time: datetime | None


class GrantPage(BaseModel):
    grants: list[GrantOut]
    next_page_token: str = Field(description="Pass as page_token for the next page; empty on the last.")


class BlocksOut(BaseModel):
    blocked_ids: list[str]


class UseOut(BaseModel):
    """One time somebody asked to use my likeness."""

    sequence: int = Field(description="Position in the audit log.")
    time: datetime
    service: str = Field(description="The backend service that asked.")
    requester_id: str = Field(description="The person who wanted to use my likeness.")
    purpose: str
    content_categories: list[str]
    decision: str = Field(description="allow or deny")
    deny_reason: str
    token_id: str = Field(description="Id of the use token issued on allow; empty on deny.")
    grant: str = Field(description="The grant that allowed it, if one did.")


class UsePage(BaseModel):
    uses: list[UseOut]
    next_page_token: str


class ErasureOut(BaseModel):
    subject_id: str
    erased: bool
    templates_destroyed: int


class EnrollmentOut(BaseModel):
    state: str
    create_time: datetime
    update_time: datetime
    template_models: list[str] = Field(description="Which models made templates; the templates are never exported.")


class RelationshipOut(BaseModel):
    from_id: str
    to_id: str
    version: int


class ActivityOut(BaseModel):
    sequence: int
    time: datetime
    actor: str
    action: str
    outcome: str
    reason: str


class ExportOut(BaseModel):
    """Everything stored about me, except biometric templates (never exported)."""

    subject_id: str
    export_time: datetime
    enrollment: EnrollmentOut | None
    cameo_policy: CameoPolicyOut
    grants: list[GrantOut]
    relationships: list[RelationshipOut]
    activity: list[ActivityOut] = Field(description="Audit events about me, newest first.")


def policy_out(policy: CameoPolicy) -> CameoPolicyOut:
    return CameoPolicyOut(
        subject_id=policy.owner_id, audience=policy.audience,
        refused_categories=sorted(policy.refused_categories), instructions=policy.instructions,
        public_figure=policy.public_figure, blocked_ids=sorted(policy.blocked_ids), etag=str(policy.version),
        update_time=policy.update_time,
    )


def grant_out(grant: Grant, now: datetime) -> GrantOut:
    return GrantOut(
        name=grant.name, grant_id=grant.grant_id, grantee_id=grant.grantee_id, audience=grant.audience,
        state=grant.state(now), start_time=grant.start_time, end_time=grant.end_time,
        create_time=grant.create_time, revoke_time=grant.revoke_time,
    )


def use_out(event: AuditEvent) -> UseOut:
    details = event.details
    categories = details.get("categories", "")
    return UseOut(
        sequence=event.sequence, time=event.time, service=event.actor_id,
        requester_id=details.get("requester", ""), purpose=details.get("purpose", ""),
        content_categories=categories.split(",") if categories else [], decision=event.outcome.value,
        deny_reason=event.reason, token_id=details.get("token_id", ""), grant=details.get("grant", ""),
    )


def activity_out(event: AuditEvent) -> ActivityOut:
    return ActivityOut(
        sequence=event.sequence, time=event.time, actor=f"{event.actor_type.value}:{event.actor_id}",
        action=event.action, outcome=event.outcome.value, reason=event.reason,
    )

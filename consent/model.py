"""Cameo policies, grants and decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Audience(StrEnum):
    NOBODY = "nobody"
    FRIENDS = "friends"
    APPROVED = "approved"
    PUBLIC = "public"


class ContentCategory(StrEnum):
    POLITICAL = "political"
    SEXUAL = "sexual"
    VIOLENT = "violent"
    COMMERCIAL = "commercial"
    RELIGIOUS = "religious"
    MEDICAL = "medical"


@dataclass(frozen=True, slots=True)
class CameoPolicy:
    owner_id: str
    audience: Audience = Audience.NOBODY
    blocked_ids: frozenset[str] = frozenset()
    refused_categories: frozenset[ContentCategory] = frozenset()
    instructions: str = ""
    public_figure: bool = False
    update_time: datetime | None = None
    version: int = 0  # bumps on every change; the etag callers send back

    @classmethod
    def default(cls, owner_id: str) -> CameoPolicy:
        """Until an owner says otherwise, nobody may use their likeness."""
        return cls(owner_id=owner_id)


class GrantState(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: str
    owner_id: str
    grantee_id: str | None  # one person, or
    audience: Audience | None  # everyone in FRIENDS or PUBLIC during the window
    start_time: datetime
    end_time: datetime | None
    create_time: datetime
    revoked: bool = False
    revoke_time: datetime | None = None

    @property
    def name(self) -> str:
        return grant_name(self.owner_id, self.grant_id)

    def state(self, now: datetime) -> GrantState:
        if self.revoked:
            return GrantState.REVOKED
        if self.end_time is not None and self.end_time <= now:
            return GrantState.EXPIRED
        return GrantState.ACTIVE

    def in_effect(self, now: datetime) -> bool:
        return self.state(now) == GrantState.ACTIVE and self.start_time <= now


def grant_name(owner_id: str, grant_id: str) -> str:
    return f"subjects/{owner_id}/grants/{grant_id}"


class Decision(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class DenyReason(StrEnum):
    BLOCKED = "blocked"
    AUDIENCE_NOBODY = "audience_nobody"
    NOT_FRIENDS = "not_friends"
    NOT_APPROVED = "not_approved"
    PUBLIC_FIGURE_NEEDS_APPROVAL = "public_figure_needs_approval"
    CATEGORY_REFUSED = "category_refused"


@dataclass(frozen=True, slots=True)
class PermissionFacts:
    """Everything the decision needs, read in one transaction."""

    policy: CameoPolicy
    owner_follows_requester: bool
    requester_follows_owner: bool
    grants: tuple[Grant, ...] = ()  # the owner's grants to the requester or to an audience


@dataclass(frozen=True, slots=True)
class PermissionResult:
    decision: Decision
    deny_reason: DenyReason | None = None
    grant: Grant | None = None
    refused_categories: frozenset[ContentCategory] = field(default_factory=frozenset)
    instructions: str = ""

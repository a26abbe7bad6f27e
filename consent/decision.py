"""The cameo permission decision: a pure function of the facts, tested against a reference model.

Order matters and is the contract:
1. the owner may always use their own likeness;
2. a blocked requester is denied, whatever else says (block wins);
3. a requested content category the owner refuses is denied;
4. audience NOBODY admits nobody else, grants included (it is the owner's off switch);
5. a public figure is unlocked only by an explicit grant to the requester;
6. an explicit grant to the requester in effect allows;
7. otherwise the policy's audience, widened by any audience grant in effect:
   PUBLIC admits everyone, FRIENDS admits mutual friends (edges both ways), APPROVED admits
   nobody without a grant.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from consent.model import (
    Audience,
    ContentCategory,
    Decision,
    DenyReason,
    Grant,
    PermissionFacts,
    PermissionResult,
)


def decide(
    owner_id: str,
    requester_id: str,
    categories: Iterable[ContentCategory],
    facts: PermissionFacts,
    now: datetime,
) -> PermissionResult:
    policy = facts.policy
    restrictions = {"refused_categories": policy.refused_categories, "instructions": policy.instructions}

    def deny(reason: DenyReason) -> PermissionResult:
        return PermissionResult(Decision.DENY, reason, **restrictions)  # type: ignore[arg-type]

    def allow(grant: Grant | None = None) -> PermissionResult:
        return PermissionResult(Decision.ALLOW, None, grant, **restrictions)  # type: ignore[arg-type]

    if requester_id == owner_id:
        return allow()
    if requester_id in policy.blocked_ids:
        return deny(DenyReason.BLOCKED)
    if set(categories) & policy.refused_categories:
        return deny(DenyReason.CATEGORY_REFUSED)
    if policy.audience == Audience.NOBODY:
        return deny(DenyReason.AUDIENCE_NOBODY)
    in_effect = [g for g in facts.grants if g.owner_id == owner_id and g.in_effect(now)]
    personal = next((g for g in in_effect if g.grantee_id == requester_id), None)
    if policy.public_figure:
        return allow(personal) if personal else deny(DenyReason.PUBLIC_FIGURE_NEEDS_APPROVAL)
    if personal is not None:
        return allow(personal)
    mutual = facts.owner_follows_requester and facts.requester_follows_owner
    public_grant = next((g for g in in_effect if g.audience == Audience.PUBLIC), None)
    friends_grant = next((g for g in in_effect if g.audience == Audience.FRIENDS), None)
    if policy.audience == Audience.PUBLIC:
        return allow()
    if public_grant is not None:
        return allow(public_grant)
    if mutual and (policy.audience == Audience.FRIENDS or friends_grant is not None):
        return allow(None if policy.audience == Audience.FRIENDS else friends_grant)
    return deny(DenyReason.NOT_FRIENDS if policy.audience == Audience.FRIENDS else DenyReason.NOT_APPROVED)

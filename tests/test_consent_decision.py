"""The permission decision against a plain reference model (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from consent.decision import decide
from consent.model import (
    Audience,
    CameoPolicy,
    ContentCategory,
    Decision,
    DenyReason,
    Grant,
    PermissionFacts,
)

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
PEOPLE = ["owner", "ann", "ben", "cat"]


def reference(owner: str, requester: str, cats: set[ContentCategory], facts: PermissionFacts) -> Decision:
    """The rules as a person would state them, one line each, without the implementation's order."""
    p = facts.policy
    live = [g for g in facts.grants if not g.revoked and g.start_time <= NOW and (g.end_time is None or g.end_time > NOW)]
    approved = any(g.grantee_id == requester for g in live)
    public_window = any(g.audience == Audience.PUBLIC for g in live)
    friends_window = any(g.audience == Audience.FRIENDS for g in live)
    mutual = facts.owner_follows_requester and facts.requester_follows_owner
    if requester == owner:
        return Decision.ALLOW
    denied = (
        requester in p.blocked_ids
        or bool(cats & p.refused_categories)
        or p.audience == Audience.NOBODY
        or (p.public_figure and not approved)
    )
    if denied:
        return Decision.DENY
    admitted = (
        approved
        or p.audience == Audience.PUBLIC
        or public_window
        or (mutual and (p.audience == Audience.FRIENDS or friends_window))
    )
    return Decision.ALLOW if admitted else Decision.DENY


times = st.sampled_from([NOW - timedelta(days=2), NOW - timedelta(minutes=1), NOW + timedelta(minutes=5)])
end_times = st.one_of(st.none(), times)


@st.composite
def grants(draw: st.DrawFn) -> Grant:
    personal = draw(st.booleans())
    return Grant(
        grant_id=draw(st.text("abcdef0123456789", min_size=16, max_size=16)), owner_id="owner",
        grantee_id=draw(st.sampled_from(PEOPLE[1:])) if personal else None,
        audience=None if personal else draw(st.sampled_from([Audience.FRIENDS, Audience.PUBLIC])),
        start_time=draw(times), end_time=draw(end_times), create_time=NOW - timedelta(days=3),
        revoked=draw(st.booleans()),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, set[ContentCategory], PermissionFacts]:
    policy = CameoPolicy(
        owner_id="owner", audience=draw(st.sampled_from(list(Audience))),
        blocked_ids=frozenset(draw(st.sets(st.sampled_from(PEOPLE[1:])))),
        refused_categories=frozenset(draw(st.sets(st.sampled_from(list(ContentCategory)), max_size=3))),
        public_figure=draw(st.booleans()),
    )
    facts = PermissionFacts(policy, draw(st.booleans()), draw(st.booleans()), tuple(draw(st.lists(grants(), max_size=4))))
    return draw(st.sampled_from(PEOPLE)), set(draw(st.sets(st.sampled_from(list(ContentCategory)), max_size=2))), facts


@given(cases())
@settings(max_examples=1500, deadline=None)
def test_decision_matches_the_reference_model(case: tuple[str, set[ContentCategory], PermissionFacts]) -> None:
    requester, cats, facts = case
    result = decide("owner", requester, cats, facts, NOW)
    assert result.decision == reference("owner", requester, cats, facts)
    assert (result.deny_reason is None) == (result.decision == Decision.ALLOW)


@given(cases())
@settings(max_examples=500, deadline=None)
def test_block_always_wins(case: tuple[str, set[ContentCategory], PermissionFacts]) -> None:
    requester, cats, facts = case
    if requester == "owner":
        return
    policy = CameoPolicy(**{**_fields(facts.policy), "blocked_ids": facts.policy.blocked_ids | {requester}})
    result = decide("owner", requester, cats, PermissionFacts(policy, True, True, facts.grants), NOW)
    assert (result.decision, result.deny_reason) == (Decision.DENY, DenyReason.BLOCKED)


@given(cases())
@settings(max_examples=500, deadline=None)
def test_nobody_admits_only_the_owner(case: tuple[str, set[ContentCategory], PermissionFacts]) -> None:
    requester, cats, facts = case
    policy = CameoPolicy(**{**_fields(facts.policy), "audience": Audience.NOBODY})
    result = decide("owner", requester, cats, PermissionFacts(policy, True, True, facts.grants), NOW)
    assert (result.decision == Decision.ALLOW) == (requester == "owner")


def _fields(policy: CameoPolicy) -> dict[str, object]:
    return {f: getattr(policy, f) for f in CameoPolicy.__dataclass_fields__}


def _grant(**overrides: object) -> Grant:
    values: dict[str, object] = dict(
        grant_id="0" * 16, owner_id="owner", grantee_id="ann", audience=None, start_time=NOW - timedelta(days=1),
        end_time=None, create_time=NOW - timedelta(days=1),
    )
    values.update(overrides)
    return Grant(**values)  # type: ignore[arg-type]


def test_friends_needs_both_edges() -> None:
    policy = CameoPolicy("owner", Audience.FRIENDS)
    for owner_edge, requester_edge, expected in [(True, True, Decision.ALLOW), (True, False, Decision.DENY),
                                                 (False, True, Decision.DENY), (False, False, Decision.DENY)]:
        result = decide("owner", "ann", set(), PermissionFacts(policy, owner_edge, requester_edge), NOW)
        assert result.decision == expected
        if expected == Decision.DENY:
            assert result.deny_reason == DenyReason.NOT_FRIENDS


def test_revoked_expired_and_future_grants_deny() -> None:
    policy = CameoPolicy("owner", Audience.APPROVED)
    assert decide("owner", "ann", set(), PermissionFacts(policy, False, False, (_grant(),)), NOW).decision == Decision.ALLOW
    for grant in (_grant(revoked=True), _grant(end_time=NOW - timedelta(seconds=1)),
                  _grant(start_time=NOW + timedelta(hours=1))):
        result = decide("owner", "ann", set(), PermissionFacts(policy, False, False, (grant,)), NOW)
        assert (result.decision, result.deny_reason) == (Decision.DENY, DenyReason.NOT_APPROVED)


def test_public_figures_need_an_explicit_grant() -> None:
    policy = CameoPolicy("owner", Audience.PUBLIC, public_figure=True)
    denied = decide("owner", "ann", set(), PermissionFacts(policy, True, True, (_grant(grantee_id=None, audience=Audience.PUBLIC),)), NOW)
    assert (denied.decision, denied.deny_reason) == (Decision.DENY, DenyReason.PUBLIC_FIGURE_NEEDS_APPROVAL)
    allowed = decide("owner", "ann", set(), PermissionFacts(policy, False, False, (_grant(),)), NOW)
    assert allowed.decision == Decision.ALLOW and allowed.grant is not None


def test_refused_categories_deny_and_travel_with_an_allow() -> None:
    policy = CameoPolicy("owner", Audience.PUBLIC, refused_categories=frozenset({ContentCategory.POLITICAL}),
                         instructions="no hats")
    denied = decide("owner", "ann", {ContentCategory.POLITICAL, ContentCategory.COMMERCIAL}, PermissionFacts(policy, False, False), NOW)
    assert denied.deny_reason == DenyReason.CATEGORY_REFUSED
    allowed = decide("owner", "ann", {ContentCategory.COMMERCIAL}, PermissionFacts(policy, False, False), NOW)
    assert allowed.decision == Decision.ALLOW
    assert allowed.refused_categories == {ContentCategory.POLITICAL} and allowed.instructions == "no hats"

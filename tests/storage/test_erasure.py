"""Erasing a person, on SQLite and PostgreSQL: their consent goes with their biometrics.

After an erasure no check allows anyone (stranger, grantee or friend), the tokens issued before
stop verifying offline once the feed is read, export shows nothing, a later enrollment under the
same id starts from the default policy, and erasing is allowed whatever is left of the person and
can be repeated."""

from __future__ import annotations

import json

import pytest

from auditlog.model import Actor, ActorType
from auditlog.ports import AuditFilter
from consent.model import Audience, CameoPolicy, Decision
from consent.ports import Edge
from consent.service import EdgeChange
from consent.tokens import RevocationList, TokenProblem, TokenRejected, keys_from_jwks, verify_use_token
from identity_service.wiring import App

SERVICE = Actor(ActorType.SERVICE, "video-gen")
OWNER = Actor(ActorType.USER, "alice")


def check(app: App, owner: str, requester: str) -> tuple[Decision, str]:
    outcome = app.consent.check(owner, requester, purpose="t", categories=(), audience="video-gen", actor=SERVICE)
    return outcome.result.decision, outcome.token


def befriend(app: App, a: str, b: str, version: int) -> None:
    app.consent.sync_relationships([EdgeChange(Edge(a, b, version), True), EdgeChange(Edge(b, a, version), True)],
                                    actor=SERVICE)


def offline(app: App, token: str) -> None:
    """What another backend does: the JWKS and the whole revocation feed, then verify."""
    feed = RevocationList()
    for entry in app.consent.list_revocations(0, 1000):
        feed.add(cursor=entry.cursor, grant=entry.grant, owner_id=entry.owner_id,
                 revoke_time_s=int(entry.revoke_time.timestamp()))
    keys = keys_from_jwks(json.dumps(app.keyring.jwks()))
    verify_use_token(token, keys, issuer=app.settings.token_issuer, audience="video-gen", owner="alice",
                     revocations=feed)


def test_erasing_a_person_with_consent_but_no_enrollment_ends_every_permission(app: App) -> None:
    # No narrowing before the tokens (a block would put an owner-wide entry in the feed itself).
    app.consent.update_policy(CameoPolicy("alice", Audience.FRIENDS), etag="", actor=OWNER)
    grant = app.consent.create_grant("alice", grantee_id="gina", audience=None, start_time=None, end_time=None,
                                     actor=OWNER)
    befriend(app, "alice", "fred", 1)
    app.consent.create_grant("bob", grantee_id="alice", audience=None, start_time=None, end_time=None, actor=OWNER)
    friend_decision, friend_token = check(app, "alice", "fred")
    assert friend_decision == Decision.ALLOW and check(app, "alice", "gina")[0] == Decision.ALLOW
    offline(app, friend_token)
    # Public for a moment, then back: the stranger's token predates the erasure too.
    app.consent.update_policy(CameoPolicy("alice", Audience.PUBLIC), etag="", actor=OWNER)
    stranger_decision, stranger_token = check(app, "alice", "sam")
    assert stranger_decision == Decision.ALLOW

    # No enrollment at all: erasure is still allowed (it used to be 404 SUBJECT_NOT_FOUND).
    assert app.enrollments.delete_subject("alice", actor=OWNER) == 0

    for requester in ("sam", "gina", "fred"):
        assert check(app, "alice", requester)[0] == Decision.DENY, requester
    for token in (friend_token, stranger_token):
        with pytest.raises(TokenRejected) as rejected:
            offline(app, token)
        assert rejected.value.problem == TokenProblem.REVOKED
    with app.store.read() as tx:
        assert tx.get_policy("alice") is None
        assert tx.get_grant("alice", grant.grant_id) is None
        assert not tx.has_edge("alice", "fred") and not tx.has_edge("fred", "alice")
        # Another owner's grant to alice is that owner's decision, not alice's data to erase.
        assert [g.grantee_id for g in tx.grants_for("bob", "alice")] == ["alice"]
        erased = tx.list_audit(AuditFilter(action="identity.subject.erase"), after_sequence=None, limit=10)
    assert erased[0].details["grants_revoked"] == "1" and erased[0].details["relationships_removed"] == "2"
    assert erased[0].details["policy_removed"] == "true"
    # A late, stale sync of the old friendship does not bring it back.
    befriend(app, "alice", "fred", 1)
    with app.store.read() as tx:
        assert not tx.has_edge("alice", "fred")

    # Enrolling again under the same id starts from the default policy (nobody), not the old one.
    app.enrollments.start("alice", reenroll=False, actor=OWNER)
    assert check(app, "alice", "sam")[0] == Decision.DENY
    # Erasing again succeeds, and so does erasing someone never seen.
    assert app.enrollments.delete_subject("alice", actor=OWNER) == 0
    assert app.enrollments.delete_subject("nobody-ever", actor=OWNER) == 0
    with app.store.read() as tx:
        entries = tx.list_revocations(since_cursor=0, limit=100)
    # One owner-wide entry per erasure of a person with data; none for a stranger to the service.
    assert [(e.grant, e.owner_id) for e in entries if e.owner_id == "nobody-ever"] == []
    assert sum(1 for e in entries if e.grant == "" and e.owner_id == "alice") == 2


def test_erasure_takes_the_block_list(app: App) -> None:
    app.consent.update_policy(CameoPolicy("carol", Audience.PUBLIC, blocked_ids=frozenset({"mallory"})), etag="",
                              actor=OWNER)
    with app.store.write() as tx:
        assert tx.erase_owner("carol").policy is True
    with app.store.read() as tx:
        assert tx.get_blocked("carol") == frozenset() and tx.get_policy("carol") is None
    with app.store.write() as tx:
        again = tx.erase_owner("carol")
    assert not again.anything

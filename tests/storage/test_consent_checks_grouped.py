"""Grouped permission checks on SQLite and PostgreSQL: concurrent checks share transactions,
yet each sees every change committed before it started, and one failing check fails alone."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from auditlog.log import verify_log
from auditlog.model import Actor, ActorType
from auditlog.ports import AuditFilter
from consent.model import Audience, CameoPolicy, Decision
from consent.service import CheckOutcome
from consent.tokens import keys_from_jwks, verify_use_token
from identity_service.wiring import App

ACTOR = Actor(ActorType.SERVICE, "video-gen")


def check(app: App, owner: str, requester: str) -> Decision:
    return app.consent.check(owner, requester, purpose="t", categories=(), audience="video-gen",
                             actor=ACTOR).result.decision


def test_a_grant_revoked_before_a_check_starts_is_seen_by_it(app: App) -> None:
    app.consent.update_policy(CameoPolicy("alice", Audience.APPROVED), etag="", actor=ACTOR)
    grant = app.consent.create_grant("alice", grantee_id="bob", audience=None, start_time=None, end_time=None,
                                     actor=ACTOR)
    revoked = threading.Event()
    stop = threading.Event()
    wrong: list[str] = []

    def hammer() -> int:
        n = 0
        while not stop.is_set():
            after_revoke = revoked.is_set()  # read before the check starts
            decision = check(app, "alice", "bob")
            if after_revoke and decision != Decision.DENY:
                wrong.append("allowed after the revocation had committed")
            n += 1
        return n

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(hammer) for _ in range(8)]
        threading.Event().wait(0.3)
        app.consent.revoke_grant("alice", grant.grant_id, actor=ACTOR)
        revoked.set()
        threading.Event().wait(0.3)
        stop.set()
        counts = [f.result() for f in futures]
    assert sum(counts) > 16 and not wrong
    with app.store.read() as tx:
        checks = tx.list_audit(AuditFilter(action="consent.permission.check"), after_sequence=None, limit=100_000)
    assert len(checks) == sum(counts)  # every check left exactly one event
    assert verify_log(app.store, app.keyring.verification_keys()).ok


def test_a_check_that_fails_fails_alone(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    for owner in ("alice", "carol"):
        app.consent.update_policy(CameoPolicy(owner, Audience.PUBLIC), etag="", actor=ACTOR)
    real = app.consent._decide_one  # wrapped to break one owner's checks
    gate = threading.Barrier(6)

    def broken_for_carol(request, facts, now, *rest):  # type: ignore[no-untyped-def]
        if request.owner_id == "carol":
            raise RuntimeError("signing failed")
        return real(request, facts, now, *rest)

    monkeypatch.setattr(app.consent, "_decide_one", broken_for_carol)

    def one(owner: str) -> object:
        gate.wait(5)
        try:
            return app.consent.check(owner, "bob", purpose="t", categories=(), audience="video-gen", actor=ACTOR)
        except RuntimeError as exc:
            return exc

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(one, ["alice", "carol"] * 3))
    keys = keys_from_jwks(json.dumps(app.keyring.jwks()))
    for owner, outcome in zip(["alice", "carol"] * 3, outcomes, strict=True):
        if owner == "carol":
            assert isinstance(outcome, RuntimeError)
        else:
            assert not isinstance(outcome, Exception)
            assert isinstance(outcome, CheckOutcome) and outcome.result.decision == Decision.ALLOW
            claims = verify_use_token(outcome.token, keys, issuer=app.settings.token_issuer, audience="video-gen",
                                      owner="alice")
            assert claims.jti == outcome.token_id
    with app.store.read() as tx:
        events = tx.list_audit(AuditFilter(action="consent.permission.check"), after_sequence=None, limit=100)
    assert sorted(e.subject_id for e in events) == ["alice"] * 3  # nothing recorded for the failed ones


def test_tokens_are_ordered_against_revocations_by_feed_cursor_not_by_second(app: App) -> None:
    """A token issued right after a narrowing (in the same second) verifies offline, and one
    issued right before it does not: the token names the feed position its decision saw. With
    whole-second times the first was rejected as REVOKED although the server had said ALLOW
    after the change. Frozen clock: everything here happens in one second."""
    from datetime import UTC, datetime

    from consent.tokens import RevocationList, TokenProblem, TokenRejected

    frozen = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)
    app.consent._clock = lambda: frozen  # a test double of the clock: one second for everything
    app.consent.update_policy(CameoPolicy("alice", Audience.PUBLIC), etag="", actor=ACTOR)
    before = app.consent.check("alice", "bob", purpose="t", categories=(), audience="video-gen", actor=ACTOR)
    app.consent.update_policy(CameoPolicy("alice", Audience.PUBLIC, blocked_ids=frozenset({"mallory"})),
                              etag="", actor=ACTOR)  # narrows: an owner-wide entry in the feed
    after = app.consent.check("alice", "bob", purpose="t", categories=(), audience="video-gen", actor=ACTOR)
    assert before.result.decision == after.result.decision == Decision.ALLOW
    feed = RevocationList()
    for entry in app.consent.list_revocations(0, 100):
        feed.add(cursor=entry.cursor, grant=entry.grant, owner_id=entry.owner_id,
                 revoke_time_s=int(entry.revoke_time.timestamp()))
    keys = keys_from_jwks(json.dumps(app.keyring.jwks()))

    def verify(token: str) -> None:
        verify_use_token(token, keys, issuer=app.settings.token_issuer, audience="video-gen", owner="alice",
                         revocations=feed, now=frozen.timestamp())

    verify(after.token)
    with pytest.raises(TokenRejected) as rejected:
        verify(before.token)
    assert rejected.value.problem == TokenProblem.REVOKED

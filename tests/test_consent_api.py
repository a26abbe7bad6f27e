"""ConsentService end to end over gRPC: policy, friends, check, token, offline verify, revoke."""

from __future__ import annotations

import grpc
import pytest

from auditlog.ports import AuditFilter
from consent.tokens import RevocationList, TokenProblem, TokenRejected, keys_from_jwks, verify_use_token
from likeness.audit.v1 import audit_service_pb2 as apb
from likeness.audit.v1 import audit_service_pb2_grpc as agrpc
from likeness.consent.v1 import consent_service_pb2 as pb
from likeness.consent.v1 import consent_service_pb2_grpc as rpc
from tests.conftest import RunningServer, error_info

UPSERT, DELETE = pb.RelationshipChange.OPERATION_UPSERT, pb.RelationshipChange.OPERATION_DELETE


def stub(srv: RunningServer) -> rpc.ConsentServiceStub:
    return rpc.ConsentServiceStub(srv.channel)


def check(srv: RunningServer, owner: str, requester: str, *cats: int) -> pb.CheckCameoPermissionResponse:
    return stub(srv).CheckCameoPermission(
        pb.CheckCameoPermissionRequest(owner_id=owner, requester_id=requester, purpose="remix",
                                       content_categories=list(cats)),
        metadata=srv.metadata("generator"), timeout=5,
    )


class OfflineVerifier:
    """What another backend service does: JWKS once, then the revocation feed from a cursor."""

    def __init__(self, srv: RunningServer) -> None:
        self.srv = srv
        jwks = stub(srv).GetPublicKeys(pb.GetPublicKeysRequest(), metadata=srv.metadata("generator"), timeout=5)
        self.keys = keys_from_jwks(jwks.jwks_json)
        self.revocations = RevocationList()

    def catch_up(self) -> None:
        reply = stub(self.srv).ListRevocations(
            pb.ListRevocationsRequest(since_cursor=self.revocations.cursor), metadata=self.srv.metadata("generator"),
            timeout=5,
        )
        for r in reply.revocations:
            self.revocations.add(cursor=r.cursor, grant=r.grant, owner_id=r.owner_id,
                                 revoke_time_s=r.revoke_time.seconds)

    def verify(self, token: str, owner: str) -> None:
        verify_use_token(token, self.keys, issuer="likeness-consent", audience="svc-generator", owner=owner,
                         revocations=self.revocations)


def test_the_whole_consent_flow(running: RunningServer) -> None:
    consent = stub(running)
    app_md = running.metadata("app")
    # Default: nobody.
    assert check(running, "alice", "bob").deny_reason == pb.DENY_REASON_AUDIENCE_NOBODY
    policy = consent.UpdateCameoPolicy(pb.UpdateCameoPolicyRequest(policy=pb.CameoPolicy(
        owner_id="alice", audience=pb.AUDIENCE_FRIENDS, refused_categories=[pb.CONTENT_CATEGORY_POLITICAL],
        instructions="keep it kind")), metadata=app_md, timeout=5).policy
    assert policy.etag == "1" and policy.audience == pb.AUDIENCE_FRIENDS
    assert check(running, "alice", "bob").deny_reason == pb.DENY_REASON_NOT_FRIENDS
    synced = consent.SyncRelationships(pb.SyncRelationshipsRequest(changes=[
        pb.RelationshipChange(operation=UPSERT, from_id="alice", to_id="bob", version=1),
        pb.RelationshipChange(operation=UPSERT, from_id="bob", to_id="alice", version=1),
    ]), metadata=running.metadata("social_graph"), timeout=5)
    assert (synced.applied, synced.stale) == (2, 0)
    allowed = check(running, "alice", "bob", pb.CONTENT_CATEGORY_COMMERCIAL)
    assert allowed.decision == pb.PERMISSION_DECISION_ALLOW and allowed.use_token
    assert list(allowed.refused_categories) == [pb.CONTENT_CATEGORY_POLITICAL] and allowed.instructions == "keep it kind"
    assert check(running, "alice", "bob", pb.CONTENT_CATEGORY_POLITICAL).deny_reason == pb.DENY_REASON_CATEGORY_REFUSED

    verifier = OfflineVerifier(running)
    verifier.verify(allowed.use_token, owner="alice")

    # Approved people: a grant to carol, then revoke it.
    consent.UpdateCameoPolicy(pb.UpdateCameoPolicyRequest(policy=pb.CameoPolicy(
        owner_id="alice", audience=pb.AUDIENCE_APPROVED, etag="1")), metadata=app_md, timeout=5)
    grant = consent.CreateGrant(pb.CreateGrantRequest(parent="subjects/alice", grant=pb.Grant(grantee_id="carol")),
                                metadata=app_md, timeout=5).grant
    assert grant.name.startswith("subjects/alice/grants/") and grant.state == pb.GRANT_STATE_ACTIVE
    via_grant = check(running, "alice", "carol")
    assert via_grant.decision == pb.PERMISSION_DECISION_ALLOW and via_grant.grant == grant.name
    verifier.verify(via_grant.use_token, owner="alice")
    revoked = consent.RevokeGrant(pb.RevokeGrantRequest(name=grant.name), metadata=app_md, timeout=5).grant
    assert revoked.state == pb.GRANT_STATE_REVOKED
    assert check(running, "alice", "carol").deny_reason == pb.DENY_REASON_NOT_APPROVED  # the very next check
    verifier.verify(via_grant.use_token, owner="alice")  # offline: still valid until the feed is read
    verifier.catch_up()
    with pytest.raises(TokenRejected) as err:
        verifier.verify(via_grant.use_token, owner="alice")
    assert err.value.problem == TokenProblem.REVOKED
    # The FRIENDS->APPROVED change narrowed the policy: bob's earlier token is void too.
    with pytest.raises(TokenRejected):
        verifier.verify(allowed.use_token, owner="alice")

    # Every check is in the audit log, with the token id and never the token.
    events = agrpc.AuditServiceStub(running.channel).ListEvents(
        apb.ListEventsRequest(action="consent.permission.check", subject_id="alice", page_size=100),
        metadata=running.metadata("auditor"), timeout=5).events
    assert len(events) == 6
    assert {e.details["token_id"] for e in events if e.outcome == apb.OUTCOME_ALLOW} == {
        allowed.token_id, via_grant.token_id}
    assert allowed.use_token not in repr(events)


def test_block_wins_and_etag_conflicts(running: RunningServer) -> None:
    consent = stub(running)
    md = running.metadata("app")
    consent.UpdateCameoPolicy(pb.UpdateCameoPolicyRequest(policy=pb.CameoPolicy(
        owner_id="dora", audience=pb.AUDIENCE_PUBLIC, blocked_ids=["eve"])), metadata=md, timeout=5)
    assert check(running, "dora", "frank").decision == pb.PERMISSION_DECISION_ALLOW
    consent.CreateGrant(pb.CreateGrantRequest(parent="subjects/dora", grant=pb.Grant(grantee_id="eve")), metadata=md, timeout=5)
    assert check(running, "dora", "eve").deny_reason == pb.DENY_REASON_BLOCKED
    with pytest.raises(grpc.RpcError) as err:
        consent.UpdateCameoPolicy(pb.UpdateCameoPolicyRequest(policy=pb.CameoPolicy(
            owner_id="dora", audience=pb.AUDIENCE_NOBODY, etag="0")), metadata=md, timeout=5)
    assert error_info(err.value)[:2] == (grpc.StatusCode.ABORTED, "ERROR_REASON_POLICY_CONFLICT")
    got = consent.GetCameoPolicy(pb.GetCameoPolicyRequest(owner_id="dora"), metadata=md, timeout=5).policy
    assert list(got.blocked_ids) == ["eve"] and got.etag == "1"


def test_grants_list_and_errors(running: RunningServer) -> None:
    consent = stub(running)
    md = running.metadata("app")
    names = [consent.CreateGrant(pb.CreateGrantRequest(parent="subjects/gina", grant=pb.Grant(grantee_id=f"p{i}")),
                                 metadata=md, timeout=5).grant.name for i in range(3)]
    page = consent.ListGrants(pb.ListGrantsRequest(parent="subjects/gina", page_size=2), metadata=md, timeout=5)
    rest = consent.ListGrants(pb.ListGrantsRequest(parent="subjects/gina", page_size=2, page_token=page.next_page_token),
                              metadata=md, timeout=5)
    assert sorted(g.name for g in [*page.grants, *rest.grants]) == sorted(names) and not rest.next_page_token
    consent.RevokeGrant(pb.RevokeGrantRequest(name=names[0]), metadata=md, timeout=5)
    cases = [
        (lambda: consent.RevokeGrant(pb.RevokeGrantRequest(name=names[0]), metadata=md, timeout=5),
         grpc.StatusCode.FAILED_PRECONDITION, "ERROR_REASON_GRANT_NOT_ACTIVE"),
        (lambda: consent.GetGrant(pb.GetGrantRequest(name="subjects/gina/grants/0000000000000000"), metadata=md, timeout=5),
         grpc.StatusCode.NOT_FOUND, "ERROR_REASON_GRANT_NOT_FOUND"),
        (lambda: consent.GetGrant(pb.GetGrantRequest(name=names[1].replace("gina", "hank")), metadata=md, timeout=5),
         grpc.StatusCode.NOT_FOUND, "ERROR_REASON_GRANT_NOT_FOUND"),
        (lambda: consent.GetGrant(pb.GetGrantRequest(name="grants/x"), metadata=md, timeout=5),
         grpc.StatusCode.INVALID_ARGUMENT, "ERROR_REASON_FIELD_INVALID"),
        (lambda: consent.CreateGrant(pb.CreateGrantRequest(parent="subjects/gina", grant=pb.Grant()), metadata=md, timeout=5),
         grpc.StatusCode.INVALID_ARGUMENT, "ERROR_REASON_FIELD_MISSING"),
        (lambda: consent.CreateGrant(pb.CreateGrantRequest(parent="subjects/gina", grant=pb.Grant(grantee_id="gina")),
                                     metadata=md, timeout=5),
         grpc.StatusCode.INVALID_ARGUMENT, "ERROR_REASON_FIELD_INVALID"),
        (lambda: consent.CreateGrant(pb.CreateGrantRequest(parent="subjects/gina", grant=pb.Grant(audience=pb.AUDIENCE_NOBODY)),
                                     metadata=md, timeout=5),
         grpc.StatusCode.INVALID_ARGUMENT, "ERROR_REASON_FIELD_INVALID"),
        (lambda: consent.UpdateCameoPolicy(pb.UpdateCameoPolicyRequest(policy=pb.CameoPolicy(owner_id="gina")),
                                           metadata=md, timeout=5),
         grpc.StatusCode.INVALID_ARGUMENT, "ERROR_REASON_FIELD_INVALID"),
        (lambda: check(running, "gina", "x", 99), grpc.StatusCode.INVALID_ARGUMENT, "ERROR_REASON_FIELD_INVALID"),
        (lambda: check(running, "", "x"), grpc.StatusCode.INVALID_ARGUMENT, "ERROR_REASON_FIELD_MISSING"),
        (lambda: consent.SyncRelationships(pb.SyncRelationshipsRequest(changes=[pb.RelationshipChange(
            operation=UPSERT, from_id="a", to_id="b", version=0)]), metadata=running.metadata("social_graph"), timeout=5),
         grpc.StatusCode.INVALID_ARGUMENT, "ERROR_REASON_FIELD_INVALID"),
        (lambda: consent.CreateGrant(pb.CreateGrantRequest(parent="subjects/gina", grant=pb.Grant(grantee_id="z")),
                                     metadata=running.metadata("generator"), timeout=5),
         grpc.StatusCode.PERMISSION_DENIED, "ERROR_REASON_CALLER_ROLE_DENIED"),
    ]
    for call, code, reason in cases:
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert error_info(err.value)[:2] == (code, reason)


def test_relationship_sync_is_idempotent_and_versioned(running: RunningServer) -> None:
    consent = stub(running)
    md = running.metadata("social_graph")
    change = pb.RelationshipChange(operation=UPSERT, from_id="ivy", to_id="jon", version=3)
    assert consent.SyncRelationships(pb.SyncRelationshipsRequest(changes=[change]), metadata=md, timeout=5).applied == 1
    again = consent.SyncRelationships(pb.SyncRelationshipsRequest(changes=[change]), metadata=md, timeout=5)
    assert (again.applied, again.stale) == (0, 1)
    late = consent.SyncRelationships(pb.SyncRelationshipsRequest(changes=[
        pb.RelationshipChange(operation=DELETE, from_id="ivy", to_id="jon", version=5),
        pb.RelationshipChange(operation=UPSERT, from_id="ivy", to_id="jon", version=4),
    ]), metadata=md, timeout=5)
    assert (late.applied, late.stale) == (1, 1)
    listed = consent.ListRelationships(pb.ListRelationshipsRequest(subject_id="ivy"), metadata=md, timeout=5)
    assert list(listed.relationships) == []
    # Each sync is in the audit log, per subject whose edges it touched, with counts only.
    with running.app.store.read() as tx:
        events = [e for e in tx.list_audit(AuditFilter(subject_id="ivy"), after_sequence=None, limit=50,
                                           descending=False) if e.action == "consent.relationships.sync"]
    assert [(e.details["added"], e.details["removed"], e.details["stale"]) for e in events] == [
        ("1", "0", "0"), ("0", "0", "1"), ("0", "1", "1")]
    assert all("jon" not in str(e.details) for e in events)

"""AuditService over gRPC, and auditing of what the server does."""

from __future__ import annotations

import grpc
import pytest

from auditlog import merkle
from likeness.audit.v1 import audit_service_pb2 as apb
from likeness.audit.v1 import audit_service_pb2_grpc as agrpc
from likeness.identity.v1 import identity_service_pb2 as pb
from likeness.identity.v1 import identity_service_pb2_grpc as pb_grpc
from tests.conftest import RunningServer, error_info


def audit_stub(srv: RunningServer) -> agrpc.AuditServiceStub:
    return agrpc.AuditServiceStub(srv.channel)


def test_actions_and_refused_callers_are_audited(running: RunningServer) -> None:
    ident = pb_grpc.IdentityServiceStub(running.channel)
    ident.StartEnrollment(pb.StartEnrollmentRequest(subject_id="alice"),
                          metadata=running.metadata("app", request_id="r-start"), timeout=5)
    with pytest.raises(grpc.RpcError):
        ident.DeleteSubject(pb.DeleteSubjectRequest(subject_id="alice"),
                            metadata=running.metadata("generator", request_id="r-denied"), timeout=5)
    with pytest.raises(grpc.RpcError):
        ident.GetEnrollment(pb.GetEnrollmentRequest(subject_id="alice"),
                            metadata=[("authorization", "Bearer nope"), ("x-request-id", "r-unknown")], timeout=5)
    events = audit_stub(running).ListEvents(apb.ListEventsRequest(), metadata=running.metadata("auditor"), timeout=5).events
    by_request = {e.request_id: e for e in events}
    start = by_request["r-start"]
    assert (start.action, start.subject_id, start.actor_id, start.outcome) == (
        "identity.enrollment.start", "alice", "svc-app", apb.OUTCOME_SUCCESS)
    denied = by_request["r-denied"]
    assert (denied.action, denied.outcome, denied.reason, denied.actor_id) == (
        "auth.caller.refused", apb.OUTCOME_DENY, "ERROR_REASON_CALLER_ROLE_DENIED", "svc-generator")
    unknown = by_request["r-unknown"]
    assert (unknown.reason, unknown.actor_id) == ("ERROR_REASON_CALLER_UNAUTHENTICATED", "unknown")
    assert "Bearer" not in repr(events) and "nope" not in repr(events)


def test_erasure_redacts_and_the_log_still_proves(running: RunningServer) -> None:
    ident = pb_grpc.IdentityServiceStub(running.channel)
    md = running.metadata("app")
    for subject in ("alice", "bob"):
        ident.StartEnrollment(pb.StartEnrollmentRequest(subject_id=subject), metadata=md, timeout=5)
    ident.DeleteSubject(pb.DeleteSubjectRequest(subject_id="alice"), metadata=md, timeout=5)
    stub = audit_stub(running)
    admin = running.metadata("admin")
    events = stub.ListEvents(apb.ListEventsRequest(), metadata=admin, timeout=5).events
    assert not stub.ListEvents(apb.ListEventsRequest(subject_id="alice"), metadata=admin, timeout=5).events
    # Redacted events keep only their place in the tree: no action, no outcome, no payload.
    redacted = [e for e in events if e.redacted]
    assert redacted and all(e.action == "" and e.outcome == apb.OUTCOME_UNSPECIFIED and not e.subject_id
                            for e in redacted)
    erase = next(e for e in events if e.action == "identity.subject.erase")
    assert erase.subject_id.startswith("erased:") and "alice" not in repr(erase)
    running.app.audit.checkpoint()
    cp = stub.GetLatestCheckpoint(apb.GetLatestCheckpointRequest(), metadata=admin, timeout=5).checkpoint
    for seq in range(cp.tree_size):
        proof = stub.GetInclusionProof(apb.GetInclusionProofRequest(sequence=seq, tree_size=cp.tree_size),
                                       metadata=admin, timeout=5)
        assert merkle.verify_inclusion(proof.leaf_hash, seq, cp.tree_size, list(proof.audit_path), cp.root_hash)
    key = running.app.keyring.verification_keys()[cp.key_id]
    key.verify(cp.signature, cp.signed_body)  # raises if forged


def test_pagination_and_bad_requests(running: RunningServer) -> None:
    ident = pb_grpc.IdentityServiceStub(running.channel)
    for i in range(5):
        ident.StartEnrollment(pb.StartEnrollmentRequest(subject_id=f"u{i}"), metadata=running.metadata("app"), timeout=5)
    stub = audit_stub(running)
    admin = running.metadata("admin")
    first = stub.ListEvents(apb.ListEventsRequest(page_size=3), metadata=admin, timeout=5)
    second = stub.ListEvents(apb.ListEventsRequest(page_size=3, page_token=first.next_page_token), metadata=admin, timeout=5)
    assert [e.sequence for e in first.events] == [0, 1, 2] and [e.sequence for e in second.events] == [3, 4]
    assert second.next_page_token == ""
    cases = [
        (lambda: stub.GetEvent(apb.GetEventRequest(sequence=999), metadata=admin, timeout=5),
         grpc.StatusCode.NOT_FOUND, "ERROR_REASON_AUDIT_EVENT_NOT_FOUND"),
        (lambda: stub.GetInclusionProof(apb.GetInclusionProofRequest(sequence=0, tree_size=99), metadata=admin, timeout=5),
         grpc.StatusCode.INVALID_ARGUMENT, "ERROR_REASON_TREE_SIZE_INVALID"),
        (lambda: stub.GetConsistencyProof(apb.GetConsistencyProofRequest(first_size=4, second_size=2), metadata=admin, timeout=5),
         grpc.StatusCode.INVALID_ARGUMENT, "ERROR_REASON_TREE_SIZE_INVALID"),
        (lambda: stub.GetLatestCheckpoint(apb.GetLatestCheckpointRequest(), metadata=admin, timeout=5),
         grpc.StatusCode.NOT_FOUND, "ERROR_REASON_CHECKPOINT_NOT_FOUND"),
        (lambda: stub.ListEvents(apb.ListEventsRequest(page_token=first.next_page_token, subject_id="u1"), metadata=admin, timeout=5),
         grpc.StatusCode.INVALID_ARGUMENT, "ERROR_REASON_PAGE_TOKEN_INVALID"),
    ]
    for call, code, reason in cases:
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert error_info(err.value)[:2] == (code, reason)

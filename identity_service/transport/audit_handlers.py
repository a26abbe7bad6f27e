"""AuditService handlers: events, checkpoints and Merkle proofs."""

from __future__ import annotations

import grpc

from auditlog.log import AuditLog
from auditlog.model import ActorType, AuditEvent, Checkpoint, Outcome
from auditlog.ports import AuditFilter
from identity_service.settings import Settings
from identity_service.storage.base import Store, Tx
from identity_service.transport.convert import from_timestamp, timestamp
from identity_service.validation import decode_page_token, page_of, page_size
from kernel.errors import AuditEventNotFound, FieldInvalid
from likeness.audit.v1 import audit_service_pb2 as pb
from likeness.audit.v1 import audit_service_pb2_grpc as pb_grpc

ACTOR_TYPES = {
    ActorType.SERVICE: pb.ACTOR_TYPE_SERVICE,
    ActorType.USER: pb.ACTOR_TYPE_USER,
    ActorType.OPERATOR: pb.ACTOR_TYPE_OPERATOR,
    ActorType.SYSTEM: pb.ACTOR_TYPE_SYSTEM,
}
OUTCOMES = {
    Outcome.SUCCESS: pb.OUTCOME_SUCCESS,
    Outcome.FAILURE: pb.OUTCOME_FAILURE,
    Outcome.ALLOW: pb.OUTCOME_ALLOW,
    Outcome.DENY: pb.OUTCOME_DENY,
    Outcome.REDACTED: pb.OUTCOME_UNSPECIFIED,  # erased with the event's payload
}
OUTCOME_BY_PROTO = {v: k for k, v in OUTCOMES.items() if v != pb.OUTCOME_UNSPECIFIED}


def event_message(event: AuditEvent) -> pb.AuditEvent:
    return pb.AuditEvent(
        sequence=event.sequence, time=timestamp(event.time), actor_type=ACTOR_TYPES[event.actor_type],
        actor_id=event.actor_id, subject_id=event.subject_id, action=event.action,
        outcome=OUTCOMES[event.outcome], reason=event.reason, request_id=event.request_id,
        details=event.details, leaf_hash=event.leaf_hash, redacted=event.redacted,
    )


def checkpoint_message(cp: Checkpoint) -> pb.Checkpoint:
    return pb.Checkpoint(
        tree_size=cp.tree_size, root_hash=cp.root_hash, time=timestamp(cp.time), key_id=cp.key_id,
        signature=cp.signature, signed_body=cp.signed_body,
    )


class AuditHandlers(pb_grpc.AuditServiceServicer):
    def __init__(self, store: Store, audit: AuditLog[Tx], settings: Settings) -> None:
        self._store = store
        self._audit = audit
        self._settings = settings

    def _size(self, value: int) -> int:
        return page_size(value, default=self._settings.default_page_size, maximum=self._settings.max_page_size)

    def ListEvents(self, request: pb.ListEventsRequest, context: grpc.ServicerContext) -> pb.ListEventsResponse:
        if request.outcome and request.outcome not in OUTCOME_BY_PROTO:
            raise FieldInvalid("outcome", "unknown outcome")
        flt = AuditFilter(
            subject_id=request.subject_id,
            action=request.action,
            outcome=OUTCOME_BY_PROTO.get(request.outcome),
            start_time=from_timestamp(request.start_time) if request.HasField("start_time") else None,
            end_time=from_timestamp(request.end_time) if request.HasField("end_time") else None,
        )
        filters: dict[str, object] = {
            "s": flt.subject_id, "a": flt.action, "o": request.outcome,
            "t0": request.start_time.ToMicroseconds() if request.HasField("start_time") else None,
            "t1": request.end_time.ToMicroseconds() if request.HasField("end_time") else None,
        }
        after = decode_page_token(request.page_token, filters)
        size = self._size(request.page_size)
        with self._store.read() as tx:
            rows = tx.list_audit(flt, after_sequence=int(after) if after is not None else None, limit=size + 1)
        events, token = page_of(rows, size, lambda e: e.sequence, filters)
        return pb.ListEventsResponse(events=[event_message(e) for e in events], next_page_token=token)

    def GetEvent(self, request: pb.GetEventRequest, context: grpc.ServicerContext) -> pb.GetEventResponse:
        if request.sequence < 0:
            raise FieldInvalid("sequence", "must not be negative")
        with self._store.read() as tx:
            event = tx.get_audit(request.sequence)
        if event is None:
            raise AuditEventNotFound(request.sequence)
        return pb.GetEventResponse(event=event_message(event))

    def ListCheckpoints(
        self, request: pb.ListCheckpointsRequest, context: grpc.ServicerContext
    ) -> pb.ListCheckpointsResponse:
        after = decode_page_token(request.page_token, {})
        size = self._size(request.page_size)
        with self._store.read() as tx:
            rows = tx.list_checkpoints(after_size=int(after or 0), limit=size + 1)
        cps, token = page_of(rows, size, lambda c: c.tree_size, {})
        return pb.ListCheckpointsResponse(checkpoints=[checkpoint_message(c) for c in cps], next_page_token=token)

    def GetLatestCheckpoint(
        self, request: pb.GetLatestCheckpointRequest, context: grpc.ServicerContext
    ) -> pb.GetLatestCheckpointResponse:
        return pb.GetLatestCheckpointResponse(checkpoint=checkpoint_message(self._audit.latest_checkpoint()))

    def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: grpc.ServicerContext
    ) -> pb.GetInclusionProofResponse:
        leaf, path = self._audit.inclusion_proof(request.sequence, request.tree_size)
        return pb.GetInclusionProofResponse(
            sequence=request.sequence, tree_size=request.tree_size, leaf_hash=leaf, audit_path=path
        )

    def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: grpc.ServicerContext
    ) -> pb.GetConsistencyProofResponse:
        proof = self._audit.consistency_proof(request.first_size, request.second_size)
        return pb.GetConsistencyProofResponse(proof=proof)

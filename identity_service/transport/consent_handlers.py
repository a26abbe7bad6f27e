"""ConsentService handlers: validate, call consent.service, convert."""

from __future__ import annotations

import json
import re
from typing import Any

import grpc

from consent.model import Audience, CameoPolicy, ContentCategory, Decision, DenyReason, Grant, GrantState
from consent.ports import Edge
from consent.service import ConsentService, EdgeChange
from identity_service.settings import Settings
from identity_service.signing import Keyring
from identity_service.transport.convert import from_timestamp, service_actor, timestamp
from identity_service.transport.interceptor import current_call
from identity_service.validation import decode_page_token, page_of, page_size, subject_id, text
from kernel.clock import utc_now
from kernel.errors import FieldInvalid, FieldMissing
from likeness.consent.v1 import consent_service_pb2 as pb
from likeness.consent.v1 import consent_service_pb2_grpc as pb_grpc

AUDIENCES = {
    Audience.NOBODY: pb.AUDIENCE_NOBODY, Audience.FRIENDS: pb.AUDIENCE_FRIENDS,
    Audience.APPROVED: pb.AUDIENCE_APPROVED, Audience.PUBLIC: pb.AUDIENCE_PUBLIC,
}
AUDIENCE_BY_PROTO = {v: k for k, v in AUDIENCES.items()}
CATEGORIES: dict[ContentCategory, Any] = {
    c: pb.ContentCategory.Value(f"CONTENT_CATEGORY_{c.name}") for c in ContentCategory
}
CATEGORY_BY_PROTO = {v: k for k, v in CATEGORIES.items()}
GRANT_STATES = {
    GrantState.ACTIVE: pb.GRANT_STATE_ACTIVE, GrantState.REVOKED: pb.GRANT_STATE_REVOKED,
    GrantState.EXPIRED: pb.GRANT_STATE_EXPIRED,
}
GRANT_STATE_BY_PROTO = {v: k for k, v in GRANT_STATES.items()}
DENY_REASONS: dict[DenyReason, Any] = {r: pb.DenyReason.Value(f"DENY_REASON_{r.name}") for r in DenyReason}
PARENT_RE = re.compile(r"^subjects/([^/]+)$")
GRANT_NAME_RE = re.compile(r"^subjects/([^/]+)/grants/([0-9a-f]{16})$")
MAX_BLOCKED = 10_000
MAX_TEXT = 2_000


def categories(values: object, field: str) -> frozenset[ContentCategory]:
    found = set()
    for value in values:  # type: ignore[attr-defined]
        if value not in CATEGORY_BY_PROTO:
            raise FieldInvalid(field, "unknown or unspecified content category")
        found.add(CATEGORY_BY_PROTO[value])
    return frozenset(found)


def parent_owner(parent: str, field: str = "parent") -> str:
    if not parent:
        raise FieldMissing(field)
    match = PARENT_RE.fullmatch(parent)
    if not match:
        raise FieldInvalid(field, "must be subjects/{owner}")
    return subject_id(match.group(1), field)


def grant_ref(name: str) -> tuple[str, str]:
    if not name:
        raise FieldMissing("name")
    match = GRANT_NAME_RE.fullmatch(name)
    if not match:
        raise FieldInvalid("name", "must be subjects/{owner}/grants/{grant}")
    return subject_id(match.group(1), "name"), match.group(2)


def policy_message(policy: CameoPolicy) -> pb.CameoPolicy:
    return pb.CameoPolicy(
        owner_id=policy.owner_id, audience=AUDIENCES[policy.audience], blocked_ids=sorted(policy.blocked_ids),
        refused_categories=sorted(CATEGORIES[c] for c in policy.refused_categories),
        instructions=policy.instructions, public_figure=policy.public_figure,
        update_time=timestamp(policy.update_time), etag=str(policy.version),
    )


def grant_message(grant: Grant) -> pb.Grant:
    message = pb.Grant(
        name=grant.name, owner_id=grant.owner_id, start_time=timestamp(grant.start_time),
        end_time=timestamp(grant.end_time), state=GRANT_STATES[grant.state(utc_now())],
        create_time=timestamp(grant.create_time), revoke_time=timestamp(grant.revoke_time),
    )
    if grant.grantee_id is not None:
        message.grantee_id = grant.grantee_id
    elif grant.audience is not None:
        message.audience = AUDIENCES[grant.audience]
    return message


class ConsentHandlers(pb_grpc.ConsentServiceServicer):
    def __init__(self, consent: ConsentService, keyring: Keyring, settings: Settings) -> None:
        self._consent = consent
        self._keyring = keyring
        self._settings = settings

    def _size(self, value: int) -> int:
        return page_size(value, default=self._settings.default_page_size, maximum=self._settings.max_page_size)

    def GetCameoPolicy(
        self, request: pb.GetCameoPolicyRequest, context: grpc.ServicerContext
    ) -> pb.GetCameoPolicyResponse:
        policy = self._consent.get_policy(subject_id(request.owner_id, "owner_id"))
        return pb.GetCameoPolicyResponse(policy=policy_message(policy))

    def UpdateCameoPolicy(
        self, request: pb.UpdateCameoPolicyRequest, context: grpc.ServicerContext
    ) -> pb.UpdateCameoPolicyResponse:
        if not request.HasField("policy"):
            raise FieldMissing("policy")
        given = request.policy
        owner = subject_id(given.owner_id, "policy.owner_id")
        if given.audience not in AUDIENCE_BY_PROTO:
            raise FieldInvalid("policy.audience", "choose NOBODY, FRIENDS, APPROVED or PUBLIC")
        if len(given.blocked_ids) > MAX_BLOCKED:
            raise FieldInvalid("policy.blocked_ids", f"at most {MAX_BLOCKED}")
        text(given.instructions, "policy.instructions", MAX_TEXT)
        policy = CameoPolicy(
            owner_id=owner, audience=AUDIENCE_BY_PROTO[given.audience],
            blocked_ids=frozenset(subject_id(b, "policy.blocked_ids") for b in given.blocked_ids),
            refused_categories=categories(given.refused_categories, "policy.refused_categories"),
            instructions=given.instructions, public_figure=given.public_figure,
        )
        updated = self._consent.update_policy(policy, etag=given.etag, actor=service_actor(context))
        return pb.UpdateCameoPolicyResponse(policy=policy_message(updated))

    def CreateGrant(self, request: pb.CreateGrantRequest, context: grpc.ServicerContext) -> pb.CreateGrantResponse:
        owner = parent_owner(request.parent)
        if not request.HasField("grant"):
            raise FieldMissing("grant")
        given = request.grant
        target = given.WhichOneof("target")
        if target is None:
            raise FieldMissing("grant.grantee_id")
        grantee = subject_id(given.grantee_id, "grant.grantee_id") if target == "grantee_id" else None
        audience = None
        if target == "audience":
            if given.audience not in AUDIENCE_BY_PROTO:
                raise FieldInvalid("grant.audience", "choose FRIENDS or PUBLIC")
            audience = AUDIENCE_BY_PROTO[given.audience]
        grant = self._consent.create_grant(
            owner, grantee_id=grantee, audience=audience,
            start_time=from_timestamp(given.start_time) if given.HasField("start_time") else None,
            end_time=from_timestamp(given.end_time) if given.HasField("end_time") else None,
            actor=service_actor(context),
        )
        return pb.CreateGrantResponse(grant=grant_message(grant))

    def GetGrant(self, request: pb.GetGrantRequest, context: grpc.ServicerContext) -> pb.GetGrantResponse:
        owner, grant_id = grant_ref(request.name)
        return pb.GetGrantResponse(grant=grant_message(self._consent.get_grant(owner, grant_id)))

    def ListGrants(self, request: pb.ListGrantsRequest, context: grpc.ServicerContext) -> pb.ListGrantsResponse:
        owner = parent_owner(request.parent)
        if request.state and request.state not in GRANT_STATE_BY_PROTO:
            raise FieldInvalid("state", "unknown grant state")
        filters: dict[str, object] = {"p": owner, "s": request.state}
        after = decode_page_token(request.page_token, filters) or ""
        size = self._size(request.page_size)
        grants, token = page_of(
            self._consent.list_grants(
                owner, state=GRANT_STATE_BY_PROTO.get(request.state), after_grant_id=str(after), limit=size + 1
            ),
            size, lambda g: g.grant_id, filters,
        )
        return pb.ListGrantsResponse(grants=[grant_message(g) for g in grants], next_page_token=token)

    def RevokeGrant(self, request: pb.RevokeGrantRequest, context: grpc.ServicerContext) -> pb.RevokeGrantResponse:
        owner, grant_id = grant_ref(request.name)
        return pb.RevokeGrantResponse(
            grant=grant_message(self._consent.revoke_grant(owner, grant_id, actor=service_actor(context)))
        )

    def CheckCameoPermission(
        self, request: pb.CheckCameoPermissionRequest, context: grpc.ServicerContext
    ) -> pb.CheckCameoPermissionResponse:
        owner = subject_id(request.owner_id, "owner_id")
        requester = subject_id(request.requester_id, "requester_id")
        text(request.purpose, "purpose", 200)
        caller = current_call(context).caller
        outcome = self._consent.check(
            owner, requester, purpose=request.purpose,
            categories=categories(request.content_categories, "content_categories"),
            audience=caller.name if caller else "", actor=service_actor(context),
        )
        result = outcome.result
        return pb.CheckCameoPermissionResponse(
            decision=pb.PERMISSION_DECISION_ALLOW if result.decision == Decision.ALLOW else pb.PERMISSION_DECISION_DENY,
            deny_reason=DENY_REASONS[result.deny_reason] if result.deny_reason else pb.DENY_REASON_UNSPECIFIED,
            use_token=outcome.token, token_id=outcome.token_id, expire_time=timestamp(outcome.expire_time),
            grant=result.grant.name if result.grant else "",
            refused_categories=sorted(CATEGORIES[c] for c in result.refused_categories),
            instructions=result.instructions,
        )

    def SyncRelationships(
        self, request: pb.SyncRelationshipsRequest, context: grpc.ServicerContext
    ) -> pb.SyncRelationshipsResponse:
        if not request.changes:
            raise FieldMissing("changes")
        if len(request.changes) > 1000:
            raise FieldInvalid("changes", "at most 1000 per call")
        changes = []
        for i, change in enumerate(request.changes):
            field = f"changes[{i}]"
            if change.operation not in (pb.RelationshipChange.OPERATION_UPSERT, pb.RelationshipChange.OPERATION_DELETE):
                raise FieldInvalid(f"{field}.operation", "UPSERT or DELETE")
            if change.version <= 0:
                raise FieldInvalid(f"{field}.version", "must be positive")
            edge = Edge(subject_id(change.from_id, f"{field}.from_id"), subject_id(change.to_id, f"{field}.to_id"),
                        change.version)
            if edge.from_id == edge.to_id:
                raise FieldInvalid(f"{field}.to_id", "an edge joins two different subjects")
            changes.append(EdgeChange(edge, change.operation == pb.RelationshipChange.OPERATION_UPSERT))
        applied, stale = self._consent.sync_relationships(changes, actor=service_actor(context))
        return pb.SyncRelationshipsResponse(applied=applied, stale=stale)

    def ListRelationships(
        self, request: pb.ListRelationshipsRequest, context: grpc.ServicerContext
    ) -> pb.ListRelationshipsResponse:
        subject = subject_id(request.subject_id)
        filters: dict[str, object] = {"s": subject}
        after = decode_page_token(request.page_token, filters) or ""
        after_pair = tuple(str(after).split("\n", 1)) if after else ("", "")
        size = self._size(request.page_size)
        edges, token = page_of(
            self._consent.list_relationships(subject, after=(after_pair[0], after_pair[-1]), limit=size + 1),
            size, lambda e: f"{e.from_id}\n{e.to_id}", filters,
        )
        return pb.ListRelationshipsResponse(
            relationships=[pb.Relationship(from_id=e.from_id, to_id=e.to_id, version=e.version) for e in edges],
            next_page_token=token,
        )

    def GetPublicKeys(self, request: pb.GetPublicKeysRequest, context: grpc.ServicerContext) -> pb.GetPublicKeysResponse:  # noqa: E501
        return pb.GetPublicKeysResponse(jwks_json=json.dumps(self._keyring.jwks(), sort_keys=True))

    def ListRevocations(
        self, request: pb.ListRevocationsRequest, context: grpc.ServicerContext
    ) -> pb.ListRevocationsResponse:
        if request.since_cursor < 0:
            raise FieldInvalid("since_cursor", "must not be negative")
        entries = self._consent.list_revocations(request.since_cursor, self._size(request.page_size))
        return pb.ListRevocationsResponse(
            revocations=[
                pb.Revocation(cursor=e.cursor, grant=e.grant, owner_id=e.owner_id, revoke_time=timestamp(e.revoke_time))
                for e in entries
            ],
            next_cursor=entries[-1].cursor if entries else request.since_cursor,
        )

import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Audience(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIENCE_UNSPECIFIED: _ClassVar[Audience]
    AUDIENCE_NOBODY: _ClassVar[Audience]
    AUDIENCE_FRIENDS: _ClassVar[Audience]
    AUDIENCE_APPROVED: _ClassVar[Audience]
    AUDIENCE_PUBLIC: _ClassVar[Audience]

class ContentCategory(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTENT_CATEGORY_UNSPECIFIED: _ClassVar[ContentCategory]
    CONTENT_CATEGORY_POLITICAL: _ClassVar[ContentCategory]
    CONTENT_CATEGORY_SEXUAL: _ClassVar[ContentCategory]
    CONTENT_CATEGORY_VIOLENT: _ClassVar[ContentCategory]
    CONTENT_CATEGORY_COMMERCIAL: _ClassVar[ContentCategory]
    CONTENT_CATEGORY_RELIGIOUS: _ClassVar[ContentCategory]
    CONTENT_CATEGORY_MEDICAL: _ClassVar[ContentCategory]

class GrantState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANT_STATE_UNSPECIFIED: _ClassVar[GrantState]
    GRANT_STATE_ACTIVE: _ClassVar[GrantState]
    GRANT_STATE_REVOKED: _ClassVar[GrantState]
    GRANT_STATE_EXPIRED: _ClassVar[GrantState]

class PermissionDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PERMISSION_DECISION_UNSPECIFIED: _ClassVar[PermissionDecision]
    PERMISSION_DECISION_ALLOW: _ClassVar[PermissionDecision]
    PERMISSION_DECISION_DENY: _ClassVar[PermissionDecision]

class DenyReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DENY_REASON_UNSPECIFIED: _ClassVar[DenyReason]
    DENY_REASON_BLOCKED: _ClassVar[DenyReason]
    DENY_REASON_AUDIENCE_NOBODY: _ClassVar[DenyReason]
    DENY_REASON_NOT_FRIENDS: _ClassVar[DenyReason]
    DENY_REASON_NOT_APPROVED: _ClassVar[DenyReason]
    DENY_REASON_PUBLIC_FIGURE_NEEDS_APPROVAL: _ClassVar[DenyReason]
    DENY_REASON_CATEGORY_REFUSED: _ClassVar[DenyReason]
AUDIENCE_UNSPECIFIED: Audience
AUDIENCE_NOBODY: Audience
AUDIENCE_FRIENDS: Audience
AUDIENCE_APPROVED: Audience
AUDIENCE_PUBLIC: Audience
CONTENT_CATEGORY_UNSPECIFIED: ContentCategory
CONTENT_CATEGORY_POLITICAL: ContentCategory
CONTENT_CATEGORY_SEXUAL: ContentCategory
CONTENT_CATEGORY_VIOLENT: ContentCategory
CONTENT_CATEGORY_COMMERCIAL: ContentCategory
CONTENT_CATEGORY_RELIGIOUS: ContentCategory
CONTENT_CATEGORY_MEDICAL: ContentCategory
GRANT_STATE_UNSPECIFIED: GrantState
GRANT_STATE_ACTIVE: GrantState
GRANT_STATE_REVOKED: GrantState
GRANT_STATE_EXPIRED: GrantState
PERMISSION_DECISION_UNSPECIFIED: PermissionDecision
PERMISSION_DECISION_ALLOW: PermissionDecision
PERMISSION_DECISION_DENY: PermissionDecision
DENY_REASON_UNSPECIFIED: DenyReason
DENY_REASON_BLOCKED: DenyReason
DENY_REASON_AUDIENCE_NOBODY: DenyReason
DENY_REASON_NOT_FRIENDS: DenyReason
DENY_REASON_NOT_APPROVED: DenyReason
DENY_REASON_PUBLIC_FIGURE_NEEDS_APPROVAL: DenyReason
DENY_REASON_CATEGORY_REFUSED: DenyReason

class CameoPolicy(_message.Message):
    __slots__ = ("owner_id", "audience", "blocked_ids", "refused_categories", "instructions", "public_figure", "update_time", "etag")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_IDS_FIELD_NUMBER: _ClassVar[int]
    REFUSED_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_FIGURE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    audience: Audience
    blocked_ids: _containers.RepeatedScalarFieldContainer[str]
    refused_categories: _containers.RepeatedScalarFieldContainer[ContentCategory]
    instructions: str
    public_figure: bool
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, owner_id: _Optional[str] = ..., audience: _Optional[_Union[Audience, str]] = ..., blocked_ids: _Optional[_Iterable[str]] = ..., refused_categories: _Optional[_Iterable[_Union[ContentCategory, str]]] = ..., instructions: _Optional[str] = ..., public_figure: _Optional[bool] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class GetCameoPolicyRequest(_message.Message):
    __slots__ = ("owner_id",)
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    def __init__(self, owner_id: _Optional[str] = ...) -> None: ...

class GetCameoPolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: CameoPolicy
    def __init__(self, policy: _Optional[_Union[CameoPolicy, _Mapping]] = ...) -> None: ...

class UpdateCameoPolicyRequest(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: CameoPolicy
    def __init__(self, policy: _Optional[_Union[CameoPolicy, _Mapping]] = ...) -> None: ...

class UpdateCameoPolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: CameoPolicy
    def __init__(self, policy: _Optional[_Union[CameoPolicy, _Mapping]] = ...) -> None: ...

class Grant(_message.Message):
    __slots__ = ("name", "owner_id", "grantee_id", "audience", "start_time", "end_time", "state", "create_time", "revoke_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_ID_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    owner_id: str
    grantee_id: str
    audience: Audience
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    state: GrantState
    create_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., owner_id: _Optional[str] = ..., grantee_id: _Optional[str] = ..., audience: _Optional[_Union[Audience, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[GrantState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateGrantRequest(_message.Message):
    __slots__ = ("parent", "grant")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    grant: Grant
    def __init__(self, parent: _Optional[str] = ..., grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class CreateGrantResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class GetGrantRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetGrantResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class ListGrantsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "state")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    state: GrantState
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[GrantState, str]] = ...) -> None: ...

class ListGrantsResponse(_message.Message):
    __slots__ = ("grants", "next_page_token")
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[Grant]
    next_page_token: str
    def __init__(self, grants: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RevokeGrantRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RevokeGrantResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class CheckCameoPermissionRequest(_message.Message):
    __slots__ = ("owner_id", "requester_id", "purpose", "content_categories")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    requester_id: str
    purpose: str
    content_categories: _containers.RepeatedScalarFieldContainer[ContentCategory]
    def __init__(self, owner_id: _Optional[str] = ..., requester_id: _Optional[str] = ..., purpose: _Optional[str] = ..., content_categories: _Optional[_Iterable[_Union[ContentCategory, str]]] = ...) -> None: ...

class CheckCameoPermissionResponse(_message.Message):
    __slots__ = ("decision", "deny_reason", "use_token", "token_id", "expire_time", "grant", "refused_categories", "instructions")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    DENY_REASON_FIELD_NUMBER: _ClassVar[int]
    USE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    REFUSED_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    decision: PermissionDecision
    deny_reason: DenyReason
    use_token: str
    token_id: str
    expire_time: _timestamp_pb2.Timestamp
    grant: str
    refused_categories: _containers.RepeatedScalarFieldContainer[ContentCategory]
    instructions: str
    def __init__(self, decision: _Optional[_Union[PermissionDecision, str]] = ..., deny_reason: _Optional[_Union[DenyReason, str]] = ..., use_token: _Optional[str] = ..., token_id: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., grant: _Optional[str] = ..., refused_categories: _Optional[_Iterable[_Union[ContentCategory, str]]] = ..., instructions: _Optional[str] = ...) -> None: ...

class RelationshipChange(_message.Message):
    __slots__ = ("operation", "from_id", "to_id", "version")
    class Operation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OPERATION_UNSPECIFIED: _ClassVar[RelationshipChange.Operation]
        OPERATION_UPSERT: _ClassVar[RelationshipChange.Operation]
        OPERATION_DELETE: _ClassVar[RelationshipChange.Operation]
    OPERATION_UNSPECIFIED: RelationshipChange.Operation
    OPERATION_UPSERT: RelationshipChange.Operation
    OPERATION_DELETE: RelationshipChange.Operation
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    FROM_ID_FIELD_NUMBER: _ClassVar[int]
    TO_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    operation: RelationshipChange.Operation
    from_id: str
    to_id: str
    version: int
    def __init__(self, operation: _Optional[_Union[RelationshipChange.Operation, str]] = ..., from_id: _Optional[str] = ..., to_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class SyncRelationshipsRequest(_message.Message):
    __slots__ = ("changes",)
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[RelationshipChange]
    def __init__(self, changes: _Optional[_Iterable[_Union[RelationshipChange, _Mapping]]] = ...) -> None: ...

class SyncRelationshipsResponse(_message.Message):
    __slots__ = ("applied", "stale")
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    applied: int
    stale: int
    def __init__(self, applied: _Optional[int] = ..., stale: _Optional[int] = ...) -> None: ...

class Relationship(_message.Message):
    __slots__ = ("from_id", "to_id", "version")
    FROM_ID_FIELD_NUMBER: _ClassVar[int]
    TO_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    from_id: str
    to_id: str
    version: int
    def __init__(self, from_id: _Optional[str] = ..., to_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ListRelationshipsRequest(_message.Message):
    __slots__ = ("subject_id", "page_size", "page_token")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    page_size: int
    page_token: str
    def __init__(self, subject_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRelationshipsResponse(_message.Message):
    __slots__ = ("relationships", "next_page_token")
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    relationships: _containers.RepeatedCompositeFieldContainer[Relationship]
    next_page_token: str
    def __init__(self, relationships: _Optional[_Iterable[_Union[Relationship, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPublicKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPublicKeysResponse(_message.Message):
    __slots__ = ("jwks_json",)
    JWKS_JSON_FIELD_NUMBER: _ClassVar[int]
    jwks_json: str
    def __init__(self, jwks_json: _Optional[str] = ...) -> None: ...

class Revocation(_message.Message):
    __slots__ = ("cursor", "grant", "owner_id", "revoke_time")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    cursor: int
    grant: str
    owner_id: str
    revoke_time: _timestamp_pb2.Timestamp
    def __init__(self, cursor: _Optional[int] = ..., grant: _Optional[str] = ..., owner_id: _Optional[str] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListRevocationsRequest(_message.Message):
    __slots__ = ("since_cursor", "page_size")
    SINCE_CURSOR_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    since_cursor: int
    page_size: int
    def __init__(self, since_cursor: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListRevocationsResponse(_message.Message):
    __slots__ = ("revocations", "next_cursor")
    REVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    revocations: _containers.RepeatedCompositeFieldContainer[Revocation]
    next_cursor: int
    def __init__(self, revocations: _Optional[_Iterable[_Union[Revocation, _Mapping]]] = ..., next_cursor: _Optional[int] = ...) -> None: ...

import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HeadTurn(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEAD_TURN_UNSPECIFIED: _ClassVar[HeadTurn]
    HEAD_TURN_LEFT: _ClassVar[HeadTurn]
    HEAD_TURN_RIGHT: _ClassVar[HeadTurn]
    HEAD_TURN_UP: _ClassVar[HeadTurn]

class EnrollmentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENROLLMENT_STATE_UNSPECIFIED: _ClassVar[EnrollmentState]
    ENROLLMENT_STATE_PENDING: _ClassVar[EnrollmentState]
    ENROLLMENT_STATE_ACTIVE: _ClassVar[EnrollmentState]
    ENROLLMENT_STATE_FAILED: _ClassVar[EnrollmentState]
    ENROLLMENT_STATE_EXPIRED: _ClassVar[EnrollmentState]
    ENROLLMENT_STATE_STALE: _ClassVar[EnrollmentState]

class MediaContainer(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEDIA_CONTAINER_UNSPECIFIED: _ClassVar[MediaContainer]
    MEDIA_CONTAINER_MP4: _ClassVar[MediaContainer]
    MEDIA_CONTAINER_WEBM: _ClassVar[MediaContainer]
    MEDIA_CONTAINER_MOV: _ClassVar[MediaContainer]
    MEDIA_CONTAINER_WAV: _ClassVar[MediaContainer]
    MEDIA_CONTAINER_FLAC: _ClassVar[MediaContainer]
    MEDIA_CONTAINER_JPEG: _ClassVar[MediaContainer]
    MEDIA_CONTAINER_PNG: _ClassVar[MediaContainer]

class LivenessCheckKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIVENESS_CHECK_KIND_UNSPECIFIED: _ClassVar[LivenessCheckKind]
    LIVENESS_CHECK_KIND_SINGLE_FACE: _ClassVar[LivenessCheckKind]
    LIVENESS_CHECK_KIND_ONE_IDENTITY: _ClassVar[LivenessCheckKind]
    LIVENESS_CHECK_KIND_HEAD_TURNS: _ClassVar[LivenessCheckKind]
    LIVENESS_CHECK_KIND_SPOKEN_DIGITS: _ClassVar[LivenessCheckKind]
    LIVENESS_CHECK_KIND_ONE_VOICE: _ClassVar[LivenessCheckKind]
    LIVENESS_CHECK_KIND_LIP_SYNC: _ClassVar[LivenessCheckKind]
    LIVENESS_CHECK_KIND_PRESENTATION_ATTACK: _ClassVar[LivenessCheckKind]
    LIVENESS_CHECK_KIND_SESSION_FRESH: _ClassVar[LivenessCheckKind]

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_MATCH: _ClassVar[Decision]
    DECISION_NO_MATCH: _ClassVar[Decision]
    DECISION_INCONCLUSIVE: _ClassVar[Decision]
HEAD_TURN_UNSPECIFIED: HeadTurn
HEAD_TURN_LEFT: HeadTurn
HEAD_TURN_RIGHT: HeadTurn
HEAD_TURN_UP: HeadTurn
ENROLLMENT_STATE_UNSPECIFIED: EnrollmentState
ENROLLMENT_STATE_PENDING: EnrollmentState
ENROLLMENT_STATE_ACTIVE: EnrollmentState
ENROLLMENT_STATE_FAILED: EnrollmentState
ENROLLMENT_STATE_EXPIRED: EnrollmentState
ENROLLMENT_STATE_STALE: EnrollmentState
MEDIA_CONTAINER_UNSPECIFIED: MediaContainer
MEDIA_CONTAINER_MP4: MediaContainer
MEDIA_CONTAINER_WEBM: MediaContainer
MEDIA_CONTAINER_MOV: MediaContainer
MEDIA_CONTAINER_WAV: MediaContainer
MEDIA_CONTAINER_FLAC: MediaContainer
MEDIA_CONTAINER_JPEG: MediaContainer
MEDIA_CONTAINER_PNG: MediaContainer
LIVENESS_CHECK_KIND_UNSPECIFIED: LivenessCheckKind
LIVENESS_CHECK_KIND_SINGLE_FACE: LivenessCheckKind
LIVENESS_CHECK_KIND_ONE_IDENTITY: LivenessCheckKind
LIVENESS_CHECK_KIND_HEAD_TURNS: LivenessCheckKind
LIVENESS_CHECK_KIND_SPOKEN_DIGITS: LivenessCheckKind
LIVENESS_CHECK_KIND_ONE_VOICE: LivenessCheckKind
LIVENESS_CHECK_KIND_LIP_SYNC: LivenessCheckKind
LIVENESS_CHECK_KIND_PRESENTATION_ATTACK: LivenessCheckKind
LIVENESS_CHECK_KIND_SESSION_FRESH: LivenessCheckKind
DECISION_UNSPECIFIED: Decision
DECISION_MATCH: Decision
DECISION_NO_MATCH: Decision
DECISION_INCONCLUSIVE: Decision

class Challenge(_message.Message):
    __slots__ = ("digits", "head_turns")
    DIGITS_FIELD_NUMBER: _ClassVar[int]
    HEAD_TURNS_FIELD_NUMBER: _ClassVar[int]
    digits: str
    head_turns: _containers.RepeatedScalarFieldContainer[HeadTurn]
    def __init__(self, digits: _Optional[str] = ..., head_turns: _Optional[_Iterable[_Union[HeadTurn, str]]] = ...) -> None: ...

class StartEnrollmentRequest(_message.Message):
    __slots__ = ("subject_id", "reenroll")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    REENROLL_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    reenroll: bool
    def __init__(self, subject_id: _Optional[str] = ..., reenroll: _Optional[bool] = ...) -> None: ...

class StartEnrollmentResponse(_message.Message):
    __slots__ = ("session_id", "nonce", "challenge", "expire_time")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    nonce: bytes
    challenge: Challenge
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, session_id: _Optional[str] = ..., nonce: _Optional[bytes] = ..., challenge: _Optional[_Union[Challenge, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EnrollHeader(_message.Message):
    __slots__ = ("session_id", "container", "audio_container", "size_bytes", "sha256", "audio_size_bytes", "audio_sha256")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTAINER_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    AUDIO_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    AUDIO_SHA256_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    container: MediaContainer
    audio_container: MediaContainer
    size_bytes: int
    sha256: bytes
    audio_size_bytes: int
    audio_sha256: bytes
    def __init__(self, session_id: _Optional[str] = ..., container: _Optional[_Union[MediaContainer, str]] = ..., audio_container: _Optional[_Union[MediaContainer, str]] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[bytes] = ..., audio_size_bytes: _Optional[int] = ..., audio_sha256: _Optional[bytes] = ...) -> None: ...

class EnrollRequest(_message.Message):
    __slots__ = ("header", "chunk", "audio_chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: EnrollHeader
    chunk: bytes
    audio_chunk: bytes
    def __init__(self, header: _Optional[_Union[EnrollHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ..., audio_chunk: _Optional[bytes] = ...) -> None: ...

class LivenessCheck(_message.Message):
    __slots__ = ("kind", "score", "threshold", "passed", "required", "reason")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    kind: LivenessCheckKind
    score: float
    threshold: float
    passed: bool
    required: bool
    reason: str
    def __init__(self, kind: _Optional[_Union[LivenessCheckKind, str]] = ..., score: _Optional[float] = ..., threshold: _Optional[float] = ..., passed: _Optional[bool] = ..., required: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("subject_id", "state", "checks")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    state: EnrollmentState
    checks: _containers.RepeatedCompositeFieldContainer[LivenessCheck]
    def __init__(self, subject_id: _Optional[str] = ..., state: _Optional[_Union[EnrollmentState, str]] = ..., checks: _Optional[_Iterable[_Union[LivenessCheck, _Mapping]]] = ...) -> None: ...

class Enrollment(_message.Message):
    __slots__ = ("subject_id", "state", "create_time", "update_time", "template_models", "session_expire_time")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_MODELS_FIELD_NUMBER: _ClassVar[int]
    SESSION_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    state: EnrollmentState
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    template_models: _containers.RepeatedScalarFieldContainer[str]
    session_expire_time: _timestamp_pb2.Timestamp
    def __init__(self, subject_id: _Optional[str] = ..., state: _Optional[_Union[EnrollmentState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., template_models: _Optional[_Iterable[str]] = ..., session_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetEnrollmentRequest(_message.Message):
    __slots__ = ("subject_id",)
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    def __init__(self, subject_id: _Optional[str] = ...) -> None: ...

class GetEnrollmentResponse(_message.Message):
    __slots__ = ("enrollment",)
    ENROLLMENT_FIELD_NUMBER: _ClassVar[int]
    enrollment: Enrollment
    def __init__(self, enrollment: _Optional[_Union[Enrollment, _Mapping]] = ...) -> None: ...

class ListEnrollmentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: EnrollmentState
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[EnrollmentState, str]] = ...) -> None: ...

class ListEnrollmentsResponse(_message.Message):
    __slots__ = ("enrollments", "next_page_token")
    ENROLLMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    enrollments: _containers.RepeatedCompositeFieldContainer[Enrollment]
    next_page_token: str
    def __init__(self, enrollments: _Optional[_Iterable[_Union[Enrollment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Media(_message.Message):
    __slots__ = ("container", "content")
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    container: MediaContainer
    content: bytes
    def __init__(self, container: _Optional[_Union[MediaContainer, str]] = ..., content: _Optional[bytes] = ...) -> None: ...

class VerifyLikenessRequest(_message.Message):
    __slots__ = ("subject_id", "probe")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    probe: Media
    def __init__(self, subject_id: _Optional[str] = ..., probe: _Optional[_Union[Media, _Mapping]] = ...) -> None: ...

class ModalityScore(_message.Message):
    __slots__ = ("modality", "score", "threshold", "matched")
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    modality: str
    score: float
    threshold: float
    matched: bool
    def __init__(self, modality: _Optional[str] = ..., score: _Optional[float] = ..., threshold: _Optional[float] = ..., matched: _Optional[bool] = ...) -> None: ...

class VerifyLikenessResponse(_message.Message):
    __slots__ = ("decision", "scores")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    scores: _containers.RepeatedCompositeFieldContainer[ModalityScore]
    def __init__(self, decision: _Optional[_Union[Decision, str]] = ..., scores: _Optional[_Iterable[_Union[ModalityScore, _Mapping]]] = ...) -> None: ...

class SearchLikenessRequest(_message.Message):
    __slots__ = ("media", "top_k")
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    media: Media
    top_k: int
    def __init__(self, media: _Optional[_Union[Media, _Mapping]] = ..., top_k: _Optional[int] = ...) -> None: ...

class BoundingBox(_message.Message):
    __slots__ = ("x", "y", "width", "height")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    width: float
    height: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., width: _Optional[float] = ..., height: _Optional[float] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("subject_id", "score", "matched")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    score: float
    matched: bool
    def __init__(self, subject_id: _Optional[str] = ..., score: _Optional[float] = ..., matched: _Optional[bool] = ...) -> None: ...

class FaceMatches(_message.Message):
    __slots__ = ("face_index", "box", "candidates")
    FACE_INDEX_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    face_index: int
    box: BoundingBox
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    def __init__(self, face_index: _Optional[int] = ..., box: _Optional[_Union[BoundingBox, _Mapping]] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ...) -> None: ...

class VoiceMatches(_message.Message):
    __slots__ = ("candidates",)
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    def __init__(self, candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ...) -> None: ...

class SearchLikenessResponse(_message.Message):
    __slots__ = ("faces", "voice")
    FACES_FIELD_NUMBER: _ClassVar[int]
    VOICE_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[FaceMatches]
    voice: VoiceMatches
    def __init__(self, faces: _Optional[_Iterable[_Union[FaceMatches, _Mapping]]] = ..., voice: _Optional[_Union[VoiceMatches, _Mapping]] = ...) -> None: ...

class DeleteSubjectRequest(_message.Message):
    __slots__ = ("subject_id",)
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    def __init__(self, subject_id: _Optional[str] = ...) -> None: ...

class DeleteSubjectResponse(_message.Message):
    __slots__ = ("subject_id", "templates_destroyed")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_DESTROYED_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    templates_destroyed: int
    def __init__(self, subject_id: _Optional[str] = ..., templates_destroyed: _Optional[int] = ...) -> None: ...

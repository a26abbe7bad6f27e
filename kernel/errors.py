"""Domain errors: what went wrong, in terms a caller can act on. No gRPC here.

Each error has a kind (mapped to a status code by the transport, in one place) and a stable
reason, the name of a value of ``likeness.common.v1.ErrorReason``. Domain packages raise these;
the transport turns them into ``google.rpc.Status`` with ``ErrorInfo``.
"""

from __future__ import annotations

from enum import Enum
from typing import ClassVar


class ErrorKind(Enum):
    """Broad class of failure; the transport maps each to one status code."""

    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    FAILED_PRECONDITION = "failed_precondition"
    ABORTED = "aborted"
    PERMISSION_DENIED = "permission_denied"
    UNAUTHENTICATED = "unauthenticated"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    UNIMPLEMENTED = "unimplemented"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class DomainError(Exception):
    """Base class: a message safe to show callers, a stable reason and string metadata."""

    kind: ClassVar[ErrorKind] = ErrorKind.INTERNAL
    reason: ClassVar[str] = "ERROR_REASON_INTERNAL"

    def __init__(self, message: str, **metadata: object) -> None:
        super().__init__(message)
        self.message = message
        self.metadata: dict[str, str] = {k: str(v) for k, v in metadata.items()}
        # True once the code that raised it wrote the refusal's audit event, so the transport,
        # which audits every other refusal, does not write a second one.
        self.audited = False

    def mark_audited(self) -> DomainError:
        self.audited = True
        return self


class FieldMissing(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_FIELD_MISSING"

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is required", field=field)


class FieldInvalid(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_FIELD_INVALID"

    def __init__(self, field: str, constraint: str) -> None:
        super().__init__(f"{field} is invalid: {constraint}", field=field, constraint=constraint)


class PageTokenInvalid(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_PAGE_TOKEN_INVALID"

    def __init__(self) -> None:
        super().__init__("page_token is not one this List returned for the same filters")


class MessageTooLarge(DomainError):
    kind = ErrorKind.RESOURCE_EXHAUSTED
    reason = "ERROR_REASON_MESSAGE_TOO_LARGE"

    def __init__(self, limit_bytes: int, what: str = "the request") -> None:
        super().__init__(f"{what} is larger than {limit_bytes} bytes; send less", limit_bytes=limit_bytes)


class UploadIncomplete(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_UPLOAD_INCOMPLETE"

    def __init__(self, detail: str) -> None:
        super().__init__(f"the upload is not what its header declared ({detail}); send the whole recording again "
                         "in a new session", detail=detail)


class UploadStalled(DomainError):
    kind = ErrorKind.ABORTED
    reason = "ERROR_REASON_UPLOAD_STALLED"

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__(f"no part of the upload arrived for {timeout_seconds:g} s; the session is spent, start a "
                         "new one", timeout_seconds=f"{timeout_seconds:g}")


class ServerBusy(DomainError):
    kind = ErrorKind.RESOURCE_EXHAUSTED
    reason = "ERROR_REASON_SERVER_BUSY"

    def __init__(self, what: str, limit: int, retry_after_seconds: int) -> None:
        super().__init__(f"{limit} {what} are in progress on this server, its most; retry in "
                         f"{retry_after_seconds} s", limit=limit, retry_after_seconds=retry_after_seconds)


class CallerUnauthenticated(DomainError):
    kind = ErrorKind.UNAUTHENTICATED
    reason = "ERROR_REASON_CALLER_UNAUTHENTICATED"


class CallerRoleDenied(DomainError):
    kind = ErrorKind.PERMISSION_DENIED
    reason = "ERROR_REASON_CALLER_ROLE_DENIED"


class SubjectNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    reason = "ERROR_REASON_SUBJECT_NOT_FOUND"

    def __init__(self, subject_id: str) -> None:
        super().__init__(f"subject {subject_id!r} is not known", subject_id=subject_id)


class EnrollmentNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    reason = "ERROR_REASON_ENROLLMENT_NOT_FOUND"

    def __init__(self, subject_id: str) -> None:
        super().__init__(f"subject {subject_id!r} has no enrollment", subject_id=subject_id)


class EnrollmentAlreadyActive(DomainError):
    kind = ErrorKind.FAILED_PRECONDITION
    reason = "ERROR_REASON_ENROLLMENT_ALREADY_ACTIVE"

    def __init__(self, subject_id: str) -> None:
        super().__init__(
            f"subject {subject_id!r} is already enrolled; set reenroll to replace the enrollment",
            subject_id=subject_id,
        )


class EnrollmentSessionNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    reason = "ERROR_REASON_ENROLLMENT_SESSION_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("no such enrollment session; call StartEnrollment")


class EnrollmentSessionExpired(DomainError):
    kind = ErrorKind.FAILED_PRECONDITION
    reason = "ERROR_REASON_ENROLLMENT_SESSION_EXPIRED"

    def __init__(self) -> None:
        super().__init__("the enrollment session expired; call StartEnrollment again")


class EnrollmentSessionUsed(DomainError):
    kind = ErrorKind.FAILED_PRECONDITION
    reason = "ERROR_REASON_ENROLLMENT_SESSION_USED"

    def __init__(self) -> None:
        super().__init__("the enrollment session was already used; call StartEnrollment again")


class EnrollmentNotActive(DomainError):
    kind = ErrorKind.FAILED_PRECONDITION
    reason = "ERROR_REASON_ENROLLMENT_NOT_ACTIVE"

    def __init__(self, subject_id: str, state: str) -> None:
        hint = "; re-enroll" if state in ("stale", "without usable templates") else ""
        super().__init__(f"subject {subject_id!r} has no active enrollment ({state}){hint}",
                         subject_id=subject_id, state=state)


class TemplateKeyUnavailable(DomainError):
    """The templates are intact, but the key encryption key that wraps their data key is not
    loaded here (an operator rotated keys elsewhere, or a replica lacks a key): the person did
    nothing wrong and must not be told to re-enroll."""

    kind = ErrorKind.UNAVAILABLE
    reason = "ERROR_REASON_TEMPLATE_KEY_UNAVAILABLE"

    def __init__(self, kek_id: str) -> None:
        super().__init__(f"the key that protects these templates ({kek_id}) is not loaded on this server; "
                         "retry later (operators: give every replica the same template keys)", kek_id=kek_id)


class TemplatesUnreadable(DomainError):
    kind = ErrorKind.FAILED_PRECONDITION
    reason = "ERROR_REASON_TEMPLATES_UNREADABLE"

    def __init__(self, subject_id: str) -> None:
        super().__init__(f"the stored templates of {subject_id!r} failed authentication (altered, moved or "
                         "their key is gone); the subject must re-enroll", subject_id=subject_id)


class LikenessTaken(DomainError):
    kind = ErrorKind.ALREADY_EXISTS
    reason = "ERROR_REASON_LIKENESS_TAKEN"

    def __init__(self) -> None:
        # Which subject holds the face is for operators (it is audited), never for the caller.
        super().__init__("this face is already enrolled under another subject: one person, one cameo")


class RecordingTooLarge(DomainError):
    kind = ErrorKind.RESOURCE_EXHAUSTED
    reason = "ERROR_REASON_RECORDING_TOO_LARGE"

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"the recording is larger than {limit_bytes} bytes; record at most 30 s at 1080p or less",
                         limit_bytes=limit_bytes)


class RecordingDurationOutOfRange(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_RECORDING_DURATION_OUT_OF_RANGE"

    def __init__(self, seconds: float, minimum: float, maximum: float) -> None:
        super().__init__(f"the recording lasts {seconds:.1f} s; it must last {minimum:g}-{maximum:g} s",
                         seconds=f"{seconds:.2f}", min_seconds=f"{minimum:g}", max_seconds=f"{maximum:g}")


class RecordingFrameTooLarge(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_RECORDING_FRAME_TOO_LARGE"

    def __init__(self, width: int, height: int, max_pixels: int) -> None:
        super().__init__(f"frames of {width}x{height} are larger than allowed ({max_pixels} pixels); record at "
                         "1080p or less", width=width, height=height, max_pixels=max_pixels)


class EnrollmentAttemptsExhausted(DomainError):
    kind = ErrorKind.RESOURCE_EXHAUSTED
    reason = "ERROR_REASON_ENROLLMENT_ATTEMPTS_EXHAUSTED"

    def __init__(self, subject_id: str, max_attempts: int, window_seconds: int, retry_after_seconds: int) -> None:
        super().__init__(
            f"subject {subject_id!r} started {max_attempts} enrollments within {window_seconds} s, the most allowed; "
            f"retry after {retry_after_seconds} s",
            subject_id=subject_id, max_attempts=max_attempts, window_seconds=window_seconds,
            retry_after_seconds=retry_after_seconds,
        )


class RecordingReplayed(DomainError):
    kind = ErrorKind.ALREADY_EXISTS
    reason = "ERROR_REASON_RECORDING_REPLAYED"

    def __init__(self) -> None:
        super().__init__("this exact recording was uploaded before; record a new one for a new session")


class GrantNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    reason = "ERROR_REASON_GRANT_NOT_FOUND"

    def __init__(self, name: str) -> None:
        super().__init__(f"grant {name!r} does not exist", grant=name)


class GrantNotActive(DomainError):
    kind = ErrorKind.FAILED_PRECONDITION
    reason = "ERROR_REASON_GRANT_NOT_ACTIVE"

    def __init__(self, name: str, state: str) -> None:
        super().__init__(f"grant {name!r} is {state}, not active", grant=name, state=state)


class PolicyConflict(DomainError):
    kind = ErrorKind.ABORTED
    reason = "ERROR_REASON_POLICY_CONFLICT"

    def __init__(self, owner_id: str) -> None:
        super().__init__(
            "the policy changed since it was read (etag mismatch); read it again and retry",
            owner_id=owner_id,
        )


class MediaCorrupt(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_MEDIA_CORRUPT"

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(f"the {what} could not be decoded (truncated or corrupt): {detail}", detail=detail)


class MediaUnsupported(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_MEDIA_UNSUPPORTED"

    def __init__(self, what: str, codec: str) -> None:
        super().__init__(
            f"the {what} uses codec {codec}, which is not supported; send JPEG/PNG images, MP4/WebM/MOV video, "
            "or WAV/FLAC/MP3/Opus/AAC audio", codec=codec)


class ContainerMismatch(MediaUnsupported):
    """The bytes are another container than the one declared (same reason as an unsupported one)."""

    def __init__(self, declared: str, actual: str) -> None:
        DomainError.__init__(self, f"the media was declared {declared} but its bytes are {actual}; declare the "
                             "container it is, or convert it", declared=declared, actual=actual)


class NoFace(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_NO_FACE"

    def __init__(self) -> None:
        super().__init__("no face was found; face the camera in good light")


class MultipleFaces(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_MULTIPLE_FACES"

    def __init__(self, faces: int) -> None:
        super().__init__(f"{faces} faces were found where exactly one is needed", faces=faces)


class FaceTooSmall(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_FACE_TOO_SMALL"

    def __init__(self, size_px: int, min_px: int) -> None:
        super().__init__(f"the face is {size_px} px wide, at least {min_px} px are needed; come closer",
                         size_px=size_px, min_px=min_px)


class FaceBlurred(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_FACE_BLURRED"

    def __init__(self, sharpness: float, minimum: float) -> None:
        super().__init__("the face is too blurred; hold still and focus", sharpness=f"{sharpness:.1f}",
                         min_sharpness=f"{minimum:.1f}")


class FaceBadlyLit(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_FACE_BADLY_LIT"

    def __init__(self, brightness: float, low: float, high: float) -> None:
        super().__init__("the face is too dark or too bright; find even light", brightness=f"{brightness:.0f}",
                         range=f"{low:.0f}-{high:.0f}")


class NoAudioTrack(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_NO_AUDIO_TRACK"

    def __init__(self) -> None:
        super().__init__("the recording has no audio track")


class NoVideoTrack(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_NO_VIDEO_TRACK"

    def __init__(self) -> None:
        super().__init__("the recording has no video track")


class NoSpeech(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_NO_SPEECH"

    def __init__(self, speech_seconds: float, min_seconds: float) -> None:
        super().__init__(f"only {speech_seconds:.1f} s of speech were heard, {min_seconds:.1f} s are needed",
                         speech_seconds=f"{speech_seconds:.2f}", min_seconds=f"{min_seconds:.2f}")


class AudioClipped(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_AUDIO_CLIPPED"

    def __init__(self, fraction: float, maximum: float) -> None:
        super().__init__("the audio is clipped (recorded too loud); lower the input gain",
                         clipped_fraction=f"{fraction:.4f}", max_fraction=f"{maximum:.4f}")


class AudioSampleRateTooLow(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_AUDIO_SAMPLE_RATE_TOO_LOW"

    def __init__(self, sample_rate: int, minimum: int) -> None:
        super().__init__(f"the audio is sampled at {sample_rate} Hz; record at {minimum} Hz or more",
                         sample_rate=sample_rate, min_sample_rate=minimum)


class ModelsUnavailable(DomainError):
    kind = ErrorKind.UNAVAILABLE
    reason = "ERROR_REASON_MODELS_UNAVAILABLE"

    def __init__(self, problems: str) -> None:
        super().__init__(f"model files are missing or altered ({problems}); run `identity-service models pull`",
                         problems=problems)


class UserTokenInvalid(DomainError):
    """An end user's access token is missing, malformed, unsigned by a trusted key or out of date."""

    kind = ErrorKind.UNAUTHENTICATED
    reason = "ERROR_REASON_USER_TOKEN_INVALID"

    def __init__(self, problem: str) -> None:
        super().__init__(f"access token rejected: {problem}", problem=problem)


class NotOwner(DomainError):
    """An end user reached for data that belongs to somebody else."""

    kind = ErrorKind.PERMISSION_DENIED
    reason = "ERROR_REASON_NOT_OWNER"

    def __init__(self, subject_id: str) -> None:
        super().__init__(
            "you can only read or change your own data; use your own subject id or 'me'", subject_id=subject_id
        )


class RateLimited(DomainError):
    kind = ErrorKind.RESOURCE_EXHAUSTED
    reason = "ERROR_REASON_RATE_LIMITED"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(
            f"too many requests; retry after {retry_after_seconds} s", retry_after_seconds=retry_after_seconds
        )


class ConfirmationRequired(DomainError):
    """An irreversible action was asked for without the confirmation it needs."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_CONFIRMATION_REQUIRED"

    def __init__(self, field: str, expected: str) -> None:
        super().__init__(f"this cannot be undone: set {field} to {expected} to confirm", field=field)


class AuditEventNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    reason = "ERROR_REASON_AUDIT_EVENT_NOT_FOUND"

    def __init__(self, sequence: int) -> None:
        super().__init__(f"no audit event with sequence {sequence}", sequence=sequence)


class TreeSizeInvalid(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "ERROR_REASON_TREE_SIZE_INVALID"

    def __init__(self, message: str, tree_size: int) -> None:
        super().__init__(message, tree_size=tree_size)


class CheckpointNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    reason = "ERROR_REASON_CHECKPOINT_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("no checkpoint has been signed yet")


class NotImplementedYet(DomainError):
    kind = ErrorKind.UNIMPLEMENTED
    reason = "ERROR_REASON_NOT_IMPLEMENTED"

    def __init__(self, method: str, tracking: str) -> None:
        super().__init__(
            f"{method} is not implemented in this version ({tracking})",
            method=method,
            tracking=tracking,
        )


class StorageUnavailable(DomainError):
    kind = ErrorKind.UNAVAILABLE
    reason = "ERROR_REASON_STORAGE_UNAVAILABLE"

    def __init__(self, retry_after_seconds: int = 1) -> None:
        super().__init__("storage is unavailable; retry with backoff", retry_after_seconds=retry_after_seconds)


class DeadlineExceeded(DomainError):
    kind = ErrorKind.DEADLINE_EXCEEDED
    reason = "ERROR_REASON_DEADLINE_EXCEEDED"

    def __init__(self) -> None:
        super().__init__("the call's deadline passed before the work finished")


def all_error_classes() -> list[type[DomainError]]:
    """Every concrete DomainError subclass, for conformance tests against the proto enum."""
    found: list[type[DomainError]] = []
    stack: list[type[DomainError]] = [DomainError]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found

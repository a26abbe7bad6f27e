"""RFC 9457 problem details: the one mapping from domain errors to HTTP status codes."""

from __future__ import annotations

from http import HTTPStatus

from pydantic import BaseModel, Field

from kernel.errors import DomainError, ErrorKind, MessageTooLarge, PolicyConflict

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://likeness.example.com/problems/"

HTTP_STATUS: dict[ErrorKind, int] = {
    ErrorKind.INVALID_ARGUMENT: 400,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.ALREADY_EXISTS: 409,
    ErrorKind.FAILED_PRECONDITION: 409,
    ErrorKind.ABORTED: 409,
    ErrorKind.PERMISSION_DENIED: 403,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.RESOURCE_EXHAUSTED: 429,
    ErrorKind.DEADLINE_EXCEEDED: 504,
    ErrorKind.UNIMPLEMENTED: 501,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.INTERNAL: 500,
}


class Problem(BaseModel):
    """An error, as RFC 9457 problem details with this service's stable reason."""

    type: str = Field(description="URI naming the kind of problem; one per reason.")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong in this request, and what to do about it.")
    instance: str = Field(default="", description="The request path.")
    reason: str = Field(description="Stable machine-readable reason, a likeness.common.v1.ErrorReason name.")
    metadata: dict[str, str] = Field(default_factory=dict, description="Facts about the problem, by name.")
    request_id: str = Field(default="", description="Quote it to support; the server log has the rest.")


def problem_type(reason: str) -> str:
    slug = reason.removeprefix("ERROR_REASON_").lower().replace("_", "-")
    return PROBLEM_TYPE_BASE + slug


def status_for(error: DomainError) -> int:
    # With If-Match, a lost race on the policy's etag is HTTP's own 412.
    if isinstance(error, PolicyConflict):
        return 412
    if isinstance(error, MessageTooLarge):  # HTTP's own Content Too Large, not a rate limit
        return 413
    return HTTP_STATUS[error.kind]


def from_domain(error: DomainError, *, instance: str, request_id: str) -> Problem:
    status = status_for(error)
    return Problem(
        type=problem_type(error.reason), title=HTTPStatus(status).phrase, status=status, detail=error.message,
        instance=instance, reason=error.reason, metadata=error.metadata, request_id=request_id,
    )


def make(status: int, reason: str, detail: str, *, instance: str, request_id: str,
         metadata: dict[str, str] | None = None) -> Problem:
    return Problem(
        type=problem_type(reason), title=HTTPStatus(status).phrase, status=status, detail=detail,
        instance=instance, reason=reason, metadata=metadata or {}, request_id=request_id,
    )

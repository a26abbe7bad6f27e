"""The one mapping from domain errors to gRPC status with google.rpc.ErrorInfo."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from kernel.errors import DomainError, ErrorKind

ERROR_DOMAIN = "likeness.example.com"

CODES: dict[ErrorKind, grpc.StatusCode] = {
    ErrorKind.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorKind.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.ABORTED: grpc.StatusCode.ABORTED,
    ErrorKind.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorKind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorKind.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorKind.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    ErrorKind.UNIMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorKind.INTERNAL: grpc.StatusCode.INTERNAL,
}


def build_status(
    code: grpc.StatusCode, message: str, reason: str, metadata: dict[str, str]
) -> grpc.Status:
    """A grpc.Status carrying a google.rpc.Status with an ErrorInfo detail, and a RetryInfo
    detail when the error says how long to wait (``retry_after_seconds``), as gRPC clients'
    retry helpers read it."""
    details = [error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata)]
    if metadata.get("retry_after_seconds", "").isdigit():
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromSeconds(int(metadata["retry_after_seconds"]))
        details.append(retry)
    packed = [any_pb2.Any() for _ in details]
    for detail, message_pb in zip(packed, details, strict=True):
        detail.Pack(message_pb)
    status = status_pb2.Status(code=code.value[0], message=message, details=packed)
    return rpc_status.to_status(status)


def domain_status(error: DomainError) -> tuple[grpc.StatusCode, grpc.Status]:
    code = CODES[error.kind]
    return code, build_status(code, error.message, error.reason, error.metadata)


def internal_status(request_id: str) -> grpc.Status:
    """What callers see for an unexpected failure: no cause, only where to look it up."""
    return build_status(
        grpc.StatusCode.INTERNAL,
        f"internal error; quote request_id {request_id} to the operators",
        "ERROR_REASON_INTERNAL",
        {"request_id": request_id},
    )


class _StatusWithMetadata(grpc.Status):
    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: tuple[tuple[str, str | bytes], ...]):
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


def with_trailer(status: grpc.Status, key: str, value: str) -> grpc.Status:
    """``status`` with one more trailing-metadata entry (aborting replaces the call's trailers
    with the status's own, so what every reply carries must ride on the status too)."""
    return _StatusWithMetadata(status.code, status.details, (*tuple(status.trailing_metadata), (key, value)))

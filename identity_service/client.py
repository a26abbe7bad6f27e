"""Helpers for Python callers of the gRPC API."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass(frozen=True, slots=True)
class ErrorDetails:
    """What a failed call said: status code, message and the ErrorInfo reason and metadata."""

    code: grpc.StatusCode
    message: str
    reason: str
    metadata: dict[str, str]


def error_details(error: grpc.RpcError) -> ErrorDetails:
    """Unpack google.rpc.ErrorInfo from a failed call (reason is '' if the server sent none)."""
    code: grpc.StatusCode = error.code()
    message: str = error.details() or ""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                return ErrorDetails(code, message, info.reason, dict(info.metadata))
    return ErrorDetails(code, message, "", {})


def bearer(token: str) -> list[tuple[str, str]]:
    """Call metadata that identifies a caller by its bearer token."""
    return [("authorization", f"Bearer {token}")]

"""Helpers for Python callers of the gRPC API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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


CONTAINERS_BY_SUFFIX = {".mp4": "MEDIA_CONTAINER_MP4", ".m4v": "MEDIA_CONTAINER_MP4", ".webm": "MEDIA_CONTAINER_WEBM",
                        ".mov": "MEDIA_CONTAINER_MOV", ".wav": "MEDIA_CONTAINER_WAV", ".flac": "MEDIA_CONTAINER_FLAC"}


def container_for(path: str) -> int:
    """The MediaContainer value for a file name, by its suffix."""
    from pathlib import Path

    from likeness.identity.v1 import identity_service_pb2 as pb

    name = CONTAINERS_BY_SUFFIX.get(Path(path).suffix.lower())
    if name is None:
        raise ValueError(f"{path}: send .mp4, .webm or .mov video (.wav or .flac for a separate audio track)")
    return int(pb.MediaContainer.Value(name))


def size_and_sha256(path: str) -> tuple[int, bytes]:
    """A file's size and SHA-256, read in pieces: what an EnrollHeader declares."""
    import hashlib
    import os

    with open(path, "rb") as file:
        digest = hashlib.file_digest(file, "sha256").digest()
    return os.path.getsize(path), digest


def enroll_file(
    channel: grpc.Channel, subject_id: str, video_path: str, *, token: str, audio_path: str | None = None,
    reenroll: bool = False, chunk_bytes: int = 1 << 20, timeout: float = 120.0,
) -> tuple[object, object]:
    """Start a session and upload one recording for it; returns (StartEnrollmentResponse,
    EnrollResponse). A real app records after showing the challenge; uploading a file made
    beforehand cannot say the session's digits, so its spoken-digits check fails."""
    from likeness.identity.v1 import identity_service_pb2 as pb
    from likeness.identity.v1 import identity_service_pb2_grpc as rpc

    stub = rpc.IdentityServiceStub(channel)  # type: ignore[no-untyped-call]
    session = stub.StartEnrollment(pb.StartEnrollmentRequest(subject_id=subject_id, reenroll=reenroll),
                                   metadata=bearer(token), timeout=30)

    video_size, video_sha256 = size_and_sha256(video_path)
    audio_size, audio_sha256 = size_and_sha256(audio_path) if audio_path else (0, b"")

    def messages() -> Iterator[Any]:
        # The size and hash let the server tell a whole upload from one cut short.
        yield pb.EnrollRequest(header=pb.EnrollHeader(
            session_id=session.session_id, container=container_for(video_path),  # type: ignore[arg-type]
            audio_container=container_for(audio_path) if audio_path else 0,  # type: ignore[arg-type]
            size_bytes=video_size, sha256=video_sha256, audio_size_bytes=audio_size, audio_sha256=audio_sha256))
        with open(video_path, "rb") as video:
            while chunk := video.read(chunk_bytes):
                yield pb.EnrollRequest(chunk=chunk)
        if audio_path:
            with open(audio_path, "rb") as audio:
                while chunk := audio.read(chunk_bytes):
                    yield pb.EnrollRequest(audio_chunk=chunk)

    result = stub.Enroll(messages(), metadata=bearer(token), timeout=timeout)
    return session, result

"""Guards for client-streamed uploads on the synchronous gRPC server, whose handler threads are
shared by every call: a cap on uploads in progress, below the thread count, so health checks and
permission checks always find a free thread; and a read timeout, so a client that sends a header
and then nothing holds a thread for seconds, not forever. (Sixteen stalled uploads used to freeze a
server with sixteen threads.)"""

from __future__ import annotations

import hashlib
import hmac
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from kernel.errors import ServerBusy, UploadIncomplete, UploadStalled

T = TypeVar("T")

# How long a full hand-over queue waits before the reader looks again whether the call ended.
_HANDOVER_POLL_SECONDS = 0.5


class UploadSlots:
    """At most ``limit`` uploads at once; the next is refused at once (SERVER_BUSY, with a hint of
    when to retry) rather than queued on a thread."""

    def __init__(self, limit: int, retry_after_seconds: int = 5) -> None:
        self.limit = limit
        self._retry_after = retry_after_seconds
        self._free = threading.BoundedSemaphore(limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._free.acquire(blocking=False):
            raise ServerBusy("enrollment uploads", self.limit, self._retry_after)
        try:
            yield
        finally:
            self._free.release()


def within_timeout(messages: Iterator[T], timeout_seconds: float) -> Iterator[T]:
    """The messages of a request stream, each of which must arrive within ``timeout_seconds`` of
    the one before (else UploadStalled). A reader thread waits on the stream, since gRPC's request
    iterator has no timeout of its own; it ends when the call does."""
    handover: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=2)
    done = threading.Event()

    def put(item: tuple[str, object]) -> bool:
        while not done.is_set():
            try:
                handover.put(item, timeout=_HANDOVER_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for message in messages:
                if not put(("message", message)):
                    return
            put(("end", None))
        except BaseException as error:  # handed to the handler thread, which raises it there
            put(("error", error))

    threading.Thread(target=read, name="upload-reader", daemon=True).start()
    try:
        while True:
            try:
                kind, value = handover.get(timeout=timeout_seconds)
            except queue.Empty:
                raise UploadStalled(timeout_seconds) from None
            if kind == "end":
                return
            if kind == "error":
                assert isinstance(value, BaseException)
                raise value
            yield value  # type: ignore[misc]
    finally:
        done.set()


def check_declared(data: bytes | bytearray, size: int, sha256: bytes, what: str) -> None:
    """The bytes that arrived are the ones the client declared (size and SHA-256), else
    UPLOAD_INCOMPLETE: the end of a stream or of a body is no proof that an upload is whole."""
    if len(data) != size:
        raise UploadIncomplete(f"{len(data)} of the {size} bytes of the {what} arrived")
    if size and not hmac.compare_digest(hashlib.sha256(data).digest(), sha256):
        raise UploadIncomplete(f"the {what}'s SHA-256 differs from the one declared")

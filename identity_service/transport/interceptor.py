"""One server interceptor: request id, caller authentication and roles, deadline, error
mapping and a log line per RPC (method, caller, status, duration, request id)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import grpc
import structlog

from identity_service import metrics
from identity_service.transport.auth import (
    PUBLIC_PREFIXES,
    Caller,
    CallerRegistry,
    authorize,
)
from identity_service.transport.status import domain_status, internal_status, with_trailer
from kernel.errors import DeadlineExceeded, DomainError, ErrorKind, FieldInvalid, MessageTooLarge

log = structlog.get_logger("identity_service.rpc")

REQUEST_ID_KEY = "x-request-id"
MAX_REQUEST_ID_LEN = 128


class AuthFailureRecorder(Protocol):
    """Told about every refused caller, so refusals reach the audit log."""

    def __call__(
        self, *, method: str, caller: str, reason: str, request_id: str, peer: str
    ) -> None: ...


class CallContext:
    """Per-call facts handlers may read through ``current_caller``."""

    __slots__ = ("caller", "request_id")

    def __init__(self, caller: Caller | None, request_id: str) -> None:
        self.caller = caller
        self.request_id = request_id


_current: dict[int, CallContext] = {}


def _request_id(metadata: tuple[tuple[str, Any], ...]) -> str:
    for key, value in metadata:
        if key == REQUEST_ID_KEY and isinstance(value, str):
            cleaned = "".join(ch for ch in value if ch.isalnum() or ch in "-_.:")
            if cleaned:
                return cleaned[:MAX_REQUEST_ID_LEN]
    return uuid.uuid4().hex


def _certificate_cns(context: grpc.ServicerContext) -> list[str]:
    auth = context.auth_context() or {}
    return [bytes(v).decode() for v in auth.get("x509_common_name", [])]


class RefusalRecorder(Protocol):
    def __call__(self, *, method: str, caller: str, reason: str, request_id: str, field: str) -> None: ...


# Refusals a security log keeps: what a caller tried and was refused, whatever the reason. Not
# reads (Get, List), and not the server's own trouble (busy, unavailable, past a deadline), whose
# audit writes would add load exactly when there is too much.
_UNAUDITED_KINDS = frozenset({ErrorKind.RESOURCE_EXHAUSTED, ErrorKind.UNAVAILABLE, ErrorKind.DEADLINE_EXCEEDED,
                              ErrorKind.INTERNAL})


def _audits_refusals(method: str, error: DomainError) -> bool:
    name = method.rsplit("/", 1)[-1]
    return not error.audited and error.kind not in _UNAUDITED_KINDS and not name.startswith(("Get", "List"))


class _Unreadable:
    """Stands in for a request message gRPC could not hand over: too large, or not parseable as
    the method's message (truncated, malformed, a string that is not UTF-8). The call then gets
    the error with an ErrorInfo and a request id, after authentication, like any other refusal,
    instead of gRPC's bare INTERNAL or RESOURCE_EXHAUSTED."""

    def __init__(self, error: DomainError) -> None:
        self.error = error


def _tolerant(deserializer: Callable[[bytes], Any] | None, limit: int) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def read(data: bytes) -> Any:
        if len(data) > limit:
            return _Unreadable(MessageTooLarge(limit, "the request message"))
        try:
            return deserializer(data)
        except Exception:  # protobuf's DecodeError, or anything a broken message makes it raise
            return _Unreadable(FieldInvalid("request", "not a valid message of this method: truncated, "
                                                       "malformed, or a string field that is not UTF-8"))

    return read


def _readable(request: Any) -> Any:
    """The request, or its error raised; for a stream, the same for each message as it comes."""
    if isinstance(request, _Unreadable):
        raise request.error
    if isinstance(request, Iterator):
        return (_readable(message) for message in request)
    return request


class ServiceInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Wraps every handler; see module doc. ``max_message_bytes`` is the largest request message
    a handler gets; larger ones (up to the transport's own, higher, limit) are refused with
    MESSAGE_TOO_LARGE."""

    def __init__(
        self, callers: CallerRegistry, on_auth_failure: AuthFailureRecorder | None = None,
        max_message_bytes: int = 4 * 1024 * 1024, on_refusal: RefusalRecorder | None = None,
    ) -> None:
        self._callers = callers
        self._on_auth_failure = on_auth_failure
        self._max_message_bytes = max_message_bytes
        self._on_refusal = on_refusal

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(details)
        if handler is None:
            return None
        method: str = details.method
        public = method.startswith(PUBLIC_PREFIXES)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, public),
                request_deserializer=_tolerant(handler.request_deserializer, self._max_message_bytes),
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(handler.stream_unary, method, public),
                request_deserializer=_tolerant(handler.request_deserializer, self._max_message_bytes),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method, public),
                request_deserializer=_tolerant(handler.request_deserializer, self._max_message_bytes),
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                self._wrap_stream(handler.stream_stream, method, public),
                request_deserializer=_tolerant(handler.request_deserializer, self._max_message_bytes),
                response_serializer=handler.response_serializer,
            )
        return handler

    def _begin(
        self, method: str, public: bool, context: grpc.ServicerContext, request_id: str
    ) -> Caller | None:
        metadata = tuple(context.invocation_metadata() or ())
        structlog.contextvars.bind_contextvars(request_id=request_id)
        # In the trailers, not the headers: sending headers early costs every call an extra
        # round through the completion queue (about a fifth of a health check's cost).
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
        if public:
            return None
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded()
        caller: Caller | None = None
        try:
            caller = self._callers.identify(metadata, _certificate_cns(context))
            authorize(caller, method)
        except DomainError as error:
            if self._on_auth_failure is not None:
                self._on_auth_failure(
                    method=method,
                    caller=caller.name if caller is not None else "",
                    reason=error.reason,
                    request_id=request_id,
                    peer=context.peer(),
                )
                error.mark_audited()
            raise
        structlog.contextvars.bind_contextvars(caller=caller.name)
        return caller

    def _finish(
        self,
        context: grpc.ServicerContext,
        method: str,
        request_id: str,
        caller: Caller | None,
        started: float,
        error: BaseException | None,
    ) -> None:
        """Log the call and, on error, abort with the mapped status (raises)."""
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        fields = {
            "method": method,
            "request_id": request_id,
            "caller": caller.name if caller else "",
            "duration_ms": duration_ms,
        }
        metrics.GRPC_LATENCY.labels(method).observe(duration_ms / 1000)
        try:
            if error is None:
                metrics.GRPC_CALLS.labels(method, "OK").inc()
                log.info("rpc", status="OK", **fields)
                return
            if isinstance(error, DomainError):
                code, status = domain_status(error)
                if caller is not None and self._on_refusal is not None and _audits_refusals(method, error):
                    self._on_refusal(method=method, caller=caller.name, reason=error.reason, request_id=request_id,
                                     field=error.metadata.get("field", ""))
                metrics.GRPC_CALLS.labels(method, code.name).inc()
                log.info("rpc", status=code.name, reason=error.reason, **fields)
                context.abort_with_status(with_trailer(status, REQUEST_ID_KEY, request_id))
            # Unexpected: the cause goes to the log, callers get a safe message.
            metrics.GRPC_CALLS.labels(method, "INTERNAL").inc()
            log.error("rpc", status="INTERNAL", exc_info=error, **fields)
            context.abort_with_status(with_trailer(internal_status(request_id), REQUEST_ID_KEY, request_id))
        finally:
            structlog.contextvars.clear_contextvars()

    @contextmanager
    def _call(self, method: str, public: bool, context: grpc.ServicerContext) -> Iterator[None]:
        """Around one call of any shape: authenticate, expose the call context, log, map errors."""
        started = time.perf_counter()
        request_id = _request_id(tuple(context.invocation_metadata() or ()))
        caller: Caller | None = None
        try:
            caller = self._begin(method, public, context, request_id)
            _current[id(context)] = CallContext(caller, request_id)
            yield
        except Exception as error:
            if _is_abort(error):
                raise
            self._finish(context, method, request_id, caller, started, error)
            raise  # unreachable: _finish aborts
        finally:
            _current.pop(id(context), None)
        self._finish(context, method, request_id, caller, started, None)

    def _wrap_unary(
        self, behavior: Callable[[Any, grpc.ServicerContext], Any], method: str, public: bool
    ) -> Callable[[Any, grpc.ServicerContext], Any]:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            with self._call(method, public, context):
                return behavior(_readable(request), context)

        return handle

    def _wrap_stream(
        self, behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]], method: str,
        public: bool,
    ) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
        def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            with self._call(method, public, context):
                yield from behavior(_readable(request), context)

        return handle


def _is_abort(error: BaseException) -> bool:
    # grpc raises a bare Exception from context.abort*; its type is private.
    return type(error).__name__ == "_AbortError" or (
        type(error) is Exception and not error.args
    )


def current_call(context: grpc.ServicerContext) -> CallContext:
    """The caller and request id of the call ``context`` belongs to."""
    return _current.get(id(context)) or CallContext(None, "")

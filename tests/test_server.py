"""The real server on port 0 over a real channel: health, reflection, auth, errors, limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from structlog.testing import capture_logs

from auditlog.ports import AuditFilter
from identity.model import EnrollmentRecord, EnrollmentStatus
from identity_service.storage.sql import SqlStore
from identity_service.wiring import build_app
from likeness.audit.v1 import audit_service_pb2 as audit_pb
from likeness.audit.v1 import audit_service_pb2_grpc as audit_grpc
from likeness.identity.v1 import identity_service_pb2 as pb
from likeness.identity.v1 import identity_service_pb2_grpc as pb_grpc
from tests.conftest import RunningServer, error_info, serving, start_server, test_settings


def identity(srv: RunningServer) -> pb_grpc.IdentityServiceStub:
    return pb_grpc.IdentityServiceStub(srv.channel)


def test_health_answers_serving_without_credentials(running: RunningServer) -> None:
    stub = health_pb2_grpc.HealthStub(running.channel)
    for service in ("", "likeness.identity.v1.IdentityService"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_every_service(running: RunningServer) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(running.channel)
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for r in replies for s in r.list_services_response.service}
    assert {
        "likeness.identity.v1.IdentityService",
        "likeness.consent.v1.ConsentService",
        "likeness.audit.v1.AuditService",
        "grpc.health.v1.Health",
    } <= names


def test_start_then_get_enrollment(running: RunningServer) -> None:
    stub = identity(running)
    started = stub.StartEnrollment(
        pb.StartEnrollmentRequest(subject_id="alice"), metadata=running.metadata("app"), timeout=5
    )
    assert len(started.session_id) >= 24 and len(started.nonce) == 16
    assert started.challenge.digits.isdigit() and 4 <= len(started.challenge.digits) <= 6
    assert 2 <= len(started.challenge.head_turns) <= 3
    assert pb.HEAD_TURN_UNSPECIFIED not in started.challenge.head_turns
    got = stub.GetEnrollment(
        pb.GetEnrollmentRequest(subject_id="alice"), metadata=running.metadata("app"), timeout=5
    ).enrollment
    assert got.state == pb.ENROLLMENT_STATE_PENDING
    assert got.session_expire_time.ToDatetime() == started.expire_time.ToDatetime()


def test_active_subject_reenrolls_only_with_the_flag(running: RunningServer) -> None:
    from kernel.clock import utc_now

    now = utc_now()
    with running.app.store.write() as tx:
        tx.put_enrollment(EnrollmentRecord("bob", EnrollmentStatus.ACTIVE, now, now))
    stub = identity(running)
    with pytest.raises(grpc.RpcError) as err:
        stub.StartEnrollment(pb.StartEnrollmentRequest(subject_id="bob"), metadata=running.metadata(), timeout=5)
    assert error_info(err.value)[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION, "ERROR_REASON_ENROLLMENT_ALREADY_ACTIVE")
    assert retry_delay(err.value) is None  # nothing to wait for
    stub.StartEnrollment(
        pb.StartEnrollmentRequest(subject_id="bob", reenroll=True), metadata=running.metadata(), timeout=5
    )
    got = stub.GetEnrollment(pb.GetEnrollmentRequest(subject_id="bob"), metadata=running.metadata(), timeout=5)
    assert got.enrollment.state == pb.ENROLLMENT_STATE_ACTIVE  # stays active until a new one passes


def retry_delay(error: grpc.RpcError) -> int | None:
    """Seconds of the google.rpc.RetryInfo detail of a failed call, if it has one."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return int(info.retry_delay.seconds)
    return None


def test_a_subject_starts_only_so_many_enrollments_a_day(tmp_path: Path) -> None:
    """Every started session counts, used or superseded: liveness is statistical, and a forged
    recording must not be retried without end. Other subjects are not held back; the refusal
    says when to retry and is audited."""
    from auditlog.model import Outcome
    from auditlog.ports import AuditFilter

    app = build_app(test_settings(tmp_path, enrollment_max_attempts=3, enrollment_attempt_window_seconds=3600))
    with serving(app) as srv:
        stub = identity(srv)
        for _ in range(3):
            stub.StartEnrollment(pb.StartEnrollmentRequest(subject_id="mallory"), metadata=srv.metadata(), timeout=5)
        with pytest.raises(grpc.RpcError) as err:
            stub.StartEnrollment(pb.StartEnrollmentRequest(subject_id="mallory"), metadata=srv.metadata(), timeout=5)
        code, reason, metadata = error_info(err.value)
        assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "ERROR_REASON_ENROLLMENT_ATTEMPTS_EXHAUSTED")
        assert metadata["max_attempts"] == "3" and metadata["window_seconds"] == "3600"
        assert 3500 < int(metadata["retry_after_seconds"]) <= 3600
        assert retry_delay(err.value) == int(metadata["retry_after_seconds"])
        stub.StartEnrollment(pb.StartEnrollmentRequest(subject_id="trent"), metadata=srv.metadata(), timeout=5)
        with app.store.read() as tx:
            refusals = tx.list_audit(AuditFilter(subject_id="mallory", outcome=Outcome.FAILURE),
                                     after_sequence=None, limit=10)
        assert [(e.action, e.reason) for e in refusals] == [
            ("identity.enrollment.start", "ERROR_REASON_ENROLLMENT_ATTEMPTS_EXHAUSTED")]


def test_enrollment_attempts_are_counted_over_a_sliding_window(tmp_path: Path) -> None:
    from datetime import timedelta

    from auditlog.model import Actor, ActorType
    from identity.enrollment import EnrollmentService
    from kernel.clock import utc_now
    from kernel.errors import EnrollmentAttemptsExhausted

    app = build_app(test_settings(tmp_path))
    now = [utc_now()]
    service = EnrollmentService(app.store, app.audit, session_ttl=timedelta(minutes=2), max_attempts=2,
                                attempt_window=timedelta(hours=1), clock=lambda: now[0])
    actor = Actor(ActorType.SERVICE, "app", "req")
    try:
        service.start("mallory", reenroll=False, actor=actor)
        now[0] += timedelta(minutes=40)
        service.start("mallory", reenroll=False, actor=actor)
        now[0] += timedelta(minutes=10)
        with pytest.raises(EnrollmentAttemptsExhausted) as refused:
            service.start("mallory", reenroll=False, actor=actor)
        assert refused.value.metadata["retry_after_seconds"] == str(10 * 60)  # when the first leaves the window
        now[0] += timedelta(minutes=10)
        service.start("mallory", reenroll=False, actor=actor)
    finally:
        app.close()


def test_list_enrollments_paginates_and_rejects_foreign_tokens(running: RunningServer) -> None:
    stub = identity(running)
    for i in range(5):
        stub.StartEnrollment(pb.StartEnrollmentRequest(subject_id=f"user{i}"), metadata=running.metadata(), timeout=5)
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        reply = stub.ListEnrollments(
            pb.ListEnrollmentsRequest(page_size=2, page_token=token), metadata=running.metadata(), timeout=5
        )
        seen += [e.subject_id for e in reply.enrollments]
        pages += 1
        token = reply.next_page_token
        if not token:
            break
    assert seen == [f"user{i}" for i in range(5)] and pages == 3
    first = stub.ListEnrollments(pb.ListEnrollmentsRequest(page_size=2), metadata=running.metadata(), timeout=5)
    for bad in ("garbage!!", first.next_page_token[:-2]):
        with pytest.raises(grpc.RpcError) as err:
            stub.ListEnrollments(pb.ListEnrollmentsRequest(page_token=bad), metadata=running.metadata(), timeout=5)
        assert error_info(err.value)[1] == "ERROR_REASON_PAGE_TOKEN_INVALID"
    # A token is bound to its filters.
    with pytest.raises(grpc.RpcError) as err:
        stub.ListEnrollments(
            pb.ListEnrollmentsRequest(page_token=first.next_page_token, state=pb.ENROLLMENT_STATE_ACTIVE),
            metadata=running.metadata(), timeout=5,
        )
    assert error_info(err.value)[1] == "ERROR_REASON_PAGE_TOKEN_INVALID"
    with pytest.raises(grpc.RpcError) as err:
        stub.ListEnrollments(pb.ListEnrollmentsRequest(page_size=-1), metadata=running.metadata(), timeout=5)
    assert error_info(err.value)[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "ERROR_REASON_FIELD_INVALID")


def test_delete_subject_then_not_found(running: RunningServer) -> None:
    stub = identity(running)
    stub.StartEnrollment(pb.StartEnrollmentRequest(subject_id="carol"), metadata=running.metadata(), timeout=5)
    reply = stub.DeleteSubject(pb.DeleteSubjectRequest(subject_id="carol"), metadata=running.metadata("app"), timeout=5)
    assert reply.subject_id == "carol"
    with pytest.raises(grpc.RpcError) as err:
        stub.GetEnrollment(pb.GetEnrollmentRequest(subject_id="carol"), metadata=running.metadata(), timeout=5)
    code, _reason, metadata = error_info(err.value)
    assert code == grpc.StatusCode.NOT_FOUND and metadata["subject_id"] == "carol"
    # Erasure is idempotent: again, nothing left to destroy, and still a success.
    again = stub.DeleteSubject(pb.DeleteSubjectRequest(subject_id="carol"), metadata=running.metadata(), timeout=5)
    assert again.subject_id == "carol" and again.templates_destroyed == 0


@pytest.mark.parametrize(
    ("subject", "reason"),
    [("", "ERROR_REASON_FIELD_MISSING"), ("bad id", "ERROR_REASON_FIELD_INVALID"),
     ("x" * 65, "ERROR_REASON_FIELD_INVALID"), ("../etc", "ERROR_REASON_FIELD_INVALID")],
)
def test_bad_subject_ids_are_invalid_argument(running: RunningServer, subject: str, reason: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        identity(running).StartEnrollment(
            pb.StartEnrollmentRequest(subject_id=subject), metadata=running.metadata(), timeout=5
        )
    code, got_reason, metadata = error_info(err.value)
    assert (code, got_reason, metadata["field"]) == (grpc.StatusCode.INVALID_ARGUMENT, reason, "subject_id")


@pytest.mark.parametrize(
    "metadata",
    [[], [("authorization", "Bearer wrong")], [("authorization", "Basic abc")],
     [("authorization", "Bearer ")]],
)
def test_unknown_callers_are_unauthenticated(running: RunningServer, metadata: list[tuple[str, str]]) -> None:
    with pytest.raises(grpc.RpcError) as err:
        identity(running).GetEnrollment(pb.GetEnrollmentRequest(subject_id="a"), metadata=metadata, timeout=5)
    assert error_info(err.value)[:2] == (grpc.StatusCode.UNAUTHENTICATED, "ERROR_REASON_CALLER_UNAUTHENTICATED")


@pytest.mark.parametrize("role", ["generator", "scanner", "social_graph", "auditor", "nobody"])
def test_wrong_role_is_permission_denied(running: RunningServer, role: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        identity(running).DeleteSubject(
            pb.DeleteSubjectRequest(subject_id="alice"), metadata=running.metadata(role), timeout=5
        )
    code, reason, metadata = error_info(err.value)
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "ERROR_REASON_CALLER_ROLE_DENIED")
    assert metadata["caller"] == f"svc-{role}" and "admin" in metadata["allowed_roles"]


def test_oversized_message_is_resource_exhausted_with_a_reason(tmp_path: Path) -> None:
    app = build_app(test_settings(tmp_path, max_receive_message_bytes=64 * 1024))
    srv = start_server(app)
    try:
        with pytest.raises(grpc.RpcError) as err:
            identity(srv).VerifyLikeness(
                pb.VerifyLikenessRequest(subject_id="a", probe=pb.Media(content=b"x" * 100_000)),
                metadata=srv.metadata(), timeout=5,
            )
        code, reason, metadata = error_info(err.value)
        assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "ERROR_REASON_MESSAGE_TOO_LARGE")
        assert metadata["limit_bytes"] == str(64 * 1024)
        assert dict(err.value.trailing_metadata())["x-request-id"]  # type: ignore[attr-defined]
        # Over twice the limit, gRPC itself refuses it before the service sees it.
        with pytest.raises(grpc.RpcError) as err:
            identity(srv).VerifyLikeness(
                pb.VerifyLikenessRequest(subject_id="a", probe=pb.Media(content=b"x" * 200_000)),
                metadata=srv.metadata(), timeout=5,
            )
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        srv.server.stop(None).wait()
        app.close()


@pytest.mark.parametrize(("raw", "what"), [
    (b"\xff\xff\xff", "malformed"),
    (b"\x0a\x10abc", "truncated"),  # field 1 says 16 bytes follow; 3 do
    (b"\x0a\x02\xff\xfe", "a string that is not UTF-8"),
])
def test_a_request_that_is_not_a_valid_message_gets_a_reason_and_a_request_id(
    running: RunningServer, raw: bytes, what: str
) -> None:
    call = running.channel.unary_unary("/likeness.identity.v1.IdentityService/GetEnrollment")
    with pytest.raises(grpc.RpcError) as err:
        call(raw, metadata=running.metadata(request_id=f"bad-{len(raw)}"), timeout=5)
    code, reason, metadata = error_info(err.value)
    assert (code, reason, metadata["field"]) == (grpc.StatusCode.INVALID_ARGUMENT, "ERROR_REASON_FIELD_INVALID",
                                                 "request"), what
    assert ("x-request-id", f"bad-{len(raw)}") in err.value.trailing_metadata()  # type: ignore[attr-defined]
    # Authentication still comes first: an unknown caller learns nothing about the message.
    with pytest.raises(grpc.RpcError) as err:
        call(raw, metadata=[("authorization", "Bearer nope")], timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_enroll_without_models_loaded_is_unavailable(running: RunningServer) -> None:
    with pytest.raises(grpc.RpcError) as err:
        identity(running).Enroll(iter([pb.EnrollRequest(header=pb.EnrollHeader(session_id="s"))]),
                                 metadata=running.metadata(), timeout=5)
    code, reason, _ = error_info(err.value)
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "ERROR_REASON_MODELS_UNAVAILABLE")


def test_verification_without_models_loaded_is_unavailable(running: RunningServer) -> None:
    with pytest.raises(grpc.RpcError) as err:
        identity(running).VerifyLikeness(pb.VerifyLikenessRequest(subject_id="a", probe=pb.Media(
            container=pb.MEDIA_CONTAINER_JPEG, content=b"x")), metadata=running.metadata(), timeout=5)
    code, reason, _ = error_info(err.value)
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "ERROR_REASON_MODELS_UNAVAILABLE")


def test_request_id_is_echoed_and_each_rpc_logged(running: RunningServer) -> None:
    stub = identity(running)
    with capture_logs() as logs:
        _, call = stub.StartEnrollment.with_call(
            pb.StartEnrollmentRequest(subject_id="dave"),
            metadata=running.metadata("app", request_id="req-123"), timeout=5,
        )
        with pytest.raises(grpc.RpcError) as failed:
            stub.GetEnrollment(pb.GetEnrollmentRequest(subject_id="nobody-here"), metadata=running.metadata(), timeout=5)
    assert ("x-request-id", "req-123") in call.trailing_metadata()
    # A failed call carries it too (here one the server made up), beside the error details.
    trailers = dict(failed.value.trailing_metadata())  # type: ignore[attr-defined]
    assert "grpc-status-details-bin" in trailers
    rpc_lines = [e for e in logs if e["event"] == "rpc"]
    assert len(rpc_lines) == 2
    ok = rpc_lines[0]
    assert ok["method"] == "/likeness.identity.v1.IdentityService/StartEnrollment"
    assert (ok["caller"], ok["status"], ok["request_id"]) == ("svc-app", "OK", "req-123")
    assert isinstance(ok["duration_ms"], float)
    assert rpc_lines[1]["status"] == "NOT_FOUND" and len(rpc_lines[1]["request_id"]) == 32
    assert trailers["x-request-id"] == rpc_lines[1]["request_id"]
    # Nothing secret in any line: no token, no nonce.
    flat = repr(logs)
    assert "test-token" not in flat and "nonce" not in flat


class FailingStoreDouble:
    """Test double: a store whose reads blow up with an internal detail that must not leak."""

    dialect = "sqlite"

    def __init__(self, real: SqlStore) -> None:
        self._real = real

    def read(self) -> AbstractContextManager[Any]:
        raise RuntimeError("secret table layout detail")

    def write(self) -> AbstractContextManager[Any]:
        return self._real.write()

    def ping(self) -> None: ...

    def close(self) -> None:
        self._real.close()


def test_internal_error_shows_a_safe_message_and_logs_the_cause(tmp_path: Path) -> None:
    settings = test_settings(tmp_path)
    real = SqlStore.from_url(settings.resolved_database_url())
    app = build_app(settings, store=FailingStoreDouble(real), migrate_now=False)  # type: ignore[arg-type]
    srv = start_server(app)
    try:
        with capture_logs() as logs, pytest.raises(grpc.RpcError) as err:
            identity(srv).GetEnrollment(
                pb.GetEnrollmentRequest(subject_id="a"), metadata=srv.metadata(request_id="boom-1"), timeout=5
            )
        code, reason, metadata = error_info(err.value)
        assert (code, reason, metadata["request_id"]) == (grpc.StatusCode.INTERNAL, "ERROR_REASON_INTERNAL", "boom-1")
        assert "secret" not in (err.value.details() or "")
        logged = [e for e in logs if e.get("status") == "INTERNAL"]
        assert logged and "secret table layout detail" in str(logged[0]["exc_info"])
    finally:
        srv.server.stop(None).wait()
        app.close()


class SlowStoreDouble:
    """Test double: reads take a while, so a call is in flight when the server stops."""

    dialect = "sqlite"

    def __init__(self, real: SqlStore, delay: float) -> None:
        self._real = real
        self._delay = delay
        self.entered = threading.Event()

    @contextmanager
    def read(self) -> Iterator[Any]:
        self.entered.set()
        time.sleep(self._delay)
        with self._real.read() as tx:
            yield tx

    def write(self) -> AbstractContextManager[Any]:
        return self._real.write()

    def ping(self) -> None: ...

    def close(self) -> None:
        self._real.close()


def test_graceful_stop_lets_in_flight_calls_finish(tmp_path: Path) -> None:
    settings = test_settings(tmp_path)
    real = SqlStore.from_url(settings.resolved_database_url())
    build_app(settings, store=real)  # migrate
    slow = SlowStoreDouble(real, delay=1.0)
    app = build_app(settings, store=slow, migrate_now=False)  # type: ignore[arg-type]
    srv = start_server(app)
    stub = identity(srv)
    stub.StartEnrollment(pb.StartEnrollmentRequest(subject_id="erin"), metadata=srv.metadata(), timeout=5)
    result: dict[str, Any] = {}

    def call() -> None:
        try:
            result["reply"] = stub.GetEnrollment(
                pb.GetEnrollmentRequest(subject_id="erin"), metadata=srv.metadata(), timeout=10
            )
        except grpc.RpcError as exc:  # pragma: no cover - a failure is reported below
            result["error"] = exc

    worker = threading.Thread(target=call)
    worker.start()
    assert slow.entered.wait(5)
    srv.server.stop(grace=5).wait()
    worker.join(5)
    assert "error" not in result and result["reply"].enrollment.subject_id == "erin"
    # After stop, new calls are refused.
    with pytest.raises(grpc.RpcError) as err:
        stub.GetEnrollment(pb.GetEnrollmentRequest(subject_id="erin"), metadata=srv.metadata(), timeout=2)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    app.close()


def test_a_call_past_its_deadline_gets_deadline_exceeded(tmp_path: Path) -> None:
    settings = test_settings(tmp_path)
    real = SqlStore.from_url(settings.resolved_database_url())
    build_app(settings, store=real)  # migrate
    app = build_app(settings, store=SlowStoreDouble(real, delay=1.0), migrate_now=False)  # type: ignore[arg-type]
    srv = start_server(app)
    try:
        with pytest.raises(grpc.RpcError) as err:
            identity(srv).GetEnrollment(pb.GetEnrollmentRequest(subject_id="a"), metadata=srv.metadata(), timeout=0.2)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        srv.server.stop(None).wait()
        app.close()


class ExpiredContextDouble:
    """Test double: a servicer context whose deadline has already passed."""

    def __init__(self) -> None:
        self.aborted: grpc.Status | None = None

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return [("authorization", "Bearer test-token-admin")]

    def set_trailing_metadata(self, metadata: object) -> None: ...

    def time_remaining(self) -> float:
        return 0.0

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    def abort_with_status(self, status: grpc.Status) -> None:
        self.aborted = status
        raise Exception()  # what grpc's own abort raises


def test_the_server_refuses_work_whose_deadline_already_passed() -> None:
    from identity_service.transport.auth import CallerRegistry
    from identity_service.transport.interceptor import ServiceInterceptor
    from tests.conftest import caller_entries

    called: list[object] = []
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: called.append(request))
    details = type("Details", (), {"method": "/likeness.identity.v1.IdentityService/GetEnrollment",
                                   "invocation_metadata": ()})()
    wrapped = ServiceInterceptor(CallerRegistry(caller_entries())).intercept_service(lambda _: handler, details)
    context = ExpiredContextDouble()
    with pytest.raises(Exception):  # noqa: B017 - grpc's abort exception has no public type
        wrapped.unary_unary(object(), context)  # type: ignore[union-attr]
    assert called == []
    assert context.aborted is not None and context.aborted.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_audit_service_is_reachable_for_auditors_only(running: RunningServer) -> None:
    stub = audit_grpc.AuditServiceStub(running.channel)
    with pytest.raises(grpc.RpcError) as err:
        stub.ListEvents(audit_pb.ListEventsRequest(), metadata=running.metadata("generator"), timeout=5)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_python_client_helpers_unpack_error_info(running: RunningServer) -> None:
    from identity_service.client import bearer, error_details

    stub = identity(running)
    with pytest.raises(grpc.RpcError) as err:
        stub.GetEnrollment(pb.GetEnrollmentRequest(subject_id="ghost"), metadata=bearer("test-token-app"), timeout=5)
    details = error_details(err.value)
    assert (details.code, details.reason, details.metadata) == (
        grpc.StatusCode.NOT_FOUND, "ERROR_REASON_ENROLLMENT_NOT_FOUND", {"subject_id": "ghost"})
    assert "ghost" in details.message


def test_refusals_after_authentication_are_audited_once(running: RunningServer) -> None:
    stub = identity(running)
    refused_calls = [
        lambda: stub.StartEnrollment(pb.StartEnrollmentRequest(subject_id="bad/id"), metadata=running.metadata("app"),
                                     timeout=5),
        lambda: stub.VerifyLikeness(pb.VerifyLikenessRequest(subject_id="a"), metadata=running.metadata("app"),
                                    timeout=5),
        lambda: stub.Enroll(iter([pb.EnrollRequest(header=pb.EnrollHeader(session_id="s"))]),
                            metadata=running.metadata("app"), timeout=5),
        lambda: stub.GetEnrollment(pb.GetEnrollmentRequest(subject_id="nobody"), metadata=running.metadata("app"),
                                   timeout=5),  # a read: not a security event
        lambda: stub.StartEnrollment(pb.StartEnrollmentRequest(subject_id="a"), metadata=running.metadata("auditor"),
                                     timeout=5),  # a role refusal: audited once, as an auth refusal
    ]
    for call in refused_calls:
        with pytest.raises(grpc.RpcError):
            call()
    with running.app.store.read() as tx:
        events = tx.list_audit(AuditFilter(), after_sequence=None, limit=100, descending=False)
    refused = [(e.details["method"].rsplit("/", 1)[-1], e.reason) for e in events if e.action == "rpc.refused"]
    assert ("StartEnrollment", "ERROR_REASON_FIELD_INVALID") in refused
    assert ("VerifyLikeness", "ERROR_REASON_FIELD_MISSING") in refused
    assert not any(method == "GetEnrollment" for method, _ in refused)
    auth = [e for e in events if e.action == "auth.caller.refused"]
    assert len(auth) == 1 and not any(r == "ERROR_REASON_CALLER_ROLE_DENIED" for _, r in refused)
    assert all(e.actor_id == "svc-app" for e in events if e.action == "rpc.refused")

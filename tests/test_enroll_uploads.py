"""Enrollment uploads from clients that lie, stop or stall: the header's size and SHA-256 decide
whether an upload is whole, a stalled upload ends after the read timeout, and uploads past the cap
are refused at once, so health and permission checks always have a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from identity_service.inference.biometrics import Biometrics
from identity_service.wiring import build_app
from kernel.errors import ServerBusy
from likeness.consent.v1 import consent_service_pb2 as cpb
from likeness.consent.v1 import consent_service_pb2_grpc as crpc
from likeness.identity.v1 import identity_service_pb2 as pb
from likeness.identity.v1 import identity_service_pb2_grpc as rpc
from tests.conftest import RunningServer, error_info, serving, test_settings
from tests.test_enroll import ENROLL_CLIP, MP4, header, start, state_of, templates_of

SLOTS = 2
READ_TIMEOUT = 8.0  # long enough that the slots are still held when the third upload comes, on a busy machine


@pytest.fixture
def server(tmp_path: Path, biometrics: Biometrics, recording_analyzer: object) -> Iterator[RunningServer]:
    settings = test_settings(tmp_path, liveness_optional_checks=["spoken_digits", "head_turns"], max_workers=4,
                             enroll_max_concurrent_uploads=SLOTS, enroll_read_timeout_seconds=READ_TIMEOUT)
    app = build_app(settings, biometrics=biometrics, analyzer=recording_analyzer)  # type: ignore[arg-type]
    with serving(app) as srv:
        yield srv


def enroll(srv: RunningServer, messages: Iterator[pb.EnrollRequest], timeout: float = 60) -> pb.EnrollResponse:
    return rpc.IdentityServiceStub(srv.channel).Enroll(messages, metadata=srv.metadata("app"), timeout=timeout)


def refusal(call: object) -> tuple[str, str, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    code, reason, metadata = error_info(caught.value)
    return code.name, reason, metadata


def test_the_header_must_declare_size_and_hash(server: RunningServer) -> None:
    clip = ENROLL_CLIP.read_bytes()
    session = start(server, "undeclared")
    bare = pb.EnrollHeader(session_id=session.session_id, container=MP4)
    assert refusal(lambda: enroll(server, iter([pb.EnrollRequest(header=bare), pb.EnrollRequest(chunk=clip)]))) \
        == ("INVALID_ARGUMENT", "ERROR_REASON_FIELD_MISSING", {"field": "header.size_bytes"})
    short_hash = pb.EnrollHeader(session_id=session.session_id, container=MP4, size_bytes=len(clip), sha256=b"x")
    code, reason, metadata = refusal(lambda: enroll(server, iter([pb.EnrollRequest(header=short_hash)])))
    assert (code, reason, metadata["field"]) == ("INVALID_ARGUMENT", "ERROR_REASON_FIELD_INVALID", "header.sha256")
    # A header refused before the upload leaves the session usable.
    assert state_of(server, "undeclared") == pb.ENROLLMENT_STATE_PENDING


@pytest.mark.parametrize("lie", ["cut", "other bytes", "more bytes"])
def test_an_upload_that_is_not_what_its_header_declared_is_never_analysed(server: RunningServer, lie: str) -> None:
    clip = ENROLL_CLIP.read_bytes()
    session = start(server, "liar")
    sent = {"cut": clip[: len(clip) // 2], "other bytes": clip[:-1] + b"\x00",
            "more bytes": clip + b"\x00"}[lie]

    def messages() -> Iterator[pb.EnrollRequest]:
        # The header describes the whole clip; the stream ends cleanly after what was sent, as
        # when a client gives up half-way without an error.
        yield pb.EnrollRequest(header=header(session.session_id, clip))
        yield pb.EnrollRequest(chunk=sent)

    code, reason, _ = refusal(lambda: enroll(server, messages()))
    assert (code, reason) == ("INVALID_ARGUMENT", "ERROR_REASON_UPLOAD_INCOMPLETE")
    assert state_of(server, "liar") == pb.ENROLLMENT_STATE_FAILED and templates_of(server, "liar") == 0


def test_stalled_uploads_time_out_and_never_starve_other_calls(server: RunningServer) -> None:
    clip = ENROLL_CLIP.read_bytes()
    release = threading.Event()
    outcomes: list[tuple[str, str, dict[str, str]]] = []
    reading: list[threading.Event] = []

    def stalled(subject: str) -> None:
        session = start(server, subject)
        began = threading.Event()
        reading.append(began)

        def messages() -> Iterator[pb.EnrollRequest]:
            yield pb.EnrollRequest(header=header(session.session_id, clip))
            yield pb.EnrollRequest(chunk=clip[: 64 * 1024])
            began.set()
            release.wait(120)  # and then nothing, like a client on a dead network

        outcomes.append(refusal(lambda: enroll(server, messages())))

    threads = [threading.Thread(target=stalled, args=(f"stall{i}",)) for i in range(SLOTS)]
    for thread in threads:
        thread.start()
    try:
        arrived = threading.Event()
        for _ in range(600):  # until both uploads have begun on the server (their sessions are used)
            if len(reading) == SLOTS and all(e.is_set() for e in reading) and _sessions_used(server, SLOTS):
                arrived.set()
                break
            arrived.wait(0.05)
        assert arrived.is_set(), "the stalled uploads never reached the server"
        # Every upload slot is held: the next upload is refused at once, with a retry hint.
        third = start(server, "third")
        with pytest.raises(grpc.RpcError) as caught:
            enroll(server, iter([pb.EnrollRequest(header=header(third.session_id, clip)),
                                 pb.EnrollRequest(chunk=clip)]), timeout=10)
        code, reason, metadata = error_info(caught.value)
        assert (code.name, reason) == ("RESOURCE_EXHAUSTED", "ERROR_REASON_SERVER_BUSY")
        assert metadata["limit"] == str(SLOTS) and int(metadata["retry_after_seconds"]) > 0
        status = rpc_status.from_call(caught.value)  # type: ignore[arg-type]
        assert status is not None and any(d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in status.details)
        # The slots are the process's own (App.uploads), which the user API's recording route draws
        # on too: the cap holds for both transports together, not for each.
        assert server.app.uploads is not None
        with pytest.raises(ServerBusy), server.app.uploads.slot():
            pass
        # Health and permission checks still answer while the uploads stall.
        health = health_pb2_grpc.HealthStub(server.channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        check = crpc.ConsentServiceStub(server.channel).CheckCameoPermission(
            cpb.CheckCameoPermissionRequest(owner_id="stall0", requester_id="bob"),
            metadata=server.metadata("generator"), timeout=5)
        assert check.decision == cpb.PERMISSION_DECISION_DENY
        for thread in threads:
            thread.join(READ_TIMEOUT * 20)
        assert [o[:2] for o in outcomes] == [("ABORTED", "ERROR_REASON_UPLOAD_STALLED")] * SLOTS
        assert {state_of(server, f"stall{i}") for i in range(SLOTS)} == {pb.ENROLLMENT_STATE_FAILED}
        # The slots are free again: the refused session can upload now (and the header check runs).
        assert refusal(lambda: enroll(server, iter([pb.EnrollRequest(header=header(third.session_id, clip)),
                                                    pb.EnrollRequest(chunk=clip[:10])])))[1] \
            == "ERROR_REASON_UPLOAD_INCOMPLETE"
    finally:
        release.set()
        for thread in threads:
            thread.join(30)


def _sessions_used(srv: RunningServer, count: int) -> bool:
    return all(_used(srv, f"stall{i}") for i in range(count))


def _used(srv: RunningServer, subject: str) -> bool:
    with srv.app.store.read() as tx:
        record = tx.get_enrollment(subject)
        session = tx.get_session(record.session_id) if record is not None and record.session_id else None
    return session is not None and session.used_time is not None


"""Hostile input against a real server: every small-but-expensive request from the issue "Hostile
input and slow clients", with the server's peak memory per case.

    .venv/bin/python scripts/hostile_input.py [--bound-mb 300]

Starts `identity-service serve` (SQLite, the models from `scripts/setup.sh`, the user API with a
test JWKS) in a temporary folder, enrolls one person from ../shared/data through the real Enroll
path, then sends each case and reads the server's peak resident memory (VmHWM, reset before each
case through /proc/PID/clear_refs) against its resident memory just before. A case fails when
the answer is not the expected refusal, when the peak grows by more than --bound-mb, or when the
server stops. A genuine VerifyLikeness of a photo runs first as the baseline: what an honest
request costs. Exit 0 when every case passes; the last line is JSON. CI runs it
(tests/test_hostile_input_script.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
from google.rpc import error_details_pb2  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from grpc_status import rpc_status  # noqa: E402

from likeness.consent.v1 import consent_service_pb2 as cpb  # noqa: E402
from likeness.consent.v1 import consent_service_pb2_grpc as crpc  # noqa: E402
from likeness.identity.v1 import identity_service_pb2 as pb  # noqa: E402
from likeness.identity.v1 import identity_service_pb2_grpc as rpc  # noqa: E402
from scripts import _hostile as hostile  # noqa: E402
from scripts._server import Server, start_server  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
ENROLL_CLIP = SHARED / "talking" / "sstzal_DFRF_cnn2_25fps_57-71s.mp4"
PHOTO = SHARED / "faces" / "knn_examples" / "train" / "obama" / "obama.jpg"
SLOTS = 2  # enrollment uploads at once on the server under test
READ_TIMEOUT = 6.0  # the stalled uploads must still hold their slots when the last ones arrive


def outcome_of(call: Callable[[], object]) -> str:
    """'OK', or 'CODE/REASON' of the refusal."""
    try:
        call()
        return "OK"
    except grpc.RpcError as error:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
        for detail in status.details if status else ():
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                return f"{error.code().name}/{info.reason.removeprefix('ERROR_REASON_')}"
        return f"{error.code().name}/(no ErrorInfo)"


def enroll_messages(session_id: str, video: bytes, audio: bytes | None = None,
                    audio_container: int = 0) -> Iterator[pb.EnrollRequest]:
    yield pb.EnrollRequest(header=pb.EnrollHeader(
        session_id=session_id, container=pb.MEDIA_CONTAINER_MP4, audio_container=audio_container,  # type: ignore[arg-type]
        size_bytes=len(video), sha256=hashlib.sha256(video).digest(), audio_size_bytes=len(audio or b""),
        audio_sha256=hashlib.sha256(audio).digest() if audio else b""))
    for at in range(0, len(video), 1 << 20):
        yield pb.EnrollRequest(chunk=video[at:at + (1 << 20)])
    if audio:
        yield pb.EnrollRequest(audio_chunk=audio)


def http_status(server: Server, head: str, body_bytes: int) -> str:
    """Send ``head``, then up to ``body_bytes`` of body while watching for an early answer."""
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=30) as conn:
        conn.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        conn.setblocking(False)
        sent, answer, piece = 0, b"", b" " * 65536
        if "chunked" in head.lower():  # one 64 KiB chunk, framed, over and over
            piece = b"10000\r\n" + piece + b"\r\n"
        while sent < body_bytes and not answer:
            try:
                sent += conn.send(piece[: body_bytes - sent])
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:  # the server answered and closed: read what it said
                break
            try:
                answer += conn.recv(65536)
            except BlockingIOError:
                continue
        conn.settimeout(30)
        while b"\r\n" not in answer:
            more = conn.recv(65536)
            if not more:
                break
            answer += more
    status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/1.1 ") else "no answer"
    return f"HTTP {status} after {sent // 1_000_000} MB sent"


def cases(server: Server, channel: grpc.Channel) -> list[tuple[str, Callable[[], str], Callable[[str], bool]]]:
    identity = rpc.IdentityServiceStub(channel)  # type: ignore[no-untyped-call]
    photo = PHOTO.read_bytes()
    wav_1hz = hostile.wav_at_rate(1)
    big_png = hostile.png_of_size(16_000, 16_000)
    big_video = hostile.video_of_size(8192, 8192, 4)
    flac_10min = hostile.silent_flac(600)
    flac_30min = hostile.silent_flac(1800)
    clip = ENROLL_CLIP.read_bytes()

    def verify(container: int, content: bytes) -> Callable[[], str]:
        return lambda: outcome_of(lambda: identity.VerifyLikeness(
            pb.VerifyLikenessRequest(subject_id="person", probe=pb.Media(container=container, content=content)),
            metadata=server.metadata("app"), timeout=120))

    def search(container: int, content: bytes) -> Callable[[], str]:
        return lambda: outcome_of(lambda: identity.SearchLikeness(
            pb.SearchLikenessRequest(media=pb.Media(container=container, content=content)),
            metadata=server.metadata("scanner"), timeout=120))

    def enroll_long_audio() -> str:
        session = identity.StartEnrollment(pb.StartEnrollmentRequest(subject_id="long-audio"),
                                           metadata=server.metadata("app"), timeout=30)
        return outcome_of(lambda: identity.Enroll(
            enroll_messages(session.session_id, clip, flac_10min, pb.MEDIA_CONTAINER_FLAC),
            metadata=server.metadata("app"), timeout=120))

    def stalled_uploads() -> str:
        """SLOTS + 2 uploads that send a header and 64 KiB, then nothing."""
        release = threading.Event()
        results: list[str] = []

        def stall(index: int) -> None:
            session = identity.StartEnrollment(pb.StartEnrollmentRequest(subject_id=f"stall-{index}"),
                                               metadata=server.metadata("app"), timeout=30)

            def messages() -> Iterator[pb.EnrollRequest]:
                first = enroll_messages(session.session_id, clip)
                yield next(first)
                yield pb.EnrollRequest(chunk=clip[: 64 * 1024])
                release.wait(120)

            results.append(outcome_of(lambda: identity.Enroll(messages(), metadata=server.metadata("app"),
                                                              timeout=120)))

        threads = [threading.Thread(target=stall, args=(i,)) for i in range(SLOTS + 2)]
        for thread in threads:
            thread.start()
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        check = crpc.ConsentServiceStub(channel).CheckCameoPermission(  # type: ignore[no-untyped-call]
            cpb.CheckCameoPermissionRequest(owner_id="person", requester_id="someone"),
            metadata=server.metadata("generator"), timeout=5)
        for thread in threads:
            thread.join(READ_TIMEOUT * 20)
        release.set()
        answered = "health and checks answered" if health.status == health_pb2.HealthCheckResponse.SERVING \
            and check.decision else "health or checks did not answer"
        return f"{answered}; uploads: {', '.join(sorted(results))}"

    def user_api(head: str) -> Callable[[], str]:
        return lambda: http_status(server, head, 200 * 1024 * 1024)

    token = server.user_token("person")

    def expect(*outcomes: str) -> Callable[[str], bool]:
        return lambda got: got in outcomes

    return [
        ("baseline: VerifyLikeness of a 910x1137 JPEG photo", verify(pb.MEDIA_CONTAINER_JPEG, photo), expect("OK")),
        ("VerifyLikeness: 64 KB WAV declaring 1 Hz", verify(pb.MEDIA_CONTAINER_WAV, wav_1hz),
         expect("INVALID_ARGUMENT/AUDIO_SAMPLE_RATE_TOO_LOW")),
        (f"VerifyLikeness: {len(big_video) // 1000} KB MP4 of 8192x8192 frames",
         verify(pb.MEDIA_CONTAINER_MP4, big_video), expect("INVALID_ARGUMENT/RECORDING_FRAME_TOO_LARGE")),
        (f"VerifyLikeness: {len(big_png) // 1000} KB PNG of 16000x16000", verify(pb.MEDIA_CONTAINER_PNG, big_png),
         expect("INVALID_ARGUMENT/RECORDING_FRAME_TOO_LARGE")),
        (f"SearchLikeness: {len(big_png) // 1000} KB PNG of 16000x16000", search(pb.MEDIA_CONTAINER_PNG, big_png),
         expect("INVALID_ARGUMENT/RECORDING_FRAME_TOO_LARGE")),
        (f"Enroll: {len(flac_10min) // 1000} KB FLAC of 10 minutes' silence beside a 14 s video",
         enroll_long_audio, expect("INVALID_ARGUMENT/RECORDING_DURATION_OUT_OF_RANGE")),
        (f"VerifyLikeness: {len(flac_30min) // 1000} KB FLAC of 30 minutes' silence",
         verify(pb.MEDIA_CONTAINER_FLAC, flac_30min), expect("INVALID_ARGUMENT/RECORDING_DURATION_OUT_OF_RANGE")),
        ("user API: 200 MB body declared, no token",
         user_api("PUT /v1/subjects/me/cameo-policy HTTP/1.1\nHost: x\nContent-Type: application/json\n"
                  f"Content-Length: {200 * 1024 * 1024}\n"), lambda got: got.startswith("HTTP 413")),
        ("user API: 200 MB chunked body, no token",
         user_api("PUT /v1/subjects/me/cameo-policy HTTP/1.1\nHost: x\nContent-Type: application/json\n"
                  "Transfer-Encoding: chunked\n"), lambda got: got.startswith("HTTP 401")),
        ("user API: 200 MB chunked body with a valid token",
         user_api("PUT /v1/subjects/me/cameo-policy HTTP/1.1\nHost: x\nContent-Type: application/json\n"
                  f"Authorization: Bearer {token}\nTransfer-Encoding: chunked\n"),
         lambda got: got.startswith("HTTP 413")),
        (f"Enroll: {SLOTS + 2} uploads that stall after 64 KiB", stalled_uploads,
         lambda got: got.startswith("health and checks answered") and got.count("SERVER_BUSY") == 2
         and got.count("UPLOAD_STALLED") == SLOTS),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bound-mb", type=float, default=300.0, help="Largest peak growth a case may cause.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(Path(folder), liveness_optional_checks='["spoken_digits", "head_turns"]',
                              enroll_max_concurrent_uploads=str(SLOTS), enroll_read_timeout_seconds=str(READ_TIMEOUT))
        failures = 0
        growths: dict[str, float] = {}
        try:
            channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}",
                                            options=[("grpc.max_send_message_length", 64 * 1024 * 1024)])
            from identity_service.client import enroll_file

            _, enrolled = enroll_file(channel, "person", str(ENROLL_CLIP), token=server.tokens["app"])
            if enrolled.state != pb.ENROLLMENT_STATE_ACTIVE:  # type: ignore[attr-defined]
                raise SystemExit(f"the reference enrollment did not pass: {enrolled}")
            print(f"{'case':<72} {'answer':<52} {'s':>6} {'peak +MB':>9}")
            for name, run, passes in cases(server, channel):
                server.reset_peak()
                before = server.memory_kb("VmRSS")
                started = time.perf_counter()
                got = run()
                seconds = time.perf_counter() - started
                if server.process.poll() is not None:
                    raise SystemExit(f"the server stopped during {name!r}")
                growth = (server.memory_kb("VmHWM") - before) / 1024
                growths[name] = round(growth, 1)
                ok = passes(got) and growth <= args.bound_mb
                failures += not ok
                print(f"{name[:72]:<72} {got[:52]:<52} {seconds:6.2f} {growth:9.1f}{'' if ok else '  FAIL'}")
                if not ok and len(got) > 52:
                    print(f"    answer: {got}")
            channel.close()
        finally:
            server.stop()
    baseline = next(iter(growths.values()), 0.0)
    print(json.dumps({"cases": len(growths), "failed": failures, "bound_mb": args.bound_mb,
                      "baseline_growth_mb": baseline, "max_growth_mb": max(growths.values(), default=0.0),
                      "growth_mb": growths}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

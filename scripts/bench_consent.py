"""Consent benchmark against a real server process.

Measures, in one run:
- CheckCameoPermission: checks/s and p50/p99 latency at concurrency 32 (ALLOW path: reads,
  decision, Ed25519 signing, audit append);
- a plain health check under the same load generator, as the baseline (ratio = check/health);
- offline token verification per second on one core (verify_use_token with a revocation list).

Targets on the 2-core reference machine: >= 2,000 checks/s with p99 <= 20 ms; a check costs at
most 3x a health check; >= 8,000 verifications/s.

    .venv/bin/python scripts/bench_consent.py [--seconds 10] [--concurrency 32] [--database-url URL]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nacl.signing import VerifyKey
from sqlalchemy import create_engine, text

from consent.tokens import RevocationList, keys_from_jwks, verify_use_token
from identity_service.transport.auth import hash_token
from likeness.consent.v1 import consent_service_pb2 as pb
from likeness.consent.v1 import consent_service_pb2_grpc as rpc


def start_server(tmp: Path, database_url: str) -> tuple[subprocess.Popen[str], int, str]:
    token = "bench-admin-token"  # noqa: S105 - a throwaway credential for a temporary server
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIKENESS_")}
    env.update({
        "LIKENESS_DATA_DIR": str(tmp), "LIKENESS_LOG_FORMAT": "json", "LIKENESS_LOG_LEVEL": "warning",
        "LIKENESS_CALLERS": json.dumps([{"name": "bench", "roles": ["admin"], "token_sha256": hash_token(token)}]),
        "LIKENESS_MAX_WORKERS": "32",
    })
    if database_url:
        env["LIKENESS_DATABASE_URL"] = database_url
        env["LIKENESS_AUTO_MIGRATE"] = "true"
    port_file = tmp / "port"
    code = (
        "import sys, threading; from identity_service.settings import Settings; "
        "from identity_service.logs import configure; from identity_service.wiring import build_app; "
        "from identity_service.transport import server as s; st = Settings(listen_address='127.0.0.1:0'); "
        "configure(st.log_format, st.log_level); app = build_app(st); srv, port, h = s.create_server(app); "
        "srv.start(); s.set_serving(h, True); open(sys.argv[1], 'w').write(str(port)); "
        "ev = threading.Event(); import signal; signal.signal(signal.SIGTERM, lambda *a: ev.set()); ev.wait(); "
        "srv.stop(2).wait(); app.close()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(port_file)], env=env, text=True)
    deadline = time.monotonic() + 60
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("server did not start")
        time.sleep(0.1)
    return proc, int(port_file.read_text()), token


@contextmanager
def throwaway_schema(url: str) -> Iterator[str]:
    """On PostgreSQL, a fresh schema (dropped afterwards) named in the URL's search_path."""
    if not url.startswith("postgresql"):
        yield url
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def closed_loop(call: Callable[[], Any], concurrency: int, seconds: float) -> dict[str, float]:
    """Keep `concurrency` calls in flight for `seconds`; returns rate and latency percentiles."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    done = threading.Semaphore(0)

    def launch() -> None:
        started = time.perf_counter()
        future = call()

        def finished(f: Any) -> None:
            nonlocal errors
            elapsed = time.perf_counter() - started
            with lock:
                if f.exception() is None:
                    latencies.append(elapsed)
                else:
                    errors += 1
            if time.perf_counter() < stop_at:
                launch()
            else:
                done.release()

        future.add_done_callback(finished)

    t0 = time.perf_counter()
    for _ in range(concurrency):
        launch()
    for _ in range(concurrency):
        done.acquire()
    wall = time.perf_counter() - t0
    latencies.sort()
    n = len(latencies)
    return {
        "calls": n, "errors": errors, "per_second": n / wall,
        "p50_ms": latencies[n // 2] * 1000 if n else 0.0, "p99_ms": latencies[int(n * 0.99)] * 1000 if n else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, throwaway_schema(args.database_url) as database_url:
        proc, port, token = start_server(Path(tmp), database_url)
        try:
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            md = [("authorization", f"Bearer {token}")]
            consent = rpc.ConsentServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            for owner in range(50):
                consent.UpdateCameoPolicy(pb.UpdateCameoPolicyRequest(policy=pb.CameoPolicy(
                    owner_id=f"owner{owner}", audience=pb.AUDIENCE_PUBLIC)), metadata=md, timeout=10)
            counter = iter(range(10**9))

            def check_call() -> Any:
                i = next(counter)
                return consent.CheckCameoPermission.future(pb.CheckCameoPermissionRequest(
                    owner_id=f"owner{i % 50}", requester_id=f"user{i % 997}", purpose="bench"), metadata=md, timeout=10)

            def health_call() -> Any:
                return health.Check.future(health_pb2.HealthCheckRequest(), timeout=10)

            closed_loop(health_call, args.concurrency, 1.0)  # warm up
            baseline = closed_loop(health_call, args.concurrency, args.seconds)
            checks = closed_loop(check_call, args.concurrency, args.seconds)
            sample = consent.CheckCameoPermission(pb.CheckCameoPermissionRequest(owner_id="owner1", requester_id="x"),
                                                  metadata=md, timeout=10)
            keys = keys_from_jwks(consent.GetPublicKeys(pb.GetPublicKeysRequest(), metadata=md, timeout=10).jwks_json)
            channel.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    revocations = RevocationList()
    for i in range(1000):
        revocations.add(cursor=i + 1, grant=f"subjects/o/grants/{i:016x}", owner_id="o", revoke_time_s=0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 3.0:
        verify_use_token(sample.use_token, keys, issuer="likeness-consent", audience="bench", owner="owner1",
                         revocations=revocations)
        n += 1
    verify_rate = n / (time.perf_counter() - t0)
    # Baselines: the bare Ed25519 signature check on the same token, nothing else, with the
    # library the verifier uses (libsodium via PyNaCl) and with OpenSSL via cryptography.
    head, body, sig = sample.use_token.split(".")
    signature = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    message = f"{head}.{body}".encode()
    key = next(iter(keys.values()))
    sodium_key = VerifyKey(key.public_bytes_raw())

    def bare_rate(verify_once: Callable[[], object]) -> float:
        m, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 2.0:
            verify_once()
            m += 1
        return m / (time.perf_counter() - t0)

    bare_sodium = bare_rate(lambda: sodium_key.verify(message, signature))
    bare_openssl = bare_rate(lambda: key.verify(signature, message))
    ratio = baseline["per_second"] / checks["per_second"] if checks["per_second"] else float("inf")
    print(f"{'':<26}{'per s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, row in (("health check (baseline)", baseline), ("CheckCameoPermission", checks)):
        print(f"{name:<26}{row['per_second']:>10,.0f}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}{row['errors']:>8}")
    print(f"check cost vs health check: {ratio:.2f}x")
    print(f"offline verifications/s (1 core): {verify_rate:,.0f}  (bare libsodium Ed25519 verify: "
          f"{bare_sodium:,.0f}/s, verifier costs {bare_sodium / verify_rate:.2f}x; bare OpenSSL verify: "
          f"{bare_openssl:,.0f}/s)")
    print(json.dumps({
        "concurrency": args.concurrency, "seconds": args.seconds,
        "dialect": "postgresql" if args.database_url else "sqlite",
        "checks_per_s": round(checks["per_second"], 1), "check_p50_ms": round(checks["p50_ms"], 2),
        "check_p99_ms": round(checks["p99_ms"], 2), "check_errors": checks["errors"],
        "health_per_s": round(baseline["per_second"], 1), "check_cost_vs_health": round(ratio, 2),
        "verifications_per_s": round(verify_rate, 1), "bare_libsodium_verify_per_s": round(bare_sodium, 1),
        "verifier_cost_vs_bare": round(bare_sodium / verify_rate, 2),
        "bare_openssl_verify_per_s": round(bare_openssl, 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())

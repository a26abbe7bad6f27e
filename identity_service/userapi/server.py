"""Runs the user API with uvicorn in a thread beside the gRPC server: start_user_api(app) -> (server, port)."""

from __future__ import annotations

import socket
import threading

import uvicorn

from identity_service.userapi.app import create_user_api
from identity_service.userapi.auth import UserTokenVerifier
from identity_service.wiring import App


class UserApiServer:
    """A started uvicorn server on a socket bound before start, so port 0 works."""

    def __init__(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self._server = server
        self._sock = sock
        self._thread = threading.Thread(target=self._run, name="user-api", daemon=True)

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = threading.Event()
        while not self._server.started and self._thread.is_alive():
            deadline.wait(0.02)
            timeout -= 0.02
            if timeout <= 0:
                raise RuntimeError("user API did not start in time")
        if not self._server.started:
            raise RuntimeError("user API failed to start; see the log")

    def stop(self, grace_seconds: float) -> None:
        """Stop accepting, let in-flight requests finish within the grace period, then close."""
        self._server.should_exit = True
        self._thread.join(grace_seconds + 5)
        self._sock.close()


def verifier_from_settings(app: App) -> UserTokenVerifier:
    s = app.settings
    try:
        return UserTokenVerifier.from_files(
            jwks_file=s.user_token_jwks_file, public_key_file=s.user_token_public_key_file,
            issuer=s.user_token_issuer, audience=s.user_token_audience, algorithms=s.user_token_algorithms,
            leeway_seconds=s.user_token_leeway_seconds, max_lifetime_seconds=s.user_token_max_lifetime_seconds,
        )
    except ValueError as exc:
        keys = "LIKENESS_USER_TOKEN_JWKS_FILE / LIKENESS_USER_TOKEN_PUBLIC_KEY_FILE"
        raise SystemExit(f"user API: {exc} ({keys})") from exc


def start_user_api(
    app: App, address: str | None = None, *, verifier: UserTokenVerifier | None = None
) -> tuple[UserApiServer, int]:
    """Bind ``address`` (default: settings), start serving in a thread; returns the server and port."""
    bind = address or app.settings.user_api_listen_address
    host, _, port_text = bind.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port_text)))
    except (OSError, ValueError) as exc:
        sock.close()
        raise SystemExit(f"user API: could not bind {bind}: {exc}") from exc
    sock.listen(512)
    sock.set_inheritable(True)
    api = create_user_api(app, verifier or verifier_from_settings(app))
    config = uvicorn.Config(
        api, log_config=None, access_log=False, lifespan="off", server_header=False,
        timeout_graceful_shutdown=max(1, int(app.settings.grace_period_seconds)),
        limit_concurrency=app.settings.max_concurrent_rpcs,
    )
    server = UserApiServer(uvicorn.Server(config), sock)
    server.start()
    return server, sock.getsockname()[1]


def serve_user_api(app: App) -> None:
    """Run only the user API (no gRPC, no models) until SIGTERM or SIGINT: what the chart's
    user-API Deployment runs, so it scales apart from the model-heavy gRPC pods."""
    import signal

    import structlog

    log = structlog.get_logger(__name__)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    from identity_service.metrics import serve_if_configured

    metrics_server = serve_if_configured(app.settings.metrics_listen_address)
    server, port = start_user_api(app)
    log.info("user_api_serving", address=f"{app.settings.user_api_listen_address.rsplit(':', 1)[0]}:{port}")
    stop.wait()
    server.stop(app.settings.grace_period_seconds)
    if metrics_server is not None:
        metrics_server.shutdown()
    app.close()
    log.info("stopped")

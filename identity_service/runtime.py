"""The running service: the gRPC server beside the user API and the metrics endpoint, the search
index's polling, periodic audit checkpoints, and a graceful stop on SIGTERM. Neither transport
starts the other; this module starts both."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import structlog

from identity_service.transport.server import create_server, set_serving
from identity_service.wiring import App

log = structlog.get_logger(__name__)


def serve(app: App, *, ready: threading.Event | None = None) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully: health goes NOT_SERVING, new calls
    are refused, in-flight calls get the grace period to finish."""
    if not app.settings.all_callers():
        # Every RPC but health is then refused; say so at start rather than on each call.
        log.warning("no_callers", why="every call but health will be refused UNAUTHENTICATED: add callers with "
                    "`identity-service callers new NAME --role ROLE` into LIKENESS_CALLERS or LIKENESS_CALLERS_FILE, "
                    "then restart serve")
    server, port, health_servicer = create_server(app)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("shutdown_requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if app.likeness is not None:
        app.likeness.build_index()
        app.likeness.start_polling(app.settings.index_poll_seconds)
    from identity_service.metrics import serve_if_configured

    metrics_server = serve_if_configured(app.settings.metrics_listen_address)
    user_api = None
    verifier = None
    if app.settings.user_api_enabled():
        from identity_service.userapi.server import start_user_api, verifier_from_settings

        verifier = verifier_from_settings(app)  # a bad key file stops the start before anything serves
    server.start()
    if verifier is not None:
        user_api, user_port = start_user_api(app, verifier=verifier)
        user_host = app.settings.user_api_listen_address.rsplit(":", 1)[0]
        log.info("user_api_serving", address=f"{user_host}:{user_port}")
    else:
        log.warning("user_api_disabled", why="set LIKENESS_USER_TOKEN_JWKS_FILE or LIKENESS_USER_TOKEN_PUBLIC_KEY_FILE "
                    "and LIKENESS_USER_API_LISTEN_ADDRESS to serve the user API")
    set_serving(health_servicer, True)
    host = app.settings.listen_address.rsplit(":", 1)[0]
    log.info("serving", address=f"{host}:{port}", dialect=app.store.dialect, tls=app.settings.tls_cert_file is not None)
    if ready is not None:
        ready.set()
    # Sign a checkpoint on an interval, so a quiet log's tail does not stay unsigned for long.
    while not stop.wait(app.settings.audit_checkpoint_seconds):
        try:
            app.audit.checkpoint()
        except Exception:
            log.exception("audit_checkpoint_failed")
    set_serving(health_servicer, False)
    grace = app.settings.grace_period_seconds
    grpc_stopped = server.stop(grace)
    if user_api is not None:
        user_api.stop(grace)
    grpc_stopped.wait(grace + 5)
    if metrics_server is not None:
        metrics_server.shutdown()
    try:
        app.audit.checkpoint()
    finally:
        app.close()
    log.info("stopped")

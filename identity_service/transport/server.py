"""The gRPC server: create_server(app, address) -> (server, port, health). ``runtime.serve`` runs
it beside the user API."""

from __future__ import annotations

from concurrent import futures

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from identity_service.settings import Settings
from identity_service.transport.audit_handlers import AuditHandlers
from identity_service.transport.auth import CallerRegistry
from identity_service.transport.consent_handlers import ConsentHandlers
from identity_service.transport.identity_handlers import IdentityHandlers
from identity_service.transport.interceptor import AuthFailureRecorder, ServiceInterceptor
from identity_service.wiring import App
from likeness.audit.v1 import audit_service_pb2, audit_service_pb2_grpc
from likeness.consent.v1 import consent_service_pb2, consent_service_pb2_grpc
from likeness.identity.v1 import identity_service_pb2, identity_service_pb2_grpc

log = structlog.get_logger(__name__)

SERVICE_NAMES = (
    identity_service_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name,
    consent_service_pb2.DESCRIPTOR.services_by_name["ConsentService"].full_name,
    audit_service_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
)


def _credentials(settings: Settings) -> grpc.ServerCredentials | None:
    if settings.tls_cert_file is None:
        return None
    if settings.tls_key_file is None:
        raise SystemExit("LIKENESS_TLS_CERT_FILE is set but LIKENESS_TLS_KEY_FILE is not")
    key = settings.tls_key_file.read_bytes()
    cert = settings.tls_cert_file.read_bytes()
    client_ca = settings.tls_client_ca_file.read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def create_server(
    app: App,
    address: str | None = None,
    *,
    on_auth_failure: AuthFailureRecorder | None = None,
) -> tuple[grpc.Server, int, health.HealthServicer]:
    """Build and bind (not start) the server; returns it, the bound port and its health servicer."""
    settings = app.settings
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.max_workers, thread_name_prefix="rpc"),
        interceptors=[
            ServiceInterceptor(CallerRegistry(settings.all_callers()), on_auth_failure or app.record_auth_failure,
                               max_message_bytes=settings.max_receive_message_bytes, on_refusal=app.record_refusal)
        ],
        options=[
            # Twice the limit in the transport: a message over the limit but under twice it reaches
            # the interceptor, which refuses it with MESSAGE_TOO_LARGE, an ErrorInfo and a request
            # id; only one over twice the limit gets gRPC's own bare RESOURCE_EXHAUSTED.
            ("grpc.max_receive_message_length", 2 * settings.max_receive_message_bytes),
            ("grpc.max_send_message_length", settings.max_send_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(
        IdentityHandlers(app.enrollments, settings, app.likeness, app.enroller, app.uploads), server
    )
    consent_service_pb2_grpc.add_ConsentServiceServicer_to_server(
        ConsentHandlers(app.consent, app.keyring, settings), server
    )
    audit_service_pb2_grpc.add_AuditServiceServicer_to_server(AuditHandlers(app.store, app.audit, settings), server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    bind = address or settings.listen_address
    credentials = _credentials(settings)
    port = (
        server.add_secure_port(bind, credentials)
        if credentials is not None
        else server.add_insecure_port(bind)
    )
    if port == 0:
        raise SystemExit(f"could not bind {bind}")
    return server, port, health_servicer


def set_serving(health_servicer: health.HealthServicer, serving: bool) -> None:
    status = (
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    for name in ("", *SERVICE_NAMES):
        health_servicer.set(name, status)

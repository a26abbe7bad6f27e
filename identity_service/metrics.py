"""Prometheus metrics: calls, errors and latency per RPC and endpoint, liveness outcomes per
check, model latency, search index size. Served on their own port (``/metrics``)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server

log = structlog.get_logger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

GRPC_CALLS = Counter("likeness_grpc_calls_total", "gRPC calls by method and status code.", ["method", "code"])
GRPC_LATENCY = Histogram("likeness_grpc_call_seconds", "gRPC call latency by method.", ["method"],
                         buckets=LATENCY_BUCKETS)
HTTP_CALLS = Counter("likeness_http_requests_total", "User API requests by route, method and status.",
                     ["route", "method", "status"])
HTTP_LATENCY = Histogram("likeness_http_request_seconds", "User API latency by route.", ["route", "method"],
                         buckets=LATENCY_BUCKETS)
LIVENESS_CHECKS = Counter("likeness_liveness_checks_total",
                          "Liveness check outcomes by check: pass, fail (a required check) or fail_optional.",
                          ["check", "outcome"])
ENROLLMENTS = Counter("likeness_enrollments_total", "Enrollment uploads by outcome: active, failed or replayed.",
                      ["outcome"])
MODEL_LATENCY = Histogram("likeness_model_seconds", "Model inference latency by model file.", ["model"],
                          buckets=LATENCY_BUCKETS)
INDEX_TEMPLATES = Gauge("likeness_search_index_templates", "Face templates held by this replica's search index.")
INDEX_BYTES = Gauge("likeness_search_index_bytes",
                    "Memory held by this replica's face and voice search indexes (codes or vectors, and maps).")
INDEX_SUBJECTS = Gauge("likeness_search_index_subjects", "Subjects held by this replica's search index.")


def track_index(templates: Callable[[], float], subjects: Callable[[], float], nbytes: Callable[[], float]) -> None:
    """Report the index size from the live index at every scrape."""
    INDEX_TEMPLATES.set_function(templates)
    INDEX_SUBJECTS.set_function(subjects)
    INDEX_BYTES.set_function(nbytes)


class PrometheusIdentityMetrics:
    """The identity domain's ``IdentityMetrics`` over the counters above."""

    def liveness_check(self, check: str, outcome: str) -> None:
        LIVENESS_CHECKS.labels(check, outcome).inc()

    def enrollment(self, outcome: str) -> None:
        ENROLLMENTS.labels(outcome).inc()

    def track_index(self, templates: Callable[[], float], subjects: Callable[[], float],
                    nbytes: Callable[[], float]) -> None:
        track_index(templates, subjects, nbytes)


def start_metrics_server(address: str) -> tuple[WSGIServer, int]:
    """Serve /metrics on ``host:port`` (port 0 picks one) in a daemon thread."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        server, _thread = start_http_server(int(port), addr=host, registry=REGISTRY)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"metrics: could not bind {address}: {exc}") from exc
    bound = server.socket.getsockname()[1] if isinstance(server.socket, socket.socket) else int(port)
    return server, int(bound)


def serve_if_configured(address: str) -> WSGIServer | None:
    """Start /metrics when an address is configured (empty turns it off) and log where."""
    if not address:
        return None
    server, port = start_metrics_server(address)
    log.info("metrics_serving", address=f"{address.rsplit(':', 1)[0]}:{port}")
    return server

"""structlog setup: JSON lines in production, readable lines on a terminal.

Never pass templates, embeddings, tokens or media to a logger: log subject ids and decisions.
A processor below drops keys whose names say they hold such data, as a second line of defence.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from identity_service.settings import LogFormat

# Keys that must never reach a log line, whatever a caller passes.
FORBIDDEN_KEYS = frozenset(
    {"token", "use_token", "bearer", "authorization", "template", "embedding", "media",
     "chunk", "content", "nonce", "password", "secret", "private_key"}
)


def drop_sensitive(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace values of forbidden keys so they can never be written."""
    for key in list(event_dict):
        if key.lower() in FORBIDDEN_KEYS:
            event_dict[key] = "[redacted]"
    return event_dict


def configure(log_format: LogFormat = LogFormat.AUTO, level: str = "info") -> None:
    """Configure structlog and the stdlib root logger once at process start."""
    use_console = log_format == LogFormat.CONSOLE or (
        log_format == LogFormat.AUTO and sys.stderr.isatty()
    )
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            drop_sensitive,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries that log through the standard library (alembic, grpc, uvicorn) go through the same
    # renderer, so a JSON log stream stays JSON lines: alembic's plain-text lines used to break it.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processor=renderer,
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            drop_sensitive,
        ],
    ))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)

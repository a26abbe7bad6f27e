"""Time helpers: one clock for the service (injectable in tests) and epoch-microsecond codecs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch; naive datetimes are rejected, not guessed."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(micros: int) -> datetime:
    """The UTC datetime for microseconds since the epoch."""
    seconds, rest = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest)

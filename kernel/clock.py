"""Time helpers: one clock for the service (injectable in tests) and epoch-microsecond codecs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

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


EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)


def from_us(micros: int) -> datetime:
    """The UTC datetime for microseconds since the epoch, clamped to what a datetime can hold:
    a stored value is always readable (0001-01-01T00:00+14:00 is in year 0 in UTC)."""
    micros = min(max(micros, to_us(EARLIEST)), to_us(LATEST))
    seconds, rest = divmod(micros, 1_000_000)
    return EARLIEST + timedelta(seconds=seconds - to_us(EARLIEST) // 1_000_000, microseconds=rest)


def in_range(moment: datetime, *, earliest: datetime, latest: datetime) -> bool:
    """Whether an aware datetime lies within [earliest, latest], comparing in UTC; a moment so
    near the ends of the calendar that UTC cannot hold it is out of range, not an error."""
    try:
        return earliest <= moment.astimezone(UTC) <= latest
    except (OverflowError, ValueError):
        return False

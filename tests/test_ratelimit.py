"""The per-user token bucket, on a fake clock (a test double for time.monotonic)."""

from __future__ import annotations

import pytest

from identity_service.userapi.ratelimit import RateLimiter
from kernel.errors import RateLimited


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate_then_refill() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=2.0, burst=3, clock=clock)
    for _ in range(3):
        limiter.take("u")
    with pytest.raises(RateLimited) as caught:
        limiter.take("u")
    assert caught.value.metadata == {"retry_after_seconds": "1"}
    limiter.take("v")  # another key is independent
    clock.now += 0.5  # one token back at 2/s
    limiter.take("u")
    with pytest.raises(RateLimited):
        limiter.take("u")
    clock.now += 100  # refills up to the burst, no further
    for _ in range(3):
        limiter.take("u")
    with pytest.raises(RateLimited):
        limiter.take("u")


def test_memory_is_bounded_by_dropping_the_longest_idle_keys() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=1.0, burst=1, max_keys=2, clock=clock)
    limiter.take("a")
    limiter.take("b")
    limiter.take("c")  # evicts "a", whose bucket starts full again
    limiter.take("a")
    with pytest.raises(RateLimited):
        limiter.take("c")


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate_per_second=0, burst=1)
    with pytest.raises(ValueError):
        RateLimiter(rate_per_second=1, burst=0)

"""Per-user token buckets: a burst, then a sustained rate. In process memory, so the limit is per
replica; the HorizontalPodAutoscaler's replica count multiplies it."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from kernel.errors import RateLimited


class RateLimiter:
    """Token bucket per key; ``take`` raises RateLimited with the wait a caller should honour."""

    def __init__(
        self, *, rate_per_second: float, burst: int, max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("rate_per_second must be > 0 and burst >= 1")
        self._rate = rate_per_second
        self._burst = float(burst)
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (tokens, last refill); ordered by last use so the oldest idle keys are dropped
        # first, which bounds memory under a flood of distinct keys.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> None:
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                raise RateLimited(max(1, math.ceil((1.0 - tokens) / self._rate)))
            self._buckets[key] = (tokens - 1.0, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)

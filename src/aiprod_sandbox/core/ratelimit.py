"""The per-account token bucket, on the account's clock.

Capacity is the tier's burst; tokens refill at `requests_per_minute / 60` per second; each
allowed request takes one token and a refused one takes none. A tier with no limit is never
refused and reports `UNLIMITED` in its headers, so clients that `int()` them keep working.
"""

from __future__ import annotations

import math
from typing import NamedTuple

UNLIMITED = 1_000_000
_EPSILON = 1e-9  # float slack, so a request sent exactly at Retry-After passes


class Decision(NamedTuple):
    """One request's outcome at the bucket, with the figures of its headers. A named tuple:
    every API request makes one."""

    allowed: bool
    limit: int  # requests per minute
    remaining: int  # whole tokens left after this request
    reset: int  # Unix seconds when the bucket is full again
    retry_after: int  # whole seconds until a request would pass (0 when allowed)


class TokenBucket:
    def __init__(self, per_minute: int | None, burst: int | None, now: float) -> None:
        self.per_minute = per_minute
        self.capacity = float(burst if burst is not None else per_minute or 0)
        self.rate = (per_minute or 0) / 60.0
        self.tokens = self.capacity
        self.updated = now

    @property
    def unlimited(self) -> bool:
        return self.per_minute is None

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        elif now < self.updated:  # the clock went back: refill from here, not from the future
            self.updated = now

    def peek(self, now: float) -> Decision:
        """The headers' figures now, taking no token."""
        return self._decision(True, now)

    def take(self, now: float) -> Decision:
        if self.per_minute is None:
            return Decision(True, UNLIMITED, UNLIMITED, math.ceil(now), 0)
        self._refill(now)
        allowed = self.tokens + _EPSILON >= 1.0
        if allowed:
            self.tokens = max(0.0, self.tokens - 1.0)
        return self._figures(allowed, now)

    def _decision(self, allowed: bool, now: float) -> Decision:
        if self.per_minute is None:
            return Decision(True, UNLIMITED, UNLIMITED, math.ceil(now), 0)
        self._refill(now)
        return self._figures(allowed, now)

    def _figures(self, allowed: bool, now: float) -> Decision:
        """The decision's figures, the bucket refilled to `now` (every API request: the
        tuple made positionally)."""
        remaining = math.floor(self.tokens + _EPSILON)
        full_in = (self.capacity - self.tokens) / self.rate
        retry = 0
        if not allowed:
            retry = max(1, math.ceil((1.0 - self.tokens) / self.rate - _EPSILON))
        reset = math.ceil(now + full_in - _EPSILON)
        return Decision(allowed, self.per_minute or 0, remaining, reset, retry)

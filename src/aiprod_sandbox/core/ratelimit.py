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
        return self._settle(now, take=False)

    def take(self, now: float) -> Decision:
        return self._settle(now, take=True)

    def _settle(self, now: float, *, take: bool) -> Decision:
        """Refill to `now`, take a token if asked and one is there, and say the figures (every
        API request comes here: the tuple is made positionally)."""
        if self.per_minute is None:
            return Decision(True, UNLIMITED, UNLIMITED, math.ceil(now), 0)
        self._refill(now)
        allowed = True
        retry = 0
        if take:
            allowed = self.tokens + _EPSILON >= 1.0
            if allowed:
                self.tokens = max(0.0, self.tokens - 1.0)
            else:
                retry = max(1, math.ceil((1.0 - self.tokens) / self.rate - _EPSILON))
        remaining = math.floor(self.tokens + _EPSILON)
        full_in = (self.capacity - self.tokens) / self.rate
        reset = math.ceil(now + full_in - _EPSILON)
        return Decision(allowed, self.per_minute, remaining, reset, retry)

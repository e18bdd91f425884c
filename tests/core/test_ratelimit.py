"""The token bucket against a reference model in exact rational arithmetic.

The model is the contract's bucket (section 4) written the plainest way: capacity = burst,
refill `rpm / 60` tokens per second of the account's clock, one token per allowed request, none
for a refused one. Request times are whole milliseconds, so the model's figures are exact
fractions and the bucket's float arithmetic has to land on the same side of every boundary —
in particular, a request sent exactly `Retry-After` seconds after a refusal must pass.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from fractions import Fraction

from hypothesis import example, given, settings
from hypothesis import strategies as st

from aiprod_sandbox.api.responses import rate_limit_headers
from aiprod_sandbox.core.ratelimit import UNLIMITED, Decision, TokenBucket

START = 1_780_000_000  # the suite's manual-clock start, a realistic Unix time
GUIDE_TIERS = [(10, 5), (100, 50)]  # Free and Pro, as the guide's table says


@dataclass
class ModelBucket:
    """The reference: exact tokens (a Fraction) at an exact time (a Fraction)."""

    rpm: int
    burst: int
    tokens: Fraction
    updated: Fraction

    @classmethod
    def new(cls, rpm: int, burst: int, at: Fraction) -> ModelBucket:
        return cls(rpm, burst, Fraction(burst), at)

    @property
    def rate(self) -> Fraction:
        return Fraction(self.rpm, 60)

    def _refill(self, at: Fraction) -> None:
        if at > self.updated:
            self.tokens = min(Fraction(self.burst), self.tokens + (at - self.updated) * self.rate)
            self.updated = at

    def take(self, at: Fraction) -> tuple[bool, int, int, int]:
        """(allowed, remaining, reset, retry_after) for a request at `at`."""
        self._refill(at)
        allowed = self.tokens >= 1
        if allowed:
            self.tokens -= 1
        remaining = math.floor(self.tokens)
        reset = math.ceil(at + (self.burst - self.tokens) / self.rate)
        retry_after = 0 if allowed else math.ceil((1 - self.tokens) / self.rate)
        return allowed, remaining, reset, retry_after


tiers = st.one_of(
    st.sampled_from(GUIDE_TIERS),
    st.tuples(st.integers(1, 600), st.integers(1, 100)),
)
# Gaps between requests, in milliseconds: mostly bursts, sometimes long pauses.
gaps = st.one_of(
    st.just(0),
    st.integers(0, 50),
    st.integers(0, 2_000),
    st.integers(0, 120_000),
)


def run_against_model(rpm: int, burst: int, base_ms: int, steps: list[int]) -> None:
    bucket = TokenBucket(rpm, burst, base_ms / 1000)
    model = ModelBucket.new(rpm, burst, Fraction(base_ms, 1000))
    at_ms = base_ms
    for index, gap in enumerate(steps):
        at_ms += gap
        at = at_ms / 1000  # the float the account's clock would hand the bucket
        exact = Fraction(at_ms, 1000)
        allowed, remaining, reset, retry_after = model.take(exact)
        probe = copy.deepcopy(bucket)
        decision = bucket.take(at)
        where = f"request {index} at t={at_ms} ms (rpm {rpm}, burst {burst})"
        assert decision.allowed is allowed, where
        assert decision.limit == rpm, where
        assert decision.remaining == remaining, where
        assert decision.reset == reset, where
        assert decision.retry_after == retry_after, where
        if not allowed:
            assert decision.retry_after >= 1, where
            # The promise of Retry-After: at exactly now + Retry-After, a request passes.
            retry_at = at_ms + 1000 * decision.retry_after
            assert probe.take(retry_at / 1000).allowed, f"{where}: retry at +{retry_after} s"
            again = copy.deepcopy(bucket)
            assert again.take(retry_at / 1000).allowed, f"{where}: retry after refusal"
        else:
            assert decision.retry_after == 0, where


@settings(max_examples=400, deadline=None)
@given(
    tier=tiers,
    base_ms=st.integers(0, 10**8),
    steps=st.lists(gaps, min_size=1, max_size=80),
)
@example(tier=(10, 5), base_ms=0, steps=[0] * 7 + [6000, 0, 5999, 1])
@example(tier=(100, 50), base_ms=0, steps=[0] * 52 + [600, 0, 599, 1])
def test_bucket_matches_the_exact_model(
    tier: tuple[int, int], base_ms: int, steps: list[int]
) -> None:
    rpm, burst = tier
    run_against_model(rpm, burst, base_ms, steps)


@settings(max_examples=200, deadline=None)
@given(
    tier=st.sampled_from(GUIDE_TIERS),
    steps=st.lists(st.one_of(st.just(0), st.integers(0, 9), st.integers(0, 60)), max_size=60),
)
def test_bucket_on_the_account_clock_at_unix_times(tier: tuple[int, int], steps: list[int]) -> None:
    """The account clock runs at Unix times (~1.78e9 s); whole-second steps are exact there."""
    rpm, burst = tier
    run_against_model(rpm, burst, START * 1000, [1000 * gap for gap in steps] or [0])


def test_free_tier_by_hand() -> None:
    """Free: five at once, the sixth refused for 6 s; one token every 6 s after that."""
    bucket = TokenBucket(10, 5, 100.0)
    decisions = [bucket.take(100.0) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    assert decisions[-1].retry_after == 6
    assert decisions[-1].reset == 130  # five tokens at 1 per 6 s
    assert not bucket.take(105.999).allowed
    passed = bucket.take(106.0)
    assert passed.allowed and passed.remaining == 0 and passed.reset == 136
    assert bucket.take(106.0).retry_after == 6


def test_refused_requests_take_no_token() -> None:
    bucket = TokenBucket(10, 5, 0.0)
    for _ in range(5):
        bucket.take(0.0)
    for _ in range(50):
        assert not bucket.take(3.0).allowed  # half a token, however often it is asked
    assert bucket.take(6.0).allowed


@settings(max_examples=200, deadline=None)
@given(
    base_ms=st.one_of(st.integers(0, 10**8), st.just(START * 1000)),
    steps=st.lists(gaps, min_size=1, max_size=300),
)
def test_unlimited_is_never_refused_and_reports_a_million(base_ms: int, steps: list[int]) -> None:
    bucket = TokenBucket(None, None, base_ms / 1000)
    assert bucket.unlimited
    at_ms = base_ms
    for gap in steps:
        at_ms += gap
        at = at_ms / 1000
        decision = bucket.take(at)
        # Always full: Reset is now, rounded up to a whole second.
        assert decision == Decision(True, UNLIMITED, UNLIMITED, math.ceil(Fraction(at_ms, 1000)), 0)
        assert rate_limit_headers(decision) == {
            "X-RateLimit-Limit": "1000000",
            "X-RateLimit-Remaining": "1000000",
            "X-RateLimit-Reset": str(decision.reset),
        }


def test_peek_takes_no_token() -> None:
    bucket = TokenBucket(10, 5, 0.0)
    for _ in range(20):
        assert bucket.peek(0.0).remaining == 5
    assert bucket.take(0.0).remaining == 4
    assert bucket.peek(0.0).remaining == 4


def test_headers_are_the_decision_as_strings() -> None:
    decision = TokenBucket(100, 50, 1000.0).take(1000.0)
    assert rate_limit_headers(decision) == {
        "X-RateLimit-Limit": "100",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": "1001",  # one token back at 100/min = 0.6 s, rounded up
    }


def test_a_bucket_refills_after_its_clock_went_back() -> None:
    """Before: a clock set back (a state import could do it) left `updated` in the future,
    so the bucket never refilled again: the account was locked out for good."""
    bucket = TokenBucket(10, 5, now=1_000.0)  # Free: a token every 6 s
    for _ in range(5):
        assert bucket.take(1_000.0).allowed
    assert not bucket.take(1_000.0).allowed
    assert not bucket.take(500.0).allowed  # the clock is back at 500: still empty...
    assert bucket.take(506.0).allowed  # ...and refilling from there, a token every 6 s

"""Test doubles for the core tests: a wall clock that only moves when a test moves it."""

from __future__ import annotations

START = 1_780_000_000.0  # 2026-05-28T20:26:40Z


class FakeWall:
    """A mutable wall time; `step` moves it (backwards too, to mimic an NTP correction)."""

    def __init__(self, at: float = START) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at

    def step(self, seconds: float) -> None:
        self.at += seconds

"""Per-account clocks and the scheduler of due work.

This is the only module that reads the wall clock. A `Clock` is real (wall time), manual
(frozen until advanced) or scaled (wall time running `scale` times faster); all three are one
formula, `now = anchor + (wall() - wall_anchor) * rate`, re-anchored on every change, so the
time a clock shows never goes backwards. A `Scheduler` holds an account's due work in time
order; whoever owns the account decides what each entry means.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Literal, NamedTuple

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from ..errors import Conflict, ValidationFailed

WallTime = Callable[[], float]
ClockMode = Literal["real", "manual", "scaled"]


# Wall time in Unix seconds; the default source every clock is built on. `time.time` itself,
# not a function around it: a clock reads it on every request (issue 20).
system_time: WallTime = time.time


def monotonic() -> float:
    """Monotonic seconds, for measuring durations (latency), never for timestamps."""
    return time.perf_counter()


# Clocks stay within years 1970-9000, so every time they show can be written (and advanced).
LATEST = datetime(9000, 1, 1, tzinfo=UTC).timestamp()
MAX_SCALE = 1_000_000.0  # clock seconds per real second


def iso(at: float) -> str:
    """Unix seconds as the guide writes times: `2026-02-04T10:30:00Z`."""
    return _iso_second(int(min(max(at, 0.0), LATEST)))


def iso_ms(at: float) -> str:
    """`iso(at)` with milliseconds, as HAR files write times: `2026-02-04T10:30:00.250Z`."""
    clamped = min(max(at, 0.0), LATEST)
    second = int(clamped)
    millis = min(999, int(round((clamped - second) * 1000)))
    return f"{_iso_second(second)[:-1]}.{millis:03d}Z"


def iso_or_none(at: float | None) -> str | None:
    """`iso(at)`, or None for a time that has not come (a job not started yet)."""
    return None if at is None else iso(at)


@functools.lru_cache(maxsize=4096)
def _iso_second(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# RFC 3339, what JSON Schema's "date-time" means; the document says so with this pattern too.
# The years run 1971-8999 in the pattern: with any UTC offset such a time is one a clock can
# show (1970 to 9000), so what the document allows the check accepts.
ISO_PATTERN = (
    r"^(?:197[1-9]|19[89][0-9]|[2-8][0-9]{3})-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
ISO_SCHEMA = {"type": "string", "format": "date-time", "pattern": ISO_PATTERN}


def parse_iso(text: str) -> float:
    """An ISO 8601 time with an offset or `Z` as Unix seconds; raises ValueError otherwise."""
    if len(text) == 24 and text[10] == "T" and text[19] == "." and text[23] == "Z":
        at = _parse_ms(text)  # `iso_ms`'s own form: a data directory holds a million of them
        if at is not None:
            return at
    stamp = datetime.fromisoformat(text.strip().upper().replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        raise ValueError("time needs a UTC offset or 'Z'")
    return stamp.timestamp()


@functools.lru_cache(maxsize=256)  # a job's times are often one instant, said ten times
def _parse_ms(text: str) -> float | None:
    """`2026-02-04T10:30:00.250Z` as Unix seconds, the same float `datetime` makes (one
    rounding, of milliseconds / 1000), or None to take the general path."""
    minute, second, millis = text[14:16], text[17:19], text[20:23]
    if not (minute.isdigit() and second.isdigit() and millis.isdigit() and text[16] == ":"):
        return None
    if int(minute) > 59 or int(second) > 59:
        return None
    hour = _hour_start(text[:13])
    if hour is None:
        return None
    return ((hour + int(minute) * 60 + int(second)) * 1000 + int(millis)) / 1000


@functools.lru_cache(maxsize=4096)
def _hour_start(prefix: str) -> int | None:
    """Unix seconds of `2026-02-04T10` (None when it is not such an hour)."""
    try:
        stamp = datetime.fromisoformat(prefix + ":00:00+00:00")
    except ValueError:
        return None
    return (stamp - _EPOCH).days * 86400 + (stamp - _EPOCH).seconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class OutOfRange(ValueError):
    """A well-formed time that no clock can show."""


def parse_clock_time(text: str) -> float:
    """`parse_iso`, for a time a clock can show (1970 to the year 9000): the one check of
    every time that comes in (a request, a state document, a fixture, `--start-time`)."""
    at = parse_iso(text)
    if not 0 <= at <= LATEST:
        raise OutOfRange("must be between 1970 and the year 9000")
    return at


def _check_iso(value: str) -> str:
    try:
        parse_clock_time(value)
    except OutOfRange as exc:
        raise PydanticCustomError("time", "Must be between 1970 and the year 9000") from exc
    except ValueError as exc:
        raise PydanticCustomError("time", "Must be an ISO 8601 time with an offset or Z") from exc
    return value


# A field holding such a time, in the models of every layer.
IsoTime = Annotated[str, AfterValidator(_check_iso), WithJsonSchema(ISO_SCHEMA)]


def _check_scale(scale: float) -> None:
    if not (0 < scale <= MAX_SCALE):  # also refuses NaN and infinity
        raise ValidationFailed(
            details={"scale": f"Must be a number above 0, at most {MAX_SCALE:g}"}
        )


def _check_time(field: str, at: float) -> None:
    if not (0 <= at <= LATEST):  # also refuses NaN and infinity
        raise ValidationFailed(details={field: "The clock stays between 1970 and the year 9000"})


class Clock:
    """One account's clock."""

    def __init__(
        self,
        wall: WallTime = system_time,
        *,
        mode: ClockMode = "real",
        start: float | None = None,
        scale: float = 1.0,
    ) -> None:
        _check_scale(scale)
        if start is not None:
            if not math.isfinite(start):
                raise ValidationFailed(details={"now": "Must be a finite time"})
            start = min(max(start, 0.0), LATEST)  # a clock lives between 1970 and 9000
        self._wall = wall
        self._wall_anchor = wall()  # read once: the clock stands exactly on `start`
        self._anchor = self._wall_anchor if start is None else start
        self._last = self._anchor
        self._mode: ClockMode = mode
        self._scale = 1.0 if mode == "real" else scale
        if mode == "real" and scale != 1.0:
            self._mode, self._scale = "scaled", scale

    @property
    def wall(self) -> WallTime:
        return self._wall

    def anchors(self) -> tuple[float, float]:
        """(clock time, wall time) of the last change: with the mode and scale, the whole
        clock (a store keeps them, so a real clock has moved on when the server is back)."""
        return self._anchor, self._wall_anchor

    @classmethod
    def resume(
        cls, wall: WallTime, mode: ClockMode, scale: float, anchor: float, wall_anchor: float
    ) -> Clock:
        """The clock `anchors()` described, as it stands now."""
        clock = cls(wall, mode=mode, start=anchor, scale=scale)
        clock._wall_anchor = wall_anchor
        clock._last = anchor
        return clock

    @property
    def mode(self) -> ClockMode:
        return self._mode

    @property
    def scale(self) -> float:
        return self._scale

    def now(self) -> float:
        rate = 0.0 if self._mode == "manual" else self._scale  # clock seconds a real second
        current = self._anchor + (self._wall() - self._wall_anchor) * rate
        if current > LATEST:
            current = LATEST  # a fast clock stops at the end of time, not past it
        if current < self._last:  # the wall clock stepped back; ours does not
            return self._last
        self._last = current
        return current

    def _reanchor(self, at: float) -> None:
        self._wall_anchor = self._wall()
        self._anchor = at
        self._last = at

    def set(
        self,
        *,
        mode: ClockMode | None = None,
        now: float | None = None,
        scale: float | None = None,
        at_least: bool = False,
    ) -> None:
        """Change mode, time or scale; time only moves forward (with `at_least`, a `now` in
        the past leaves the time where it is instead of refusing)."""
        current = self.now()
        if now is not None and not math.isfinite(now):
            raise ValidationFailed(details={"now": "Must be a finite time"})
        if now is not None and at_least:
            now = max(now, current)
        if now is not None and now < current:
            raise Conflict(
                f"The clock only moves forward: it is {iso(current)} already",
                code="INVALID_TRANSITION",
                details={"now": f"must not be before the clock's current time {iso(current)}"},
            )
        if scale is not None:
            _check_scale(scale)
        self._reanchor(current if now is None else min(now, LATEST))  # stops at the end of time
        if mode is not None:
            self._mode = mode
            if mode == "real":
                self._scale = 1.0
        if scale is not None:
            self._scale = scale
            if self._mode == "real" and scale != 1.0:
                self._mode = "scaled"

    def advance(self, seconds: float) -> float:
        """Move the clock forward by `seconds` (in any mode) and return the new time."""
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValidationFailed(details={"seconds": "Must be a number of seconds >= 0"})
        target = self.now() + seconds
        _check_time("seconds", target)
        self._reanchor(target)
        return self._anchor

    def describe(self) -> dict[str, object]:
        return {"mode": self._mode, "now": iso(self.now()), "scale": self._scale}


class Due(NamedTuple):
    """One piece of scheduled work: what (`kind`, `ref`) and when (`at`). A tuple, so the heap
    orders entries by (at, seq) in C: five are pushed and popped for every instant job."""

    at: float
    seq: int
    kind: str
    ref: str


class Scheduler:
    """Due work of one account, kept in time order (ties in the order they were scheduled)."""

    def __init__(self) -> None:
        self._heap: list[Due] = []
        self._seq = itertools.count()
        self.on_schedule: Callable[[], None] | None = None  # told when work is added

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, at: float, kind: str, ref: str) -> Due:
        entry = Due(at, next(self._seq), kind, ref)
        heapq.heappush(self._heap, entry)
        if self.on_schedule is not None:
            self.on_schedule()
        return entry

    def next_at(self) -> float | None:
        return self._heap[0].at if self._heap else None

    def pop_due(self, until: float) -> Iterator[Due]:
        """Yield every entry due at or before `until`, in order, including ones scheduled
        while iterating (so a step that schedules another due step runs it too)."""
        while self._heap and self._heap[0].at <= until:
            yield heapq.heappop(self._heap)

    def clear(self) -> None:
        self._heap.clear()

    def entries(self) -> list[Due]:
        return sorted(self._heap)


async def sleep(seconds: float) -> None:
    """Wait real seconds (a scenario's slow response); the one sleep outside the ticker."""
    await asyncio.sleep(seconds)


async def run_every(interval: float, work: Callable[[], object]) -> None:
    """Call `work` every `interval` real seconds until cancelled (the app's ticker).

    It lets time-driven work (simulated job steps, webhook retries) happen on real and
    scaled clocks without any request arriving. An error is logged, and the ticker goes on.
    """
    log = logging.getLogger("aiprod_sandbox")
    while True:
        try:
            work()
        except Exception:
            log.exception("Error while running due work")
        await asyncio.sleep(interval)

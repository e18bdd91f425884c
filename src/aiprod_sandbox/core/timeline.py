"""A job's timeline: what happened to it and when, kept as packed bytes.

An entry is its time and two small numbers, the event's place in `TIMELINE_EVENTS` and the
progress (or none): 10 bytes, in a `bytes` value the garbage collector never walks, however
many jobs are kept. The set of events is fixed, so there is no table to grow (a table shared
by every account once let one state import fill it for all of them).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

# `job.created`, then the events a job emits (`jobs.JOB_EVENTS`, checked there at import).
TIMELINE_EVENTS = (
    "job.created",
    "job.started",
    "job.progress",
    "job.completed",
    "job.failed",
    "job.cancelled",
)
_EVENT_NUMBER = {name: number for number, name in enumerate(TIMELINE_EVENTS)}
_ENTRY = struct.Struct("<dBB")  # a time, the event's number, and the progress (or _NONE)
_NONE = 255


class HasTimeline(Protocol):
    timeline_data: bytes


def _entry(at: float, label: str) -> bytes:
    """`(at, "job.progress 30")` packed; a label outside the fixed set is a ValueError."""
    event, _, progress = label.partition(" ")
    number = _EVENT_NUMBER.get(event)
    percent = int(progress) if progress else _NONE
    if number is None or not (0 <= percent <= 100 or percent == _NONE):
        raise ValueError(f"not a timeline entry: {label!r}")
    return _ENTRY.pack(at, number, percent)


def _label(number: int, percent: int) -> str:
    name = TIMELINE_EVENTS[number]
    return name if percent == _NONE else f"{name} {percent}"


def pack_timeline(items: Iterable[tuple[float, str]]) -> bytes:
    return b"".join(_entry(at, label) for at, label in items)


def pack_moments(items: Iterable[tuple[float, str, int | None]]) -> bytes:
    """(time, event, progress or None) triples packed, without labels to make and parse (a
    store brings back a million of them); an event outside the set is a ValueError."""
    packed = bytearray()
    for at, event, progress in items:
        number = _EVENT_NUMBER.get(event)
        percent = _NONE if progress is None else progress
        if number is None or not (0 <= percent <= 100 or percent == _NONE):
            raise ValueError(f"not a timeline entry: {event!r} {progress!r}")
        packed += _ENTRY.pack(at, number, percent)
    return bytes(packed)


class Timeline:
    """A job's (time, event) pairs, read from and appended to its packed bytes."""

    __slots__ = ("_job",)

    def __init__(self, job: HasTimeline) -> None:
        self._job = job

    def append(self, item: tuple[float, str]) -> None:
        self._job.timeline_data += _entry(*item)

    def record(self, at: float, event: str, progress: int | None = None) -> None:
        """An event as it happens (no label to parse): the job book's way in."""
        percent = _NONE if progress is None else progress
        self._job.timeline_data += _ENTRY.pack(at, _EVENT_NUMBER[event], percent)

    def moments(self) -> Iterator[tuple[float, str, int | None]]:
        """(time, event, progress or None), without labels: `pack_moments` takes them back."""
        for at, number, percent in _ENTRY.iter_unpack(self._job.timeline_data):
            yield at, TIMELINE_EVENTS[number], None if percent == _NONE else percent

    def __iter__(self) -> Iterator[tuple[float, str]]:
        data = self._job.timeline_data
        return ((at, _label(number, percent)) for at, number, percent in _ENTRY.iter_unpack(data))

    def __len__(self) -> int:
        return len(self._job.timeline_data) // _ENTRY.size

    def __getitem__(self, index: Any) -> Any:
        return list(self)[index]

    def __repr__(self) -> str:
        return f"Timeline({list(self)!r})"

"""Jobs: the state machine, and the records of a job, its plan, result, error and events.

    PENDING ──▶ PROCESSING ──▶ COMPLETED
       │             └───────▶ FAILED
       └──▶ CANCELLED

A job's `JobPlan` (drawn when it is submitted) says how it will end and when each step falls
due after it starts. `jobbook.py` runs the steps of one account's jobs.
"""

from __future__ import annotations

import functools
import math
import struct
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from ..errors import Conflict


class JobStatus(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ENDED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.PROCESSING, JobStatus.CANCELLED}),
    JobStatus.PROCESSING: frozenset({JobStatus.COMPLETED, JobStatus.FAILED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}
PROGRESS_STEPS = (30, 60, 90)


# A job's records are immutable values: named tuples, quicker to make than frozen dataclasses
# (no `object.__setattr__` per field), which matters for the five events of every instant job.
class JobInput(NamedTuple):
    video_url: str
    voice_text: str | None = None
    voice_language: str | None = None
    music_style: str | None = None
    preset: str | None = None
    callback_url: str | None = None


class JobError(NamedTuple):
    type: str
    code: str
    message: str


class JobResult(NamedTuple):
    cost_estimate: float
    quality_score: float
    processing_time_seconds: int


class JobPlan(NamedTuple):
    """How a job will run: its outcome, its timing and the figures of its result."""

    outcome: Literal["complete", "fail", "pending"]
    simulated: bool
    queue_seconds: float
    processing_seconds: float
    quality_score: float
    cost_estimate: float
    progress_steps: tuple[int, ...] = PROGRESS_STEPS
    error: JobError | None = None
    fail_at_progress: int | None = None

    @property
    def estimated_duration_seconds(self) -> int:
        return math.ceil(self.queue_seconds + self.processing_seconds)  # never too short

    def steps(self) -> Steps:
        """(offset after start, action, progress) for every step after PROCESSING begins."""
        scale = self.processing_seconds if self.simulated else 0.0
        return _steps(scale, self.outcome, self.progress_steps, self.fail_at_progress)


Steps = tuple[tuple[float, str, int | None], ...]


@functools.lru_cache(maxsize=1024)  # instant jobs all share a few; a job asks ~8 times
def _steps(
    scale: float, outcome: str, progress_steps: tuple[int, ...], fail_at_progress: int | None
) -> Steps:
    steps: list[tuple[float, str, int | None]] = []
    for value in progress_steps:
        if outcome == "fail" and fail_at_progress is not None:
            if value > fail_at_progress:
                break
        steps.append((scale * value / 100, "progress", value))
    if outcome == "fail":
        # Fails a little after the last step reached (after all of them when unset).
        reached = steps[-1][2] or 0 if steps else 0
        steps.append((scale * min(reached + 10, 99) / 100, "fail", None))
    else:
        steps.append((scale, "complete", None))
    return tuple(steps)


class JobEvent(NamedTuple):
    """Something that happened to a job, at a time of the account's clock."""

    event: str
    job_id: str
    at: float
    data: dict[str, Any]


_ENTRY = struct.Struct("<dH")  # a time, and the number of its label in `_LABELS`
_LABELS: list[str] = []  # every label ever used ("job.created", "job.progress 30", …): a few
_LABEL_NUMBER: dict[str, int] = {}


def _label_number(label: str) -> int:
    number = _LABEL_NUMBER.get(label)
    if number is None:
        if len(_LABELS) > 0xFFFF:
            raise ValueError(f"too many distinct timeline labels to add {label!r}")
        number = _LABEL_NUMBER[label] = len(_LABELS)
        _LABELS.append(sys.intern(label))
    return number


class Timeline:
    """A job's (time, event) pairs, packed in one `bytes` (10 bytes a pair): an immutable
    value, so the collector never walks it, however many jobs are kept."""

    __slots__ = ("_data",)

    def __init__(self, items: Iterable[tuple[float, str]] = ()) -> None:
        self._data = b"".join(_ENTRY.pack(at, _label_number(label)) for at, label in items)

    def append(self, item: tuple[float, str]) -> None:
        self._data += _ENTRY.pack(item[0], _label_number(item[1]))

    def __iter__(self) -> Iterator[tuple[float, str]]:
        return ((at, _LABELS[number]) for at, number in _ENTRY.iter_unpack(self._data))

    def __len__(self) -> int:
        return len(self._data) // _ENTRY.size

    def __getitem__(self, index: Any) -> Any:
        return list(self)[index]

    def __repr__(self) -> str:
        return f"Timeline({list(self)!r})"


@dataclass(slots=True)
class Job:
    job_id: str
    seq: int
    input: JobInput
    metadata: dict[str, str]
    plan: JobPlan
    created_at: float
    status: JobStatus = JobStatus.PENDING
    progress: int = 0
    updated_at: float = 0.0
    started_at: float | None = None
    completed_at: float | None = None
    result: JobResult | None = None
    error: JobError | None = None
    batch_id: str | None = None
    cancel_reason: str | None = None
    step: int = 0
    expected_wait: float = 0.0  # estimated wait for a free slot, at submission
    next_due: float | None = None  # when its one live scheduler entry falls due
    timeline: Timeline = field(default_factory=lambda: Timeline())

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def estimated_duration_seconds(self) -> int:
        plan = self.plan
        return math.ceil(plan.queue_seconds + plan.processing_seconds + self.expected_wait)


def check_transition(job: Job, target: JobStatus) -> None:
    if target not in TRANSITIONS[job.status]:
        raise Conflict(
            f"Job {job.job_id} cannot go from {job.status} to {target}",
            code="INVALID_TRANSITION",
            details={"status": f"{job.status} -> {target} is not an edge of the state machine"},
        )


def fields_of(record: JobInput | JobResult | JobError) -> dict[str, Any]:
    """A record's fields as a dict."""
    return record._asdict()

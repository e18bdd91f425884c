"""Jobs: the state machine, and the records of a job, its plan, result, error and events.

    PENDING ──▶ PROCESSING ──▶ COMPLETED
       │             └───────▶ FAILED
       └──▶ CANCELLED

A job's `JobPlan` (drawn when it is submitted) says how it will end and when each step falls
due after it starts. `jobbook.py` runs the steps of one account's jobs.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

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


@dataclass(frozen=True, slots=True)
class JobInput:
    video_url: str
    voice_text: str | None = None
    voice_language: str | None = None
    music_style: str | None = None
    preset: str | None = None
    callback_url: str | None = None


@dataclass(frozen=True, slots=True)
class JobError:
    type: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class JobResult:
    cost_estimate: float
    quality_score: float
    processing_time_seconds: int


@dataclass(frozen=True, slots=True)
class JobPlan:
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

    def steps(self) -> list[tuple[float, str, int | None]]:
        """(offset after start, action, progress) for every step after PROCESSING begins."""
        scale = self.processing_seconds if self.simulated else 0.0
        steps: list[tuple[float, str, int | None]] = []
        for value in self.progress_steps:
            if self.outcome == "fail" and self.fail_at_progress is not None:
                if value > self.fail_at_progress:
                    break
            steps.append((scale * value / 100, "progress", value))
        if self.outcome == "fail":
            # Fails a little after the last step reached (after all of them when unset).
            reached = steps[-1][2] or 0 if steps else 0
            steps.append((scale * min(reached + 10, 99) / 100, "fail", None))
        else:
            steps.append((scale, "complete", None))
        return steps


@dataclass(frozen=True)
class JobEvent:
    """Something that happened to a job, at a time of the account's clock."""

    event: str
    job_id: str
    at: float
    data: dict[str, Any]


class Timeline:
    """A job's (time, event) pairs, stored flat: 8 bytes a time, one shared string a label."""

    __slots__ = ("_at", "_labels")

    def __init__(self, items: Iterable[tuple[float, str]] = ()) -> None:
        self._at = array("d")
        self._labels: list[str] = []
        for item in items:
            self.append(item)

    def append(self, item: tuple[float, str]) -> None:
        self._at.append(item[0])
        self._labels.append(sys.intern(item[1]))

    def __iter__(self) -> Iterator[tuple[float, str]]:
        return zip(self._at, self._labels, strict=True)

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return list(zip(self._at[index], self._labels[index], strict=True))
        return self._at[index], self._labels[index]

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


def fields_of(record: object) -> dict[str, Any]:
    """A flat record's fields as a dict (slotted dataclasses have no `__dict__`)."""
    return {name: getattr(record, name) for name in record.__dataclass_fields__}  # type: ignore[attr-defined]

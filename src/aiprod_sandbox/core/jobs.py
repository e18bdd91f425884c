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
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Literal, NamedTuple, get_args

from ..errors import Conflict
from .timeline import TIMELINE_EVENTS, Timeline, pack_timeline


class JobStatus(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


# The same names as types, for the models that carry them (a request, a state document).
StatusName = Literal["PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED"]
MovedTo = Literal["PROCESSING", "COMPLETED", "FAILED", "CANCELLED"]  # a transition's target
assert set(get_args(StatusName)) == {status.value for status in JobStatus}
assert set(get_args(MovedTo)) == {status.value for status in JobStatus} - {"PENDING"}

# The events a job emits, in the order they can happen (the guide's webhook events).
JobEventName = Literal[
    "job.started", "job.progress", "job.completed", "job.failed", "job.cancelled"
]
JOB_EVENTS: tuple[JobEventName, ...] = get_args(JobEventName)


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
        return _plan_steps(self)


Steps = tuple[tuple[float, str, int | None], ...]
# Where JobPlan's fields sit in a tuple of its layout: a JobPlan, or the plain one a Job keeps.
_OUTCOME, _SIMULATED, _QUEUE, _PROCESSING, _STEPS_AT, _ERROR, _FAIL_AT = map(
    JobPlan._fields.index,
    (
        "outcome",
        "simulated",
        "queue_seconds",
        "processing_seconds",
        "progress_steps",
        "error",
        "fail_at_progress",
    ),
)


def _plan_steps(plan: tuple[Any, ...]) -> Steps:
    scale = plan[_PROCESSING] if plan[_SIMULATED] else 0.0
    return _steps(scale, plan[_OUTCOME], plan[_STEPS_AT], plan[_FAIL_AT])


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


assert TIMELINE_EVENTS == ("job.created", *JOB_EVENTS)  # timeline.py names them too


_CALLBACK_URL = JobInput._fields.index("callback_url")


class Job:
    """One job, as its book keeps it.

    It is the one object of a stored job that the garbage collector tracks: the records
    (input, plan, result, error) are kept as plain tuples of strings and numbers and the
    timeline as bytes, which Python leaves out of its collections. A book of 100,000 jobs is
    100,000 objects for every full collection to walk instead of 500,000 — the difference
    between a pause a request notices and one it does not. The properties hand out the
    named records (a new tuple per read: hot paths use `steps()` and `callback_url`).
    """

    __slots__ = (
        "job_id",
        "seq",
        "_input",
        "metadata",
        "_plan",
        "created_at",
        "status",
        "progress",
        "updated_at",
        "started_at",
        "completed_at",
        "_result",
        "_error",
        "batch_id",
        "cancel_reason",
        "step",
        "expected_wait",
        "next_due",
        "timeline_data",
    )
    _input: tuple[str | None, ...]
    _plan: tuple[Any, ...]  # JobPlan's fields, its error as a plain tuple too
    _result: tuple[float, float, int] | None
    _error: tuple[str, str, str] | None

    def __init__(
        self,
        job_id: str,
        seq: int,
        input: JobInput,
        metadata: dict[str, str],
        plan: JobPlan,
        created_at: float,
        status: JobStatus = JobStatus.PENDING,
        progress: int = 0,
        updated_at: float = 0.0,
        started_at: float | None = None,
        completed_at: float | None = None,
        result: JobResult | None = None,
        error: JobError | None = None,
        batch_id: str | None = None,
        cancel_reason: str | None = None,
        step: int = 0,
        expected_wait: float = 0.0,  # estimated wait for a free slot, at submission
        next_due: float | None = None,  # when its one live scheduler entry falls due
        timeline: Iterable[tuple[float, str]] = (),
        timeline_data: bytes | None = None,  # the timeline packed already (`pack_moments`)
    ) -> None:
        self.job_id = job_id
        self.seq = seq
        self.input = input
        self.metadata = metadata
        self.plan = plan
        self.created_at = created_at
        self.status = status
        self.progress = progress
        self.updated_at = updated_at
        self.started_at = started_at
        self.completed_at = completed_at
        self.result = result
        self.error = error
        self.batch_id = batch_id
        self.cancel_reason = cancel_reason
        self.step = step
        self.expected_wait = expected_wait
        self.next_due = next_due
        self.timeline_data = pack_timeline(timeline) if timeline_data is None else timeline_data

    @property
    def input(self) -> JobInput:
        return JobInput._make(self._input)

    @input.setter
    def input(self, value: JobInput) -> None:
        self._input = tuple(value)

    @property
    def callback_url(self) -> str | None:
        url: str | None = self._input[_CALLBACK_URL]
        return url

    @property
    def plan(self) -> JobPlan:
        fields = self._plan
        if fields[_ERROR] is None:
            return JobPlan._make(fields)
        named: list[Any] = list(fields)
        named[_ERROR] = JobError._make(fields[_ERROR])
        return JobPlan._make(named)

    @plan.setter
    def plan(self, value: JobPlan) -> None:
        plain: list[Any] = list(value)
        plain[_STEPS_AT] = tuple(value.progress_steps)
        plain[_ERROR] = None if value.error is None else tuple(value.error)
        self._plan = tuple(plain)

    @property
    def result(self) -> JobResult | None:
        return None if self._result is None else JobResult._make(self._result)

    @result.setter
    def result(self, value: JobResult | None) -> None:
        self._result = None if value is None else (value[0], value[1], value[2])

    @property
    def error(self) -> JobError | None:
        return None if self._error is None else JobError._make(self._error)

    @error.setter
    def error(self, value: JobError | None) -> None:
        self._error = None if value is None else (value[0], value[1], value[2])

    @property
    def timeline(self) -> Timeline:
        return Timeline(self)

    @property
    def outcome(self) -> str:
        """The plan's outcome, without making the plan."""
        outcome: str = self._plan[_OUTCOME]
        return outcome

    def steps(self) -> Steps:
        """The plan's steps (`JobPlan.steps`), without making the plan."""
        return _plan_steps(self._plan)

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def estimated_duration_seconds(self) -> int:
        p = self._plan
        seconds: float = p[_QUEUE] + p[_PROCESSING] + self.expected_wait
        return math.ceil(seconds)

    def __repr__(self) -> str:
        return f"Job({self.job_id!r}, {self.status}, progress={self.progress})"

    def row(self) -> list[Any]:
        """Every field as plain JSON values, times exact, in the order `from_row` reads: the
        compact copy a store keeps (the timeline apart, as its bytes). Start-up reads 100,000
        of these in a fraction of the time the state document's entries would take."""
        return [
            self.job_id,
            self.seq,
            self.status.value,
            self.progress,
            self.created_at,
            self.updated_at,
            self.started_at,
            self.completed_at,
            self._input,
            self.metadata,
            self._plan,
            self._result,
            self._error,
            self.batch_id,
            self.cancel_reason,
            self.step,
            self.expected_wait,
        ]

    @classmethod
    def from_row(cls, row: list[Any], timeline_data: bytes) -> Job:
        """The job `row()` described (read back from JSON: lists where it had tuples)."""
        job = cls.__new__(cls)
        (
            job.job_id,
            job.seq,
            status,
            job.progress,
            job.created_at,
            job.updated_at,
            job.started_at,
            job.completed_at,
            given_input,
            job.metadata,
            plan,
            result,
            error,
            job.batch_id,
            job.cancel_reason,
            job.step,
            job.expected_wait,
        ) = row
        job.status = JobStatus(status)
        job._input = tuple(given_input)
        plan = list(plan)
        plan[_STEPS_AT] = tuple(plan[_STEPS_AT])
        plan[_ERROR] = None if plan[_ERROR] is None else tuple(plan[_ERROR])
        job._plan = tuple(plan)
        job._result = None if result is None else (result[0], result[1], result[2])
        job._error = None if error is None else (error[0], error[1], error[2])
        job.next_due = None
        job.timeline_data = timeline_data
        return job


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

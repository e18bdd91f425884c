"""One account's job book: submission, the steps of each job, cancel, update, and the
queue of jobs waiting for a free processing slot.

Steps run from the account's scheduler, on the account's clock, each at its due time, so a job
walked by `clock/advance` carries the same timestamps as one that ran in real time. At most
`concurrency()` jobs are PROCESSING at once; the rest wait in PENDING, in submission order.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import Conflict, NotFound, RateLimited
from .clock import Scheduler
from .jobs import (
    Job,
    JobError,
    JobEvent,
    JobInput,
    JobPlan,
    JobResult,
    JobStatus,
    check_transition,
    fields_of,
)
from .store import NO_CHANGES, Changes

STEP_KIND = "job"
ENDING_EVENTS = frozenset({"job.completed", "job.failed", "job.cancelled"})
JOBS_FULL_RETRY_SECONDS = 60  # a full book of open jobs: try again once some have ended


class JobBook:
    """One account's jobs: submission, steps, cancel, update, and the concurrency queue."""

    def __init__(
        self,
        scheduler: Scheduler,
        *,
        concurrency: Callable[[], int],
        emit: Callable[[JobEvent], None],
        max_jobs: int,
    ) -> None:
        self._scheduler = scheduler
        self._concurrency = concurrency
        self._emit = emit
        self._max_jobs = max_jobs
        # Ordered by insertion (the listings' order), and an OrderedDict: a full book forgets a
        # job on every new one, and a plain dict iterates past every slot deleted since its
        # last resize.
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._waiting: deque[str] = deque()
        self._active: set[str] = set()  # PROCESSING now
        self._queued = 0  # PENDING jobs that will start (not the ones that stay pending)
        self._last_ready = float("-inf")
        self.started_from_queue: list[tuple[float, str]] = []
        self._seq = 0
        # Jobs in the order they ended, the first to be forgotten when the book is full (ids
        # of jobs forgotten since are skipped when reached): O(1) a job, however many are open.
        self._ended: deque[str] = deque()
        self._ended_count = 0  # ended jobs in the book
        self.changes: Changes = NO_CHANGES  # what the store must write (`store.py`)

    # ---- reading -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._jobs)

    @property
    def seq(self) -> int:
        """The last job's sequence number: `created_since(seq)` is what came after."""
        return self._seq

    def created_since(self, seq: int) -> list[str]:
        """Ids of the jobs submitted after the one numbered `seq`, oldest first."""
        newer: list[str] = []
        for job in reversed(self._jobs.values()):
            if job.seq <= seq:
                break
            newer.append(job.job_id)
        newer.reverse()
        return newer

    def __iter__(self) -> Iterator[Job]:
        return iter(self._jobs.values())

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound("Job not found", code="JOB_NOT_FOUND")
        return job

    def find(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def listing(self, *, status: str | None = None, sort: str = "-created_at") -> list[Job]:
        jobs: list[Job] = list(self._jobs.values())
        if status is not None:
            jobs = [job for job in jobs if job.status == status]
        jobs.sort(key=lambda job: (job.created_at, job.seq))  # already near-sorted: cheap
        if sort == "-created_at":
            jobs.reverse()
        elif sort in ("status", "-status"):
            jobs.reverse()  # ties newest first
            jobs.sort(key=lambda job: job.status.value, reverse=sort == "-status")
        return jobs

    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in JobStatus}
        for job in self._jobs.values():
            counts[job.status.value] += 1
        return counts

    @property
    def processing(self) -> int:
        return len(self._active)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    # ---- writing -------------------------------------------------------------------------
    def submit(
        self,
        job_id: str,
        job_input: JobInput,
        metadata: dict[str, str],
        plan: JobPlan,
        at: float,
        *,
        batch_id: str | None = None,
    ) -> Job:
        if len(self._jobs) >= self._max_jobs and not self._ended_count:
            raise RateLimited(
                JOBS_FULL_RETRY_SECONDS,
                f"This account holds its maximum of {self._max_jobs} jobs and none has ended: "
                "cancel some, or let them finish",
                details={"jobs": f"at most {self._max_jobs} per account"},
            )
        self._seq += 1
        job = Job(
            job_id=job_id,
            seq=self._seq,
            input=job_input,
            metadata=metadata,
            plan=plan,
            created_at=at,
            updated_at=at,
            batch_id=batch_id,
            expected_wait=self._expected_wait(plan),
        )
        job.timeline.record(at, "job.created")
        self._jobs[job_id] = job
        self.changes.job(job_id)
        if plan.outcome != "pending":
            self._queued += 1
            ready = at
            if plan.simulated:  # queue times vary, but jobs reach the front in submission order
                ready = max(at + plan.queue_seconds, self._last_ready)
                self._last_ready = ready
            self._schedule(job, ready)
        self._evict()
        return job

    def _expected_wait(self, plan: JobPlan) -> float:
        """How long a new job will wait for a free slot, if every slot and the queue ahead of
        it take about as long as it does (only simulated timing ever waits)."""
        if not plan.simulated or plan.outcome == "pending":
            return 0.0
        slots = self._concurrency()
        ahead = len(self._active) + self._queued
        if ahead < slots:
            return 0.0
        return -(-(ahead - slots + 1) // slots) * plan.processing_seconds

    def restore(self, job: Job) -> None:
        """Put back a job from fixtures or an exported state, scheduling what it has left to do."""
        self._seq = max(self._seq, job.seq)
        self._jobs[job.job_id] = job
        self.changes.job(job.job_id)
        if job.ended:
            self._ended.append(job.job_id)
            self._ended_count += 1
        if job.status == JobStatus.PROCESSING:
            self._active.add(job.job_id)
        if job.status == JobStatus.PENDING and job.outcome != "pending":
            self._queued += 1
            queue = job.plan.queue_seconds if job.plan.simulated else 0.0
            self._schedule(job, job.created_at + queue)
        elif job.status == JobStatus.PROCESSING and job.started_at is not None:
            steps = job.steps()
            if job.step < len(steps):
                self._schedule(job, job.started_at + steps[job.step][0])

    def _evict(self) -> None:
        """Keep at most `max_jobs` jobs, forgetting those that ended longest ago."""
        while len(self._jobs) > self._max_jobs and self._ended:
            job = self._jobs.get(self._ended.popleft())
            if job is not None and job.ended:
                del self._jobs[job.job_id]
                self._ended_count -= 1
                self.changes.drop_job(job.job_id)

    def cancel(self, job_id: str, reason: str, at: float) -> Job:
        job = self.get(job_id)
        if job.status != JobStatus.PENDING:
            raise Conflict(
                f"Only PENDING jobs can be cancelled; this job is {job.status}",
                code="JOB_NOT_CANCELLABLE",
            )
        if job_id in self._waiting:
            self._waiting.remove(job_id)
        if job.outcome != "pending":
            self._queued -= 1
        job.status = JobStatus.CANCELLED
        job.cancel_reason = reason
        job.completed_at = at
        self._record(job, at, "job.cancelled", {"reason": reason})
        return job

    def update(
        self,
        job_id: str,
        at: float,
        *,
        metadata: dict[str, str] | None = None,
        callback_url: str | None = None,
        set_callback: bool = False,
    ) -> Job:
        job = self.get(job_id)
        if job.ended:
            raise Conflict(
                f"Job {job.job_id} has ended ({job.status}) and can no longer be updated",
                code="JOB_NOT_UPDATABLE",
            )
        if metadata is not None:
            job.metadata = metadata
        if set_callback:
            fields = fields_of(job.input)
            fields["callback_url"] = callback_url
            job.input = JobInput(**fields)
        job.updated_at = at
        self.changes.job(job_id)
        return job

    # ---- steps ---------------------------------------------------------------------------
    def run_step(self, job_id: str, due: float) -> str | None:
        """Run the job's step that fell due at `due`; returns what happened, or None if stale."""
        job = self._jobs.get(job_id)
        if job is None or job.ended or job.next_due != due:
            return None  # gone, ended, or an entry a forced transition made stale
        job.next_due = None
        self.changes.job(job_id)
        if job.status == JobStatus.PENDING:
            if self.processing >= self._concurrency():
                self._waiting.append(job_id)
                return "queued"
            self._start(job, due)
            return "job.started"
        steps = job.steps()
        if job.step >= len(steps):
            return None
        _, action, value = steps[job.step]
        job.step += 1
        if action == "progress" and value is not None:
            if value > job.progress:  # a forced progress may already be past this step
                job.progress = value
                self._record(job, due, "job.progress", {"progress": value})
        elif action == "complete":
            job.status = JobStatus.COMPLETED
            job.progress = 100
            job.completed_at = due
            plan = job.plan
            job.result = JobResult(
                cost_estimate=plan.cost_estimate,
                quality_score=plan.quality_score,
                processing_time_seconds=round(plan.processing_seconds),
            )
            self._record(job, due, "job.completed", {})
            self._free_slot(job, due)
        else:
            job.status = JobStatus.FAILED
            job.completed_at = due
            job.error = job.plan.error
            self._record(job, due, "job.failed", {})
            self._free_slot(job, due)
        if not job.ended:
            self._schedule_next(job)
        return f"{action}" if action != "progress" else f"progress {value}"

    def _start(self, job: Job, at: float) -> None:
        if job.outcome != "pending":
            self._queued -= 1
        job.status = JobStatus.PROCESSING
        self._active.add(job.job_id)
        job.started_at = at
        job.step = 0
        self._record(job, at, "job.started", {})
        self._schedule_next(job)

    def _schedule_next(self, job: Job) -> None:
        assert job.started_at is not None
        offset = job.steps()[job.step][0]
        self._schedule(job, job.started_at + offset)

    def _schedule(self, job: Job, at: float) -> None:
        job.next_due = at
        self._scheduler.schedule(at, STEP_KIND, job.job_id)

    def _free_slot(self, ended: Job, at: float) -> None:
        self._active.discard(ended.job_id)
        while self._waiting and self.processing < self._concurrency():
            job = self._jobs.get(self._waiting.popleft())
            if job is not None and job.status == JobStatus.PENDING:
                self._start(job, at)
                self.started_from_queue.append((at, job.job_id))

    def take_started_from_queue(self) -> list[tuple[float, str]]:
        """Jobs a finishing job let start (so `clock/advance` can list them too)."""
        started, self.started_from_queue = self.started_from_queue, []
        return started

    def force(
        self,
        job_id: str,
        target: JobStatus,
        at: float,
        *,
        progress: int | None = None,
        error: JobError | None = None,
    ) -> Job:
        """Move a job along one edge of the state machine now (the control API's transition)."""
        job = self.get(job_id)
        self.changes.job(job_id)
        if target == job.status == JobStatus.PROCESSING and progress is not None:
            if not job.progress < progress <= 100:
                raise Conflict(
                    f"Progress only moves forward (now {job.progress})",
                    code="INVALID_TRANSITION",
                )
            job.progress = progress
            self._record(job, at, "job.progress", {"progress": progress})
            return job
        check_transition(job, target)
        if target == JobStatus.CANCELLED:
            return self.cancel(job_id, "Cancelled by the sandbox control API", at)
        if target == JobStatus.PROCESSING:
            if job_id in self._waiting:
                self._waiting.remove(job_id)
            self._start(job, at)
            if progress:
                job.progress = progress
            return job
        job.step = len(job.steps())  # no more scheduled steps
        job.completed_at = at
        if target == JobStatus.COMPLETED:
            job.status = JobStatus.COMPLETED
            job.progress = 100
            elapsed = at - (job.started_at or at)
            job.result = JobResult(
                cost_estimate=job.plan.cost_estimate,
                quality_score=job.plan.quality_score,
                processing_time_seconds=round(elapsed)
                if elapsed
                else round(job.plan.processing_seconds),
            )
            self._record(job, at, "job.completed", {})
        else:
            job.status = JobStatus.FAILED
            job.error = error or JobError("server_error", "INTERNAL_ERROR", "Forced failure")
            self._record(job, at, "job.failed", {})
        self._free_slot(job, at)
        return job

    def _record(self, job: Job, at: float, event: str, extra: dict[str, Any]) -> None:
        self.changes.job(job.job_id)
        job.updated_at = at
        job.timeline.record(at, event, extra.get("progress"))
        if event in ENDING_EVENTS:
            self._ended.append(job.job_id)
            self._ended_count += 1
        self._emit(JobEvent(event, job.job_id, at, extra))

    def clear(self) -> None:
        self._ended.clear()
        self._ended_count = 0
        self._jobs.clear()
        self._waiting.clear()
        self._active.clear()
        self._queued = 0

"""Property tests of the job book: whatever is submitted, cancelled and however the clock moves,
jobs only follow the state machine's edges, time never runs backwards, no step runs twice and
no more than the concurrency limit of jobs process at once."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from aiprod_sandbox.core.clock import Scheduler
from aiprod_sandbox.core.jobbook import JobBook
from aiprod_sandbox.core.jobs import (
    ENDED,
    PROGRESS_STEPS,
    TRANSITIONS,
    Job,
    JobError,
    JobEvent,
    JobInput,
    JobPlan,
    JobStatus,
)
from aiprod_sandbox.errors import Conflict

T0 = 1_000_000.0
FAILURE = JobError("processing_error", "DOWNLOAD_FAILED", "Could not download video_url")
STATUS_OF_EVENT = {
    "job.created": JobStatus.PENDING,
    "job.started": JobStatus.PROCESSING,
    "job.progress": JobStatus.PROCESSING,
    "job.completed": JobStatus.COMPLETED,
    "job.failed": JobStatus.FAILED,
    "job.cancelled": JobStatus.CANCELLED,
}

plans = st.builds(
    lambda outcome, simulated, queue, processing, fail_at: JobPlan(
        outcome,
        simulated,
        queue,
        processing,
        0.9,
        1.0,
        error=FAILURE if outcome == "fail" else None,
        fail_at_progress=fail_at if outcome == "fail" else None,
    ),
    st.sampled_from(["complete", "fail", "pending"]),
    st.booleans(),
    st.floats(0, 20, allow_nan=False),
    st.floats(0.5, 300, allow_nan=False),
    st.sampled_from([0, 30, 45, 60, 90]),
)


def check_timeline(job: Job) -> None:
    """The job's history only follows edges, in time order, and matches what it shows now."""
    times = [at for at, _ in job.timeline]
    assert times == sorted(times), job.timeline
    assert job.timeline[0][1] == "job.created"
    status = JobStatus.PENDING
    for _, shown in job.timeline[1:]:
        event = shown.split(" ")[0]  # "job.progress 30" → "job.progress"
        target = STATUS_OF_EVENT[event]
        if event == "job.progress":
            assert status == JobStatus.PROCESSING
        else:
            assert target in TRANSITIONS[status], (status, event)
        status = target
    assert job.status == status
    progress = [event for _, event in job.timeline if event.startswith("job.progress")]
    assert len(progress) == len(set(progress)) <= len(PROGRESS_STEPS)  # each step once
    assert job.created_at <= (job.started_at or job.created_at)
    if job.completed_at is not None:
        assert (job.started_at or job.created_at) <= job.completed_at
    assert (job.status in ENDED) == (job.completed_at is not None)
    assert (job.status == JobStatus.COMPLETED) == (job.result is not None)
    assert (job.status == JobStatus.FAILED) == (job.error is not None)


class JobBookMachine(RuleBasedStateMachine):
    jobs = Bundle("jobs")

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.scheduler = Scheduler()
        self.limit = 2
        self.emitted: list[JobEvent] = []
        self.progress_seen: Counter[tuple[str, int]] = Counter()
        self.book = JobBook(
            self.scheduler, concurrency=lambda: self.limit, emit=self._emit, max_jobs=10_000
        )
        self.count = 0

    def _emit(self, event: JobEvent) -> None:
        assert self.book.processing <= self.limit
        assert event.at <= self.now, "a step ran before it was due"
        if self.emitted:
            assert event.at >= self.emitted[-1].at, "events went back in time"
        if event.event == "job.progress":
            key = (event.job_id, event.data["progress"])
            self.progress_seen[key] += 1
            assert self.progress_seen[key] == 1, f"progress step ran twice: {key}"
        self.emitted.append(event)

    def _run_due(self) -> None:
        for due in self.scheduler.pop_due(self.now):
            self.book.run_step(due.ref, due.at)

    @initialize(limit=st.integers(1, 3))
    def set_limit(self, limit: int) -> None:
        self.limit = limit

    @rule(target=jobs, plan=plans, run_now=st.booleans())
    def submit(self, plan: JobPlan, run_now: bool) -> str:
        self.count += 1
        job_id = f"job_{self.count:04d}"
        self.book.submit(job_id, JobInput("https://example.com/in.mp4"), {}, plan, self.now)
        if run_now:  # as the API does after each request
            self._run_due()
        return job_id

    @rule(job_id=jobs)
    def cancel(self, job_id: str) -> None:
        job = self.book.get(job_id)
        before = job.status
        try:
            self.book.cancel(job_id, "test", self.now)
        except Conflict as exc:
            assert before != JobStatus.PENDING
            assert exc.code == "JOB_NOT_CANCELLABLE"
            assert job.status == before
        else:
            assert before == JobStatus.PENDING
            assert job.status == JobStatus.CANCELLED

    @rule(seconds=st.one_of(st.just(0.0), st.floats(0.001, 400, allow_nan=False)))
    def advance(self, seconds: float) -> None:
        self.now += seconds
        self._run_due()

    @precondition(lambda self: self.count > 0)
    @rule()
    def drain(self) -> None:
        """Long after everything: only never-starting jobs remain PENDING, none PROCESSING."""
        self.now += 10_000
        self._run_due()
        for job in self.book:
            if job.plan.outcome == "pending":
                assert job.status in (JobStatus.PENDING, JobStatus.CANCELLED)
            else:
                assert job.ended, job
        assert self.book.processing == 0
        assert self.book.waiting == 0

    @invariant()
    def processing_within_limit(self) -> None:
        processing = [job for job in self.book if job.status == JobStatus.PROCESSING]
        assert len(processing) == self.book.processing <= self.limit

    @invariant()
    def every_timeline_is_a_path_of_the_state_machine(self) -> None:
        for job in self.book:
            check_timeline(job)
            assert all(at <= self.now for at, _ in job.timeline)

    @invariant()
    def progress_only_moves_forward(self) -> None:
        for job in self.book:
            values = [
                e.data["progress"]
                for e in self.emitted
                if e.job_id == job.job_id and e.event == "job.progress"
            ]
            assert values == sorted(set(values))
            if job.status != JobStatus.COMPLETED:
                assert job.progress == (values[-1] if values else 0)

    @invariant()
    def outcomes_match_plans(self) -> None:
        for job in self.book:
            if job.status == JobStatus.COMPLETED:
                assert job.plan.outcome == "complete" and job.progress == 100
            if job.status == JobStatus.FAILED:
                assert job.plan.outcome == "fail" and job.error == FAILURE
                assert job.progress <= (job.plan.fail_at_progress or 0)
            if job.plan.outcome == "pending":
                assert job.status in (JobStatus.PENDING, JobStatus.CANCELLED)


JobBookMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
TestJobBook = JobBookMachine.TestCase


@settings(max_examples=300, deadline=None)
@given(plans)
def test_plan_steps_are_in_time_order_and_end_once(plan: JobPlan) -> None:
    steps = plan.steps()
    offsets = [offset for offset, _, _ in steps]
    assert offsets == sorted(offsets)
    assert all(0 <= offset <= plan.processing_seconds for offset in offsets)
    actions = [action for _, action, _ in steps]
    assert actions[-1] == ("fail" if plan.outcome == "fail" else "complete")
    assert actions.count("complete") + actions.count("fail") == 1
    progress = [value for _, action, value in steps if action == "progress"]
    assert progress == sorted(set(progress))
    if not plan.simulated:
        assert set(offsets) == {0.0}

"""The job state machine and one account's job book: plans, steps, events, queue and eviction."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiprod_sandbox.core.clock import Scheduler
from aiprod_sandbox.core.jobbook import JobBook
from aiprod_sandbox.core.jobs import (
    TRANSITIONS,
    Job,
    JobError,
    JobEvent,
    JobInput,
    JobPlan,
    JobResult,
    JobStatus,
)
from aiprod_sandbox.core.timeline import TIMELINE_EVENTS, pack_timeline
from aiprod_sandbox.errors import Conflict, NotFound, RateLimited

T0 = 1_000.0
FAILURE = JobError("processing_error", "DOWNLOAD_FAILED", "Could not download video_url")


def make_plan(
    outcome: str = "complete",
    *,
    simulated: bool = False,
    queue: float = 5.0,
    processing: float = 100.0,
    fail_at: int | None = 30,
) -> JobPlan:
    failing = outcome == "fail"
    return JobPlan(
        outcome,  # type: ignore[arg-type]
        simulated,
        queue,
        processing,
        quality_score=0.91,
        cost_estimate=0.83,
        error=FAILURE if failing else None,
        fail_at_progress=fail_at if failing else None,
    )


@dataclass
class Seen:
    """An event as emitted, with the job's state at that moment."""

    event: str
    job_id: str
    at: float
    data: dict[str, Any]
    status: JobStatus
    progress: int


class Book:
    """A JobBook on its own scheduler, with every emitted event recorded."""

    def __init__(self, concurrency: int = 10, max_jobs: int = 1_000) -> None:
        self.scheduler = Scheduler()
        self.limit = concurrency
        self.seen: list[Seen] = []
        self.most_processing = 0
        self.jobs = JobBook(
            self.scheduler,
            concurrency=lambda: self.limit,
            emit=self._emit,
            max_jobs=max_jobs,
        )
        self._count = 0

    def _emit(self, event: JobEvent) -> None:
        job = self.jobs.get(event.job_id)
        self.most_processing = max(self.most_processing, self.jobs.processing)
        self.seen.append(
            Seen(event.event, event.job_id, event.at, event.data, job.status, job.progress)
        )

    def submit(self, plan: JobPlan, at: float = T0, job_id: str | None = None) -> Job:
        self._count += 1
        job_id = job_id or f"job_{self._count:04d}"
        return self.jobs.submit(job_id, JobInput("https://example.com/in.mp4"), {}, plan, at)

    def run(self, until: float) -> list[tuple[float, str, str]]:
        ran = []
        for due in self.scheduler.pop_due(until):
            what = self.jobs.run_step(due.ref, due.at)
            if what is not None:
                ran.append((due.at, due.ref, what))
        return ran

    def events(self, job_id: str | None = None) -> list[tuple[str, float]]:
        return [(s.event, s.at) for s in self.seen if job_id is None or s.job_id == job_id]


# ---- instant ----------------------------------------------------------------------------------
def test_instant_plan_runs_every_step_at_the_submit_time() -> None:
    book = Book()
    job = book.submit(make_plan())
    assert (job.status, job.progress, job.started_at, job.result) == (
        JobStatus.PENDING,
        0,
        None,
        None,
    )
    assert book.seen == []

    ran = book.run(T0)

    assert [what for _, _, what in ran] == [
        "job.started",
        "progress 30",
        "progress 60",
        "progress 90",
        "complete",
    ]
    assert [(s.event, s.at, s.status, s.progress) for s in book.seen] == [
        ("job.started", T0, JobStatus.PROCESSING, 0),
        ("job.progress", T0, JobStatus.PROCESSING, 30),
        ("job.progress", T0, JobStatus.PROCESSING, 60),
        ("job.progress", T0, JobStatus.PROCESSING, 90),
        ("job.completed", T0, JobStatus.COMPLETED, 100),
    ]
    assert [s.data["progress"] for s in book.seen[1:4]] == [30, 60, 90]
    assert job.status == JobStatus.COMPLETED and job.progress == 100
    assert job.created_at == job.started_at == job.completed_at == job.updated_at == T0
    assert job.result is not None and job.error is None
    assert job.result.cost_estimate == 0.83
    assert job.result.quality_score == 0.91
    assert job.result.processing_time_seconds == 100
    assert [event for _, event in job.timeline] == [
        "job.created",
        "job.started",
        "job.progress 30",
        "job.progress 60",
        "job.progress 90",
        "job.completed",
    ]
    assert len(book.scheduler) == 0
    assert book.jobs.processing == 0


def test_instant_plan_does_not_run_before_the_scheduler_does() -> None:
    book = Book()
    job = book.submit(make_plan(), at=T0)
    assert book.run(T0 - 0.001) == []
    assert job.status == JobStatus.PENDING


# ---- simulated --------------------------------------------------------------------------------
def test_simulated_plan_waits_its_queue_time_then_steps_through_processing() -> None:
    book = Book()
    job = book.submit(make_plan(simulated=True, queue=5.0, processing=100.0))
    assert job.estimated_duration_seconds == 105

    assert book.run(T0 + 4.999) == []
    assert job.status == JobStatus.PENDING
    assert book.run(T0 + 5) == [(T0 + 5, job.job_id, "job.started")]
    assert job.status == JobStatus.PROCESSING and job.started_at == T0 + 5

    expected = [(35.0, "progress 30"), (65.0, "progress 60"), (95.0, "progress 90")]
    for offset, what in expected:
        assert book.run(T0 + offset - 0.001) == []
        assert book.run(T0 + offset) == [(T0 + offset, job.job_id, what)]
        assert job.status == JobStatus.PROCESSING
    assert book.run(T0 + 104.999) == []
    assert book.run(T0 + 105) == [(T0 + 105, job.job_id, "complete")]
    assert job.status == JobStatus.COMPLETED
    assert job.completed_at == T0 + 105
    assert book.events() == [
        ("job.started", T0 + 5),
        ("job.progress", T0 + 35),
        ("job.progress", T0 + 65),
        ("job.progress", T0 + 95),
        ("job.completed", T0 + 105),
    ]


def test_a_late_run_gives_each_step_its_own_due_time() -> None:
    book = Book()
    job = book.submit(make_plan(simulated=True, queue=2.0, processing=10.0))
    book.run(T0 + 1_000)
    assert book.events(job.job_id) == [
        ("job.started", T0 + 2),
        ("job.progress", T0 + 5),
        ("job.progress", T0 + 8),
        ("job.progress", T0 + 11),
        ("job.completed", T0 + 12),
    ]


# ---- failing ----------------------------------------------------------------------------------
def test_failing_plan_stops_after_its_progress_and_sets_the_error() -> None:
    book = Book()
    job = book.submit(make_plan("fail", fail_at=30))
    book.run(T0)
    assert [(s.event, s.status, s.progress) for s in book.seen] == [
        ("job.started", JobStatus.PROCESSING, 0),
        ("job.progress", JobStatus.PROCESSING, 30),
        ("job.failed", JobStatus.FAILED, 30),
    ]
    assert job.status == JobStatus.FAILED
    assert job.error == FAILURE
    assert job.result is None
    assert job.completed_at == T0
    assert book.jobs.processing == 0


def test_failing_simulated_plan_fails_between_progress_steps() -> None:
    book = Book()
    job = book.submit(make_plan("fail", simulated=True, queue=5.0, processing=100.0, fail_at=30))
    book.run(T0 + 1_000)
    assert book.events(job.job_id) == [
        ("job.started", T0 + 5),
        ("job.progress", T0 + 35),
        ("job.failed", T0 + 45),
    ]


@pytest.mark.parametrize(
    ("fail_at", "progress_seen"),
    [(0, []), (30, [30]), (45, [30]), (60, [30, 60]), (90, [30, 60, 90])],
)
def test_fail_at_progress_is_the_last_progress_reached(fail_at: int, progress_seen: list) -> None:
    book = Book()
    job = book.submit(make_plan("fail", simulated=True, fail_at=fail_at))
    book.run(T0 + 1_000)
    assert [s.data["progress"] for s in book.seen if s.event == "job.progress"] == progress_seen
    assert book.seen[-1].event == "job.failed"
    assert job.status == JobStatus.FAILED


@pytest.mark.parametrize("fail_at", [0, 10, 30, 45, 60, 89, 90])
def test_plan_steps_never_go_back_in_time(fail_at: int) -> None:
    plan = make_plan("fail", simulated=True, fail_at=fail_at)
    offsets = [offset for offset, _, _ in plan.steps()]
    assert offsets == sorted(offsets)
    assert offsets[-1] < 100.0  # a failure comes before the planned end


def test_fail_plan_without_fail_at_progress_keeps_time_order() -> None:
    plan = JobPlan("fail", True, 5.0, 100.0, 0.9, 0.8, error=FAILURE)
    offsets = [offset for offset, _, _ in plan.steps()]
    assert offsets == sorted(offsets)


# ---- pending ----------------------------------------------------------------------------------
def test_pending_plan_never_starts() -> None:
    book = Book()
    job = book.submit(make_plan("pending", simulated=True))
    assert len(book.scheduler) == 0
    assert book.run(T0 + 10**9) == []
    assert job.status == JobStatus.PENDING and job.started_at is None
    assert book.seen == []


# ---- cancel -----------------------------------------------------------------------------------
def test_cancel_a_pending_job() -> None:
    book = Book()
    job = book.submit(make_plan(simulated=True))
    cancelled = book.jobs.cancel(job.job_id, "No longer needed", T0 + 1)
    assert cancelled is job
    assert job.status == JobStatus.CANCELLED
    assert job.cancel_reason == "No longer needed"
    assert job.completed_at == job.updated_at == T0 + 1
    assert [(s.event, s.data) for s in book.seen] == [
        ("job.cancelled", {"reason": "No longer needed"})
    ]
    assert book.run(T0 + 1_000) == []  # its queued start is stale now
    assert job.status == JobStatus.CANCELLED


def _job_in(book: Book, status: JobStatus) -> Job:
    if status == JobStatus.PENDING:
        return book.submit(make_plan("pending"))
    if status == JobStatus.CANCELLED:
        job = book.submit(make_plan("pending"))
        book.jobs.cancel(job.job_id, "test", T0)
        return job
    if status == JobStatus.PROCESSING:
        job = book.submit(make_plan(simulated=True, queue=0.0))
        book.run(T0)
    else:
        job = book.submit(make_plan("fail" if status == JobStatus.FAILED else "complete"))
        book.run(T0)
    assert job.status == status
    return job


@pytest.mark.parametrize(
    "status", [JobStatus.PROCESSING, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED]
)
def test_only_pending_jobs_can_be_cancelled(status: JobStatus) -> None:
    book = Book()
    job = _job_in(book, status)
    events_before = len(book.seen)
    with pytest.raises(Conflict) as caught:
        book.jobs.cancel(job.job_id, "too late", T0 + 1)
    assert caught.value.code == "JOB_NOT_CANCELLABLE"
    assert caught.value.status == 409
    assert job.status == status
    assert len(book.seen) == events_before


def test_unknown_jobs_are_not_found() -> None:
    book = Book()
    for call in (
        lambda: book.jobs.get("job_missing"),
        lambda: book.jobs.cancel("job_missing", "x", T0),
        lambda: book.jobs.update("job_missing", T0, metadata={}),
        lambda: book.jobs.force("job_missing", JobStatus.PROCESSING, T0),
    ):
        with pytest.raises(NotFound) as caught:
            call()
        assert caught.value.code == "JOB_NOT_FOUND"
    assert book.jobs.find("job_missing") is None


# ---- update -----------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [JobStatus.PENDING, JobStatus.PROCESSING])
def test_update_changes_metadata_and_callback_of_a_running_job(status: JobStatus) -> None:
    book = Book()
    job = _job_in(book, status)
    book.jobs.update(job.job_id, T0 + 3, metadata={"k": "v"})
    assert job.metadata == {"k": "v"}
    assert job.input.callback_url is None
    book.jobs.update(job.job_id, T0 + 4, callback_url="https://hooks.example/cb", set_callback=True)
    assert job.input.callback_url == "https://hooks.example/cb"
    assert job.input.video_url == "https://example.com/in.mp4"
    assert job.metadata == {"k": "v"}
    assert job.updated_at == T0 + 4
    book.jobs.update(job.job_id, T0 + 5, callback_url=None, set_callback=True)
    assert job.input.callback_url is None


@pytest.mark.parametrize("status", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_update_is_refused_once_a_job_has_ended(status: JobStatus) -> None:
    book = Book()
    job = _job_in(book, status)
    with pytest.raises(Conflict) as caught:
        book.jobs.update(job.job_id, T0 + 1, metadata={"k": "v"})
    assert caught.value.code == "JOB_NOT_UPDATABLE"
    assert job.metadata == {}


# ---- concurrency ------------------------------------------------------------------------------
def test_concurrency_limit_queues_jobs_in_submission_order() -> None:
    book = Book(concurrency=2)
    plan = make_plan(simulated=True, queue=5.0, processing=100.0)
    jobs = [book.submit(plan, at=T0 + i) for i in range(5)]

    for second in range(0, 600):
        book.run(T0 + second)
        assert book.jobs.processing <= 2
        assert sum(job.status == JobStatus.PROCESSING for job in jobs) == book.jobs.processing

    assert book.most_processing == 2
    assert all(job.status == JobStatus.COMPLETED for job in jobs)
    # job 1 and 2 start after their queue time; each later job starts when a slot frees
    assert [job.started_at for job in jobs] == [
        T0 + 5,
        T0 + 6,
        T0 + 105,  # job 1 completed
        T0 + 106,  # job 2 completed
        T0 + 205,  # job 3 completed
    ]
    starts = [s.job_id for s in book.seen if s.event == "job.started"]
    assert starts == [job.job_id for job in jobs]


def test_queued_jobs_wait_in_pending_and_count_as_waiting() -> None:
    book = Book(concurrency=1)
    plan = make_plan(simulated=True, queue=0.0, processing=10.0)
    first, second, third = (book.submit(plan) for _ in range(3))
    assert [what for _, _, what in book.run(T0)] == ["job.started", "queued", "queued"]
    assert (first.status, second.status, third.status) == (
        JobStatus.PROCESSING,
        JobStatus.PENDING,
        JobStatus.PENDING,
    )
    assert book.jobs.waiting == 2
    book.jobs.cancel(second.job_id, "changed my mind", T0 + 1)
    assert book.jobs.waiting == 1
    book.run(T0 + 10)
    assert third.started_at == T0 + 10
    assert second.started_at is None


def test_instant_jobs_never_wait_for_each_other() -> None:
    book = Book(concurrency=1)
    jobs = [book.submit(make_plan()) for _ in range(4)]
    book.run(T0)
    assert all(job.status == JobStatus.COMPLETED for job in jobs)
    assert book.most_processing == 1


# ---- force (the control API's transition) -----------------------------------------------------
ALL = list(JobStatus)


@pytest.mark.parametrize("start", ALL)
@pytest.mark.parametrize("target", ALL)
def test_force_follows_only_the_edges_of_the_state_machine(
    start: JobStatus, target: JobStatus
) -> None:
    book = Book()
    job = _job_in(book, start)
    if target in TRANSITIONS[start]:
        book.jobs.force(job.job_id, target, T0 + 50)
        assert job.status == target
    else:
        with pytest.raises(Conflict) as caught:
            book.jobs.force(job.job_id, target, T0 + 50)
        assert caught.value.code == "INVALID_TRANSITION"
        assert job.status == start


def test_forced_moves_emit_the_events_of_that_move() -> None:
    book = Book(concurrency=1)
    job = book.submit(make_plan("pending"))
    book.jobs.force(job.job_id, JobStatus.PROCESSING, T0 + 1)
    assert job.started_at == T0 + 1
    book.jobs.force(job.job_id, JobStatus.PROCESSING, T0 + 2, progress=40)
    assert job.progress == 40
    book.jobs.force(job.job_id, JobStatus.COMPLETED, T0 + 11)
    assert book.events() == [
        ("job.started", T0 + 1),
        ("job.progress", T0 + 2),
        ("job.completed", T0 + 11),
    ]
    assert job.progress == 100 and job.completed_at == T0 + 11
    assert job.result is not None and job.result.processing_time_seconds == 10
    assert book.jobs.processing == 0
    assert book.run(T0 + 10**6) == []  # nothing left to run


def test_forced_failure_carries_the_given_or_a_default_error() -> None:
    book = Book()
    given = JobError("processing_error", "VOICE_SYNTHESIS_FAILED", "no voice")
    first = _job_in(book, JobStatus.PROCESSING)
    book.jobs.force(first.job_id, JobStatus.FAILED, T0 + 1, error=given)
    assert first.error == given and first.result is None
    second = _job_in(book, JobStatus.PROCESSING)
    book.jobs.force(second.job_id, JobStatus.FAILED, T0 + 1)
    assert second.error is not None and second.error.code == "INTERNAL_ERROR"
    assert [s.event for s in book.seen if s.event == "job.failed"] == ["job.failed"] * 2


def test_forced_progress_only_moves_forward() -> None:
    book = Book()
    job = _job_in(book, JobStatus.PROCESSING)
    book.jobs.force(job.job_id, JobStatus.PROCESSING, T0 + 1, progress=50)
    for bad in (50, 10, 101):
        with pytest.raises(Conflict) as caught:
            book.jobs.force(job.job_id, JobStatus.PROCESSING, T0 + 2, progress=bad)
        assert caught.value.code == "INVALID_TRANSITION"
    assert job.progress == 50


def test_forced_end_frees_a_slot_for_the_queue() -> None:
    book = Book(concurrency=1)
    plan = make_plan(simulated=True, queue=0.0, processing=100.0)
    first, second = book.submit(plan), book.submit(plan)
    book.run(T0)
    assert second.status == JobStatus.PENDING
    book.jobs.force(first.job_id, JobStatus.COMPLETED, T0 + 3)
    assert second.status == JobStatus.PROCESSING and second.started_at == T0 + 3


def test_forcing_a_queued_job_to_start_takes_it_off_the_queue() -> None:
    book = Book(concurrency=1)
    plan = make_plan(simulated=True, queue=0.0, processing=100.0)
    first, second = book.submit(plan), book.submit(plan)
    book.run(T0)
    book.jobs.force(second.job_id, JobStatus.PROCESSING, T0 + 1)
    assert book.jobs.waiting == 0
    book.run(T0 + 10**4)
    assert [s.job_id for s in book.seen if s.event == "job.started"] == [
        first.job_id,
        second.job_id,
    ]


def test_forced_start_then_runs_the_plan_from_the_forced_start() -> None:
    book = Book()
    job = book.submit(make_plan(simulated=True, queue=10.0, processing=100.0))
    book.jobs.force(job.job_id, JobStatus.PROCESSING, T0 + 1)
    book.run(T0 + 10**4)
    assert book.events() == [
        ("job.started", T0 + 1),
        ("job.progress", T0 + 31),
        ("job.progress", T0 + 61),
        ("job.progress", T0 + 91),
        ("job.completed", T0 + 101),
    ]


def test_progress_never_moves_back_after_a_forced_progress() -> None:
    book = Book()
    job = book.submit(make_plan(simulated=True, queue=0.0, processing=100.0))
    book.run(T0)
    book.jobs.force(job.job_id, JobStatus.PROCESSING, T0 + 1, progress=60)
    book.run(T0 + 10**4)
    values = [s.progress for s in book.seen]
    assert values == sorted(values)
    progress_events = [s.data["progress"] for s in book.seen if s.event == "job.progress"]
    assert len(progress_events) == len(set(progress_events))


# ---- eviction ---------------------------------------------------------------------------------
def test_eviction_drops_the_oldest_ended_jobs_only() -> None:
    book = Book(max_jobs=3)
    waiting = book.submit(make_plan("pending"), job_id="job_a_pending")
    done_1 = book.submit(make_plan(), job_id="job_b_done")
    done_2 = book.submit(make_plan(), job_id="job_c_done")
    book.run(T0)
    assert len(book.jobs) == 3

    book.submit(make_plan("pending"), job_id="job_d_pending")
    assert len(book.jobs) == 3
    assert book.jobs.find(done_1.job_id) is None  # the oldest that has ended
    assert book.jobs.find(waiting.job_id) is waiting  # older, but still PENDING
    with pytest.raises(NotFound):
        book.jobs.get(done_1.job_id)

    book.submit(make_plan("pending"), job_id="job_e_pending")
    assert book.jobs.find(done_2.job_id) is None
    assert len(book.jobs) == 3

    # Nothing has ended: the book is full of open jobs, and a new one is refused (it would
    # grow without bound: jobs that never end, such as stay_pending ones, pass any bound).
    with pytest.raises(RateLimited) as full:
        book.submit(make_plan("pending"), job_id="job_f_pending")
    assert full.value.retry_after == 60 and "none has ended" in full.value.message
    assert [job.job_id for job in book.jobs] == ["job_a_pending", "job_d_pending", "job_e_pending"]
    book.jobs.cancel("job_a_pending", "done with it", T0)  # one ends: room again
    book.submit(make_plan("pending"), job_id="job_f_pending")
    assert [job.job_id for job in book.jobs] == ["job_d_pending", "job_e_pending", "job_f_pending"]


# ---- reading ----------------------------------------------------------------------------------
def test_listing_sorts_and_filters() -> None:
    book = Book()
    a = book.submit(make_plan(), at=T0, job_id="job_a")
    book.run(T0)
    b = book.submit(make_plan("pending"), at=T0 + 1, job_id="job_b")
    c = book.submit(make_plan("pending"), at=T0 + 2, job_id="job_c")
    assert book.jobs.listing() == [c, b, a]
    assert book.jobs.listing(sort="created_at") == [a, b, c]
    assert book.jobs.listing(sort="status") == [a, c, b]  # COMPLETED < PENDING, ties newest first
    assert book.jobs.listing(sort="-status") == [c, b, a]
    assert book.jobs.listing(status="PENDING") == [c, b]
    assert book.jobs.counts() == {
        "PENDING": 2,
        "PROCESSING": 0,
        "COMPLETED": 1,
        "FAILED": 0,
        "CANCELLED": 0,
    }


# ---- restore ----------------------------------------------------------------------------------
@pytest.mark.parametrize("simulated", [False, True])
def test_a_restored_pending_job_is_scheduled_like_a_submitted_one(simulated: bool) -> None:
    plan = make_plan(simulated=simulated, queue=5.0)
    submitted = Book()
    submitted.submit(plan, job_id="job_x")
    restored = Book()
    restored.jobs.restore(Job("job_x", 1, JobInput("https://example.com/in.mp4"), {}, plan, T0))
    assert restored.scheduler.next_at() == submitted.scheduler.next_at()
    assert submitted.scheduler.next_at() == (T0 + 5.0 if simulated else T0)


def test_a_restored_processing_job_carries_on_from_its_step() -> None:
    plan = make_plan(simulated=True, queue=0.0, processing=100.0)
    job = Job(
        "job_y",
        7,
        JobInput("https://example.com/in.mp4"),
        {},
        plan,
        T0,
        status=JobStatus.PROCESSING,
        progress=30,
        started_at=T0,
        step=1,
    )
    book = Book()
    book.jobs.restore(job)
    assert book.jobs.processing == 1
    book.run(T0 + 1_000)
    assert book.events() == [
        ("job.progress", T0 + 60),
        ("job.progress", T0 + 90),
        ("job.completed", T0 + 100),
    ]
    assert book.submit(make_plan("pending")).seq == 8


LABELS = ["job.created", "job.started", "job.progress 30", "job.progress 99", "job.completed"]


@given(st.lists(st.tuples(st.floats(0, 1e11), st.sampled_from(LABELS)), max_size=12))
def test_a_timeline_gives_back_what_was_appended(entries: list[tuple[float, str]]) -> None:
    plan = JobPlan("complete", False, 0.0, 1.0, 0.9, 0.1)
    job = Job(
        "job_t", 1, JobInput("https://example.com/in.mp4"), {}, plan, 0.0, timeline=entries[:1]
    )
    for entry in entries[1:]:
        job.timeline.append(entry)
    assert list(job.timeline) == entries
    assert len(job.timeline) == len(entries)
    assert job.timeline[1:] == entries[1:]
    if entries:
        assert job.timeline[-1] == entries[-1]
    assert pack_timeline(entries) == job.timeline_data  # packed the same however it was made


def test_a_timeline_entry_is_one_of_a_fixed_set_and_needs_no_shared_table() -> None:
    """Every event, every progress from 0 to 100, round-trips; anything else is refused
    rather than added to a table other accounts' jobs depend on."""
    every = [(float(n), name) for n, name in enumerate(TIMELINE_EVENTS)]
    every += [(1.0, f"job.progress {percent}") for percent in range(101)]
    plan = JobPlan("complete", False, 0.0, 1.0, 0.9, 0.1)
    job = Job("job_t", 1, JobInput("https://example.com/in.mp4"), {}, plan, 0.0, timeline=every)
    assert list(job.timeline) == every
    for wrong in ("job.progress 101", "job.progress -1", "job.exploded", "job.started x"):
        with pytest.raises(ValueError):
            job.timeline.append((2.0, wrong))
    assert list(job.timeline) == every


def test_a_stored_job_is_one_object_for_the_collector() -> None:
    """Its records are plain tuples and bytes, which Python does not track: 100,000 stored
    jobs must not be 500,000 objects for every full collection to walk."""
    plan = JobPlan("fail", True, 3.0, 60.0, 0.9, 0.5, (30, 60), JobError("a", "B", "c"), 60)
    job = Job("job_g", 1, JobInput("https://example.com/in.mp4", "hi"), {"k": "v"}, plan, 0.0)
    job.timeline.append((1.0, "job.created"))
    job.result = JobResult(0.5, 0.9, 60)
    job.error = JobError("processing_error", "PROCESSING_FAILED", "Processing failed")
    gc.collect()  # untracks tuples of strings and numbers (the error tuple inside the plan's)
    gc.collect()  # then the plan's tuple, now that what it holds is untracked
    shared = (Job, JobStatus.PENDING)  # the class and the status: one for all jobs
    tracked = [o for o in gc.get_referents(job) if gc.is_tracked(o) and o not in shared]
    assert tracked == [], tracked
    assert job.plan == plan and job.plan.error == JobError("a", "B", "c")
    assert job.input == JobInput("https://example.com/in.mp4", "hi")
    assert job.result == JobResult(0.5, 0.9, 60)
    assert job.steps() == plan.steps()
    assert job.estimated_duration_seconds == plan.estimated_duration_seconds

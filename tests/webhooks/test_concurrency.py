"""Event order per endpoint over real sockets, retries that do not hold later events back,
and a slow receiver that never slows the API down."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from aiprod_sandbox import Settings
from tests.conftest import START
from tests.support.receivers import Receivers, Running
from tests.webhooks.conftest import WAIT, Api

ALL_EVENTS = ["job.started", "job.progress", "job.completed", "job.failed", "job.cancelled"]
JOB_ORDER = [
    ("job.started", None),
    ("job.progress", 30),
    ("job.progress", 60),
    ("job.progress", 90),
    ("job.completed", None),
]


@pytest.fixture
def settings() -> Settings:
    """A 5 s attempt timeout here: the slow receiver (2 s) is slow, not timed out."""
    return Settings(seed=7, clock="manual", start_time=START, webhook_timeout=5.0)


def test_first_attempts_reach_the_receiver_in_event_order(api: Api, receivers: Receivers) -> None:
    running = receivers.plain()
    api.register(running.url, ALL_EVENTS)
    jobs = [api.submit() for _ in range(3)]
    count = 5 * len(jobs)
    assert running.receiver.wait_until(lambda items: len(items) >= count, timeout=WAIT)
    received = [
        (i.json()["data"]["job_id"], i.event, i.json()["data"].get("progress"))
        for i in running.receiver.received
    ]
    for job_id in jobs:  # each job's events in order (other jobs' may come between)
        assert [(e, p) for owner, e, p in received if owner == job_id] == JOB_ORDER
    assert {i.attempt for i in running.receiver.received} == {1}
    # For each job, the order they arrived in is the order the deliveries were made (the log
    # is newest first).
    made = [d for d in reversed(api.deliveries())]
    for job_id in jobs:
        arrived = [
            i.delivery_id for i in running.receiver.received if i.json()["data"]["job_id"] == job_id
        ]
        assert arrived == [d["delivery_id"] for d in made if d["job_id"] == job_id]


def test_order_holds_with_a_receiver_that_answers_slowly(api: Api, receivers: Receivers) -> None:
    """Even when each answer takes a while (so later events are ready long before earlier
    ones are answered), one endpoint gets a job's first attempts in event order."""
    slow = receivers.misbehaving(delay=0.05)
    api.register(slow.url, ALL_EVENTS)
    job_id = api.submit()
    assert slow.receiver.wait_until(lambda items: len(items) >= 5, timeout=WAIT)
    got = [(i.event, i.json()["data"].get("progress")) for i in slow.receiver.received]
    assert got == JOB_ORDER
    assert {i.json()["data"]["job_id"] for i in slow.receiver.received} == {job_id}


def test_two_endpoints_each_get_their_own_order(api: Api, receivers: Receivers) -> None:
    fast = receivers.plain()
    slow = receivers.misbehaving(delay=0.05)
    api.register(slow.url, ALL_EVENTS)
    api.register(fast.url, ALL_EVENTS)
    api.submit()
    assert fast.receiver.wait_until(lambda items: len(items) >= 5, timeout=WAIT)
    assert slow.receiver.wait_until(lambda items: len(items) >= 5, timeout=WAIT)
    for running in (fast, slow):
        got = [(i.event, i.json()["data"].get("progress")) for i in running.receiver.received]
        assert got == JOB_ORDER


def test_a_failing_first_event_does_not_hold_back_later_ones(
    api: Api, receivers: Receivers
) -> None:
    running = receivers.plain(500)  # the first delivery fails, every other one succeeds
    api.register(running.url, ALL_EVENTS)
    job_id = api.submit()
    assert running.receiver.wait_until(lambda items: len(items) >= 5, timeout=WAIT)
    api.advance(0)
    first_round = [(i.event, i.attempt, i.status) for i in running.receiver.received]
    assert first_round == [
        ("job.started", 1, 500),
        ("job.progress", 1, 200),
        ("job.progress", 1, 200),
        ("job.progress", 1, 200),
        ("job.completed", 1, 200),
    ]
    by_event = {d["event"]: d for d in api.deliveries(job_id=job_id)}
    assert by_event["job.started"]["status"] == "pending"
    assert by_event["job.completed"]["status"] == "delivered"
    assert [d["status"] for d in api.deliveries(event="job.progress")] == ["delivered"] * 3

    moved = api.advance(1)
    assert [r["action"] for r in moved["ran"]] == ["attempt 2: delivered 200"]
    late = running.receiver.received[5]
    assert (late.event, late.attempt, late.status) == ("job.started", 2, 200)
    assert late.body == running.receiver.received[0].body
    assert late.json()["data"] == {"job_id": job_id, "status": "PROCESSING"}
    assert {d["status"] for d in api.deliveries()} == {"delivered"}


def test_sending_never_blocks_the_api(api: Api, receivers: Receivers) -> None:
    slow = receivers.misbehaving(delay=2.0)
    api.register(slow.url, ["job.completed"])

    started = time.monotonic()
    job_id = api.submit()
    submit_took = time.monotonic() - started
    assert slow.receiver.wait_until(lambda items: len(items) >= 1, timeout=WAIT)

    # The attempt is in flight (the receiver holds it for 2 s); the API answers at once.
    started = time.monotonic()
    job = api.client.get(f"/jobs/{job_id}", headers=api.headers)
    get_took = time.monotonic() - started
    started = time.monotonic()
    second = api.submit()
    second_took = time.monotonic() - started
    started = time.monotonic()
    (pending,) = api.deliveries(job_id=job_id)
    log_took = time.monotonic() - started

    assert job.status_code == 200
    assert job.json()["status"] == "COMPLETED"
    assert pending["status"] == "pending"
    assert pending["attempts"] == []  # still in flight
    assert second != job_id
    assert submit_took < 0.5, submit_took
    assert get_took < 0.5, get_took
    assert second_took < 0.5, second_took
    assert log_took < 0.5, log_took


def queued_job(make_api: Callable[..., Api], running: Running) -> tuple[Api, str]:
    """A sandbox whose dispatcher queue holds two attempts, and a job with five events: two
    first attempts go out at once, three wait in line for a place (at their own time)."""
    api = make_api(webhook_queue=2)
    api.register(running.url, ALL_EVENTS)
    job_id = api.submit()
    return api, job_id


def test_a_full_queue_defers_attempts_without_losing_or_reordering_them(
    make_api: Callable[..., Api], receivers: Receivers
) -> None:
    running = receivers.plain()
    api, job_id = queued_job(make_api, running)
    api.advance(0)  # settles every attempt due now, the waiting ones included
    got = [(i.event, i.json()["data"].get("progress")) for i in running.receiver.received]
    assert got == JOB_ORDER
    assert {i.attempt for i in running.receiver.received} == {1}
    assert {d["status"] for d in api.deliveries(job_id=job_id)} == {"delivered"}


def test_an_advance_runs_the_attempts_a_full_queue_deferred_within_it(
    make_api: Callable[..., Api], receivers: Receivers
) -> None:
    running = receivers.plain()
    api, job_id = queued_job(make_api, running)
    moved = api.advance(10)
    assert len(running.receiver.received) == 5
    assert {d["status"] for d in api.deliveries(job_id=job_id)} == {"delivered"}
    assert all(r["at"] <= moved["clock"]["now"] for r in moved["ran"])


def test_deferred_first_attempts_are_not_overtaken_by_later_events(
    make_api: Callable[..., Api], receivers: Receivers
) -> None:
    running = receivers.plain()
    api, first_job = queued_job(make_api, running)
    second_job = api.submit()  # same clock instant, later events, while the first job's wait
    api.advance(0)
    got = [(i.json()["data"]["job_id"], i.event) for i in running.receiver.received]
    assert len(got) == 10
    assert {d["status"] for d in api.deliveries()} == {"delivered"}
    for job in (first_job, second_job):  # each job's events in order, whatever the queue did
        assert [event for owner, event in got if owner == job] == [e for e, _ in JOB_ORDER]

"""Concurrent jobs per tier (contract section 4): at most the tier's number PROCESSING at once;
the rest wait in PENDING, in submission order, and start as slots free. Walked on a manual
clock with simulated timing, sampled through `GET /jobs` after every step of the clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings
from tests.conftest import START, auth, new_key

JOB = {"video_url": "https://example.com/video.mp4"}
PENDING = {"video_url": "https://example.com/stay_pending.mp4"}
ENDED = {"COMPLETED", "FAILED", "CANCELLED"}
# Simulated timing without a preset: queue 2-8 s, processing 180-225 s (core/planner.py).
MAX_QUEUE, MIN_PROCESSING, MAX_PROCESSING = 8, 180, 225
MAX_STEPS = 600


@pytest.fixture
def settings() -> Settings:
    return Settings(seed=21, clock="manual", start_time=START)


def simulated(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/_sandbox/timing", json={"job_timing": "simulated"}, headers=headers)
    assert response.status_code == 200, response.text


def advance(client: TestClient, headers: dict[str, str], seconds: float) -> dict[str, Any]:
    response = client.post("/_sandbox/clock/advance", json={"seconds": seconds}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def submit(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/pipeline/run", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


def read_jobs(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get("/jobs", params={"limit": 100}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body["pagination"]["has_next"]
    return {job["job_id"]: job for job in body["items"]}


@dataclass
class Walk:
    jobs: dict[str, dict[str, Any]]  # the last read
    most_processing: int = 0
    steps: int = 0
    ran: list[dict[str, Any]] = field(default_factory=list)


def walk(
    client: TestClient, headers: dict[str, str], limit: int, step: float, *, read_first: bool
) -> Walk:
    """Advance `step` seconds at a time until every job has ended, checking after each step
    that no more than `limit` jobs are PROCESSING."""
    result = Walk(jobs={})
    for index in range(MAX_STEPS):
        if index or not read_first:
            result.ran += advance(client, headers, step)["ran"]
            result.steps += 1
        result.jobs = read_jobs(client, headers)
        processing = sum(job["status"] == "PROCESSING" for job in result.jobs.values())
        assert processing <= limit, f"{processing} PROCESSING after {result.steps} steps"
        result.most_processing = max(result.most_processing, processing)
        if all(job["status"] in ENDED for job in result.jobs.values()):
            return result
    pytest.fail(f"jobs still running after {MAX_STEPS} steps of {step} s")


def most_overlapping(jobs: list[dict[str, Any]]) -> int:
    """The most jobs processing at one instant, from their timestamps (whole seconds, ISO; a
    job ending at the second another starts is not counted with it)."""
    spans = [(job["started_at"], job["completed_at"]) for job in jobs if job["started_at"]]
    return max(
        (sum(start <= moment < end for start, end in spans) for moment, _ in spans), default=0
    )


def check_queue(jobs: list[dict[str, Any]], limit: int) -> None:
    """Jobs in submission order: all COMPLETED, started in submission order, the first
    `limit` without waiting, and the k-th waiting one exactly when the k-th slot freed."""
    assert [job["status"] for job in jobs] == ["COMPLETED"] * len(jobs)
    starts = [job["started_at"] for job in jobs]
    assert starts == sorted(starts), "jobs did not start in submission order"
    for job in jobs:
        assert job["created_at"] <= job["started_at"] < job["completed_at"]
    completions = sorted(job["completed_at"] for job in jobs)
    for index, job in enumerate(jobs[limit:]):
        assert job["started_at"] == completions[index], f"waiting job {limit + index}"
    assert most_overlapping(jobs) == limit


# ---- Free: 2 at once -----------------------------------------------------------------------
def test_free_runs_two_jobs_at_once_in_submission_order(client: TestClient) -> None:
    headers = auth(new_key("free"))
    simulated(client, headers)
    accepted = [submit(client, headers, JOB) for _ in range(5)]  # the whole burst
    advance(client, headers, 6)  # one token back
    accepted.append(submit(client, headers, JOB))
    ids = [a["job_id"] for a in accepted]
    # 6 s steps: exactly one token back per step for the one GET /jobs of each step.
    result = walk(client, headers, limit=2, step=6, read_first=False)
    assert result.most_processing == 2
    check_queue([result.jobs[job_id] for job_id in ids], limit=2)


def test_free_samples_every_five_seconds_through_the_queue(client: TestClient) -> None:
    """Small steps (5 s) without tripping the Free bucket: read every other step."""
    headers = auth(new_key("free"))
    simulated(client, headers)
    ids = [submit(client, headers, JOB)["job_id"] for _ in range(4)]
    most = 0
    for index in range(MAX_STEPS):
        advance(client, headers, 5)
        if index % 2:
            continue
        jobs = read_jobs(client, headers)
        statuses = [jobs[job_id]["status"] for job_id in ids]
        processing = statuses.count("PROCESSING")
        assert processing <= 2, statuses
        most = max(most, processing)
        # Never a later job processing or done while an earlier one still waits.
        first_waiting = statuses.index("PENDING") if "PENDING" in statuses else len(ids)
        assert all(status == "PENDING" for status in statuses[first_waiting:]), statuses
        if set(statuses) == {"COMPLETED"}:
            break
    else:
        pytest.fail("jobs still running")
    assert most == 2


def test_estimates_include_the_expected_wait(client: TestClient) -> None:
    headers = auth(new_key("free"))
    simulated(client, headers)
    accepted = [submit(client, headers, JOB) for _ in range(5)]
    advance(client, headers, 6)
    accepted.append(submit(client, headers, JOB))
    estimates = [a["estimated_duration_seconds"] for a in accepted]
    # Jobs 1-2 start at once: queue + processing only.
    assert all(MIN_PROCESSING <= e <= MAX_QUEUE + MAX_PROCESSING + 1 for e in estimates[:2])
    # Jobs 3-4 wait for one round, 5-6 for two.
    assert min(estimates[2:]) > max(estimates[:2])
    assert min(estimates[4:]) > max(estimates[2:4])
    assert min(estimates[2:4]) >= 2 * MIN_PROCESSING
    assert min(estimates[4:]) >= 3 * MIN_PROCESSING
    # The job's record keeps the estimate it was given.
    advance(client, headers, 6)
    jobs = read_jobs(client, headers)
    assert [jobs[a["job_id"]]["estimated_duration_seconds"] for a in accepted] == estimates


def test_estimate_is_close_to_when_a_waiting_job_really_ends(client: TestClient) -> None:
    headers = auth(new_key("free"))
    simulated(client, headers)
    accepted = [submit(client, headers, JOB) for _ in range(3)]
    walk(client, headers, limit=2, step=30, read_first=True)
    third = client.get(f"/jobs/{accepted[2]['job_id']}", headers=headers).json()
    # created at START; an estimate uses the job's own processing time for the jobs ahead of
    # it, so it is off by at most the spread of processing and queue times.
    took = _seconds(third["completed_at"]) - _seconds(third["created_at"])
    assert abs(took - accepted[2]["estimated_duration_seconds"]) <= (
        MAX_PROCESSING - MIN_PROCESSING + MAX_QUEUE + 1
    )


def _seconds(iso: str) -> int:
    hours, minutes, seconds = (int(part) for part in iso[11:19].split(":"))
    return hours * 3600 + minutes * 60 + seconds


def test_jobs_that_stay_pending_take_no_slot(client: TestClient) -> None:
    headers = auth(new_key("free"))
    simulated(client, headers)
    stuck = [submit(client, headers, PENDING)["job_id"] for _ in range(2)]
    running = [submit(client, headers, JOB)["job_id"] for _ in range(2)]
    advance(client, headers, MAX_QUEUE)
    jobs = read_jobs(client, headers)
    assert [jobs[job_id]["status"] for job_id in stuck] == ["PENDING", "PENDING"]
    assert [jobs[job_id]["status"] for job_id in running] == ["PROCESSING", "PROCESSING"]


def test_a_cancelled_waiting_job_never_starts_and_the_next_one_moves_up(
    client: TestClient,
) -> None:
    headers = auth(new_key("free"))
    simulated(client, headers)
    ids = [submit(client, headers, JOB)["job_id"] for _ in range(4)]
    advance(client, headers, MAX_QUEUE)
    cancelled = client.delete(f"/jobs/{ids[2]}", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    result = walk(client, headers, limit=2, step=30, read_first=True)
    jobs = [result.jobs[job_id] for job_id in ids]
    assert jobs[2]["status"] == "CANCELLED" and jobs[2]["started_at"] is None
    first_free = min(jobs[0]["completed_at"], jobs[1]["completed_at"])
    assert jobs[3]["started_at"] == first_free
    assert jobs[3]["status"] == "COMPLETED"


def test_a_failed_job_frees_its_slot(client: TestClient) -> None:
    headers = auth(new_key("free"))
    simulated(client, headers)
    failing = {"video_url": "https://example.com/fail_download.mp4"}
    ids = [submit(client, headers, failing)["job_id"] for _ in range(2)]
    ids.append(submit(client, headers, JOB)["job_id"])
    result = walk(client, headers, limit=2, step=30, read_first=True)
    jobs = [result.jobs[job_id] for job_id in ids]
    assert [job["status"] for job in jobs] == ["FAILED", "FAILED", "COMPLETED"]
    assert jobs[2]["started_at"] == min(jobs[0]["completed_at"], jobs[1]["completed_at"])


def test_advance_lists_every_job_start(client: TestClient) -> None:
    headers = auth(new_key("free"))
    simulated(client, headers)
    ids = [submit(client, headers, JOB)["job_id"] for _ in range(3)]
    ran = advance(client, headers, 3 * 3600)["ran"]
    started = [entry["ref"] for entry in ran if entry["action"] == "job.started"]
    assert started == ids


# ---- Pro: 10, Enterprise: 50 ---------------------------------------------------------------
@pytest.mark.parametrize(("tier", "limit", "count"), [("pro", 10, 12), ("enterprise", 50, 55)])
def test_higher_tiers_run_their_number_at_once(
    client: TestClient, tier: str, limit: int, count: int
) -> None:
    headers = auth(new_key(tier))
    simulated(client, headers)
    accepted = [submit(client, headers, JOB) for _ in range(count)]
    result = walk(client, headers, limit=limit, step=5, read_first=True)
    assert result.most_processing == limit
    check_queue([result.jobs[a["job_id"]] for a in accepted], limit=limit)
    estimates = [a["estimated_duration_seconds"] for a in accepted]
    assert min(estimates[limit:]) > max(estimates[:limit])


def test_pro_batch_queues_in_item_order(client: TestClient) -> None:
    headers = auth(new_key("pro"))
    simulated(client, headers)
    videos = [{"url": f"https://example.com/v{n}.mp4"} for n in range(13)]
    batch = client.post("/pipeline/batch", json={"videos": videos}, headers=headers)
    assert batch.status_code == 202, batch.text
    ids = [job["job_id"] for job in batch.json()["jobs"]]
    result = walk(client, headers, limit=10, step=5, read_first=True)
    assert result.most_processing == 10
    check_queue([result.jobs[job_id] for job_id in ids], limit=10)


def test_accounts_have_their_own_slots(client: TestClient) -> None:
    alice, bob = auth(new_key("free")), auth(new_key("free"))
    for headers in (alice, bob):
        simulated(client, headers)
        for _ in range(2):
            submit(client, headers, JOB)
        advance(client, headers, MAX_QUEUE)
    for headers in (alice, bob):
        statuses = [job["status"] for job in read_jobs(client, headers).values()]
        assert statuses == ["PROCESSING", "PROCESSING"]


# ---- instant timing: nothing waits ---------------------------------------------------------
@pytest.mark.parametrize(("tier", "count"), [("free", 4), ("pro", 25), ("enterprise", 60)])
def test_instant_timing_never_queues(client: TestClient, tier: str, count: int) -> None:
    headers = auth(new_key(tier))
    accepted = [submit(client, headers, JOB) for _ in range(count)]
    for job in accepted:
        assert job["status"] == "PENDING"
        assert job["estimated_duration_seconds"] <= MAX_QUEUE + MAX_PROCESSING + 1  # no wait
    jobs = read_jobs(client, headers)
    assert len(jobs) == count
    assert {job["status"] for job in jobs.values()} == {"COMPLETED"}

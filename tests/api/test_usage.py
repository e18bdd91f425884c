"""`GET /me/usage` (the guide's "Monitor API Usage"): tier, limits, requests this minute and
today on the account's clock, jobs by status, and the simulated cost of completed jobs."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings
from tests.conftest import START, auth, new_key

JOB = {"video_url": "https://example.com/video.mp4"}
FAILING = {"video_url": "https://example.com/fail_download.mp4"}
PENDING = {"video_url": "https://example.com/stay_pending.mp4"}
STATUSES = ("PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED")
# START is 2026-05-28T20:26:40Z: 20 s to the next clock minute, 3:33:20 to midnight UTC.
TO_NEXT_MINUTE = 20
TO_MIDNIGHT = 3 * 3600 + 33 * 60 + 20


@pytest.fixture
def settings() -> Settings:
    return Settings(seed=9, clock="manual", start_time=START)


def usage(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get("/me/usage", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def advance(client: TestClient, headers: dict[str, str], seconds: float) -> None:
    response = client.post("/_sandbox/clock/advance", json={"seconds": seconds}, headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("tier", "limits"),
    [
        ("free", {"requests_per_minute": 10, "burst": 5, "concurrent_jobs": 2}),
        ("pro", {"requests_per_minute": 100, "burst": 50, "concurrent_jobs": 10}),
        (
            "enterprise",
            {"requests_per_minute": 1_000_000, "burst": 1_000_000, "concurrent_jobs": 50},
        ),
    ],
)
def test_shape_tier_and_limits(client: TestClient, tier: str, limits: dict[str, int]) -> None:
    headers = auth(new_key(tier))
    body = usage(client, headers)
    assert set(body) == {"account_id", "tier", "limits", "requests", "jobs", "cost"}
    account = client.get("/_sandbox/account", headers=headers).json()
    assert body["account_id"] == account["account_id"]
    assert body["tier"] == tier
    assert body["limits"] == limits
    assert body["requests"] == {"this_minute": 1, "today": 1}  # this very request
    assert body["jobs"] == dict.fromkeys(STATUSES, 0)
    assert list(body["jobs"]) == list(STATUSES)
    assert body["cost"] == {"total": 0, "currency": "USD", "charged": 0}


def test_requests_count_moves_with_requests(client: TestClient) -> None:
    headers = auth(new_key("pro"))
    for _ in range(3):
        client.get("/jobs", headers=headers)
    client.get("/jobs/job_doesnotexist0000", headers=headers)  # a 404 is a request too
    client.post("/pipeline/run", json={}, headers=headers)  # and so is a 400
    assert usage(client, headers)["requests"] == {"this_minute": 6, "today": 6}
    assert usage(client, headers)["requests"] == {"this_minute": 7, "today": 7}


def test_control_and_unauthenticated_calls_are_not_counted(client: TestClient) -> None:
    headers = auth(new_key("pro"))
    for _ in range(5):
        client.get("/_sandbox/clock", headers=headers)
        client.get("/health", headers=headers)
        client.get("/openapi.json", headers=headers)
    assert usage(client, headers)["requests"] == {"this_minute": 1, "today": 1}


def test_requests_reset_with_the_clock_minute_and_day(client: TestClient) -> None:
    headers = auth(new_key("pro"))
    for _ in range(4):
        client.get("/jobs", headers=headers)
    assert usage(client, headers)["requests"] == {"this_minute": 5, "today": 5}
    advance(client, headers, TO_NEXT_MINUTE - 1)  # 20:26:59: the same minute
    assert usage(client, headers)["requests"] == {"this_minute": 6, "today": 6}
    advance(client, headers, 1)  # 20:27:00: a new minute, the same day
    assert usage(client, headers)["requests"] == {"this_minute": 1, "today": 7}
    client.get("/jobs", headers=headers)
    assert usage(client, headers)["requests"] == {"this_minute": 3, "today": 9}
    advance(client, headers, TO_MIDNIGHT - TO_NEXT_MINUTE - 1)  # 23:59:59
    assert usage(client, headers)["requests"] == {"this_minute": 1, "today": 10}
    advance(client, headers, 1)  # midnight UTC: a new day
    assert usage(client, headers)["requests"] == {"this_minute": 1, "today": 1}
    client.get("/jobs", headers=headers)
    advance(client, headers, 3 * 86400)  # days with no request at all
    assert usage(client, headers)["requests"] == {"this_minute": 1, "today": 1}


def test_refused_requests_still_count_as_requests(client: TestClient) -> None:
    headers = auth(new_key("free"))
    statuses = [client.get("/jobs", headers=headers).status_code for _ in range(8)]
    assert statuses == [200] * 5 + [429] * 3
    advance(client, headers, 6)
    assert usage(client, headers)["requests"] == {"this_minute": 9, "today": 9}


def test_keys_of_one_account_add_up(client: TestClient) -> None:
    headers = auth(new_key("pro"))
    created = client.post("/keys", json={"name": "second"}, headers=headers)
    second = auth(created.json()["key"])
    client.get("/jobs", headers=second)
    client.get("/jobs", headers=second)
    assert usage(client, second)["requests"] == {"this_minute": 4, "today": 4}
    assert usage(client, auth(new_key("pro")))["requests"] == {"this_minute": 1, "today": 1}


def test_jobs_by_status_and_cost_after_a_mix(client: TestClient) -> None:
    headers = auth(new_key("pro"))
    completed = [client.post("/pipeline/run", json=JOB, headers=headers) for _ in range(3)]
    with_preset = client.post(
        "/pipeline/run", json={**JOB, "preset": "social_short"}, headers=headers
    )
    failed = [client.post("/pipeline/run", json=FAILING, headers=headers) for _ in range(2)]
    pending = [client.post("/pipeline/run", json=PENDING, headers=headers) for _ in range(4)]
    for response in [*completed, with_preset, *failed, *pending]:
        assert response.status_code == 202, response.text
    cancelled = client.delete(f"/jobs/{pending[0].json()['job_id']}", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    # One job on simulated timing, caught while it processes (queue <= 8 s, processing >= 180).
    timing = client.post("/_sandbox/timing", json={"job_timing": "simulated"}, headers=headers)
    assert timing.status_code == 200, timing.text
    assert client.post("/pipeline/run", json=JOB, headers=headers).status_code == 202
    advance(client, headers, 8)

    jobs = client.get("/jobs", params={"limit": 100}, headers=headers).json()["items"]
    by_status = {status: [j for j in jobs if j["status"] == status] for status in STATUSES}
    body = usage(client, headers)
    assert body["jobs"] == {
        "PENDING": 3,
        "PROCESSING": 1,
        "COMPLETED": 4,
        "FAILED": 2,
        "CANCELLED": 1,
    }
    assert body["jobs"] == {status: len(found) for status, found in by_status.items()}
    costs = [job["result"]["cost_estimate"] for job in by_status["COMPLETED"]]
    assert all(cost > 0 for cost in costs)
    assert body["cost"]["total"] == pytest.approx(round(sum(costs), 2), abs=1e-9)
    assert body["cost"]["total"] > 0
    assert body["cost"]["currency"] == "USD"
    assert body["cost"]["charged"] == 0


def test_cost_counts_only_completed_jobs(client: TestClient) -> None:
    headers = auth(new_key("pro"))
    for body in (FAILING, PENDING, FAILING):
        assert client.post("/pipeline/run", json=body, headers=headers).status_code == 202
    assert usage(client, headers)["cost"] == {"total": 0, "currency": "USD", "charged": 0}


def test_simulated_jobs_move_between_the_counts(client: TestClient) -> None:
    headers = auth(new_key("pro"))
    timing = client.post("/_sandbox/timing", json={"job_timing": "simulated"}, headers=headers)
    assert timing.status_code == 200, timing.text
    job_id = client.post("/pipeline/run", json=JOB, headers=headers).json()["job_id"]
    assert usage(client, headers)["jobs"]["PENDING"] == 1
    advance(client, headers, 8)  # the queue time is at most 8 s
    during = usage(client, headers)
    assert (during["jobs"]["PENDING"], during["jobs"]["PROCESSING"]) == (0, 1)
    assert during["cost"]["total"] == 0  # nothing is counted before it completes
    advance(client, headers, 3600)
    after = usage(client, headers)
    assert (after["jobs"]["PROCESSING"], after["jobs"]["COMPLETED"]) == (0, 1)
    job = client.get(f"/jobs/{job_id}", headers=headers).json()
    assert after["cost"]["total"] == job["result"]["cost_estimate"] > 0


def test_usage_is_per_account(client: TestClient) -> None:
    alice, bob = auth(new_key("pro")), auth(new_key("pro"))
    client.post("/pipeline/run", json=JOB, headers=alice)
    body = usage(client, bob)
    assert body["jobs"] == dict.fromkeys(STATUSES, 0)
    assert body["cost"]["total"] == 0
    assert body["requests"]["today"] == 1


def test_sandbox_reset_clears_usage(client: TestClient) -> None:
    headers = auth(new_key("pro"))
    for body in (JOB, FAILING, PENDING):
        client.post("/pipeline/run", json=body, headers=headers)
    assert usage(client, headers)["requests"]["today"] == 4
    reset = client.post("/_sandbox/reset", json={}, headers=headers)
    assert reset.status_code == 200, reset.text
    body = usage(client, headers)
    assert body["requests"] == {"this_minute": 1, "today": 1}
    assert body["jobs"] == dict.fromkeys(STATUSES, 0)
    assert body["cost"]["total"] == 0

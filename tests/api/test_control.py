"""The /_sandbox control API: account, clock, advance, timing, journal, transitions, reset."""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings, create_app
from tests.api.helpers import assert_error
from tests.conftest import START, auth, new_key

SLOW = {"video_url": "https://example.com/slow.mp4"}
PENDING = {"video_url": "https://example.com/stay_pending.mp4"}
PLAIN = {"video_url": "https://example.com/video.mp4", "preset": "social_short"}


@pytest.fixture
def settings() -> Settings:
    return Settings(seed=3, clock="manual", start_time=START, job_timing="simulated")


def advance(client: TestClient, headers: dict[str, str], seconds: float) -> dict[str, Any]:
    response = client.post("/_sandbox/clock/advance", json={"seconds": seconds}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def job(client: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    return client.get(f"/jobs/{job_id}", headers=headers).json()


def test_account_shows_tier_limits_clock_and_timing(client: TestClient) -> None:
    headers = auth(new_key("free"))
    account = client.get("/_sandbox/account", headers=headers).json()
    assert account["tier"] == "free"
    assert account["limits"] == {
        "requests_per_minute": 10,
        "burst": 5,
        "concurrent_jobs": 2,
        "batch": False,
    }
    assert account["clock"] == {"mode": "manual", "now": "2026-05-28T20:26:40Z", "scale": 1.0}
    assert account["job_timing"] == "simulated"
    assert account["callback_secret"].startswith("whsec_")


def test_control_api_needs_a_valid_test_key(client: TestClient) -> None:
    assert client.get("/_sandbox/clock").json()["error"]["code"] == "MISSING_API_KEY"
    live = client.get("/_sandbox/clock", headers=auth("sk_live_abcdefghijklmnopqrst"))
    assert live.json()["error"]["code"] == "LIVE_KEY_IN_SANDBOX"


def test_simulated_job_walks_every_state_and_progress_with_advance_only(
    client: TestClient, headers: dict[str, str]
) -> None:
    accepted = client.post("/pipeline/run", json=PLAIN, headers=headers).json()
    job_id = accepted["job_id"]
    seen: list[tuple[str, int]] = []
    for _ in range(400):
        current = job(client, headers, job_id)
        step = (current["status"], current["progress"])
        if not seen or seen[-1] != step:
            seen.append(step)
        if current["status"] == "COMPLETED":
            break
        advance(client, headers, 1)
    assert seen == [
        ("PENDING", 0),
        ("PROCESSING", 0),
        ("PROCESSING", 30),
        ("PROCESSING", 60),
        ("PROCESSING", 90),
        ("COMPLETED", 100),
    ]
    final = job(client, headers, job_id)
    assert final["started_at"] > final["created_at"]
    assert final["completed_at"] > final["started_at"]
    took = final["result"]["processing_time_seconds"]
    assert abs(took - accepted["estimated_duration_seconds"]) <= 10


def test_advance_returns_what_ran_in_time_order(
    client: TestClient, headers: dict[str, str]
) -> None:
    first = client.post("/pipeline/run", json=PLAIN, headers=headers).json()["job_id"]
    second = client.post("/pipeline/run", json=SLOW, headers=headers).json()["job_id"]
    result = advance(client, headers, 24 * 3600)
    times = [entry["at"] for entry in result["ran"]]
    assert times == sorted(times)
    by_job: dict[str, list[str]] = {}
    for entry in result["ran"]:
        by_job.setdefault(entry["ref"], []).append(entry["action"])
    expected = ["job.started", "progress 30", "progress 60", "progress 90", "complete"]
    assert by_job == {first: expected, second: expected}
    assert result["ran_count"] == 10
    assert result["clock"]["now"] == "2026-05-29T20:26:40Z"
    # Nothing runs twice: the next advance has nothing left to do.
    assert advance(client, headers, 3600)["ran"] == []


def test_two_accounts_have_independent_clocks(client: TestClient) -> None:
    alice, bob = auth(new_key()), auth(new_key())
    alice_job = client.post("/pipeline/run", json=SLOW, headers=alice).json()["job_id"]
    bob_job = client.post("/pipeline/run", json=SLOW, headers=bob).json()["job_id"]
    advance(client, alice, 3600)
    assert job(client, alice, alice_job)["status"] == "COMPLETED"
    assert job(client, bob, bob_job)["status"] == "PENDING"
    assert client.get("/_sandbox/clock", headers=bob).json()["now"] == "2026-05-28T20:26:40Z"
    assert client.get("/_sandbox/clock", headers=alice).json()["now"] == "2026-05-28T21:26:40Z"


def test_clock_set_mode_time_and_scale(client: TestClient, headers: dict[str, str]) -> None:
    moved = client.post(
        "/_sandbox/clock", json={"mode": "manual", "now": "2026-06-01T00:00:00Z"}, headers=headers
    )
    assert moved.json() == {"mode": "manual", "now": "2026-06-01T00:00:00Z", "scale": 1.0}
    back = client.post(
        "/_sandbox/clock", json={"mode": "manual", "now": "2026-01-01T00:00:00Z"}, headers=headers
    )
    assert back.status_code == 409  # a conflict with the clock's state: it only moves forward
    assert back.json()["error"]["code"] == "INVALID_TRANSITION"
    assert "now" in back.json()["error"]["details"]
    scaled = client.post("/_sandbox/clock", json={"mode": "scaled", "scale": 3600}, headers=headers)
    assert scaled.json()["mode"] == "scaled"
    time.sleep(0.05)
    now = client.get("/_sandbox/clock", headers=headers).json()["now"]
    assert now > "2026-06-01T00:00:59Z"  # 0.05 s real × 3600 = 3 minutes of clock
    assert (
        client.post("/_sandbox/clock", json={"mode": "scaled"}, headers=auth(new_key())).status_code
        == 400
    )
    bad = client.post("/_sandbox/clock", json={"mode": "weird"}, headers=headers)
    assert bad.json()["error"]["details"]["mode"]


@pytest.mark.parametrize(
    "body", [{}, {"now": "2030-01-01T00:00:00Z"}, {"scale": 60}], ids=["empty", "now", "scale"]
)
def test_clock_mode_is_required_and_nothing_changes_without_it(
    client: TestClient, headers: dict[str, str], body: dict[str, object]
) -> None:
    before = client.get("/_sandbox/clock", headers=headers).json()
    refused = client.post("/_sandbox/clock", json=body, headers=headers)
    error = assert_error(refused, 400, "INVALID_PARAMETER")
    assert list(error["details"]) == ["mode"]
    assert client.get("/_sandbox/clock", headers=headers).json() == before


def test_advance_validates_seconds(client: TestClient, headers: dict[str, str]) -> None:
    for body in ({"seconds": -1}, {"seconds": "ten"}, {}, {"seconds": 1, "extra": 1}):
        response = client.post("/_sandbox/clock/advance", json=body, headers=headers)
        assert response.status_code == 400, body
        assert response.json()["error"]["type"] == "validation_error"


def test_timing_override_applies_to_new_jobs(client: TestClient, headers: dict[str, str]) -> None:
    instant = client.post("/_sandbox/timing", json={"job_timing": "instant"}, headers=headers)
    assert instant.json() == {"job_timing": "instant"}
    job_id = client.post("/pipeline/run", json=PLAIN, headers=headers).json()["job_id"]
    assert job(client, headers, job_id)["status"] == "COMPLETED"
    client.post("/_sandbox/timing", json={"job_timing": "simulated"}, headers=headers)
    job_id = client.post("/pipeline/run", json=PLAIN, headers=headers).json()["job_id"]
    assert job(client, headers, job_id)["status"] == "PENDING"


def test_transition_follows_the_state_machine(client: TestClient, headers: dict[str, str]) -> None:
    job_id = client.post("/pipeline/run", json=PENDING, headers=headers).json()["job_id"]
    url = f"/_sandbox/jobs/{job_id}/transition"
    refused = client.post(url, json={"status": "COMPLETED"}, headers=headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "INVALID_TRANSITION"
    started = client.post(url, json={"status": "PROCESSING"}, headers=headers).json()
    assert started["status"] == "PROCESSING"
    assert (
        client.post(url, json={"status": "PROCESSING", "progress": 45}, headers=headers).json()[
            "progress"
        ]
        == 45
    )
    assert (
        client.post(url, json={"status": "PROCESSING", "progress": 20}, headers=headers).status_code
        == 409
    )
    failed = client.post(
        url,
        json={"status": "FAILED", "error": {"code": "DOWNLOAD_FAILED", "message": "gone"}},
        headers=headers,
    ).json()
    assert failed["status"] == "FAILED"
    assert failed["error"] == {
        "type": "processing_error",
        "code": "DOWNLOAD_FAILED",
        "message": "gone",
    }
    assert client.post(url, json={"status": "CANCELLED"}, headers=headers).status_code == 409
    missing = client.post(
        "/_sandbox/jobs/job_nope/transition", json={"status": "PROCESSING"}, headers=headers
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "JOB_NOT_FOUND"


def test_request_journal_lists_api_requests_with_masked_keys(client: TestClient) -> None:
    key = new_key()
    headers = auth(key)
    client.post("/pipeline/run", json=PLAIN, headers=headers)
    client.get("/jobs?limit=5", headers=headers)
    client.get("/jobs/job_missing", headers=headers)
    items = client.get("/_sandbox/requests", headers=headers).json()["items"]
    assert [(i["method"], i["path"], i["status"]) for i in items] == [
        ("GET", "/jobs/job_missing", 404),
        ("GET", "/jobs", 200),
        ("POST", "/pipeline/run", 202),
    ]
    assert items[1]["query"] == "limit=5"
    assert all(i["key"] == "sk_test_…" + key[-4:] for i in items)
    assert all(key not in str(i) for i in items)
    assert all(i["request_id"].startswith("req_") and i["duration_ms"] >= 0 for i in items)
    only_404 = client.get("/_sandbox/requests?status=404", headers=headers).json()["items"]
    assert [i["path"] for i in only_404] == ["/jobs/job_missing"]
    posts = client.get("/_sandbox/requests?method=post", headers=headers).json()["items"]
    assert [i["path"] for i in posts] == ["/pipeline/run"]
    under = client.get("/_sandbox/requests?path=/jobs", headers=headers).json()["items"]
    assert {i["path"] for i in under} == {"/jobs", "/jobs/job_missing"}


def test_reset_clears_the_world_but_keeps_the_account(
    client: TestClient, headers: dict[str, str]
) -> None:
    before = client.get("/_sandbox/account", headers=headers).json()
    client.post("/pipeline/run", json=PLAIN, headers=headers)
    client.post("/_sandbox/clock/advance", json={"seconds": 500}, headers=headers)
    client.post("/_sandbox/timing", json={"job_timing": "instant"}, headers=headers)
    assert client.post("/_sandbox/reset", headers=headers).json() == {
        "reset": [before["account_id"]]
    }
    after = client.get("/_sandbox/account", headers=headers).json()
    assert after["account_id"] == before["account_id"]
    assert after["job_timing"] == "simulated"
    assert after["clock"]["now"] == "2026-05-28T20:26:40Z"
    assert client.get("/jobs", headers=headers).json()["pagination"]["total"] == 0
    journal = client.get("/_sandbox/requests", headers=headers).json()["items"]
    assert [entry["path"] for entry in journal] == ["/jobs"]  # only the request after reset
    everyone = client.post("/_sandbox/reset", json={"all": True}, headers=headers)
    assert everyone.status_code == 403


def test_admin_token_reaches_any_account() -> None:
    app = create_app(Settings(admin_token="let-me-in", clock="manual", start_time=START))
    key = new_key()
    with TestClient(app) as client:
        account_id = client.get("/_sandbox/account", headers=auth(key)).json()["account_id"]
        client.post("/pipeline/run", json=PLAIN, headers=auth(key))
        admin = {"X-AIPROD-Admin-Token": "let-me-in", "X-AIPROD-Account": account_id}
        assert client.get("/_sandbox/account", headers=admin).json()["account_id"] == account_id
        wrong = client.get("/_sandbox/account", headers={**admin, "X-AIPROD-Admin-Token": "no"})
        assert wrong.status_code == 401
        nobody = client.get("/_sandbox/account", headers={"X-AIPROD-Admin-Token": "let-me-in"})
        assert nobody.status_code == 400
        reset_all = client.post(
            "/_sandbox/reset", json={"all": True}, headers={"X-AIPROD-Admin-Token": "let-me-in"}
        )
        assert account_id in reset_all.json()["reset"]
        assert client.get("/jobs", headers=auth(key)).json()["pagination"]["total"] == 0


def test_ticker_runs_due_steps_without_requests() -> None:
    app = create_app(Settings(time_scale=20_000, job_timing="simulated"))
    key = new_key()
    with TestClient(app) as client:
        job_id = client.post("/pipeline/run", json=SLOW, headers=auth(key)).json()["job_id"]
        account, _ = app.state.sandbox.accounts.lookup(key)
        deadline = time.monotonic() + 5
        while account.jobs.get(job_id).status != "COMPLETED" and time.monotonic() < deadline:
            time.sleep(0.02)  # no request: only the ticker can move the job
        assert account.jobs.get(job_id).status == "COMPLETED"
        assert [event.event for event in account.events][-1] == "job.completed"


def test_the_admin_token_lists_every_account_with_counts() -> None:
    settings = Settings(seed=5, admin_token="t0ken")
    with TestClient(create_app(settings)) as admin_client:
        mine = new_key()
        admin_client.post(
            "/pipeline/run", headers=auth(mine), json={"video_url": "https://example.com/v.mp4"}
        )
        mine_id = admin_client.get("/_sandbox/account", headers=auth(mine)).json()["account_id"]
        listed = admin_client.get("/_sandbox/accounts", headers={"X-AIPROD-Admin-Token": "t0ken"})
        assert listed.status_code == 200
        rows = {row["account_id"]: row for row in listed.json()["items"]}
        assert rows[mine_id]["jobs"] == 1 and rows[mine_id]["fixture"] is False
        assert rows[mine_id]["requests"] >= 1
        assert any(row["fixture"] for row in rows.values())
        assert "sk_test" not in listed.text and "whsec_" not in listed.text
        by_key = admin_client.get("/_sandbox/accounts", headers=auth(mine))
        assert by_key.status_code == 403  # a key sees its own account only
        assert admin_client.get("/_sandbox/accounts").status_code == 401

"""Job rules: a scenario sets the outcome and timing of new jobs by their input."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.conftest import auth, new_key
from tests.scenarios.conftest import advance, get_job, submit, use
from tests.support.receivers import Running


def jobs_scenario(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"name": "jobs", "jobs": list(rules)}


def walk(
    client: TestClient, headers: dict[str, str], job_id: str, seconds: int
) -> list[tuple[int, str, int]]:
    """(clock second, status, progress) each time the job changed, one second at a time."""
    seen: list[tuple[int, str, int]] = []
    for second in range(seconds + 1):
        job = get_job(client, headers, job_id)
        if not seen or seen[-1][1:] != (job["status"], job["progress"]):
            seen.append((second, job["status"], job["progress"]))
        if job["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            break
        advance(client, headers, 1)
    return seen


def test_outcome_fail_with_code_message_and_progress(client: TestClient) -> None:
    headers = auth(new_key("enterprise"))
    use(
        client,
        headers,
        jobs_scenario(
            {
                "match": {"voice_language": "fr"},
                "outcome": "fail",
                "fail_at_progress": 30,
                "error": {"code": "VOICE_UNAVAILABLE", "message": "No French voice today"},
            }
        ),
    )
    failed = get_job(client, headers, submit(client, headers, voice_language="fr"))
    assert failed["status"] == "FAILED"
    assert failed["progress"] == 30
    assert failed["result"] is None
    assert failed["error"] == {
        "type": "processing_error",
        "code": "VOICE_UNAVAILABLE",
        "message": "No French voice today",
    }
    assert get_job(client, headers, submit(client, headers, voice_language="en"))["status"] == (
        "COMPLETED"
    )


def test_a_simulated_failure_happens_after_its_progress(client: TestClient) -> None:
    headers = auth(new_key("enterprise"))
    rule = {
        "timing": "simulated",
        "queue_seconds": 0,
        "processing_seconds": 100,
        "outcome": "fail",
        "fail_at_progress": 30,
        "error": {"type": "render_error", "code": "GPU_LOST", "message": "The GPU went away"},
    }
    use(client, headers, jobs_scenario(rule))
    job_id = submit(client, headers)
    assert walk(client, headers, job_id, 120) == [
        (0, "PROCESSING", 0),
        (30, "PROCESSING", 30),
        (40, "FAILED", 30),
    ]
    assert get_job(client, headers, job_id)["error"] == {
        "type": "render_error",
        "code": "GPU_LOST",
        "message": "The GPU went away",
    }


def test_outcome_pending_stays_pending_and_can_be_cancelled(client: TestClient) -> None:
    headers = auth(new_key("enterprise"))
    use(client, headers, jobs_scenario({"match": {"video_url": "*hold*"}, "outcome": "pending"}))
    held = submit(client, headers, "hold_me")
    other = submit(client, headers, "other")
    advance(client, headers, 3600)
    assert get_job(client, headers, held)["status"] == "PENDING"
    assert get_job(client, headers, other)["status"] == "COMPLETED"
    cancelled = client.delete(f"/jobs/{held}", headers=headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "CANCELLED"
    assert get_job(client, headers, held)["status"] == "CANCELLED"


def test_simulated_timing_with_queue_processing_and_custom_progress_steps(
    client: TestClient, receiver: Running
) -> None:
    headers = auth(new_key("enterprise"))
    use(
        client,
        headers,
        jobs_scenario(
            {
                "timing": "simulated",
                "queue_seconds": 10,
                "processing_seconds": 100,
                "progress_steps": [25, 50, 75],
            }
        ),
    )
    webhook = client.post(
        "/webhooks/register",
        json={"url": receiver.url, "events": ["job.progress", "job.completed"]},
        headers=headers,
    )
    assert webhook.status_code == 201
    accepted = client.post(
        "/pipeline/run", json={"video_url": "https://example.com/a.mp4"}, headers=headers
    ).json()
    assert accepted["estimated_duration_seconds"] == 110
    assert walk(client, headers, accepted["job_id"], 130) == [
        (0, "PENDING", 0),
        (10, "PROCESSING", 0),
        (35, "PROCESSING", 25),
        (60, "PROCESSING", 50),
        (85, "PROCESSING", 75),
        (110, "COMPLETED", 100),
    ]
    arrived = [
        (item.event, item.json()["data"].get("progress")) for item in receiver.receiver.received
    ]
    assert arrived == [
        ("job.progress", 25),
        ("job.progress", 50),
        ("job.progress", 75),
        ("job.completed", None),
    ]


def test_timing_instant_overrides_a_simulated_account_and_times_caps_a_rule(
    client: TestClient,
) -> None:
    headers = auth(new_key("enterprise"))
    timing = client.post("/_sandbox/timing", json={"job_timing": "simulated"}, headers=headers)
    assert timing.status_code == 200
    use(
        client,
        headers,
        jobs_scenario(
            {"match": {"video_url": "*quick*"}, "timing": "instant"},
            {"times": 1, "outcome": "fail", "timing": "instant"},
        ),
    )
    assert get_job(client, headers, submit(client, headers, "quick"))["status"] == "COMPLETED"
    first = get_job(client, headers, submit(client, headers, "slow_one"))
    assert first["status"] == "FAILED"
    assert first["error"] == {
        "type": "processing_error",
        "code": "PROCESSING_FAILED",
        "message": "Processing failed (scenario)",
    }
    second = get_job(client, headers, submit(client, headers, "slow_two"))
    assert second["status"] == "PENDING"  # the cap reached: no rule, the account's timing

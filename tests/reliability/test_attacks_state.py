"""What one account's state import could once do to others, against a real server.

Each test is an attack of the security review, with the behaviour it must meet now; the
victim is always another account on the same server.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import ServerProcess, api, assert_envelope, fresh_key

JOB = {"video_url": "https://example.com/input.mp4"}


def running_job(progress_steps: list[int]) -> dict[str, Any]:
    """A state document's PROCESSING job with the plan given."""
    return {
        "status": "PROCESSING",
        "input": JOB,
        "plan": {
            "outcome": "complete",
            "simulated": True,
            "queue_seconds": 0,
            "processing_seconds": 600,
            "quality_score": 0.9,
            "cost_estimate": 1.0,
            "progress_steps": progress_steps,
        },
    }


def test_progress_steps_are_bounded_and_fill_no_table_shared_with_others(
    server: ServerProcess,
) -> None:
    """Before: timeline labels lived in one process-wide table capped at 65,536; one import
    with 65,599 progress steps made every other account's submissions and cancels 500 until
    a restart (and held the loop 17 s)."""
    attacker, victim = fresh_key(), fresh_key()
    flood = {"jobs": [running_job(list(range(1, 65_600)))]}
    refused = api(server, "PUT", "/_sandbox/state", attacker, flood, timeout=30)
    error = assert_envelope(refused, 400, "INVALID_PARAMETER")
    assert "jobs[0].plan.progress_steps" in error["details"]
    # What a plan may hold (every value from 1 to 99) goes in, and runs to the end.
    allowed = {"jobs": [running_job(list(range(1, 100))) for _ in range(20)]}
    assert api(server, "PUT", "/_sandbox/state", attacker, allowed).status == 200
    advanced = api(server, "POST", "/_sandbox/clock/advance", attacker, {"seconds": 700})
    assert advanced.status == 200, advanced
    assert advanced.json()["ran_count"] >= 20 * 100
    for _ in range(3):
        assert api(server, "POST", "/pipeline/run", victim, JOB).status == 202


@pytest.mark.parametrize(
    ("job", "field"),
    [
        ({"input": {"video_url": "ftp://example.com/a.mp4"}}, "jobs[0].input.video_url"),
        ({"input": {**JOB, "callback_url": "file:///etc/passwd"}}, "jobs[0].input.callback_url"),
        ({"input": JOB, "metadata": {f"k{n}": "v" for n in range(21)}}, "jobs[0].metadata"),
        ({"input": JOB, "metadata": {"k": "v" * 501}}, "jobs[0].metadata"),
        ({"input": {**JOB, "voice_text": "x" * 5001}}, "jobs[0].input.voice_text"),
        ({"input": {**JOB, "voice_language": "xx"}}, "jobs[0].input.voice_language"),
        ({"job_id": "../../keys", "input": JOB}, "jobs[0].job_id"),
        ({"job_id": "job_a\r\nSet-Cookie: x=1", "input": JOB}, "jobs[0].job_id"),
        ({"input": JOB, "created_at": "9999-12-31T23:59:59Z"}, "jobs[0].created_at"),
        (
            running_job([30])
            | {"plan": {**running_job([30])["plan"], "processing_seconds": 1e308}},
            "jobs[0].plan.processing_seconds",
        ),
    ],
    ids=[
        "ftp-video",
        "file-callback",
        "21-metadata-keys",
        "long-metadata-value",
        "long-voice-text",
        "unknown-language",
        "path-in-id",
        "crlf-in-id",
        "year-9999",
        "1e308-seconds",
    ],
)
def test_an_import_meets_the_apis_own_field_rules(
    server: ServerProcess, job: dict[str, Any], field: str
) -> None:
    """Before: an import took any URL scheme, oversized metadata, ids with CR/LF or `../`,
    and 1e308 seconds, which later made `GET /jobs` answer 500."""
    key = fresh_key()
    refused = api(server, "PUT", "/_sandbox/state", key, {"jobs": [job]})
    error = assert_envelope(refused, 400, "INVALID_PARAMETER")
    assert field in error["details"], error
    assert api(server, "GET", "/jobs", key).status == 200


def test_an_import_is_bounded_and_echoes_nothing_back(server: ServerProcess) -> None:
    """Before: a 1 MiB import made 37,448 jobs and answered with a 27 MB document."""
    key, victim = fresh_key(), fresh_key()
    too_many = {"jobs": [{"input": {"video_url": "https://e.com/a"}} for _ in range(10_001)]}
    refused = api(server, "PUT", "/_sandbox/state", key, too_many, timeout=30)
    assert "jobs" in assert_envelope(refused, 400, "INVALID_PARAMETER")["details"]
    allowed = {"jobs": [{"input": {"video_url": "https://e.com/a"}} for _ in range(10_000)]}
    done = api(server, "PUT", "/_sandbox/state", key, allowed, timeout=30)
    assert done.status == 200
    assert done.json() == {
        "imported_jobs": 10_000,
        "imported_webhooks": None,
        "imported_keys": None,
    }
    assert len(done.body) < 200
    assert api(server, "POST", "/pipeline/run", victim, JOB).status == 202

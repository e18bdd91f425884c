"""What one account's state import could once do to others, against a real server.

Each test is an attack of the security review, with the behaviour it must meet now; the
victim is always another account on the same server.
"""

from __future__ import annotations

from typing import Any

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

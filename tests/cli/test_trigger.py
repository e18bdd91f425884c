"""`aiprod-sandbox trigger EVENT` against a real `serve`: each event reaches a real receiver,
made the way the API makes it (a magic input, a transition, a cancel, or a resend)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.cli.conftest import Cli, refused
from tests.support.receivers import Receivers, Running

WAIT = 10.0
EVENTS = ["job.started", "job.progress", "job.completed", "job.failed", "job.cancelled"]


@pytest.fixture
def hook(api: httpx.Client, receivers: Receivers) -> Running:
    running = receivers.plain()
    made = api.post("/webhooks/register", json={"url": running.url, "events": EVENTS})
    assert made.status_code == 201, made.text
    return running


def _events(hook: Running, count: int) -> list[str]:
    assert hook.receiver.wait_until(lambda got: len(got) >= count, WAIT)
    return [r.event for r in hook.receiver.received]


@pytest.mark.parametrize("event", EVENTS)
def test_each_event_happens_for_a_new_job(
    event: str, cli: Cli, api: httpx.Client, hook: Running
) -> None:
    done = cli("trigger", event, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["steps"][0].startswith("POST /pipeline/run")
    assert len(report["deliveries"]) == 1
    job = api.get(f"/jobs/{report['job_id']}").json()
    assert hook.receiver.wait_until(lambda got: event in [r.event for r in got], WAIT)
    expected = {"job.started": "PROCESSING", "job.progress": "PROCESSING"}
    assert job["status"] == expected.get(event, event.split(".")[1].upper())


def test_set_fills_the_new_jobs_fields_and_the_error(
    cli: Cli, api: httpx.Client, hook: Running
) -> None:
    done = cli(
        "trigger",
        "job.failed",
        "--set",
        "metadata.order=42",
        "--set",
        "video_url=https://example.com/fail_timeout.mp4",
    )
    assert done.returncode == 0, done.stderr
    assert "job.failed → " + hook.url in done.stdout
    job = api.get("/jobs").json()["items"][0]
    assert job["metadata"] == {"order": "42"}
    assert job["error"]["code"] == "PROCESSING_TIMEOUT"


def test_a_given_job_moves_along_the_state_machine(
    cli: Cli, api: httpx.Client, hook: Running
) -> None:
    job_id = api.post("/pipeline/run", json={"video_url": "https://e.com/slow.mp4"}).json()[
        "job_id"
    ]
    assert cli("trigger", "job.progress", "--job", job_id, "--set", "progress=60").returncode == 0
    assert api.get(f"/jobs/{job_id}").json()["progress"] == 60
    done = cli("trigger", "job.failed", "--job", job_id, "--set", "error.code=MY_CODE")
    assert done.returncode == 0, done.stderr
    assert api.get(f"/jobs/{job_id}").json()["error"]["code"] == "MY_CODE"
    assert _events(hook, 3) == ["job.started", "job.progress", "job.failed"]
    # Already FAILED: job.failed is sent again; job.completed is no edge of the state machine.
    again = cli("trigger", "job.failed", "--job", job_id)
    assert "POST /_sandbox/events" in again.stdout
    assert _events(hook, 4)[-1] == "job.failed"
    refused(cli("trigger", "job.completed", "--job", job_id), "409 INVALID_TRANSITION")


def test_send_only_sends_the_event_for_a_synthetic_job(cli: Cli, hook: Running) -> None:
    done = cli("trigger", "job.completed", "--send-only")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("POST /_sandbox/events")
    assert _events(hook, 1) == ["job.completed"]


def test_a_refused_submission_shows_the_envelope(cli: Cli) -> None:
    done = cli("trigger", "job.completed", "--set", "voice_language=english")
    refused(done, "400 INVALID_PARAMETER")
    assert "voice_language" in done.stderr


def test_nothing_subscribed_says_so(cli: Cli) -> None:
    done = cli("trigger", "job.completed")
    assert done.returncode == 0, done.stderr
    assert "no webhook or callback_url takes it" in done.stdout


def test_on_simulated_timing_the_job_is_moved_there(
    cli: Cli, api: httpx.Client, hook: Running
) -> None:
    api.post("/_sandbox/timing", json={"job_timing": "simulated"})
    done = cli("trigger", "job.completed")
    assert done.returncode == 0, done.stderr
    steps = done.stdout.splitlines()
    assert steps[0].startswith("POST /pipeline/run") and steps[0].endswith("PENDING")
    assert steps[1].endswith("PROCESSING") and steps[2].endswith("COMPLETED")
    assert hook.receiver.wait_until(
        lambda got: [r.event for r in got] == ["job.started", "job.completed"], WAIT
    )


def test_an_error_of_your_own_is_the_one_the_job_fails_with_on_instant_timing(
    cli: Cli, api: httpx.Client, hook: Running
) -> None:
    """The fail_download input fails an instant job at once with DOWNLOAD_FAILED: the
    error asked for must still be the one the job and its event carry."""
    done = cli("trigger", "job.failed", "--set", "error.code=PROCESSING_TIMEOUT", "--json")
    assert done.returncode == 0, done.stderr
    job = api.get(f"/jobs/{json.loads(done.stdout)['job_id']}").json()
    assert job["status"] == "FAILED" and job["error"]["code"] == "PROCESSING_TIMEOUT"
    assert hook.receiver.wait_until(lambda got: [r.event for r in got][-1:] == ["job.failed"], WAIT)
    failed = hook.receiver.received[-1].json()
    assert failed["data"]["error"]["code"] == "PROCESSING_TIMEOUT"


def test_the_commands_own_reads_stay_out_of_the_journal(cli: Cli, api: httpx.Client) -> None:
    """What the partner's code did is what the journal, `logs tail` and the advisor see:
    trigger's and jobs' reads go through the control API."""
    done = cli("trigger", "job.completed", "--json")
    job_id = json.loads(done.stdout)["job_id"]
    assert cli("jobs", "get", job_id).returncode == 0
    assert cli("jobs", "list").returncode == 0
    journal = api.get("/_sandbox/requests").json()["items"]
    assert [(e["method"], e["path"]) for e in journal] == [("POST", "/pipeline/run")]

"""Same seed, same requests, manual clock: byte-identical answers, run after run (but for
the secrets the sandbox makes, which are random)."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from aiprod_sandbox import Settings, create_app
from tests.conftest import START

KEY = {"Authorization": "Bearer sk_test_determinism_key_0001"}
OTHER = {"Authorization": "Bearer sk_test_free_determinism_0002"}


def run_script(seed: int) -> list[tuple[int, str, bytes]]:
    """A fixed series of requests; returns (status, request id, body) of each answer."""
    settings = Settings(seed=seed, clock="manual", start_time=START, job_timing="simulated")
    # Result links are signed with a random secret per server unless one is configured.
    app = create_app(settings.replace(link_secret="the same for both runs"))
    answers: list[tuple[int, str, bytes]] = []
    with TestClient(app) as client:

        def record(method: str, url: str, **kwargs: object) -> dict[str, object]:
            response = client.request(method, url, **kwargs)  # type: ignore[arg-type]
            answers.append(
                (response.status_code, response.headers["x-request-id"], response.content)
            )
            return response.json() if response.content else {}

        first = record(
            "POST",
            "/pipeline/run",
            headers=KEY,
            json={
                "video_url": "https://example.com/a.mp4",
                "voice_text": "Hello world",
                "voice_language": "en",
                "music_style": "orchestral",
                "preset": "brand_campaign",
            },
        )
        record(
            "POST",
            "/pipeline/batch",
            headers=KEY,
            json={
                "videos": [
                    {"url": "https://example.com/b.mp4"},
                    {"url": "https://example.com/fail_voice_synthesis.mp4"},
                ]
            },
        )
        record("POST", "/pipeline/run", headers=OTHER, json={"video_url": "https://x.io/c.mp4"})
        record("POST", "/_sandbox/clock/advance", headers=KEY, json={"seconds": 90})
        record("GET", f"/pipeline/{first['job_id']}", headers=KEY)
        record("POST", "/_sandbox/clock/advance", headers=KEY, json={"seconds": 3600})
        record("GET", "/jobs?limit=5&sort=status", headers=KEY)
        record("GET", f"/pipeline/{first['job_id']}", headers=KEY)
        record("POST", "/pipeline/run", headers=KEY, json={"video_url": "nope", "x": 1})
        record("GET", "/nowhere")
        record("GET", "/_sandbox/state", headers=KEY)
    # Secrets are random on purpose (anyone knowing the seed could compute them otherwise):
    # the one in the state document is set aside, and so are the journal's durations (real
    # time measured by the wall clock); everything else must match byte for byte.
    status, request_id, state = answers[-1]
    document = json.loads(state)
    assert document["settings"].pop("callback_secret").startswith("whsec_")
    entries = document["journal"]["entries"]
    assert len(entries) == 6  # the API requests with a key; control calls are not journaled
    for entry in entries:
        assert entry.pop("duration_ms") >= 0
    answers[-1] = (status, request_id, json.dumps(document).encode())
    return answers


def test_two_runs_with_the_same_seed_answer_byte_for_byte_the_same() -> None:
    first, second = run_script(seed=11), run_script(seed=11)
    assert len(first) == 11
    assert first == second


def test_another_seed_changes_ids_and_figures() -> None:
    first, other = run_script(seed=11), run_script(seed=12)
    assert first[0][2] != other[0][2]
    assert first[7][2] != other[7][2]  # the completed job: ids, score and cost differ


def test_reads_before_a_submission_do_not_change_its_ids() -> None:
    """Request ids have a stream of their own: how often a client polled, retried or read
    before it submitted does not shift the ids of the jobs it then makes."""
    job_ids = []
    for reads in (0, 5):
        app = create_app(Settings(seed=11, clock="manual", start_time=START))
        with TestClient(app) as client:
            for _ in range(reads):
                assert client.get("/jobs", headers=KEY).status_code == 200
            submitted = client.post(
                "/pipeline/run", headers=KEY, json={"video_url": "https://e.com/a.mp4"}
            )
            job_ids.append(submitted.json()["job_id"])
    assert job_ids[0] == job_ids[1]

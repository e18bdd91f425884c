"""Jobs through HTTP (contract section 5): submit, read, magic outcomes, cancel, update.

Default timing is instant: `POST /pipeline/run` answers 202 PENDING and the next read shows
the job COMPLETED. Magic input names (fixtures/outcomes.yaml) pick failures, a job that stays
PENDING, and a slow job that only moves with the account's clock.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings, create_app
from tests.api.helpers import (
    ACCEPTED_FIELDS,
    FULL_BODY,
    GUIDE_BODY,
    INPUT_FIELDS,
    ISO_TIME,
    JOB_FIELDS,
    RESULT_FIELDS,
    assert_error,
    fixture_data,
    get_job,
    list_jobs,
    submit,
    video,
)
from tests.conftest import START, auth, new_key

FAILURES = {
    "fail_download": "DOWNLOAD_FAILED",
    "fail_unsupported_media": "UNSUPPORTED_MEDIA",
    "fail_voice_synthesis": "VOICE_SYNTHESIS_FAILED",
    "fail_music_generation": "MUSIC_GENERATION_FAILED",
    "fail_internal": "INTERNAL_ERROR",
    "fail_timeout": "PROCESSING_TIMEOUT",
}


def iso(at: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(int(at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def account_clock(app: Any, key: str) -> Any:
    return app.state.sandbox.accounts.lookup(key)[0].clock


# ---- submit and read ---------------------------------------------------------------------


def test_submit_answers_202_with_the_guides_shape(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.post("/pipeline/run", json=GUIDE_BODY, headers=headers)
    assert response.status_code == 202
    body = response.json()
    assert set(body) == ACCEPTED_FIELDS
    assert body["status"] == "PENDING"
    assert body["job_id"].startswith("job_")
    assert isinstance(body["estimated_duration_seconds"], int)
    assert body["estimated_duration_seconds"] > 0
    assert ISO_TIME.match(body["created_at"])
    assert "x-aiprod-warning" not in response.headers


@pytest.mark.parametrize("path", ["/pipeline/{id}", "/jobs/{id}"])
def test_next_read_shows_the_whole_completed_job(
    client: TestClient, headers: dict[str, str], path: str
) -> None:
    accepted = submit(client, headers, **FULL_BODY)
    response = client.get(path.format(id=accepted["job_id"]), headers=headers)
    assert response.status_code == 200
    job = response.json()
    assert set(job) == JOB_FIELDS
    assert job["job_id"] == accepted["job_id"]
    assert job["status"] == "COMPLETED"
    assert job["progress"] == 100
    assert job["created_at"] == accepted["created_at"]
    assert job["estimated_duration_seconds"] == accepted["estimated_duration_seconds"]
    for name in ("created_at", "updated_at", "started_at", "completed_at"):
        assert ISO_TIME.match(job[name]), (name, job[name])
    assert job["created_at"] <= job["started_at"] <= job["completed_at"] <= job["updated_at"]
    assert job["error"] is None
    result = job["result"]
    assert set(result) == RESULT_FIELDS
    assert result["video_url"].startswith("http")
    assert isinstance(result["cost_estimate"], int | float) and result["cost_estimate"] >= 0
    assert isinstance(result["quality_score"], int | float)
    assert 0 <= result["quality_score"] <= 1
    assert isinstance(result["processing_time_seconds"], int)
    assert result["processing_time_seconds"] >= 0


def test_input_and_metadata_are_echoed(client: TestClient, headers: dict[str, str]) -> None:
    job = get_job(client, headers, submit(client, headers, **FULL_BODY)["job_id"])
    assert set(job["input"]) == INPUT_FIELDS
    assert job["input"] == {name: FULL_BODY[name] for name in INPUT_FIELDS}
    assert job["metadata"] == FULL_BODY["metadata"]


def test_omitted_optional_fields_read_back_as_null(
    client: TestClient, headers: dict[str, str]
) -> None:
    job = get_job(client, headers, submit(client, headers, video_url=video("plain"))["job_id"])
    assert job["input"] == {
        "video_url": video("plain"),
        "voice_text": None,
        "voice_language": None,
        "music_style": None,
        "preset": None,
        "callback_url": None,
    }
    assert job["metadata"] == {}


def test_both_read_paths_agree(client: TestClient, headers: dict[str, str]) -> None:
    job_id = submit(client, headers, **GUIDE_BODY)["job_id"]
    one = client.get(f"/pipeline/{job_id}", headers=headers).json()
    two = client.get(f"/jobs/{job_id}", headers=headers).json()
    for job in (one, two):  # links are signed at read time; compare everything else
        job["result"].pop("video_url")
    assert one == two


@pytest.mark.parametrize("path", ["/pipeline/job_doesnotexist0000", "/jobs/job_nope"])
def test_unknown_job_is_404_job_not_found(
    client: TestClient, headers: dict[str, str], path: str
) -> None:
    error = assert_error(client.get(path, headers=headers), 404, "JOB_NOT_FOUND")
    assert error["message"] == "Job not found"


def test_listing_shows_the_same_job(client: TestClient, headers: dict[str, str]) -> None:
    job_id = submit(client, headers, **FULL_BODY)["job_id"]
    [item] = list_jobs(client, headers)["items"]
    single = get_job(client, headers, job_id)
    item["result"].pop("video_url")
    single["result"].pop("video_url")
    assert item == single


# ---- magic inputs ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "code"), sorted(FAILURES.items()))
def test_magic_failure_inputs_fail_with_their_code(
    client: TestClient, headers: dict[str, str], name: str, code: str
) -> None:
    spec = fixture_data("outcomes.yaml")["outcomes"][name]["error"]
    accepted = submit(client, headers, video_url=video(name))
    assert accepted["status"] == "PENDING"
    job = get_job(client, headers, accepted["job_id"])
    assert job["status"] == "FAILED"
    assert job["result"] is None
    assert job["error"] == {"type": spec["type"], "code": code, "message": spec["message"]}
    assert job["completed_at"] is not None
    assert job["progress"] < 100


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.org/a/b/fail_download.mov",
        "http://localhost:9000/fail_download",
        "https://example.com/fail_download.mp4?signature=abc#frag",
    ],
)
def test_magic_names_work_on_any_host_path_and_extension(
    client: TestClient, headers: dict[str, str], url: str
) -> None:
    job = get_job(client, headers, submit(client, headers, video_url=url)["job_id"])
    assert job["status"] == "FAILED"
    assert job["error"]["code"] == "DOWNLOAD_FAILED"


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/fail_download2.mp4",
        "https://example.com/fail_download/input.mp4",
        "https://fail_download.example.com/input.mp4",
    ],
)
def test_only_the_exact_file_name_is_magic(
    client: TestClient, headers: dict[str, str], url: str
) -> None:
    job = get_job(client, headers, submit(client, headers, video_url=url)["job_id"])
    assert job["status"] == "COMPLETED"


def test_stay_pending_stays_pending(client: TestClient, headers: dict[str, str]) -> None:
    job_id = submit(client, headers, video_url=video("stay_pending"))["job_id"]
    for _ in range(3):
        job = get_job(client, headers, job_id)
        assert job["status"] == "PENDING"
        assert job["progress"] == 0
        assert job["result"] is None and job["error"] is None
        assert job["started_at"] is None and job["completed_at"] is None


# ---- cancel ------------------------------------------------------------------------------


def test_delete_cancels_a_pending_job_and_returns_it(
    client: TestClient, headers: dict[str, str]
) -> None:
    job_id = submit(client, headers, video_url=video("stay_pending"), metadata={"a": "b"})["job_id"]
    response = client.delete(f"/jobs/{job_id}", headers=headers)
    assert response.status_code == 200
    cancelled = response.json()
    assert set(cancelled) == JOB_FIELDS
    assert cancelled["job_id"] == job_id
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["result"] is None
    assert cancelled["metadata"] == {"a": "b"}
    assert get_job(client, headers, job_id)["status"] == "CANCELLED"
    assert [j["job_id"] for j in list_jobs(client, headers, status="CANCELLED")["items"]] == [
        job_id
    ]


def test_delete_twice_is_409(client: TestClient, headers: dict[str, str]) -> None:
    job_id = submit(client, headers, video_url=video("stay_pending"))["job_id"]
    assert client.delete(f"/jobs/{job_id}", headers=headers).status_code == 200
    response = client.delete(f"/jobs/{job_id}", headers=headers)
    assert_error(response, 409, "JOB_NOT_CANCELLABLE")


@pytest.mark.parametrize("name", ["input", "fail_download"])
def test_delete_of_an_ended_job_is_409_and_changes_nothing(
    client: TestClient, headers: dict[str, str], name: str
) -> None:
    job_id = submit(client, headers, video_url=video(name))["job_id"]
    before = get_job(client, headers, job_id)
    assert before["status"] in ("COMPLETED", "FAILED")
    response = client.delete(f"/jobs/{job_id}", headers=headers)
    assert_error(response, 409, "JOB_NOT_CANCELLABLE")
    assert get_job(client, headers, job_id)["status"] == before["status"]


def test_delete_of_an_unknown_job_is_404(client: TestClient, headers: dict[str, str]) -> None:
    response = client.delete("/jobs/job_doesnotexist0000", headers=headers)
    assert_error(response, 404, "JOB_NOT_FOUND")


# ---- update ------------------------------------------------------------------------------


def test_put_changes_metadata_and_callback_url_of_a_pending_job(
    client: TestClient, headers: dict[str, str]
) -> None:
    job_id = submit(
        client, headers, video_url=video("stay_pending"), metadata={"old": "1"}, voice_text="hi"
    )["job_id"]
    change = {"metadata": {"new": "2", "other": "x"}, "callback_url": "https://example.com/cb"}
    response = client.put(f"/jobs/{job_id}", json=change, headers=headers)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert set(updated) == JOB_FIELDS
    assert updated["metadata"] == {"new": "2", "other": "x"}
    assert updated["input"]["callback_url"] == "https://example.com/cb"
    assert updated["input"]["voice_text"] == "hi"
    assert updated["input"]["video_url"] == video("stay_pending")
    assert updated["status"] == "PENDING"
    assert get_job(client, headers, job_id) == updated


def test_put_of_one_field_leaves_the_other(client: TestClient, headers: dict[str, str]) -> None:
    job_id = submit(
        client,
        headers,
        video_url=video("stay_pending"),
        metadata={"keep": "me"},
        callback_url="https://example.com/first",
    )["job_id"]
    response = client.put(
        f"/jobs/{job_id}", json={"callback_url": "https://example.com/second"}, headers=headers
    )
    assert response.status_code == 200
    assert response.json()["metadata"] == {"keep": "me"}
    response = client.put(f"/jobs/{job_id}", json={"metadata": {"k": "v"}}, headers=headers)
    assert response.json()["input"]["callback_url"] == "https://example.com/second"
    assert response.json()["metadata"] == {"k": "v"}


@pytest.mark.parametrize(
    "change",
    [
        {"video_url": "https://example.com/other.mp4"},
        {"status": "COMPLETED"},
        {"voice_text": "new text"},
        {"music_style": "jazz"},
        {"job_id": "job_other"},
        {"video_url": "https://example.com/other.mp4", "status": "CANCELLED"},
    ],
)
def test_put_of_other_fields_is_400_unknown_field(
    client: TestClient, headers: dict[str, str], change: dict[str, Any]
) -> None:
    job_id = submit(client, headers, video_url=video("stay_pending"))["job_id"]
    before = get_job(client, headers, job_id)
    response = client.put(f"/jobs/{job_id}", json=change, headers=headers)
    error = assert_error(response, 400, "UNKNOWN_FIELD", details=True)
    assert set(error["details"]) == set(change)
    assert get_job(client, headers, job_id) == before


def test_put_of_an_allowed_and_a_forbidden_field_changes_nothing(
    client: TestClient, headers: dict[str, str]
) -> None:
    job_id = submit(client, headers, video_url=video("stay_pending"))["job_id"]
    change = {"metadata": {"a": "b"}, "status": "COMPLETED"}
    response = client.put(f"/jobs/{job_id}", json=change, headers=headers)
    error = assert_error(response, 400, "UNKNOWN_FIELD", details=True)
    assert set(error["details"]) == {"status"}
    assert get_job(client, headers, job_id)["metadata"] == {}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"callback_url": "ftp://example.com/cb"}, "callback_url"),
        ({"callback_url": "/relative"}, "callback_url"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"metadata": {f"k{i}": "v" for i in range(21)}}, "metadata"),
        ({"metadata": "not an object"}, "metadata"),
    ],
)
def test_put_with_a_bad_value_is_400(
    client: TestClient, headers: dict[str, str], change: dict[str, Any], field: str
) -> None:
    job_id = submit(client, headers, video_url=video("stay_pending"))["job_id"]
    response = client.put(f"/jobs/{job_id}", json=change, headers=headers)
    error = assert_error(response, 400, "INVALID_PARAMETER", details=True)
    assert {name.split(".")[0] for name in error["details"]} == {field}


@pytest.mark.parametrize("name", ["input", "fail_download"])
def test_put_on_an_ended_job_is_409_job_not_updatable(
    client: TestClient, headers: dict[str, str], name: str
) -> None:
    job_id = submit(client, headers, video_url=video(name))["job_id"]
    response = client.put(f"/jobs/{job_id}", json={"metadata": {"a": "b"}}, headers=headers)
    assert_error(response, 409, "JOB_NOT_UPDATABLE")
    assert get_job(client, headers, job_id)["metadata"] == {}


def test_put_on_a_cancelled_job_is_409(client: TestClient, headers: dict[str, str]) -> None:
    job_id = submit(client, headers, video_url=video("stay_pending"))["job_id"]
    client.delete(f"/jobs/{job_id}", headers=headers)
    response = client.put(f"/jobs/{job_id}", json={"metadata": {"a": "b"}}, headers=headers)
    assert_error(response, 409, "JOB_NOT_UPDATABLE")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"metadata": {"k": 1}}, "INVALID_PARAMETER"),
        ({"callback_url": "nope"}, "INVALID_PARAMETER"),
        ({"video_url": "https://example.com/x.mp4"}, "UNKNOWN_FIELD"),
    ],
)
def test_put_validation_comes_before_the_state_check(
    client: TestClient, headers: dict[str, str], change: dict[str, Any], code: str
) -> None:
    job_id = submit(client, headers)["job_id"]
    assert get_job(client, headers, job_id)["status"] == "COMPLETED"
    response = client.put(f"/jobs/{job_id}", json=change, headers=headers)
    assert_error(response, 400, code, details=True)


def test_put_validation_comes_before_existence(client: TestClient, headers: dict[str, str]) -> None:
    path = "/jobs/job_doesnotexist0000"
    assert_error(
        client.put(path, json={"metadata": {"k": 1}}, headers=headers), 400, "INVALID_PARAMETER"
    )
    assert_error(
        client.put(path, json={"metadata": {"k": "v"}}, headers=headers), 404, "JOB_NOT_FOUND"
    )


def test_put_with_a_body_that_is_not_json_is_400_invalid_json(
    client: TestClient, headers: dict[str, str]
) -> None:
    job_id = submit(client, headers, video_url=video("stay_pending"))["job_id"]
    response = client.put(f"/jobs/{job_id}", content=b"{metadata:", headers=headers)
    assert_error(response, 400, "INVALID_JSON")


# ---- clocks: slow jobs and timestamps ----------------------------------------------------


def test_slow_job_does_not_finish_without_the_clock_moving(
    client: TestClient, headers: dict[str, str]
) -> None:
    """Real clock (the default): a slow job needs minutes, so it is not done in a test."""
    accepted = submit(client, headers, video_url=video("slow"))
    assert accepted["estimated_duration_seconds"] >= 600
    for _ in range(3):
        job = get_job(client, headers, accepted["job_id"])
        assert job["status"] in ("PENDING", "PROCESSING")
        assert job["progress"] < 100
        assert job["result"] is None


class TestManualClock:
    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(seed=7, clock="manual", start_time=START)

    def test_timestamps_come_from_the_account_clock(
        self, client: TestClient, headers: dict[str, str]
    ) -> None:
        accepted = submit(client, headers)
        assert accepted["created_at"] == iso(START)
        job = get_job(client, headers, accepted["job_id"])
        assert job["status"] == "COMPLETED"
        assert job["started_at"] == job["completed_at"] == iso(START)

    def test_slow_job_walks_queue_processing_and_completion_on_the_clock(
        self, client: TestClient, app: Any, key: str, headers: dict[str, str]
    ) -> None:
        accepted = submit(client, headers, video_url=video("slow"))
        job_id = accepted["job_id"]
        assert accepted["estimated_duration_seconds"] == 610  # outcomes.yaml: 10 s + 600 s
        clock = account_clock(app, key)
        assert get_job(client, headers, job_id)["status"] == "PENDING"
        clock.advance(9)
        assert get_job(client, headers, job_id)["status"] == "PENDING"
        clock.advance(1)
        job = get_job(client, headers, job_id)
        assert job["status"] == "PROCESSING"
        assert job["started_at"] == iso(START + 10)
        seen = []
        for step in (180, 180, 180, 59):  # to 10 + 599 s: not done yet
            clock.advance(step)
            job = get_job(client, headers, job_id)
            assert job["status"] == "PROCESSING", job
            assert job["progress"] in (0, 30, 60, 90)
            seen.append(job["progress"])
        assert seen == sorted(seen) and seen[-1] == 90, seen
        clock.advance(1)
        job = get_job(client, headers, job_id)
        assert job["status"] == "COMPLETED"
        assert job["progress"] == 100
        assert job["completed_at"] == iso(START + 610)
        assert job["result"]["processing_time_seconds"] == 600

    def test_slow_job_is_cancellable_while_queued_not_while_processing(
        self, client: TestClient, app: Any, key: str, headers: dict[str, str]
    ) -> None:
        queued = submit(client, headers, video_url=video("slow"))["job_id"]
        running = submit(client, headers, video_url=video("slow"))["job_id"]
        assert client.delete(f"/jobs/{queued}", headers=headers).status_code == 200
        account_clock(app, key).advance(10)
        assert get_job(client, headers, running)["status"] == "PROCESSING"
        assert_error(client.delete(f"/jobs/{running}", headers=headers), 409, "JOB_NOT_CANCELLABLE")
        account_clock(app, key).advance(700)
        assert get_job(client, headers, queued)["status"] == "CANCELLED"
        assert get_job(client, headers, running)["status"] == "COMPLETED"

    def test_free_tier_runs_two_jobs_at_once_and_queues_the_rest(
        self, client: TestClient, app: Any
    ) -> None:
        key = new_key("free")  # 2 concurrent jobs; burst 5: this test makes 5 requests
        headers = auth(key)
        ids = [submit(client, headers, video_url=video("slow"))["job_id"] for _ in range(3)]
        account_clock(app, key).advance(10)
        status = {j["job_id"]: j["status"] for j in list_jobs(client, headers)["items"]}
        assert [status[i] for i in ids] == ["PROCESSING", "PROCESSING", "PENDING"]
        account_clock(app, key).advance(600)
        jobs = {j["job_id"]: j for j in list_jobs(client, headers)["items"]}
        assert [jobs[i]["status"] for i in ids] == ["COMPLETED", "COMPLETED", "PROCESSING"]
        assert jobs[ids[2]]["started_at"] == iso(START + 610)

    def test_instant_jobs_never_wait_for_a_slot(self, client: TestClient) -> None:
        headers = auth(new_key("free"))
        for _ in range(4):
            submit(client, headers)
        assert {j["status"] for j in list_jobs(client, headers)["items"]} == {"COMPLETED"}

    def test_put_works_while_processing_and_bumps_updated_at(
        self, client: TestClient, app: Any, key: str, headers: dict[str, str]
    ) -> None:
        job_id = submit(client, headers, video_url=video("slow"))["job_id"]
        account_clock(app, key).advance(10)
        account_clock(app, key).advance(5)
        response = client.put(f"/jobs/{job_id}", json={"metadata": {"a": "b"}}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "PROCESSING"
        assert response.json()["updated_at"] == iso(START + 15)

    def test_cancel_sets_completed_and_updated_at_to_now(
        self, client: TestClient, app: Any, key: str, headers: dict[str, str]
    ) -> None:
        job_id = submit(client, headers, video_url=video("stay_pending"))["job_id"]
        account_clock(app, key).advance(42)
        cancelled = client.delete(f"/jobs/{job_id}", headers=headers).json()
        assert cancelled["updated_at"] == iso(START + 42)
        assert cancelled["created_at"] == iso(START)


# ---- determinism -------------------------------------------------------------------------


def _run(seed: int, secret: str, others: int = 0) -> list[dict[str, Any]]:
    """The jobs a script makes; result links signed with a configured secret (by default
    each server signs with a random one)."""
    settings = Settings(seed=seed, clock="manual", start_time=START, link_secret="configured")
    app = create_app(settings)
    with TestClient(app) as plain:
        for _ in range(others):
            plain.post("/pipeline/run", json=GUIDE_BODY, headers=auth(new_key()))
        jobs = []
        for body in (GUIDE_BODY, FULL_BODY):
            job_id = plain.post("/pipeline/run", json=body, headers=auth(secret)).json()["job_id"]
            jobs.append(plain.get(f"/jobs/{job_id}", headers=auth(secret)).json())
        return jobs


def test_same_seed_same_key_gives_the_same_jobs() -> None:
    secret = new_key()
    assert _run(7, secret) == _run(7, secret)


def test_other_accounts_do_not_change_an_accounts_ids() -> None:
    secret = new_key()
    assert _run(7, secret) == _run(7, secret, others=3)


def test_another_seed_gives_other_ids() -> None:
    secret = new_key()
    one, two = _run(7, secret), _run(8, secret)
    assert {job["job_id"] for job in one}.isdisjoint(job["job_id"] for job in two)

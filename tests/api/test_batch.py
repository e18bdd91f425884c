"""`POST /pipeline/batch` (contract section 5): Pro+ only, 1-100 videos, defaults merged with
per-item overrides, validated whole with item errors as `videos[i].field`.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.helpers import (
    ACCEPTED_FIELDS,
    ISO_TIME,
    LANGUAGE_MESSAGE,
    assert_error,
    get_job,
    list_jobs,
    video,
)
from tests.conftest import auth, new_key

TIER_MESSAGE = "Your tier does not support batch processing"


def batch(client: TestClient, headers: dict[str, str], body: Any) -> Any:
    return client.post("/pipeline/batch", json=body, headers=headers)


def items(count: int) -> list[dict[str, str]]:
    return [{"url": video(f"item{i}")} for i in range(count)]


def test_batch_with_defaults_and_overrides(client: TestClient, headers: dict[str, str]) -> None:
    body = {
        "videos": [
            {"url": video("first")},
            {"video_url": video("second"), "voice_language": "fr"},
        ],
        "music_style": "upbeat",
    }
    response = batch(client, headers, body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert set(accepted) == {"batch_id", "jobs"}
    assert accepted["batch_id"].startswith("batch_")
    assert len(accepted["jobs"]) == 2
    for job in accepted["jobs"]:
        assert set(job) == ACCEPTED_FIELDS
        assert job["job_id"].startswith("job_")
        assert job["status"] == "PENDING"
        assert ISO_TIME.match(job["created_at"])
    first, second = (get_job(client, headers, job["job_id"]) for job in accepted["jobs"])
    assert first["input"] == {
        "video_url": video("first"),
        "voice_text": None,
        "voice_language": None,
        "music_style": "upbeat",
        "preset": None,
        "callback_url": None,
    }
    assert second["input"] == {
        "video_url": video("second"),
        "voice_text": None,
        "voice_language": "fr",
        "music_style": "upbeat",
        "preset": None,
        "callback_url": None,
    }
    assert first["status"] == second["status"] == "COMPLETED"


def test_item_fields_override_every_default(client: TestClient, headers: dict[str, str]) -> None:
    defaults = {
        "voice_text": "default text",
        "voice_language": "en",
        "music_style": "orchestral",
        "preset": "brand_campaign",
        "callback_url": "https://example.com/default",
        "metadata": {"from": "defaults"},
    }
    override = {
        "voice_text": "own text",
        "voice_language": "de",
        "music_style": "jazz",
        "preset": "social_short",
        "callback_url": "https://example.com/own",
        "metadata": {"from": "item"},
    }
    body = {"videos": [{"url": video("a")}, {"url": video("b"), **override}], **defaults}
    accepted = batch(client, headers, body).json()
    plain, own = (get_job(client, headers, job["job_id"]) for job in accepted["jobs"])
    for name in ("voice_text", "voice_language", "music_style", "preset", "callback_url"):
        assert plain["input"][name] == defaults[name]
        assert own["input"][name] == override[name]
    assert plain["metadata"] == {"from": "defaults"}
    assert own["metadata"] == {"from": "item"}


def test_batch_jobs_are_listed_and_distinct(client: TestClient, headers: dict[str, str]) -> None:
    accepted = batch(client, headers, {"videos": items(5)}).json()
    ids = [job["job_id"] for job in accepted["jobs"]]
    assert len(set(ids)) == 5
    listed = list_jobs(client, headers, limit=100)
    assert {item["job_id"] for item in listed["items"]} == set(ids)
    assert [get_job(client, headers, i)["input"]["video_url"] for i in ids] == [
        video(f"item{i}") for i in range(5)
    ]


def test_two_batches_get_different_ids(client: TestClient, headers: dict[str, str]) -> None:
    one = batch(client, headers, {"videos": items(1)}).json()
    two = batch(client, headers, {"videos": items(1)}).json()
    assert one["batch_id"] != two["batch_id"]


@pytest.mark.parametrize("tier", ["pro", "enterprise"])
def test_100_items_are_accepted_and_all_complete(client: TestClient, tier: str) -> None:
    headers = auth(new_key(tier))
    response = batch(client, headers, {"videos": items(100)})
    assert response.status_code == 202, response.text
    assert len(response.json()["jobs"]) == 100
    listed = list_jobs(client, headers, limit=100)
    assert listed["pagination"]["total"] == 100
    assert {item["status"] for item in listed["items"]} == {"COMPLETED"}


def test_magic_inputs_work_per_item(client: TestClient, headers: dict[str, str]) -> None:
    body = {
        "videos": [
            {"url": video("fail_download")},
            {"url": video("stay_pending")},
            {"url": video("ok")},
        ]
    }
    ids = [job["job_id"] for job in batch(client, headers, body).json()["jobs"]]
    statuses = [get_job(client, headers, i)["status"] for i in ids]
    assert statuses == ["FAILED", "PENDING", "COMPLETED"]


@pytest.mark.parametrize("count", [0, 101])
def test_0_or_101_items_is_400(client: TestClient, headers: dict[str, str], count: int) -> None:
    error = assert_error(batch(client, headers, {"videos": items(count)}), 400, "INVALID_PARAMETER")
    assert set(error["details"]) == {"videos"}
    assert list_jobs(client, headers)["pagination"]["total"] == 0


@pytest.mark.parametrize("videos", [None, "https://example.com/a.mp4", {"url": video()}, [1]])
def test_videos_must_be_a_list_of_objects(
    client: TestClient, headers: dict[str, str], videos: Any
) -> None:
    error = assert_error(batch(client, headers, {"videos": videos}), 400, "INVALID_PARAMETER")
    assert all(name.startswith("videos") for name in error["details"])


def test_missing_videos_is_400(client: TestClient, headers: dict[str, str]) -> None:
    error = assert_error(
        batch(client, headers, {"music_style": "upbeat"}), 400, "INVALID_PARAMETER"
    )
    assert set(error["details"]) == {"videos"}


def test_free_tier_is_403_with_the_guides_message(client: TestClient) -> None:
    response = batch(client, auth(new_key("free")), {"videos": items(1)})
    error = assert_error(response, 403, "TIER_FEATURE_UNAVAILABLE")
    assert error["message"] == TIER_MESSAGE


@pytest.mark.parametrize(
    "body", [{"videos": items(101)}, {"videos": []}, {"nope": 1}, "not an object"]
)
def test_free_tier_is_403_before_any_validation(client: TestClient, body: Any) -> None:
    response = batch(client, auth(new_key("free")), body)
    error = assert_error(response, 403, "TIER_FEATURE_UNAVAILABLE")
    assert error["message"] == TIER_MESSAGE


def test_free_tier_with_invalid_json_is_403(client: TestClient) -> None:
    response = client.post("/pipeline/batch", content=b"{oops", headers=auth(new_key("free")))
    assert_error(response, 403, "TIER_FEATURE_UNAVAILABLE")


def test_item_errors_are_reported_with_their_index(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = {"videos": [{"url": video("ok")}, {"video_url": "ftp://example.com/b.mp4"}]}
    error = assert_error(batch(client, headers, body), 400, "INVALID_PARAMETER")
    assert set(error["details"]) == {"videos[1].video_url"}
    assert list_jobs(client, headers)["pagination"]["total"] == 0


def test_every_item_error_and_default_error_at_once(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = {
        "videos": [
            {"url": video("ok")},
            {"url": "relative.mp4", "voice_language": "english"},
            {"url": video("ok"), "music_style": "polka"},
            {"url": video("ok")},
            {"url": video("ok"), "metadata": {"k": 5}},
        ],
        "music_style": "nope",
    }
    error = assert_error(batch(client, headers, body), 400, "INVALID_PARAMETER")
    details = error["details"]
    assert details["videos[1].url"]
    assert details["videos[1].voice_language"] == LANGUAGE_MESSAGE
    assert details["videos[2].music_style"] == "Invalid style: 'polka'"
    assert details["music_style"] == "Invalid style: 'nope'"
    assert any(name.startswith("videos[4].metadata") for name in details)
    assert not any(name.startswith(("videos[0]", "videos[3]")) for name in details)


@pytest.mark.parametrize(
    "item", [{}, {"voice_text": "no url"}, {"url": video("a"), "video_url": video("b")}]
)
def test_each_item_needs_exactly_one_url(
    client: TestClient, headers: dict[str, str], item: dict[str, Any]
) -> None:
    body = {"videos": [{"url": video("ok")}, item]}
    error = assert_error(batch(client, headers, body), 400, "INVALID_PARAMETER")
    assert error["details"]
    assert all(name.startswith("videos[1]") for name in error["details"])


def test_unknown_item_field_is_unknown_field_with_its_path(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = {"videos": [{"url": video("a")}, {"url": video("b"), "colour": "red"}]}
    error = assert_error(batch(client, headers, body), 400, "UNKNOWN_FIELD")
    assert set(error["details"]) == {"videos[1].colour"}


def test_unknown_top_level_field_is_unknown_field(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = {"videos": items(1), "video_url": video("x")}
    error = assert_error(batch(client, headers, body), 400, "UNKNOWN_FIELD")
    assert set(error["details"]) == {"video_url"}


def test_batch_body_not_json_is_invalid_json(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/pipeline/batch", content=b"[1, 2]", headers=headers)
    assert_error(response, 400, "INVALID_JSON")

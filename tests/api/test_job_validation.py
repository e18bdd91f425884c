"""Validation of `POST /pipeline/run` bodies (contract sections 2 and 5).

Every bad field is reported at once in `details`, with the guide's messages verbatim; unknown
fields alone are `UNKNOWN_FIELD`, anything else `INVALID_PARAMETER`; a body that is not one
JSON object is `INVALID_JSON`; valid JSON is accepted whatever its Content-Type, with a warning
header then. A refused body never creates a job.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.helpers import (
    GUIDE_BODY,
    LANGUAGE_MESSAGE,
    assert_error,
    fixture_data,
    list_jobs,
    video,
)

URL = "https://example.com/video.mp4"


def post(client: TestClient, headers: dict[str, str], body: Any) -> Any:
    return client.post("/pipeline/run", json=body, headers=headers)


def assert_no_jobs(client: TestClient, headers: dict[str, str]) -> None:
    assert list_jobs(client, headers)["pagination"]["total"] == 0


def test_the_guides_error_example_verbatim(client: TestClient, headers: dict[str, str]) -> None:
    body = {**GUIDE_BODY, "voice_language": "english", "music_style": "invalid_style"}
    error = assert_error(post(client, headers, body), 400, "INVALID_PARAMETER")
    assert error["message"] == "Invalid input"
    assert error["details"] == {
        "voice_language": LANGUAGE_MESSAGE,
        "music_style": "Invalid style: 'invalid_style'",
    }
    assert_no_jobs(client, headers)


def test_every_bad_field_is_reported_at_once(client: TestClient, headers: dict[str, str]) -> None:
    body = {
        "video_url": "/relative.mp4",
        "voice_text": "x" * 5001,
        "voice_language": "xx",
        "music_style": "x",
        "preset": "no_such_preset",
        "callback_url": "ftp://example.com/cb",
        "metadata": {f"k{i}": "v" for i in range(21)},
    }
    error = assert_error(post(client, headers, body), 400, "INVALID_PARAMETER", details=True)
    assert set(error["details"]) == set(body)
    assert error["details"]["voice_language"] == LANGUAGE_MESSAGE
    assert error["details"]["music_style"] == "Invalid style: 'x'"
    assert_no_jobs(client, headers)


# ---- video_url ---------------------------------------------------------------------------


def test_missing_video_url(client: TestClient, headers: dict[str, str]) -> None:
    body = {k: v for k, v in GUIDE_BODY.items() if k != "video_url"}
    error = assert_error(post(client, headers, body), 400, "INVALID_PARAMETER")
    assert set(error["details"]) == {"video_url"}


def test_empty_object_reports_video_url(client: TestClient, headers: dict[str, str]) -> None:
    error = assert_error(post(client, headers, {}), 400, "INVALID_PARAMETER")
    assert set(error["details"]) == {"video_url"}


@pytest.mark.parametrize(
    "url",
    [
        "/videos/input.mp4",
        "videos/input.mp4",
        "example.com/input.mp4",
        "ftp://example.com/input.mp4",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://",
        "http:///path-only.mp4",
        "",
        "   ",
        None,
        123,
        ["https://example.com/input.mp4"],
        {"url": "https://example.com/input.mp4"},
    ],
)
def test_video_url_must_be_an_absolute_http_url(
    client: TestClient, headers: dict[str, str], url: Any
) -> None:
    error = assert_error(post(client, headers, {"video_url": url}), 400, "INVALID_PARAMETER")
    assert set(error["details"]) == {"video_url"}


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/a.mp4",
        "https://example.com/a.mp4",
        "https://cdn.example.org:8443/path/to/a.mov?x=1&y=2",
        "http://127.0.0.1:9000/a.mp4",
        "https://storage.googleapis.com/bucket/input.mp4",
    ],
)
def test_absolute_http_urls_are_accepted(
    client: TestClient, headers: dict[str, str], url: str
) -> None:
    assert post(client, headers, {"video_url": url}).status_code == 202


# ---- voice_text --------------------------------------------------------------------------


def test_voice_text_of_5000_characters_is_accepted(
    client: TestClient, headers: dict[str, str]
) -> None:
    assert post(client, headers, {"video_url": URL, "voice_text": "é" * 5000}).status_code == 202


@pytest.mark.parametrize("text", ["x" * 5001, "é" * 5001, 42, ["a"], {"a": "b"}, True])
def test_voice_text_too_long_or_not_a_string(
    client: TestClient, headers: dict[str, str], text: Any
) -> None:
    response = post(client, headers, {"video_url": URL, "voice_text": text})
    error = assert_error(response, 400, "INVALID_PARAMETER")
    assert set(error["details"]) == {"voice_text"}


# ---- voice_language ----------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "fr", "de", "ja", "zh", "sw", "yo"])
def test_iso_639_1_codes_are_accepted(
    client: TestClient, headers: dict[str, str], language: str
) -> None:
    response = post(client, headers, {"video_url": URL, "voice_language": language})
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "language", ["english", "EN", "En", "eng", "e", "", "xx", "qq", "en-US", "fr_FR", 1, ["en"]]
)
def test_bad_voice_language_gets_the_guides_message(
    client: TestClient, headers: dict[str, str], language: Any
) -> None:
    response = post(client, headers, {"video_url": URL, "voice_language": language})
    error = assert_error(response, 400, "INVALID_PARAMETER")
    if isinstance(language, str):
        assert error["details"] == {"voice_language": LANGUAGE_MESSAGE}
    else:
        assert set(error["details"]) == {"voice_language"}


# ---- music_style and preset --------------------------------------------------------------


def test_every_catalogue_style_is_accepted(client: TestClient, headers: dict[str, str]) -> None:
    for style in fixture_data("music_styles.yaml")["music_styles"]:
        response = post(client, headers, {"video_url": URL, "music_style": style["id"]})
        assert response.status_code == 202, (style, response.text)


@pytest.mark.parametrize("style", ["x", "Orchestral", "rock", "invalid_style", " upbeat", ""])
def test_bad_music_style_gets_the_guides_message(
    client: TestClient, headers: dict[str, str], style: str
) -> None:
    response = post(client, headers, {"video_url": URL, "music_style": style})
    error = assert_error(response, 400, "INVALID_PARAMETER")
    assert error["details"] == {"music_style": f"Invalid style: '{style}'"}


def test_every_listed_preset_is_accepted(client: TestClient, headers: dict[str, str]) -> None:
    presets = client.get("/presets", params={"limit": 100}, headers=headers).json()["items"]
    assert presets
    for preset in presets:
        response = post(client, headers, {"video_url": URL, "preset": preset["id"]})
        assert response.status_code == 202, (preset, response.text)


@pytest.mark.parametrize("preset", ["unknown", "Brand_Campaign", "", 7])
def test_unknown_preset(client: TestClient, headers: dict[str, str], preset: Any) -> None:
    error = assert_error(
        post(client, headers, {"video_url": URL, "preset": preset}), 400, "INVALID_PARAMETER"
    )
    assert set(error["details"]) == {"preset"}


# ---- callback_url ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "callback", ["not a url", "/callback", "ftp://example.com/cb", "mailto:a@b.c", "https://", 5]
)
def test_bad_callback_url(client: TestClient, headers: dict[str, str], callback: Any) -> None:
    response = post(client, headers, {"video_url": URL, "callback_url": callback})
    error = assert_error(response, 400, "INVALID_PARAMETER")
    assert set(error["details"]) == {"callback_url"}


def test_http_callback_url_is_accepted(client: TestClient, headers: dict[str, str]) -> None:
    body = {"video_url": URL, "callback_url": "http://localhost:8000/hook"}
    assert post(client, headers, body).status_code == 202


# ---- metadata ----------------------------------------------------------------------------


def test_metadata_at_every_limit_is_accepted(client: TestClient, headers: dict[str, str]) -> None:
    metadata = {f"{i:02d}" + "k" * 38: "v" * 500 for i in range(20)}
    assert all(len(k) == 40 for k in metadata)
    response = post(client, headers, {"video_url": URL, "metadata": metadata})
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert client.get(f"/jobs/{job_id}", headers=headers).json()["metadata"] == metadata


@pytest.mark.parametrize(
    "metadata",
    [
        {f"k{i}": "v" for i in range(21)},
        {"k" * 41: "v"},
        {"k": "v" * 501},
        {"k": 1},
        {"k": None},
        {"k": True},
        {"k": ["a"]},
        {"k": {"nested": "x"}},
        ["k", "v"],
        "k=v",
        42,
    ],
)
def test_bad_metadata(client: TestClient, headers: dict[str, str], metadata: Any) -> None:
    response = post(client, headers, {"video_url": URL, "metadata": metadata})
    error = assert_error(response, 400, "INVALID_PARAMETER", details=True)
    assert all(name == "metadata" or name.startswith("metadata.") for name in error["details"])
    assert_no_jobs(client, headers)


# ---- unknown fields ----------------------------------------------------------------------


def test_unknown_fields_alone_are_unknown_field_naming_them(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = {**GUIDE_BODY, "voice_langauge": "en", "priority": "high"}
    error = assert_error(post(client, headers, body), 400, "UNKNOWN_FIELD")
    assert set(error["details"]) == {"voice_langauge", "priority"}
    assert "voice_langauge" in error["message"]
    assert "priority" in error["message"]
    assert_no_jobs(client, headers)


def test_unknown_fields_with_other_errors_are_invalid_parameter_listing_all(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = {"video_url": "nope", "voice_language": "english", "extra": 1}
    error = assert_error(post(client, headers, body), 400, "INVALID_PARAMETER")
    assert set(error["details"]) == {"video_url", "voice_language", "extra"}
    assert error["details"]["voice_language"] == LANGUAGE_MESSAGE


def test_unknown_field_with_an_empty_name_is_named_as_sent(
    client: TestClient, headers: dict[str, str]
) -> None:
    error = assert_error(post(client, headers, {"video_url": URL, "": 1}), 400, "UNKNOWN_FIELD")
    assert set(error["details"]) == {""}


def test_guide_response_fields_are_not_accepted_as_input(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = {**GUIDE_BODY, "job_id": "job_mine", "status": "COMPLETED"}
    error = assert_error(post(client, headers, body), 400, "UNKNOWN_FIELD")
    assert set(error["details"]) == {"job_id", "status"}


# ---- the body itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"{",
        b"{'video_url': 'https://example.com/a.mp4'}",
        b'{"video_url": "https://example.com/a.mp4",}',
        b'{"video_url": "https://example.com/a.mp4"} trailing',
        b"[]",
        b'[{"video_url": "https://example.com/a.mp4"}]',
        b'"https://example.com/a.mp4"',
        b"42",
        b"3.5",
        b"null",
        b"true",
        b"",
        b"   \n\t ",
        b'{"video_url": "https://example.com/a.mp4", "video_url": "https://example.com/b.mp4"}',
        b'{"video_url": "https://example.com/a.mp4", "metadata": {"a": "1", "a": "2"}}',
        b'{"video_url": NaN}',
        b'{"video_url": "https://example.com/a.mp4", "voice_text": Infinity}',
        b'{"video_url": -Infinity}',
        b'{"video_url": "https://example.com/\xff\xfe.mp4"}',
        b"\xff\xfe{\x00}\x00",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    ],
)
def test_body_that_is_not_one_json_object_is_400_invalid_json(
    client: TestClient, headers: dict[str, str], raw: bytes
) -> None:
    response = client.post(
        "/pipeline/run", content=raw, headers={**headers, "Content-Type": "application/json"}
    )
    assert_error(response, 400, "INVALID_JSON")
    assert_no_jobs(client, headers)


def test_valid_json_without_content_type_is_accepted_with_a_warning(
    client: TestClient, headers: dict[str, str]
) -> None:
    raw = json.dumps(GUIDE_BODY).encode()
    response = client.post("/pipeline/run", content=raw, headers=headers)
    assert "content-type" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 202, response.text
    assert response.headers["x-aiprod-warning"]
    assert client.get(f"/jobs/{response.json()['job_id']}", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_valid_json_with_another_content_type_is_accepted_with_a_warning(
    client: TestClient, headers: dict[str, str], content_type: str
) -> None:
    raw = json.dumps(GUIDE_BODY).encode()
    response = client.post(
        "/pipeline/run", content=raw, headers={**headers, "Content-Type": content_type}
    )
    assert response.status_code == 202, response.text
    assert response.headers["x-aiprod-warning"]


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
def test_json_content_type_gets_no_warning(
    client: TestClient, headers: dict[str, str], content_type: str
) -> None:
    raw = json.dumps(GUIDE_BODY).encode()
    response = client.post(
        "/pipeline/run", content=raw, headers={**headers, "Content-Type": content_type}
    )
    assert response.status_code == 202, response.text
    assert "x-aiprod-warning" not in response.headers


def test_warning_is_not_sticky(client: TestClient, headers: dict[str, str]) -> None:
    raw = json.dumps(GUIDE_BODY).encode()
    assert "x-aiprod-warning" in client.post("/pipeline/run", content=raw, headers=headers).headers
    assert "x-aiprod-warning" not in post(client, headers, GUIDE_BODY).headers
    assert "x-aiprod-warning" not in client.get("/jobs", headers=headers).headers


def test_not_json_without_content_type_is_still_invalid_json(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.post("/pipeline/run", content=b"video_url=https://x/a.mp4", headers=headers)
    assert_error(response, 400, "INVALID_JSON")


def test_utf8_bodies_are_read_as_utf8(client: TestClient, headers: dict[str, str]) -> None:
    body = {"video_url": video("ünïcode"), "voice_text": "Bonjour, ça va ? 你好 🎬"}
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    response = client.post(
        "/pipeline/run", content=raw, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 202, response.text
    job = client.get(f"/jobs/{response.json()['job_id']}", headers=headers).json()
    assert job["input"]["voice_text"] == body["voice_text"]

"""Property tests of `POST /pipeline/run` validation (contract principle 5, sections 2 and 5).

Whatever JSON arrives, the answer is 202 or the 400 envelope, never 5xx; and for bodies built
from the job fields with values known to be good or bad, the answer is exactly predictable:
202 when all are good, `UNKNOWN_FIELD` naming the unknown ones when they are the only problem,
otherwise `INVALID_PARAMETER` naming every bad and unknown field at once.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.api.helpers import LANGUAGE_MESSAGE, assert_error, fixture_data
from tests.conftest import auth, new_key

PROPS = hypothesis_settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FIELDS = (
    "video_url",
    "voice_text",
    "voice_language",
    "music_style",
    "preset",
    "callback_url",
    "metadata",
)
LANGUAGES = sorted(fixture_data("languages.yaml")["languages"])
STYLES = sorted(style["id"] for style in fixture_data("music_styles.yaml")["music_styles"])
PRESETS = sorted(preset["id"] for preset in fixture_data("presets.yaml")["presets"])
CODES_400 = {"INVALID_JSON", "UNKNOWN_FIELD", "INVALID_PARAMETER"}


def _json(floats: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    return st.recursive(
        st.none() | st.booleans() | st.integers() | floats | st.text(max_size=30),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=12,
    )


# NaN and infinities too: json.dumps writes them as NaN/Infinity, which the server refuses.
json_values = _json(st.floats())
finite_json_values = _json(st.floats(allow_nan=False, allow_infinity=False))


@pytest.fixture
def headers() -> dict[str, str]:
    """An Enterprise key: not rate limited, so a property can send hundreds of requests."""
    return auth(new_key("enterprise"))


def post_raw(client: TestClient, headers: dict[str, str], raw: str) -> Any:
    return client.post(
        "/pipeline/run",
        content=raw.encode("utf-8"),
        headers={**headers, "Content-Type": "application/json"},
    )


def check_answer(response: Any) -> None:
    assert response.status_code in (202, 400), (response.status_code, response.text)
    if response.status_code == 400:
        error = assert_error(response, 400, response.json()["error"]["code"])
        assert error["code"] in CODES_400


@PROPS
@given(value=json_values)
def test_any_json_value_gets_202_or_a_400_envelope(
    client: TestClient, headers: dict[str, str], value: Any
) -> None:
    response = post_raw(client, headers, json.dumps(value))
    check_answer(response)
    if not isinstance(value, dict) or "video_url" not in value:
        assert response.status_code == 400
    if not isinstance(value, dict):
        assert response.json()["error"]["code"] == "INVALID_JSON"


@PROPS
@given(
    body=st.dictionaries(
        st.sampled_from(FIELDS) | st.text(min_size=1, max_size=12),
        json_values,
        max_size=len(FIELDS) + 2,
    ),
    good_url=st.booleans(),
)
@example(body={"[": None, "a[0]": 1}, good_url=True)  # keys that look like a union's name
@example(body={"__root__": None}, good_url=True)  # pydantic v1's name for the whole model
def test_any_job_shaped_body_gets_202_or_a_400_envelope(
    client: TestClient, headers: dict[str, str], body: dict[str, Any], good_url: bool
) -> None:
    if good_url:
        body["video_url"] = "https://example.com/input.mp4"
    response = post_raw(client, headers, json.dumps(body))
    check_answer(response)
    if response.status_code == 202:
        job = client.get(f"/jobs/{response.json()['job_id']}", headers=headers)
        assert job.status_code == 200
        echoed = job.json()
        for name in FIELDS:
            if name in body and name != "metadata":
                assert echoed["input"][name] == body[name]
        assert echoed["metadata"] == (body.get("metadata") or {})
    elif response.json()["error"]["code"] == "UNKNOWN_FIELD":
        assert set(response.json()["error"]["details"]) == set(body) - set(FIELDS)


# ---- an exact oracle ---------------------------------------------------------------------

urls = st.builds(
    "{}://{}/{}".format,
    st.sampled_from(["http", "https"]),
    st.sampled_from(["example.com", "cdn.example.org:8443", "127.0.0.1:9000", "localhost"]),
    st.from_regex(r"[A-Za-z0-9_./-]{0,30}", fullmatch=True),
)
bad_urls = (
    st.sampled_from(
        [
            "",
            "/a.mp4",
            "a.mp4",
            "example.com/a.mp4",
            "ftp://example.com/a.mp4",
            "https://",
            "mailto:x@example.com",
            "file:///etc/passwd",
        ]
    )
    | st.integers()
    | st.lists(st.text(max_size=3), max_size=2)
)
not_a_string = st.integers() | st.booleans() | st.lists(st.integers(), max_size=2)
meta_keys = st.text(min_size=1, max_size=40)
good_metadata = st.dictionaries(meta_keys, st.text(max_size=500), max_size=20)
bad_metadata = st.one_of(
    st.dictionaries(meta_keys, st.text(max_size=5), min_size=21, max_size=25),
    st.builds(lambda k: {k: "v"}, st.text(min_size=41, max_size=60)),
    st.builds(lambda v: {"k": v}, st.text(min_size=501, max_size=520)),
    st.builds(
        lambda v: {"k": v},
        st.none()
        | not_a_string
        | st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    ),
    not_a_string,
    st.text(max_size=5),
)

# field -> (strategy of good values, strategy of bad values)
ORACLE: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "video_url": (urls, bad_urls | st.none()),
    "voice_text": (
        st.text(max_size=40) | st.just("é" * 5000),
        st.just("x" * 5001) | not_a_string,
    ),
    "voice_language": (
        st.sampled_from(LANGUAGES),
        st.text(max_size=5).filter(lambda s: s not in LANGUAGES) | not_a_string,
    ),
    "music_style": (
        st.sampled_from(STYLES),
        st.text(max_size=12).filter(lambda s: s not in STYLES) | not_a_string,
    ),
    "preset": (
        st.sampled_from(PRESETS),
        st.text(max_size=12).filter(lambda s: s not in PRESETS) | not_a_string,
    ),
    "callback_url": (urls, bad_urls),
    "metadata": (good_metadata, bad_metadata),
}


@st.composite
def job_bodies(draw: st.DrawFn) -> tuple[dict[str, Any], set[str], set[str]]:
    """A body, the fields in it that are bad, and its unknown fields."""
    body: dict[str, Any] = {}
    bad: set[str] = set()
    for name in FIELDS:
        presence = draw(st.sampled_from(["good", "good", "bad", "absent"]))
        if presence == "absent":
            if name == "video_url":
                bad.add(name)
            continue
        good_values, bad_values = ORACLE[name]
        body[name] = draw(good_values if presence == "good" else bad_values)
        if presence == "bad":
            bad.add(name)
    unknown = draw(
        st.sets(
            st.from_regex(r"[a-z_]{1,12}", fullmatch=True).filter(lambda k: k not in FIELDS),
            max_size=2,
        )
    )
    for name in unknown:
        body[name] = draw(finite_json_values)
    return body, bad, unknown


def top(path: str) -> str:
    return path.split(".")[0].split("[")[0]


@PROPS
@given(case=job_bodies())
def test_the_answer_is_exactly_predictable(
    client: TestClient, headers: dict[str, str], case: tuple[dict[str, Any], set[str], set[str]]
) -> None:
    body, bad, unknown = case
    response = post_raw(client, headers, json.dumps(body))
    if not bad and not unknown:
        assert response.status_code == 202, response.text
        job = client.get(f"/jobs/{response.json()['job_id']}", headers=headers).json()
        assert job["metadata"] == body.get("metadata", {})
        for name in FIELDS:
            if name != "metadata":
                assert job["input"][name] == body.get(name)
        return
    if not bad:
        error = assert_error(response, 400, "UNKNOWN_FIELD")
        assert set(error["details"]) == unknown
        return
    error = assert_error(response, 400, "INVALID_PARAMETER")
    assert {top(path) for path in error["details"]} == bad | unknown
    if isinstance(body.get("voice_language"), str) and "voice_language" in bad:
        assert error["details"]["voice_language"] == LANGUAGE_MESSAGE
    if isinstance(body.get("music_style"), str) and "music_style" in bad:
        assert error["details"]["music_style"] == f"Invalid style: '{body['music_style']}'"

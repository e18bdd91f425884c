"""The error envelope on every failure (contract principle 5, section 2): unknown routes,
wrong methods, oversized bodies, unexpected exceptions, the order checks run in, and inputs
that must never make the server answer 5xx.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings, create_app
from tests.api.helpers import GUIDE_BODY, assert_error, list_jobs, submit, video
from tests.conftest import auth, new_key
from tests.support.openapi_check import OpenApiChecker

MIB = 1024 * 1024


# ---- unknown routes and methods ----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("GET", "/pipeline"),
        ("GET", "/v1/jobs"),
        ("GET", "/jobs/job_x/extra"),
        ("POST", "/pipeline/run/now"),
        ("GET", "/docs"),
        ("GET", "/redoc"),
        ("GET", "/swagger.json"),
        ("GET", "/_sandbox/nothing-here"),
        ("DELETE", "/"),
    ],
)
def test_unknown_route_is_404_route_not_found(
    client: TestClient, headers: dict[str, str], method: str, path: str
) -> None:
    assert_error(client.request(method, path, headers=headers), 404, "ROUTE_NOT_FOUND")


def test_unknown_route_is_404_even_without_a_key(client: TestClient) -> None:
    assert_error(client.get("/nope"), 404, "ROUTE_NOT_FOUND")  # route before auth


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/jobs/x", {"GET", "PUT", "DELETE"}),
        ("POST", "/jobs/x", {"GET", "PUT", "DELETE"}),
        ("POST", "/jobs", {"GET"}),
        ("DELETE", "/jobs", {"GET"}),
        ("PUT", "/pipeline/run", {"POST"}),
        ("DELETE", "/pipeline/batch", {"POST"}),
        ("PUT", "/presets", {"GET"}),
        ("POST", "/health", {"GET"}),
    ],
)
def test_wrong_method_is_405_with_allow(
    client: TestClient, headers: dict[str, str], method: str, path: str, allowed: set[str]
) -> None:
    response = client.request(method, path, headers=headers)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    listed = {part.strip() for part in response.headers["allow"].split(",")}
    assert allowed <= listed
    assert method not in listed


def test_wrong_method_is_405_even_without_a_key(client: TestClient) -> None:
    assert_error(client.patch("/jobs/x"), 405, "METHOD_NOT_ALLOWED")  # method before auth


@pytest.mark.parametrize(("method", "path"), [("GET", "/jobs/"), ("POST", "/pipeline/run/")])
def test_trailing_slash_is_not_a_route(
    app: Any, headers: dict[str, str], method: str, path: str
) -> None:
    with TestClient(app, follow_redirects=False) as plain:
        response = plain.request(method, path, json=GUIDE_BODY, headers=headers)
    assert_error(response, 404, "ROUTE_NOT_FOUND")


# ---- body size ---------------------------------------------------------------------------


def _padded(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    empty = json.dumps({"video_url": video(), "voice_text": ""}).encode()
    raw = json.dumps({"video_url": video(), "voice_text": "x" * (size - len(empty))}).encode()
    assert len(raw) == size
    return raw


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/pipeline/run"), ("POST", "/pipeline/batch"), ("PUT", "/jobs/job_x")],
)
def test_body_over_1_mib_is_413(
    client: TestClient, headers: dict[str, str], method: str, path: str
) -> None:
    response = client.request(
        method,
        path,
        content=_padded(MIB + 1),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert_error(response, 413, "REQUEST_TOO_LARGE")


def test_body_of_exactly_1_mib_is_read(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post(
        "/pipeline/run",
        content=_padded(MIB),
        headers={**headers, "Content-Type": "application/json"},
    )
    error = assert_error(response, 400, "INVALID_PARAMETER")  # read, then too long a voice_text
    assert set(error["details"]) == {"voice_text"}


def test_streamed_body_over_1_mib_is_413(client: TestClient, headers: dict[str, str]) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 65536

    response = client.post("/pipeline/run", content=chunks(), headers=headers)
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "REQUEST_TOO_LARGE")


def test_huge_body_without_a_key_is_401(client: TestClient) -> None:
    response = client.post("/pipeline/run", content=_padded(2 * MIB))
    assert_error(response, 401, "MISSING_API_KEY")  # auth before the body


def test_server_keeps_serving_after_a_413(client: TestClient, headers: dict[str, str]) -> None:
    client.post("/pipeline/run", content=_padded(3 * MIB), headers=headers)
    submit(client, headers)


# ---- unexpected exceptions ---------------------------------------------------------------


class Boom(RuntimeError):
    pass


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise Boom("secret internals: /srv/db password=hunter2")


@pytest.fixture
def lenient(checker: OpenApiChecker) -> Iterator[tuple[Any, TestClient]]:
    app = create_app(Settings(seed=7))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.event_hooks = {"request": [], "response": [checker.hook]}
        yield app, test_client


def test_unexpected_exception_is_500_envelope_and_the_app_keeps_serving(
    lenient: tuple[Any, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, test_client = lenient
    key = new_key()
    submit(test_client, auth(key))  # creates the account
    account = app.state.sandbox.accounts.lookup(key)[0]
    monkeypatch.setattr(account, "submit_job", _boom)
    response = test_client.post("/pipeline/run", json=GUIDE_BODY, headers=auth(key))
    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert error["message"] == "Internal server error"  # the guide's message
    assert "hunter2" not in response.text and "Boom" not in response.text
    assert any(isinstance(exc, Boom) for exc in app.state.sandbox.unexpected_errors)
    # Other requests, of this account and others, are served meanwhile.
    assert list_jobs(test_client, auth(key))["pagination"]["total"] == 1
    submit(test_client, auth(new_key()))
    assert test_client.get("/health").status_code == 200
    monkeypatch.undo()
    submit(test_client, auth(key))


def test_exception_in_a_read_is_500_too(
    lenient: tuple[Any, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, test_client = lenient
    key = new_key()
    job_id = submit(test_client, auth(key))["job_id"]
    account = app.state.sandbox.accounts.lookup(key)[0]
    monkeypatch.setattr(account.jobs, "listing", _boom)
    assert_error(test_client.get("/jobs", headers=auth(key)), 500, "INTERNAL_ERROR")
    assert test_client.get(f"/jobs/{job_id}", headers=auth(key)).status_code == 200


class _ExplodingAccounts:
    """Stands in for the account registry: every lookup raises (iteration finds nothing)."""

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __getattr__(self, name: str) -> Any:
        raise Boom(f"registry is down ({name})")


def test_exception_while_authenticating_is_500(
    lenient: tuple[Any, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, test_client = lenient
    monkeypatch.setattr(app.state.sandbox, "accounts", _ExplodingAccounts())
    response = test_client.get("/jobs", headers=auth(new_key()))
    assert_error(response, 500, "INTERNAL_ERROR")
    assert "registry" not in response.text
    assert test_client.get("/health").status_code == 200
    monkeypatch.undo()
    assert test_client.get("/jobs", headers=auth(new_key())).status_code == 200


# ---- the order checks run in (contract section 2) ----------------------------------------


def test_auth_comes_before_validation(client: TestClient) -> None:
    response = client.post("/pipeline/run", content=b"not json at all")
    assert_error(response, 401, "MISSING_API_KEY")
    response = client.post("/pipeline/run", json={"nope": 1}, headers=auth("sk_test_bad"))
    assert_error(response, 401, "INVALID_API_KEY")


def test_tier_comes_before_validation(client: TestClient) -> None:
    body = {"videos": [{"url": video()}] * 101}
    assert_error(
        client.post("/pipeline/batch", json=body, headers=auth(new_key("free"))),
        403,
        "TIER_FEATURE_UNAVAILABLE",
    )


def test_validation_comes_before_existence_and_state(
    client: TestClient, headers: dict[str, str]
) -> None:
    job_id = submit(client, headers)["job_id"]  # COMPLETED at the next read
    for path in (f"/jobs/{job_id}", "/jobs/job_doesnotexist0000"):
        response = client.put(path, json={"status": "PENDING"}, headers=headers)
        assert_error(response, 400, "UNKNOWN_FIELD")


# ---- inputs that must not crash ----------------------------------------------------------
# A JSON string may carry a lone UTF-16 surrogate as an escape ("\ud800"): valid JSON, but
# not encodable as UTF-8. The sandbox must refuse it (400) or store something it can serve.


def _raw(client: TestClient, headers: dict[str, str], method: str, path: str, raw: str) -> Any:
    return client.request(
        method, path, content=raw.encode(), headers={**headers, "Content-Type": "application/json"}
    )


@pytest.fixture
def lenient_client(lenient: tuple[Any, TestClient]) -> TestClient:
    return lenient[1]


@pytest.mark.parametrize(
    "raw",
    [
        '{"video_url": "https://example.com/a.mp4", "music_style": "\\ud800"}',
        '{"video_url": "https://example.com/a.mp4", "preset": "\\udfff"}',
        '{"video_url": "https://example.com/a.mp4", "metadata": {"%s\\ud800": "x"}}' % ("k" * 41),
    ],
)
def test_lone_surrogate_in_an_error_message_is_400_not_500(
    lenient_client: TestClient, raw: str
) -> None:
    response = _raw(lenient_client, auth(new_key()), "POST", "/pipeline/run", raw)
    assert response.status_code == 400, response.text
    assert_error(response, 400, response.json()["error"]["code"])


def test_lone_surrogate_in_a_batch_item_is_400_not_500(lenient_client: TestClient) -> None:
    raw = '{"videos": [{"url": "https://example.com/a.mp4", "music_style": "\\ud800"}]}'
    response = _raw(lenient_client, auth(new_key()), "POST", "/pipeline/batch", raw)
    assert response.status_code == 400, response.text
    assert_error(response, 400, response.json()["error"]["code"])


@pytest.mark.parametrize(
    "raw",
    [
        '{"video_url": "https://example.com/\\ud800.mp4"}',
        '{"video_url": "https://example.com/a.mp4", "callback_url": "https://example.com/\\ud800"}',
        '{"video_url": "https://example.com/a.mp4", "metadata": {"k": "\\udc00"}}',
    ],
)
def test_lone_surrogate_never_makes_the_account_unreadable(
    lenient_client: TestClient, raw: str
) -> None:
    headers = auth(new_key())
    response = _raw(lenient_client, headers, "POST", "/pipeline/run", raw)
    assert response.status_code in (202, 400), response.text
    assert lenient_client.get("/jobs", headers=headers).status_code == 200
    if response.status_code == 202:
        job_id = response.json()["job_id"]
        assert lenient_client.get(f"/jobs/{job_id}", headers=headers).status_code == 200


def test_lone_surrogate_in_put_never_makes_the_job_unreadable(
    lenient_client: TestClient,
) -> None:
    headers = auth(new_key())
    job_id = submit(lenient_client, headers, video_url=video("stay_pending"))["job_id"]
    raw = '{"metadata": {"k": "\\ud800"}}'
    response = _raw(lenient_client, headers, "PUT", f"/jobs/{job_id}", raw)
    assert response.status_code in (200, 400), response.text
    assert lenient_client.get(f"/jobs/{job_id}", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        '{"video_url": "https://example.com/a.mp4", "voice_text": "\\ud800"}',
        '{"video_url": "https://example.com/a.mp4", "voice_language": "\\ud800"}',
        '{"video_url": "https://example.com/a.mp4", "\\ud800": 1}',
    ],
)
def test_lone_surrogates_refused_with_400(lenient_client: TestClient, raw: str) -> None:
    headers = auth(new_key())
    response = _raw(lenient_client, headers, "POST", "/pipeline/run", raw)
    assert response.status_code == 400, response.text
    assert lenient_client.get("/jobs", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        '{"video_url": 1e400}',
        '{"video_url": -0.0}',
        '{"video_url": "https://example.com/a.mp4", "metadata": {"k": 1e999}}',
        '{"video_url": "http://[::1"}',
        '{"video_url": "https://example.com:99999/a.mp4"}',
        '{"video_url": "https://example.com/a.mp4", "voice_text": "\\u0000"}',
        '{"video_url": ' + "9" * 5000 + "}",
    ],
)
def test_odd_values_are_answered_not_crashed_on(lenient_client: TestClient, raw: str) -> None:
    headers = auth(new_key())
    response = _raw(lenient_client, headers, "POST", "/pipeline/run", raw)
    assert response.status_code in (202, 400), response.text
    if response.status_code == 202:
        job_id = response.json()["job_id"]
        assert lenient_client.get(f"/jobs/{job_id}", headers=headers).status_code == 200
    assert lenient_client.get("/jobs", headers=headers).status_code == 200

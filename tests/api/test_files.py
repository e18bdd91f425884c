"""Signed result links (contract section 5): `result.video_url` downloads a small valid MP4 with
no key; a tampered link is 403 INVALID_SIGNATURE; a link is good for one hour of the
account's clock, then 410 LINK_EXPIRED.
"""

from __future__ import annotations

import string
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings
from tests.api.helpers import assert_error, get_job, submit
from tests.conftest import START, auth, new_key

TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"


@pytest.fixture
def settings() -> Settings:
    return Settings(seed=7, clock="manual", start_time=START)


def result_link(client: TestClient, headers: dict[str, str]) -> tuple[str, str]:
    job = get_job(client, headers, submit(client, headers)["job_id"])
    assert job["status"] == "COMPLETED"
    return job["job_id"], job["result"]["video_url"]


def local(url: str) -> str:
    """The link's path and query (the client talks to the app whatever the host)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def with_token(url: str, token: str) -> str:
    return local(url).split("token=")[0] + "token=" + token


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def advance(app: Any, key: str, seconds: float) -> None:
    app.state.sandbox.accounts.lookup(key)[0].clock.advance(seconds)


def test_result_link_downloads_an_mp4_with_no_key(
    client: TestClient, headers: dict[str, str]
) -> None:
    job_id, url = result_link(client, headers)
    assert urlsplit(url).path == f"/_sandbox/files/{job_id}.mp4"
    response = client.get(local(url))  # no Authorization header
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    data = response.content
    assert data[4:8] == b"ftyp"
    assert int.from_bytes(data[:4], "big") >= 8  # a real box size
    assert b"moov" in data or b"mdat" in data
    assert int(response.headers["content-length"]) == len(data)


def test_link_works_with_any_key_or_a_bad_one(client: TestClient, headers: dict[str, str]) -> None:
    _, url = result_link(client, headers)
    for extra in ({"Authorization": "Bearer sk_live_abcdefghijklmnop"}, {"Authorization": "x"}):
        assert client.get(local(url), headers=extra).status_code == 200


def test_the_default_link_host_is_the_one_the_request_came_to(
    client: TestClient, headers: dict[str, str]
) -> None:
    _, url = result_link(client, headers)
    assert url.startswith("http://testserver/_sandbox/files/")


class TestPublicUrl:
    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(seed=7, public_url="https://sandbox.example.com")

    def test_public_url_sets_the_links_host(
        self, client: TestClient, headers: dict[str, str]
    ) -> None:
        _, url = result_link(client, headers)
        assert url.startswith("https://sandbox.example.com/_sandbox/files/")
        assert client.get(local(url)).status_code == 200


def test_changing_one_character_of_the_token_is_403(
    client: TestClient, headers: dict[str, str]
) -> None:
    _, url = result_link(client, headers)
    token = token_of(url)
    for index in (0, len(token) // 2, len(token) - 2):
        char = token[index]
        other = "A" if char != "A" else "B"
        tampered = token[:index] + other + token[index + 1 :]
        assert_error(client.get(with_token(url, tampered)), 403, "INVALID_SIGNATURE")


def test_changing_the_last_character_of_the_token_is_403(
    client: TestClient, headers: dict[str, str]
) -> None:
    _, url = result_link(client, headers)
    token = token_of(url)
    served = [
        char
        for char in TOKEN_ALPHABET
        if char != token[-1] and client.get(with_token(url, token[:-1] + char)).status_code != 403
    ]
    assert served == []


@pytest.mark.parametrize("token", ["", "garbage", "a.b", "WyJ4Il0.abc", "%00", "." * 50])
def test_garbage_token_is_403(client: TestClient, headers: dict[str, str], token: str) -> None:
    _, url = result_link(client, headers)
    assert_error(client.get(with_token(url, token)), 403, "INVALID_SIGNATURE")


def test_missing_token_is_403(client: TestClient, headers: dict[str, str]) -> None:
    _, url = result_link(client, headers)
    assert_error(client.get(urlsplit(url).path), 403, "INVALID_SIGNATURE")


def test_token_of_another_job_is_403(client: TestClient, headers: dict[str, str]) -> None:
    _, url_a = result_link(client, headers)
    job_b, _ = result_link(client, headers)
    swapped = f"/_sandbox/files/{job_b}.mp4?token={token_of(url_a)}"
    assert_error(client.get(swapped), 403, "INVALID_SIGNATURE")


def test_link_is_good_for_one_hour_of_the_account_clock(
    client: TestClient, app: Any, key: str, headers: dict[str, str]
) -> None:
    _, url = result_link(client, headers)
    advance(app, key, 3599)
    assert client.get(local(url)).status_code == 200
    advance(app, key, 2)
    assert_error(client.get(local(url)), 410, "LINK_EXPIRED")


def test_expired_link_stays_expired_and_a_fresh_read_gives_a_new_link(
    client: TestClient, app: Any, key: str, headers: dict[str, str]
) -> None:
    job_id, url = result_link(client, headers)
    advance(app, key, 3601)
    assert_error(client.get(local(url)), 410, "LINK_EXPIRED")
    assert_error(client.get(local(url)), 410, "LINK_EXPIRED")
    fresh = get_job(client, headers, job_id)["result"]["video_url"]
    assert fresh != url
    assert client.get(local(fresh)).status_code == 200


def test_expiry_follows_the_issuing_accounts_clock_only(
    client: TestClient, app: Any, key: str, headers: dict[str, str]
) -> None:
    other = new_key()
    _, url = result_link(client, headers)
    submit(client, auth(other))
    advance(app, other, 7200)  # another account's clock moving changes nothing
    assert client.get(local(url)).status_code == 200

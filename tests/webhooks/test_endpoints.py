"""`/webhooks`: register, list, read, update, delete — and which URLs may receive webhooks."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import auth, new_key
from tests.webhooks.conftest import Api

STAMP = "2026-05-28T20:26:40Z"
EVENTS = ["job.completed", "job.failed"]


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = dict(response.json()["error"])
    assert error["code"] == code, error
    return error


def test_register_answers_201_with_the_secret(api: Api) -> None:
    response = api.client.post(
        "/webhooks/register",
        json={"url": "http://127.0.0.1:9/hook", "events": EVENTS},
        headers=api.headers,
    )
    assert response.status_code == 201
    created = response.json()
    assert set(created) == {"webhook_id", "url", "events", "active", "secret", "created_at"}
    assert created["webhook_id"].startswith("wh_")
    assert created["url"] == "http://127.0.0.1:9/hook"
    assert created["events"] == EVENTS
    assert created["active"] is True
    assert re.fullmatch(r"whsec_[A-Za-z0-9]{16,}", created["secret"])
    assert created["created_at"] == STAMP


def test_every_webhook_gets_its_own_secret_and_id(api: Api) -> None:
    first = api.register("http://127.0.0.1:9/a")
    second = api.register("http://127.0.0.1:9/a")
    assert first["webhook_id"] != second["webhook_id"]
    assert first["secret"] != second["secret"]


def test_register_inactive_and_duplicate_events(api: Api) -> None:
    created = api.register(
        "https://example.com/hook", ["job.failed", "job.failed", "job.started"], active=False
    )
    assert created["active"] is False
    assert created["events"] == ["job.failed", "job.started"]


def test_get_list_update_delete(api: Api) -> None:
    created = api.register("http://127.0.0.1:9/one", ["job.completed"])
    path = f"/webhooks/{created['webhook_id']}"

    got = api.client.get(path, headers=api.headers)
    assert got.status_code == 200
    assert got.json() == {
        "webhook_id": created["webhook_id"],
        "url": "http://127.0.0.1:9/one",
        "events": ["job.completed"],
        "active": True,
        "created_at": STAMP,
        "updated_at": STAMP,
    }

    api.advance(60)
    updated = api.client.put(
        path,
        json={"url": "http://127.0.0.1:9/two", "events": ["job.progress"], "active": False},
        headers=api.headers,
    )
    assert updated.status_code == 200
    assert updated.json() == {
        "webhook_id": created["webhook_id"],
        "url": "http://127.0.0.1:9/two",
        "events": ["job.progress"],
        "active": False,
        "created_at": STAMP,
        "updated_at": "2026-05-28T20:27:40Z",
    }
    assert api.client.get(path, headers=api.headers).json() == updated.json()

    # A partial update changes only what it names.
    partial = api.client.put(path, json={"active": True}, headers=api.headers).json()
    assert (partial["url"], partial["events"], partial["active"]) == (
        "http://127.0.0.1:9/two",
        ["job.progress"],
        True,
    )

    deleted = api.client.delete(path, headers=api.headers)
    assert deleted.status_code == 200
    assert deleted.json()["webhook_id"] == created["webhook_id"]
    assert "secret" not in deleted.json()
    error_of(api.client.get(path, headers=api.headers), 404, "WEBHOOK_NOT_FOUND")
    error_of(api.client.delete(path, headers=api.headers), 404, "WEBHOOK_NOT_FOUND")
    listed = api.client.get("/webhooks", headers=api.headers).json()
    assert listed["items"] == []


def test_list_is_paginated_newest_first_without_secrets(api: Api) -> None:
    ids = []
    for index in range(3):
        ids.append(api.register(f"http://127.0.0.1:9/{index}")["webhook_id"])
        api.advance(1)
    first = api.client.get("/webhooks", params={"limit": 2}, headers=api.headers)
    assert first.status_code == 200
    page = first.json()
    assert [w["webhook_id"] for w in page["items"]] == [ids[2], ids[1]]
    assert page["pagination"] == {
        "page": 1,
        "limit": 2,
        "total": 3,
        "pages": 2,
        "has_next": True,
        "has_previous": False,
    }
    second = api.client.get("/webhooks", params={"limit": 2, "page": 2}, headers=api.headers)
    assert [w["webhook_id"] for w in second.json()["items"]] == [ids[0]]
    assert second.json()["pagination"]["has_previous"] is True
    oldest = api.client.get("/webhooks", params={"sort": "created_at"}, headers=api.headers)
    assert [w["webhook_id"] for w in oldest.json()["items"]] == ids
    for item in page["items"] + second.json()["items"]:
        assert "secret" not in item
        assert set(item) == {"webhook_id", "url", "events", "active", "created_at", "updated_at"}


@pytest.mark.parametrize(
    ("events", "named"),
    [
        (["job.completed", "job.exploded"], "job.exploded"),
        (["webhook.test"], "webhook.test"),
        (["JOB.COMPLETED"], "JOB.COMPLETED"),
        (["job.*"], "job.*"),
    ],
)
def test_unknown_event_names_are_400_naming_the_event(
    api: Api, events: list[str], named: str
) -> None:
    response = api.client.post(
        "/webhooks/register",
        json={"url": "http://127.0.0.1:9/", "events": events},
        headers=api.headers,
    )
    error = error_of(response, 400, "INVALID_PARAMETER")
    assert f"'{named}'" in error["details"]["events"]
    assert api.client.get("/webhooks", headers=api.headers).json()["items"] == []


def test_unknown_event_in_an_update_is_400_and_changes_nothing(api: Api) -> None:
    created = api.register("http://127.0.0.1:9/")
    path = f"/webhooks/{created['webhook_id']}"
    response = api.client.put(path, json={"events": ["job.done"]}, headers=api.headers)
    assert "'job.done'" in error_of(response, 400, "INVALID_PARAMETER")["details"]["events"]
    assert api.client.get(path, headers=api.headers).json()["events"] == ["job.completed"]


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://127.0.0.1:9/", "events": []},
        {"url": "http://127.0.0.1:9/"},
        {"events": ["job.completed"]},
        {"url": "http://127.0.0.1:9/", "events": "job.completed"},
        {"url": "http://127.0.0.1:9/", "events": ["job.completed"], "active": "yes"},
    ],
)
def test_malformed_registrations_are_400(api: Api, body: dict[str, Any]) -> None:
    response = api.client.post("/webhooks/register", json=body, headers=api.headers)
    assert response.status_code == 400, response.text


def test_unknown_fields_are_refused(api: Api) -> None:
    response = api.client.post(
        "/webhooks/register",
        json={"url": "http://127.0.0.1:9/", "events": ["job.completed"], "secret": "mine"},
        headers=api.headers,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "UNKNOWN_FIELD"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "/relative/hook",
        "example.com/hook",
        "http:///hook",
        "mailto:ops@example.com",
        "file:///etc/passwd",
    ],
)
def test_urls_must_be_absolute_http(api: Api, url: str) -> None:
    response = api.client.post(
        "/webhooks/register", json={"url": url, "events": ["job.completed"]}, headers=api.headers
    )
    error = error_of(response, 400, "INVALID_PARAMETER")
    assert "url" in error["details"]


LINK_LOCAL = [
    "http://169.254.169.254/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.1.1:8080/hook",
    "http://[fe80::1]/",
    "http://[febf::1]/hook",
    "http://[::ffff:169.254.169.254]/",
    "http://[fd00:ec2::254]/",
    "http://2852039166/",  # 169.254.169.254 written as one number: checked once resolved
]


@pytest.mark.parametrize("url", LINK_LOCAL)
def test_link_local_and_metadata_addresses_are_refused(api: Api, url: str) -> None:
    response = api.client.post(
        "/webhooks/register", json={"url": url, "events": ["job.completed"]}, headers=api.headers
    )
    error = error_of(response, 403, "URL_NOT_ALLOWED")  # a policy on addresses, not a typo
    assert "url" in error["details"]
    assert api.client.get("/webhooks", headers=api.headers).json()["items"] == []


@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://[fe80::1]/"])
def test_link_local_is_refused_in_an_update_too(api: Api, url: str) -> None:
    created = api.register("http://127.0.0.1:9/")
    path = f"/webhooks/{created['webhook_id']}"
    error_of(api.client.put(path, json={"url": url}, headers=api.headers), 403, "URL_NOT_ALLOWED")
    assert api.client.get(path, headers=api.headers).json()["url"] == "http://127.0.0.1:9/"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/",
        "http://localhost:8000/hook",
        "http://10.0.0.1/",
        "http://192.168.1.20/hook",
        "http://[::1]:8000/",
        "http://[::ffff:127.0.0.1]:8000/",
        "https://example.com/hook",
        "http://nonexistent.invalid/hook",
    ],
)
def test_loopback_private_and_unresolvable_hosts_are_allowed_by_default(api: Api, url: str) -> None:
    assert api.register(url)["url"] == url


@pytest.fixture
def strict_client(make_api: Callable[..., Api]) -> TestClient:
    return make_api(deny_private_webhooks=True).client


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/",
        "http://10.0.0.1/",
        "http://192.168.1.20/hook",
        "http://172.16.0.1/",
        "http://localhost:8000/hook",
        "http://[::1]:8000/",
        "http://[fd12::1]/",
        "http://169.254.169.254/",
    ],
)
def test_deny_private_webhooks_refuses_private_and_loopback(
    strict_client: TestClient, url: str
) -> None:
    headers = auth(new_key())
    response = strict_client.post(
        "/webhooks/register", json={"url": url, "events": ["job.completed"]}, headers=headers
    )
    assert "url" in error_of(response, 403, "URL_NOT_ALLOWED")["details"]


@pytest.mark.parametrize(
    "url", ["https://example.com/", "http://nonexistent.invalid/hook", "http://8.8.8.8/hook"]
)
def test_deny_private_webhooks_accepts_public_and_unresolvable_hosts(
    strict_client: TestClient, url: str
) -> None:
    headers = auth(new_key())
    response = strict_client.post(
        "/webhooks/register", json={"url": url, "events": ["job.completed"]}, headers=headers
    )
    assert response.status_code == 201, response.text
    path = f"/webhooks/{response.json()['webhook_id']}"
    moved = strict_client.put(path, json={"url": "http://10.0.0.1/"}, headers=headers)
    error_of(moved, 403, "URL_NOT_ALLOWED")


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/test")],
)
def test_unknown_and_foreign_webhooks_are_404(client: TestClient, method: str, suffix: str) -> None:
    owner, stranger = Api(client, auth(new_key())), Api(client, auth(new_key()))
    created = owner.register("http://127.0.0.1:9/")
    body = {"json": {"active": False}} if method == "PUT" else {}
    for webhook_id in ("wh_doesnotexist0000", created["webhook_id"]):
        response = client.request(
            method, f"/webhooks/{webhook_id}{suffix}", headers=stranger.headers, **body
        )
        error_of(response, 404, "WEBHOOK_NOT_FOUND")
    # The owner's webhook is untouched.
    mine = client.get(f"/webhooks/{created['webhook_id']}", headers=owner.headers)
    assert mine.status_code == 200
    assert mine.json()["active"] is True
    assert client.get("/webhooks", headers=stranger.headers).json()["items"] == []
    assert stranger.deliveries() == []


def test_webhooks_need_a_key(client: TestClient) -> None:
    response = client.get("/webhooks")
    error_of(response, 401, "MISSING_API_KEY")

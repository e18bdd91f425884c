"""API keys: list (masked), create (full key once), revoke, rotate; scopes; the key audit log.

Contract section 3: keys created through `POST /keys` join the account of the key that created
them; `DELETE /keys/{key_id}` makes that key answer 401 `KEY_REVOKED` while the account's
other keys keep working; every endpoint needs one scope (the table below is the contract's);
`/_sandbox/*` needs none; `GET /audit/keys` records `key.created`, `key.revoked`, `key.used`
(first use per key per clock day) and `key.denied` (revoked or out of scope).
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings, create_app
from aiprod_sandbox.webhook_http.transmit import WireOptions
from tests.conftest import START, auth, new_key

API_SCOPES = (
    "jobs:read",
    "jobs:write",
    "webhooks:read",
    "webhooks:write",
    "keys:read",
    "keys:write",
    "usage:read",
)
SCOPES = (*API_SCOPES, "sandbox")  # the control API's own, beside the guide's
MASKED = re.compile(r"^sk_test_…[A-Za-z0-9_]{4}$")
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
KEY_FIELDS = {"key_id", "name", "masked", "scopes", "created_at", "last_used_at", "revoked_at"}
CREATED_FIELDS = {"key_id", "name", "key", "masked", "scopes", "created_at"}
AUDIT_FIELDS = {"event_id", "event", "key_id", "masked_key", "request_id", "timestamp"}
JOB = {"video_url": "https://example.com/video.mp4"}
PENDING_JOB = {"video_url": "https://example.com/stay_pending.mp4"}
HOOK_URL = "http://127.0.0.1:9/hook"  # never reached: the sender here may make no socket
START_ISO = "2026-05-28T20:26:40Z"
SECONDS_TO_MIDNIGHT = 3 * 3600 + 33 * 60 + 20  # START is 20:26:40 UTC


@pytest.fixture
def settings() -> Settings:
    return Settings(seed=5, clock="manual", start_time=START)


@pytest.fixture
def app(settings: Settings) -> Any:
    """Webhook sends (the `test` endpoint) never reach the network: every socket the sender
    would make is refused (the attempt fails as `connect_error`)."""
    return create_app(settings, webhook_wire=WireOptions(socket_factory=no_network))


def no_network(address_info: tuple[Any, ...]) -> socket.socket:
    raise OSError(f"no network in the keys tests (asked for {address_info[4]})")


# ---- helpers -------------------------------------------------------------------------------
def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["request_id"] == response.headers["X-Request-Id"]
    return error


def create_key(
    client: TestClient, headers: dict[str, str], name: str = "app", scopes: list[str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if scopes is not None:
        body["scopes"] = scopes
    response = client.post("/keys", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == CREATED_FIELDS
    return created


def list_keys(client: TestClient, headers: dict[str, str], **query: Any) -> dict[str, Any]:
    response = client.get("/keys", params=query, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def audit(client: TestClient, headers: dict[str, str], **query: Any) -> list[dict[str, Any]]:
    """Every audit event, oldest first (read in pages of 100 with sort=created_at)."""
    events: list[dict[str, Any]] = []
    page = 1
    while True:
        response = client.get(
            "/audit/keys",
            params={"sort": "created_at", "limit": 100, "page": page, **query},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        events += body["items"]
        if not body["pagination"]["has_next"]:
            return events
        page += 1


def advance(client: TestClient, headers: dict[str, str], seconds: float) -> None:
    response = client.post("/_sandbox/clock/advance", json={"seconds": seconds}, headers=headers)
    assert response.status_code == 200, response.text


def masked(key: str) -> str:
    return f"sk_test_…{key[-4:]}"


# ---- list ----------------------------------------------------------------------------------
def test_list_shows_the_starting_key_masked_with_last_use(client: TestClient) -> None:
    key = new_key("pro")
    body = list_keys(client, auth(key))
    assert body["pagination"] == {
        "page": 1,
        "limit": 10,
        "total": 1,
        "pages": 1,
        "has_next": False,
        "has_previous": False,
    }
    (item,) = body["items"]
    assert set(item) == KEY_FIELDS
    assert item["masked"] == masked(key)
    assert MASKED.match(item["masked"])
    assert key not in json.dumps(body)
    assert item["scopes"] == list(SCOPES)  # the key that opened the account holds them all
    assert item["created_at"] == START_ISO
    assert item["last_used_at"] == START_ISO  # this very request used it
    assert item["revoked_at"] is None
    assert item["key_id"].startswith("key_")


def test_last_used_at_follows_the_clock(client: TestClient) -> None:
    starter = auth(new_key("pro"))
    other = create_key(client, starter, "other")
    assert {i["name"]: i["last_used_at"] for i in list_keys(client, starter)["items"]} == {
        "Default key": START_ISO,
        "other": None,
    }
    advance(client, starter, 3600)
    assert client.get("/jobs", headers=auth(other["key"])).status_code == 200
    advance(client, starter, 60)
    used = {i["name"]: i["last_used_at"] for i in list_keys(client, starter)["items"]}
    assert used == {"Default key": "2026-05-28T21:27:40Z", "other": "2026-05-28T21:26:40Z"}


def test_list_is_paginated_and_sorted(client: TestClient) -> None:
    starter = auth(new_key("pro"))
    for index in range(4):
        advance(client, starter, 10)
        create_key(client, starter, f"k{index}")
    first = list_keys(client, starter, limit=2)
    assert first["pagination"] == {
        "page": 1,
        "limit": 2,
        "total": 5,
        "pages": 3,
        "has_next": True,
        "has_previous": False,
    }
    assert [i["name"] for i in first["items"]] == ["k3", "k2"]  # newest first by default
    last = list_keys(client, starter, limit=2, page=3)
    assert [i["name"] for i in last["items"]] == ["Default key"]
    assert last["pagination"]["has_previous"] and not last["pagination"]["has_next"]
    assert list_keys(client, starter, limit=2, page=4)["items"] == []
    oldest = list_keys(client, starter, sort="created_at")
    assert [i["name"] for i in oldest["items"]] == ["Default key", "k0", "k1", "k2", "k3"]
    bad = client.get("/keys", params={"sort": "name"}, headers=starter)
    assert "sort" in assert_error(bad, 400, "INVALID_PARAMETER")["details"]


def test_keys_created_at_the_same_time_list_newest_first(client: TestClient) -> None:
    starter = auth(new_key("pro"))
    for name in ("a", "b", "c"):
        create_key(client, starter, name)
    names = [i["name"] for i in list_keys(client, starter)["items"]]
    assert names == ["c", "b", "a", "Default key"]


# ---- create --------------------------------------------------------------------------------
def test_create_shows_the_full_key_once_and_never_again(client: TestClient) -> None:
    starter_key = new_key("pro")
    starter = auth(starter_key)
    created = create_key(client, starter, "My Mobile App")
    secret = created["key"]
    assert re.fullmatch(r"sk_test_[A-Za-z0-9_]{16,}", secret)
    assert created["masked"] == masked(secret)
    assert created["name"] == "My Mobile App"
    assert created["scopes"] == list(API_SCOPES)  # `sandbox` only when asked for
    assert created["created_at"] == START_ISO
    new = auth(secret)
    # Use the new key everywhere, then read everything that could echo it back.
    job = client.post("/pipeline/run", json=JOB, headers=new)
    assert job.status_code == 202
    later = [
        client.get("/keys", headers=starter),
        client.get("/keys", headers=new),
        client.get("/audit/keys", headers=new),
        client.get(f"/jobs/{job.json()['job_id']}", headers=new),
        client.get("/jobs", headers=new),
        client.get("/me/usage", headers=new),
        client.get("/_sandbox/account", headers=new),
        client.get("/_sandbox/requests", headers=new),
        client.delete("/keys/key_doesnotexist", headers=new),
        client.post("/keys", json={"name": "x", "scopes": ["nope"]}, headers=new),
    ]
    for response in later:
        assert response.status_code < 500, response.text
        assert secret not in response.text, response.request.url
        assert starter_key not in response.text, response.request.url
    listed = {i["key_id"]: i for i in later[0].json()["items"]}
    assert listed[created["key_id"]]["masked"] == created["masked"]
    assert "key" not in listed[created["key_id"]]
    # The one exception is the account's own backup, which restores it elsewhere: the state
    # document holds every secret of the account (its webhooks' too), as the contract says.
    state = client.get("/_sandbox/state", headers=starter).json()
    assert {k["key"] for k in state["keys"]} == {starter_key, secret}


def test_created_key_joins_the_same_account(client: TestClient) -> None:
    starter = auth(new_key("free"))
    job_id = client.post("/pipeline/run", json=JOB, headers=starter).json()["job_id"]
    new = auth(create_key(client, starter, "with sandbox", list(SCOPES))["key"])
    assert [j["job_id"] for j in client.get("/jobs", headers=new).json()["items"]] == [job_id]
    assert client.get(f"/jobs/{job_id}", headers=new).status_code == 200
    mine = client.get("/_sandbox/account", headers=starter).json()
    theirs = client.get("/_sandbox/account", headers=new).json()
    assert mine["account_id"] == theirs["account_id"]
    assert theirs["tier"] == "free"  # the account's tier, whatever the new key looks like
    batch = client.post(
        "/pipeline/batch", json={"videos": [{"url": "https://e.com/a.mp4"}]}, headers=new
    )
    assert_error(batch, 403, "TIER_FEATURE_UNAVAILABLE")


def test_create_with_an_unknown_scope_is_400_naming_the_scopes(client: TestClient) -> None:
    starter = auth(new_key("pro"))
    response = client.post(
        "/keys", json={"name": "x", "scopes": ["jobs:read", "jobs:delete"]}, headers=starter
    )
    error = assert_error(response, 400, "INVALID_PARAMETER")
    assert error["type"] == "validation_error"
    text = json.dumps(error["details"])
    assert "scopes" in error["details"] or any(k.startswith("scopes") for k in error["details"])
    assert "jobs:delete" in text
    for scope in SCOPES:
        assert scope in text  # the message lists the scopes that exist
    assert len(list_keys(client, starter)["items"]) == 1  # nothing was created


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "x", "colour": "red"}, "UNKNOWN_FIELD"),
        ({"name": "x", "scopes": "jobs:read"}, "INVALID_PARAMETER"),
        ({"scopes": ["jobs:read"]}, "INVALID_PARAMETER"),
        ({"name": ""}, "INVALID_PARAMETER"),
        ({"name": 5}, "INVALID_PARAMETER"),
    ],
)
def test_create_refuses_bad_bodies(client: TestClient, body: dict[str, Any], code: str) -> None:
    starter = auth(new_key("pro"))
    error = assert_error(client.post("/keys", json=body, headers=starter), 400, code)
    if code == "UNKNOWN_FIELD":
        assert error["details"] == {"colour": "Unknown field"} or "colour" in error["details"]
    assert len(list_keys(client, starter)["items"]) == 1


def test_guides_curl_without_content_type_is_accepted_with_a_warning(client: TestClient) -> None:
    starter = auth(new_key("pro"))
    # curl -X POST .../keys -H "Authorization: Bearer ..." -d '{"name": "My Mobile App"}'
    # sends application/x-www-form-urlencoded; a bare body (no header at all) must work too.
    for content_type in (None, "application/x-www-form-urlencoded"):
        headers = dict(starter)
        if content_type:
            headers["Content-Type"] = content_type
        response = client.post("/keys", content=b'{"name": "My Mobile App"}', headers=headers)
        assert response.status_code == 201, response.text
        assert response.json()["name"] == "My Mobile App"
        assert "X-AIPROD-Warning" in response.headers
    proper = client.post("/keys", json={"name": "typed"}, headers=starter)
    assert proper.status_code == 201
    assert "X-AIPROD-Warning" not in proper.headers


# ---- revoke and rotate ---------------------------------------------------------------------
def test_revoke_answers_the_record_and_the_key_stops_working(client: TestClient) -> None:
    starter = auth(new_key("pro"))
    created = create_key(client, starter, "doomed")
    doomed = auth(created["key"])
    assert client.get("/jobs", headers=doomed).status_code == 200
    advance(client, starter, 90)
    revoked = client.delete(f"/keys/{created['key_id']}", headers=starter)
    assert revoked.status_code == 200, revoked.text
    record = revoked.json()
    assert set(record) == KEY_FIELDS
    assert record["key_id"] == created["key_id"]
    assert record["revoked_at"] == "2026-05-28T20:28:10Z"
    assert record["masked"] == created["masked"]
    assert created["key"] not in revoked.text
    for method, path in [
        ("GET", "/jobs"),
        ("POST", "/pipeline/run"),
        ("GET", "/keys"),
        ("GET", "/me/usage"),
        ("GET", "/_sandbox/account"),
        ("GET", "/_sandbox/clock"),
        ("POST", "/_sandbox/clock/advance"),
    ]:
        body = {"seconds": 1} if path.endswith("advance") else JOB if method == "POST" else None
        response = client.request(method, path, json=body, headers=doomed)
        error = assert_error(response, 401, "KEY_REVOKED")
        assert error["type"] == "auth_error"
        assert created["key"] not in response.text
    # The account's other key is untouched, and sees the revocation.
    assert client.get("/jobs", headers=starter).status_code == 200
    listed = {i["key_id"]: i for i in list_keys(client, starter)["items"]}
    assert listed[created["key_id"]]["revoked_at"] == "2026-05-28T20:28:10Z"
    assert client.get("/_sandbox/clock", headers=starter).json()["now"] == "2026-05-28T20:28:10Z"


def test_rotation_as_the_guide_says_revokes_the_starting_key(client: TestClient) -> None:
    old_key = new_key("pro")
    old = auth(old_key)
    job_id = client.post("/pipeline/run", json=JOB, headers=old).json()["job_id"]
    (starting,) = list_keys(client, old)["items"]
    # 1. Create new key  2. Update applications  3. Test  4. Revoke old key
    new = auth(create_key(client, old, "rotated")["key"])
    assert client.get(f"/jobs/{job_id}", headers=new).status_code == 200
    revoked = client.delete(f"/keys/{starting['key_id']}", headers=new)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["masked"] == masked(old_key)
    assert_error(client.get("/jobs", headers=old), 401, "KEY_REVOKED")
    assert_error(client.get("/_sandbox/account", headers=old), 401, "KEY_REVOKED")
    listing = client.get("/jobs", headers=new).json()
    assert [j["job_id"] for j in listing["items"]] == [job_id]
    names = {i["name"]: i["revoked_at"] for i in list_keys(client, new)["items"]}
    assert names == {"Default key": START_ISO, "rotated": None}


def test_revoked_key_does_not_start_a_new_account(client: TestClient) -> None:
    old_key = new_key("pro")
    old = auth(old_key)
    new = auth(create_key(client, old)["key"])
    (starting,) = [i for i in list_keys(client, old)["items"] if i["name"] == "Default key"]
    assert client.delete(f"/keys/{starting['key_id']}", headers=new).status_code == 200
    for _ in range(3):
        assert_error(client.get("/jobs", headers=old), 401, "KEY_REVOKED")


def test_revoking_an_unknown_or_foreign_key_is_404(client: TestClient) -> None:
    alice, bob = auth(new_key("pro")), auth(new_key("pro"))
    bobs_key = list_keys(client, bob)["items"][0]["key_id"]
    error = assert_error(
        client.delete("/keys/key_doesnotexist", headers=alice), 404, "KEY_NOT_FOUND"
    )
    assert error["type"] == "not_found_error"
    assert_error(client.delete(f"/keys/{bobs_key}", headers=alice), 404, "KEY_NOT_FOUND")
    assert client.get("/jobs", headers=bob).status_code == 200  # bob's key still works
    assert list_keys(client, bob)["items"][0]["revoked_at"] is None


# ---- scopes --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    scope: str
    status: int  # with the scope
    body: Any = None


# The contract's table (section 3), every endpoint of the API. Ordered so that each endpoint
# still finds what it needs: updates before deletes.
ENDPOINTS = (
    Endpoint("GET", "/pipeline/{job}", "jobs:read", 200),
    Endpoint("GET", "/jobs", "jobs:read", 200),
    Endpoint("GET", "/jobs/{job}", "jobs:read", 200),
    Endpoint("GET", "/presets", "jobs:read", 200),
    Endpoint("POST", "/pipeline/run", "jobs:write", 202, JOB),
    Endpoint("POST", "/pipeline/batch", "jobs:write", 202, {"videos": [{"url": JOB["video_url"]}]}),
    Endpoint("PUT", "/jobs/{pending}", "jobs:write", 200, {"metadata": {"a": "b"}}),
    Endpoint("DELETE", "/jobs/{pending}", "jobs:write", 200),
    Endpoint("GET", "/webhooks", "webhooks:read", 200),
    Endpoint("GET", "/webhooks/{webhook}", "webhooks:read", 200),
    Endpoint(
        "POST",
        "/webhooks/register",
        "webhooks:write",
        201,
        {"url": HOOK_URL, "events": ["job.completed"]},
    ),
    Endpoint("PUT", "/webhooks/{webhook}", "webhooks:write", 200, {"active": False}),
    Endpoint("POST", "/webhooks/{webhook}/test", "webhooks:write", 202),
    Endpoint("DELETE", "/webhooks/{webhook}", "webhooks:write", 200),
    Endpoint("GET", "/keys", "keys:read", 200),
    Endpoint("GET", "/audit/keys", "keys:read", 200),
    Endpoint("POST", "/keys", "keys:write", 201, {"name": "minted"}),
    Endpoint("DELETE", "/keys/{key}", "keys:write", 200),
    Endpoint("GET", "/me/usage", "usage:read", 200),
)
SANDBOX_CALLS = (
    ("GET", "/_sandbox/account", None),
    ("GET", "/_sandbox/clock", None),
    ("POST", "/_sandbox/clock/advance", {"seconds": 1}),
    ("GET", "/_sandbox/requests", None),
    ("POST", "/_sandbox/timing", {"job_timing": "instant"}),
)


def test_the_table_names_every_api_operation(client: TestClient) -> None:
    """No endpoint of the served API escapes the scope table."""
    document = client.get("/openapi.json").json()
    template = re.compile(r"\{[^}]+\}")
    served = {
        (method.upper(), template.sub("{}", path))
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "delete", "patch"}
        and path not in {"/health", "/openapi.json"}
    }
    table = {(e.method, template.sub("{}", e.path)) for e in ENDPOINTS}
    assert served == table, served ^ table


def world(client: TestClient, headers: dict[str, str]) -> dict[str, str]:
    """The resources the table's paths name, made with the account's full key."""
    job = client.post("/pipeline/run", json=JOB, headers=headers)
    pending = client.post("/pipeline/run", json=PENDING_JOB, headers=headers)
    hook = client.post(
        "/webhooks/register", json={"url": HOOK_URL, "events": ["job.completed"]}, headers=headers
    )
    spare = create_key(client, headers, "spare", ["keys:write"])  # revocable by keys:write
    assert job.status_code == pending.status_code == 202
    assert hook.status_code == 201, hook.text
    return {
        "job": job.json()["job_id"],
        "pending": pending.json()["job_id"],
        "webhook": hook.json()["webhook_id"],
        "key": spare["key_id"],
    }


@pytest.mark.parametrize("scope", SCOPES)
def test_a_single_scope_key_passes_only_its_own_endpoints(client: TestClient, scope: str) -> None:
    full = auth(new_key("enterprise"))  # not rate limited: the table is long
    ids = world(client, full)
    created = create_key(client, full, f"only {scope}", [scope])
    assert created["scopes"] == [scope]
    limited = auth(created["key"])
    for endpoint in ENDPOINTS:
        path = endpoint.path.format(**ids)
        response = client.request(endpoint.method, path, json=endpoint.body, headers=limited)
        where = f"{endpoint.method} {path} with only {scope}"
        if endpoint.scope == scope:
            assert response.status_code == endpoint.status, f"{where}: {response.text}"
        else:
            error = assert_error(response, 403, "INSUFFICIENT_SCOPE")
            assert error["type"] == "permission_error", where
            assert endpoint.scope in error["message"] + json.dumps(error.get("details")), where
    for method, path, body in SANDBOX_CALLS:
        response = client.request(method, path, json=body, headers=limited)
        where = f"{method} {path} with only {scope}"
        if scope == "sandbox":
            assert response.status_code == 200, f"{where}: {response.text}"
        else:
            error = assert_error(response, 403, "INSUFFICIENT_SCOPE")
            assert error["details"] == {"scope": "missing 'sandbox'"}, where


def test_a_key_with_no_scopes_reaches_nothing(client: TestClient) -> None:
    full = auth(new_key("enterprise"))
    ids = world(client, full)
    created = create_key(client, full, "nothing", [])
    assert created["scopes"] == []
    empty = auth(created["key"])
    for endpoint in ENDPOINTS:
        response = client.request(
            endpoint.method, endpoint.path.format(**ids), json=endpoint.body, headers=empty
        )
        assert_error(response, 403, "INSUFFICIENT_SCOPE")
    for method, path, body in SANDBOX_CALLS:
        response = client.request(method, path, json=body, headers=empty)
        assert_error(response, 403, "INSUFFICIENT_SCOPE")


def test_fixture_keys_get_the_scopes_their_fixture_names(client: TestClient) -> None:
    """fixtures/accounts.yaml: a read-only reporting key with jobs:read alone."""
    readonly = auth("sk_test_example_readonly_0001")
    assert client.get("/jobs", headers=readonly).status_code == 200
    error = assert_error(
        client.post("/pipeline/run", json=JOB, headers=readonly), 403, "INSUFFICIENT_SCOPE"
    )
    assert "jobs:write" in error["message"]
    assert_error(client.get("/keys", headers=readonly), 403, "INSUFFICIENT_SCOPE")


def test_refused_scope_changes_nothing(client: TestClient) -> None:
    full = auth(new_key("pro"))
    reader = auth(create_key(client, full, "reader", ["jobs:read", "keys:read"])["key"])
    assert_error(client.post("/pipeline/run", json=JOB, headers=reader), 403, "INSUFFICIENT_SCOPE")
    assert_error(
        client.post("/keys", json={"name": "x"}, headers=reader), 403, "INSUFFICIENT_SCOPE"
    )
    assert client.get("/jobs", headers=reader).json()["items"] == []
    assert len(list_keys(client, reader)["items"]) == 2


def test_rate_limit_is_checked_before_scope(client: TestClient) -> None:
    full = auth(new_key("free"))
    reader = auth(create_key(client, full, "reader", ["jobs:read"])["key"])  # token 1
    for _ in range(4):
        assert client.get("/jobs", headers=reader).status_code == 200
    # Out of tokens and out of scope: the rate limit answers first.
    refused = client.post("/keys", json={"name": "x"}, headers=reader)
    error = assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
    assert error["retry_after"] == int(refused.headers["Retry-After"]) >= 1
    advance(client, full, 6)
    assert_error(
        client.post("/keys", json={"name": "x"}, headers=reader), 403, "INSUFFICIENT_SCOPE"
    )


def test_auth_is_checked_before_rate_limit(client: TestClient) -> None:
    full = auth(new_key("free"))
    created = create_key(client, full, "doomed")
    client.delete(f"/keys/{created['key_id']}", headers=full)
    for _ in range(3):
        client.get("/jobs", headers=full)
    refused = client.get("/jobs", headers=auth(created["key"]))  # the bucket is empty too
    assert_error(refused, 401, "KEY_REVOKED")


def test_tier_is_checked_before_validation(client: TestClient) -> None:
    free = auth(new_key("free"))
    videos = [{"url": f"https://example.com/{n}.mp4"} for n in range(101)]
    error = assert_error(
        client.post("/pipeline/batch", json={"videos": videos}, headers=free),
        403,
        "TIER_FEATURE_UNAVAILABLE",
    )
    assert error["message"] == "Your tier does not support batch processing"
    junk = client.post("/pipeline/batch", json={"videos": "nope", "x": 1}, headers=free)
    assert_error(junk, 403, "TIER_FEATURE_UNAVAILABLE")


def test_scope_is_checked_before_tier(client: TestClient) -> None:
    free = auth(new_key("free"))
    reader = auth(create_key(client, free, "reader", ["jobs:read"])["key"])
    batch = client.post(
        "/pipeline/batch", json={"videos": [{"url": JOB["video_url"]}]}, headers=reader
    )
    assert_error(batch, 403, "INSUFFICIENT_SCOPE")


# ---- audit ---------------------------------------------------------------------------------
def test_audit_records_creation_revocation_and_use_with_their_request_ids(
    client: TestClient,
) -> None:
    starter_key = new_key("pro")
    starter = auth(starter_key)
    first = client.get("/jobs", headers=starter)
    starting_id = list_keys(client, starter)["items"][0]["key_id"]
    created = client.post("/keys", json={"name": "tmp"}, headers=starter)
    new = created.json()
    use = client.get("/jobs", headers=auth(new["key"]))
    advance(client, starter, 42)
    revoked = client.delete(f"/keys/{new['key_id']}", headers=starter)
    events = audit(client, starter)
    for event in events:
        assert set(event) == AUDIT_FIELDS
        assert event["event_id"]
        assert ISO_TIME.match(event["timestamp"])
        assert MASKED.match(event["masked_key"])
    summary = [(e["event"], e["key_id"], e["request_id"], e["timestamp"]) for e in events]
    assert summary == [
        ("key.used", starting_id, first.headers["X-Request-Id"], START_ISO),
        ("key.created", new["key_id"], created.headers["X-Request-Id"], START_ISO),
        ("key.used", new["key_id"], use.headers["X-Request-Id"], START_ISO),
        ("key.revoked", new["key_id"], revoked.headers["X-Request-Id"], "2026-05-28T20:27:22Z"),
    ]
    assert [e["masked_key"] for e in events] == [masked(starter_key)] + [new["masked"]] * 3
    assert len({e["event_id"] for e in events}) == 4
    text = client.get("/audit/keys", headers=starter).text
    assert new["key"] not in text and starter_key not in text


def test_key_used_is_recorded_once_per_key_per_clock_day(client: TestClient) -> None:
    starter = auth(new_key("pro"))

    def used() -> list[str]:
        return [e["request_id"] for e in audit(client, starter) if e["event"] == "key.used"]

    first = client.get("/jobs", headers=starter).headers["X-Request-Id"]
    client.get("/jobs", headers=starter)
    client.get("/presets", headers=starter)
    assert used() == [first]
    advance(client, starter, SECONDS_TO_MIDNIGHT - 1)  # 23:59:59, still the same day
    client.get("/jobs", headers=starter)
    assert used() == [first]
    advance(client, starter, 1)  # midnight UTC: a new day
    second = client.get("/jobs", headers=starter).headers["X-Request-Id"]
    client.get("/jobs", headers=starter)
    assert used() == [first, second]
    advance(client, starter, 86400)
    third = client.get("/me/usage", headers=starter).headers["X-Request-Id"]
    assert used() == [first, second, third]
    stamps = [e["timestamp"] for e in audit(client, starter) if e["event"] == "key.used"]
    assert stamps == [START_ISO, "2026-05-29T00:00:00Z", "2026-05-30T00:00:00Z"]


def test_key_used_is_per_key(client: TestClient) -> None:
    starter = auth(new_key("pro"))
    other = create_key(client, starter, "other")
    client.get("/jobs", headers=auth(other["key"]))
    client.get("/jobs", headers=auth(other["key"]))
    used = [e["key_id"] for e in audit(client, starter) if e["event"] == "key.used"]
    starting_id = next(
        i["key_id"] for i in list_keys(client, starter)["items"] if i["name"] == "Default key"
    )
    assert sorted(used) == sorted([starting_id, other["key_id"]])


def test_key_denied_for_revoked_and_out_of_scope_use(client: TestClient) -> None:
    starter = auth(new_key("pro"))
    narrow = create_key(client, starter, "narrow", ["usage:read"])
    doomed = create_key(client, starter, "doomed")
    client.delete(f"/keys/{doomed['key_id']}", headers=starter)
    out_of_scope = client.get("/jobs", headers=auth(narrow["key"]))
    assert out_of_scope.status_code == 403
    revoked_api = client.get("/jobs", headers=auth(doomed["key"]))
    revoked_control = client.get("/_sandbox/account", headers=auth(doomed["key"]))
    assert revoked_api.status_code == revoked_control.status_code == 401
    denied = [
        (e["key_id"], e["masked_key"], e["request_id"])
        for e in audit(client, starter)
        if e["event"] == "key.denied"
    ]
    assert denied == [
        (narrow["key_id"], narrow["masked"], out_of_scope.headers["X-Request-Id"]),
        (doomed["key_id"], doomed["masked"], revoked_api.headers["X-Request-Id"]),
        (doomed["key_id"], doomed["masked"], revoked_control.headers["X-Request-Id"]),
    ]
    # A refused use is not a use.
    used = [e["key_id"] for e in audit(client, starter) if e["event"] == "key.used"]
    assert narrow["key_id"] not in used and doomed["key_id"] not in used


def test_audit_is_paginated_and_sorted(client: TestClient) -> None:
    starter = auth(new_key("pro"))
    for index in range(5):
        advance(client, starter, 60)
        create_key(client, starter, f"k{index}")
    oldest_first = audit(client, starter)
    assert [e["event"] for e in oldest_first] == ["key.used"] + ["key.created"] * 5
    newest = client.get("/audit/keys", params={"limit": 4}, headers=starter).json()
    assert newest["pagination"] == {
        "page": 1,
        "limit": 4,
        "total": 6,
        "pages": 2,
        "has_next": True,
        "has_previous": False,
    }
    assert newest["items"] == oldest_first[::-1][:4]  # -created_at is the default
    page2 = client.get("/audit/keys", params={"limit": 4, "page": 2}, headers=starter).json()
    assert page2["items"] == oldest_first[::-1][4:]
    assert page2["pagination"]["has_previous"] and not page2["pagination"]["has_next"]
    far = client.get("/audit/keys", params={"limit": 4, "page": 9}, headers=starter)
    assert far.status_code == 200 and far.json()["items"] == []
    asc = client.get("/audit/keys", params={"sort": "created_at", "limit": 3}, headers=starter)
    assert asc.json()["items"] == oldest_first[:3]
    for bad in ({"sort": "event"}, {"limit": 0}, {"limit": 101}, {"page": 0}):
        response = client.get("/audit/keys", params=bad, headers=starter)
        error = assert_error(response, 400, "INVALID_PARAMETER")
        assert set(bad) <= set(error["details"]), error


def test_audit_is_per_account(client: TestClient) -> None:
    alice, bob = auth(new_key("pro")), auth(new_key("pro"))
    create_key(client, alice, "alices")
    bobs = audit(client, bob)
    assert [e["event"] for e in bobs] == ["key.used"]


def test_sandbox_reset_keeps_keys_and_clears_the_audit(client: TestClient) -> None:
    starter = auth(new_key("pro"))
    created = create_key(client, starter, "kept")
    assert len(audit(client, starter)) == 2
    reset = client.post("/_sandbox/reset", json={}, headers=starter)
    assert reset.status_code == 200, reset.text
    kept = auth(created["key"])
    first = client.get("/jobs", headers=kept)
    assert first.status_code == 200
    assert {i["name"] for i in list_keys(client, kept)["items"]} == {"Default key", "kept"}
    events = [(e["event"], e["request_id"]) for e in audit(client, kept)]
    assert events == [("key.used", first.headers["X-Request-Id"])]


def test_a_key_cannot_mint_a_key_stronger_than_itself(client: TestClient) -> None:
    owner = auth(new_key())
    minter = create_key(client, owner, name="minter", scopes=["keys:write", "jobs:read"])
    minter_headers = auth(minter["key"])
    refused = client.post(
        "/keys", json={"name": "x", "scopes": ["jobs:write"]}, headers=minter_headers
    )
    error = assert_error(refused, 403, "INSUFFICIENT_SCOPE")
    assert "jobs:write" in error["message"]
    inherited = client.post("/keys", json={"name": "y"}, headers=minter_headers)
    assert inherited.status_code == 201
    assert inherited.json()["scopes"] == ["jobs:read", "keys:write"]
    narrower = client.post(
        "/keys", json={"name": "z", "scopes": ["jobs:read"]}, headers=minter_headers
    )
    assert narrower.json()["scopes"] == ["jobs:read"]


def test_a_key_cannot_revoke_a_key_stronger_than_itself(client: TestClient) -> None:
    full = auth(new_key("pro"))
    writer = auth(create_key(client, full, "writer", ["keys:write"])["key"])
    reader = create_key(client, full, "reader", ["jobs:read", "keys:read"])
    refused = client.delete(f"/keys/{reader['key_id']}", headers=writer)
    error = assert_error(refused, 403, "INSUFFICIENT_SCOPE")
    assert "jobs:read" in error["details"]["key_id"] and "keys:read" in error["details"]["key_id"]
    assert client.get("/jobs", headers=auth(reader["key"])).status_code == 200  # still works
    peer = create_key(client, full, "peer", ["keys:write"])
    assert client.delete(f"/keys/{peer['key_id']}", headers=writer).status_code == 200


def test_the_control_api_needs_the_sandbox_scope_and_it_is_given_only_when_asked(
    client: TestClient,
) -> None:
    full = auth(new_key("pro"))
    plain = create_key(client, full, "plain")
    assert "sandbox" not in plain["scopes"]
    for method, path, body in [
        ("GET", "/_sandbox/account", None),  # its callback_secret
        ("GET", "/_sandbox/state", None),  # every secret of the account
        ("PUT", "/_sandbox/state", {"jobs": []}),
        ("POST", "/_sandbox/reset", None),
    ]:
        response = client.request(method, path, json=body, headers=auth(plain["key"]))
        assert_error(response, 403, "INSUFFICIENT_SCOPE")
    assert client.get("/jobs", headers=auth(plain["key"])).status_code == 200
    control = create_key(client, full, "control", ["jobs:read", "sandbox"])
    assert client.get("/_sandbox/account", headers=auth(control["key"])).status_code == 200
    # a key without `sandbox` cannot mint one that has it
    refused = client.post(
        "/keys", json={"name": "x", "scopes": ["sandbox"]}, headers=auth(plain["key"])
    )
    assert_error(refused, 403, "INSUFFICIENT_SCOPE")
    denied = [
        e
        for e in client.get("/audit/keys", headers=full).json()["items"]
        if e["event"] == "key.denied" and e["key_id"] == plain["key_id"]
    ]
    assert len(denied) >= 4  # each refusal is in the audit log

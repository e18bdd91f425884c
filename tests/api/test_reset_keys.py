"""`POST /_sandbox/reset` with `{"keys": true}`: an account starts over, keys included.

A plain reset keeps the keys (the contract). With `keys`, the account's keys go back to those
it began with: the key that opened it works again with every scope, and every key made or
imported since is deleted (so it names this account no more). That first key may ask for
this even when it was revoked, dropped by a state import or narrowed: it is how a rerun
against a long-lived sandbox starts clean after a test rotated its own key. No other revoked
key may, and such a key may do nothing else.
"""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings, create_app
from tests.conftest import START, auth, new_key

JOB = {"video_url": "https://example.com/video.mp4"}
ALL_SCOPES = [
    "jobs:read",
    "jobs:write",
    "webhooks:read",
    "webhooks:write",
    "keys:read",
    "keys:write",
    "usage:read",
    "sandbox",
]


@pytest.fixture
def settings() -> Settings:
    return Settings(seed=5, clock="manual", start_time=START)


def _rotate(client: TestClient, key: str) -> str:
    """The guide's rotation: make a new key, switch to it, revoke the old one."""
    made = client.post("/keys", headers=auth(key), json={"name": "rotated", "scopes": None})
    assert made.status_code == 201, made.text
    new = str(made.json()["key"])
    listed = client.get("/keys", headers=auth(new)).json()["items"]
    old_id = next(item["key_id"] for item in listed if item["name"] == "Default key")
    assert client.delete(f"/keys/{old_id}", headers=auth(new)).status_code == 200
    return new


def test_a_rotated_away_first_key_resets_its_account_with_keys(client: TestClient) -> None:
    key = new_key()
    assert client.post("/pipeline/run", headers=auth(key), json=JOB).status_code == 202
    new = _rotate(client, key)
    assert client.get("/jobs", headers=auth(key)).json()["error"]["code"] == "KEY_REVOKED"

    answer = client.post("/_sandbox/reset", headers=auth(key), json={"keys": True})

    assert answer.status_code == 200, answer.text
    assert client.get("/jobs", headers=auth(key)).json()["items"] == []
    keys = client.get("/keys", headers=auth(key)).json()["items"]
    assert [(k["name"], k["revoked_at"]) for k in keys] == [("Default key", None)]
    assert len(keys[0]["scopes"]) == 8  # every scope, the control API's included
    # The key made since is gone: like any unknown well-formed key, it now names a new,
    # empty account, never this one.
    mine = client.get("/_sandbox/account", headers=auth(key)).json()["account_id"]
    assert client.get("/_sandbox/account", headers=auth(new)).json()["account_id"] != mine
    audit = client.get("/audit/keys", headers=auth(key)).json()["items"]
    assert {item["event"] for item in audit} <= {"key.used"}  # the old audit went with it


def test_a_revoked_first_key_may_do_nothing_but_reset_with_keys(client: TestClient) -> None:
    key = new_key()
    _rotate(client, key)
    for method, path, body in (
        ("POST", "/_sandbox/reset", {}),
        ("POST", "/_sandbox/reset", {"keys": False}),
        ("GET", "/_sandbox/account", None),
        ("POST", "/_sandbox/clock/advance", {"seconds": 1}),
    ):
        answer = client.request(method, path, headers=auth(key), json=body)
        assert answer.status_code == 401, (path, body, answer.text)
        assert answer.json()["error"]["code"] == "KEY_REVOKED"
    empty = client.post("/_sandbox/reset", headers=auth(key))
    assert empty.json()["error"]["code"] == "KEY_REVOKED"


def test_a_key_made_later_and_revoked_cannot_reset_anything(client: TestClient) -> None:
    key = new_key()
    made = client.post("/keys", headers=auth(key), json={"name": "later", "scopes": None}).json()
    client.delete(f"/keys/{made['key_id']}", headers=auth(key))
    answer = client.post("/_sandbox/reset", headers=auth(made["key"]), json={"keys": True})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "KEY_REVOKED"
    assert len(client.get("/keys", headers=auth(key)).json()["items"]) == 2  # nothing changed


def test_a_first_key_dropped_by_an_import_gets_its_account_back(client: TestClient) -> None:
    key = new_key()
    made = client.post(
        "/keys", headers=auth(key), json={"name": "other", "scopes": ALL_SCOPES}
    ).json()
    other = made["key"]
    document = client.get("/_sandbox/state", headers=auth(other)).json()
    document["keys"] = [k for k in document["keys"] if k["key"] == other]
    imported = client.put("/_sandbox/state", headers=auth(other), json=document)
    assert imported.status_code == 200, imported.text

    # The dropped key names no account now, and opens no second one either.
    answer = client.get("/jobs", headers=auth(key))
    assert answer.json()["error"]["code"] == "KEY_REVOKED"
    account_id = client.get("/_sandbox/account", headers=auth(other)).json()["account_id"]

    assert client.post("/_sandbox/reset", headers=auth(key), json={"keys": True}).status_code == 200
    assert client.get("/_sandbox/account", headers=auth(key)).json()["account_id"] == account_id
    assert client.get("/_sandbox/account", headers=auth(other)).json()["account_id"] != account_id


def test_a_narrowed_first_key_gets_every_scope_back(client: TestClient) -> None:
    key = new_key()
    other = client.post("/keys", headers=auth(key), json={"name": "o", "scopes": ALL_SCOPES}).json()
    document = client.get("/_sandbox/state", headers=auth(other["key"])).json()
    for item in document["keys"]:
        if item["key"] == key:
            item["scopes"] = ["jobs:read"]
    assert client.put("/_sandbox/state", headers=auth(other["key"]), json=document).is_success
    assert client.get("/_sandbox/account", headers=auth(key)).status_code == 403

    assert client.post("/_sandbox/reset", headers=auth(key), json={"keys": True}).status_code == 200
    assert client.get("/_sandbox/account", headers=auth(key)).status_code == 200


def test_a_plain_reset_keeps_the_keys(client: TestClient) -> None:
    key = new_key()
    made = client.post("/keys", headers=auth(key), json={"name": "kept", "scopes": None}).json()
    assert client.post("/_sandbox/reset", headers=auth(key)).status_code == 200
    assert client.get("/jobs", headers=auth(made["key"])).status_code == 200
    assert len(client.get("/keys", headers=auth(key)).json()["items"]) == 2


def test_a_fixture_account_gets_its_fixture_keys_back() -> None:
    settings = Settings(seed=5, clock="manual", start_time=START)
    with TestClient(create_app(settings)) as client:
        fixture_key = "sk_test_pro_example1234567890abcdef"  # fixtures/accounts.yaml
        before = client.get("/keys", headers=auth(fixture_key)).json()["items"]
        made = client.post(
            "/keys", headers=auth(fixture_key), json={"name": "extra", "scopes": None}
        ).json()
        client.delete(f"/keys/{before[0]['key_id']}", headers=auth(made["key"]))
        answer = client.post("/_sandbox/reset", headers=auth(fixture_key), json={"keys": True})
        assert answer.status_code == 200, answer.text
        after = client.get("/keys", headers=auth(fixture_key)).json()["items"]
        strip = [{k: v for k, v in item.items() if k != "last_used_at"} for item in after]
        assert strip == [{k: v for k, v in item.items() if k != "last_used_at"} for item in before]


def test_keys_of_another_account_are_untouched(client: TestClient) -> None:
    mine, theirs = new_key(), new_key()
    their_extra = client.post(
        "/keys", headers=auth(theirs), json={"name": "x", "scopes": None}
    ).json()
    _rotate(client, mine)
    assert client.post("/_sandbox/reset", headers=auth(mine), json={"keys": True}).is_success
    assert client.get("/jobs", headers=auth(their_extra["key"])).status_code == 200
    assert len(client.get("/keys", headers=auth(theirs)).json()["items"]) == 2

"""The console's read endpoints over HTTP, in process (every answer checked against
`/_sandbox/openapi.json` by the suite's `client`): the delivery log a page at a time, each
attempt's signature checked against its endpoint's secret, a job's attempts laid out per
endpoint for the timeline picture, webhooks with their outcomes, keys with their audit
trail, and one journal entry. Webhooks go to real receivers on 127.0.0.1; the clock is
manual, so every time below is exact."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings
from aiprod_sandbox.api.console import verdict
from aiprod_sandbox.webhook_http.signing import sign, verify
from tests.conftest import START, auth
from tests.support.receivers import Receivers, Running

BODY = b'{"event":"job.completed"}'
SECRET = "whsec_" + "ab" * 16


@pytest.fixture
def settings() -> Settings:
    return Settings(seed=7, clock="manual", start_time=START, webhook_timeout=2.0)


@pytest.fixture
def headers(key: str) -> dict[str, str]:
    return auth(key)


@pytest.fixture
def plain(receivers: Receivers) -> Running:
    return receivers.plain()


def closed_port_url() -> str:
    """A loopback URL nothing listens on: every attempt to it is a connect_error at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone"


def ok(client: TestClient, method: str, url: str, headers: dict[str, str], **more: Any) -> Any:
    response = client.request(method, url, headers=headers, **more)
    assert response.status_code < 300, response.text
    return response.json()


def register(client: TestClient, headers: dict[str, str], url: str, *events: str) -> Any:
    body = {"url": url, "events": list(events or ["job.completed"])}
    return ok(client, "POST", "/webhooks/register", headers, json=body)


def submit(client: TestClient, headers: dict[str, str], video: str, **more: Any) -> str:
    body = {"video_url": f"https://example.com/{video}.mp4", **more}
    return str(ok(client, "POST", "/pipeline/run", headers, json=body)["job_id"])


def advance(client: TestClient, headers: dict[str, str], seconds: float) -> None:
    ok(client, "POST", "/_sandbox/clock/advance", headers, json={"seconds": seconds})


def use(client: TestClient, headers: dict[str, str], *rules: dict[str, Any]) -> None:
    scenario = {"name": "console", "description": "console test", "webhooks": list(rules)}
    ok(client, "PUT", "/_sandbox/scenario", headers, json={"scenario": scenario})


def rows(client: TestClient, headers: dict[str, str], **query: Any) -> Any:
    return ok(client, "GET", "/_sandbox/console/deliveries", headers, params=query)


# ---- the verdict ---------------------------------------------------------------------------


def test_a_verdict_is_the_guides_check_and_a_missing_header_is_no_signature() -> None:
    good = {"X-AIPROD-Signature": sign(SECRET, BODY)}
    assert verdict(SECRET, BODY, good) == "verifies"
    assert verdict(SECRET, BODY, {"x-aiprod-signature": sign(SECRET, BODY)}) == "verifies"
    assert verdict(SECRET, BODY + b"\n", good) == "wrong_signature"  # other bytes
    assert verdict("whsec_other", BODY, good) == "wrong_signature"  # another secret
    assert verdict(SECRET, BODY, {"Content-Type": "application/json"}) == "no_signature"
    assert verdict(SECRET, BODY, {"X-AIPROD-Signature": ""}) == "no_signature"
    assert verdict(None, BODY, good) == "unknown_secret"  # its webhook was deleted
    assert verdict(None, BODY, {}) == "no_signature"


# ---- deliveries, a page at a time ----------------------------------------------------------


def test_the_delivery_log_pages_newest_first_past_any_first_n(
    client: TestClient, headers: dict[str, str], plain: Running
) -> None:
    register(client, headers, plain.url, "job.started")
    made = [
        ok(client, "POST", "/_sandbox/events", headers, json={"event": "job.started"})
        for _ in range(30)
    ]
    advance(client, headers, 0)
    made_ids = [d for sent in made for d in sent["delivery_ids"]]
    assert len(made_ids) == 30

    first = rows(client, headers, limit=25)
    second = rows(client, headers, limit=25, page=2)
    assert first["pagination"] == {
        "page": 1,
        "limit": 25,
        "total": 30,
        "pages": 2,
        "has_next": True,
        "has_previous": False,
    }
    assert second["pagination"]["has_previous"] and not second["pagination"]["has_next"]
    listed = [r["delivery_id"] for r in first["items"] + second["items"]]
    assert listed == made_ids[::-1]  # every one, once, newest first
    assert rows(client, headers, limit=25, page=3)["items"] == []
    for row in first["items"]:
        assert (row["status"], row["attempts"], row["last_status"]) == ("delivered", 1, 200)
        assert (row["signature"], row["deliberate"], row["last_error"]) == ("verifies", [], None)

    assert rows(client, headers, status="pending")["pagination"]["total"] == 0
    assert rows(client, headers, endpoint="callback")["pagination"]["total"] == 0
    assert rows(client, headers, job_id=first["items"][0]["job_id"])["pagination"]["total"] == 1
    assert client.get("/_sandbox/console/deliveries?limit=101", headers=headers).status_code == 400


def test_a_bad_signature_reads_wrong_and_the_receivers_own_check_agrees(
    client: TestClient, headers: dict[str, str], plain: Running
) -> None:
    webhook = register(client, headers, plain.url)
    only_it = {"endpoint": webhook["webhook_id"]}
    use(client, headers, {"match": only_it, "when": {"nth": 2}, "action": "bad_signature"})
    submit(client, headers, "one")
    submit(client, headers, "two")
    advance(client, headers, 0)

    received = {r.delivery_id: r for r in plain.receiver.received}
    mine = {
        delivery_id: verify(webhook["secret"], r.body, r.headers.get("x-aiprod-signature"))
        for delivery_id, r in received.items()
    }
    assert sorted(mine.values()) == [False, True]
    listed = rows(client, headers)["items"]
    assert {r["delivery_id"]: r["signature"] == "verifies" for r in listed} == mine
    bad = next(r for r in listed if r["signature"] == "wrong_signature")
    assert (bad["deliberate"], bad["last_status"], bad["status"]) == (
        ["bad_signature"],
        200,
        "delivered",  # the receiver took it: what the advisor's unverified-webhook flags
    )

    detail = ok(client, "GET", f"/_sandbox/console/deliveries/{bad['delivery_id']}", headers)
    assert detail["signatures"] == [{"attempt": 1, "verdict": "wrong_signature"}]
    assert detail["delivery"]["attempts"][0]["deliberate"] == "bad_signature"
    assert detail["secret"] == f"webhook {webhook['webhook_id']} (whsec_…{webhook['secret'][-4:]})"
    good = next(r for r in listed if r["signature"] == "verifies")
    again = ok(client, "GET", f"/_sandbox/console/deliveries/{good['delivery_id']}", headers)
    assert again["signatures"] == [{"attempt": 1, "verdict": "verifies"}]


def test_a_callback_is_checked_with_the_accounts_callback_secret(
    client: TestClient, headers: dict[str, str], plain: Running
) -> None:
    submit(client, headers, "called", callback_url=plain.url + "/cb")
    advance(client, headers, 0)
    callback_secret = ok(client, "GET", "/_sandbox/account", headers)["callback_secret"]
    listed = rows(client, headers, endpoint="callback")["items"]
    assert [r["event"] for r in listed] == [
        "job.completed",
        "job.progress",
        "job.progress",
        "job.progress",
        "job.started",
    ]
    assert {r["signature"] for r in listed} == {"verifies"}
    assert all(
        verify(callback_secret, r.body, r.headers["x-aiprod-signature"])
        for r in plain.receiver.received
    )
    detail = ok(client, "GET", f"/_sandbox/console/deliveries/{listed[0]['delivery_id']}", headers)
    assert detail["secret"] == f"the account's callback secret (whsec_…{callback_secret[-4:]})"


def test_an_attempt_without_the_header_is_no_signature_and_a_deleted_webhooks_unknown(
    app: Any, client: TestClient, headers: dict[str, str], key: str, plain: Running
) -> None:
    webhook = register(client, headers, plain.url)
    submit(client, headers, "v")
    advance(client, headers, 0)
    (row,) = rows(client, headers)["items"]
    url = f"/_sandbox/console/deliveries/{row['delivery_id']}"
    assert row["signature"] == "verifies"

    ok(client, "DELETE", f"/webhooks/{webhook['webhook_id']}", headers)
    assert rows(client, headers)["items"][0]["signature"] == "unknown_secret"
    assert ok(client, "GET", url, headers)["secret"] == (
        f"none: webhook {webhook['webhook_id']} was deleted"
    )

    # As the `missing_signature` chaos action sends it: the attempt carries no header at all.
    account, _ = app.state.sandbox.accounts.lookup(key)
    (attempt,) = account.deliveries.get(row["delivery_id"]).attempts
    del attempt.request_headers["X-AIPROD-Signature"]
    assert rows(client, headers)["items"][0]["signature"] == "no_signature"
    assert ok(client, "GET", url, headers)["signatures"] == [
        {"attempt": 1, "verdict": "no_signature"}
    ]


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("bad_signature", "wrong_signature"),  # signed over other bytes
        ("wrong_secret", "wrong_signature"),  # signed under another secret
        ("missing_signature", "no_signature"),
        ("stale_timestamp", "verifies"),  # the signature is right; only the timestamp lies
        ("malformed_body", "verifies"),  # signed over exactly the bytes it cut short
        ("wrong_content_type", "verifies"),
    ],
)
def test_each_chaos_action_gets_the_verdict_the_guides_check_gives(
    client: TestClient, headers: dict[str, str], plain: Running, action: str, expected: str
) -> None:
    webhook = register(client, headers, plain.url)
    use(client, headers, {"action": action})
    submit(client, headers, action)
    advance(client, headers, 0)

    (got,) = plain.receiver.received
    guide = verify(webhook["secret"], got.body, got.headers.get("x-aiprod-signature"))
    (row,) = rows(client, headers)["items"]
    assert row["deliberate"] == [action]
    assert row["signature"] == expected
    assert (expected == "verifies") == guide  # what the receiver's own check said
    detail = ok(client, "GET", f"/_sandbox/console/deliveries/{row['delivery_id']}", headers)
    assert detail["signatures"] == [{"attempt": 1, "verdict": expected}]


# ---- a job's lanes -------------------------------------------------------------------------


def test_a_jobs_attempts_lie_on_one_lane_per_endpoint_on_the_accounts_clock(
    client: TestClient, headers: dict[str, str], plain: Running
) -> None:
    webhook = register(client, headers, plain.url, "job.started", "job.completed")
    only_it = {"endpoint": webhook["webhook_id"], "event": "job.completed"}
    use(client, headers, {"match": only_it, "action": "bad_signature"})
    gone = closed_port_url()
    job = submit(client, headers, "laned", callback_url=gone)
    advance(client, headers, 0)
    advance(client, headers, 10)  # the callback's retries at +1 s and +6 s; the next at +36 s

    detail = ok(client, "GET", f"/_sandbox/jobs/{job}", headers)
    assert [(t["event"], t["offset"]) for t in detail["timeline"]] == [
        ("job.created", 0),
        ("job.started", 0),
        ("job.progress 30", 0),
        ("job.progress 60", 0),
        ("job.progress 90", 0),
        ("job.completed", 0),
    ]
    assert (detail["now"], detail["now_offset"]) == ("2026-05-28T20:26:50Z", 10)
    hook, callback = detail["lanes"]
    assert (hook["endpoint"], hook["url"]) == (webhook["webhook_id"], plain.url)
    assert [
        (m["event"], m["outcome"], m["response_status"], m["signature"]) for m in hook["marks"]
    ] == [
        ("job.started", "acknowledged", 200, "verifies"),
        ("job.completed", "acknowledged", 200, "wrong_signature"),
    ]
    assert hook["marks"][1]["deliberate"] == "bad_signature"

    assert (callback["endpoint"], callback["url"]) == ("callback", gone)
    marks = callback["marks"]
    assert len(marks) == 20  # 5 events × (3 attempts + the one due)
    assert [m["offset"] for m in marks] == [0.0] * 5 + [1.0] * 5 + [6.0] * 5 + [36.0] * 5
    assert [m["attempt"] for m in marks] == [1] * 5 + [2] * 5 + [3] * 5 + [0] * 5
    assert {m["outcome"] for m in marks[:15]} == {"failed"}
    assert {(m["outcome"], m["signature"]) for m in marks[15:]} == {("due", None)}
    assert marks[-1]["at"] == "2026-05-28T20:27:16Z"
    assert sorted(detail["deliveries"]) == sorted({m["delivery_id"] for m in hook["marks"] + marks})


# ---- webhooks, keys, one request -----------------------------------------------------------


def test_webhooks_list_their_outcomes_and_never_their_secret(
    client: TestClient, headers: dict[str, str], plain: Running
) -> None:
    live = register(client, headers, plain.url, "job.started", "job.completed")
    idle = register(client, headers, plain.url + "/idle")
    ok(client, "PUT", f"/webhooks/{idle['webhook_id']}", headers, json={"active": False})
    gone = closed_port_url()
    submit(client, headers, "a", callback_url=gone)
    advance(client, headers, 0)

    answer = client.get("/_sandbox/console/webhooks", headers=headers)
    assert live["secret"] not in answer.text and idle["secret"] not in answer.text
    listed = answer.json()
    assert listed["kept"] == 7  # 2 to the live webhook, 5 to the callback
    first, second, callback = listed["items"]
    assert (first["endpoint"], first["urls"], first["events"], first["active"]) == (
        live["webhook_id"],
        [plain.url],
        ["job.started", "job.completed"],
        True,
    )
    assert first["secret"] == f"whsec_…{live['secret'][-4:]}"
    assert first["deliveries"] == {"delivered": 2, "failed": 0, "pending": 0}
    assert (second["endpoint"], second["active"], second["attempts"]) == (
        idle["webhook_id"],
        False,
        0,
    )
    assert (callback["endpoint"], callback["webhook_id"], callback["urls"]) == (
        "callback",
        None,
        [gone],
    )
    assert callback["deliveries"] == {"delivered": 0, "failed": 0, "pending": 5}
    assert callback["attempts"] == 5


def test_keys_are_masked_each_with_its_audit_trail_linked_to_the_journal(
    client: TestClient, headers: dict[str, str], key: str
) -> None:
    made = ok(client, "POST", "/keys", headers, json={"name": "CI", "scopes": ["jobs:read"]})
    ok(client, "DELETE", f"/keys/{made['key_id']}", headers)
    assert client.get("/jobs", headers=auth(made["key"])).status_code == 401  # revoked

    answer = client.get("/_sandbox/console/keys", headers=headers)
    assert made["key"] not in answer.text and key not in answer.text
    ci, own = answer.json()["items"]  # newest first
    assert (ci["key_id"], ci["name"], ci["scopes"], ci["yours"]) == (
        made["key_id"],
        "CI",
        ["jobs:read"],
        False,
    )
    assert ci["masked"] == f"sk_test_…{made['key'][-4:]}" and ci["revoked_at"] is not None
    assert own["yours"] and own["masked"] == f"sk_test_…{key[-4:]}" and own["revoked_at"] is None
    trail = [(a["event"], a["request_id"]) for a in ci["audit"]]
    assert [event for event, _ in trail] == ["key.denied", "key.revoked", "key.created"]
    assert ci["audit_total"] == 3
    denied, revoked, created = (
        ok(client, "GET", f"/_sandbox/console/requests/{request_id}", headers)
        for _, request_id in trail
    )
    assert (denied["method"], denied["path"], denied["status"]) == ("GET", "/jobs", 401)
    assert (revoked["method"], revoked["path"], revoked["status"]) == (
        "DELETE",
        f"/keys/{made['key_id']}",
        200,
    )
    assert (created["method"], created["path"], created["status"]) == ("POST", "/keys", 201)
    assert created["key"] == own["masked"] and denied["key"] == ci["masked"]


def test_a_request_the_journal_does_not_hold_is_404(
    client: TestClient, headers: dict[str, str]
) -> None:
    answer = client.get("/_sandbox/console/requests/req_nothing", headers=headers)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "REQUEST_NOT_FOUND"


@pytest.mark.parametrize(
    "path",
    [
        "/_sandbox/console/deliveries",
        "/_sandbox/console/deliveries/dlv_x",
        "/_sandbox/console/webhooks",
        "/_sandbox/console/keys",
        "/_sandbox/console/requests/req_x",
    ],
)
def test_the_reads_need_a_key_with_the_sandbox_scope(
    client: TestClient, headers: dict[str, str], path: str
) -> None:
    narrow = ok(client, "POST", "/keys", headers, json={"name": "app", "scopes": ["jobs:read"]})
    assert client.get(path).status_code == 401
    refused = client.get(path, headers=auth(narrow["key"]))
    assert refused.status_code == 403, refused.text

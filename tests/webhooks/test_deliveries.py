"""Deliveries over real loopback sockets: the guide's signature check, payloads per event,
event filters, inactive webhooks, the job's callback_url, and the headers of every attempt."""

from __future__ import annotations

import json
from typing import Any

from aiprod_sandbox.webhook_http.attempt import USER_AGENT
from aiprod_sandbox.webhook_http.receiver import Received
from tests.conftest import START
from tests.support.guide_webhook import verify_webhook
from tests.support.receivers import Receivers, Running
from tests.webhooks.conftest import WAIT, Api

ALL_EVENTS = ["job.started", "job.progress", "job.completed", "job.failed", "job.cancelled"]
STAMP = "2026-05-28T20:26:40Z"  # START, as the payload's timestamp


def got(running: Running, count: int) -> list[Received]:
    assert running.receiver.wait_until(lambda items: len(items) >= count, timeout=WAIT), (
        f"expected {count} deliveries, got {len(running.receiver.received)}"
    )
    return list(running.receiver.received)


def data_of(item: Received) -> dict[str, Any]:
    return dict(item.json()["data"])


def job_view(api: Api, job_id: str) -> dict[str, Any]:
    return dict(api.client.get(f"/jobs/{job_id}", headers=api.headers).json())


def test_guide_verify_webhook_accepts_every_delivery_of_a_job(api: Api, receiver: Running) -> None:
    hook = api.register(receiver.url, ["job.started", "job.progress", "job.completed"])
    assert hook["secret"].startswith("whsec_")
    job_id = api.submit()
    items = got(receiver, 5)
    assert [(i.event, i.json()["data"].get("progress")) for i in items] == [
        ("job.started", None),
        ("job.progress", 30),
        ("job.progress", 60),
        ("job.progress", 90),
        ("job.completed", None),
    ]
    for item in items:
        assert item.path == "/hook"
        assert item.json()["data"]["job_id"] == job_id
        assert verify_webhook(item.body, item.headers["x-aiprod-signature"], hook["secret"])
        assert not verify_webhook(
            item.body + b" ", item.headers["x-aiprod-signature"], hook["secret"]
        )
        assert not verify_webhook(
            item.body, item.headers["x-aiprod-signature"], hook["secret"] + "x"
        )


def test_payload_envelope_and_data_of_started_progress_completed(
    api: Api, receiver: Running
) -> None:
    hook = api.register(receiver.url, ALL_EVENTS)
    job_id = api.submit()
    items = got(receiver, 5)
    for item in items:
        document = item.json()
        assert list(document) == ["event", "webhook_id", "data", "timestamp"]
        assert document["event"] == item.event
        assert document["webhook_id"] == hook["webhook_id"]
        assert document["timestamp"] == STAMP
    started, p30, p60, p90, completed = (data_of(i) for i in items)
    assert started == {"job_id": job_id, "status": "PROCESSING"}
    assert p30 == {"job_id": job_id, "status": "PROCESSING", "progress": 30}
    assert p60 == {"job_id": job_id, "status": "PROCESSING", "progress": 60}
    assert p90 == {"job_id": job_id, "status": "PROCESSING", "progress": 90}
    assert list(completed) == ["job_id", "status", "result", "cost"]
    view = job_view(api, job_id)
    assert completed["job_id"] == job_id
    assert completed["status"] == "COMPLETED"
    result = completed["result"]
    assert set(result) == {"video_url", "cost_estimate", "quality_score", "processing_time_seconds"}
    assert result["video_url"].startswith("http")
    assert f"/_sandbox/files/{job_id}" in result["video_url"]
    for name in ("cost_estimate", "quality_score", "processing_time_seconds"):
        assert result[name] == view["result"][name]
    assert completed["cost"] == {
        "estimate": view["result"]["cost_estimate"],
        "currency": "USD",
        "charged": 0,
    }


def test_job_failed_carries_the_error(api: Api, receiver: Running) -> None:
    hook = api.register(receiver.url, ALL_EVENTS)
    job_id = api.submit("fail_download.mp4")
    items = got(receiver, 2)
    assert [i.event for i in items] == ["job.started", "job.failed"]
    failed = items[1].json()
    assert failed["webhook_id"] == hook["webhook_id"]
    assert failed["data"] == {
        "job_id": job_id,
        "status": "FAILED",
        "error": {
            "type": "processing_error",
            "code": "DOWNLOAD_FAILED",
            "message": "Could not download video_url: the server answered 404 Not Found",
        },
    }
    assert failed["data"]["error"] == job_view(api, job_id)["error"]


def test_job_cancelled_carries_the_reason(api: Api, receiver: Running) -> None:
    api.register(receiver.url, ALL_EVENTS)
    job_id = api.submit("stay_pending.mp4")
    api.advance(60)
    assert receiver.receiver.received == []  # a pending job emits nothing
    cancelled = api.client.delete(f"/jobs/{job_id}", headers=api.headers)
    assert cancelled.status_code == 200, cancelled.text
    (item,) = got(receiver, 1)
    document = item.json()
    assert document["event"] == item.event == "job.cancelled"
    assert document["data"] == {
        "job_id": job_id,
        "status": "CANCELLED",
        "reason": "Cancelled by API request",
    }
    assert document["timestamp"] == "2026-05-28T20:27:40Z"  # the clock's time of the event


def test_only_subscribed_events_are_sent(api: Api, receivers: Receivers) -> None:
    completed_only = receivers.plain()
    progress_only = receivers.plain()
    api.register(completed_only.url, ["job.completed"])
    api.register(progress_only.url, ["job.progress", "job.failed"])
    api.submit()
    assert [i.event for i in got(completed_only, 1)] == ["job.completed"]
    assert [i.json()["data"]["progress"] for i in got(progress_only, 3)] == [30, 60, 90]
    api.advance(0)  # every attempt has finished
    assert len(completed_only.receiver.received) == 1
    assert [i.event for i in progress_only.receiver.received] == ["job.progress"] * 3
    assert len(api.deliveries()) == 4


def test_inactive_webhooks_get_nothing(api: Api, receivers: Receivers) -> None:
    inactive = receivers.plain()
    witness = receivers.plain()
    hook = api.register(inactive.url, ALL_EVENTS, active=False)
    assert hook["active"] is False
    api.register(witness.url, ALL_EVENTS)
    api.submit()
    got(witness, 5)
    api.advance(3600)
    assert inactive.receiver.received == []
    assert all(d["url"] == witness.url for d in api.deliveries())


def test_deactivated_then_reactivated_webhook(api: Api, receiver: Running) -> None:
    hook = api.register(receiver.url, ["job.completed"])
    path = f"/webhooks/{hook['webhook_id']}"
    assert api.client.put(path, json={"active": False}, headers=api.headers).status_code == 200
    api.submit()
    api.advance(0)
    assert receiver.receiver.received == []
    assert api.client.put(path, json={"active": True}, headers=api.headers).status_code == 200
    second = api.submit()
    (item,) = got(receiver, 1)
    assert item.json()["data"]["job_id"] == second


def test_callback_url_gets_the_jobs_events_signed_with_the_callback_secret(
    api: Api, receivers: Receivers
) -> None:
    callback = receivers.plain()
    hook_receiver = receivers.plain()
    hook = api.register(hook_receiver.url, ["job.completed"])
    account = api.client.get("/_sandbox/account", headers=api.headers).json()
    callback_secret = account["callback_secret"]
    assert callback_secret.startswith("whsec_")
    assert callback_secret != hook["secret"]
    job_id = api.submit(callback_url=callback.url)
    other_job = api.submit()  # without a callback_url: nothing for the callback receiver
    items = got(callback, 5)
    assert [i.event for i in items] == [
        "job.started",
        "job.progress",
        "job.progress",
        "job.progress",
        "job.completed",
    ]
    for item in items:
        document = item.json()
        assert document["webhook_id"] is None
        assert document["data"]["job_id"] == job_id
        signature = item.headers["x-aiprod-signature"]
        assert verify_webhook(item.body, signature, callback_secret)
        assert not verify_webhook(item.body, signature, hook["secret"])
    # The registered webhook gets the job's event too, signed with its own secret.
    hook_items = got(hook_receiver, 2)
    assert [i.json()["data"]["job_id"] for i in hook_items] == [job_id, other_job]
    for item in hook_items:
        assert item.json()["webhook_id"] == hook["webhook_id"]
        assert verify_webhook(item.body, item.headers["x-aiprod-signature"], hook["secret"])
    api.advance(0)
    assert len(callback.receiver.received) == 5
    logged = api.deliveries(job_id=job_id)
    assert sorted(d["webhook_id"] is None for d in logged) == [False] + [True] * 5
    assert {d["url"] for d in logged if d["webhook_id"] is None} == {callback.url}


def test_headers_of_an_attempt(api: Api, receiver: Running) -> None:
    hook = api.register(receiver.url, ["job.completed"])
    api.submit()
    (item,) = got(receiver, 1)
    # The receiver has the request before the sender has its answer: wait for the outcome.
    delivery = api.settled(api.only_delivery()["delivery_id"])
    assert item.headers["content-type"] == "application/json"
    assert item.headers["user-agent"] == USER_AGENT
    assert item.headers["user-agent"].startswith("AIPROD-Webhooks/")
    assert item.headers["x-aiprod-event"] == "job.completed"
    assert item.headers["x-aiprod-delivery"] == delivery["delivery_id"]
    assert delivery["delivery_id"].startswith("dlv_")
    assert item.headers["x-aiprod-attempt"] == "1"
    assert item.headers["x-aiprod-timestamp"] == str(int(START))
    assert verify_webhook(item.body, item.headers["x-aiprod-signature"], hook["secret"])
    assert int(item.headers["content-length"]) == len(item.body)
    # The log records what was sent: the same headers and the exact body text.
    (attempt,) = delivery["attempts"]
    sent = {name.lower(): value for name, value in attempt["request_headers"].items()}
    for name in (
        "content-type",
        "user-agent",
        "x-aiprod-signature",
        "x-aiprod-event",
        "x-aiprod-delivery",
        "x-aiprod-attempt",
        "x-aiprod-timestamp",
    ):
        assert sent[name] == item.headers[name], name
    assert attempt["request_body"].encode() == item.body


def test_retries_resend_identical_bytes_with_the_same_delivery_id(
    api: Api, receivers: Receivers
) -> None:
    running = receivers.plain(500, 503, 200)
    api.register(running.url, ["job.completed"])
    api.submit()
    got(running, 1)
    api.advance(10)
    items = got(running, 3)
    assert [i.attempt for i in items] == [1, 2, 3]
    assert [i.headers["x-aiprod-attempt"] for i in items] == ["1", "2", "3"]
    assert len({i.delivery_id for i in items}) == 1
    assert len({i.body for i in items}) == 1
    assert len({i.headers["x-aiprod-signature"] for i in items}) == 1
    assert {i.event for i in items} == {"job.completed"}
    # Each attempt's timestamp is the manual clock at that attempt: +0, +1, +6.
    assert [int(i.headers["x-aiprod-timestamp"]) - int(START) for i in items] == [0, 1, 6]
    # The payload's timestamp stays the event's time.
    assert {json.loads(i.body)["timestamp"] for i in items} == {STAMP}

"""The delivery log (`GET /_sandbox/deliveries`): filters, bounded excerpts, and retries on a
clock that moves by itself."""

from __future__ import annotations

import time

from tests.support.receivers import Receivers, Running
from tests.webhooks.conftest import WAIT, Api

ALL_EVENTS = ["job.started", "job.progress", "job.completed", "job.failed", "job.cancelled"]


def test_filters_and_limit(api: Api, receivers: Receivers) -> None:
    good = receivers.plain()
    bad = receivers.plain(default=500)
    good_hook = api.register(good.url, ALL_EVENTS)
    bad_hook = api.register(bad.url, ["job.completed"])
    first = api.submit()
    second = api.submit("fail_download.mp4")
    assert good.receiver.wait_until(lambda items: len(items) >= 7, timeout=WAIT)
    api.advance(0)
    everything = api.deliveries()
    assert len(everything) == 8  # 5 + 2 to the good one, 1 to the bad one
    by_hook = api.deliveries(webhook_id=bad_hook["webhook_id"])
    assert [(d["event"], d["job_id"], d["status"]) for d in by_hook] == [
        ("job.completed", first, "pending")
    ]
    assert {d["webhook_id"] for d in api.deliveries(webhook_id=good_hook["webhook_id"])} == {
        good_hook["webhook_id"]
    }
    assert [d["event"] for d in api.deliveries(job_id=second)] == ["job.failed", "job.started"]
    assert len(api.deliveries(event="job.progress")) == 3
    assert api.deliveries(status="pending") == by_hook
    assert len(api.deliveries(status="delivered")) == 7
    assert api.deliveries(status="failed") == []
    assert len(api.deliveries(limit="2")) == 2
    assert api.deliveries(limit="2") == everything[:2]
    bad_filter = api.client.get(
        "/_sandbox/deliveries", params={"status": "lost"}, headers=api.headers
    )
    assert bad_filter.status_code == 400


def test_newest_first(api: Api, receiver: Running) -> None:
    api.register(receiver.url, ["job.completed"])
    jobs = [api.submit() for _ in range(3)]
    api.advance(0)
    assert [d["job_id"] for d in api.deliveries()] == list(reversed(jobs))


def test_only_a_bounded_excerpt_of_the_response_is_kept(api: Api, receivers: Receivers) -> None:
    big = receivers.misbehaving(body=b"y" * 200_000)
    api.register(big.url, ["job.completed"])
    api.submit()
    assert big.receiver.wait_until(lambda items: len(items) >= 1, timeout=WAIT)
    (delivery,) = api.deliveries()
    delivery = api.settled(delivery["delivery_id"])
    (attempt,) = delivery["attempts"]
    assert attempt["error"] is None
    assert attempt["response_status"] == 200
    assert attempt["response_excerpt"] == "y" * 2048


def test_each_account_sees_only_its_own_deliveries(api: Api, receiver: Running) -> None:
    from tests.conftest import auth, new_key

    other = Api(api.client, auth(new_key()))
    api.register(receiver.url, ["job.completed"])
    other.register(receiver.url, ["job.completed"])
    mine = api.submit()
    theirs = other.submit()
    assert receiver.receiver.wait_until(lambda items: len(items) >= 2, timeout=WAIT)
    api.advance(0)
    assert [d["job_id"] for d in api.deliveries()] == [mine]
    assert [d["job_id"] for d in other.deliveries()] == [theirs]


def test_retries_run_by_themselves_on_a_scaled_clock(api: Api, receivers: Receivers) -> None:
    """Off the manual clock, the server's ticker runs retries when they fall due."""
    running = receivers.plain(500, 500, 200)
    response = api.client.post(
        "/_sandbox/clock", json={"mode": "scaled", "scale": 100}, headers=api.headers
    )
    assert response.status_code == 200
    api.register(running.url, ["job.completed"])
    api.submit()
    # +0, +1 and +6 clock seconds: about 0.06 s of real time at 100x.
    assert running.receiver.wait_until(lambda items: len(items) >= 3, timeout=WAIT)
    items = running.receiver.received
    assert [i.attempt for i in items] == [1, 2, 3]
    assert len({i.delivery_id for i in items}) == 1
    stamps = [int(i.headers["x-aiprod-timestamp"]) for i in items]
    assert stamps[1] - stamps[0] >= 1
    assert stamps[2] - stamps[0] >= 6
    (delivery,) = api.deliveries()
    for _ in range(100):  # the third answer is recorded a moment after it reached the receiver
        if delivery["status"] != "pending":
            break
        time.sleep(0.02)
        delivery = api.delivery(delivery["delivery_id"])
    assert delivery["status"] == "delivered"
    assert [a["error"] for a in delivery["attempts"]] == ["non_2xx", "non_2xx", None]
    assert len(running.receiver.received) == 3


def test_the_documented_attempt_errors_are_the_contracts_and_dropped(api: Api) -> None:
    """What a client generated from the OpenAPI document must accept in `attempts[].error`."""
    document = api.client.get("/_sandbox/openapi.json", headers=api.headers).json()
    error = document["components"]["schemas"]["AttemptOut"]["properties"]["error"]
    (listed,) = [choice for choice in error["anyOf"] if "enum" in choice]
    assert set(listed["enum"]) == {
        "timeout",
        "connect_error",
        "dns",
        "redirect",
        "non_2xx",
        "dropped",  # a scenario's `drop` rule: a deliberate fault, not a receiver's timeout
    }
    assert {"type": "null"} in error["anyOf"]

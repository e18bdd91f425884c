"""The retry schedule on a manual clock (+0, +1, +6, +36, +3636), the classification of failed
attempts, and a webhook changed, deactivated or deleted while its retries are pending."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from aiprod_sandbox.core.clock import iso
from aiprod_sandbox.webhook_http.transmit import classify
from tests.conftest import START
from tests.support.receivers import Receivers, Running
from tests.webhooks.conftest import WAIT, Api

DAY = 24 * 3600


def at(offset: float) -> str:
    return iso(START + offset)


def first_attempt(api: Api, running: Running | None = None) -> dict[str, Any]:
    """Submit a job (one `job.completed` delivery) and return that delivery once its first
    attempt has finished."""
    job_id = api.submit()
    if running is not None:
        assert running.receiver.wait_until(lambda items: len(items) >= 1, timeout=WAIT)
    delivery = api.only_delivery(job_id=job_id)
    return api.settled(delivery["delivery_id"])


def summary(delivery: dict[str, Any]) -> list[tuple[int, str, str, str | None]]:
    return [
        (a["attempt"], a["trigger"], a["scheduled_at"], a["error"]) for a in delivery["attempts"]
    ]


def test_500_500_200_walks_the_schedule_on_the_manual_clock(api: Api, receivers: Receivers) -> None:
    running = receivers.plain(500, 500, 200)
    api.register(running.url, ["job.completed"])
    delivery = first_attempt(api, running)
    delivery_id = delivery["delivery_id"]
    assert len(running.receiver.received) == 1
    assert delivery["status"] == "pending"
    assert delivery["next_attempt_at"] == at(1)

    moved = api.advance(0.9)
    assert moved["ran"] == []
    assert len(running.receiver.received) == 1

    moved = api.advance(0.1)  # +1 s
    assert moved["clock"]["now"] == at(1)
    assert [(r["ref"], r["action"]) for r in moved["ran"]] == [
        (delivery_id, "attempt 2: non_2xx 500")
    ]
    assert moved["ran"][0]["at"] == at(1)
    assert [i.attempt for i in running.receiver.received] == [1, 2]
    assert api.delivery(delivery_id)["next_attempt_at"] == at(6)

    moved = api.advance(4.9)  # +5.9 s
    assert moved["ran"] == []
    assert len(running.receiver.received) == 2

    moved = api.advance(0.1)  # +6 s
    assert [(r["ref"], r["action"], r["at"]) for r in moved["ran"]] == [
        (delivery_id, "attempt 3: delivered 200", at(6))
    ]
    assert [i.attempt for i in running.receiver.received] == [1, 2, 3]
    assert [i.status for i in running.receiver.received] == [500, 500, 200]

    assert api.advance(DAY)["ran"] == []
    assert len(running.receiver.received) == 3
    final = api.delivery(delivery_id)
    assert final["status"] == "delivered"
    assert final["next_attempt_at"] is None
    assert summary(final) == [
        (1, "scheduled", at(0), "non_2xx"),
        (2, "scheduled", at(1), "non_2xx"),
        (3, "scheduled", at(6), None),
    ]
    assert [a["sent_at"] for a in final["attempts"]] == [at(0), at(1), at(6)]
    assert [a["response_status"] for a in final["attempts"]] == [500, 500, 200]
    assert [a["request_headers"]["X-AIPROD-Attempt"] for a in final["attempts"]] == ["1", "2", "3"]
    assert final["attempts"][2]["response_excerpt"] == '{"ok": true}'
    assert all(a["duration_ms"] >= 0 for a in final["attempts"])


def test_always_500_makes_exactly_five_attempts_then_fails(api: Api, receivers: Receivers) -> None:
    running = receivers.plain(default=500)
    api.register(running.url, ["job.completed"])
    delivery_id = first_attempt(api, running)["delivery_id"]
    moved = api.advance(DAY)
    assert [(r["at"], r["ref"], r["action"]) for r in moved["ran"]] == [
        (at(1), delivery_id, "attempt 2: non_2xx 500"),
        (at(6), delivery_id, "attempt 3: non_2xx 500"),
        (at(36), delivery_id, "attempt 4: non_2xx 500"),
        (at(3636), delivery_id, "attempt 5: non_2xx 500"),
    ]
    assert moved["ran_count"] == 4
    assert [i.attempt for i in running.receiver.received] == [1, 2, 3, 4, 5]
    assert [
        int(i.headers["x-aiprod-timestamp"]) - int(START) for i in running.receiver.received
    ] == [0, 1, 6, 36, 3636]
    final = api.delivery(delivery_id)
    assert final["status"] == "failed"
    assert final["next_attempt_at"] is None
    assert [a["scheduled_at"] for a in final["attempts"]] == [at(0), at(1), at(6), at(36), at(3636)]
    assert {a["error"] for a in final["attempts"]} == {"non_2xx"}
    assert api.advance(DAY)["ran"] == []
    assert len(running.receiver.received) == 5
    assert api.deliveries(status="failed") == [final]


# ---- classification ----------------------------------------------------------------------


def assert_retried_with(api: Api, delivery: dict[str, Any], error: str) -> dict[str, Any]:
    """The first attempt failed with `error`, and so does the retry one second later."""
    assert delivery["status"] == "pending"
    assert [a["error"] for a in delivery["attempts"]] == [error]
    assert delivery["next_attempt_at"] == at(1)
    moved = api.advance(1)
    assert [r["action"].split(":")[0] for r in moved["ran"]] == ["attempt 2"]
    retried = api.delivery(delivery["delivery_id"])
    assert [a["error"] for a in retried["attempts"]] == [error, error]
    assert retried["next_attempt_at"] == at(6)
    return retried


def test_redirect_is_not_followed(api: Api, receivers: Receivers) -> None:
    target = receivers.plain()
    redirecting = receivers.misbehaving(default=302, location=target.url)
    api.register(redirecting.url, ["job.completed"])
    delivery = first_attempt(api, redirecting)
    assert delivery["attempts"][0]["response_status"] == 302
    retried = assert_retried_with(api, delivery, "redirect")
    assert [a["response_status"] for a in retried["attempts"]] == [302, 302]
    assert retried["url"] == redirecting.url
    api.advance(DAY)
    assert len(redirecting.receiver.received) == 5
    assert target.receiver.received == []


@pytest.mark.parametrize("status", [404, 400, 410, 301, 500, 503])
def test_non_2xx_statuses(api: Api, receivers: Receivers, status: int) -> None:
    running = receivers.plain(default=status)
    api.register(running.url, ["job.completed"])
    delivery = first_attempt(api, running)
    assert delivery["attempts"][0]["response_status"] == status
    expected = "redirect" if 300 <= status < 400 else "non_2xx"
    assert_retried_with(api, delivery, expected)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_success(api: Api, receivers: Receivers, status: int) -> None:
    running = receivers.plain(default=status)
    api.register(running.url, ["job.completed"])
    delivery = first_attempt(api, running)
    assert delivery["status"] == "delivered"
    assert [(a["response_status"], a["error"]) for a in delivery["attempts"]] == [(status, None)]


def test_refused_connection_is_connect_error(api: Api, closed_port: int) -> None:
    api.register(f"http://127.0.0.1:{closed_port}/hook", ["job.completed"])
    delivery = first_attempt(api)
    assert delivery["attempts"][0]["response_status"] == 0
    assert_retried_with(api, delivery, "connect_error")


def test_receiver_slower_than_the_timeout_is_timeout(api: Api, receivers: Receivers) -> None:
    slow = receivers.misbehaving(delay=1.5)
    api.register(slow.url, ["job.completed"])
    delivery = first_attempt(api, slow)
    (attempt,) = delivery["attempts"]
    assert attempt["error"] == "timeout"
    assert attempt["response_status"] == 0
    assert 450 <= attempt["duration_ms"] <= 1400
    assert_retried_with(api, delivery, "timeout")
    assert len(slow.receiver.received) == 2


def test_slow_drip_body_is_cut_off_at_the_timeout(api: Api, receivers: Receivers) -> None:
    drip = receivers.misbehaving(drip=12, interval=0.2)  # headers at once, body over 2.4 s
    api.register(drip.url, ["job.completed"])
    started = time.monotonic()
    delivery = first_attempt(api, drip)
    assert time.monotonic() - started < 2.0  # did not wait for the whole body
    (attempt,) = delivery["attempts"]
    assert attempt["error"] == "timeout"
    assert 450 <= attempt["duration_ms"] <= 1200, attempt["duration_ms"]
    assert delivery["status"] == "pending"
    assert delivery["next_attempt_at"] == at(1)


def test_unresolvable_host_is_dns(api: Api) -> None:
    api.register("http://nonexistent.invalid/hook", ["job.completed"])
    delivery = first_attempt(api)
    assert delivery["attempts"][0]["response_status"] == 0
    assert_retried_with(api, delivery, "dns")


@pytest.mark.parametrize(
    "exception",
    [aiohttp.ServerTimeoutError, aiohttp.ConnectionTimeoutError, aiohttp.SocketTimeoutError],
)
def test_an_aiohttp_timeout_exception_is_classified_as_timeout(
    exception: type[aiohttp.ServerTimeoutError],
) -> None:
    """aiohttp is given no timer of its own (the attempt's bound is the only one), but should
    one of its timeouts fire, the attempt says `timeout` (not `connect_error`, though aiohttp's
    timeouts are connection errors too), and `dns` while the host is still being looked up."""
    raised = exception("timed out")
    assert classify(raised, resolving=False, host="h.test", timeout=2) == ("timeout", "")
    error, excerpt = classify(raised, resolving=True, host="h.test", timeout=2)
    assert (error, excerpt) == ("dns", "DNS lookup of h.test timed out after 2 s")
    assert classify(aiohttp.ClientConnectionError("gone"), resolving=False, host="", timeout=2) == (
        "connect_error",
        "gone",
    )


# ---- a webhook changed while retries are pending -----------------------------------------


def failing_delivery(api: Api, running: Running) -> tuple[dict[str, Any], str]:
    hook = api.register(running.url, ["job.completed"])
    delivery = first_attempt(api, running)
    assert delivery["status"] == "pending"
    return delivery, hook["webhook_id"]


def test_deactivating_the_webhook_cancels_pending_retries(api: Api, receivers: Receivers) -> None:
    running = receivers.plain(default=500)
    delivery, webhook_id = failing_delivery(api, running)
    api.advance(1)
    assert len(running.receiver.received) == 2
    response = api.client.put(
        f"/webhooks/{webhook_id}", json={"active": False}, headers=api.headers
    )
    assert response.status_code == 200
    api.advance(DAY)
    assert len(running.receiver.received) == 2
    final = api.delivery(delivery["delivery_id"])
    assert final["status"] == "failed"
    assert final["next_attempt_at"] is None
    assert len(final["attempts"]) == 2
    assert final["note"]


def test_deleting_the_webhook_cancels_pending_retries(api: Api, receivers: Receivers) -> None:
    running = receivers.plain(default=500)
    delivery, webhook_id = failing_delivery(api, running)
    assert api.client.delete(f"/webhooks/{webhook_id}", headers=api.headers).status_code == 200
    api.advance(DAY)
    assert len(running.receiver.received) == 1
    final = api.delivery(delivery["delivery_id"])
    assert final["status"] == "failed"
    assert final["next_attempt_at"] is None
    assert len(final["attempts"]) == 1


def test_a_changed_url_receives_the_next_retry(api: Api, receivers: Receivers) -> None:
    old = receivers.plain(default=500)
    new = receivers.plain()
    delivery, webhook_id = failing_delivery(api, old)
    response = api.client.put(f"/webhooks/{webhook_id}", json={"url": new.url}, headers=api.headers)
    assert response.status_code == 200
    assert response.json()["url"] == new.url
    api.advance(1)
    assert len(old.receiver.received) == 1
    (item,) = new.receiver.received
    assert item.attempt == 2
    assert item.delivery_id == delivery["delivery_id"]
    assert item.body == old.receiver.received[0].body
    final = api.delivery(delivery["delivery_id"])
    assert final["status"] == "delivered"
    assert final["url"] == new.url
    api.advance(DAY)
    assert len(old.receiver.received) == 1
    assert len(new.receiver.received) == 1


def test_changing_the_events_keeps_a_pending_deliverys_bytes(
    api: Api, receivers: Receivers
) -> None:
    """Changing the events of a webhook does not touch a pending delivery's bytes."""
    running = receivers.plain(500, 200)
    delivery, webhook_id = failing_delivery(api, running)
    response = api.client.put(
        f"/webhooks/{webhook_id}", json={"events": ["job.failed"]}, headers=api.headers
    )
    assert response.status_code == 200
    api.advance(1)
    first, second = running.receiver.received
    assert second.body == first.body
    assert second.headers["x-aiprod-signature"] == first.headers["x-aiprod-signature"]
    assert api.delivery(delivery["delivery_id"])["status"] == "delivered"


# ---- a configured schedule ---------------------------------------------------------------


def test_the_schedule_and_timeout_are_configurable(
    make_api: Callable[..., Api], receivers: Receivers
) -> None:
    running = receivers.plain(default=500)
    api = make_api(webhook_retry_delays=(2.0, 3.0))
    api.register(running.url, ["job.completed"])
    delivery_id = first_attempt(api, running)["delivery_id"]
    moved = api.advance(DAY)
    assert [(r["at"], r["action"]) for r in moved["ran"]] == [
        (at(2), "attempt 2: non_2xx 500"),
        (at(5), "attempt 3: non_2xx 500"),
    ]
    final = api.delivery(delivery_id)
    assert final["status"] == "failed"
    assert [a["scheduled_at"] for a in final["attempts"]] == [at(0), at(2), at(5)]


def test_a_delivery_is_abandoned_24_hours_after_its_event(
    make_api: Callable[..., Api], receivers: Receivers
) -> None:
    """A schedule configured longer than a day stops once 24 h have passed since the event."""
    running = receivers.plain(default=500)
    api = make_api(webhook_retry_delays=(5000.0,) * 40)
    api.register(running.url, ["job.completed"])
    delivery_id = first_attempt(api, running)["delivery_id"]
    api.advance(3 * DAY)
    final = api.delivery(delivery_id)
    offsets = [5000 * n for n in range(18)]  # 0 … 85 000 s; 90 000 s is past the day
    assert [a["scheduled_at"] for a in final["attempts"]] == [at(s) for s in offsets]
    assert final["status"] == "failed"
    assert final["next_attempt_at"] is None
    assert len(running.receiver.received) == 18

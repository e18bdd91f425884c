"""`POST /webhooks/{id}/test`, `POST /_sandbox/deliveries/{id}/redeliver` and
`POST /_sandbox/events`, against real receivers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox.core.clock import iso
from aiprod_sandbox.webhook_http.signing import verify
from tests.conftest import START
from tests.support.receivers import Receivers, Running
from tests.webhooks.conftest import WAIT, Api

DAY = 24 * 3600
STAMP = "2026-05-28T20:26:40Z"


def wait_for(running: Running, count: int) -> None:
    assert running.receiver.wait_until(lambda items: len(items) >= count, timeout=WAIT), (
        f"expected {count} deliveries, got {len(running.receiver.received)}"
    )


def send_test(api: Api, webhook_id: str) -> str:
    response = api.client.post(f"/webhooks/{webhook_id}/test", headers=api.headers)
    assert response.status_code == 202, response.text
    assert set(response.json()) == {"delivery_id"}
    return str(response.json()["delivery_id"])


def redeliver(api: Api, delivery_id: str) -> Any:
    return api.client.post(f"/_sandbox/deliveries/{delivery_id}/redeliver", headers=api.headers)


# ---- test deliveries ---------------------------------------------------------------------


def test_test_delivery_is_sent_whatever_the_event_filter(api: Api, receiver: Running) -> None:
    hook = api.register(receiver.url, ["job.failed"])
    delivery_id = send_test(api, hook["webhook_id"])
    wait_for(receiver, 1)
    (item,) = receiver.receiver.received
    assert item.event == "webhook.test"
    assert item.delivery_id == delivery_id
    assert item.attempt == 1
    assert verify(hook["secret"], item.body, item.headers["x-aiprod-signature"])
    document = item.json()
    assert list(document) == ["event", "webhook_id", "data", "timestamp"]
    assert document["event"] == "webhook.test"
    assert document["webhook_id"] == hook["webhook_id"]
    assert document["timestamp"] == STAMP
    assert document["data"]["webhook_id"] == hook["webhook_id"]
    logged = api.settled(delivery_id)
    assert logged["test"] is True
    assert logged["event"] == "webhook.test"
    assert logged["job_id"] is None
    assert logged["webhook_id"] == hook["webhook_id"]
    assert logged["status"] == "delivered"
    assert [(a["attempt"], a["trigger"], a["error"]) for a in logged["attempts"]] == [
        (1, "test", None)
    ]


def test_a_failed_test_delivery_is_never_retried(api: Api, receivers: Receivers) -> None:
    running = receivers.plain(default=500)
    hook = api.register(running.url, ["job.completed"])
    delivery_id = send_test(api, hook["webhook_id"])
    wait_for(running, 1)
    logged = api.settled(delivery_id)
    assert logged["status"] == "failed"
    assert logged["next_attempt_at"] is None
    assert api.advance(DAY)["ran"] == []
    assert len(running.receiver.received) == 1
    final = api.delivery(delivery_id)
    assert [(a["trigger"], a["error"], a["response_status"]) for a in final["attempts"]] == [
        ("test", "non_2xx", 500)
    ]


def test_test_delivery_to_a_refused_port_fails_once(api: Api, closed_port: int) -> None:
    hook = api.register(f"http://127.0.0.1:{closed_port}/hook", ["job.completed"])
    delivery_id = send_test(api, hook["webhook_id"])
    api.advance(DAY)
    final = api.delivery(delivery_id)
    assert final["status"] == "failed"
    assert [(a["trigger"], a["error"]) for a in final["attempts"]] == [("test", "connect_error")]


def test_test_deliveries_are_listed_as_tests(api: Api, receiver: Running) -> None:
    hook = api.register(receiver.url, ["job.completed"])
    test_id = send_test(api, hook["webhook_id"])
    api.submit()
    wait_for(receiver, 2)
    api.advance(0)
    by_id = {d["delivery_id"]: d for d in api.deliveries()}
    assert len(by_id) == 2
    assert by_id.pop(test_id)["test"] is True
    (job_delivery,) = by_id.values()
    assert job_delivery["test"] is False
    assert api.deliveries(event="webhook.test") == [api.delivery(test_id)]


# ---- redelivery --------------------------------------------------------------------------


def test_redeliver_sends_the_same_bytes_with_the_same_id(api: Api, receiver: Running) -> None:
    hook = api.register(receiver.url, ["job.completed"])
    api.submit()
    wait_for(receiver, 1)
    delivery_id = api.only_delivery()["delivery_id"]
    api.advance(30)
    response = redeliver(api, delivery_id)
    assert response.status_code == 200, response.text
    wait_for(receiver, 2)
    first, again = receiver.receiver.received
    assert again.body == first.body
    assert again.delivery_id == first.delivery_id == delivery_id
    assert again.event == "job.completed"
    assert again.headers["x-aiprod-signature"] == first.headers["x-aiprod-signature"]
    assert verify(hook["secret"], again.body, again.headers["x-aiprod-signature"])
    assert again.headers["x-aiprod-timestamp"] == str(int(START) + 30)
    assert again.json()["timestamp"] == STAMP  # still the event's time
    logged = response.json()
    assert logged["delivery_id"] == delivery_id
    assert logged["status"] == "delivered"
    assert logged["next_attempt_at"] is None
    assert [(a["trigger"], a["error"]) for a in logged["attempts"]] == [
        ("scheduled", None),
        ("manual", None),
    ]
    manual = logged["attempts"][1]
    assert manual["scheduled_at"] == manual["sent_at"] == iso(START + 30)
    assert manual["request_body"].encode() == first.body
    assert manual["request_headers"]["X-AIPROD-Delivery"] == delivery_id
    assert again.headers["x-aiprod-attempt"] == manual["request_headers"]["X-AIPROD-Attempt"]


def test_a_failing_redelivery_schedules_no_retries(api: Api, receivers: Receivers) -> None:
    running = receivers.plain(default=500)
    api.register(running.url, ["job.completed"])
    api.submit()
    wait_for(running, 1)
    api.advance(DAY)  # five attempts, then failed
    delivery_id = api.only_delivery()["delivery_id"]
    assert api.delivery(delivery_id)["status"] == "failed"
    response = redeliver(api, delivery_id)
    assert response.status_code == 200
    logged = response.json()
    assert logged["status"] == "failed"
    assert logged["next_attempt_at"] is None
    assert [a["trigger"] for a in logged["attempts"]] == ["scheduled"] * 5 + ["manual"]
    assert logged["attempts"][-1]["error"] == "non_2xx"
    assert len(running.receiver.received) == 6
    assert api.advance(DAY)["ran"] == []
    assert len(running.receiver.received) == 6
    assert len(api.delivery(delivery_id)["attempts"]) == 6


def test_a_successful_redelivery_settles_a_failed_delivery(api: Api, receivers: Receivers) -> None:
    running = receivers.plain(500, 500, 500, 500, 500)
    api.register(running.url, ["job.completed"])
    api.submit()
    wait_for(running, 1)
    api.advance(DAY)
    delivery_id = api.only_delivery()["delivery_id"]
    logged = redeliver(api, delivery_id).json()
    assert logged["status"] == "delivered"
    assert [a["error"] for a in logged["attempts"]] == ["non_2xx"] * 5 + [None]


def test_redelivery_does_not_change_the_retry_schedule(api: Api, receivers: Receivers) -> None:
    running = receivers.plain(default=500)
    api.register(running.url, ["job.completed"])
    api.submit()
    wait_for(running, 1)
    delivery_id = api.only_delivery()["delivery_id"]
    api.advance(0.5)
    assert redeliver(api, delivery_id).status_code == 200
    moved = api.advance(DAY)
    assert [r["at"] for r in moved["ran"]] == [iso(START + s) for s in (1, 6, 36, 3636)]
    final = api.delivery(delivery_id)
    assert final["status"] == "failed"
    scheduled = [a for a in final["attempts"] if a["trigger"] == "scheduled"]
    assert [a["scheduled_at"] for a in scheduled] == [iso(START + s) for s in (0, 1, 6, 36, 3636)]
    assert len(running.receiver.received) == 6


def test_redeliver_a_test_delivery(api: Api, receiver: Running) -> None:
    hook = api.register(receiver.url, ["job.completed"])
    delivery_id = send_test(api, hook["webhook_id"])
    wait_for(receiver, 1)
    logged = redeliver(api, delivery_id).json()
    assert [a["trigger"] for a in logged["attempts"]] == ["test", "manual"]
    first, again = receiver.receiver.received
    assert again.body == first.body
    assert again.delivery_id == delivery_id


def test_redeliver_unknown_delivery_is_404(api: Api) -> None:
    response = redeliver(api, "dlv_doesnotexist000")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "DELIVERY_NOT_FOUND"
    response = api.client.get("/_sandbox/deliveries/dlv_doesnotexist000", headers=api.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "DELIVERY_NOT_FOUND"


def test_another_accounts_delivery_is_404(api: Api, receiver: Running, client: TestClient) -> None:
    from tests.conftest import auth, new_key

    api.register(receiver.url, ["job.completed"])
    api.submit()
    wait_for(receiver, 1)
    delivery_id = api.only_delivery()["delivery_id"]
    stranger = Api(client, auth(new_key()))
    response = redeliver(stranger, delivery_id)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "DELIVERY_NOT_FOUND"
    assert stranger.deliveries() == []
    assert len(receiver.receiver.received) == 1


def test_redeliver_a_delivery_voided_before_its_first_attempt(
    make_api: Callable[..., Api], receivers: Receivers
) -> None:
    slow = receivers.misbehaving(delay=1.0)
    api = make_api(webhook_timeout=5.0)
    hook = api.register(slow.url, ["job.started", "job.completed"])
    api.submit()
    wait_for(slow, 1)  # job.started is in flight; job.completed waits in the lane behind it
    deleted = api.client.delete(f"/webhooks/{hook['webhook_id']}", headers=api.headers)
    assert deleted.status_code == 200
    api.advance(0)
    (voided,) = api.deliveries(event="job.completed")
    assert voided["status"] == "failed"
    assert voided["attempts"] == []
    assert voided["note"]
    response = redeliver(api, voided["delivery_id"])
    assert response.status_code != 500, response.text
    assert response.status_code in (200, 404, 409)


def test_redeliver_after_the_webhook_was_deleted_is_not_a_silent_no_op(
    api: Api, receiver: Running
) -> None:
    hook = api.register(receiver.url, ["job.completed"])
    api.submit()
    wait_for(receiver, 1)
    delivery_id = api.only_delivery()["delivery_id"]
    api.advance(0)
    assert api.client.delete(f"/webhooks/{hook['webhook_id']}", headers=api.headers)
    response = redeliver(api, delivery_id)
    if response.status_code == 200:
        # Either it really sent again (a new manual attempt) ...
        assert [a["trigger"] for a in response.json()["attempts"]] == ["scheduled", "manual"]
    else:
        # ... or it says why it cannot.
        assert response.status_code in (404, 409), response.text


# ---- events on demand --------------------------------------------------------------------


def post_event(api: Api, body: dict[str, Any]) -> Any:
    return api.client.post("/_sandbox/events", json=body, headers=api.headers)


def test_event_without_job_makes_a_synthetic_job_and_one_delivery(
    api: Api, receiver: Running
) -> None:
    hook = api.register(
        receiver.url,
        ["job.started", "job.progress", "job.completed", "job.failed", "job.cancelled"],
    )
    response = post_event(api, {"event": "job.completed"})
    assert response.status_code == 202, response.text
    sent = response.json()
    assert sent["event"] == "job.completed"
    assert len(sent["delivery_ids"]) == 1
    wait_for(receiver, 1)
    api.advance(0)
    (item,) = receiver.receiver.received
    assert item.event == "job.completed"
    assert item.delivery_id == sent["delivery_ids"][0]
    assert verify(hook["secret"], item.body, item.headers["x-aiprod-signature"])
    data = item.json()["data"]
    assert data["job_id"] == sent["job_id"]
    assert data["status"] == "COMPLETED"
    assert set(data) == {"job_id", "status", "result", "cost"}
    job = api.client.get(f"/jobs/{sent['job_id']}", headers=api.headers)
    assert job.status_code == 200
    assert job.json()["status"] == "COMPLETED"
    assert data["result"]["cost_estimate"] == job.json()["result"]["cost_estimate"]
    assert [d["delivery_id"] for d in api.deliveries()] == sent["delivery_ids"]


@pytest.mark.parametrize(
    ("event", "status", "field"),
    [
        ("job.started", "PROCESSING", None),
        ("job.progress", "PROCESSING", "progress"),
        ("job.failed", "FAILED", "error"),
        ("job.cancelled", "CANCELLED", "reason"),
    ],
)
def test_each_synthetic_event_carries_its_data(
    api: Api, receiver: Running, event: str, status: str, field: str | None
) -> None:
    api.register(receiver.url, [event])
    sent = post_event(api, {"event": event}).json()
    wait_for(receiver, 1)
    (item,) = receiver.receiver.received
    data = item.json()["data"]
    assert item.event == event
    assert data["job_id"] == sent["job_id"]
    assert data["status"] == status
    expected = {"job_id", "status"} | ({field} if field else set())
    assert set(data) == expected
    if field:
        assert data[field] is not None


def test_event_for_an_existing_job(api: Api, receivers: Receivers) -> None:
    running = receivers.plain()
    job_id = api.submit()  # before the webhook: its own events go nowhere
    api.register(running.url, ["job.completed"])
    response = post_event(api, {"event": "job.completed", "job_id": job_id})
    assert response.status_code == 202
    sent = response.json()
    assert sent["job_id"] == job_id
    assert len(sent["delivery_ids"]) == 1
    wait_for(running, 1)
    (item,) = running.receiver.received
    assert item.json()["data"]["job_id"] == job_id
    assert item.json()["data"]["status"] == "COMPLETED"


def test_event_nobody_subscribes_to_makes_no_delivery(api: Api, receiver: Running) -> None:
    api.register(receiver.url, ["job.failed"])
    sent = post_event(api, {"event": "job.completed"}).json()
    assert sent["delivery_ids"] == []
    api.advance(0)
    assert receiver.receiver.received == []


@pytest.mark.parametrize(
    "body",
    [{"event": "job.exploded"}, {"event": "webhook.test"}, {}, {"event": "job.completed", "x": 1}],
)
def test_bad_event_bodies_are_400(api: Api, body: dict[str, Any]) -> None:
    response = post_event(api, body)
    assert response.status_code == 400, response.text
    assert api.deliveries() == []


def test_event_for_an_unknown_job_is_404(api: Api, receiver: Running) -> None:
    api.register(receiver.url, ["job.completed"])
    response = post_event(api, {"event": "job.completed", "job_id": "job_doesnotexist00"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "JOB_NOT_FOUND"
    assert api.deliveries() == []


def test_event_lists_its_delivery_even_when_the_log_is_full(
    make_api: Callable[..., Api], receiver: Running
) -> None:
    api = make_api(journal_size=2)  # the delivery log keeps two deliveries
    api.register(receiver.url, ["job.completed"])
    listed = [post_event(api, {"event": "job.completed"}).json()["delivery_ids"] for _ in "abc"]
    wait_for(receiver, 3)
    assert [item.delivery_id for item in receiver.receiver.received] == [
        ids[0] if ids else "(not listed)" for ids in listed
    ]


# ---- what was attempted since ------------------------------------------------------------


def test_the_log_lists_what_was_attempted_after_a_count(api: Api, receiver: Running) -> None:
    """`attempts_recorded` counts the attempts that came back; `attempted_after` gives the
    deliveries with one since (a redelivery of the oldest too), for `logs tail --follow`."""
    hook = api.register(receiver.url, ["job.failed"])  # test deliveries go whatever the filter
    sent = [send_test(api, hook["webhook_id"]) for _ in range(3)]
    wait_for(receiver, 3)
    for delivery_id in sent:
        api.settled(delivery_id)

    def listed(**query: Any) -> Any:
        answer = api.client.get("/_sandbox/deliveries", params=query, headers=api.headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    everything = listed()
    assert everything["attempts_recorded"] == 3
    assert [d["delivery_id"] for d in everything["items"]] == sent[::-1]
    assert listed(attempted_after=1)["items"] == everything["items"][:2]
    assert listed(attempted_after=3)["items"] == []
    assert redeliver(api, sent[0]).status_code == 200
    wait_for(receiver, 4)
    since = listed(attempted_after=3)
    assert since["attempts_recorded"] == 4
    assert [d["delivery_id"] for d in since["items"]] == [sent[0]]
    bad = api.client.get(
        "/_sandbox/deliveries", params={"attempted_after": -1}, headers=api.headers
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_PARAMETER"

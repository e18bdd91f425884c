"""Webhook rules: the sender misbehaves on purpose towards a real receiver on 127.0.0.1, and
the delivery log says so (`deliberate`)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox.core.scenarios import ScenarioError, load_text
from tests.scenarios.conftest import (
    advance,
    deliveries,
    signed_by,
    submit,
    use,
)
from tests.support.receivers import Running


def hooks_scenario(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"name": "hooks", "webhooks": list(rules)}


def register(
    client: TestClient, headers: dict[str, str], url: str, events: list[str] | None = None
) -> dict[str, Any]:
    response = client.post(
        "/webhooks/register",
        json={"url": url, "events": events or ["job.completed"]},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_drop_is_logged_as_dropped_then_retried_and_delivered(
    client: TestClient, headers: dict[str, str], receiver: Running
) -> None:
    use(client, headers, hooks_scenario({"action": "drop", "when": {"nth": 1}}))
    webhook = register(client, headers, receiver.url)
    submit(client, headers)
    advance(client, headers, 0)
    assert receiver.receiver.received == []
    [delivery] = deliveries(client, headers)
    assert delivery["status"] == "pending"
    [dropped] = delivery["attempts"]
    assert dropped["attempt"] == 1
    assert dropped["deliberate"] == "drop"
    assert dropped["error"] == "dropped"  # a deliberate fault, not a receiver's timeout
    assert dropped["response_status"] == 0
    assert dropped["duration_ms"] == 0  # nothing was sent, so nothing was waited for
    assert delivery["next_attempt_at"] == "2026-05-28T20:26:41Z"  # the schedule: +1 s

    advance(client, headers, 0.5)
    assert receiver.receiver.received == []
    advance(client, headers, 0.5)
    [item] = receiver.receiver.received
    assert item.attempt == 2 and item.delivery_id == delivery["delivery_id"]
    assert signed_by(webhook["secret"], item.body, item.headers["x-aiprod-signature"])
    [delivery] = deliveries(client, headers)
    assert delivery["status"] == "delivered"
    assert [(a["attempt"], a["deliberate"], a["error"]) for a in delivery["attempts"]] == [
        (1, "drop", "dropped"),
        (2, None, None),
    ]
    assert delivery["attempts"][1]["request_body"] == item.body.decode()


def test_bad_signature_does_not_verify_with_the_secret(
    client: TestClient, headers: dict[str, str], receiver: Running
) -> None:
    use(client, headers, hooks_scenario({"action": "bad_signature", "when": {"every": 2}}))
    webhook = register(client, headers, receiver.url)
    for n in range(4):
        submit(client, headers, f"v{n}")
    advance(client, headers, 0)
    received = receiver.receiver.received
    assert len(received) == 4
    valid = [
        signed_by(webhook["secret"], r.body, r.headers["x-aiprod-signature"]) for r in received
    ]
    assert valid == [True, False, True, False]
    log = deliveries(client, headers)
    assert [d["attempts"][0]["deliberate"] for d in log] == [None, "bad_signature"] * 2
    assert all(d["status"] == "delivered" for d in log)  # the receiver said 200 anyway


def test_duplicate_sends_the_same_delivery_twice(
    client: TestClient, headers: dict[str, str], receiver: Running
) -> None:
    use(client, headers, hooks_scenario({"action": "duplicate", "times": 1}))
    register(client, headers, receiver.url)
    submit(client, headers, "one")
    submit(client, headers, "two")
    advance(client, headers, 0)
    received = receiver.receiver.received
    assert len(received) == 3
    first, twin, other = received
    assert first.delivery_id == twin.delivery_id != other.delivery_id
    assert first.body == twin.body
    assert first.headers["x-aiprod-signature"] == twin.headers["x-aiprod-signature"]
    assert first.attempt == twin.attempt == 1
    log = deliveries(client, headers)
    assert [[a["deliberate"] for a in d["attempts"]] for d in log] == [
        ["duplicate", "duplicate"],
        [None],
    ]


def test_delay_holds_a_delivery_for_its_clock_seconds(
    client: TestClient, headers: dict[str, str], receiver: Running
) -> None:
    rule = {"action": "delay", "delay_seconds": 10, "match": {"event": "job.completed"}}
    use(client, headers, hooks_scenario(rule))
    register(client, headers, receiver.url, ["job.progress", "job.completed"])
    submit(client, headers)
    advance(client, headers, 0)
    assert [r.event for r in receiver.receiver.received] == ["job.progress"] * 3
    advance(client, headers, 9)
    assert len(receiver.receiver.received) == 3
    advance(client, headers, 1)
    assert [r.event for r in receiver.receiver.received][-1] == "job.completed"
    completed = next(d for d in deliveries(client, headers) if d["event"] == "job.completed")
    assert [(a["attempt"], a["deliberate"]) for a in completed["attempts"]] == [(1, "delay")]
    assert completed["attempts"][0]["sent_at"] == "2026-05-28T20:26:50Z"
    assert "delay" in completed["note"]


def test_out_of_order_sends_an_event_after_later_ones(
    client: TestClient, headers: dict[str, str], receiver: Running
) -> None:
    rule = {"action": "out_of_order", "delay_seconds": 3, "match": {"event": ["job.started"]}}
    use(client, headers, hooks_scenario(rule))
    register(client, headers, receiver.url, ["job.started", "job.progress", "job.completed"])
    submit(client, headers)
    advance(client, headers, 3)
    arrived = [(r.event, r.json()["data"].get("progress")) for r in receiver.receiver.received]
    assert arrived == [
        ("job.progress", 30),
        ("job.progress", 60),
        ("job.progress", 90),
        ("job.completed", None),
        ("job.started", None),
    ]
    started = next(d for d in deliveries(client, headers) if d["event"] == "job.started")
    assert [a["deliberate"] for a in started["attempts"]] == ["out_of_order"]


@pytest.mark.parametrize("by", ["webhook_id", "url_glob", "callback"])
def test_endpoint_matching(
    client: TestClient, headers: dict[str, str], receiver: Running, by: str
) -> None:
    first = register(client, headers, receiver.at("/first"))
    second = register(client, headers, receiver.at("/second"))
    endpoint = {
        "webhook_id": first["webhook_id"],
        "url_glob": "http://127.0.0.1:*/first",
        "callback": "callback",
    }[by]
    use(
        client,
        headers,
        hooks_scenario({"action": "bad_signature", "match": {"endpoint": endpoint}}),
    )
    submit(client, headers, callback_url=receiver.at("/callback"))
    advance(client, headers, 0)
    callback_secret = client.get("/_sandbox/account", headers=headers).json()["callback_secret"]
    secrets = {"/first": first["secret"], "/second": second["secret"], "/callback": callback_secret}
    received = receiver.receiver.received
    assert sorted(r.path for r in received if r.event == "job.completed") == [
        "/callback",
        "/first",
        "/second",
    ]
    bad = {
        r.path
        for r in received
        if not signed_by(secrets[r.path], r.body, r.headers["x-aiprod-signature"])
    }
    assert bad == ({"/callback"} if by == "callback" else {"/first"})
    log = deliveries(client, headers)
    marked = {d["url"].rsplit("/", 1)[1] for d in log if d["attempts"][0]["deliberate"]}
    assert marked == {next(iter(bad)).lstrip("/")}
    callbacks = [d for d in log if d["webhook_id"] is None]
    assert callbacks and all(d["url"].endswith("/callback") for d in callbacks)


# ---- the seconds each action takes ---------------------------------------------------------


def problems_of(rule: str) -> list[str]:
    text = f"name: timing\ndescription: which seconds go with which action\nwebhooks:\n{rule}"
    with pytest.raises(ScenarioError) as refused:
        load_text(text, "timing.yaml")
    return refused.value.problems


def test_slow_takes_drip_seconds_in_real_seconds_up_to_thirty() -> None:
    text = "name: ok\ndescription: d\nwebhooks:\n  - action: slow\n    drip_seconds: 30\n"
    [rule] = load_text(text).webhooks
    assert (rule.action, rule.drip_seconds) == ("slow", 30)
    [over] = problems_of("  - action: slow\n    drip_seconds: 31\n")
    assert "webhooks[0].drip_seconds" in over and "less than or equal to 30" in over


def test_delay_seconds_on_slow_points_to_drip_seconds() -> None:
    [problem] = problems_of("  - action: slow\n    delay_seconds: 2\n")
    assert "webhooks[0].delay_seconds" in problem
    assert "goes with action: delay or out_of_order" in problem
    assert "slow takes drip_seconds (real seconds)" in problem


def test_drip_seconds_goes_with_slow_only() -> None:
    [problem] = problems_of("  - action: missing_signature\n    drip_seconds: 2\n")
    assert "webhooks[0].drip_seconds" in problem
    assert "drip_seconds goes with action: slow; action: missing_signature ignores it" in problem

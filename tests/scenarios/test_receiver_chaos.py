"""Webhook chaos against the receiver a partner writes from the guide.

Each deliberate action reaches, over a real socket on 127.0.0.1, a receiver that runs the
guide's own `verify_webhook` (copied verbatim), refuses a stale `X-AIPROD-Timestamp` (a replay
check the guide does not ask for) and parses the body with `json.loads`, as the guide's Flask
handler does; an exception in it is a 500, as Flask answers one. The tests show what that
receiver sees and answers, and that the delivery log records the attempt as deliberate with
that very answer. The sandbox runs in process on a manual clock at START (conftest.py); the
last test runs the shipped webhook-chaos scenario in the real `serve` command.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from aiprod_sandbox.core.clock import iso, monotonic
from aiprod_sandbox.webhook_http.chaos import STALE_SECONDS, WRONG_SECRET
from tests.conftest import START, auth, new_key
from tests.scenarios.conftest import advance, deliveries, submit, use
from tests.support.guide_webhook import verify_webhook
from tests.support.receivers import Receivers, Running
from tests.support.serve import SandboxProcess

REPLAY_TOLERANCE = 300  # seconds: the receiver refuses an X-AIPROD-Timestamp further off
WAIT = 5.0
ALL_EVENTS = ["job.started", "job.progress", "job.completed", "job.failed"]


@dataclass(frozen=True)
class Seen:
    """One request as the guide's receiver saw it, and what it answered."""

    headers: dict[str, str]  # names in lower case, as servers hand them over
    body: bytes
    pieces: int  # body messages the server handed over as they arrived
    body_seconds: float  # from the request's start to its last byte
    status: int
    verdict: str  # "ok", "invalid signature", "stale timestamp", "read timeout", or the error

    @property
    def key(self) -> tuple[str, int]:
        return self.headers.get("x-aiprod-delivery", ""), int(self.headers["x-aiprod-attempt"])


class GuideReceiver:
    """An ASGI app around the guide's handler. `now` is the receiver's clock (the account's);
    with `read_budget`, a body that takes longer to arrive is refused with 408, as a server's
    body-read timeout would (it reads on to the end first, so the sender gets the answer)."""

    def __init__(self, now: Callable[[], float], read_budget: float | None = None) -> None:
        self.secret = ""  # the webhook's, once registered
        self.now = now
        self.read_budget = read_budget
        self.seen: list[Seen] = []
        self._lock = threading.Condition()

    def handle_webhook(self, payload: bytes, headers: Mapping[str, str]) -> tuple[int, str]:
        """The guide's handler: verify, then (our addition) refuse replays, then parse."""
        signature = headers.get("x-aiprod-signature")
        if not verify_webhook(payload, signature, self.secret):
            return 401, "invalid signature"
        if abs(self.now() - int(headers["x-aiprod-timestamp"])) > REPLAY_TOLERANCE:
            return 401, "stale timestamp"
        data = json.loads(payload)
        assert data["event"] == headers["x-aiprod-event"]
        return 200, "ok"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = monotonic()
        body, pieces = bytearray(), 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            if message.get("body"):
                body += message["body"]
                pieces += 1
            if not message.get("more_body"):
                break
        took = monotonic() - started
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.read_budget is not None and took > self.read_budget:
            status, verdict = 408, "read timeout"
        else:
            try:
                status, verdict = self.handle_webhook(bytes(body), headers)
            except Exception as error:  # noqa: BLE001 - what the web framework does: a 500
                status, verdict = 500, f"{type(error).__name__}: {error}"
        with self._lock:
            self.seen.append(Seen(headers, bytes(body), pieces, took, status, verdict))
            self._lock.notify_all()
        answer = json.dumps({"ok": status == 200, "verdict": verdict}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    def wait_for(self, count: int) -> list[Seen]:
        with self._lock:
            assert self._lock.wait_for(lambda: len(self.seen) >= count, WAIT), self.seen
            return list(self.seen)


def guide_receiver(receivers: Receivers, **how: Any) -> tuple[GuideReceiver, Running]:
    guide = GuideReceiver(now=lambda: START, **how)
    return guide, receivers.start(guide)


def register(client: TestClient, headers: dict[str, str], url: str, events: list[str]) -> str:
    response = client.post(
        "/webhooks/register", json={"url": url, "events": events}, headers=headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["secret"])


def sent_as_logged(seen: Seen, attempt: dict[str, Any]) -> None:
    """The log's request is what the receiver got: every header, the exact body."""
    for name, value in attempt["request_headers"].items():
        assert seen.headers.get(name.lower()) == value, name
    assert attempt["request_body"].encode() == seen.body


# ---- what each action does to the request ---------------------------------------------------


def bad_signature(seen: Seen, secret: str, full: bytes) -> None:
    signature = seen.headers["x-aiprod-signature"]
    # The endpoint's own secret over other bytes: the body as if changed after signing.
    assert signature == hmac.new(secret.encode(), seen.body + b"\n", hashlib.sha256).hexdigest()
    assert not verify_webhook(seen.body, signature, WRONG_SECRET)


def wrong_secret(seen: Seen, secret: str, full: bytes) -> None:
    signature = seen.headers["x-aiprod-signature"]
    assert verify_webhook(seen.body, signature, WRONG_SECRET)  # a valid HMAC, another key
    assert not verify_webhook(seen.body, signature, secret)


def missing_signature(seen: Seen, secret: str, full: bytes) -> None:
    assert "x-aiprod-signature" not in seen.headers
    assert {"x-aiprod-event", "x-aiprod-delivery", "x-aiprod-timestamp"} <= set(seen.headers)
    with pytest.raises(TypeError):  # the guide's code, given the header it did not get
        verify_webhook(seen.body, seen.headers.get("x-aiprod-signature"), secret)


def stale_timestamp(seen: Seen, secret: str, full: bytes) -> None:
    assert int(seen.headers["x-aiprod-timestamp"]) == START - STALE_SECONDS == START - 3600
    assert verify_webhook(seen.body, seen.headers["x-aiprod-signature"], secret)
    assert seen.body == full


def malformed_body(seen: Seen, secret: str, full: bytes) -> None:
    assert verify_webhook(seen.body, seen.headers["x-aiprod-signature"], secret)
    assert seen.body == full[: len(full) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(seen.body)
    assert seen.headers["content-type"] == "application/json"


def wrong_content_type(seen: Seen, secret: str, full: bytes) -> None:
    assert seen.headers["content-type"] == "text/plain; charset=utf-8"
    assert verify_webhook(seen.body, seen.headers["x-aiprod-signature"], secret)
    assert json.loads(seen.body)["event"] == "job.completed"


def slow(seen: Seen, secret: str, full: bytes) -> None:
    assert seen.body == full
    assert verify_webhook(seen.body, seen.headers["x-aiprod-signature"], secret)
    # An ordinary request (its length given, not chunked) whose bytes arrive over ~1 s.
    assert seen.headers["content-length"] == str(len(full))
    assert "transfer-encoding" not in seen.headers
    assert seen.pieces >= 3
    assert seen.body_seconds >= 0.8


def behaving(seen: Seen, secret: str, full: bytes) -> None:
    assert verify_webhook(seen.body, seen.headers["x-aiprod-signature"], secret)
    assert int(seen.headers["x-aiprod-timestamp"]) == START


ACTIONS: dict[str | None, tuple[int, str, Callable[[Seen, str, bytes], None]]] = {
    None: (200, "ok", behaving),
    "bad_signature": (401, "invalid signature", bad_signature),
    "wrong_secret": (401, "invalid signature", wrong_secret),
    "missing_signature": (500, "TypeError", missing_signature),
    "stale_timestamp": (401, "stale timestamp", stale_timestamp),
    "malformed_body": (500, "JSONDecodeError", malformed_body),
    "wrong_content_type": (200, "ok", wrong_content_type),
    "slow": (200, "ok", slow),
}


@pytest.mark.parametrize("action", list(ACTIONS), ids=lambda action: action or "none")
def test_each_action_reaches_the_guides_receiver_and_the_log_keeps_its_answer(
    client: TestClient, headers: dict[str, str], receivers: Receivers, action: str | None
) -> None:
    guide, running = guide_receiver(receivers)
    if action is not None:
        rule: dict[str, Any] = {"action": action, "when": {"nth": 1}}
        if action == "slow":
            rule["drip_seconds"] = 1
        use(client, headers, {"name": "chaos", "webhooks": [rule]})
    guide.secret = register(client, headers, running.url, ["job.completed"])
    submit(client, headers)
    advance(client, headers, 0)  # returns once the attempt is answered

    [first] = guide.wait_for(1)
    status, verdict, check = ACTIONS[action]
    assert first.status == status
    assert first.verdict.startswith(verdict), first.verdict
    [delivery] = deliveries(client, headers)
    [attempt] = delivery["attempts"]
    assert attempt["deliberate"] == action
    assert attempt["sent_at"] == iso(START)
    sent_as_logged(first, attempt)
    # The receiver's own answer, as it gave it: status, error class, its words.
    assert attempt["response_status"] == status
    assert attempt["error"] == (None if status == 200 else "non_2xx")
    assert json.loads(attempt["response_excerpt"])["verdict"] == first.verdict
    if action == "slow":
        assert attempt["duration_ms"] >= 1000  # the dripping is part of the attempt
    if status == 200:
        check(first, guide.secret, first.body)
        assert delivery["status"] == "delivered"
        return

    # Refused: retried on schedule, 1 s later, as it was signed.
    assert delivery["status"] == "pending"
    advance(client, headers, 1)
    first, retry = guide.wait_for(2)
    check(first, guide.secret, retry.body)
    assert (retry.status, retry.verdict, retry.key) == (200, "ok", (first.key[0], 2))
    [delivery] = deliveries(client, headers)
    assert delivery["status"] == "delivered"
    assert [
        (a["attempt"], a["deliberate"], a["response_status"]) for a in delivery["attempts"]
    ] == [
        (1, action, status),
        (2, None, 200),
    ]
    sent_as_logged(retry, delivery["attempts"][1])


def test_slow_meets_a_receiver_whose_body_read_timeout_is_shorter(
    client: TestClient, headers: dict[str, str], receivers: Receivers
) -> None:
    """A receiver that gives a request 0.3 s to arrive refuses one dripped over 1 s: the log
    shows the deliberate slow attempt with the receiver's 408, and the retry gets through."""
    guide, running = guide_receiver(receivers, read_budget=0.3)
    use(
        client,
        headers,
        {"name": "chaos", "webhooks": [{"action": "slow", "drip_seconds": 1, "times": 1}]},
    )
    guide.secret = register(client, headers, running.url, ["job.completed"])
    submit(client, headers)
    advance(client, headers, 0)
    advance(client, headers, 1)
    dripped, retry = guide.wait_for(2)
    assert (dripped.status, dripped.verdict) == (408, "read timeout")
    assert dripped.body_seconds >= 0.8 and dripped.pieces >= 3
    assert (retry.status, retry.pieces) == (200, 1)
    assert retry.body_seconds < 0.3
    [delivery] = deliveries(client, headers)
    assert delivery["status"] == "delivered"
    slow_attempt, plain = delivery["attempts"]
    assert (slow_attempt["deliberate"], slow_attempt["response_status"]) == ("slow", 408)
    assert slow_attempt["error"] == "non_2xx"
    assert slow_attempt["duration_ms"] >= 1000
    assert (plain["deliberate"], plain["response_status"], plain["error"]) == (None, 200, None)


def test_a_drop_never_reaches_the_receiver_and_is_logged_as_dropped(
    client: TestClient, headers: dict[str, str], receivers: Receivers
) -> None:
    guide, running = guide_receiver(receivers)
    use(client, headers, {"name": "chaos", "webhooks": [{"action": "drop", "times": 1}]})
    guide.secret = register(client, headers, running.url, ["job.completed"])
    submit(client, headers)
    advance(client, headers, 0)
    assert guide.seen == []
    [delivery] = deliveries(client, headers)
    [dropped] = delivery["attempts"]
    # Dropped on purpose: no receiver was waited for, so it is neither a timeout nor an answer.
    assert (dropped["deliberate"], dropped["error"]) == ("drop", "dropped")
    assert (dropped["response_status"], dropped["duration_ms"]) == (0, 0)
    advance(client, headers, 1)
    [retry] = guide.wait_for(1)
    assert (retry.status, retry.key[1]) == (200, 2)


# ---- the advisor ---------------------------------------------------------------------------


def chaos_of_every_kind() -> dict[str, Any]:
    kinds = [
        "bad_signature",
        "missing_signature",
        "wrong_secret",
        "stale_timestamp",
        "malformed_body",
        "wrong_content_type",
    ]
    rules = [{"action": kind, "when": {"nth": n}} for n, kind in enumerate(kinds, start=1)]
    return {"name": "every-kind", "webhooks": rules}


def findings(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get("/_sandbox/advice", headers=headers)
    assert response.status_code == 200, response.text
    return {item["rule"]: item for item in response.json()["items"]}


def test_accepting_an_unverifiable_delivery_is_unverified_webhook_and_nothing_else_is(
    client: TestClient, headers: dict[str, str], receivers: Receivers
) -> None:
    """A receiver that answers 200 to everything accepted three deliveries it could not have
    verified (bad, foreign and missing signatures): those are the evidence. A stale timestamp
    (signed right; the guide asks for no replay check), a malformed body and a text/plain one
    are its own business, and no finding."""
    running = receivers.plain()
    use(client, headers, chaos_of_every_kind())
    register(client, headers, running.url, ALL_EVENTS)
    submit(client, headers)
    submit(client, headers, "other")
    advance(client, headers, 0)
    log = deliveries(client, headers)
    by_kind = {a["deliberate"]: d["delivery_id"] for d in log for a in d["attempts"]}
    assert all(d["status"] == "delivered" for d in log)
    finding = findings(client, headers)["unverified-webhook"]
    unverifiable = ["bad_signature", "missing_signature", "wrong_secret"]
    assert finding["evidence"] == [by_kind[kind] for kind in unverifiable]
    assert finding["count"] == 3
    assert "missing_signature" in finding["why"] and "wrong_secret" in finding["why"]


def test_the_guides_receiver_refusing_them_gives_no_unverified_webhook(
    client: TestClient, headers: dict[str, str], receivers: Receivers
) -> None:
    guide, running = guide_receiver(receivers)
    use(client, headers, chaos_of_every_kind())
    guide.secret = register(client, headers, running.url, ALL_EVENTS)
    submit(client, headers)
    submit(client, headers, "other")
    advance(client, headers, 0)
    advance(client, headers, 1)  # the refused ones are retried, and accepted
    assert all(d["status"] == "delivered" for d in deliveries(client, headers))
    assert "unverified-webhook" not in findings(client, headers)


# ---- the shipped scenario in the real command ----------------------------------------------

SHIPPED_CHAOS = {  # what the guide's receiver answers to each numbered attempt of webhook-chaos
    "bad_signature": (401, "invalid signature"),
    "missing_signature": (500, "TypeError"),
    "wrong_secret": (401, "invalid signature"),
    "stale_timestamp": (401, "stale timestamp"),
    "malformed_body": (500, "JSONDecodeError"),
    "wrong_content_type": (200, "ok"),
    "slow": (200, "ok"),
}


def test_webhook_chaos_in_the_real_server_against_the_guides_receiver(
    serve: Callable[..., SandboxProcess], receivers: Receivers
) -> None:
    """`serve --scenario webhook-chaos`, three jobs, every event subscribed: each numbered
    attempt reaches the guide's receiver misbehaving as the scenario says, the log records
    the receiver's answer to it, and every refused delivery gets through on its retry."""
    server = serve("--clock", "manual", "--start-time", iso(START), "--scenario", "webhook-chaos")
    guide, running = guide_receiver(receivers)
    with httpx.Client(
        base_url=server.base_url, headers=auth(new_key()), timeout=15, trust_env=False
    ) as http:
        hook = http.post("/webhooks/register", json={"url": running.url, "events": ALL_EVENTS})
        guide.secret = hook.json()["secret"]
        for n in range(3):
            assert (
                http.post(
                    "/pipeline/run", json={"video_url": f"https://example.com/v{n}.mp4"}
                ).status_code
                == 202
            )
        assert http.post("/_sandbox/clock/advance", json={"seconds": 0}).status_code == 200
        numbered = list(reversed(http.get("/_sandbox/deliveries").json()["items"]))
        assert http.post("/_sandbox/clock/advance", json={"seconds": 35}).status_code == 200
        log = list(reversed(http.get("/_sandbox/deliveries").json()["items"]))

    seen = {item.key: item for item in guide.seen}
    first = {a["deliberate"]: (d, a) for d in numbered for a in d["attempts"] if a["deliberate"]}
    assert set(SHIPPED_CHAOS) <= set(first)
    for kind, (status, verdict) in SHIPPED_CHAOS.items():
        delivery, attempt = first[kind]
        got = seen[(delivery["delivery_id"], attempt["attempt"])]
        assert (got.status, got.verdict.split(":")[0]) == (status, verdict), kind
        assert attempt["response_status"] == status, kind
        sent_as_logged(got, attempt)
    assert all(d["status"] == "delivered" for d in log), log
    refused = [d for d in log if d["attempts"][0]["response_status"] != 200]
    assert {d["attempts"][0]["deliberate"] for d in refused} == {
        kind for kind, (status, _) in SHIPPED_CHAOS.items() if status != 200
    }
    for delivery in refused:  # a retry may be held back (every 3rd job.progress is late)
        last = delivery["attempts"][-1]
        assert last["response_status"] == 200 and last["deliberate"] not in SHIPPED_CHAOS

"""The verifying receiver (`aiprod-sandbox listen`, the plugin's fixture) as an ASGI app."""

from __future__ import annotations

import asyncio
from typing import Any

from aiprod_sandbox.webhook_http.receiver import Receiver

SCOPE = {"type": "http", "method": "POST", "path": "/hook", "headers": [(b"x-aiprod-event", b"x")]}


def deliver(receiver: Receiver, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(receiver(SCOPE, receive, send))
    return sent


def test_a_whole_body_is_one_delivery() -> None:
    receiver = Receiver()
    parts = [
        {"type": "http.request", "body": b'{"event":', "more_body": True},
        {"type": "http.request", "body": b'"x"}', "more_body": False},
    ]
    sent = deliver(receiver, parts)
    assert [item.body for item in receiver.received] == [b'{"event":"x"}']
    assert sent[0]["status"] == 200


def test_a_sender_that_leaves_mid_body_leaves_no_delivery() -> None:
    """Half a body is not a delivery: recording it would show a truncated, unsigned one."""
    receiver = Receiver()
    parts = [
        {"type": "http.request", "body": b'{"event":', "more_body": True},
        {"type": "http.disconnect"},
    ]
    assert deliver(receiver, parts) == []
    assert receiver.received == []

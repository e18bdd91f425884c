"""Webhook receivers on real loopback sockets, for the suites that register webhooks.

`Receivers` starts ASGI apps under uvicorn in background threads on 127.0.0.1 (port 0, the
bound port read back from the socket) and stops every one of them at teardown; the
`receivers` and `receiver` fixtures (tests/conftest.py) hand one to each test. Besides the
plain `Receiver`, `Misbehaving` wraps one to answer slowly, to drip its body, or to redirect.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from aiprod_sandbox.webhook_http.receiver import Receiver
from tests.support.threads import Served, serve_in_thread, stop_all


class Misbehaving:
    """An ASGI app in front of a `Receiver`: records the delivery (the receiver's status
    sequence picks the answer), then waits `delay` seconds, then answers — with a `Location`
    header when `location` is set, with `body`, or dripping `drip` bytes one at a time every
    `interval`."""

    def __init__(
        self,
        receiver: Receiver,
        *,
        delay: float = 0.0,
        drip: int = 0,
        interval: float = 0.2,
        location: str | None = None,
        body: bytes = b'{"ok": true}',
    ) -> None:
        self.receiver = receiver
        self.delay = delay
        self.drip = drip
        self.interval = interval
        self.location = location
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        item = self.receiver.record(scope["path"], headers, bytes(body))
        if self.delay:
            await asyncio.sleep(self.delay)
        payload = b"x" * self.drip if self.drip else self.body
        out = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
        if self.location:
            out.append((b"location", self.location.encode()))
        await send({"type": "http.response.start", "status": item.status, "headers": out})
        if not self.drip:
            await send({"type": "http.response.body", "body": payload})
            return
        for index in range(self.drip):
            await asyncio.sleep(self.interval)
            last = index == self.drip - 1
            await send({"type": "http.response.body", "body": b"x", "more_body": not last})


@dataclass
class Running:
    """One app served on 127.0.0.1: its receiver (what it recorded) and its URLs."""

    receiver: Receiver
    server: uvicorn.Server
    thread: threading.Thread
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def at(self, path: str) -> str:
        return f"{self.base}{path}"

    @property
    def url(self) -> str:
        """The URL to register: a path of its own, so a test can tell receivers apart."""
        return f"{self.base}/hook"


class Receivers:
    """Starts apps under uvicorn in threads; `stop_all` at teardown."""

    def __init__(self) -> None:
        self.running: list[Running] = []

    def start(self, app: ASGIApp | None = None, receiver: Receiver | None = None) -> Running:
        receiver = receiver or Receiver()
        served = serve_in_thread(app or receiver, "webhook-receiver")
        running = Running(receiver, served.server, served.thread, served.port)
        self.running.append(running)
        return running

    def plain(self, *statuses: int, default: int = 200) -> Running:
        """The sandbox's own `Receiver` answering `statuses` in order, then `default`."""
        receiver = Receiver(statuses=list(statuses), default_status=default)
        return self.start(receiver=receiver)

    def misbehaving(self, *statuses: int, default: int = 200, **how: Any) -> Running:
        receiver = Receiver(statuses=list(statuses), default_status=default)
        return self.start(Misbehaving(receiver, **how), receiver)

    def stop_all(self) -> None:
        stop_all([Served(r.server, r.thread, r.port) for r in self.running])

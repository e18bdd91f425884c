"""Fixtures for the webhook suite: real receivers on loopback sockets, and a sandbox whose
dispatcher really POSTs to them.

`receivers` starts ASGI apps under uvicorn in background threads on 127.0.0.1 (port 0, the
bound port read back from the socket) and stops every one of them at teardown. Besides the
plain `Receiver`, `Misbehaving` wraps one to answer slowly, to drip its body, or to redirect.
`closed_port` is a port nothing listens on. Every wait here is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from aiprod_sandbox import Settings, create_app
from aiprod_sandbox.webhooks.receiver import Receiver
from tests.conftest import START, auth, new_key
from tests.support.threads import Served, serve_in_thread, stop_all

STARTUP_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
WAIT = 5.0  # the bound on every wait for a delivery


def base_settings(**changes: Any) -> Settings:
    """A manual clock at START, instant jobs, a short attempt timeout (0.5 s), and `changes`."""
    return Settings(seed=7, clock="manual", start_time=START, webhook_timeout=0.5).replace(
        **changes
    )


@pytest.fixture
def settings() -> Settings:
    return base_settings()


# ---- receivers on real sockets -----------------------------------------------------------


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


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    started = Receivers()
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def receiver(receivers: Receivers) -> Running:
    """One plain receiver answering 200."""
    return receivers.plain()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed): connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- talking to the sandbox --------------------------------------------------------------


@pytest.fixture
def headers() -> dict[str, str]:
    return auth(new_key("pro"))


class Api:
    """Small helpers over the checked TestClient for one account."""

    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    def register(self, url: str, events: list[str] | None = None, **extra: Any) -> dict[str, Any]:
        body = {"url": url, "events": events or ["job.completed"], **extra}
        response = self.client.post("/webhooks/register", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def submit(self, video: str = "video.mp4", **extra: Any) -> str:
        body = {"video_url": f"https://example.com/{video}", **extra}
        response = self.client.post("/pipeline/run", json=body, headers=self.headers)
        assert response.status_code == 202, response.text
        return str(response.json()["job_id"])

    def advance(self, seconds: float) -> dict[str, Any]:
        response = self.client.post(
            "/_sandbox/clock/advance", json={"seconds": seconds}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def deliveries(self, **query: str) -> list[dict[str, Any]]:
        response = self.client.get("/_sandbox/deliveries", params=query, headers=self.headers)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def delivery(self, delivery_id: str) -> dict[str, Any]:
        response = self.client.get(f"/_sandbox/deliveries/{delivery_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def only_delivery(self, **query: str) -> dict[str, Any]:
        items = self.deliveries(**query)
        assert len(items) == 1, items
        return items[0]

    def settled(self, delivery_id: str) -> dict[str, Any]:
        """The delivery once no attempt of it is in flight (a zero-second advance drains)."""
        self.advance(0)
        return self.delivery(delivery_id)


@pytest.fixture
def api(client: TestClient, headers: dict[str, str]) -> Api:
    return Api(client, headers)


@pytest.fixture
def make_api(checker: Any, headers: dict[str, str]) -> Iterator[Callable[..., Api]]:
    """Another sandbox (its lifespan running until teardown) with `base_settings(**changes)`,
    optionally sending webhooks through `transport`; its client checks every response."""
    with contextlib.ExitStack() as stack:

        def make(transport: httpx.AsyncBaseTransport | None = None, **changes: Any) -> Api:
            app = create_app(base_settings(**changes), webhook_transport=transport)
            client = stack.enter_context(TestClient(app))
            client.event_hooks = {"request": [], "response": [checker.hook]}
            return Api(client, headers)

        yield make

"""Fixtures for the webhook suite: a sandbox whose dispatcher really POSTs to receivers on
loopback sockets (`receivers`, from tests/support/receivers.py), `closed_port`, a port
nothing listens on, and `silent`, a receiver that takes connections and never answers. Every
wait here is bounded.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings, create_app
from aiprod_sandbox.webhook_http.addresses import Resolver
from aiprod_sandbox.webhook_http.transmit import WireOptions
from tests.conftest import START, auth, new_key

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


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed): connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SilentReceiver:
    """A loopback port that accepts every connection and never reads or answers: each attempt
    sent to it holds its slot until the attempt timeout. `close` drops every connection."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self._listener.settimeout(0.05)  # so the accepting thread sees `close` soon
        self.port = int(self._listener.getsockname()[1])
        self.connections: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-receiver", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        self._closing.set()
        self._thread.join(STOP_TIMEOUT)
        self._listener.close()
        for connection in self.connections:
            connection.close()
        assert not self._thread.is_alive(), "the silent receiver did not stop"


@pytest.fixture
def silent() -> Iterator[SilentReceiver]:
    receiver = SilentReceiver()
    yield receiver
    receiver.close()


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
    optionally reaching the network as `wire` says (trust roots, sockets) and looking webhook
    hosts up with `resolver`; its client checks every response."""
    with contextlib.ExitStack() as stack:

        def make(
            wire: WireOptions | None = None,
            resolver: Resolver | None = None,
            **changes: Any,
        ) -> Api:
            app = create_app(base_settings(**changes), webhook_wire=wire, webhook_resolver=resolver)
            client = stack.enter_context(TestClient(app))
            client.event_hooks = {"request": [], "response": [checker.hook]}
            return Api(client, headers)

        yield make

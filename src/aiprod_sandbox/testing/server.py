"""The sandbox for tests: uvicorn in a background thread on a free loopback port, and an
in-process transport into the same app with no socket at all.

Modelled on httpx's own live-server test fixture: start the server in a thread, wait for
`server.started`, and stop it by setting `should_exit`.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from ..app import create_app
from ..core.sandbox import Sandbox
from ..errors import DropConnection
from ..server import HeadDeadline, http_protocol
from ..settings import Settings

START_TIMEOUT = 10.0


class _Server(HeadDeadline):
    def install_signal_handlers(self) -> None:  # uvicorn < 0.29 calls this; not in a thread
        pass

    async def serve(self, sockets: Any = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)


class ThreadedSandbox:
    """A real `aiprod-sandbox` server in this process, on 127.0.0.1 and a free port."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = (settings or Settings()).replace(host="127.0.0.1", port=0)
        self.sandbox = Sandbox(self.settings.core())
        self.app: Starlette = create_app(self.settings, sandbox=self.sandbox)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            log_config=None,
            access_log=False,
            lifespan="on",
            http=http_protocol(self.settings.http),  # with serve's limits on a request head
        )
        self._server = _Server(config)
        self._thread = threading.Thread(target=self._server.run, name="aiprod-sandbox", daemon=True)
        self.base_url = ""
        self._sockets = SharedTransport(httpx.HTTPTransport())

    def start(self) -> ThreadedSandbox:
        self._thread.start()
        waited = threading.Event()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the sandbox server thread stopped while starting")
            waited.wait(0.002)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.sandbox.set_served_at("127.0.0.1", port)
        return self

    def stop(self) -> None:
        self._sockets.close_for_good()
        self._server.should_exit = True
        self._thread.join(timeout=START_TIMEOUT)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop: asyncio.AbstractEventLoop = self._server.loop
        return loop

    def transport(self) -> httpx.BaseTransport:
        """A transport straight into the app, on the server's own event loop: no socket."""
        return InProcessTransport(self.app, self.loop)

    def socket_transport(self) -> httpx.BaseTransport:
        """The session's one pool of loopback connections to the server."""
        return self._sockets

    def new_errors(self) -> list[BaseException]:
        """Exceptions the app hit since the last call (the plugin re-raises them)."""
        recorded = self.sandbox.unexpected_errors
        fresh = []
        while recorded:  # drained, so the bound on what is kept never hides a new one
            fresh.append(recorded.popleft())
        return fresh


class SharedTransport(httpx.BaseTransport):
    """One connection pool for every test of the session: a client's `close()` leaves it
    open (building a transport costs more than a whole in-process request)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)

    def close(self) -> None:
        pass  # the session closes the inner transport

    def close_for_good(self) -> None:
        self._inner.close()


class ExternalSandbox:
    """A sandbox someone else runs (a container): reached by URL only."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._sockets = SharedTransport(httpx.HTTPTransport())

    def start(self) -> ExternalSandbox:
        with httpx.Client(trust_env=False, timeout=5) as client:
            response = client.get(f"{self.base_url}/health")
        if response.status_code != 200:
            raise RuntimeError(f"{self.base_url}/health answered {response.status_code}")
        return self

    def stop(self) -> None:
        self._sockets.close_for_good()

    def transport(self) -> httpx.BaseTransport:
        return self._sockets  # no app in this process: "in-process" is HTTP too

    def socket_transport(self) -> httpx.BaseTransport:
        return self._sockets

    def new_errors(self) -> list[BaseException]:
        return []


class InProcessTransport(httpx.BaseTransport):
    """Runs each request through the ASGI app on the server's loop and waits for the answer."""

    def __init__(self, app: Starlette, loop: asyncio.AbstractEventLoop) -> None:
        self._app = app
        self._loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        future = asyncio.run_coroutine_threadsafe(self._call(request, body), self._loop)
        status, headers, content = future.result(timeout=120)
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def _call(
        self, request: httpx.Request, body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        url = request.url
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": ("127.0.0.1", 0),
            "server": (url.host, url.port or 80),
            "state": {},
        }
        sent = False
        status = 500
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the request stays open until the app answers
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self._app(scope, receive, send)  # type: ignore[arg-type]
        except DropConnection as dropped:  # as a client sees it over a socket
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a complete response"
            ) from dropped
        return status, headers, b"".join(chunks)

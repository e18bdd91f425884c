"""ASGI apps (webhook receivers, mostly) served by uvicorn in a thread on 127.0.0.1, for tests.

The shape of httpx's own live-server fixture: start the server in a thread, wait (bounded) for
`server.started`, read the port it bound, and stop it by setting `should_exit`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0


@dataclass
class Served:
    server: uvicorn.Server
    thread: threading.Thread
    port: int


def serve_in_thread(app: ASGIApp, name: str = "test-server") -> Served:
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        access_log=False,
        lifespan="off",
        ws="none",
        http="h11",
        loop="asyncio",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        raise RuntimeError(f"{name} did not start on 127.0.0.1")
    return Served(server, thread, int(server.servers[0].sockets[0].getsockname()[1]))


def stop_all(served: list[Served]) -> None:
    """Ask every server to exit, wait for each (bounded), then fail if one is stuck."""
    for one in served:
        one.server.should_exit = True
    for one in served:
        one.thread.join(STOP_TIMEOUT)
    stuck = [one.port for one in served if one.thread.is_alive()]
    assert not stuck, f"servers on ports {stuck} did not stop"

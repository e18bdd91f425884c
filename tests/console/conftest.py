"""Fixtures for the console's browser tests: a real server, a webhook receiver, Chromium.

- `sandbox`: `aiprod-sandbox serve --port 0 --seed 7 --clock manual` in a child process (one per
  session; each test uses its own fresh key, so its own account). `start_sandbox` starts
  another one for a test that must not share the server. SIGTERM at teardown.
- `receiver`: the package's verifying webhook `Receiver` on 127.0.0.1, served by uvicorn in a
  thread.
- `browser`: Debian's headless Chromium (`/usr/bin/chromium`, or `$CHROMIUM`) driven by
  Playwright; nothing is downloaded. `page` is a fresh context and page per test, 1280×800.

Only 127.0.0.1 is used; every wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from aiprod_sandbox.webhook_http.receiver import Receiver
from tests.support import serve
from tests.support.serve import SandboxProcess
from tests.support.serve import random_key as fresh_key  # a new, isolated account

playwright_sync = pytest.importorskip("playwright.sync_api")

READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
UI_TIMEOUT_MS = 10_000
VIEWPORT = {"width": 1280, "height": 800}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def launch(*args: str) -> SandboxProcess:
    """`aiprod-sandbox serve --port 0 --seed 7 --clock manual *args`, once it is ready."""
    return serve.launch(("--clock", "manual", *args))


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxProcess]:
    server = launch()
    yield server
    serve.shut_down(server)


@pytest.fixture
def start_sandbox() -> Iterator[Callable[..., SandboxProcess]]:
    """Start another server for one test (stopped at its teardown)."""
    started: list[SandboxProcess] = []

    def start(*args: str) -> SandboxProcess:
        started.append(launch(*args))
        return started[-1]

    yield start
    for server in started:
        serve.shut_down(server)


class ReceiverThread:
    """The package's `Receiver` (any POST is a delivery) on 127.0.0.1 and a free port."""

    def __init__(self) -> None:
        self.receiver = Receiver()
        config = uvicorn.Config(
            self.receiver,
            host="127.0.0.1",
            port=0,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="receiver", daemon=True)
        self.url = ""

    def start(self) -> ReceiverThread:
        self._thread.start()
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the webhook receiver did not start")
            time.sleep(0.005)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="session")
def receiver() -> Iterator[ReceiverThread]:
    server = ReceiverThread().start()
    yield server
    server.stop()


@pytest.fixture
def key() -> str:
    return fresh_key()


@pytest.fixture
def api(sandbox: SandboxProcess, key: str) -> Iterator[httpx.Client]:
    """httpx on the sandbox with this test's key (proxy variables ignored)."""
    with httpx.Client(
        base_url=sandbox.base_url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30.0,  # the 10,000-job state document takes a couple of seconds
        trust_env=False,
    ) as client:
        yield client


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.skip(f"no Chromium at {path} (Debian: apt-get install chromium)")
    return path


@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Any]:
    # Package scope: Playwright's sync API keeps an event loop running in this thread while
    # it is open; it must be closed before other folders' tests call asyncio.run().
    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, sandbox: SandboxProcess) -> Iterator[Any]:
    """A fresh browser context (own session storage) and page on the session's sandbox."""
    context = browser.new_context(viewport=VIEWPORT, base_url=sandbox.base_url)
    context.set_default_timeout(UI_TIMEOUT_MS)
    playwright_sync.expect.set_options(timeout=UI_TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()

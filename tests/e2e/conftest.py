"""End-to-end fixtures: the real `aiprod-sandbox serve` command in a child process.

`sandbox` is one server started the way a partner starts it (`--port 0 --seed 7`);
`start_sandbox` starts more with other flags or variables. Every process is stopped at teardown
with SIGTERM and must exit within 5 s (it is killed, and the test fails, otherwise).
Only 127.0.0.1 is used, and every wait has a timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import httpx
import pytest

from tests.support.serve import (
    SandboxProcess,
    http_client,
    launch,
    random_key,
    shut_down,
)

StartSandbox = Callable[..., SandboxProcess]


@pytest.fixture
def start_sandbox() -> Iterator[StartSandbox]:
    """`start_sandbox(*args, env={...}, command=[...])` → a running server, stopped at teardown."""
    started: list[SandboxProcess] = []

    def start(
        *args: str,
        env: Mapping[str, str] | None = None,
        command: Sequence[str] | None = None,
    ) -> SandboxProcess:
        server = launch(args, env, command=command)
        started.append(server)
        return server

    yield start
    errors: list[BaseException] = []
    for server in started:
        try:
            shut_down(server)
        except BaseException as exc:  # stop every process before reporting
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def sandbox(start_sandbox: StartSandbox) -> SandboxProcess:
    """The real server, as `aiprod-sandbox serve --port 0 --seed 7` starts it."""
    return start_sandbox()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """An httpx client for 127.0.0.1 (proxy variables ignored), closed at teardown."""
    with http_client() as client:
        yield client


@pytest.fixture
def fresh_key() -> str:
    return random_key()

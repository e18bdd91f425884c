"""Fixtures for the client commands' tests: one real `aiprod-sandbox serve` per test module,
a fresh key (a new account) per test, and `cli` running the command as a real subprocess
pointed at that server through AIPROD_SANDBOX_URL / AIPROD_SANDBOX_KEY."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.serve import (
    SandboxProcess,
    clean_env,
    http_client,
    launch,
    random_key,
    shut_down,
)

RUN_TIMEOUT = 30.0
Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    """A real server for the module; each test keeps to its own account (its own key)."""
    server = launch()
    try:
        yield server
    finally:
        shut_down(server)


@pytest.fixture
def key() -> str:
    return random_key()


def command_env(sandbox: SandboxProcess, key: str) -> dict[str, str]:
    return clean_env({"AIPROD_SANDBOX_URL": sandbox.base_url, "AIPROD_SANDBOX_KEY": key})


@pytest.fixture
def cli(sandbox: SandboxProcess, key: str) -> Cli:
    """`cli("clock", "show")`: `python -m aiprod_sandbox clock show` against the module's
    server as this test's account; `env=` adds or overrides variables."""

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = RUN_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aiprod_sandbox", *args],
            env={**command_env(sandbox, key), **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def api(sandbox: SandboxProcess, key: str) -> Iterator[httpx.Client]:
    """The same account, straight over HTTP: to check what a command really did."""
    with http_client() as client:
        client.base_url = httpx.URL(sandbox.base_url)
        client.headers["Authorization"] = f"Bearer {key}"
        yield client


def refused(done: subprocess.CompletedProcess[str], code: str) -> None:
    """The command failed as a script can rely on: exit 1, the sandbox's code on one line of
    stderr, no traceback."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert code in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr

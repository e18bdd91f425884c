"""Fixtures and helpers of the scenario suite.

In process: the checked `client` (tests/conftest.py) on a sandbox with a manual clock at START,
instant jobs and a 2 s webhook timeout; `unchecked` switches the OpenAPI check off for scripted
answers the document cannot know (custom bodies, statuses and codes). Real sockets: `receivers`
(tests/conftest.py) starts webhook receivers on 127.0.0.1 port 0; `serve` starts the real
`aiprod-sandbox serve --port 0` command and stops it with SIGTERM. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings
from tests.conftest import START
from tests.support.serve import CLI, SandboxProcess, clean_env, launch, shut_down

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "scenarios"
SHIPPED_NAMES = sorted(path.stem for path in SHIPPED.glob("*.yaml"))
RUN_TIMEOUT = 20.0
WAIT = 5.0


@pytest.fixture
def settings() -> Settings:
    return Settings(seed=7, clock="manual", start_time=START, webhook_timeout=2.0)


# ---- talking to the in-process sandbox -----------------------------------------------------


@contextlib.contextmanager
def unchecked(client: TestClient) -> Iterator[TestClient]:
    """The same client with the OpenAPI response check off (scripted custom answers)."""
    hooks = client.event_hooks
    client.event_hooks = {"request": [], "response": []}
    try:
        yield client
    finally:
        client.event_hooks = hooks


def use(
    client: TestClient | httpx.Client,
    headers: dict[str, str],
    name_or_inline: str | dict[str, Any],
) -> Any:
    """PUT /_sandbox/scenario by name (a string) or inline (a mapping); must succeed."""
    if isinstance(name_or_inline, str):
        body: dict[str, Any] = {"name": name_or_inline}
    else:
        body = {"scenario": {"description": "inline test scenario", **name_or_inline}}
    response = client.put("/_sandbox/scenario", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def inline(*requests: dict[str, Any], name: str = "inline", **more: Any) -> dict[str, Any]:
    return {"name": name, "requests": list(requests), **more}


def advance(client: TestClient, headers: dict[str, str], seconds: float) -> dict[str, Any]:
    response = client.post("/_sandbox/clock/advance", json={"seconds": seconds}, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def journal(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The request journal, oldest first."""
    response = client.get("/_sandbox/requests", headers=headers)
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["items"]))


def deliveries(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The delivery log, oldest first."""
    response = client.get("/_sandbox/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["items"]))


def submit(client: TestClient, headers: dict[str, str], video: str = "video", **more: Any) -> str:
    body = {"video_url": f"https://example.com/{video}.mp4", **more}
    response = client.post("/pipeline/run", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def get_job(client: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    response = client.get(f"/jobs/{job_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def statuses(
    client: TestClient, headers: dict[str, str], count: int, path: str = "/jobs"
) -> list[int]:
    return [client.get(path, headers=headers).status_code for _ in range(count)]


def signed_by(secret: str, body: bytes, signature: str | None) -> bool:
    """The guide's check: hex HMAC-SHA256 of the body, keyed with the whole whsec_ text."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return signature is not None and hmac.compare_digest(signature, expected)


# ---- the real command ----------------------------------------------------------------------


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`aiprod-sandbox *args` to completion (bounded), output captured."""
    return subprocess.run(
        [str(CLI), *args],
        cwd=cwd,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=RUN_TIMEOUT,
    )


@pytest.fixture
def serve() -> Iterator[Callable[..., SandboxProcess]]:
    """`serve(*flags)`: `aiprod-sandbox serve --port 0 --seed 7 *flags`, once its ready line is
    read; every server is stopped with SIGTERM (and must exit 0) at teardown."""
    started: list[SandboxProcess] = []

    def start(*flags: str) -> SandboxProcess:
        started.append(launch(flags))
        return started[-1]

    try:
        yield start
    finally:
        for server in started:
            shut_down(server)
    codes = [server.process.returncode for server in started]
    assert all(code == 0 for code in codes), f"serve exit codes {codes}"


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """`requests` and `httpx` go straight to 127.0.0.1 whatever the shell's proxy variables."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

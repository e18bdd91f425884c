"""One real `aiprod-sandbox serve` process for the evidence suites (journal, verify, HAR),
reached over loopback sockets as a partner's client reaches it; each test works in an
account of its own (a fresh key), so tests never see each other's evidence."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.serve import SandboxProcess, launch, random_key, shut_down


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxProcess]:
    running = launch()
    try:
        yield running
    finally:
        shut_down(running)


class Partner:
    """One account of the running sandbox: its key, and a client that sends it."""

    def __init__(self, server: SandboxProcess, tier: str = "pro") -> None:
        self.key = random_key(f"sk_test_{tier}_")
        self.client = httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=30.0,
        )

    def submit(self, **fields: Any) -> str:
        body = {"video_url": "https://example.com/in.mp4", **fields}
        response = self.client.post("/pipeline/run", json=body)
        assert response.status_code == 202, response.text
        return str(response.json()["job_id"])

    def verify(self, **spec: Any) -> dict[str, Any]:
        response = self.client.post("/_sandbox/verify", json=spec)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def journal(self, **filters: Any) -> dict[str, Any]:
        response = self.client.get("/_sandbox/requests", params=filters)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def manual_clock(self) -> None:
        response = self.client.post("/_sandbox/clock", json={"mode": "manual"})
        assert response.status_code == 200, response.text

    def register(self, url: str, events: list[str]) -> dict[str, Any]:
        response = self.client.post("/webhooks/register", json={"url": url, "events": events})
        assert response.status_code == 201, response.text
        return dict(response.json())


def _opened(server: SandboxProcess) -> Iterator[Partner]:
    one = Partner(server)
    try:
        yield one
    finally:
        one.client.close()


@pytest.fixture
def partner(server: SandboxProcess) -> Iterator[Partner]:
    yield from _opened(server)


@pytest.fixture
def another(server: SandboxProcess) -> Iterator[Partner]:
    """A second account on the same server: what it does must never show in `partner`'s."""
    yield from _opened(server)

"""Fixtures of the advisor suite.

In process: the checked `client` (tests/conftest.py) on a sandbox with a manual clock at START
and simulated job timing (a job takes its estimated_duration_seconds of clock time), and `api`,
small helpers for one account that return the `X-Request-Id` of every call. Real sockets:
`receivers` (tests/conftest.py) starts webhook receivers on 127.0.0.1 port 0 — the plain
`Receiver` answers 200 to everything; `Verifying` answers 401 when the signature is wrong.
Every wait is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.testclient import TestClient

from aiprod_sandbox import Settings
from aiprod_sandbox.core.clock import monotonic
from aiprod_sandbox.webhook_http.receiver import Received, Receiver
from aiprod_sandbox.webhook_http.signing import verify
from tests.conftest import START, auth, new_key

# `pytest_plugins = ["pytester"]` here would be refused when the whole suite runs from the
# root ("Defining 'pytest_plugins' in a non-top-level conftest is no longer supported"), so
# pytester is loaded when this conftest is (a no-op when it is loaded already).
PYTESTER = "pytester"

ROOT = Path(__file__).resolve().parents[2]
RULE_TEXTS: dict[str, dict[str, str]] = yaml.safe_load(
    (ROOT / "fixtures" / "advice.yaml").read_text(encoding="utf-8")
)["rules"]
ACCOUNT_RULE_IDS = (
    "poll-after-webhook",
    "poll-too-often",
    "retry-before-retry-after",
    "retry-4xx",
    "duplicate-submission",
    "presets-no-cache",
    "unverified-webhook",
    "many-client-identities",
)
SERVER_RULE_IDS = ("live-key-attempts",)  # reported for the server, never in an account
RULE_IDS = ACCOUNT_RULE_IDS + SERVER_RULE_IDS
STARTUP_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
WAIT = 5.0


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PYTESTER):
        config.pluginmanager.import_plugin(PYTESTER)


@pytest.fixture
def settings() -> Settings:
    return Settings(
        seed=7, clock="manual", start_time=START, job_timing="simulated", webhook_timeout=2.0
    )


# ---- one account over HTTP ---------------------------------------------------------------


def rid(response: httpx.Response) -> str:
    """The request id the sandbox gave this call."""
    request_id = response.headers.get("x-request-id", "")
    assert request_id.startswith("req_"), dict(response.headers)
    return str(request_id)


class Api:
    """Helpers over the checked TestClient for one account (one key)."""

    def __init__(self, client: TestClient, key: str) -> None:
        self.client = client
        self.key = key
        self.headers = auth(key)

    def call(
        self, method: str, path: str, *, expect: int | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = self.client.request(method, path, headers=headers, **kwargs)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    def get(self, path: str, *, expect: int | None = 200, **kwargs: Any) -> httpx.Response:
        return self.call("GET", path, expect=expect, **kwargs)

    def post(self, path: str, *, expect: int | None = None, **kwargs: Any) -> httpx.Response:
        return self.call("POST", path, expect=expect, **kwargs)

    def submit(self, body: dict[str, Any]) -> httpx.Response:
        return self.post("/pipeline/run", json=body, expect=202)

    def read_job(self, job_id: str) -> httpx.Response:
        return self.get(f"/jobs/{job_id}")

    def register(self, url: str, events: list[str] | None = None) -> dict[str, Any]:
        body = {"url": url, "events": events or ["job.completed", "job.failed"]}
        return dict(self.post("/webhooks/register", json=body, expect=201).json())

    def advance(self, seconds: float) -> dict[str, Any]:
        return dict(
            self.post("/_sandbox/clock/advance", json={"seconds": seconds}, expect=200).json()
        )

    def use(self, name: str) -> None:
        self.call("PUT", "/_sandbox/scenario", json={"name": name}, expect=200)

    def deliveries(self) -> list[dict[str, Any]]:
        return list(self.get("/_sandbox/deliveries").json()["items"])

    def advice(self) -> dict[str, Any]:
        return dict(self.get("/_sandbox/advice").json())

    def findings(self) -> dict[str, dict[str, Any]]:
        """The findings by rule id (each rule appears at most once)."""
        items = self.advice()["items"]
        by_rule = {item["rule"]: item for item in items}
        assert len(by_rule) == len(items), items
        return by_rule

    def finding(self, rule: str) -> dict[str, Any]:
        found = self.findings()
        assert rule in found, f"no {rule} finding; found {sorted(found)}"
        return found[rule]


def assert_finding(finding: dict[str, Any], rule: str, evidence: list[str]) -> None:
    """The finding is `rule`'s, with its texts from fixtures/advice.yaml, and exactly this
    evidence (in this order: the order it happened in)."""
    assert finding["rule"] == rule
    text = RULE_TEXTS[rule]
    for field in ("title", "guide", "why", "fix"):
        assert finding[field].strip(), field
        assert finding[field] == text[field], field
    assert finding["evidence"] == evidence
    assert finding["count"] == len(evidence)


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client, new_key("pro"))


@pytest.fixture
def free_api(client: TestClient) -> Api:
    """An account of the free tier: a burst of 5, then 429 with Retry-After."""
    return Api(client, new_key("free"))


# ---- a receiver that checks signatures -------------------------------------------------


@dataclass
class Verifying(Receiver):
    """A receiver that checks X-AIPROD-Signature with its secret (the guide's handler) and
    answers 401 when it is wrong; otherwise it answers like a plain `Receiver`."""

    def record(self, path: str, headers: dict[str, str], body: bytes) -> Received:
        assert self.secret is not None, "give the verifying receiver the webhook's secret"
        with self._lock:
            valid = verify(self.secret, body, headers.get("x-aiprod-signature"))
            if not valid:
                status = 401
            else:
                status = self.statuses.pop(0) if self.statuses else self.default_status
            item = Received(path, headers, body, status, valid, monotonic())
            self.received.append(item)
            self._lock.notify_all()
        return item

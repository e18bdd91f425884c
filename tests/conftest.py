"""Fixtures for the suite: an in-process app per test, and a client that checks every
response against the OpenAPI document the app serves."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings, create_app
from tests.support.openapi_check import OpenApiChecker
from tests.support.receivers import Receivers, Running

_keys = itertools.count(1)
START = 1_780_000_000.0  # 2026-05-28T20:26:40Z: a fixed start for manual clocks


def new_key(tier: str = "pro") -> str:
    """A fresh, well-formed test key: each one is a new, isolated account."""
    prefix = {"free": "sk_test_free_", "pro": "sk_test_pro_", "enterprise": "sk_test_ent_"}[tier]
    return f"{prefix}testkey{next(_keys):012d}"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="session")
def documents() -> tuple[dict[str, Any], dict[str, Any]]:
    with TestClient(create_app(Settings())) as client:
        return client.get("/openapi.json").json(), client.get("/_sandbox/openapi.json").json()


@pytest.fixture(scope="session")
def checker(documents: tuple[dict[str, Any], dict[str, Any]]) -> OpenApiChecker:
    return OpenApiChecker(*documents)


@pytest.fixture
def settings() -> Settings:
    """Override in a test module to serve with other settings."""
    return Settings(seed=7)


@pytest.fixture
def app(settings: Settings) -> Any:
    return create_app(settings)


@pytest.fixture
def client(app: Any, checker: OpenApiChecker) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=True) as test_client:
        test_client.event_hooks = {"request": [], "response": [checker.hook]}
        yield test_client


@pytest.fixture
def key() -> str:
    return new_key("pro")


@pytest.fixture
def headers(key: str) -> dict[str, str]:
    return auth(key)


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    """Webhook receivers on loopback sockets, every one stopped at teardown."""
    started = Receivers()
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def receiver(receivers: Receivers) -> Running:
    """One plain receiver answering 200."""
    return receivers.plain()

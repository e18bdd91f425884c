"""One account's webhook backlog never holds back another's (a full queue is per account), and
shutting down says what it drops. Over real loopback sockets, in process; every wait bounded.
The attacks themselves, against a real server process: tests/reliability/test_attacks_webhooks.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import create_app
from tests.conftest import auth, new_key
from tests.support.receivers import Receivers
from tests.webhooks.conftest import WAIT, Api, SilentReceiver, base_settings

WARNING_START = "shutting down with webhooks unsent"


@contextmanager
def sandbox(**changes: object) -> Iterator[TestClient]:
    """A sandbox whose lifespan ends (and whose dispatcher closes) when the block does."""
    with TestClient(create_app(base_settings(**changes))) as client:
        yield client


def account_id(api: Api) -> str:
    return str(api.client.get("/_sandbox/account", headers=api.headers).json()["account_id"])


def wait_for_attempts(api: Api, count: int) -> None:
    """Until `count` attempts are recorded in the account's delivery log (bounded)."""
    deadline = time.monotonic() + WAIT
    while sum(len(d["attempts"]) for d in api.deliveries()) < count:
        assert time.monotonic() < deadline, api.deliveries()
        time.sleep(0.02)


def test_a_full_queue_in_one_account_defers_nothing_of_another(
    silent: SilentReceiver, receivers: Receivers
) -> None:
    fast = receivers.plain()
    with sandbox(webhook_queue=2, webhook_timeout=5.0) as client:
        busy = Api(client, auth(new_key()))
        busy.register(silent.url)
        for _ in range(4):
            busy.submit()  # two started (held by the silent receiver), two wait in its line
        other = Api(client, auth(new_key()))
        other.register(fast.url)
        started = time.monotonic()
        other.submit()
        assert fast.receiver.wait_until(lambda items: len(items) >= 1, timeout=WAIT)
        took = time.monotonic() - started
        assert took < 1.0, took  # not after the busy account's 5 s timeouts
        assert {d["status"] for d in busy.deliveries()} == {"pending"}


def test_shutdown_warns_once_with_what_it_drops(
    caplog: pytest.LogCaptureFixture, silent: SilentReceiver, closed_port: int
) -> None:
    caplog.set_level(logging.WARNING, logger="aiprod_sandbox.webhooks")
    # 8 slots: an account may hold 2, an endpoint 1.
    with sandbox(webhook_concurrency=8, webhook_timeout=5.0) as client:
        first = Api(client, auth(new_key()))
        first.register(silent.url)
        first.register(f"http://127.0.0.1:{closed_port}/hook")
        for _ in range(3):
            first.submit()  # 3 to the silent one (1 on the wire, 2 waiting), 3 refused
        second = Api(client, auth(new_key()))
        second.register(f"http://127.0.0.1:{closed_port}/hook")
        second.submit()  # refused: its retry is due in 1 s, on a clock that does not move
        wait_for_attempts(first, 3)
        wait_for_attempts(second, 1)
        ids = account_id(first), account_id(second)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    (line,) = [message for message in warnings if message.startswith(WARNING_START)]
    assert line == (
        f"{WARNING_START}: dropping 1 attempts in flight and 2 waiting; 7 deliveries left "
        "pending (no more attempts will be made) — by account, in flight / waiting / pending: "
        f"{ids[0]} 1 / 2 / 6; {ids[1]} 0 / 0 / 1"
    )


def test_shutdown_names_five_accounts_at_most(
    caplog: pytest.LogCaptureFixture, closed_port: int
) -> None:
    caplog.set_level(logging.WARNING, logger="aiprod_sandbox.webhooks")
    with sandbox() as client:
        for _ in range(7):
            api = Api(client, auth(new_key()))
            api.register(f"http://127.0.0.1:{closed_port}/hook")
            api.submit()
            wait_for_attempts(api, 1)
    (line,) = [r.getMessage() for r in caplog.records if WARNING_START in r.getMessage()]
    assert "7 deliveries left pending" in line
    assert line.endswith("; and 2 more accounts")
    assert line.count(" 0 / 0 / 1") == 5


def test_shutdown_with_nothing_unsent_says_nothing(
    caplog: pytest.LogCaptureFixture, receivers: Receivers
) -> None:
    caplog.set_level(logging.WARNING, logger="aiprod_sandbox.webhooks")
    fast = receivers.plain()
    with sandbox() as client:
        api = Api(client, auth(new_key()))
        api.register(fast.url)
        api.submit()
        api.advance(0)  # waits for the attempt
        assert {d["status"] for d in api.deliveries()} == {"delivered"}
    assert not [r for r in caplog.records if WARNING_START in r.getMessage()]

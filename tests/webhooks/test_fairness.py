"""One account's webhook backlog never holds back another's: a full queue is per account. Over
real loopback sockets, in process; every wait bounded.
The attacks themselves, against a real server process: tests/reliability/test_attacks_webhooks.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.testclient import TestClient

from aiprod_sandbox import create_app
from tests.conftest import auth, new_key
from tests.support.receivers import Receivers
from tests.webhooks.conftest import WAIT, Api, SilentReceiver, base_settings


@contextmanager
def sandbox(**changes: object) -> Iterator[TestClient]:
    """A sandbox whose lifespan ends (and whose dispatcher closes) when the block does."""
    with TestClient(create_app(base_settings(**changes))) as client:
        yield client


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

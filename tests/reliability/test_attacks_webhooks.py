"""One account's webhooks cannot hurt another's, against a real `aiprod-sandbox serve` process.

The attack: an account registers a receiver that accepts connections and never answers, then
makes 120 deliveries to it. Each attempt holds a sending slot for the whole attempt timeout
(30 s here). With the slots shared first-come, another account's delivery to a fast receiver
waited for those timeouts (measured before the fix: 19.4 s with a 10 s timeout and 150
deliveries; more than 35 s for another endpoint of the same account). Now an account holds at
most a quarter of the 64 slots and an endpoint at most an eighth, so the bound below holds.

Loopback only; each test's loops are bounded by count and by time (about 10 s in all).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.reliability.conftest import ServerProcess, api, fresh_key, stop_and_check
from tests.support.receivers import Receivers, Running
from tests.webhooks.conftest import SilentReceiver

TIMEOUT = 30  # --webhook-timeout: the silent receiver's attempts outlast every test here
ATTACK = 120  # deliveries to the silent receiver
BOUND = 2.0  # seconds: a bystander's delivery arrives within this of its job's submission
SHARE = 8  # slots one endpoint may hold: 64 // 4 // 2 (webhooks/slots.py)
PROBES = 5  # bystander jobs, one after another


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    process = ServerProcess("--webhook-timeout", str(TIMEOUT)).start()
    yield process
    stop_and_check(process)


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    started = Receivers()
    yield started
    started.stop_all()


@pytest.fixture
def silent() -> Iterator[SilentReceiver]:
    receiver = SilentReceiver()
    yield receiver
    receiver.close()


def register(server: ServerProcess, key: str, url: str) -> None:
    response = api(
        server, "POST", "/webhooks/register", key, {"url": url, "events": ["job.completed"]}
    )
    assert response.status == 201, response


def submit(server: ServerProcess, key: str, number: int) -> None:
    body = {"video_url": f"https://example.com/{number}.mp4"}
    response = api(server, "POST", "/pipeline/run", key, body)
    assert response.status == 202, response


def attack(server: ServerProcess, key: str, silent: SilentReceiver) -> None:
    """`ATTACK` deliveries to the silent receiver; returns once it holds its share of them."""
    register(server, key, silent.url)
    for number in range(ATTACK):
        submit(server, key, number)
    deadline = time.monotonic() + 5
    while len(silent.connections) < SHARE:
        assert time.monotonic() < deadline, f"{len(silent.connections)} connections"
        time.sleep(0.02)


def delays(server: ServerProcess, key: str, fast: Running) -> list[float]:
    """Submit `PROBES` jobs one after another; seconds from each submission to its delivery."""
    took = []
    for number in range(PROBES):
        started = time.perf_counter()  # the receiver stamps deliveries with perf_counter too
        submit(server, key, 1000 + number)
        arrived = fast.receiver.wait_until(
            lambda items, number=number: len(items) > number, timeout=BOUND + 3
        )
        assert arrived, f"delivery {number + 1} did not arrive within {BOUND + 3} s"
        took.append(fast.receiver.received[number].received_at - started)
    return took


def test_a_silent_receiver_in_one_account_does_not_delay_another_account(
    server: ServerProcess, silent: SilentReceiver, receivers: Receivers
) -> None:
    attack(server, fresh_key(), silent)
    bystander, fast = fresh_key(), receivers.plain()
    register(server, bystander, fast.url)
    took = delays(server, bystander, fast)
    assert max(took) < BOUND, took
    assert len(silent.connections) == SHARE  # the attacker holds its endpoint's share, no more


def test_a_silent_endpoint_does_not_delay_its_own_accounts_other_endpoint(
    server: ServerProcess, silent: SilentReceiver, receivers: Receivers
) -> None:
    key = fresh_key()
    attack(server, key, silent)
    fast = receivers.plain()
    register(server, key, fast.url)  # each probe job goes to both; the silent one holds
    took = delays(server, key, fast)
    assert max(took) < BOUND, took
    assert len(silent.connections) == SHARE


def test_shutdown_says_which_deliveries_it_drops(silent: SilentReceiver) -> None:
    process = ServerProcess("--webhook-timeout", str(TIMEOUT)).start()
    try:
        attacker = fresh_key()
        attack(process, attacker, silent)
        account = api(process, "GET", "/_sandbox/account", attacker).json()["account_id"]
    finally:
        process.stop()  # SIGTERM
        log = process.log_text()
        stop_and_check(process)  # it exited 0 and logged no crash
    warnings = [line for line in log.splitlines() if "webhooks unsent" in line]
    assert len(warnings) == 1, warnings
    assert "WARNING" in warnings[0]
    waiting = ATTACK - SHARE
    assert (
        f"dropping {SHARE} attempts in flight and {waiting} waiting; {ATTACK} deliveries left "
        f"pending (no more attempts will be made) — by account, in flight / waiting / pending: "
        f"{account} {SHARE} / {waiting} / {ATTACK}"
    ) in warnings[0]

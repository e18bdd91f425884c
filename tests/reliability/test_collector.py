"""The `serve` process's collector policy: survivors are frozen, and what the sandbox lets go
is freed after a thaw, so a long run neither pauses on every stored job nor leaks."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from aiprod_sandbox.core.catalog import load_catalog
from aiprod_sandbox.core.registry import Accounts
from aiprod_sandbox.gc_policy import THRESHOLDS, Collector
from aiprod_sandbox.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Node:
    """An object that can sit in a cycle and be watched through a weak reference."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[Node, weakref.ref[Node]]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(a)


@pytest.fixture
def released() -> list[int]:
    return [0]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def collector(released: list[int], clock: Clock) -> Iterator[Collector]:
    before = gc.get_threshold()
    policy = Collector(lambda: released[0], thaw_after=10, thaw_every=600, clock=clock)
    policy.install()
    yield policy
    policy.uninstall()
    assert gc.get_threshold() == before  # the test process gets its own collector back
    assert gc.get_freeze_count() == 0


def test_install_freezes_what_start_up_built(collector: Collector) -> None:
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == THRESHOLDS


def test_survivors_of_a_full_collection_are_frozen(collector: Collector) -> None:
    kept = [Node() for _ in range(1_000)]
    frozen = gc.get_freeze_count()
    gc.collect()
    assert gc.get_freeze_count() >= frozen + len(kept)


def test_a_cycle_let_go_while_frozen_is_freed_after_a_release_and_a_thaw(
    collector: Collector, released: list[int], clock: Clock
) -> None:
    holder: list[Node] = []
    node, watch = cycle()
    holder.append(node)
    del node
    gc.collect()  # the cycle survives (held), so it is frozen
    holder.clear()  # now it is garbage, but frozen: no collection looks at it
    gc.collect()
    assert watch() is not None

    released[0] += 1  # an account was forgotten
    clock.now = 5.0
    assert not collector.tick()  # too soon after the last thaw
    clock.now = 10.0
    assert collector.tick()
    gc.collect()
    assert watch() is None
    assert gc.get_freeze_count() > 0  # and the survivors are frozen again
    assert not collector.tick()  # one release, one thaw


def test_nothing_released_means_no_thaw_until_the_safety_interval(
    collector: Collector, clock: Clock
) -> None:
    clock.now = 599.0
    assert not collector.tick()
    clock.now = 600.0
    assert collector.tick()
    assert gc.get_freeze_count() == 0


def test_forgetting_an_account_counts_as_a_release() -> None:
    accounts = Accounts(
        Settings(seed=7, max_accounts=1, account_idle_seconds=0).core(), load_catalog()
    )
    assert accounts.released == 0
    first, _ = accounts.identify("sk_test_first_account_000000")
    accounts.identify("sk_test_second_account_00000")  # the first one is evicted
    assert accounts.released == 1
    assert first not in list(accounts)

"""Fair slots (`webhooks/slots.py`) without sockets: the shares per account and per endpoint,
who gets a freed slot, what is lent past a share and what never is, and waiters that are
cancelled. Each test runs one short event loop; nothing sleeps (time is a number the test
moves)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest

from aiprod_sandbox.webhook_http.slots import FairSlots, endpoint_of


async def settle() -> None:
    """Let every task that can run, run (a few turns of the loop; nothing here sleeps)."""
    for _ in range(5):
        await asyncio.sleep(0)


class Holders:
    """Tasks that each take a slot and hold it until told to let go, in the order they got it."""

    def __init__(self, slots: FairSlots) -> None:
        self.slots = slots
        self.got: list[str] = []
        self._let_go: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, account: str, endpoint: str) -> None:
        self._let_go[name] = asyncio.Event()
        self.tasks[name] = asyncio.get_running_loop().create_task(
            self._hold(name, account, endpoint)
        )

    async def _hold(self, name: str, account: str, endpoint: str) -> None:
        async with self.slots.hold(account, endpoint):
            self.got.append(name)
            await self._let_go[name].wait()

    async def finish(self, name: str) -> None:
        self._let_go[name].set()
        await self.tasks[name]
        await settle()

    async def aclose(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


def run(body: Callable[[Holders], Awaitable[None]], slots: FairSlots) -> None:
    async def main() -> None:
        holders = Holders(slots)
        try:
            await body(holders)
        finally:
            await holders.aclose()

    asyncio.run(main())


def test_the_default_shares_are_a_quarter_and_an_eighth_of_the_slots() -> None:
    slots = FairSlots(64)
    assert (slots.total, slots.per_account, slots.per_endpoint, slots.reserve) == (64, 16, 8, 16)
    tiny = FairSlots(1)
    assert (tiny.per_account, tiny.per_endpoint, tiny.reserve) == (1, 1, 1)


def test_a_dead_endpoint_holds_only_its_share_and_others_go_at_once() -> None:
    slots = FairSlots(8, per_account=4, per_endpoint=2)

    async def body(h: Holders) -> None:
        for n in range(10):  # a receiver that never answers: nobody lets go
            h.start(f"dead{n}", "a", "dead:80")
        await settle()
        assert h.got == ["dead0", "dead1"]
        assert (slots.in_flight("a"), slots.waiting("a")) == (2, 8)
        h.start("a-fast", "a", "fast:80")  # the same account, another endpoint
        h.start("b-fast", "b", "fast:80")  # another account, the same host as a-fast
        await settle()
        assert h.got[2:] == ["a-fast", "b-fast"]

    run(body, slots)


def test_an_account_holds_at_most_its_share_over_all_its_endpoints() -> None:
    slots = FairSlots(8, per_account=4, per_endpoint=2, reserve=8)  # nothing is lent

    async def body(h: Holders) -> None:
        for endpoint in ("e1", "e2", "e3"):
            for n in range(3):
                h.start(f"{endpoint}-{n}", "a", endpoint)
        await settle()
        assert sorted(h.got) == ["e1-0", "e1-1", "e2-0", "e2-1"]
        h.start("b", "b", "e1")
        await settle()
        assert h.got[-1] == "b"
        await h.finish("e1-0")  # a frees one: it goes to a's endpoint with none in flight
        assert h.got[-1] == "e3-0"
        await h.finish("e2-0")  # e1, e2 and e3 now hold one each: e1's waiter waited longest
        assert h.got[-1] == "e1-2"
        assert slots.in_flight("a") == 4

    run(body, slots)


def test_a_freed_slot_goes_to_the_waiting_account_with_the_fewest_in_flight() -> None:
    slots = FairSlots(4, per_account=4, per_endpoint=4)

    async def body(h: Holders) -> None:
        for n in range(4):
            h.start(f"a{n}", "a", "x")
        await settle()
        for n in range(2):
            h.start(f"a-more{n}", "a", "x")  # waiting first
        h.start("b0", "b", "y")
        h.start("b1", "b", "y")
        await settle()
        assert h.got == ["a0", "a1", "a2", "a3"]
        await h.finish("a0")  # a has 3 in flight, b none: b, though a's waiter came first
        assert h.got[-1] == "b0"
        await h.finish("a1")  # a 2, b 1: b again
        assert h.got[-1] == "b1"
        await h.finish("a2")  # a 1, b 2: now a
        assert h.got[-1] == "a-more0"

    run(body, slots)


def test_within_an_account_the_endpoint_with_the_fewest_in_flight_goes_first() -> None:
    slots = FairSlots(3, per_account=3, per_endpoint=3)

    async def body(h: Holders) -> None:
        for n in range(3):
            h.start(f"x{n}", "a", "x")
        await settle()
        h.start("x-more", "a", "x")
        h.start("y0", "a", "y")
        await settle()
        await h.finish("x0")
        assert h.got[-1] == "y0"

    run(body, slots)


def test_cancelled_waiters_and_holders_give_their_places_back() -> None:
    slots = FairSlots(2, per_account=2, per_endpoint=2)

    async def body(h: Holders) -> None:
        h.start("first", "a", "x")
        h.start("second", "a", "x")
        h.start("waiter", "a", "x")
        h.start("next", "b", "y")
        await settle()
        h.tasks["waiter"].cancel()
        await settle()
        assert slots.waiting("a") == 0
        h.tasks["first"].cancel()  # cancelled while holding a slot: it is given back
        await settle()
        assert h.got == ["first", "second", "next"]
        await h.finish("second")
        await h.finish("next")
        assert (slots.in_flight("a"), slots.in_flight("b"), slots.waiting("b")) == (0, 0, 0)
        assert slots._accounts == {}  # nothing is kept for accounts with nothing to send

    run(body, slots)


def test_a_waiter_cancelled_in_the_turn_it_is_granted_gives_the_slot_back() -> None:
    async def main() -> None:
        slots = FairSlots(1)
        first = await slots.acquire("a", "x")
        unlucky = asyncio.get_running_loop().create_task(slots.acquire("a", "x"))
        await settle()
        slots.release("a", "x", first)  # grants `unlucky` the slot; it has not run since
        unlucky.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await unlucky
        assert (slots.in_flight("a"), slots.waiting("a")) == (0, 0)
        await asyncio.wait_for(slots.acquire("b", "y"), timeout=1.0)  # the slot is free

    asyncio.run(main())


class Clock:
    """The slots' time: what the test says it is."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lending(clock: Clock) -> FairSlots:
    """8 slots: an account's share 4, an endpoint's 2, 2 never lent; lent to endpoints whose
    last attempt held its slot 0.05-2 s."""
    return FairSlots(8, per_account=4, per_endpoint=2, reserve=2, now=clock)


async def prove(h: Holders, clock: Clock, name: str, seconds: float) -> None:
    """Let `name` go after it has held its slot `seconds`: its endpoint's record."""
    clock.now += seconds
    await h.finish(name)


def test_an_endpoint_alone_borrows_once_its_attempts_are_slow_but_answered() -> None:
    clock = Clock()
    slots = lending(clock)

    async def body(h: Holders) -> None:
        for n in range(12):
            h.start(f"s{n}", "a", "slow:80")
        await settle()
        assert h.got == ["s0", "s1"]  # no record yet: its share only
        await prove(h, clock, "s0", 1.5)  # answered in 1.5 s: it may borrow, up to the reserve
        assert h.got == ["s0", "s1", "s2", "s3", "s4", "s5", "s6"]  # s2 its own, s3-s6 lent
        assert (slots.in_flight("a"), slots.lent("a"), slots.waiting("a")) == (6, 4, 5)

    run(body, slots)


@pytest.mark.parametrize("seconds", [0.001, 2.5])
def test_an_endpoint_answering_at_once_or_not_in_time_never_borrows(seconds: float) -> None:
    clock = Clock()
    slots = lending(clock)

    async def body(h: Holders) -> None:
        for n in range(6):
            h.start(f"e{n}", "a", "e:80")
        await settle()
        await prove(h, clock, "e0", seconds)  # 1 ms: its share keeps the core busy; 2.5 s:
        assert h.got == ["e0", "e1", "e2"]  # maybe silent. Either way: its share, no more
        assert (slots.in_flight("a"), slots.lent("a")) == (2, 0)

    run(body, slots)


def test_a_newcomer_gets_a_reserved_slot_at_once_and_freed_slots_before_the_borrower() -> None:
    clock = Clock()
    slots = lending(clock)

    async def body(h: Holders) -> None:
        for n in range(12):
            h.start(f"s{n}", "a", "slow:80")
        await settle()
        await prove(h, clock, "s0", 1.0)  # s1, s2 its own, s3-s6 lent: 6 in flight; 2 free
        h.start("new0", "b", "new:80")  # another account: a slot from the reserve at once
        h.start("new1", "b", "new:80")
        h.start("new2", "b", "new:80")  # past its share (2): waits, and never borrows yet
        await settle()
        assert h.got[-2:] == ["new0", "new1"]
        await h.finish("s3")  # a lent slot comes free: not lent again (the reserve is short)
        assert (slots.in_flight("a"), slots.lent("a"), slots.waiting("a")) == (5, 3, 5)
        h.start("mine", "a", "other:80")  # a's other endpoint: lent slots do not count
        await settle()  # against the account's share, so it is within it and goes at once
        assert h.got[-1] == "mine"
        await h.finish("s1")  # its own slot: to its own next waiter (within its share)
        assert h.got[-1] == "s7"
        assert (slots.in_flight("a"), slots.lent("a"), slots.waiting("b")) == (6, 3, 1)

    run(body, slots)


def test_a_borrower_takes_a_free_slot_only_when_nobody_within_a_share_waits() -> None:
    clock = Clock()
    slots = lending(clock)

    async def body(h: Holders) -> None:
        for n in range(4):
            h.start(f"s{n}", "a", "slow:80")
        await settle()
        await prove(h, clock, "s0", 0.5)  # s1, s2, s3 in flight (one lent); none waits
        assert (slots.in_flight("a"), slots.lent("a"), slots.waiting("a")) == (3, 1, 0)
        h.start("s4", "a", "slow:80")  # nobody else waits and 5 are free: lent at once
        h.start("b0", "b", "b:80")
        await settle()
        assert h.got[-2:] == ["s4", "b0"]
        assert slots.lent("a") == 2

    run(body, slots)


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("http://127.0.0.1:9000/hook", "127.0.0.1:9000"),
        ("http://Example.COM/a?b=c", "example.com:80"),
        ("https://example.com/", "example.com:443"),
        ("http://[::1]:81/x", "[::1]:81"),
        ("http://example.com:notaport/", "http://example.com:notaport/"),
    ],
)
def test_an_endpoint_is_a_host_and_port(url: str, endpoint: str) -> None:
    assert endpoint_of(url) == endpoint

"""Fair shares of the dispatcher's attempt slots: per account, and within it per endpoint;
free slots lent out when nobody else is waiting for them.

`webhook_concurrency` slots are shared by every account. An attempt holds its slot for as long
as it is on the wire, up to the attempt timeout (30 s against a receiver that never answers),
and a slot cannot be taken back. So choosing the next waiter fairly is not enough on its own: a
silent receiver that got every free slot keeps them all for the timeout, whoever comes next.

**Shares.** An account's share is `per_account` slots (a quarter of them by default), and each
of its endpoints' (a webhook URL's host:port) `per_endpoint` (half of the account's). A
waiter within both shares is *entitled*. A free slot goes to the entitled waiter of the account
with the fewest attempts in flight and, within it, of the endpoint with the fewest; between
equals, to the one that has waited longest. An endpoint's own waiters go in the order they came.

**Borrowing.** When no entitled waiter is left, a free slot may be lent to an endpoint past its
share (same order: fewest in flight first), on two conditions that bound what a borrower can
cost anyone else, since a lent slot, too, is only given back when its attempt ends:

- the endpoint's last attempt held its slot between 50 ms and 2 s (`lend_window`). Above:
  an endpoint proves it answers before it borrows (a new one has no record), one that stops
  answering stops borrowing when its first attempt to overrun ends, and a silent receiver
  never borrows, so it holds its share and no more, as before. Below: the slots are not
  what limits it. A local receiver answering in a millisecond keeps the sender's one core
  busy with its share (8 in flight); lending it more only queues more attempts in the event
  loop, ahead of API requests (`GET /jobs/{id}` p50 went from 1.1-1.5x to 4-5x its idle
  figure during a drain with 48 in flight, for ~10% more deliveries a second);
- `reserve` slots (a quarter) are never lent: a borrow leaves at least that many free.

Every slot that comes free goes to entitled waiters first, so a lent slot is given back (not
taken back) as soon as someone within their share waits. The bound a newcomer (an endpoint
with nothing in flight) can count on: it is granted at once unless `reserve` slots are held
within shares (borrowing alone never makes it wait: after any borrow, the slots in flight
within shares must grow by `reserve` before none is free); and when it does wait, it is first in
line for the next slot to come free, whoever held it, among attempts of which the lent ones
were each expected to end within 2 s (at worst, a borrower that has just turned silent: the
attempt timeout). A slow endpoint alone on the server gets `total - reserve` slots (48 of
64): a 1.5 s receiver drains 32 deliveries a second instead of its share's 5.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..core.clock import monotonic

ACCOUNT_PART = 4  # an account's share: a quarter of all slots
ENDPOINT_PART = 2  # an endpoint's share: half of its account's
RESERVE_PART = 4  # a quarter of all slots is never lent
# An endpoint borrows only while its last attempt held its slot this long (seconds): below,
# its share already keeps the sender's one core busy; above, it may be a silent receiver.
LEND_WINDOW = (0.05, 2.0)


def endpoint_of(url: str) -> str:
    """A webhook URL's host:port (the scheme's port when none is written)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is not a number: the transmitter reports it
        return url
    host = parts.hostname or ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Grant:
    """One slot: whether it was lent past the holder's share, since when, and whether it is
    still held (`release` gives it back once; again is nothing)."""

    __slots__ = ("held", "lent", "since")

    def __init__(self, lent: bool, since: float) -> None:
        self.held = True
        self.lent = lent
        self.since = since


Waiter = Callable[[Grant], bool]
"""Called with the slot granted: True when taken, False when the waiter is gone (the slot is
then given to the next one)."""


@dataclass
class _Endpoint:
    in_flight: int = 0
    lent: int = 0  # of those in flight
    lends: bool = False  # its last attempt held its slot within the lending window
    waiting: deque[tuple[int, Waiter]] = field(default_factory=deque)


@dataclass
class _Account:
    in_flight: int = 0
    lent: int = 0  # of those in flight
    waiting: int = 0
    endpoints: dict[str, _Endpoint] = field(default_factory=dict)


class FairSlots:
    """`total` slots, shared `per_account` and `per_endpoint`; the rest lent to endpoints
    whose attempts last within `lend_window` while no one within their share waits,
    `reserve` of them never."""

    def __init__(
        self,
        total: int,
        *,
        per_account: int | None = None,
        per_endpoint: int | None = None,
        reserve: int | None = None,
        lend_window: tuple[float, float] = LEND_WINDOW,
        now: Callable[[], float] = monotonic,
    ) -> None:
        self.total = max(1, total)
        self.per_account = per_account or max(1, self.total // ACCOUNT_PART)
        self.per_endpoint = per_endpoint or max(1, self.per_account // ENDPOINT_PART)
        self.reserve = reserve if reserve is not None else max(1, self.total // RESERVE_PART)
        self.lend_window = lend_window
        self._now = now
        self._free = self.total
        self._waiting = 0  # waiters over all accounts
        self._accounts: dict[str, _Account] = {}  # only those with attempts in flight or waiting
        self._tickets = itertools.count()

    @contextlib.asynccontextmanager
    async def hold(self, account: str, endpoint: str) -> AsyncIterator[Grant]:
        """Wait for a slot for `endpoint` of `account`, hold it for the block, give it back."""
        grant = self.take(account, endpoint) or await self.acquire(account, endpoint)
        try:
            yield grant
        finally:
            self.release(account, endpoint, grant)

    def take(self, account: str, endpoint: str) -> Grant | None:
        """A slot at once, when nobody waits and one is free to this endpoint (None: wait for
        one with `acquire`). The sender's common case: no future, no turn of the loop."""
        if self._waiting or not self._free:
            return None
        owner = self._accounts.get(account)
        place = owner.endpoints.get(endpoint) if owner is not None else None
        entitled = owner is None or (
            owner.in_flight - owner.lent < self.per_account
            and (place is None or place.in_flight - place.lent < self.per_endpoint)
        )
        if not entitled and not (place is not None and place.lends and self._lendable()):
            return None
        if owner is None:
            owner = self._accounts[account] = _Account()
        if place is None:
            place = owner.endpoints[endpoint] = _Endpoint()
        return self._give(owner, place, lent=not entitled)

    def wait(self, account: str, endpoint: str, waiter: Waiter) -> tuple[int, Waiter]:
        """Wait in line for a slot (fairly, as the module says): `waiter` is called with it.
        The sender's attempts wait so, as records: no task, no future. Returns the place in
        line, for `leave`."""
        owner = self._accounts.setdefault(account, _Account())
        place = owner.endpoints.setdefault(endpoint, _Endpoint())
        entry = (next(self._tickets), waiter)
        place.waiting.append(entry)
        owner.waiting += 1
        self._waiting += 1
        if self._free:
            self._grant()
        return entry

    def leave(self, account: str, endpoint: str, entry: tuple[int, Waiter]) -> None:
        """Give up a place in line that has not been served yet (else: nothing)."""
        owner = self._accounts.get(account)
        place = owner.endpoints.get(endpoint) if owner is not None else None
        if owner is None or place is None or entry not in place.waiting:
            return
        place.waiting.remove(entry)
        owner.waiting -= 1
        self._waiting -= 1
        self._forget(account, endpoint)

    async def acquire(self, account: str, endpoint: str) -> Grant:
        """`wait` for a slot, as a coroutine; cancelled, it gives its place or its slot back."""
        granted: asyncio.Future[Grant] = asyncio.get_running_loop().create_future()

        def take(grant: Grant) -> bool:
            if granted.cancelled():  # its task was cancelled and has not run since
                return False
            granted.set_result(grant)
            return True

        entry = self.wait(account, endpoint, take)
        try:
            return await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release(account, endpoint, granted.result())  # granted as it was cancelled
            else:
                self.leave(account, endpoint, entry)
            raise

    def release(self, account: str, endpoint: str, grant: Grant) -> None:
        if not grant.held:
            return
        owner = self._accounts[account]
        place = owner.endpoints[endpoint]
        self._take_back(owner, place, grant)
        low, high = self.lend_window
        place.lends = low <= self._now() - grant.since <= high
        if (
            self._waiting == len(place.waiting)  # nobody else waits, and it is within its
            and self._waiting  # shares: its oldest waiter is whom `_grant` would choose
            and place.in_flight - place.lent < self.per_endpoint
            and owner.in_flight - owner.lent < self.per_account
        ):
            _, waiter = place.waiting.popleft()
            owner.waiting -= 1
            self._waiting -= 1
            handed = self._give(owner, place, lent=False)
            if waiter(handed):
                if place.waiting and place.lends and self._lendable():
                    self._grant()  # the rest of its waiters may borrow
                return
            self._take_back(owner, place, handed)
        self._forget(account, endpoint)
        if self._waiting:
            self._grant()

    def in_flight(self, account: str) -> int:
        owner = self._accounts.get(account)
        return owner.in_flight if owner else 0

    def lent(self, account: str) -> int:
        """How many of the account's slots in flight are lent past its shares."""
        owner = self._accounts.get(account)
        return owner.lent if owner else 0

    def waiting(self, account: str) -> int:
        owner = self._accounts.get(account)
        return owner.waiting if owner else 0

    def _lendable(self) -> bool:
        return self._free > self.reserve

    def _give(self, owner: _Account, place: _Endpoint, *, lent: bool) -> Grant:
        owner.in_flight += 1
        place.in_flight += 1
        if lent:
            owner.lent += 1
            place.lent += 1
        self._free -= 1
        return Grant(lent, self._now())

    def _grant(self) -> None:
        """Give free slots to the best waiters, one at a time: entitled ones first, then
        endpoints that may borrow past their share while the reserve stays free."""
        while self._free > 0 and self._waiting:
            best: tuple[str, _Account, str, _Endpoint] | None = None
            best_key = (0, 0, 0)
            borrower: tuple[str, _Account, str, _Endpoint] | None = None
            borrower_key = (0, 0, 0)
            for account, owner in self._accounts.items():
                if not owner.waiting:
                    continue
                account_full = owner.in_flight - owner.lent >= self.per_account
                for endpoint, place in owner.endpoints.items():
                    if not place.waiting:
                        continue
                    key = (owner.in_flight, place.in_flight, place.waiting[0][0])
                    if not account_full and place.in_flight - place.lent < self.per_endpoint:
                        if best is None or key < best_key:
                            best, best_key = (account, owner, endpoint, place), key
                    elif place.lends and (borrower is None or key < borrower_key):
                        borrower, borrower_key = (account, owner, endpoint, place), key
            lent = best is None
            chosen = best or (borrower if self._lendable() else None)
            if chosen is None:
                return
            account, owner, endpoint, place = chosen
            _, waiter = place.waiting.popleft()
            owner.waiting -= 1
            self._waiting -= 1
            grant = self._give(owner, place, lent=lent)
            if not waiter(grant):  # gone: the slot stays free
                self._take_back(owner, place, grant)
                self._forget(account, endpoint)

    def _take_back(self, owner: _Account, place: _Endpoint, grant: Grant) -> None:
        grant.held = False
        owner.in_flight -= 1
        place.in_flight -= 1
        if grant.lent:
            owner.lent -= 1
            place.lent -= 1
        self._free += 1

    def _forget(self, account: str, endpoint: str) -> None:
        """Drop the records of an endpoint and an account with nothing in flight or waiting."""
        owner = self._accounts[account]
        place = owner.endpoints[endpoint]
        if not place.in_flight and not place.waiting:
            del owner.endpoints[endpoint]
        if not owner.endpoints:
            del self._accounts[account]

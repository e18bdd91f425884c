"""Fair shares of the dispatcher's attempt slots: per account, and within it per endpoint.

`webhook_concurrency` slots are shared by every account. An attempt holds its slot for as long
as it is on the wire, up to the attempt timeout (30 s against a receiver that never answers),
and a slot cannot be taken back. So choosing the next waiter fairly is not enough on its own: a
silent receiver that got every free slot keeps them all for the timeout, whoever comes next.
Hence two caps: an account holds at most `per_account` slots (a quarter of them by default),
and each of its endpoints (a webhook URL's host:port) at most `per_endpoint` (half of the
account's). Under the caps, a free slot goes to the waiting account with the fewest attempts
in flight and, within it, to the waiting endpoint with the fewest; between equals, to the one
that has waited longest. An endpoint's own waiters are served in the order they came.

The caps are not work-conserving: a slow endpoint alone on the server still gets only its
share (`per_endpoint / latency` attempts a second). That is the price of a bound other accounts
can count on: a newcomer is served at once while fewer than `total / per_account` accounts
hold their whole share.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

ACCOUNT_PART = 4  # an account may hold a quarter of all slots
ENDPOINT_PART = 2  # an endpoint may hold half of its account's


def endpoint_of(url: str) -> str:
    """A webhook URL's host:port (the scheme's port when none is written)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is not a number: the transmitter reports it
        return url
    host = parts.hostname or ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class _Endpoint:
    in_flight: int = 0
    waiting: deque[tuple[int, asyncio.Future[None]]] = field(default_factory=deque)


@dataclass
class _Account:
    in_flight: int = 0
    waiting: int = 0
    endpoints: dict[str, _Endpoint] = field(default_factory=dict)


class FairSlots:
    """`total` slots, each account capped at `per_account`, each endpoint at `per_endpoint`."""

    def __init__(
        self, total: int, *, per_account: int | None = None, per_endpoint: int | None = None
    ) -> None:
        self.total = max(1, total)
        self.per_account = per_account or max(1, self.total // ACCOUNT_PART)
        self.per_endpoint = per_endpoint or max(1, self.per_account // ENDPOINT_PART)
        self._free = self.total
        self._accounts: dict[str, _Account] = {}  # only those with attempts in flight or waiting
        self._tickets = itertools.count()

    @contextlib.asynccontextmanager
    async def hold(self, account: str, endpoint: str) -> AsyncIterator[None]:
        """Wait for a slot for `endpoint` of `account`, hold it for the block, give it back."""
        await self.acquire(account, endpoint)
        try:
            yield
        finally:
            self.release(account, endpoint)

    async def acquire(self, account: str, endpoint: str) -> None:
        owner = self._accounts.setdefault(account, _Account())
        place = owner.endpoints.setdefault(endpoint, _Endpoint())
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (next(self._tickets), granted)
        place.waiting.append(entry)
        owner.waiting += 1
        self._grant()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release(account, endpoint)  # granted just as it was cancelled
            elif entry in place.waiting:  # not yet skipped by `_grant`
                place.waiting.remove(entry)
                owner.waiting -= 1
                self._forget(account, endpoint)
            raise

    def release(self, account: str, endpoint: str) -> None:
        owner = self._accounts[account]
        owner.in_flight -= 1
        owner.endpoints[endpoint].in_flight -= 1
        self._free += 1
        self._forget(account, endpoint)
        self._grant()

    def in_flight(self, account: str) -> int:
        owner = self._accounts.get(account)
        return owner.in_flight if owner else 0

    def waiting(self, account: str) -> int:
        owner = self._accounts.get(account)
        return owner.waiting if owner else 0

    def _grant(self) -> None:
        """Give free slots to the best waiters under the caps, one at a time."""
        while self._free > 0:
            best: tuple[str, _Account, str, _Endpoint] | None = None
            best_key = (0, 0, 0)
            for account, owner in self._accounts.items():
                if not owner.waiting or owner.in_flight >= self.per_account:
                    continue
                for endpoint, place in owner.endpoints.items():
                    if not place.waiting or place.in_flight >= self.per_endpoint:
                        continue
                    key = (owner.in_flight, place.in_flight, place.waiting[0][0])
                    if best is None or key < best_key:
                        best, best_key = (account, owner, endpoint, place), key
            if best is None:
                return
            account, owner, endpoint, place = best
            _, granted = place.waiting.popleft()
            owner.waiting -= 1
            if granted.cancelled():  # its task was cancelled and has not run since
                self._forget(account, endpoint)
                continue
            owner.in_flight += 1
            place.in_flight += 1
            self._free -= 1
            granted.set_result(None)

    def _forget(self, account: str, endpoint: str) -> None:
        """Drop the records of an endpoint and an account with nothing in flight or waiting."""
        owner = self._accounts[account]
        place = owner.endpoints[endpoint]
        if not place.in_flight and not place.waiting:
            del owner.endpoints[endpoint]
        if not owner.endpoints:
            del self._accounts[account]

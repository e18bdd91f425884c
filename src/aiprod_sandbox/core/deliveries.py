"""Webhook deliveries: the record of each one, its attempts, and the retry schedule.

A delivery's body is serialized once, when the event happens; those exact bytes are signed,
sent, stored and sent again on every retry and redelivery. The schedule is pure arithmetic on
the account's clock: attempts at +0, then `delays` after each failed attempt (1 s, 5 s, 30 s,
1 h by default: +0, +1, +6, +36, +3636), at most `len(delays) + 1` attempts, and nothing once
`max_age` has passed since the event; `DeliveryLog.record` applies it to each attempt's
outcome. Sending is the dispatcher's job (`webhooks/sender.py`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import islice
from typing import Literal

from .store import NO_CHANGES, Changes

DeliveryStatus = Literal["pending", "delivered", "failed"]
# `dropped`: a scenario's `drop` rule kept the attempt from being sent at all. It is not a
# `timeout` (no receiver was waited for); the schedule retries it as any failed attempt.
AttemptError = Literal["timeout", "connect_error", "dns", "redirect", "non_2xx", "dropped"]
Trigger = Literal["scheduled", "manual", "test"]
MAX_ATTEMPTS_KEPT = 50
DELIVERY_KIND = "delivery"


@dataclass(frozen=True)
class RetryPolicy:
    delays: tuple[float, ...] = (1.0, 5.0, 30.0, 3600.0)
    max_age: float = 24 * 3600.0
    timeout: float = 30.0

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    def next_attempt(self, event_at: float, attempt: int, attempted_at: float) -> float | None:
        """When attempt `attempt + 1` is due after attempt `attempt` failed, or None: no more."""
        if attempt >= self.max_attempts:
            return None
        due = attempted_at + self.delays[attempt - 1]
        if due > event_at + self.max_age:
            return None
        return due


@dataclass
class Attempt:
    attempt: int
    trigger: Trigger
    scheduled_at: float
    sent_at: float | None = None
    duration_ms: float | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: bytes | None = None  # what was sent, when a scenario changed it (None: the body)
    response_status: int = 0
    response_excerpt: str = ""
    error: AttemptError | None = None
    deliberate: str | None = None  # the scenario action that made this attempt misbehave

    @property
    def ok(self) -> bool:
        return self.error is None and self.sent_at is not None


@dataclass
class Delivery:
    delivery_id: str
    webhook_id: str | None  # None: the job's callback_url
    url: str
    event: str
    job_id: str | None
    body: bytes
    created_at: float  # the event's time on the account's clock
    test: bool = False
    status: DeliveryStatus = "pending"
    next_attempt_at: float | None = None
    attempts: list[Attempt] = field(default_factory=list)
    seq: int = 0  # its place in the log (`DeliveryLog.added` when it was added)
    note: str | None = None
    held: str | None = None  # held back on purpose by a scenario; the next attempt says why
    # The account's `attempts_recorded` when this delivery's last attempt came back, so a
    # listing can give what changed since a count (`logs tail`); not in the state document.
    last_recorded: int = 0

    @property
    def scheduled_count(self) -> int:
        return len({a.attempt for a in self.attempts if a.trigger != "manual"})


PENDING_FACTOR = 10  # deliveries still being tried may outnumber the log's bound this much


class DeliveryLog:
    """One account's deliveries, oldest first, bounded.

    Finished deliveries beyond `limit` are forgotten, the one that finished longest ago first.
    One still being tried is kept (its retries need it) until `limit * PENDING_FACTOR` are
    pending; past that the oldest pending one is given up, so memory stays bounded whatever
    the receivers do. A delivery leaves `pending` only through `finish`, so the log knows
    which ones are finished without looking: adding is O(1) however many are pending.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._items: OrderedDict[str, Delivery] = OrderedDict()
        self._finished: OrderedDict[str, None] = OrderedDict()  # kept ones, as they finished
        self.added = 0  # ever added: `newest(added_now - added_before)` is what came since
        self.abandoned = 0  # pending deliveries given up because too many were pending
        self.changes: Changes = NO_CHANGES  # what the store must write (`store.py`)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def pending(self) -> int:
        """How many of the deliveries kept are still pending."""
        return len(self._items) - len(self._finished)

    def add(self, delivery: Delivery) -> None:
        self._items[delivery.delivery_id] = delivery
        if delivery.status != "pending":
            self._finished[delivery.delivery_id] = None
        self.added += 1
        delivery.seq = self.added
        changes = self.changes
        changes.delivery(delivery.delivery_id)
        while len(self._items) > self._limit and self._finished:
            delivery_id, _ = self._finished.popitem(last=False)
            del self._items[delivery_id]
            changes.drop_delivery(delivery_id)
        # Still past the bound ten times over: every delivery left is pending.
        while len(self._items) > self._limit * PENDING_FACTOR:
            _, oldest = self._items.popitem(last=False)
            changes.drop_delivery(oldest.delivery_id)
            if oldest.status == "pending":
                oldest.status, oldest.next_attempt_at = "failed", None
                oldest.note = "given up: too many deliveries were pending at once"
                self.abandoned += 1

    def finish(self, delivery: Delivery, status: DeliveryStatus, note: str | None = None) -> None:
        """Settle a delivery as `delivered` or `failed`: no more attempts are due."""
        delivery.status, delivery.next_attempt_at = status, None
        if note is not None:
            delivery.note = note
        self.changes.delivery(delivery.delivery_id)
        if self._items.get(delivery.delivery_id) is delivery:  # not one forgotten since
            self._finished[delivery.delivery_id] = None

    def record(self, delivery: Delivery, attempt: Attempt, policy: RetryPolicy) -> float | None:
        """Keep an attempt and decide what follows: a success settles the delivery (a manual
        redelivery too, even one still being retried); a failed scheduled attempt gets the
        policy's next one, if any (its time, returned), else fails the delivery; a failed
        manual one changes nothing, and a failed test one ends it."""
        delivery.attempts.append(attempt)
        del delivery.attempts[:-MAX_ATTEMPTS_KEPT]
        self.changes.delivery(delivery.delivery_id)
        if attempt.ok:
            self.finish(delivery, "delivered")
            return None
        if attempt.trigger == "manual":
            return None
        following = None
        if attempt.trigger == "scheduled":
            following = policy.next_attempt(
                delivery.created_at, attempt.attempt, attempt.scheduled_at
            )
        if following is None:
            self.finish(delivery, "failed")
        else:
            delivery.next_attempt_at = following
        return following

    def newest(self, count: int) -> list[Delivery]:
        """The last `count` deliveries added (fewer if the bound forgot some), oldest first;
        it reads only those, however long the log is."""
        if count <= 0:
            return []
        newest = list(islice(reversed(self._items.values()), count))
        newest.reverse()
        return newest

    def get(self, delivery_id: str) -> Delivery | None:
        return self._items.get(delivery_id)

    def all(self) -> list[Delivery]:
        return list(self._items.values())

    def clear(self) -> None:
        self._items.clear()
        self._finished.clear()
        self.added = 0

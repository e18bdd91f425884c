"""The dispatcher: sends due webhook attempts over HTTP and hands back their outcomes.

Owned by the app's lifespan, which connects `start` to the due-work runner (`core/due.py`):
when an attempt falls due, `start` launches it as a task and returns at once, so no API
request ever waits for a receiver; its outcome goes to `Account.record_attempt`, whose retry
decision (`core/deliveries.py`) schedules what follows. Each
account may have `webhook_queue` attempts started; past that its attempts wait in its own line
(another account's backlog never defers yours). A started attempt waits for a slot
(`slots.py`: a fair share per account and per endpoint, so a silent receiver holds only its
share). A job's first attempts reach an endpoint in event order (each waits for the one before
it on its lane: endpoint and job), while other jobs' deliveries to a slow endpoint go beside
them; retries never hold back later events. What one attempt does on the wire (the lookup, the
address policy, the POST, the timeout) is `transmit.py`'s; what a scenario's webhook rule
changes in its request is `chaos.py`'s, and when and how often it is sent (held back, sent
twice, dropped) is decided here. `settle` runs an account's due work and waits for its
attempts, in time order: what `clock/advance` needs. `aclose` says what shutting down drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from .._version import __version__
from ..core.accounts import Account
from ..core.clock import monotonic
from ..core.deliveries import Attempt, Delivery, Trigger
from ..core.due import Ran
from ..core.sandbox import Sandbox
from ..core.scenarios.models import HOLDING, WebhookRule
from ..errors import NotFound
from ..settings import Settings
from .addresses import Resolver, system_resolver
from .chaos import CONTENT_TYPE, SIGNATURE, TIMESTAMP, Outgoing, misbehave
from .signing import sign
from .slots import FairSlots, endpoint_of
from .transmit import Transmitter, WireOptions

log = logging.getLogger("aiprod_sandbox.webhooks")
USER_AGENT = f"AIPROD-Webhooks/1.0 (AIPROD Sandbox {__version__})"
SETTLE_TURN_SECONDS = 0.005  # work an advance does before giving other requests a turn
SHUTDOWN_ACCOUNTS_NAMED = 5  # the shutdown warning names this many accounts at most

Waiting = tuple[Delivery, int, float, Trigger]  # an attempt waiting for a place in its queue


class Dispatcher:
    def __init__(
        self,
        sandbox: Sandbox,
        settings: Settings,
        *,
        wire: WireOptions | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.policy = sandbox.retry_policy
        self.resolver: Resolver = resolver or system_resolver  # registration checks use it too
        self._concurrency = settings.webhook_concurrency
        self._queue_limit = settings.webhook_queue  # per account
        self.transmit = Transmitter(
            resolver=self.resolver,
            timeout=self.policy.timeout,
            concurrency=self._concurrency,
            excerpt_bytes=settings.webhook_excerpt_bytes,
            deny_private=settings.deny_private_webhooks,
            wire=wire,
        )
        self.slots = FairSlots(self._concurrency)
        # Per account: the attempts started (waiting for a slot or on the wire), and those
        # waiting for a place among them (in the order they fell due).
        self._started: dict[str, set[asyncio.Task[None]]] = {}
        self._deferred: dict[str, tuple[Account, deque[Waiting]]] = {}
        self._lanes: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._closing = False

    # ---- lifecycle -----------------------------------------------------------------------
    async def aclose(self) -> None:
        """Stop: say what is dropped, cancel every attempt, close the connections."""
        if dropped := self.unfinished():
            log.warning("%s", dropped)
        self._closing = True  # cancelled attempts must not start the waiting ones
        tasks = [task for tasks in self._started.values() for task in tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.transmit.aclose()

    def unfinished(self) -> str | None:
        """One line on the webhook work stopping now would drop (None: nothing): attempts on
        the wire, attempts waiting (for a slot, an earlier event, or a place in the queue),
        and deliveries still pending, whose remaining attempts would never be made."""
        counts: dict[str, tuple[int, int, int]] = {}  # in flight, waiting, pending
        for account in self.sandbox.accounts:
            account_id = account.account_id
            started = len(self._started.get(account_id, ()))
            deferred = len(self._deferred[account_id][1]) if account_id in self._deferred else 0
            sending = self.slots.in_flight(account_id)
            if started or deferred or account.deliveries.pending:
                counts[account_id] = (
                    sending,
                    started - sending + deferred,
                    account.deliveries.pending,
                )
        if not counts:
            return None
        sending, waiting, pending = (sum(row[i] for row in counts.values()) for i in range(3))
        worst = sorted(counts, key=lambda account_id: -sum(counts[account_id]))
        named = "; ".join(
            "{} {} / {} / {}".format(account_id, *counts[account_id])
            for account_id in worst[:SHUTDOWN_ACCOUNTS_NAMED]
        )
        more = len(worst) - SHUTDOWN_ACCOUNTS_NAMED
        return (
            f"shutting down with webhooks unsent: dropping {sending} attempts in flight and "
            f"{waiting} waiting; {pending} deliveries left pending (no more attempts will be "
            f"made) — by account, in flight / waiting / pending: {named}"
            + (f"; and {more} more accounts" if more > 0 else "")
        )

    # ---- scheduling ----------------------------------------------------------------------
    def start(self, account: Account, delivery: Delivery, at: float) -> str | None:
        """Start the pending delivery's next scheduled attempt, due at `at`; never wait."""
        number = delivery.scheduled_count + 1
        trigger: Trigger = "test" if delivery.test else "scheduled"
        started = len(self._started.get(account.account_id, ()))
        if started >= self._queue_limit or account.account_id in self._deferred:
            # The account's queue is full: wait in its line (in order, at the time it fell
            # due) for a free place. Other accounts' attempts do not wait behind it.
            _, line = self._deferred.setdefault(account.account_id, (account, deque()))
            line.append((delivery, number, at, trigger))
            return f"attempt {number} (waiting: the account's dispatcher queue is full)"
        self._launch(account, delivery, number, at, trigger, in_lane=number == 1)
        return f"attempt {number}"

    def _release(self, account_id: str) -> None:
        """Start the account's waiting attempts, oldest first, while it has room."""
        if account_id not in self._deferred or self._closing:
            return
        account, line = self._deferred[account_id]
        while line and len(self._started.get(account_id, ())) < self._queue_limit:
            delivery, number, at, trigger = line.popleft()
            self._launch(account, delivery, number, at, trigger, in_lane=number == 1)
        if not line:
            del self._deferred[account_id]

    def _launch(
        self,
        account: Account,
        delivery: Delivery,
        number: int,
        at: float,
        trigger: Trigger,
        *,
        in_lane: bool,
    ) -> asyncio.Task[None]:
        # A job's first attempts reach an endpoint in event order; other jobs' go beside them.
        lane = (account.account_id, delivery.webhook_id or delivery.url, delivery.job_id or "")
        before = self._lanes.get(lane) if in_lane else None
        # Scenario rules count attempts here, in the order they fall due, not when each one
        # gets its turn to send (lanes finish in any order): "every 3rd" is always the 3rd.
        rule = self._misbehaviour(account, delivery, trigger, at)
        task = asyncio.get_running_loop().create_task(
            self._attempt(account, delivery, number, at, trigger, before, rule)
        )
        tasks = self._started.setdefault(account.account_id, set())
        tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            tasks.discard(finished)
            if not tasks and self._started.get(account.account_id) is tasks:
                del self._started[account.account_id]
            self._release(account.account_id)
            if self._lanes.get(lane) is finished:
                del self._lanes[lane]
            if not finished.cancelled() and finished.exception() is not None:
                error = finished.exception()
                log.error("webhook attempt crashed", exc_info=error)
                if error is not None:
                    self.sandbox.record_error(error)

        task.add_done_callback(done)
        if in_lane:
            self._lanes[lane] = task
        return task

    async def drain(self, account: Account) -> None:
        """Wait until none of the account's attempts is in flight or waiting for a place."""
        while True:
            mine = self._started.get(account.account_id)
            if mine:
                await asyncio.wait(set(mine))
            elif account.account_id in self._deferred and not self._closing:
                self._release(account.account_id)
            else:
                return

    async def settle(self, account: Account, until: float) -> list[Ran]:
        """Run the account's work due by `until` in time order, waiting for each instant's
        attempts (whose failures may schedule retries still due by `until`)."""
        ran: list[Ran] = []
        turn = monotonic()
        while True:
            upcoming = account.scheduler.next_at()
            if upcoming is not None and upcoming <= until:
                ran.extend(account.run_due(until=upcoming))
            await self.drain(account)
            upcoming = account.scheduler.next_at()
            if upcoming is None or upcoming > until:
                return ran
            if monotonic() - turn > SETTLE_TURN_SECONDS:
                await asyncio.sleep(0)  # a long advance lets other clients' requests in
                turn = monotonic()

    async def redeliver(self, account: Account, delivery: Delivery) -> Attempt:
        """Send the stored bytes again (same id, trigger `manual`, no retries); wait for it."""
        try:
            self._target(account, delivery, "manual")
        except LookupError as gone:
            raise NotFound(f"Nothing to redeliver to: {gone}", code="WEBHOOK_NOT_FOUND") from gone
        number = len(delivery.attempts) + 1
        task = self._launch(account, delivery, number, account.now(), "manual", in_lane=False)
        await task
        return delivery.attempts[-1]

    # ---- one attempt ---------------------------------------------------------------------
    def _current(
        self, account: Account, delivery: Delivery, trigger: Trigger
    ) -> tuple[str, str] | None:
        """`_target`, or None when the delivery is void (a scheduled one then fails)."""
        try:
            return self._target(account, delivery, trigger)
        except LookupError as void:
            if trigger != "manual":
                account.deliveries.finish(delivery, "failed", note=str(void))
            return None

    def _target(self, account: Account, delivery: Delivery, trigger: Trigger) -> tuple[str, str]:
        """(url, secret) as they are now, or raise LookupError when the delivery is void."""
        if delivery.webhook_id is not None:
            webhook = account.webhooks.find(delivery.webhook_id)
            if webhook is None:
                raise LookupError("webhook deleted; its pending retries are cancelled")
            if not webhook.active and trigger == "scheduled":
                raise LookupError("webhook deactivated; its pending retries are cancelled")
            return webhook.url, webhook.secret
        job = account.jobs.find(delivery.job_id or "")
        if job is None or not job.callback_url:
            raise LookupError("the job or its callback_url is gone; retries cancelled")
        return job.callback_url, account.callback_secret

    async def _attempt(
        self,
        account: Account,
        delivery: Delivery,
        number: int,
        at: float,
        trigger: Trigger,
        before: asyncio.Task[None] | None,
        rule: WebhookRule | None,
    ) -> None:
        if before is not None:
            await asyncio.wait([before])  # first attempts to one endpoint keep event order
        target = self._current(account, delivery, trigger)
        if target is None:
            return
        delivery.url = target[0]
        action = rule.action if rule is not None else None
        if action in HOLDING:
            return  # held back and rescheduled; the lane moves on without it
        async with self.slots.hold(account.account_id, endpoint_of(target[0])):
            target = self._current(account, delivery, trigger)  # as it is after the wait
            if target is None:
                return
            url, secret = target
            delivery.url = url
            sent_at = self._sent_at(account, at)
            attempt = Attempt(attempt=number, trigger=trigger, scheduled_at=at, sent_at=sent_at)
            if delivery.held:
                attempt.deliberate, delivery.held = delivery.held, None
            signed = Outgoing(self._headers(delivery, secret, number, sent_at), delivery.body)
            drip = rule.drip_seconds if rule is not None else 0.0
            request = misbehave(signed, action, secret, drip_seconds=drip)
            attempt.request_headers = request.headers
            if request.body != delivery.body:
                attempt.request_body = request.body  # the log shows what was really sent
            if action == "drop":
                # Never sent: the log says `dropped` (not a timeout: no receiver was waited
                # for), and the schedule retries it as it does any failed attempt.
                attempt.deliberate = "drop"
                attempt.error = "dropped"
                attempt.duration_ms = 0.0
            else:
                attempt.deliberate = attempt.deliberate or action
                await self.transmit.send(
                    url, request.body, attempt, drip_seconds=request.drip_seconds
                )
            if action == "duplicate":
                twin = Attempt(
                    attempt=number,
                    trigger=trigger,
                    scheduled_at=at,
                    sent_at=sent_at,
                    request_headers=attempt.request_headers,
                    deliberate="duplicate",
                )
                await self.transmit.send(url, delivery.body, twin)
                delivery.attempts.append(twin)
        account.record_attempt(delivery, attempt, self.policy)

    @staticmethod
    def _sent_at(account: Account, at: float) -> float:
        return at if account.clock.mode == "manual" else max(at, account.now())

    def _misbehaviour(
        self, account: Account, delivery: Delivery, trigger: Trigger, due: float
    ) -> WebhookRule | None:
        """The scenario's webhook rule this attempt obeys (None: behave)."""
        if trigger == "manual" or delivery.held or not account.scenarios.any:
            return None
        try:
            url, _ = self._target(account, delivery, trigger)
        except LookupError:
            return None  # void: the attempt says so, and no rule counts it
        at = self._sent_at(account, due)
        found = account.scenarios.webhook_rule(delivery.event, delivery.webhook_id, url, at)
        if found is None:
            return None
        scenario, rule = found
        if rule.action in HOLDING:
            account.hold_delivery(
                delivery,
                at + rule.delay_seconds,
                rule.action,
                f"held back {rule.delay_seconds:g} s on purpose ({rule.action}, "
                f"scenario {scenario.name})",
            )
        return rule

    def _headers(self, delivery: Delivery, secret: str, number: int, at: float) -> dict[str, str]:
        return {
            CONTENT_TYPE: "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE: sign(secret, delivery.body),
            "X-AIPROD-Event": delivery.event,
            "X-AIPROD-Delivery": delivery.delivery_id,
            "X-AIPROD-Attempt": str(number),
            TIMESTAMP: str(int(at)),
        }

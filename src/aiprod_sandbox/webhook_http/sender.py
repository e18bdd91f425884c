"""The dispatcher: sends due webhook attempts over HTTP and hands back their outcomes.

Owned by the app's lifespan, which connects `start` to the due-work runner (`core/due.py`):
when an attempt falls due, `start` begins it and returns at once, so no API request ever
waits for a receiver; its outcome goes to `Account.record_attempt`, whose retry decision
(`core/deliveries.py`) schedules what follows. Each account may have `webhook_queue` attempts
started; past that its attempts wait in its own line (another account's backlog never defers
yours). A started attempt waits for its lane and for a slot (`slots.py`: a fair share per
account and per endpoint, so a silent receiver holds only its share; free slots are lent to
slow endpoints while nobody else waits). A job's first attempts reach an endpoint in event
order (each waits for the one before it on its lane: endpoint and job), while other jobs'
deliveries to a slow endpoint go beside them; retries never hold back later events.

What waits is a record, not a task: an attempt behind another in its lane, or in line for a
slot, costs a tuple. A task starts when an attempt has its slot, and when it gives the slot
back to another attempt of the same account it runs that one next, so a drain makes no task,
future or lane wait per attempt (bench/webhook_floor.py: 5,500 -> 7,200 deliveries a second).
What one attempt is (its target now, its signed request, the record of it) is `attempt.py`'s;
what it does on the wire (the lookup, the address policy, the POST, the timeout) is
`transmit.py`'s; what a scenario's webhook rule changes in its request is `chaos.py`'s, and
when and how often it is sent (held back, sent twice, dropped) is decided here. `settle` runs
an account's due work and waits for its attempts, in time order: what `clock/advance` needs.
`aclose` says what shutting down drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from ..core.accounts import Account
from ..core.clock import monotonic
from ..core.deliveries import Attempt, Delivery, Trigger
from ..core.due import Ran
from ..core.sandbox import Sandbox
from ..core.scenarios.models import HOLDING, WebhookRule
from ..errors import NotFound
from ..settings import Settings
from .addresses import Resolver, system_resolver
from .attempt import Attempts
from .shutdown import shutdown_line
from .slots import FairSlots, Grant, endpoint_of
from .transmit import Transmitter, WireOptions

log = logging.getLogger("aiprod_sandbox.webhooks")
SETTLE_TURN_SECONDS = 0.005  # work an advance does before giving other requests a turn

Waiting = tuple[Delivery, int, float, Trigger]  # an attempt waiting for a place in its queue
Lane = tuple[str, str, str]  # account, webhook (or callback URL), job
# An attempt waiting in its lane for the one before it: not yet a task.
Behind = tuple[Account, Delivery, int, float, Trigger, WebhookRule | None]
# An attempt whose slot is given: what a task runs.
Slotted = tuple[Delivery, int, float, Trigger, WebhookRule | None, Lane | None, str, Grant]
ENDPOINTS_KEPT = 4096  # URLs whose host:port the dispatcher remembers


def _add(counts: dict[str, int], key: str, change: int) -> None:
    """Change a count kept per account; a count that reaches 0 is dropped."""
    left = counts.get(key, 0) + change
    if left:
        counts[key] = left
    else:
        del counts[key]


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
        self.attempts = Attempts(self.transmit, self.policy)
        # Per account: the attempts started, as tasks (holding a slot) and as counts of those
        # waiting in their lanes and for a slot (records, not tasks: a task starts when the
        # slot is theirs); and those waiting for a place among them (in the order they fell
        # due).
        self._started: dict[str, set[asyncio.Task[None]]] = {}
        self._behind: dict[str, int] = {}
        self._unslotted: dict[str, int] = {}
        self._deferred: dict[str, tuple[Account, deque[Waiting]]] = {}
        # A lane with an attempt on its way, and the attempts behind it, in event order.
        self._lanes: dict[Lane, deque[Behind]] = {}
        self._endpoints: dict[str, str] = {}  # url -> host:port, a bounded memo
        # While a task gives its slot back: its account, and the attempt of that account the
        # slot went to, which the same task then runs (no new task per attempt).
        self._handing: str | None = None
        self._handed: Slotted | None = None
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
            started = self._count(account_id)
            deferred = len(self._deferred[account_id][1]) if account_id in self._deferred else 0
            sending = self.slots.in_flight(account_id)
            if started or deferred or account.deliveries.pending:
                counts[account_id] = (
                    sending,
                    started - sending + deferred,
                    account.deliveries.pending,
                )
        return shutdown_line(counts, durable=self.sandbox.store.durable)

    # ---- scheduling ----------------------------------------------------------------------
    def start(self, account: Account, delivery: Delivery, at: float) -> str | None:
        """Start the pending delivery's next scheduled attempt, due at `at`; never wait."""
        number = delivery.scheduled_count + 1
        trigger: Trigger = "test" if delivery.test else "scheduled"
        started = self._count(account.account_id)
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
        while line and self._count(account_id) < self._queue_limit:
            delivery, number, at, trigger = line.popleft()
            self._launch(account, delivery, number, at, trigger, in_lane=number == 1)
        if not line:
            del self._deferred[account_id]

    def _count(self, account_id: str) -> int:
        """The account's attempts started: tasks, and those waiting in lanes or for slots."""
        return (
            len(self._started.get(account_id, ()))
            + self._behind.get(account_id, 0)
            + self._unslotted.get(account_id, 0)
        )

    def _launch(
        self,
        account: Account,
        delivery: Delivery,
        number: int,
        at: float,
        trigger: Trigger,
        *,
        in_lane: bool,
    ) -> None:
        # Scenario rules count attempts here, in the order they fall due, not when each one
        # gets its turn to send (lanes finish in any order): "every 3rd" is always the 3rd.
        rule = self._misbehaviour(account, delivery, trigger, at)
        if not in_lane:
            self._begin(account, delivery, number, at, trigger, rule, None)
            return
        # A job's first attempts reach an endpoint in event order; other jobs' go beside them.
        # One behind another waits as a record: it begins when the one before it has ended.
        lane = (account.account_id, delivery.webhook_id or delivery.url, delivery.job_id or "")
        behind = self._lanes.get(lane)
        if behind is not None:
            behind.append((account, delivery, number, at, trigger, rule))
            _add(self._behind, account.account_id, 1)
            return
        self._lanes[lane] = deque()
        if not self._begin(account, delivery, number, at, trigger, rule, lane):
            self._next_in_lane(account.account_id, lane)

    def _begin(
        self,
        account: Account,
        delivery: Delivery,
        number: int,
        at: float,
        trigger: Trigger,
        rule: WebhookRule | None,
        lane: Lane | None,
    ) -> bool:
        """Begin an attempt: its task starts now if a slot is free, else when one is given to
        it. False when it ended here: void (a scheduled one then fails), or held back."""
        target = self.attempts.current(account, delivery, trigger)
        if target is None:
            return False
        delivery.url = target[0]
        if rule is not None and rule.action in HOLDING:
            return False  # held back and rescheduled; the lane moves on without it
        account_id, endpoint = account.account_id, self._endpoint(target[0])
        grant = self.slots.take(account_id, endpoint)
        if grant is not None:
            self._spawn(account, (delivery, number, at, trigger, rule, lane, endpoint, grant))
            return True
        _add(self._unslotted, account_id, 1)

        def granted(grant: Grant) -> bool:
            _add(self._unslotted, account_id, -1)
            if self._closing:  # shutting down: what waits is dropped, as `aclose` says
                return False
            slotted = (delivery, number, at, trigger, rule, lane, endpoint, grant)
            if self._handing == account_id and self._handed is None:
                self._handed = slotted  # the task giving the slot back runs it next
            else:
                self._spawn(account, slotted)
            return True

        self.slots.wait(account_id, endpoint, granted)
        return True

    def _spawn(
        self, account: Account, slotted: Slotted, *, hand_on: bool = True
    ) -> asyncio.Task[None]:
        """A task for an attempt whose slot is given; with `hand_on`, it goes on with the
        attempts of the same account its slot is given to next."""
        account_id, grant = account.account_id, slotted[-1]
        endpoint = slotted[-2]
        task = asyncio.get_running_loop().create_task(self._work(account, slotted, hand_on))
        tasks = self._started.setdefault(account_id, set())
        tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            if grant.held:  # cancelled before it began: its slot is given back here
                self.slots.release(account_id, endpoint, grant)
            tasks.discard(finished)
            if not tasks and self._started.get(account_id) is tasks:
                del self._started[account_id]
            if not finished.cancelled() and finished.exception() is not None:
                self._crashed(finished.exception())

        task.add_done_callback(done)
        return task

    async def _work(self, account: Account, slotted: Slotted, hand_on: bool) -> None:
        account_id = account.account_id
        following: Slotted | None = slotted
        while following is not None:
            delivery, number, at, trigger, rule, lane, endpoint, grant = following
            try:
                await self.attempts.make(account, delivery, number, at, trigger, rule)
            except Exception as error:
                self._crashed(error)
            except BaseException:  # cancelled (shutting down): give the slot back, no more
                self.slots.release(account_id, endpoint, grant)
                raise
            following = self._give_back(account_id, endpoint, grant, hand_on)
            if lane is not None:
                self._next_in_lane(account_id, lane)
            self._release(account_id)
            if following is not None:
                # The API's requests that came in meanwhile go first: the next attempt starts
                # behind them in the loop's queue, not ahead of them (bench/webhook_floor.py).
                await asyncio.sleep(0)

    def _give_back(
        self, account_id: str, endpoint: str, grant: Grant, hand_on: bool
    ) -> Slotted | None:
        """Release the slot; the account's attempt it went to, if this task is to run it."""
        if not hand_on:
            self.slots.release(account_id, endpoint, grant)
            return None
        self._handing, self._handed = account_id, None
        try:
            self.slots.release(account_id, endpoint, grant)
        finally:
            handed, self._handing, self._handed = self._handed, None, None
        return handed

    def _crashed(self, error: BaseException | None) -> None:
        log.error("webhook attempt crashed", exc_info=error)
        if error is not None:
            self.sandbox.record_error(error)

    def _next_in_lane(self, account_id: str, lane: Lane) -> None:
        """The lane's attempt has ended: begin the next one behind it, or close the lane."""
        behind = self._lanes[lane]
        while behind and not self._closing:  # closing: those behind are dropped, as said
            _add(self._behind, account_id, -1)
            if self._begin(*behind.popleft(), lane):
                return
        del self._lanes[lane]

    async def drain(self, account: Account) -> None:
        """Wait until none of the account's attempts is in flight or waiting for a place."""
        while True:
            mine = self._started.get(account.account_id)
            if mine:
                await asyncio.wait(set(mine))
            elif self._unslotted.get(account.account_id) and not self._closing:
                # Its attempts wait for slots other accounts' hold: one comes free when one
                # of those ends (its task then starts before this wait returns).
                others = {task for tasks in self._started.values() for task in tasks}
                if not others:
                    return  # nothing holds a slot: cannot be, but never wait for nothing
                await asyncio.wait(others, return_when=asyncio.FIRST_COMPLETED)
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
            url, _ = self.attempts.target(account, delivery, "manual")
        except LookupError as gone:
            raise NotFound(f"Nothing to redeliver to: {gone}", code="WEBHOOK_NOT_FOUND") from gone
        number, at = len(delivery.attempts) + 1, account.now()
        account_id, endpoint = account.account_id, self._endpoint(url)
        grant = self.slots.take(account_id, endpoint)
        if grant is None:
            grant = await self.slots.acquire(account_id, endpoint)
        slotted: Slotted = (delivery, number, at, "manual", None, None, endpoint, grant)
        await self._spawn(account, slotted, hand_on=False)
        return delivery.attempts[-1]

    # ---- one attempt ---------------------------------------------------------------------
    def _endpoint(self, url: str) -> str:
        endpoint = self._endpoints.get(url)
        if endpoint is None:
            if len(self._endpoints) >= ENDPOINTS_KEPT:
                self._endpoints.clear()
            endpoint = self._endpoints[url] = endpoint_of(url)
        return endpoint

    def _misbehaviour(
        self, account: Account, delivery: Delivery, trigger: Trigger, due: float
    ) -> WebhookRule | None:
        """The scenario's webhook rule this attempt obeys (None: behave)."""
        if trigger == "manual" or delivery.held or not account.scenarios.any:
            return None
        try:
            url, _ = self.attempts.target(account, delivery, trigger)
        except LookupError:
            return None  # void: the attempt says so, and no rule counts it
        at = self.attempts.sent_at(account, due)
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

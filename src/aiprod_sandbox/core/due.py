"""Due work: what runs when an account's clock reaches an instant something was scheduled at,
and the only places that make it run.

Two kinds of work are scheduled (on the account's `Scheduler`, `clock.py`):
- a job step (`STEP_KIND`): the job book moves a job on, which emits its events; each event
  becomes a delivery per subscriber (`Sandbox` listens for them);
- a webhook attempt (`DELIVERY_KIND`): the runner hands the delivery to the sender that
  `create_app` connected (`webhooks/sender.py`), which starts it and returns at once. The
  attempt's outcome comes back through `Account.record_attempt`, whose retry decision
  (`deliveries.py`) may schedule the next attempt.

Three triggers run due work, and nothing else does:
1. every request, before its handler (so a read sees the present) and after it (so an instant
   job has finished, and sent its events, before the next request): `Account.catch_up`, from
   `api/operation.py`;
2. the ticker (`app.py`, every `TICK_SECONDS`: 50 ms), for accounts whose clock moves by itself:
   `Sandbox.run_all_due`;
3. a control call that moves the clock or the account's world: `POST /_sandbox/clock/advance`
   runs the work due up to its target in time order, waiting for each instant's webhook
   attempts (`Dispatcher.settle`); setting the clock and importing state run what is due now.
While a control call holds the account's lock, triggers 1 and 2 leave its work to that call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

from .deliveries import DELIVERY_KIND, Delivery
from .jobbook import STEP_KIND

if TYPE_CHECKING:
    from .accounts import Account

RanKind = Literal["job", "delivery"]  # a job's step (or its start from the queue), an attempt


class Ran(NamedTuple):
    """One piece of due work that ran: when it was due, what it was, what it did. A named
    tuple: every instant job makes five, in the request that submits it."""

    at: float
    kind: RanKind
    ref: str  # a job id, or a delivery id
    action: str  # "job.completed", "attempt 2", ...


class AttemptStarter(Protocol):
    """The sender: start the delivery's next scheduled attempt, due at `at`, without waiting
    for it; say what was started (None: nothing)."""

    def __call__(self, account: Account, delivery: Delivery, at: float) -> str | None: ...


class DueRunner:
    """Runs an account's due work, in time order. One per sandbox; `create_app` connects the
    sender. Without one (the core alone) a due attempt starts nothing and stays pending."""

    def __init__(self) -> None:
        self._start_attempt: AttemptStarter | None = None

    def connect_sender(self, start_attempt: AttemptStarter | None) -> None:
        self._start_attempt = start_attempt

    def run(self, account: Account, until: float | None = None) -> list[Ran]:
        """Run every piece of the account's work due by `until` (default: now); what ran."""
        ran: list[Ran] = []
        soonest = account.scheduler.next_at()
        if soonest is None:
            return ran  # nothing scheduled: what most requests find (without reading the clock)
        limit = account.now() if until is None else until
        if soonest > limit:
            return ran
        jobs = account.jobs
        for due in account.scheduler.pop_due(limit):
            what: str | None = None
            kind: RanKind = "job"
            if due.kind == STEP_KIND:
                what = jobs.run_step(due.ref, due.at)
            elif due.kind == DELIVERY_KIND:
                kind = "delivery"
                what = self._attempt(account, due.ref, due.at)
            if what is not None:
                ran.append(Ran(due.at, kind, due.ref, what))
            if jobs.started_from_queue:
                for at, job_id in jobs.take_started_from_queue():
                    ran.append(Ran(at, "job", job_id, "job.started"))
        return ran

    def _attempt(self, account: Account, delivery_id: str, at: float) -> str | None:
        delivery = account.deliveries.get(delivery_id)
        if delivery is None or delivery.status != "pending" or self._start_attempt is None:
            return None  # settled or forgotten since it was scheduled
        return self._start_attempt(account, delivery, at)

"""One account: its tier and limits, its keys, and its own world — clock, scheduler, jobs,
ids, webhooks, deliveries, journals, usage and scenario — so parallel tests with different
keys never meet. `registry.py` finds the account of a bearer key.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import TierFeatureUnavailable
from .catalog import Catalog, Preset, TierLimits
from .clock import Clock, ClockMode, Scheduler
from .deliveries import DELIVERY_KIND, Attempt, Delivery, DeliveryLog, RetryPolicy
from .due import DueRunner, Ran
from .ids import Draws, IdSource
from .jobbook import JobBook
from .jobs import Job, JobEvent, JobInput, fields_of
from .journal import Journal
from .keys import ApiKey
from .planner import plan_job
from .ratelimit import TokenBucket
from .scenarios import Scenario, ScenarioState
from .store import NO_CHANGES, Changes
from .tokens import Tokens
from .usage import AuditLog, Usage
from .webhooks import WebhookBook


@dataclass(frozen=True)
class Limits:
    requests_per_minute: int | None
    burst: int | None
    concurrent_jobs: int
    batch: bool

    @classmethod
    def of(cls, tier: TierLimits, overrides: dict[str, Any] | None = None) -> Limits:
        values = tier.model_dump()
        values.update(overrides or {})
        return cls(**TierLimits.model_validate(values).model_dump())


EventListener = Callable[["Account", JobEvent], None]


@dataclass
class Account:
    account_id: str
    tier: str
    limits: Limits
    clock: Clock
    ids: IdSource
    seed: int
    job_timing: str
    catalog: Catalog
    max_jobs: int
    journal_size: int
    journal_bytes: int
    journal_body_bytes: int
    fixture: bool = False
    tokens: Tokens = field(default_factory=Tokens)  # shared by all accounts
    keys: dict[str, ApiKey] = field(default_factory=dict)
    # The keys it began with (the key that opened it, or its fixture's), as they began: a
    # reset with keys puts them back, and they may ask for that even when revoked or dropped.
    origin_keys: tuple[ApiKey, ...] = ()
    scheduler: Scheduler = field(default_factory=Scheduler)
    runner: DueRunner = field(default_factory=DueRunner)  # shared by all accounts
    listeners: list[EventListener] = field(default_factory=list)  # shared by all accounts
    callback_secret: str = ""
    presets: tuple[Preset, ...] | None = None  # the account's own, in place of the catalogue's
    jobs: JobBook = field(init=False)
    request_ids: IdSource = field(init=False)  # a stream of their own: reads shift no other id
    imports: int = 0  # state documents imported (each starts the ids on a sequence of its own)
    restarts: int = 0  # times a store brought it back (each starts a sequence of its own too)
    changed_settings: bool = False  # its clock, timing or tier set through the control API
    last_used: float = 0.0  # wall time of its last request (which accounts are idle)
    delayed: int = 0  # requests its scenario is holding now (a delay), bounded in faults.py
    verifying: int = 0  # verifications waiting now, bounded in api/verify.py
    attempts_recorded: int = 0  # webhook attempts whose outcome came back, ever
    # Held by control operations that change the account's world (advance, import, reset,
    # the clock): one at a time, so an import never lands in the middle of an advance.
    control: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    journal: Journal = field(init=False)
    events: deque[JobEvent] = field(init=False)
    webhooks: WebhookBook = field(init=False)
    deliveries: DeliveryLog = field(init=False)
    bucket: TokenBucket = field(init=False)
    usage: Usage = field(default_factory=Usage)
    audit: AuditLog = field(init=False)
    limit_overrides: dict[str, Any] | None = None
    server_scenarios: list[Scenario] = field(default_factory=list)  # shared by all accounts
    scenarios: ScenarioState = field(init=False)
    base_tier: str = field(init=False)
    _before_scenario: tuple[str, ClockMode] | None = field(default=None, init=False)
    _changes: Changes = field(default=NO_CHANGES, init=False, repr=False)

    def __post_init__(self) -> None:
        self.jobs = JobBook(
            self.scheduler,
            concurrency=lambda: self.limits.concurrent_jobs,
            emit=self.events_append,
            max_jobs=self.max_jobs,
        )
        self.request_ids = IdSource(self.seed, self.account_id, "requests")
        self.journal = Journal(self.journal_size, self.journal_bytes, self.journal_body_bytes)
        self.events = deque(maxlen=self.journal_size)
        self.webhooks = WebhookBook()
        self.deliveries = DeliveryLog(self.journal_size)
        self.bucket = self.new_bucket()
        self.audit = AuditLog(self.journal_size)
        self.base_tier = self.tier
        self.scenarios = ScenarioState(
            self.seed, self.account_id, self.server_scenarios, self.now()
        )
        self.callback_secret = self.tokens.webhook_secret()

    @property
    def changes(self) -> Changes:
        """What changed since the store last wrote the account (`store.py`)."""
        return self._changes

    @changes.setter
    def changes(self, changes: Changes) -> None:
        self._changes = self.jobs.changes = self.deliveries.changes = changes

    def events_append(self, event: JobEvent) -> None:
        self.events.append(event)
        for listener in self.listeners:
            listener(self, event)

    def now(self) -> float:
        return self.clock.now()

    def set_tier(self, tier: str) -> None:
        """Take a tier's limits (a scenario may do this); the bucket starts full. A fixture's
        own limit overrides apply to its own tier only."""
        self.tier = tier
        overrides = self.limit_overrides if tier == self.base_tier else None
        self.limits = Limits.of(self.catalog.tiers[tier], overrides)
        self.bucket = self.new_bucket()

    def use_scenario(self, scenario: Scenario | None) -> None:
        """Switch the account's own scenario on (or off, with None) and apply its settings;
        switching it off gives back the tier, clock mode and timing it had before."""
        if self._before_scenario is not None:
            self.job_timing, mode = self._before_scenario
            self._before_scenario = None
            if self.clock.mode != mode:
                self.clock.set(mode=mode)
        self.scenarios.activate(scenario, self.now())
        self.set_tier(scenario.tier if scenario and scenario.tier else self.base_tier)
        if scenario is not None and (scenario.clock or scenario.job_timing):
            self._before_scenario = (self.job_timing, self.clock.mode)
            if scenario.clock is not None:
                self.clock.set(mode=scenario.clock)
            if scenario.job_timing is not None:
                self.job_timing = scenario.job_timing

    @property
    def before_scenario(self) -> tuple[str, ClockMode] | None:
        """The account's own timing and clock mode while its scenario sets others."""
        return self._before_scenario

    @before_scenario.setter
    def before_scenario(self, before: tuple[str, ClockMode] | None) -> None:
        self._before_scenario = before

    @property
    def own_settings(self) -> tuple[str, ClockMode]:
        """Job timing and clock mode as the account set them, beneath any scenario's."""
        return self._before_scenario or (self.job_timing, self.clock.mode)

    def is_empty(self) -> bool:
        """Nothing in it but what any new account has: no jobs, webhooks, deliveries, keys of
        its own, scenario, presets or settings changed. Letting it go loses nothing."""
        return (
            not len(self.jobs)
            and not len(self.webhooks)
            and not len(self.deliveries)
            and len(self.keys) == 1
            and all(key.revoked_at is None for key in self.keys.values())
            and self.scenarios.own is None
            and self.presets is None
            and self.imports == 0
            and not self.changed_settings
        )

    def release(self) -> None:
        """Drop what the account holds, at once: it has been let go, and its objects may live
        on a while (in a request being answered, or frozen from the collector)."""
        self.jobs.clear()
        self.scheduler.clear()
        self.journal.clear()
        self.events.clear()
        self.webhooks.clear()
        self.deliveries.clear()
        self.audit.clear()
        self.changes.everything()

    def new_bucket(self) -> TokenBucket:
        return TokenBucket(self.limits.requests_per_minute, self.limits.burst, self.now())

    @property
    def preset_list(self) -> tuple[Preset, ...]:
        return self.catalog.presets if self.presets is None else self.presets

    def preset(self, preset_id: str) -> Preset | None:
        return next((p for p in self.preset_list if p.id == preset_id), None)

    def is_origin(self, key: ApiKey) -> bool:
        """Whether `key` is one the account began with (see `origin_keys`)."""
        return any(first.secret == key.secret for first in self.origin_keys)

    def reset(self, clock: Clock, job_timing: str) -> None:
        """Forget everything the account did; keep the account and its keys."""
        self.release()
        self.presets = None
        self.clock = clock
        self.job_timing = job_timing
        self.changed_settings = False
        self.usage = Usage()
        self.scenarios.reset(self.now())
        self._before_scenario = None
        self.set_tier(self.base_tier)

    def submit_job(
        self,
        job_input: JobInput,
        metadata: dict[str, str],
        *,
        batch_id: str | None = None,
    ) -> Job:
        job_id = self.ids.new("job")
        rng = Draws(self.seed, self.account_id, job_id)
        preset = self.preset(job_input.preset) if job_input.preset else None
        rule = (
            self.scenarios.job_rule(fields_of(job_input), self.now())
            if self.scenarios.any
            else None
        )
        plan = plan_job(
            self.catalog,
            job_input,
            preset,
            rng,
            simulated=self.job_timing == "simulated",
            rule=rule,
        )
        return self.jobs.submit(job_id, job_input, metadata, plan, self.now(), batch_id=batch_id)

    def ensure_batch(self) -> None:
        """403 unless the account's tier has batches (Pro and Enterprise)."""
        if not self.limits.batch:
            raise TierFeatureUnavailable(
                "Your tier does not support batch processing",
                details={"tier": f"{self.tier} (batch needs Pro or Enterprise)"},
            )

    def submit_batch(self, items: list[tuple[JobInput, dict[str, str]]]) -> tuple[str, list[Job]]:
        """A batch: its id, and a job per item, each carrying the batch's id."""
        self.ensure_batch()
        batch_id = self.ids.new("batch")
        jobs = [self.submit_job(job_input, meta, batch_id=batch_id) for job_input, meta in items]
        return batch_id, jobs

    def catch_up(self) -> list[Ran]:
        """Run what is due now, as every request and the ticker do, unless a control
        operation holds the account: an advance runs its work itself, in time order, waiting
        for each instant's webhook attempts, and lists it (see `due.py`)."""
        return [] if self.control.locked() else self.run_due()

    def run_due(self, until: float | None = None) -> list[Ran]:
        """Run every piece of work due by `until` (default: now), in time order; what ran."""
        return self.runner.run(self, until)

    def hold_delivery(self, delivery: Delivery, until: float, why: str, note: str) -> None:
        """A scenario holds the delivery's next attempt back until `until`, on purpose."""
        delivery.held, delivery.next_attempt_at, delivery.note = why, until, note
        self.changes.delivery(delivery.delivery_id)
        self.scheduler.schedule(until, DELIVERY_KIND, delivery.delivery_id)

    def record_attempt(self, delivery: Delivery, attempt: Attempt, policy: RetryPolicy) -> None:
        """An attempt's outcome: the delivery settles, or its next attempt is scheduled."""
        following = self.deliveries.record(delivery, attempt, policy)
        self.attempts_recorded += 1
        delivery.last_recorded = self.attempts_recorded
        if following is not None:
            self.scheduler.schedule(following, DELIVERY_KIND, delivery.delivery_id)

"""Accounts and their keys: who a bearer key is, its tier, its scopes, and its own world.

Every well-formed test key not seen before starts a fresh account (unless keys are strict);
each account owns its clock, scheduler, jobs, ids, journals and settings, so parallel tests
with different keys never meet. The registry is bounded: past `max_accounts` the account used
longest ago is forgotten (fixture accounts never are).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import AuthError, KeyRevoked, LiveKeyInSandbox, MissingApiKey
from ..settings import Settings
from .catalog import Catalog, Preset, TierLimits
from .clock import Clock, ClockMode, Due, Scheduler, WallTime, parse_iso, system_time
from .deliveries import DeliveryLog
from .ids import Draws, IdSource, derive
from .jobbook import STEP_KIND, JobBook
from .jobs import Job, JobEvent, JobInput, fields_of
from .keys import KEY_FORMAT, LIVE_PREFIX, SCOPES, TEST_KEY, ApiKey, tier_of_key
from .planner import plan_job
from .ratelimit import TokenBucket
from .scenarios import Scenario, ScenarioState
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


StepHandler = Callable[["Account", Due], str | None]
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
    fixture: bool = False
    keys: dict[str, ApiKey] = field(default_factory=dict)
    scheduler: Scheduler = field(default_factory=Scheduler)
    handlers: dict[str, StepHandler] = field(default_factory=dict)  # shared by all accounts
    listeners: list[EventListener] = field(default_factory=list)  # shared by all accounts
    callback_secret: str = ""
    presets: tuple[Preset, ...] | None = None  # the account's own, in place of the catalogue's
    jobs: JobBook = field(init=False)
    request_ids: IdSource = field(init=False)  # a stream of their own: reads shift no other id
    imports: int = 0  # state documents imported (each starts the ids on a sequence of its own)
    journal: deque[dict[str, Any]] = field(init=False)
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

    def __post_init__(self) -> None:
        self.jobs = JobBook(
            self.scheduler,
            concurrency=lambda: self.limits.concurrent_jobs,
            emit=self.events_append,
            max_jobs=self.max_jobs,
        )
        self.request_ids = IdSource(self.seed, self.account_id, "requests")
        self.journal = deque(maxlen=self.journal_size)
        self.events = deque(maxlen=self.journal_size)
        self.webhooks = WebhookBook()
        self.deliveries = DeliveryLog(self.journal_size)
        self.bucket = self.new_bucket()
        self.audit = AuditLog(self.journal_size)
        self.base_tier = self.tier
        self.scenarios = ScenarioState(
            self.seed, self.account_id, self.server_scenarios, self.now()
        )
        self.callback_secret = "whsec_" + self.ids.token(32)

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
    def own_settings(self) -> tuple[str, ClockMode]:
        """Job timing and clock mode as the account set them, beneath any scenario's."""
        return self._before_scenario or (self.job_timing, self.clock.mode)

    def new_bucket(self) -> TokenBucket:
        return TokenBucket(self.limits.requests_per_minute, self.limits.burst, self.now())

    @property
    def preset_list(self) -> tuple[Preset, ...]:
        return self.catalog.presets if self.presets is None else self.presets

    def preset(self, preset_id: str) -> Preset | None:
        return next((p for p in self.preset_list if p.id == preset_id), None)

    def reset(self, clock: Clock, job_timing: str) -> None:
        """Forget everything the account did; keep the account and its keys."""
        self.jobs.clear()
        self.scheduler.clear()
        self.journal.clear()
        self.events.clear()
        self.webhooks.clear()
        self.deliveries.clear()
        self.presets = None
        self.clock = clock
        self.job_timing = job_timing
        self.usage = Usage()
        self.audit.clear()
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

    def run_due(self, until: float | None = None) -> list[dict[str, Any]]:
        """Run every step due by `until` (default: now), in time order; return what ran."""
        limit = self.now() if until is None else until
        ran: list[dict[str, Any]] = []
        for due in self.scheduler.pop_due(limit):
            if due.kind == STEP_KIND:
                what = self.jobs.run_step(due.ref, due.at)
            else:
                handler = self.handlers.get(due.kind)
                what = handler(self, due) if handler else None
            if what is not None:
                ran.append({"at": due.at, "kind": due.kind, "ref": due.ref, "action": what})
            if self.jobs.started_from_queue:
                for at, job_id in self.jobs.take_started_from_queue():
                    ran.append({"at": at, "kind": "job", "ref": job_id, "action": "job.started"})
        return ran


class Accounts:
    """The registry: finds the account of a bearer key, creating it when the rules allow."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        wall: WallTime = system_time,
        scenarios: list[Scenario] | None = None,
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._wall = wall
        self._accounts: OrderedDict[str, Account] = OrderedDict()
        self._by_key: dict[str, tuple[str, str]] = {}  # secret -> (account_id, key_id)
        self.handlers: dict[str, StepHandler] = {}
        self.listeners: list[EventListener] = []
        self.server_scenarios: list[Scenario] = list(scenarios or [])
        self._busy: set[str] = set()  # accounts that may have scheduled work
        self.released = 0  # accounts forgotten so far (their objects are garbage now)
        for spec in catalog.accounts:
            account = self._new_account(
                spec.account_id, spec.tier, fixture=True, overrides=spec.limits
            )
            for given in spec.keys:
                key = self.add_key(
                    account, given.key, given.name, given.scopes, key_id=given.key_id
                )
                key.created_at = parse_iso(given.created_at) if given.created_at else key.created_at
                key.last_used_at = parse_iso(given.last_used_at) if given.last_used_at else None
                key.revoked_at = parse_iso(given.revoked_at) if given.revoked_at else None

    def __iter__(self) -> Iterator[Account]:
        return iter(list(self._accounts.values()))

    def __len__(self) -> int:
        return len(self._accounts)

    def new_clock(self) -> Clock:
        settings = self._settings
        mode: ClockMode = "manual" if settings.clock == "manual" else "real"
        if mode == "real" and settings.time_scale != 1.0:
            mode = "scaled"
        return Clock(self._wall, mode=mode, start=settings.start_time, scale=settings.time_scale)

    def _new_account(
        self,
        account_id: str,
        tier: str,
        *,
        fixture: bool = False,
        overrides: dict[str, Any] | None = None,
    ) -> Account:
        settings = self._settings
        account = Account(
            account_id=account_id,
            tier=tier,
            limits=Limits.of(self._catalog.tiers[tier], overrides),
            limit_overrides=overrides,
            clock=self.new_clock(),
            ids=IdSource(settings.seed, account_id),
            seed=settings.seed,
            job_timing=settings.job_timing,
            catalog=self._catalog,
            max_jobs=settings.max_jobs_per_account,
            journal_size=settings.journal_size,
            fixture=fixture,
            handlers=self.handlers,
            listeners=self.listeners,
            server_scenarios=self.server_scenarios,
        )
        account.scheduler.on_schedule = lambda: self._busy.add(account_id)
        self.apply_server_scenarios(account)
        self._accounts[account_id] = account
        self._evict(keep=account_id)
        return account

    def apply_server_scenarios(self, account: Account) -> None:
        """`serve --scenario` settings (tier, clock mode, timing) on a new or reset account."""
        for scenario in self.server_scenarios:
            if scenario.tier:
                account.base_tier = scenario.tier
                account.set_tier(scenario.tier)
            if scenario.clock:
                account.clock.set(mode=scenario.clock)
            if scenario.job_timing:
                account.job_timing = scenario.job_timing

    def _evict(self, keep: str) -> None:
        while len(self._accounts) > self._settings.max_accounts:
            victim = next(
                (a for a in self._accounts.values() if not a.fixture and a.account_id != keep),
                None,
            )
            if victim is None:
                return
            self.forget(victim)

    def busy(self) -> list[Account]:
        """Accounts with scheduled work (the ticker's round), forgetting the idle ones."""
        found = []
        for account_id in list(self._busy):
            account = self._accounts.get(account_id)
            if account is None or not len(account.scheduler):
                self._busy.discard(account_id)
            else:
                found.append(account)
        return found

    def forget(self, account: Account) -> None:
        self.released += 1
        self._accounts.pop(account.account_id, None)
        self._busy.discard(account.account_id)
        for key in account.keys.values():
            self._by_key.pop(key.secret, None)

    def add_key(
        self,
        account: Account,
        secret: str,
        name: str,
        scopes: list[str] | None = None,
        *,
        key_id: str | None = None,
    ) -> ApiKey:
        key = ApiKey(
            key_id=key_id or account.ids.new("key", 12),
            name=name,
            secret=secret,
            scopes=frozenset(SCOPES if scopes is None else scopes),
            created_at=account.now(),
        )
        account.keys[key.key_id] = key
        self._by_key[secret] = (account.account_id, key.key_id)
        return key

    def create_key(self, account: Account, name: str, scopes: list[str] | None) -> ApiKey:
        """A new key of the account (`POST /keys`): same account, same tier."""
        return self.add_key(account, "sk_test_" + account.ids.token(32), name, scopes)

    def owner_of(self, secret: str) -> str | None:
        """The id of the account a key belongs to, if any."""
        found = self._by_key.get(secret)
        return found[0] if found else None

    def replace_keys(self, account: Account, keys: list[ApiKey]) -> None:
        """The account's keys become exactly `keys` (a state import); the old ones stop working."""
        for old in account.keys.values():
            self._by_key.pop(old.secret, None)
        account.keys = {key.key_id: key for key in keys}
        for key in keys:
            self._by_key[key.secret] = (account.account_id, key.key_id)

    def get(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def lookup(self, secret: str) -> tuple[Account, ApiKey] | None:
        found = self._by_key.get(secret)
        if found is None:
            return None
        account = self._accounts[found[0]]
        return account, account.keys[found[1]]

    def authenticate(self, authorization: str | None) -> tuple[Account, ApiKey]:
        """The account and key of an `Authorization` header, or the contract's 401."""
        account, key = self.identify(authorization)
        if key.revoked_at is not None:
            raise KeyRevoked()
        return account, key

    def identify(self, authorization: str | None) -> tuple[Account, ApiKey]:
        """Like `authenticate`, but a revoked key is returned (the caller audits, then refuses)."""
        if not authorization:
            raise MissingApiKey()
        scheme, _, secret = authorization.strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise AuthError(details={"Authorization": "send 'Authorization: Bearer sk_test_...'"})
        if secret.startswith(LIVE_PREFIX):
            raise LiveKeyInSandbox()
        found = self.lookup(secret)
        if found is None:
            if not TEST_KEY.fullmatch(secret):
                raise AuthError(details={"key": KEY_FORMAT})
            if self._settings.strict_keys:
                raise AuthError(details={"key": "unknown key (the sandbox runs with strict keys)"})
            account_id = "acct_" + format(derive(self._settings.seed, "account", secret), "x")
            account = self._new_account(
                account_id, tier_of_key(secret, self._settings.default_tier)
            )
            self.add_key(account, secret, "Default key")
            found = self.lookup(secret)
            assert found is not None
        account, key = found
        self._accounts.move_to_end(account.account_id)
        return account, key

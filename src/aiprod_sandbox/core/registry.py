"""The registry of accounts: finds the account of a bearer key, creating it when the rules
allow. Every well-formed test key not seen before starts a fresh account (unless keys are
strict), within two bounds that keep one client from crowding out the others:

- each client address opens at most `new_accounts_burst` accounts at once, then
  `new_accounts_per_second` (429 past that, with Retry-After);
- at most `max_accounts` accounts besides the fixture ones. At the bound, the least recently
  used account that is empty (nothing but its first key) and idle for `account_idle_seconds`
  is let go, with a line in the log; an account with anything in it never is: with no room,
  a new key gets 503.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from ..errors import (
    AuthError,
    LiveKeyInSandbox,
    RateLimited,
    ServiceUnavailable,
)
from .accounts import Account, EventListener, Limits
from .catalog import Catalog
from .clock import Clock, ClockMode, WallTime, parse_iso, system_time
from .config import CoreConfig
from .due import DueRunner
from .ids import IdSource, derive
from .keys import KEY_FORMAT, LIVE_PREFIX, MAX_KEY_LENGTH, SCOPES, TEST_KEY, ApiKey
from .ratelimit import TokenBucket
from .scenarios import Scenario
from .store import MemoryStore, Store
from .tiers import tier_of_key
from .tokens import Tokens

log = logging.getLogger("aiprod_sandbox")
MAX_CLIENTS = 10_000  # client addresses whose account openings are counted (oldest forgotten)


class Accounts:
    """The registry: finds the account of a bearer key, creating it when the rules allow."""

    def __init__(
        self,
        config: CoreConfig,
        catalog: Catalog,
        wall: WallTime = system_time,
        scenarios: list[Scenario] | None = None,
        *,
        tokens: Tokens | None = None,
        account_ref: Callable[[str], str] | None = None,
        store: Store | None = None,
    ) -> None:
        self._config = config
        self.store: Store = store or MemoryStore()
        self.tokens = tokens or Tokens()
        self._account_ref = account_ref  # how result links name an account (see links.py)
        self._by_ref: dict[str, str] = {}
        self._catalog = catalog
        self._wall = wall
        self._accounts: OrderedDict[str, Account] = OrderedDict()
        self._by_key: dict[str, tuple[str, str]] = {}  # secret -> (account_id, key_id)
        self._by_origin: dict[str, str] = {}  # secret of an account's first key -> account_id
        self.runner = DueRunner()  # runs every account's due work; the app connects the sender
        self.listeners: list[EventListener] = []
        self.server_scenarios: list[Scenario] = list(scenarios or [])
        self._busy: set[str] = set()  # accounts that may have scheduled work
        self._opened = 0  # accounts opened by keys (fixture accounts are not counted)
        self._openers: OrderedDict[str, TokenBucket] = OrderedDict()  # client → new accounts
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
            self._remember_origin(account)

    def __iter__(self) -> Iterator[Account]:
        return iter(list(self._accounts.values()))

    def __len__(self) -> int:
        return len(self._accounts)

    def new_clock(self) -> Clock:
        config = self._config
        mode: ClockMode = "manual" if config.clock == "manual" else "real"
        if mode == "real" and config.time_scale != 1.0:
            mode = "scaled"
        return Clock(self._wall, mode=mode, start=config.start_time, scale=config.time_scale)

    def _new_account(
        self,
        account_id: str,
        tier: str,
        *,
        fixture: bool = False,
        overrides: dict[str, Any] | None = None,
    ) -> Account:
        config = self._config
        account = Account(
            account_id=account_id,
            tier=tier,
            limits=Limits.of(self._catalog.tiers[tier], overrides),
            limit_overrides=overrides,
            clock=self.new_clock(),
            ids=IdSource(config.seed, account_id),
            seed=config.seed,
            job_timing=config.job_timing,
            catalog=self._catalog,
            max_jobs=config.max_jobs_per_account,
            journal_size=config.journal_size,
            journal_bytes=config.journal_bytes,
            journal_body_bytes=config.journal_body_bytes,
            fixture=fixture,
            tokens=self.tokens,
            runner=self.runner,
            listeners=self.listeners,
            server_scenarios=self.server_scenarios,
        )
        account.scheduler.on_schedule = lambda: self._busy.add(account_id)
        self.store.watch(account)
        if self._account_ref is not None:
            self._by_ref[self._account_ref(account_id)] = account_id
        self.apply_server_scenarios(account)
        account.last_used = self._wall()
        self._accounts[account_id] = account
        self._opened += not fixture
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

    def _make_room(self, client: str) -> None:
        """Before a key opens a new account: the client has not opened too many lately (429),
        and there is room, if need be by letting go the least recently used account that is
        empty and idle. An account with anything in it is never let go: with no room, 503."""
        config = self._config
        now = self._wall()
        bucket = self._openers.get(client)
        if bucket is None:
            per_minute = max(1, round(config.new_accounts_per_second * 60))
            bucket = TokenBucket(per_minute, config.new_accounts_burst, now)
            self._openers[client] = bucket
            while len(self._openers) > MAX_CLIENTS:
                self._openers.popitem(last=False)
        self._openers.move_to_end(client)
        decision = bucket.take(now)
        if not decision.allowed:
            raise RateLimited(
                decision.retry_after,
                "Too many new accounts from this client: reuse keys, or wait "
                f"{decision.retry_after} s",
            )
        if self._opened < config.max_accounts:
            return
        idle_since = now - config.account_idle_seconds
        for account in self._accounts.values():  # least recently used first
            if account.last_used > idle_since:
                break  # the rest were used more recently still
            if not account.fixture and account.is_empty():
                log.warning(
                    "let go of %s (empty, unused for %.0f s) to make room for a new account",
                    account.account_id,
                    now - account.last_used,
                )
                self.forget(account)
                return
        raise ServiceUnavailable(
            f"The sandbox holds its maximum of {config.max_accounts} accounts, none of "
            "them empty and idle: reset or revoke some, or retry later",
            headers={"Retry-After": str(max(1, math.ceil(config.account_idle_seconds)))},
        )

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
        if self._accounts.pop(account.account_id, None) is not None and not account.fixture:
            self._opened -= 1
        account.release()
        self.store.forget(account.account_id)
        self._busy.discard(account.account_id)
        if self._account_ref is not None:
            self._by_ref.pop(self._account_ref(account.account_id), None)
        for key in account.keys.values():
            self._by_key.pop(key.secret, None)
        for key in account.origin_keys:
            self._by_origin.pop(key.secret, None)

    def _remember_origin(self, account: Account) -> None:
        account.origin_keys = tuple(replace(key) for key in account.keys.values())
        for key in account.origin_keys:
            self._by_origin[key.secret] = account.account_id

    def adopt_origin(self, account: Account, keys: list[ApiKey]) -> None:
        """The keys the account began with, as a store kept them."""
        for key in account.origin_keys:
            self._by_origin.pop(key.secret, None)
        account.origin_keys = tuple(keys)
        for key in keys:
            self._by_origin[key.secret] = account.account_id

    def restore(self, account_id: str, tier: str) -> Account:
        """An account a store kept, opened again empty (its world comes back next)."""
        found = self._accounts.get(account_id)
        return found if found is not None else self._new_account(account_id, tier)

    def restore_keys(self, account: Account) -> None:
        """The account's keys become those it began with, as they began (a reset with keys):
        every key made or imported since stops working."""
        self.replace_keys(account, [replace(key) for key in account.origin_keys])

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
        return self.add_key(account, self.tokens.api_key(), name, scopes)

    def owner_of(self, secret: str) -> str | None:
        """The id of the account a key belongs to, if any."""
        found = self._by_key.get(secret)
        return found[0] if found else self._by_origin.get(secret)

    def replace_keys(self, account: Account, keys: list[ApiKey]) -> None:
        """The account's keys become exactly `keys` (a state import); the old ones stop working."""
        for old in account.keys.values():
            self._by_key.pop(old.secret, None)
        account.keys = {key.key_id: key for key in keys}
        for key in keys:
            self._by_key[key.secret] = (account.account_id, key.key_id)

    def by_ref(self, account_ref: str) -> Account | None:
        """The account a result link names (by `Links.account_ref`)."""
        account_id = self._by_ref.get(account_ref)
        return None if account_id is None else self._accounts.get(account_id)

    def get(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def lookup(self, secret: str) -> tuple[Account, ApiKey] | None:
        found = self._by_key.get(secret)
        if found is None:
            return self._dropped_origin(secret)
        account = self._accounts[found[0]]
        return account, account.keys[found[1]]

    def _dropped_origin(self, secret: str) -> tuple[Account, ApiKey] | None:
        """A first key that a state import dropped: it acts as a revoked key of its account
        (which it may still reset with keys), never as the opener of a second account."""
        account = self._accounts.get(self._by_origin.get(secret, ""))
        if account is None:
            return None
        first = next(key for key in account.origin_keys if key.secret == secret)
        return account, replace(first, revoked_at=first.revoked_at or account.now())

    def identify(self, secret: str, client: str = "") -> tuple[Account, ApiKey]:
        """The account of a key (the HTTP layer takes it from the `Authorization` header), or
        the contract's 401; a revoked key is returned too (the caller audits, then refuses).
        `client` (its address) is who opens an account with a well-formed key not seen before."""
        if len(secret) > MAX_KEY_LENGTH:  # no work, and no account, for a huge one
            raise AuthError(details={"key": KEY_FORMAT})
        if secret.startswith(LIVE_PREFIX):
            raise LiveKeyInSandbox()
        found = self.lookup(secret)
        if found is None:
            if not TEST_KEY.fullmatch(secret):
                raise AuthError(details={"key": KEY_FORMAT})
            if self._config.strict_keys:
                raise AuthError(details={"key": "unknown key (the sandbox runs with strict keys)"})
            account_id = "acct_" + format(derive(self._config.seed, "account", secret), "x")
            self._make_room(client)
            account = self._new_account(account_id, tier_of_key(secret, self._config.default_tier))
            self.add_key(account, secret, "Default key")
            self._remember_origin(account)
            found = self.lookup(secret)
            assert found is not None
        account, key = found
        self._accounts.move_to_end(account.account_id)
        account.last_used = self._wall()
        return account, key

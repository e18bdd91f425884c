"""The sandbox's domain root: configuration, catalogue, accounts, server ids and links, no HTTP.

`create_app` builds one `Sandbox` and hangs the HTTP surface on it; the pytest plugin and the
tests can drive it directly. Two sandboxes in one process share nothing.
"""

from __future__ import annotations

import secrets
from collections import deque

from ..errors import ConfigError, SandboxError
from .accounts import Account
from .advisor import Finding, advise, facts_of, server_findings, summary_lines
from .catalog import Catalog, load_catalog
from .clock import WallTime, system_time
from .config import CoreConfig
from .ids import IdSource
from .jobs import JobEvent
from .links import Links
from .registry import Accounts
from .scenarios import Scenario, library, resolve
from .snapshot import import_state, restore_stored, state_from_fixture
from .store import MemoryStore, Store
from .tokens import Tokens
from .urls import local_url
from .webhooks import fan_out


class Sandbox:
    def __init__(
        self,
        config: CoreConfig,
        *,
        catalog: Catalog | None = None,
        wall: WallTime = system_time,
        tokens: Tokens | None = None,
        store: Store | None = None,
    ) -> None:
        self.config = config
        self.store: Store = store or MemoryStore()
        self.store.bind(lambda: self.scenario_library)
        self.catalog = catalog if catalog is not None else load_catalog(config.fixtures)
        self.wall = wall
        self._library: dict[str, Scenario] | None = None
        server_scenarios = [resolve(name, self.scenario_library) for name in config.scenarios]
        # Random per server unless configured: a link can be made only by this server.
        link_secret = config.link_secret or self.store.secret(
            "links", lambda: secrets.token_hex(32)
        )
        self.links = Links(link_secret, config.link_ttl_seconds)
        self.accounts = Accounts(
            config,
            self.catalog,
            wall,
            server_scenarios,
            tokens=tokens,
            account_ref=self.links.account_ref,
            store=self.store,
        )
        self.ids = IdSource(config.seed, "server")
        self.request_ids = IdSource(config.seed, "server", "requests")  # before an account
        self.unexpected_errors: deque[BaseException] = deque(maxlen=100)
        # (request id, User-Agent) of requests made with sk_live_ keys, server-wide
        self.live_key_requests: deque[tuple[str, str]] = deque(maxlen=config.journal_size)
        self.retry_policy = config.retry
        self.base_url = config.base_url
        self.accounts.listeners.append(self._on_event)
        self._preload()
        self._restore()

    @property
    def scenario_library(self) -> dict[str, Scenario]:
        """The shipped scenarios, read on first use (start-up does not pay for them)."""
        if self._library is None:
            self._library = library()
        return self._library

    def _on_event(self, account: Account, event: JobEvent) -> None:
        if not account.webhooks.wanting(event.event):
            job = account.jobs.find(event.job_id)
            if job is None or not job.callback_url:
                return  # nobody to tell: no link to sign, no payload to build
        link = ""
        if event.event == "job.completed":
            link = self.links.make(self.base_url, account.account_id, event.job_id, event.at)
        fan_out(account, event, link)

    def set_served_at(self, host: str, port: int) -> None:
        """Where the server really listens (port 0 becomes a real port): links in webhooks."""
        if not self.config.pinned_base_url:
            self.base_url = local_url(host, port)

    def _preload(self) -> None:
        """Fixture accounts start with the webhooks and jobs their fixture file lists (checked
        with the file, by `catalog.py`, as state document entries)."""
        for spec in self.catalog.accounts:
            account = self.accounts.get(spec.account_id)
            if account is None or not (spec.jobs or spec.webhooks):
                continue
            document = state_from_fixture(spec.jobs, spec.webhooks, self.catalog)
            try:
                import_state(
                    account, document, registry=self.accounts, library=self.scenario_library
                )
            except SandboxError as exc:
                problems = "; ".join(f"{k}: {v}" for k, v in (exc.details or {}).items())
                raise ConfigError(
                    f"accounts.yaml: {spec.account_id}: {problems or exc.message}"
                ) from exc

    def _restore(self) -> None:
        """Bring back every account the store kept, with the work it has pending: what fell
        due while the server was down runs on the next tick, in time order."""
        for stored in self.store.load():
            tier = str(stored.head.get("tier") or self.config.default_tier)
            account = self.accounts.restore(stored.account_id, tier)
            restore_stored(account, stored, registry=self.accounts, library=self.scenario_library)
            self.store.loaded(account)

    def reset(self, account: Account, *, keys: bool = False) -> None:
        """Clear the account's world; its clock and timing go back to the server's defaults.
        With `keys`, its keys too go back to those it began with."""
        account.reset(self.accounts.new_clock(), self.config.job_timing)
        if keys:
            self.accounts.restore_keys(account)
        self.accounts.apply_server_scenarios(account)

    def run_all_due(self) -> int:
        """Run due work of every account whose clock moves by itself, and commit every
        account that changed to the store; return steps run."""
        ran = 0
        for account in self.accounts.busy():
            if account.clock.mode != "manual":
                ran += len(account.catch_up())
        self.store.commit_dirty()
        return ran

    def advice(self, account: Account) -> list[Finding]:
        """The advisor's findings for the account (see `core/advisor.py`): only what the
        account's own keys did. Requests with a `sk_live_` key are never among them: such a
        key names no account, and no User-Agent or connection proves which account's client
        sent it, so `advice_summary` reports them for the whole server instead."""
        return advise(facts_of(account), self.catalog.advice)

    def advice_summary(self) -> list[str]:
        """Each finding of every account: a line, and under it a line of its evidence (the
        request and delivery ids a partner finds in their own logs). `serve` prints them when
        it stops, when there is no server left to ask for the evidence."""
        owned = [(account.account_id, self.advice(account)) for account in self.accounts]
        live = [request_id for request_id, _ in self.live_key_requests]
        owned.append(("server", server_findings(live, self.catalog.advice)))
        return summary_lines(owned)

    def record_error(self, exc: BaseException) -> None:
        """Keep an unexpected exception (the pytest plugin re-raises it in the test)."""
        self.unexpected_errors.append(exc)

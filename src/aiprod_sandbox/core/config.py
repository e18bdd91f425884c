"""What the core is configured with: the part of the server's settings the domain reads.

`Settings.core()` (`settings.py`) builds one from flags, variables and defaults; the core never
sees the rest (the HTTP parser, the admin token, body limits) and never imports `settings.py`.
Tests may build one directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .deliveries import RetryPolicy


@dataclass(frozen=True)
class CoreConfig:
    seed: int  # ids, scores and costs: the same seed, the same answers
    clock: str  # new accounts' clock: "real" or "manual" (a time_scale makes "real" scaled)
    time_scale: float
    start_time: float | None  # where manual clocks start (None: now)
    job_timing: str  # new accounts' timing: "instant" or "simulated"
    default_tier: str  # the tier of a key that names none
    strict_keys: bool  # only fixture keys and keys made through the API
    fixtures: Path | None  # a folder overriding the shipped fixtures, file by file
    scenarios: tuple[str, ...]  # scenarios on for every account (names or files)
    base_url: str  # where result links in webhooks point, until the server knows its port
    pinned_base_url: bool  # base_url was given (--public-url): the port never changes it
    link_secret: str | None  # None: a random one per server
    link_ttl_seconds: float
    retry: RetryPolicy
    # Bounds that keep memory and one account's reach in check
    max_accounts: int
    new_accounts_burst: int
    new_accounts_per_second: float
    account_idle_seconds: float
    max_jobs_per_account: int
    journal_size: int
    journal_bytes: int  # evidence (headers, bodies) an account's journal keeps at most
    journal_body_bytes: int  # of each body

"""The soak's accounts: client groups share one, move to a fresh one every round, and the one
they leave is retired in the background: audited (jobs, deliveries, journals), then reset."""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from .receiver import Deliveries

ALNUM = string.ascii_letters + string.digits
TERMINAL = {"COMPLETED": "job.completed", "FAILED": "job.failed", "CANCELLED": "job.cancelled"}


def fresh_key() -> str:
    return "sk_test_ent_" + "".join(secrets.choice(ALNUM) for _ in range(24))


@dataclass
class Account:
    """One Enterprise account (fresh key) with one webhook pointed at the receiver."""

    group: int
    round: int
    key: str
    webhook_id: str = ""
    expected: dict[str, str] = field(default_factory=dict)  # job_id -> final status
    busy: int = 0  # operations in progress on this account

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def name(self) -> str:
        return f"g{self.group}r{self.round}"


@dataclass
class Audit:
    """What the retirement of each account found."""

    accounts: int = 0
    jobs_submitted: int = 0
    jobs_listed: int = 0
    final_statuses: Counter[str] = field(default_factory=Counter)
    job_problems: list[str] = field(default_factory=list)
    delivery_problems: list[str] = field(default_factory=list)
    log_states: Counter[str] = field(default_factory=Counter)
    largest_journal: int = 0
    waited_for_deliveries: list[float] = field(default_factory=list)
    retried_attempts: int = 0
    resets_failed: int = 0
    attempt_errors: Counter[str] = field(default_factory=Counter)
    attempt_ms: list[float] = field(default_factory=list)


class Rounds:
    """Client groups share an account; every `round_seconds` each group moves to a fresh
    account, and the one it leaves is retired in the background: once its clients are done
    and its webhooks have arrived, it is audited (jobs, deliveries, journals) and reset, so
    the server's live data stays bounded and its memory can be expected to stay flat."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        receiver_url: str,
        deliveries: Deliveries,
        groups: int,
        drain_timeout: float,
    ) -> None:
        self.http = http
        self.receiver_url = receiver_url
        self.deliveries = deliveries
        self.current: list[Account] = []
        self.groups = groups
        self.drain_timeout = drain_timeout
        self.audit = Audit()
        self.retiring: set[asyncio.Task[None]] = set()
        self.all: list[Account] = []

    async def open(self, group: int, number: int) -> Account:
        account = Account(group, number, fresh_key())
        hook = {
            "url": f"{self.receiver_url}/hooks/{account.name}",
            "events": sorted(TERMINAL.values()),
        }
        response = await self.http.post("/webhooks/register", json=hook, headers=account.headers)
        response.raise_for_status()
        account.webhook_id = response.json()["webhook_id"]
        self.deliveries.secrets[account.webhook_id] = response.json()["secret"]
        self.all.append(account)
        return account

    async def start(self) -> None:
        self.current = list(await asyncio.gather(*(self.open(g, 0) for g in range(self.groups))))

    async def rotate(self, number: int) -> None:
        fresh = list(await asyncio.gather(*(self.open(g, number) for g in range(self.groups))))
        old, self.current = self.current, fresh
        for account in old:
            task = asyncio.create_task(self.retire(account, reset=True))
            self.retiring.add(task)
            task.add_done_callback(self.retiring.discard)

    async def finish(self) -> None:
        await asyncio.gather(*list(self.retiring))
        await asyncio.gather(*(self.retire(account, reset=False) for account in self.current))

    async def retire(self, account: Account, *, reset: bool) -> None:
        while account.busy:
            await asyncio.sleep(0.05)
        started = time.monotonic()
        jobs = set(account.expected)
        drained = False
        while not drained and time.monotonic() - started < self.drain_timeout:
            with self.deliveries.lock:
                drained = jobs <= self.deliveries.by_job.keys()
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)  # a duplicate, if any, has time to arrive
        audit = self.audit
        audit.waited_for_deliveries.append(time.monotonic() - started)
        audit.accounts += 1
        audit.jobs_submitted += len(jobs)

        found, total = await all_jobs(self.http, account)
        audit.jobs_listed += total
        if total != len(jobs) or found.keys() != jobs:
            audit.job_problems.append(
                f"{account.name}: submitted {len(jobs)}, listed {total} (missing "
                f"{len(jobs - found.keys())}, unexpected {len(found.keys() - jobs)})"
            )
        for job_id, status in found.items():
            audit.final_statuses[status] += 1
            if account.expected.get(job_id, status) != status:
                audit.job_problems.append(
                    f"{job_id}: {status}, expected {account.expected[job_id]}"
                )

        with self.deliveries.lock:
            for job_id, final in account.expected.items():
                got = self.deliveries.by_job.get(job_id, [])
                events = {event for event, _, _ in got}
                audit.retried_attempts += sum(1 for _, _, attempt in got if attempt > 1)
                if events != {TERMINAL[final]} or len({delivery for _, delivery, _ in got}) != 1:
                    audit.delivery_problems.append(
                        f"{account.name} {job_id} ({final}): got {sorted(events)} x{len(got)}"
                    )
        log = await self.http.get("/_sandbox/deliveries?limit=1000", headers=account.headers)
        journal = await self.http.get("/_sandbox/requests?limit=1000", headers=account.headers)
        log_items, journal_items = log.json()["items"], journal.json()["items"]
        audit.log_states.update(item["status"] for item in log_items)
        for item in log_items:
            for attempt in item["attempts"]:
                audit.attempt_ms.append(attempt["duration_ms"])
                if attempt["error"]:
                    audit.attempt_errors[attempt["error"]] += 1
        audit.largest_journal = max(audit.largest_journal, len(log_items), len(journal_items))
        if reset and drained:  # (a reset would cancel webhooks still on their way)
            response = await self.http.post("/_sandbox/reset", json={}, headers=account.headers)
            if response.status_code != 200:
                audit.resets_failed += 1


async def all_jobs(http: httpx.AsyncClient, account: Account) -> tuple[dict[str, str], int]:
    """Every job `GET /jobs` lists for the account (all pages), and the total it reports."""
    found: dict[str, str] = {}
    page, total = 1, 0
    while True:
        response = await http.get(f"/jobs?page={page}&limit=100", headers=account.headers)
        response.raise_for_status()
        document = response.json()
        total = document["pagination"]["total"]
        for job in document["items"]:
            found[job["job_id"]] = job["status"]
        if not document["pagination"]["has_next"]:
            return found, total
        page += 1

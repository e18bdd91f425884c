"""Load and soak: many concurrent clients of mixed traffic against a real server process.

Starts `aiprod-sandbox serve --port 0` (the console script next to this interpreter; instant
job timing) and a webhook receiver (the package's `Receiver` ASGI app under uvicorn, in a
process of its own, on loopback; each signature is checked here with its webhook's secret).
Clients work in groups of `--clients-per-account`; each group shares an Enterprise account
with one webhook pointed at the receiver, and moves to a fresh account every round (10 s).
The account it leaves is retired in the background: once its webhooks have all arrived it is
audited, then reset (`POST /_sandbox/reset`), so the server's live data stays bounded and its
memory must stay flat. Each client loops over a weighted mix: submit (some failing on
purpose), read, list, presets (with and without `If-None-Match`), batch, a pending job updated
then cancelled (and cancelled again: 409), an update of an ended job (409), bad input (400
INVALID_PARAMETER, INVALID_JSON, UNKNOWN_FIELD), usage, health; between two operations it
pauses `--think-ms` (100 ms), as a partner's test does between calls. It stops by itself.

A soak is a sustained load, not an overload: with the pause, 64 clients keep the server's one
core about two-thirds busy, its webhooks included. With `--think-ms 0` the clients alone
saturate that core, deliveries fall ever further behind the jobs that make them, and memory
grows with the backlog — nothing is lost (every check but memory passes), but that run
measures how far it falls behind, not whether it leaks.

Checks (exit status 1 if any fails):
- no unexpected answers: every answer has the status (and error code) its operation expects,
  and no request fails in transport;
- every job accounted for: per account, `GET /jobs` (all pages) lists exactly the ids the
  clients got back, each in the final state its input implies;
- every delivery accounted for: the receiver got exactly one terminal event (`job.completed`,
  `job.failed`, `job.cancelled`) per job, matching its final state, validly signed; each
  account's delivery log (`/_sandbox/deliveries`) shows them `delivered`;
- journals bounded: `/_sandbox/requests` and `/_sandbox/deliveries` hold at most 1000 items;
- memory flat: the server's RSS, sampled every 5 s, ends within +15 % of the sample at the end
  of the warm-up (20 s);
- the server logged no unhandled error and exits 0 on SIGTERM.

    .venv/bin/python bench/soak.py                      # 60 s, 64 clients
    .venv/bin/python bench/soak.py --think-ms 0         # overload: the backlog it leaves
    .venv/bin/python bench/soak.py --duration 8 --clients 16 --json summary.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import queue
import random
import re
import secrets
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from aiprod_sandbox.webhooks.receiver import Received, Receiver
from aiprod_sandbox.webhooks.signing import verify

READY = re.compile(r"ready on (http://127\.0\.0\.1:\d+)")
ALNUM = string.ascii_letters + string.digits
TERMINAL = {"COMPLETED": "job.completed", "FAILED": "job.failed", "CANCELLED": "job.cancelled"}
JOURNAL_BOUND = 1000
FLAT_TOLERANCE = 0.15


def fresh_key() -> str:
    return "sk_test_ent_" + "".join(secrets.choice(ALNUM) for _ in range(24))


# --- the server process and the receiver ------------------------------------------------------


class Server:
    """`aiprod-sandbox serve --port 0` as a child process."""

    def __init__(self) -> None:
        script = Path(sys.executable).parent / "aiprod-sandbox"
        self.log = tempfile.NamedTemporaryFile(  # closed in stop()
            prefix="aiprod-soak-", suffix=".log", delete=False
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIPROD_SANDBOX_")}
        self.proc = subprocess.Popen(
            [str(script), "serve", "--port", "0", "--job-timing", "instant"],
            stdout=subprocess.PIPE,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.base_url = ""

    def wait_ready(self, timeout: float = 30.0) -> str:
        assert self.proc.stdout is not None
        lines: list[str] = []
        found = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.append(line)
                if READY.search(line):
                    found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(timeout) or not lines or not READY.search(lines[-1]):
            self.stop()
            raise SystemExit(f"the server did not start: {''.join(lines)}{self.log_text()}")
        match = READY.search(lines[-1])
        assert match is not None
        self.base_url = match.group(1)
        return lines[-1].strip()

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()
        return self.proc.returncode

    def log_text(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_text(errors="replace")


class Deliveries:
    """What the receiver got, per job, with each signature checked against its webhook's secret."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}  # webhook_id -> whsec_
        self.by_job: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
        self.bad_signatures = 0
        self.unreadable = 0
        self.total = 0
        self.lock = threading.Lock()

    def record(
        self, event: str, delivery_id: str, attempt: int, signature: str, body: bytes
    ) -> None:
        try:
            payload = json.loads(body)
            job_id = payload["data"]["job_id"]
            secret = self.secrets.get(payload.get("webhook_id") or "")
        except (ValueError, KeyError, TypeError):
            with self.lock:
                self.unreadable += 1
            return
        valid = secret is not None and verify(secret, body, signature)
        with self.lock:
            self.total += 1
            self.by_job[job_id].append((event, delivery_id, attempt))
            if not valid:
                self.bad_signatures += 1


class _ReportingUvicorn(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready: Connection) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.send(self.servers[0].sockets[0].getsockname()[1] if self.started else 0)


def _receiver_process(ready: Connection, out: multiprocessing.Queue[Any]) -> None:
    """The package's `Receiver` under uvicorn, in a process of its own (so the load's clients
    do not slow it down), forwarding each delivery to the parent."""

    def forward(item: Received) -> None:
        signature = item.headers.get("x-aiprod-signature", "")
        out.put((item.event, item.delivery_id, item.attempt, signature, item.body))
        item_list = receiver.received
        if len(item_list) > 1000:  # the parent keeps the record
            del item_list[:500]

    receiver = Receiver(on_delivery=forward)
    config = uvicorn.Config(
        receiver, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off"
    )
    _ReportingUvicorn(config, ready).run()


class ReceiverProcess:
    def __init__(self, deliveries: Deliveries) -> None:
        context = multiprocessing.get_context("spawn")
        self.queue: multiprocessing.Queue[Any] = context.Queue()
        mine, theirs = context.Pipe()
        self.process = context.Process(
            target=_receiver_process, args=(theirs, self.queue), name="soak-receiver", daemon=True
        )
        self.process.start()
        if not mine.poll(30) or not (port := mine.recv()):
            self.process.kill()
            raise SystemExit("the webhook receiver did not start")
        self.url = f"http://127.0.0.1:{port}"
        self.deliveries = deliveries
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop.is_set():
            try:
                item = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self.deliveries.record(*item)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)
        self._stop.set()
        self._thread.join(5)
        self.queue.close()


# --- accounts, rounds and their audit ---------------------------------------------------------


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


# --- the clients --------------------------------------------------------------------------------


@dataclass
class Stats:
    ops: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    requests: int = 0
    latencies: list[float] = field(default_factory=list)


class Client:
    """One client: a loop of weighted operations, each checking the status it gets."""

    def __init__(
        self,
        number: int,
        group: int,
        rounds: Rounds,
        http: httpx.AsyncClient,
        stats: Stats,
        seed: int,
        think: float,
    ) -> None:
        self.number = number
        self.group = group
        self.rounds = rounds
        self.http = http
        self.stats = stats
        self.rng = random.Random(seed * 1000 + number)
        self.seq = 0
        self.etag: str | None = None
        self.think = think
        self.account = rounds.current[group]
        self.ops: list[tuple[Callable[[], Coroutine[Any, Any, None]], int]] = [
            (self.submit, 20),
            (self.submit_failing, 3),
            (self.read, 20),
            (self.read_pipeline, 5),
            (self.list_jobs, 10),
            (self.presets, 6),
            (self.presets_cached, 3),
            (self.batch, 4),
            (self.pending_update_cancel, 5),
            (self.update_ended, 3),
            (self.missing_field, 4),
            (self.invalid_json, 2),
            (self.unknown_field, 2),
            (self.usage, 3),
            (self.health, 2),
        ]

    async def call(
        self,
        op: str,
        method: str,
        path: str,
        expect: int,
        *,
        code: str | None = None,
        body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response | None:
        self.stats.ops[op] += 1
        self.stats.requests += 1
        started = time.perf_counter()
        try:
            response = await self.http.request(
                method,
                path,
                json=body,
                content=content,
                headers={**self.account.headers, **(headers or {})},
            )
        except httpx.HTTPError as exc:
            self.stats.transport_errors.append(f"{op}: {method} {path}: {exc!r}")
            return None
        self.stats.latencies.append(time.perf_counter() - started)
        self.stats.statuses[response.status_code] += 1
        problem = None
        if response.status_code != expect:
            problem = f"status {response.status_code}, expected {expect}"
        elif code is not None and response.json().get("error", {}).get("code") != code:
            problem = f"code {response.json().get('error', {}).get('code')}, expected {code}"
        elif not response.headers.get("x-request-id", "").startswith("req_"):
            problem = "no X-Request-Id"
        if problem:
            self.stats.unexpected.append(f"{op}: {method} {path}: {problem}: {response.text[:200]}")
            return None
        return response

    def _video(self, name: str | None = None) -> str:
        self.seq += 1
        return f"https://example.com/{name or f'c{self.number}-{self.seq}'}.mp4"

    def _known_job(self, status: str | None = None) -> str | None:
        jobs = [job for job, final in self.account.expected.items() if status in (None, final)]
        return self.rng.choice(jobs) if jobs else None

    def _record(self, response: httpx.Response | None, final: str | None) -> str | None:
        """The new job's id, recorded with its final state (None: the caller records it)."""
        if response is None:
            return None
        job_id = str(response.json()["job_id"])
        if final is not None:
            self.account.expected[job_id] = final
        return job_id

    async def submit(self) -> None:
        body = {
            "video_url": self._video(),
            "voice_text": "Soak test narration",
            "voice_language": "en",
            "music_style": "orchestral",
            "metadata": {"client": str(self.number)},
        }
        self._record(
            await self.call("submit", "POST", "/pipeline/run", 202, body=body), "COMPLETED"
        )

    async def submit_failing(self) -> None:
        body = {"video_url": self._video("fail_download")}
        self._record(
            await self.call("submit-fail", "POST", "/pipeline/run", 202, body=body), "FAILED"
        )

    async def read(self) -> None:
        job_id = self._known_job()
        if job_id is None:
            return await self.submit()
        final = self.account.expected[job_id]
        response = await self.call("read", "GET", f"/jobs/{job_id}", 200)
        if response is not None and response.json()["status"] != final:
            status = response.json()["status"]
            self.stats.unexpected.append(f"read: GET /jobs/{job_id}: {status}, expected {final}")

    async def read_pipeline(self) -> None:
        job_id = self._known_job("COMPLETED")
        if job_id is None:
            return await self.submit()
        response = await self.call("read-pipeline", "GET", f"/pipeline/{job_id}", 200)
        if response is not None and response.json()["result"] is None:
            self.stats.unexpected.append(f"read-pipeline: {job_id}: COMPLETED without a result")

    async def list_jobs(self) -> None:
        page = self.rng.randint(1, 5)
        sort = self.rng.choice(["created_at", "-created_at", "status", "-status"])
        await self.call("list", "GET", f"/jobs?page={page}&limit=20&sort={sort}", 200)

    async def presets(self) -> None:
        response = await self.call("presets", "GET", "/presets", 200)
        if response is not None:
            self.etag = response.headers.get("etag")

    async def presets_cached(self) -> None:
        if self.etag is None:
            return await self.presets()
        headers = {"If-None-Match": self.etag}
        await self.call("presets-304", "GET", "/presets", 304, headers=headers)

    async def batch(self) -> None:
        videos = [{"video_url": self._video()} for _ in range(self.rng.randint(1, 5))]
        body = {"videos": videos, "voice_language": "en"}
        response = await self.call("batch", "POST", "/pipeline/batch", 202, body=body)
        if response is not None:
            for job in response.json()["jobs"]:
                self.account.expected[str(job["job_id"])] = "COMPLETED"

    async def pending_update_cancel(self) -> None:
        body = {"video_url": self._video("stay_pending")}
        response = await self.call("pending-submit", "POST", "/pipeline/run", 202, body=body)
        job_id = self._record(response, None)  # others may read it once it is CANCELLED
        if job_id is None:
            return
        update = {"metadata": {"updated_by": str(self.number)}}
        await self.call("update", "PUT", f"/jobs/{job_id}", 200, body=update)
        cancelled = await self.call("cancel", "DELETE", f"/jobs/{job_id}", 200)
        self.account.expected[job_id] = "CANCELLED"  # listed either way: a miss shows there
        if cancelled is not None and cancelled.json()["status"] != "CANCELLED":
            self.stats.unexpected.append(f"cancel: {job_id}: {cancelled.json()['status']}")
        path = f"/jobs/{job_id}"
        await self.call("cancel-again", "DELETE", path, 409, code="JOB_NOT_CANCELLABLE")

    async def update_ended(self) -> None:
        job_id = self._known_job("COMPLETED")
        if job_id is None:
            return await self.submit()
        body = {"metadata": {"late": "yes"}}
        path = f"/jobs/{job_id}"
        await self.call("update-ended", "PUT", path, 409, code="JOB_NOT_UPDATABLE", body=body)

    async def missing_field(self) -> None:
        body = {"voice_text": "no video"}
        path = "/pipeline/run"
        await self.call("bad-missing", "POST", path, 400, code="INVALID_PARAMETER", body=body)

    async def invalid_json(self) -> None:
        headers = {"Content-Type": "application/json"}
        await self.call(
            "bad-json",
            "POST",
            "/pipeline/run",
            400,
            code="INVALID_JSON",
            content=b'{"video_url": ',
            headers=headers,
        )

    async def unknown_field(self) -> None:
        body = {"video_url": self._video(), "colour": "blue"}
        await self.call(
            "bad-unknown", "POST", "/pipeline/run", 400, code="UNKNOWN_FIELD", body=body
        )

    async def usage(self) -> None:
        await self.call("usage", "GET", "/me/usage", 200)

    async def health(self) -> None:
        await self.call("health", "GET", "/health", 200)

    async def run(self, until: float) -> None:
        functions = [op for op, _ in self.ops]
        weights = [weight for _, weight in self.ops]
        while time.monotonic() < until:
            self.account = self.rounds.current[self.group]
            self.account.busy += 1
            try:
                await self.rng.choices(functions, weights)[0]()
            finally:
                self.account.busy -= 1
            if self.think:
                await asyncio.sleep(self.think)


# --- the run ------------------------------------------------------------------------------------


async def sample(
    probe: Callable[[], tuple[float, int]],
    every: float,
    until: float,
    out: list[tuple[float, float, int]],
    started: float,
) -> None:
    """Every `every` seconds: (seconds since the start, server RSS MiB, webhook backlog)."""
    while True:
        now = time.monotonic()
        out.append((round(now - started, 1), *probe()))
        if now >= until:
            return
        await asyncio.sleep(min(every, max(0.0, until - now)))


async def rotate_rounds(rounds: Rounds, every: float, until: float) -> int:
    number = 0
    while time.monotonic() + every < until:
        await asyncio.sleep(every)
        number += 1
        await rounds.rotate(number)
    return number + 1


async def soak(
    args: argparse.Namespace, server: Server, deliveries: Deliveries, receiver_url: str
) -> dict[str, Any]:
    timeout = httpx.Timeout(30.0)
    control = httpx.AsyncClient(base_url=server.base_url, timeout=timeout, trust_env=False)
    groups = max(1, args.clients // args.clients_per_account)
    rounds = Rounds(control, receiver_url, deliveries, groups, args.drain_timeout)
    await rounds.start()

    stats = Stats()
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    https = [
        httpx.AsyncClient(base_url=server.base_url, timeout=timeout, limits=one, trust_env=False)
        for _ in range(args.clients)
    ]
    clients = [
        Client(n, n % groups, rounds, https[n], stats, args.seed, args.think_ms / 1000)
        for n in range(args.clients)
    ]

    def probe() -> tuple[float, int]:
        submitted = sum(len(account.expected) for account in rounds.all)
        with deliveries.lock:
            return round(server.rss_mib(), 1), submitted - deliveries.total

    samples: list[tuple[float, float, int]] = []
    cpu_before = server.cpu_seconds()
    started = time.monotonic()
    until = started + args.duration
    sampler = asyncio.create_task(sample(probe, args.sample_every, until, samples, started))
    rotator = asyncio.create_task(rotate_rounds(rounds, args.round_seconds, until))
    await asyncio.gather(*(client.run(until) for client in clients))
    load_seconds = time.monotonic() - started
    server_cpu = (server.cpu_seconds() - cpu_before) / load_seconds
    rounds_run = await rotator
    await sampler
    await rounds.finish()
    audited_after = time.monotonic() - started - load_seconds
    rss_after = round(server.rss_mib(), 1)
    for http in https:
        await http.aclose()
    await control.aclose()

    audit = rounds.audit
    checks: dict[str, tuple[bool, str]] = {}
    problems = stats.unexpected + stats.transport_errors
    checks["no unexpected answers"] = (
        not problems,
        f"{stats.requests} requests: {len(stats.unexpected)} unexpected answers, "
        f"{len(stats.transport_errors)} transport errors",
    )
    checks["every job accounted for"] = (
        not audit.job_problems and audit.accounts == len(rounds.all),
        f"submitted {audit.jobs_submitted}, listed {audit.jobs_listed} by GET /jobs across "
        f"{audit.accounts} accounts ({groups} groups x {rounds_run} rounds); final states "
        f"{dict(audit.final_statuses)}"
        + (f"; {audit.job_problems[:5]}" if audit.job_problems else ""),
    )
    with deliveries.lock:
        known = {job for account in rounds.all for job in account.expected}
        strays = len(deliveries.by_job.keys() - known)
        received = deliveries.total
    delivery_problems = list(audit.delivery_problems)
    if strays:
        delivery_problems.append(f"{strays} deliveries for jobs no client submitted")
    if deliveries.bad_signatures or deliveries.unreadable:
        delivery_problems.append(
            f"{deliveries.bad_signatures} bad signatures, {deliveries.unreadable} unreadable"
        )
    if set(audit.log_states) - {"delivered"}:
        delivery_problems.append(f"delivery-log states {dict(audit.log_states)}")
    longest_wait = max(audit.waited_for_deliveries, default=0.0)
    attempt_ms = sorted(audit.attempt_ms) or [0.0]
    attempt_p50 = attempt_ms[len(attempt_ms) // 2]
    attempt_p99 = attempt_ms[min(len(attempt_ms) - 1, int(0.99 * len(attempt_ms)))]
    checks["every delivery accounted for"] = (
        not delivery_problems,
        f"receiver got {received} deliveries for {len(known)} jobs, one terminal event each, "
        f"signatures valid; delivery logs {dict(audit.log_states)}; {audit.retried_attempts} "
        f"retried attempts (attempt errors {dict(audit.attempt_errors)}); attempt ms p50 "
        f"{attempt_p50:.1f}, p99 {attempt_p99:.1f}; longest wait for an account's webhooks "
        f"{longest_wait:.1f} s" + (f"; {delivery_problems[:5]}" if delivery_problems else ""),
    )
    checks["journals bounded"] = (
        audit.largest_journal <= JOURNAL_BOUND and not audit.resets_failed,
        f"largest /_sandbox/requests or /_sandbox/deliveries: {audit.largest_journal} items "
        f"(bound {JOURNAL_BOUND}); {audit.resets_failed} failed resets",
    )
    rss = [(at, mib) for at, mib, _ in samples]
    warm = [mib for at, mib in rss if at >= args.warmup - 0.5]
    reference = warm[0] if warm else rss[-1][1]
    last = rss[-1][1]
    growth = (last - reference) / reference if reference else 0.0
    checks["memory flat after warm-up"] = (
        growth <= FLAT_TOLERANCE,
        f"RSS {reference} MiB at {args.warmup:g} s -> {last} MiB at {rss[-1][0]:g} s "
        f"({growth:+.1%}, limit +{FLAT_TOLERANCE:.0%}); {rss_after} MiB after the audit",
    )
    latencies = sorted(stats.latencies)

    def ms(fraction: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(fraction * len(latencies)))] * 1000, 1)

    return {
        "duration_s": args.duration,
        "clients": args.clients,
        "groups": groups,
        "rounds": rounds_run,
        "round_s": args.round_seconds,
        "requests": stats.requests,
        "requests_per_s": round(stats.requests / load_seconds, 1),
        "latency_ms": {"p50": ms(0.5), "p99": ms(0.99), "max": ms(1.0)} if latencies else {},
        "ops": dict(sorted(stats.ops.items())),
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "jobs_submitted": audit.jobs_submitted,
        "deliveries_received": received,
        "audit_s": round(audited_after, 1),
        "server_cpu": round(server_cpu, 2),
        "samples": [{"s": at, "rss_mib": mib, "webhook_backlog": lag} for at, mib, lag in samples],
        "rss_after_audit_mib": rss_after,
        "unexpected": problems[:20],
        "checks": {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (60)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (64)")
    parser.add_argument("--clients-per-account", type=int, default=4, help="(4)")
    parser.add_argument("--round-seconds", type=float, default=None, help="min(10, duration/6)")
    parser.add_argument("--warmup", type=float, default=None, help="20, or duration/2 if short")
    parser.add_argument("--sample-every", type=float, default=None, help="RSS sampling (5 s)")
    parser.add_argument("--drain-timeout", type=float, default=60.0, help="seconds (60)")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=100.0,
        help="each client's pause between operations (100); 0 = flat out, an overload test",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args(argv)
    if args.warmup is None:
        args.warmup = 20.0 if args.duration >= 40 else args.duration / 2
    if args.round_seconds is None:
        args.round_seconds = min(10.0, args.duration / 6)
    if args.sample_every is None:
        args.sample_every = 5.0 if args.duration >= 30 else max(0.5, args.duration / 8)

    server = Server()
    ready = server.wait_ready()
    deliveries = Deliveries()
    receiver = ReceiverProcess(deliveries)
    receiver_url = receiver.url
    print(ready, flush=True)
    print(
        f"receiver on {receiver_url}; {args.clients} clients for {args.duration:g} s, "
        f"{args.clients_per_account} per account, a fresh account each {args.round_seconds:g} s",
        flush=True,
    )
    try:
        summary = asyncio.run(soak(args, server, deliveries, receiver_url))
    finally:
        receiver.stop()
        code = server.stop()
    crashes = [line for line in server.log_text().splitlines() if "Unhandled error" in line]
    summary["checks"]["server log clean, clean exit"] = {
        "ok": not crashes and code == 0,
        "detail": f"{len(crashes)} unhandled errors logged; exit code {code} on SIGTERM",
    }
    summary["ok"] = all(check["ok"] for check in summary["checks"].values())
    print_summary(summary)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    with contextlib.suppress(OSError):
        os.unlink(server.log.name)
    return 0 if summary["ok"] else 1


def print_summary(summary: dict[str, Any]) -> None:
    print(
        f"\n{summary['requests']} requests in {summary['duration_s']:g} s "
        f"({summary['requests_per_s']}/s) from {summary['clients']} clients, "
        f"{summary['groups']} account groups x {summary['rounds']} rounds; "
        f"latency ms {summary['latency_ms']}; audit took {summary['audit_s']} s after the load"
    )
    print(f"statuses: {summary['statuses']}")
    print(f"ops: {summary['ops']}")
    print(f"server CPU: {summary['server_cpu']:.0%} of one core during the load")
    print(
        "at s: RSS MiB / webhooks not yet received: "
        + ", ".join(
            f"{item['s']:g}: {item['rss_mib']} / {item['webhook_backlog']}"
            for item in summary["samples"]
        )
    )
    for name, check in summary["checks"].items():
        print(f"[{'PASS' if check['ok'] else 'FAIL'}] {name}: {check['detail']}")
    for line in summary["unexpected"]:
        print(f"  unexpected: {line}")
    print("SOAK PASSED" if summary["ok"] else "SOAK FAILED")


if __name__ == "__main__":
    sys.exit(main())

"""Memory: VmRSS of the bare app and of a fresh sandbox after start and one request; then of
the sandbox once one Enterprise account holds `--jobs` (100,000) COMPLETED jobs, submitted
over 32 keep-alive connections by a raw asyncio client on core 1 (MB = 2**20 bytes)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from harness.client import call
from harness.fleet import Fleet
from harness.processes import on_core
from harness.procfs import rss_mib

from .common import ENT_KEY, SUBMIT, Check
from .install import Install

IDLE_TARGET_MB = 60.0
JOBS_TARGET_MB = 150.0


@dataclass
class Memory:
    bare_idle_mb: float
    sandbox_start_mb: float
    sandbox_idle_mb: float
    jobs: int
    fill_seconds: float
    sandbox_jobs_mb: float
    stored: int

    @property
    def jobs_delta_mb(self) -> float:
        return self.sandbox_jobs_mb - self.sandbox_idle_mb


def measure(fleet: Fleet, jobs: int, install: Install) -> Memory:
    with fleet.serving("bare", install.bare) as bare:
        call(bare.port, "GET", "/health")
        time.sleep(0.5)
        bare_idle = rss_mib(bare.pid)
    with fleet.serving("sandbox", install.sandbox()) as server:
        time.sleep(0.5)
        at_start = rss_mib(server.pid)
        answer = call(server.port, "POST", "/pipeline/run", ENT_KEY, SUBMIT)  # the warm one
        if answer.status != 202:
            raise RuntimeError(f"POST /pipeline/run answered {answer.status}: {answer.body}")
        time.sleep(0.5)
        idle = rss_mib(server.pid)
        print(f"  submitting {jobs - 1:,} more jobs ...", flush=True)
        seconds = submit_many(server.port, ENT_KEY, jobs - 1)
        time.sleep(1.0)
        full = rss_mib(server.pid)
        page = call(server.port, "GET", "/jobs?limit=1", ENT_KEY).body
        stored = int(page["pagination"]["total"])
        if stored != jobs:
            raise RuntimeError(f"expected {jobs} jobs stored, the account has {stored}")
        return Memory(bare_idle, at_start, idle, jobs, seconds, full, stored)


def submit_many(port: int, key: str, count: int, concurrency: int = 32) -> float:
    """Submit `count` jobs over `concurrency` keep-alive connections (client on core 1)."""
    with on_core(1):
        started = time.perf_counter()
        resets = asyncio.run(_submit_many(port, key, count, concurrency))
        seconds = time.perf_counter() - started
    if resets:
        print(f"  note: the server reset {resets} connection(s); those requests were resent")
    return seconds


async def _submit_many(port: int, key: str, count: int, concurrency: int) -> int:
    """Submit `count` jobs; the number of connections the server reset on the way (each
    reset request is sent again on a new connection: a request cut off before its answer
    started was never read)."""
    body = json.dumps(SUBMIT).encode()
    request = (
        f"POST /pipeline/run HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    left = count
    resets = 0

    async def answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await reader.readline()
        if not head:
            raise ConnectionResetError("closed before the answer")
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(head.split()[1]), await reader.readexactly(length)

    async def worker() -> None:
        nonlocal left, resets
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while left > 0:
                left -= 1
                for attempt in range(3):
                    if connection is None:
                        connection = await asyncio.open_connection("127.0.0.1", port)
                    reader, writer = connection
                    try:
                        writer.write(request)
                        status, text = await answer(reader)
                        break
                    except (ConnectionError, asyncio.IncompleteReadError):
                        resets += 1
                        writer.close()
                        connection = None
                        if attempt == 2:
                            raise
                if status != 202:
                    raise RuntimeError(f"POST /pipeline/run answered {status}: {text[:300]!r}")
        finally:
            if connection is not None:
                connection[1].close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return resets


def report(mem: Memory) -> list[Check]:
    per_job = mem.jobs_delta_mb * 2**20 / mem.jobs
    print()
    print("Memory (VmRSS, MB = 2**20 bytes)")
    print(f"  bare app, idle after 1 request        {mem.bare_idle_mb:7.1f} MB")
    print(f"  sandbox, after start                  {mem.sandbox_start_mb:7.1f} MB")
    print(f"  sandbox, idle after 1 request         {mem.sandbox_idle_mb:7.1f} MB")
    print(
        f"  sandbox, {mem.jobs:,} jobs in one account {mem.sandbox_jobs_mb:7.1f} MB "
        f"(+{mem.jobs_delta_mb:.1f} MB, {per_job:,.0f} bytes a job; "
        f"stored in {mem.fill_seconds:.1f} s, {mem.jobs / mem.fill_seconds:,.0f} jobs/s)"
    )
    idle_ok = mem.sandbox_idle_mb <= IDLE_TARGET_MB
    scaled = mem.jobs_delta_mb * 100_000 / mem.jobs
    return [
        Check(f"idle RSS <= {IDLE_TARGET_MB:g} MB", f"{mem.sandbox_idle_mb:.1f} MB", idle_ok),
        Check(
            f"100,000 jobs add <= {JOBS_TARGET_MB:g} MB"
            + ("" if mem.jobs == 100_000 else f" (scaled from {mem.jobs:,})"),
            f"{scaled:.1f} MB",
            scaled <= JOBS_TARGET_MB,
        ),
    ]

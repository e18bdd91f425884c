"""The soak's clients: each loops over a weighted mix of operations on its group's account,
checking every answer's status (and error code), recording the jobs it makes and their final
state, and pausing `--think-ms` between two operations."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from .accounts import Rounds


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

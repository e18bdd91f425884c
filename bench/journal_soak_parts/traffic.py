"""The journal soak's traffic: accounts, their set-up, and clients that loop flat out over
requests which leave nothing on the server but their journal entries (the jobs they read or
update exist from the set-up on; updates replace metadata, bad submissions make nothing)."""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

ALNUM = string.ascii_letters + string.digits
VIDEO = "https://example.com/journal-soak.mp4"
PENDING = "https://example.com/stay_pending.mp4"  # a job held PENDING, so it can be updated
BIG_VOICE = "v" * 4500  # the heavy account's job: 4.4 KiB of voice_text...
BIG_METADATA = {f"note_{n}": "m" * 480 for n in range(8)}  # ...and 3.9 KiB of metadata

Request = tuple[str, str, Any, int]  # method, path, JSON body, the status expected


def fresh_key() -> str:
    return "sk_test_ent_" + "".join(secrets.choice(ALNUM) for _ in range(24))


@dataclass
class Account:
    name: str
    heavy: bool = False
    key: str = field(default_factory=fresh_key)
    job: str = ""
    pending: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def requests(self, n: int) -> list[Request]:
        """One turn of the account's mix; `n` makes each body differ from the last."""
        if self.heavy:
            metadata = {f"k{i:02d}": f"{n:08d}" + "x" * 342 for i in range(20)}  # 7.1 KiB
            return [
                ("PUT", f"/jobs/{self.pending}", {"metadata": metadata}, 200),
                ("POST", "/pipeline/run", {"video_url": VIDEO, "voice_text": "y" * 6000}, 400),
                ("GET", f"/jobs/{self.job}", None, 200),
            ]
        return [
            ("GET", f"/jobs/{self.job}", None, 200),
            ("GET", "/jobs?limit=20", None, 200),
            ("GET", f"/jobs/{self.job}", None, 200),
            ("PUT", f"/jobs/{self.pending}", {"metadata": {"n": str(n)}}, 200),
            ("POST", "/pipeline/run", {"voice_text": "no video"}, 400),
            ("GET", "/presets", None, 200),
        ]


@dataclass
class Stats:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)


async def set_up(http: httpx.AsyncClient, account: Account) -> None:
    """The account's two jobs: one that completes (with big fields if heavy), one held PENDING."""
    body: dict[str, Any] = {"video_url": VIDEO}
    if account.heavy:
        body |= {"voice_text": BIG_VOICE, "metadata": BIG_METADATA}
    for attribute, job in (("job", body), ("pending", {"video_url": PENDING})):
        answer = await http.post("/pipeline/run", json=job, headers=account.headers)
        answer.raise_for_status()
        setattr(account, attribute, answer.json()["job_id"])


async def client(url: str, account: Account, stats: Stats, until: float, start: int) -> None:
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        base_url=url, timeout=30.0, limits=one, trust_env=False, headers=account.headers
    ) as http:
        n = start
        while time.monotonic() < until:
            turn = account.requests(n)
            method, path, body, expect = turn[n % len(turn)]
            n += 1
            try:
                answer = await http.request(method, path, json=body)
            except httpx.HTTPError as exc:
                stats.unexpected.append(f"{account.name} {method} {path}: {exc!r}")
                continue
            stats.requests += 1
            stats.statuses[answer.status_code] += 1
            if answer.status_code != expect:
                stats.unexpected.append(
                    f"{account.name} {method} {path}: {answer.status_code}, expected {expect}"
                )


async def load(url: str, account: Account, stats: Stats, until: float, clients: int) -> None:
    """`clients` clients on the account, each one keep-alive connection, until `until`."""
    await asyncio.gather(*(client(url, account, stats, until, c * 7) for c in range(clients)))

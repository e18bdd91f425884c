"""A fresh sandbox account for one test: its key, a ready client, and the control API.

def test_job_completes(aiprod_account):
    job = aiprod_account.client.post("/pipeline/run", json={...}).json()
    aiprod_account.clock.advance(600)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..core.clock import monotonic
from ..core.jobs import JOB_EVENTS

OPENING_PATIENCE = 30.0  # seconds a test waits for a busy sandbox to open its account


@dataclass
class Clock:
    """The account's clock, through `/_sandbox/clock`."""

    client: httpx.Client

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the clock and run everything due (jobs, deliveries, retries); what ran."""
        return dict(_ok(self.client.post("/_sandbox/clock/advance", json={"seconds": seconds})))

    def set(
        self, mode: str | None = None, *, now: str | None = None, scale: float | None = None
    ) -> dict[str, Any]:
        """`mode` (real, manual, scaled), `now` (ISO 8601) and/or `scale`; without a mode the
        clock keeps its own mode and scale (the API itself requires a mode, and a scale with
        mode scaled)."""
        fields: dict[str, Any] = {"mode": mode, "now": now, "scale": scale}
        if mode is None:
            current = _ok(self.client.get("/_sandbox/clock"))
            fields["mode"] = current["mode"]
            if current["mode"] == "scaled" and scale is None:
                fields["scale"] = current["scale"]
        body = {name: value for name, value in fields.items() if value is not None}
        return dict(_ok(self.client.post("/_sandbox/clock", json=body)))

    def now(self) -> str:
        return str(_ok(self.client.get("/_sandbox/clock"))["now"])


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise AssertionError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text}"
        )
    return response.json()


class SandboxAccount:
    """An isolated account: nothing another test does can be seen here."""

    def __init__(self, base_url: str, key: str, transport: httpx.BaseTransport) -> None:
        self.base_url = base_url
        self.key = key
        self.headers = {"Authorization": f"Bearer {key}"}
        self.client = httpx.Client(
            base_url=base_url,
            headers=self.headers,
            transport=transport,
            timeout=30,
            trust_env=False,
        )
        self.clock = Clock(self.client)

    def close(self) -> None:
        self.client.close()

    # ---- the control API -----------------------------------------------------------------
    @property
    def info(self) -> dict[str, Any]:
        """`GET /_sandbox/account`: id, tier, limits, callback secret, clock, timing."""
        return dict(_ok(self.client.get("/_sandbox/account")))

    def use_scenario(
        self, scenario: str | Mapping[str, Any] | None = None, /, **inline: Any
    ) -> dict[str, Any]:
        """Switch a scenario on: a library name (`use_scenario("free-tier")`), or an inline
        one, as a dict or as keywords (`use_scenario(name=..., description=..., requests=...)`)."""
        if isinstance(scenario, str) and not inline:
            body: dict[str, Any] = {"name": scenario}
        else:
            given = {} if scenario is None or isinstance(scenario, str) else dict(scenario)
            body = {"scenario": {**given, **inline}}
        return dict(_ok(self.client.put("/_sandbox/scenario", json=body)))

    def clear_scenario(self) -> None:
        _ok(self.client.delete("/_sandbox/scenario"))

    def set_timing(self, job_timing: str) -> None:
        _ok(self.client.post("/_sandbox/timing", json={"job_timing": job_timing}))

    def deliveries(self, **filters: Any) -> list[dict[str, Any]]:
        """The webhook delivery log, newest first (filters: webhook_id, job_id, event, status)."""
        return list(_ok(self.client.get("/_sandbox/deliveries", params=filters))["items"])

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """The account's request journal with its evidence, newest first (filters: method,
        path (a glob), status, job_id, since, until, header, body)."""
        return list(_ok(self.client.get("/_sandbox/requests", params=filters))["items"])

    def reset(self, *, keys: bool = False) -> None:
        """Forget every job, webhook and delivery; clock and timing back to defaults. With
        `keys`, the account's keys too go back to the one it began with. Waits out a sandbox
        that is opening too many accounts at once (429 with `Retry-After`)."""
        deadline = monotonic() + OPENING_PATIENCE
        while True:
            response = self.client.post("/_sandbox/reset", json={"keys": keys})
            wait = float(response.headers.get("retry-after", "0") or 0)
            if response.status_code != 429 or monotonic() + wait > deadline:
                break
            time.sleep(max(0.05, wait))
        _ok(response)

    def transition(self, job_id: str, status: str, **fields: Any) -> dict[str, Any]:
        return dict(
            _ok(
                self.client.post(
                    f"/_sandbox/jobs/{job_id}/transition", json={"status": status, **fields}
                )
            )
        )

    # ---- verification --------------------------------------------------------------------
    def verify(self, **spec: Any) -> dict[str, Any]:
        """`POST /_sandbox/verify` with `spec` (requests=, deliveries= or sequence=, a count,
        within=): the verdict, `ok` true or false, with near misses and a `message`."""
        return dict(_ok(self.client.post("/_sandbox/verify", json=spec)))

    def _assert(self, spec: dict[str, Any]) -> dict[str, Any]:
        verdict = self.verify(**{k: v for k, v in spec.items() if v is not None})
        if not verdict["ok"]:
            raise AssertionError(verdict["message"])
        return verdict

    def assert_requested(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        times: int | None = None,
        at_least: int | None = None,
        at_most: int | None = None,
        within: float | None = None,
        **match: Any,
    ) -> dict[str, Any]:
        """Fail unless the account's client made such requests: `method`, `path` (a glob)
        and any other part of a request matcher (query, headers, body, jsonpath, status,
        job_id, since, until); `times` exactly (0: never), or at least / at most, or at
        least once. The failure lists the near misses."""
        matcher = {"method": method, "path": path, **match}
        return self._assert(
            {
                "requests": {k: v for k, v in matcher.items() if v is not None},
                "exactly": times,
                "at_least": at_least,
                "at_most": at_most,
                "within": within,
            }
        )

    def assert_not_requested(
        self, method: str | None = None, path: str | None = None, **match: Any
    ) -> dict[str, Any]:
        return self.assert_requested(method, path, times=0, **match)

    def assert_delivered(
        self,
        event: str,
        *,
        job_id: str | None = None,
        acknowledged_once: bool = False,
        times: int | None = None,
        within: float | None = None,
        **match: Any,
    ) -> dict[str, Any]:
        """Fail unless `event` was delivered (for `job_id`, to an `endpoint`, with an
        `outcome`, `attempts`, a `body` subset...). `acknowledged_once`: the receiver
        answered 2xx to exactly one attempt of it (not zero, not a duplicate twice)."""
        matcher = {"event": event, "job_id": job_id, **match}
        if acknowledged_once:
            matcher.setdefault("acknowledged", 1)
        return self._assert(
            {
                "deliveries": {k: v for k, v in matcher.items() if v is not None},
                "exactly": times,
                "within": within,
            }
        )

    def assert_sequence(self, *steps: dict[str, Any], within: float | None = None) -> None:
        """Fail unless requests matching `steps` happened in this order."""
        self._assert({"sequence": list(steps), "within": within})

    def har(self) -> dict[str, Any]:
        """The account's requests and webhook attempts as a HAR 1.2 document."""
        return dict(_ok(self.client.get("/_sandbox/har")))

    # ---- conveniences for the API --------------------------------------------------------
    def submit(self, **job: Any) -> dict[str, Any]:
        """`POST /pipeline/run` (video_url defaults to an example); the 202 body."""
        job.setdefault("video_url", "https://example.com/video.mp4")
        response = self.client.post("/pipeline/run", json=job)
        if response.status_code != 202:
            raise AssertionError(
                f"POST /pipeline/run answered {response.status_code}: {response.text}"
            )
        return dict(response.json())

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(_ok(self.client.get(f"/pipeline/{job_id}")))

    def register_webhook(self, url: str, events: list[str] | None = None) -> dict[str, Any]:
        body = {
            "url": url,
            "events": events or list(JOB_EVENTS),
        }
        response = self.client.post("/webhooks/register", json=body)
        if response.status_code != 201:
            raise AssertionError(
                f"webhook registration answered {response.status_code}: {response.text}"
            )
        return dict(response.json())

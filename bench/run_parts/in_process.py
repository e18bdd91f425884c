"""The limiter's and the rule engine's own cost per request, timed in-process (µs), on core 0
like the servers. These reach into the package's internals: bench/run.py prints "n/a" and
keeps the wrk figures if they have moved.

Reads the fixtures and the scenario overhead.py wrote under the run's work folder.
"""

from __future__ import annotations

import asyncio
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.processes import on_core

from .common import ENT_KEY
from .overhead import PRO_KEY


def costs(work: Path) -> dict[str, float]:
    from starlette.requests import Request

    from aiprod_sandbox.api import faults
    from aiprod_sandbox.api.context import RequestContext
    from aiprod_sandbox.api.responses import rate_limit_headers
    from aiprod_sandbox.core.sandbox import Sandbox
    from aiprod_sandbox.settings import Settings

    with on_core(0):
        settings = Settings(fixtures=work / "fixtures", scenario=(str(work / "never.yaml"),))
        plain = Sandbox(settings.replace(scenario=()).core())
        scripted = Sandbox(settings.core())
        pro, _ = plain.accounts.identify(PRO_KEY)
        ent, _ = plain.accounts.identify(ENT_KEY)
        number = 200_000

        def per_call(stmt: Callable[[], object]) -> float:
            return min(timeit.repeat(stmt, number=number, repeat=5)) / number * 1e6

        def limiter(account: Any) -> Callable[[], object]:
            headers: dict[str, str] = {}

            def step() -> None:  # operation.py's lines, with the clock read they share
                decision = account.bucket.take(account.now())
                headers.update(rate_limit_headers(decision))
                if not decision.allowed:
                    raise RuntimeError("refused")

            return step

        clock_only = per_call(lambda: ent.now())
        figures = {
            "limiter_pro_us": per_call(limiter(pro)) - clock_only,
            "limiter_enterprise_us": per_call(limiter(ent)) - clock_only,
            "no_scenario_check_us": per_call(lambda: ent.scenarios.any),
        }
        account, key = scripted.accounts.identify(ENT_KEY)
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/pipeline/job_x",
            "raw_path": b"/pipeline/job_x",
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {key}".encode())],
            "scheme": "http",
            "server": ("127.0.0.1", 8080),
        }
        ctx = RequestContext(scripted, settings, 0.0, account=account, key=key)

        async def rules(n: int) -> float:
            started = time.perf_counter()
            for _ in range(n):
                request = Request(scope)
                request.headers  # noqa: B018 - auth has read them by then in the real path
                if await faults.apply(request, ctx) is not None:
                    raise RuntimeError("the never-matching rule fired")
            return time.perf_counter() - started

        async def requests_only(n: int) -> float:
            started = time.perf_counter()
            for _ in range(n):
                request = Request(scope)
                request.headers  # noqa: B018
            return time.perf_counter() - started

        n = 50_000
        best = min(asyncio.run(rules(n)) for _ in range(5))
        floor = min(asyncio.run(requests_only(n)) for _ in range(5))
        figures["scenario_rules_us"] = (best - floor) / n * 1e6
        return figures

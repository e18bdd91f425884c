"""The `aiprod_account` fixture's costs, step by step, with the plugin's own classes: the key,
the transport (in-process, the session's socket pool, or a shared one as a what-if),
`SandboxAccount(...)`, `account.reset()`, and at teardown `account.close()`; then submit + read
of a job on an Enterprise key; and the cost of building transports alone."""

from __future__ import annotations

import gc
import ssl
import time
from collections.abc import Callable
from typing import Any

INPROCESS_URL = "http://sandbox.inprocess"  # what the fixture uses for inprocess=True
IN_PROCESS = "in-process"  # @pytest.mark.aiprod_sandbox(inprocess=True)
SOCKET = "socket"  # the fixture's default
SHARED = "socket, one shared transport (what-if)"
SETUP = "set-up (fixture before yield)"
ACCOUNT_STEPS = (
    "key",
    "transport",
    "SandboxAccount()",
    "reset()",
    "close()",
    SETUP,
    "set-up + teardown",
)


def now() -> float:
    return time.perf_counter()


def timed(action: Callable[[], Any], runs: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        action()
    gc.collect()
    samples = []
    for _ in range(runs):
        started = now()
        action()
        samples.append(now() - started)
    return samples


class Bench:
    def __init__(self) -> None:
        import httpx

        from aiprod_sandbox.settings import Settings
        from aiprod_sandbox.testing import SandboxAccount, ThreadedSandbox
        from aiprod_sandbox.testing.plugin import _key

        self.httpx = httpx
        self.Settings = Settings
        self.SandboxAccount = SandboxAccount
        self.ThreadedSandbox = ThreadedSandbox
        self.key: Callable[..., str] = _key
        self.server: Any = None
        self.shared: Any = None
        self.serial = 0

    # server start, warm
    def warm_starts(self, runs: int) -> list[dict[str, float]]:
        results = []
        for index in range(runs + 1):
            t0 = now()
            server = self.ThreadedSandbox(self.Settings())
            t1 = now()
            server.start()
            t2 = now()
            server.stop()
            t3 = now()
            if index:  # the first one is a warm-up
                results.append({"construct": t1 - t0, "start": t2 - t1, "stop": t3 - t2})
        return results

    def start_session(self) -> None:
        self.server = self.ThreadedSandbox(self.Settings()).start()

    def stop_session(self) -> None:
        self.server.stop()

    # the aiprod_account fixture, step by step
    def _new_key(self, tier: str = "pro") -> str:
        self.serial += 1
        return str(self.key(f"bench/plugin.py::test_{self.serial}", tier, "main", ""))

    def _parts(self, mode: str) -> tuple[str, Any]:
        """(base URL, transport) as the fixture picks them; `shared` is a what-if."""
        if mode == IN_PROCESS:
            return INPROCESS_URL, self.server.transport()
        if mode == SOCKET:  # the fixture's default: the session's shared socket pool
            return self.server.base_url, self.server.socket_transport()
        if self.shared is None:
            self.shared = _Uncloseable(self.httpx.HTTPTransport())
        return self.server.base_url, self.shared

    def fixture(self, mode: str, tier: str = "pro") -> Any:
        """Exactly the fixture's set-up: key, transport, SandboxAccount, reset."""
        key = self._new_key(tier)
        base_url, transport = self._parts(mode)
        account = self.SandboxAccount(base_url, key, transport)
        account.reset()
        return account

    def account_cost(self, mode: str, runs: int) -> dict[str, list[float]]:
        steps: dict[str, list[float]] = {name: [] for name in ACCOUNT_STEPS}
        for index in range(runs + 20):
            t0 = now()
            key = self._new_key()
            t1 = now()
            base_url, transport = self._parts(mode)
            t2 = now()
            account = self.SandboxAccount(base_url, key, transport)
            t3 = now()
            account.reset()
            t4 = now()
            account.close()
            t5 = now()
            if index < 20:
                continue  # warm-up
            times = (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t4 - t0, t5 - t0)
            for name, value in zip(ACCOUNT_STEPS, times, strict=True):
                steps[name].append(value)
        return steps

    def job_cost(self, mode: str, runs: int) -> dict[str, list[float]]:
        account = self.fixture(mode, tier="enterprise")
        submits: list[float] = []
        reads: list[float] = []
        both: list[float] = []
        try:
            for index in range(runs + 20):
                t0 = now()
                job = account.submit()
                t1 = now()
                read = account.job(job["job_id"])
                t2 = now()
                if read["status"] != "COMPLETED":
                    raise RuntimeError(f"job not completed on read: {read['status']}")
                if index >= 20:
                    submits.append(t1 - t0)
                    reads.append(t2 - t1)
                    both.append(t2 - t0)
        finally:
            account.close()
        return {"submit": submits, "read": reads, "submit + read": both}

    def transport_costs(self, runs: int) -> dict[str, list[float]]:
        httpx = self.httpx
        return {
            "httpx.HTTPTransport()": timed(httpx.HTTPTransport, runs, warmup=3),
            "httpx.HTTPTransport(verify=False)": timed(
                lambda: httpx.HTTPTransport(verify=False), runs, warmup=3
            ),
            "ssl.create_default_context()": timed(ssl.create_default_context, runs, warmup=3),
        }


class _Uncloseable:
    """What-if: one session-wide socket transport the accounts share and do not close."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def handle_request(self, request: Any) -> Any:
        return self._inner.handle_request(request)

    def close(self) -> None:
        pass

    def __enter__(self) -> _Uncloseable:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

"""The pytest plugin's costs, measured with its own classes (`aiprod_sandbox.testing`).

Targets (from the issue):

  session server start     `ThreadedSandbox(Settings()).start()`            < 300 ms
  fresh account per test   what the `aiprod_account` fixture does           < 1 ms
  submit + read a job      in-process, `POST /pipeline/run` + `GET` of it   < 2 ms

Measured:

- server start, cold: a new interpreter per run (`--role cold`) imports the plugin module
  (what pytest's entry point loads at start-up), then times `ThreadedSandbox(Settings())`
  (construct) and `.start()` (until uvicorn reports `started`), then `.stop()`. Warm: the
  same, repeated in this process after one unmeasured run.
- fresh account: the fixture's steps for a new test id each time: the key (`_key`), the
  transport (`server.transport()` for `inprocess=True`, else a new `httpx.HTTPTransport()`),
  `SandboxAccount(...)`, `account.reset()`, and at teardown `account.close()`.
- submit + read: `account.submit()` then `account.job(id)`, which must say COMPLETED (the
  default instant timing). On an Enterprise key: a Pro key's 100 requests/minute would
  throttle the loop after 25 rounds; the per-request cost is the same.

    .venv/bin/python bench/plugin.py
    .venv/bin/python bench/plugin.py --profile   # pyinstrument (pip install pyinstrument)

Exit status 0 when every target is met, 1 when one is not.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
START_TARGET_MS = 300.0
ACCOUNT_TARGET_MS = 1.0
JOB_TARGET_MS = 2.0
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


def stats(values_s: Sequence[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values_s)
    return {
        "n": len(ms),
        "min": ms[0],
        "median": statistics.median(ms),
        "p90": ms[min(len(ms) - 1, int(0.9 * len(ms)))],
        "max": ms[-1],
    }


# ---- role: one cold start in a fresh interpreter ---------------------------------------------
def run_cold(profile: bool) -> None:
    t0 = now()
    import aiprod_sandbox.testing.plugin  # noqa: F401  (pytest loads it at start-up)
    from aiprod_sandbox.settings import Settings
    from aiprod_sandbox.testing import ThreadedSandbox

    t1 = now()
    profiler = _profiler() if profile else None
    if profiler:
        profiler.start()
    t2 = now()
    server = ThreadedSandbox(Settings())
    t3 = now()
    server.start()
    t4 = now()
    if profiler:
        profiler.stop()
    server.stop()
    t5 = now()
    if profiler:
        print(profiler.output_text(unicode=True, color=False, show_all=False), file=sys.stderr)
    result = {"import": t1 - t0, "construct": t3 - t2, "start": t4 - t3, "stop": t5 - t4}
    print(json.dumps(result), flush=True)


def _profiler() -> Any:
    try:
        from pyinstrument import Profiler
    except ImportError:
        sys.exit("--profile needs pyinstrument: .venv/bin/pip install pyinstrument")
    return Profiler(interval=0.0002, async_mode="disabled")


def cold_env(cached: bool) -> dict[str, str]:
    """The environment as it is, or with a bytecode cache kept outside the repository (this
    machine sets PYTHONDONTWRITEBYTECODE=1, so the package's own modules, installed editable,
    are compiled from source in every new process)."""
    env = dict(os.environ)
    if cached:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / "bench-pycache")
    return env


def cold_starts(runs: int, cached: bool) -> list[dict[str, float]]:
    results = []
    env = cold_env(cached)
    for index in range(runs + 1):
        spawned = now()
        done = subprocess.run(
            [sys.executable, str(HERE), "--role", "cold"],
            capture_output=True,
            timeout=60,
            env=env,
        )
        elapsed = now() - spawned
        if done.returncode != 0:
            raise RuntimeError(f"cold run failed:\n{done.stderr.decode(errors='replace')}")
        result = json.loads(done.stdout.decode().strip().splitlines()[-1])
        result["process"] = elapsed
        if index:  # the first fills the bytecode cache (or the page cache): not counted
            results.append(result)
    return results


def loadavg() -> str:
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


# ---- the in-process measurements -------------------------------------------------------------
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
        self.key = _key
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


# ---- profiling -------------------------------------------------------------------------------
def profile_loop(bench: Bench, label: str, action: Callable[[], Any], runs: int) -> None:
    """Profile `action` × runs on this thread and, at once, on the server's event-loop thread
    (where the in-process transport runs the app)."""
    import asyncio

    client_profiler = _profiler()
    server_profiler = _profiler()
    loop = bench.server.loop
    asyncio.run_coroutine_threadsafe(_call(server_profiler.start), loop).result(5)
    client_profiler.start()
    for _ in range(runs):
        action()
    client_profiler.stop()
    asyncio.run_coroutine_threadsafe(_call(server_profiler.stop), loop).result(5)
    for side, profiler in (("calling thread", client_profiler), ("server thread", server_profiler)):
        print(f"\n===== profile: {label} × {runs}, {side} =====")
        print(profiler.output_text(unicode=True, color=False, show_all=False))


async def _call(function: Callable[[], Any]) -> None:
    function()


# ---- the report ------------------------------------------------------------------------------
START_PARTS = {
    "import": "import the plugin module (pytest start-up)",
    "construct": "ThreadedSandbox(Settings())",
    "start": ".start()",
    "stop": ".stop() (session teardown)",
    "process": "whole child process, spawn to exit",
}


def verdict(value: float, target: float) -> str:
    return "met" if value < target else "NOT MET"


def row(label: str, values: Sequence[float], target: float | None = None) -> str:
    figures = stats(values)
    end = f" {target:g} | {verdict(figures['median'], target)} |" if target else " | |"
    return (
        f"| {label} | {figures['n']} | {figures['min']:.3f} | {figures['median']:.3f} | "
        f"{figures['p90']:.3f} | {figures['max']:.3f} |{end}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the pytest plugin's costs")
    parser.add_argument("--cold-runs", type=int, default=10)
    parser.add_argument("--warm-runs", type=int, default=10)
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="pyinstrument the missed ones")
    parser.add_argument("--role", choices=["bench", "cold"], default="bench")
    args = parser.parse_args(argv)
    if args.role == "cold":
        run_cold(args.profile)
        return 0

    load_before = loadavg()
    cold = cold_starts(args.cold_runs, cached=False)
    cold_cached = cold_starts(args.cold_runs, cached=True)
    bench = Bench()
    warm = bench.warm_starts(args.warm_runs)
    bench.start_session()
    try:
        modes = (IN_PROCESS, SOCKET, SHARED)
        accounts = {mode: bench.account_cost(mode, args.accounts) for mode in modes}
        jobs = {mode: bench.job_cost(mode, args.jobs) for mode in (IN_PROCESS, SOCKET)}
        transports = bench.transport_costs(100)
        load_after = loadavg()

        def start_rows(label: str, results: list[dict[str, float]], target: bool) -> None:
            total = [r["construct"] + r["start"] for r in results]
            print(
                row(
                    f"**server start, {label}** (construct + start)",
                    total,
                    START_TARGET_MS if target else None,
                )
            )
            for part in ("import", "construct", "start", "stop", "process"):
                if part in results[0]:
                    print(row(f"  {label}: {START_PARTS[part]}", [r[part] for r in results]))

        print(
            f"python {sys.version.split()[0]}; load average before {load_before}, "
            f"after {load_after}\n"
        )
        print("| measure | n | min ms | median ms | p90 ms | max ms | target ms | verdict |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        start_rows("cold", cold, True)
        start_rows("cold, bytecode cached", cold_cached, True)
        start_rows("warm, in this process", warm, True)
        for mode in modes:
            steps = accounts[mode]
            target = ACCOUNT_TARGET_MS if mode != SHARED else None
            print(row(f"**fresh account, {mode}** (fixture set-up)", steps[SETUP], target))
            for name in ACCOUNT_STEPS:
                if name != SETUP:
                    print(row(f"  {mode}: {name}", steps[name]))
        for name, values in transports.items():
            print(row(f"  alone: {name}", values))
        for mode in (IN_PROCESS, SOCKET):
            parts = jobs[mode]
            target = JOB_TARGET_MS if mode == IN_PROCESS else None
            print(row(f"**submit + read, {mode}**", parts["submit + read"], target))
            print(row(f"  {mode}: submit()", parts["submit"]))
            print(row(f"  {mode}: job(id)", parts["read"]))

        def median(values: Sequence[float]) -> float:
            return stats(values)["median"]

        met = {
            "server start < 300 ms (cold, median)": median(
                [r["construct"] + r["start"] for r in cold]
            )
            < START_TARGET_MS,
            "fresh account < 1 ms, in-process (median)": median(accounts[IN_PROCESS][SETUP])
            < ACCOUNT_TARGET_MS,
            "fresh account < 1 ms, socket = the fixture's default (median)": median(
                accounts[SOCKET][SETUP]
            )
            < ACCOUNT_TARGET_MS,
            "submit + read < 2 ms, in-process (median)": median(jobs[IN_PROCESS]["submit + read"])
            < JOB_TARGET_MS,
        }
        print()
        for name, ok in met.items():
            print(f"target {name}: {'met' if ok else 'NOT MET'}")

        if args.profile:
            for mode in (IN_PROCESS, SOCKET):
                if median(accounts[mode][SETUP]) >= ACCOUNT_TARGET_MS:

                    def fresh(mode: str = mode) -> None:
                        bench.fixture(mode).close()

                    profile_loop(bench, f"fresh account ({mode})", fresh, 200)
            if median(jobs[IN_PROCESS]["submit + read"]) >= JOB_TARGET_MS:
                account = bench.fixture(IN_PROCESS, tier="enterprise")

                def submit_read() -> None:
                    account.job(account.submit()["job_id"])

                profile_loop(bench, "submit + read (in-process)", submit_read, 500)
            if median([r["construct"] + r["start"] for r in cold]) >= START_TARGET_MS:
                done = subprocess.run(
                    [sys.executable, str(HERE), "--role", "cold", "--profile"],
                    capture_output=True,
                    timeout=60,
                    check=True,
                    env=cold_env(cached=True),
                )
                print("\n===== profile: cold ThreadedSandbox(Settings()).start() =====")
                print(done.stderr.decode())
    finally:
        bench.stop_session()
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

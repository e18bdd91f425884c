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
import statistics
import subprocess
import sys
from collections.abc import Sequence

from harness.measuring import at_fraction
from harness.procfs import load_average
from plugin_parts.cold import SCRIPT, cold_env, cold_starts, run_cold
from plugin_parts.fixture import ACCOUNT_STEPS, IN_PROCESS, SETUP, SHARED, SOCKET, Bench
from plugin_parts.profiling import profile_loop

START_TARGET_MS = 300.0
ACCOUNT_TARGET_MS = 1.0
JOB_TARGET_MS = 2.0
START_PARTS = {
    "import": "import the plugin module (pytest start-up)",
    "construct": "ThreadedSandbox(Settings())",
    "start": ".start()",
    "stop": ".stop() (session teardown)",
    "process": "whole child process, spawn to exit",
}


def stats(values_s: Sequence[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values_s)
    return {
        "n": len(ms),
        "min": ms[0],
        "median": statistics.median(ms),
        "p90": at_fraction(ms, 0.9),
        "max": ms[-1],
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

    load_before = load_average()
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
        load_after = load_average()

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

                    profile_loop(bench.server.loop, f"fresh account ({mode})", fresh, 200)
            if median(jobs[IN_PROCESS]["submit + read"]) >= JOB_TARGET_MS:
                account = bench.fixture(IN_PROCESS, tier="enterprise")

                def submit_read() -> None:
                    account.job(account.submit()["job_id"])

                profile_loop(bench.server.loop, "submit + read (in-process)", submit_read, 500)
            if median([r["construct"] + r["start"] for r in cold]) >= START_TARGET_MS:
                done = subprocess.run(
                    [sys.executable, str(SCRIPT), "--role", "cold", "--profile"],
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

"""What `--data-dir` costs (issue 19): `POST /pipeline/run` on the sandbox keeping every account
in SQLite against the same sandbox in memory and the bare Starlette app, and the time to start
with 100,000 jobs stored.

Throughput: the installed `aiprod-sandbox serve` (this venv), in memory and with a data
directory in a temporary folder, and `bench/bare_app.py`, each pinned to core 0, loaded by wrk
on core 1 (an Enterprise key, 32 connections), `--rounds` rounds of `--duration` s after a
warm-up, the order rotated every round; the key's account is reset before each run. The
target: the data directory at least 0.5x the in-memory figure.

Start-up: a data directory is filled with 100,000 jobs (made in this process through the
core and written by the same store the server uses), then `serve --data-dir` is timed from
spawn to the first 200 on GET /health, beside an empty data directory and memory only,
`--runs` runs each, interleaved. The target: under 3 s with 100,000 jobs.

    .venv/bin/python bench/store_cost.py
    .venv/bin/python bench/store_cost.py --rounds 5 --duration 10 --runs 5
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from aiprod_sandbox import Settings
from aiprod_sandbox.app import build_sandbox
from aiprod_sandbox.core.jobs import JobInput
from harness import machine, wrk
from harness.client import Client
from harness.fleet import Fleet, Server
from harness.measuring import interleaved
from harness.processes import bare_app, sandbox_cli
from harness.report import print_spread
from run_parts.common import ENT_KEY

THROUGHPUT_TARGET = 0.5  # data directory / memory, requests per second
STARTUP_TARGET = 3.0  # seconds, with 100,000 jobs stored
STORED_JOBS = 100_000


def sandbox(*more: str) -> Callable[[int], list[str]]:
    cli = sandbox_cli()
    return lambda port: [cli, "serve", "--port", str(port), "--log-level", "warning", *more]


def reset(server: Server) -> None:
    if server.name != "bare":
        with Client(server.port, ENT_KEY, timeout=60) as client:
            assert client.call("POST", "/_sandbox/reset", {}).status == 200


def fill(data_dir: Path, jobs: int) -> float:
    """`jobs` completed jobs in one account of `data_dir`, written by the server's own store;
    the seconds it took."""
    started = time.perf_counter()
    sandbox_ = build_sandbox(Settings(data_dir=data_dir))
    try:
        account, _ = sandbox_.accounts.identify(ENT_KEY)
        for n in range(jobs):
            account.submit_job(JobInput("https://example.com/video.mp4"), {"n": str(n)})
            if n % 1000 == 999:
                account.run_due()
                sandbox_.store.commit(account)
        account.run_due()
    finally:
        sandbox_.store.close()
    return time.perf_counter() - started


def throughput(args: argparse.Namespace, tmp: Path) -> dict[str, wrk.Load]:
    contenders = {
        "bare": bare_app,
        "memory": sandbox(),
        "data-dir": sandbox("--data-dir", str(tmp / "throughput")),
    }
    runs: dict[str, list[wrk.Load]] = {name: [] for name in contenders}
    with Fleet(tmp) as fleet:
        servers = {name: fleet.start(name, argv) for name, argv in contenders.items()}
        for server in servers.values():
            reset(server)
            wrk.load(server, "/pipeline/run", "post_run.lua", ENT_KEY, args.warmup, 32)
        order = list(servers)
        for round_ in range(args.rounds):
            for name in order[round_ % len(order) :] + order[: round_ % len(order)]:
                reset(servers[name])
                key = None if name == "bare" else ENT_KEY
                load = wrk.load(
                    servers[name], "/pipeline/run", "post_run.lua", key,
                    args.duration, args.connections,
                )  # fmt: skip
                runs[name].append(load)
                print(f"  round {round_ + 1} {name:10} {load.line()}", flush=True)
    return {name: wrk.median(loads) for name, loads in runs.items()}


def startup(args: argparse.Namespace, tmp: Path) -> dict[str, list[float]]:
    full, empty = tmp / "full", tmp / "empty"
    seconds = fill(full, STORED_JOBS)
    size = sum(f.stat().st_size for f in full.iterdir()) / 2**20
    print(f"  filled a data directory: {STORED_JOBS:,} jobs, {seconds:.1f} s, {size:.0f} MiB")
    fill(empty, 0)
    with Fleet(tmp, core=None) as fleet:

        def served(name: str, argv: Callable[[int], list[str]]) -> Callable[[], float]:
            def measure() -> float:
                server = fleet.start(name, argv)
                fleet.stop(server)
                return server.startup_s

            return measure

        return interleaved(
            {
                "memory only": served("memory", sandbox()),
                "empty data-dir": served("empty", sandbox("--data-dir", str(empty))),
                f"{STORED_JOBS:,} jobs stored": served("full", sandbox("--data-dir", str(full))),
            },
            args.runs,
            1,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds a run (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds, once a server (3)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--runs", type=int, default=5, help="start-ups measured each (5)")
    args = parser.parse_args()
    wrk.ensure_installed()
    info = machine.describe({"wrk": wrk.version()})
    print(machine.headline(info, "wrk"), flush=True)
    with tempfile.TemporaryDirectory(prefix="store-cost-") as folder:
        tmp = Path(folder)
        medians = throughput(args, tmp)
        starts = startup(args, tmp)
    print(
        f"\nPOST /pipeline/run, median of {args.rounds} rounds x {args.duration:g} s, "
        f"{args.connections} connections"
    )
    for name, load in medians.items():
        print(f"  {name:10} {load.line()}")
    ratio = medians["data-dir"].rps / medians["memory"].rps
    bare = medians["data-dir"].rps / medians["bare"].rps
    met = ratio >= THROUGHPUT_TARGET
    print(
        f"data-dir / memory: {ratio:.2f}x (target >= {THROUGHPUT_TARGET}x: "
        f"{'met' if met else 'NOT met'}); data-dir / bare: {bare:.2f}x"
    )
    print(f"\nstart-up to the first 200 on GET /health, {args.runs} runs each (seconds)")
    figures = print_spread(starts, 22)
    full = figures[f"{STORED_JOBS:,} jobs stored"][1]
    print(
        f"with {STORED_JOBS:,} jobs: median {full:.2f} s (target < {STARTUP_TARGET} s: "
        f"{'met' if full < STARTUP_TARGET else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

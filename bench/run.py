"""Throughput, latency, overhead and memory of the sandbox, against a bare Starlette app (the
floor) and beside the mock servers a partner would pick instead (Prism, WireMock, Mockoon).

One command, from the repository root (package installed in `.venv`):

    .venv/bin/python bench/run.py                          # --duration 10 --connections 32
    .venv/bin/python bench/run.py --duration 3 --jobs 20000 --rounds 1   # a quick look
    .venv/bin/python bench/run.py --skip overhead --skip memory --peers none --dev   # ours only

The sandbox runs as a partner installs it: the wheel of this checkout, built and installed
into a fresh venv with the image's pins (constraints/runtime.txt); the bare app runs on that
venv's Python too, so the floor stands on the same uvicorn, httptools and uvloop (run_parts/
install.py; `--dev` uses this interpreter instead). Which event loop and HTTP parser each
server runs is read from its process after the warm-up, not assumed (harness/stack.py), and
printed with the figures. The peers are installed with npm into `--peer-cache` (outside the
repository) and serve bench/peers/'s definitions (run_parts/peers.py); one that does not
install or start is reported with the reason and the run goes on.

What it does, in order (every server on 127.0.0.1, pinned to core 0 with `taskset -c 0` and
loaded by `wrk` pinned to core 1, when `taskset` exists; every server stopped at the end,
whatever happens):

1. Throughput and latency. The bare app (`bench/bare_app.py`), the sandbox
   (`aiprod-sandbox serve`), same uvicorn options (one worker, no access log, log level
   warning), and the peers, loaded one after the other with `wrk -t1 -cC -dDs --latency`
   on GET /health, GET /pipeline/{id} (a COMPLETED job, made first with the same key) and
   POST /pipeline/run, with an Enterprise key (`sk_test_ent_…`: no rate limit, so nothing
   is throttled); `--rounds` rounds, the order rotated each round; medians.
2. Limiter and scenario-engine overhead, on GET /pipeline/{id}: an Enterprise key (no
   limiter) against a Pro fixture account whose limits are raised out of reach (the limiter
   runs, never refuses), both on one server started with `--fixtures` of our own; and the
   Enterprise key on a second server that also has `--scenario` of a file whose only rule
   never matches. Interleaved rounds; medians. Then the same costs timed in-process.
3. Memory. VmRSS of a fresh sandbox after start and one request; then after one Enterprise
   account holds `--jobs` (100,000) COMPLETED jobs, submitted over 32 keep-alive connections.

Besides wrk's figures it reads each server's CPU time per request (`/proc/PID/task/*/schedstat`)
and how long it waited for its core: on a machine shared with other work, requests/second
move with the neighbours' load, CPU time per request hardly does, so the CPU ratio is printed
next to the requests/second ratio.

It prints the figures, the ratios against the bare app, and whether each target is met;
`--json FILE` also writes every figure. wrk is installed with `apt-get install -y wrk` if it
is missing (needs root).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from harness import machine, wrk
from harness.fleet import Fleet
from installed_startup_parts.wheel import LEAKY
from run_parts import in_process, install, memory, overhead, peers, throughput
from run_parts.common import Check

STARTUP_TARGET_S = 0.5


def print_machine(info: dict[str, str], args: argparse.Namespace, stack: dict[str, str]) -> None:
    print()
    print(f"machine: {machine.headline(info, 'wrk')}")
    print(f"load average at the end: {machine.describe()['load_average']}")
    print(f"floor and sandbox from {stack['how']}")
    print(
        "  "
        + ", ".join(f"{k} {v}" for k, v in stack.items() if k not in ("how", "at"))
        + f"; aiprod_sandbox imported from {stack['at']}"
    )
    pin = "server on core 0, wrk on core 1" if info["taskset"] == "yes" else "not pinned"
    print(f"wrk -t1 -c{args.connections} -d{args.duration:g}s --latency ({pin})")


def startup_report(startups: dict[str, list[float]]) -> list[Check]:
    starts = startups.get("sandbox", [])
    if not starts:
        return []
    median = statistics.median(starts)
    print()
    print(
        f"Startup to first 200 on /health (sandbox, {len(starts)} starts in this run, "
        f"pinned to one core): median {median:.3f} s, max {max(starts):.3f} s "
        "(bench/startup.py measures it on its own)"
    )
    target = f"startup <= {STARTUP_TARGET_S} s (median)"
    return [Check(target, f"{median:.3f} s", median <= STARTUP_TARGET_S)]


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally that stops every server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds a measurement")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds first")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each overhead series")
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs stored for memory")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["throughput", "overhead", "memory"],
        help="leave a part out (repeatable)",
    )
    parser.add_argument(
        "--peers",
        type=lambda text: [] if text == "none" else text.split(","),
        default=list(peers.NAMES),
        help=f"peers, comma-separated, or none (default: {','.join(peers.NAMES)})",
    )
    parser.add_argument("--peer-cache", default=str(peers.CACHE), help="where npm installs them")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--venv", type=Path, help="a venv with the wheel installed already")
    where.add_argument("--dev", action="store_true", help="this interpreter, not the wheel")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    if unknown := set(args.peers) - set(peers.NAMES):
        parser.error(f"--peers: unknown {', '.join(sorted(unknown))}")
    for name in LEAKY:  # the servers' environment must not reach back into this checkout
        os.environ.pop(name, None)
    wrk.ensure_installed()
    signal.signal(signal.SIGTERM, _terminate)
    tools = {"wrk": wrk.version(), "taskset": "yes" if shutil.which("taskset") else "no"}
    info = machine.describe(tools)
    loads = over = costs = mem = None
    with tempfile.TemporaryDirectory(prefix="aiprod-bench-") as tmp:
        work = Path(tmp)
        print("Installing", flush=True)
        python = install.prepare(work, args.venv, args.dev)
        versions = python.versions()
        stack = {"how": python.how, "at": versions.pop("aiprod_sandbox_at"), **versions}
        with Fleet(work) as fleet:
            if "throughput" not in args.skip:
                print("Throughput and latency", flush=True)
                loads = throughput.measure(fleet, args, python)
            if "overhead" not in args.skip:
                print("Limiter and scenario engine overhead", flush=True)
                over = overhead.measure(fleet, args, work, python)
                try:
                    costs = in_process.costs(work)
                except Exception as exc:  # internals moved: the wrk figures still stand
                    print(f"  in-process timings n/a: {exc!r}", flush=True)
            if "memory" not in args.skip:
                print("Memory", flush=True)
                mem = memory.measure(fleet, args.jobs, python)

    print_machine(info, args, stack)
    checks = throughput.report(loads, args) if loads else []
    checks += overhead.report(over, costs, args.rounds) if over else []
    checks += memory.report(mem) if mem else []
    checks += startup_report(fleet.startups)
    print()
    print("Targets")
    for check in checks:
        print(f"  {check.target:58} {check.figure:>10}  {'met' if check.met else 'MISSED'}")
    if args.json:
        document = {
            "machine": info,
            "installed": stack,
            "command": " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])]),
            "stacks": {k: asdict(v) for k, v in (loads.stacks if loads else {}).items()},
            "peers_missing": loads.missing if loads else {},
            "throughput": {
                app: {k: [asdict(x) for x in v] for k, v in per_endpoint.items()}
                for app, per_endpoint in (loads.loads if loads else {}).items()
            },
            "overhead": {k: [asdict(x) for x in v] for k, v in (over or {}).items()},
            "in_process_us": costs,
            "memory": asdict(mem) | {"jobs_delta_mb": mem.jobs_delta_mb} if mem else None,
            "startup_s": fleet.startups,
            "targets": [{"target": c.target, "figure": c.figure, "met": c.met} for c in checks],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

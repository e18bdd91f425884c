"""Throughput and latency: the floor (the bare app), the sandbox (Enterprise key) and the peers
a partner would pick instead, endpoint by endpoint.

Each endpoint of each server is loaded with wrk one after the other, `--rounds` times, the
order rotated every round: on a shared machine, drift in its other load then touches all
alike. All servers stay up; only one is loaded at once. After the warm-up, before the first
measured round, each process is asked which event loop and HTTP parser it runs
(harness/stack.py). Reported: medians, the ratio to the floor by requests/second and by CPU
time per request, and p99.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from harness import stack, wrk
from harness.fleet import Fleet, Server

from . import peers
from .common import ENT_KEY, Check, completed_job
from .install import Install

ENDPOINTS = ("GET /health", "GET /pipeline/{id}", "POST /pipeline/run")
# Issue 20's targets, against the floor users have (the bare app on httptools and uvloop).
RATIO_TARGETS = {"GET /health": 0.8, "GET /pipeline/{id}": 0.6, "POST /pipeline/run": 0.5}
P99_TARGET_MS = 10.0
FLOOR, SANDBOX = "bare", "sandbox"
PEER_JOB = "job_bench0000000000"  # the peers answer any id with the same constant job


@dataclass
class Results:
    loads: dict[str, dict[str, list[wrk.Load]]]  # server -> endpoint -> one Load a round
    stacks: dict[str, stack.Stack]
    missing: dict[str, str] = field(default_factory=dict)  # peer -> why it is not in the run


def measure(fleet: Fleet, args: argparse.Namespace, install: Install) -> Results:
    servers: dict[str, Server] = {
        FLOOR: fleet.start(FLOOR, install.bare),
        SANDBOX: fleet.start(SANDBOX, install.sandbox()),
    }
    try:
        started, missing = peers.start(fleet, args.peers, Path(args.peer_cache))
        servers.update(started)
        targets: dict[str, dict[str, tuple[str, str, str | None]]] = {}
        for name, server in servers.items():
            key = None if name == FLOOR else ENT_KEY  # Prism checks that secured calls carry one
            job = completed_job(server, ENT_KEY) if name == SANDBOX else PEER_JOB
            targets[name] = {
                "GET /health": ("get.lua", "/health", None),
                "GET /pipeline/{id}": ("get.lua", f"/pipeline/{job}", key),
                "POST /pipeline/run": ("post_run.lua", "/pipeline/run", key),
            }
        loads: dict[str, dict[str, list[wrk.Load]]] = {
            name: {endpoint: [] for endpoint in ENDPOINTS} for name in servers
        }
        if args.warmup:
            for name in servers:
                for script, path, key in targets[name].values():
                    wrk.load(servers[name], path, script, key, args.warmup, args.connections)
        stacks = {}
        for name, server in servers.items():
            stacks[name] = stack.probe(server.pid, server.port)
            print(
                f"  {name:8} loop: {stacks[name].loop}; parser: {stacks[name].parser}", flush=True
            )
        names = list(servers)
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for endpoint in ENDPOINTS:
                for name in order:
                    script, path, key = targets[name][endpoint]
                    load = wrk.load(
                        servers[name], path, script, key, args.duration, args.connections
                    )
                    loads[name][endpoint].append(load)
                    print(f"  round {round_ + 1} {name:8} {endpoint:20} {load.line()}", flush=True)
        return Results(loads, stacks, missing)
    finally:
        for server in servers.values():
            fleet.stop(server)


def report(results: Results, args: argparse.Namespace) -> list[Check]:
    loads = results.loads
    print()
    print("Servers: the event loop and HTTP parser each process ran (read from the process)")
    for name, found in results.stacks.items():
        what = peers.label(name) if name in peers.NAMES else name
        print(f"  {what:28} loop: {found.loop}")
        print(f"  {'':28} parser: {found.parser}  [{found.evidence}]")
    for name, reason in results.missing.items():
        print(f"  {name:28} not in this run: {reason}")
    print()
    print(
        f"Throughput and latency: median of {args.rounds} rounds "
        "(latency in ms; CPU = the server's CPU time per request)"
    )
    print(
        f"{'endpoint':19}|{'bare req/s':>11}{'p50':>6}{'p99':>7}{'CPU µs':>8} |"
        f"{'sandbox req/s':>14}{'p50':>6}{'p99':>7}{'CPU µs':>8} |"
        f"{'req/s ratio':>12}{'CPU ratio':>10}{'target':>8}"
    )
    checks: list[Check] = []
    waits = []
    for endpoint in ENDPOINTS:
        bare = wrk.median(loads[FLOOR][endpoint])
        box = wrk.median(loads[SANDBOX][endpoint])
        waits += [bare.waited, box.waited]
        ratio = box.rps / bare.rps
        by_cpu = bare.cpu_us / box.cpu_us
        target = RATIO_TARGETS[endpoint]
        print(
            f"{endpoint:19}|{bare.rps:11,.0f}{bare.p50_ms:6.1f}{bare.p99_ms:7.1f}"
            f"{bare.cpu_us:8.0f} |{box.rps:14,.0f}{box.p50_ms:6.1f}{box.p99_ms:7.1f}"
            f"{box.cpu_us:8.0f} |{ratio:11.2f}x{by_cpu:9.2f}x"
            f"{'>= ' + format(target, '.1f'):>8}"
        )
        checks.append(Check(f"{endpoint} >= {target:.1f}x bare", f"{ratio:.2f}x", ratio >= target))
        checks.append(
            Check(f"{endpoint} >= {target:.1f}x bare (by CPU)", f"{by_cpu:.2f}x", by_cpu >= target)
        )
    print(
        f"(the servers waited for their core {statistics.median(waits):.0%} of the time, "
        "median: other load on the machine; the CPU ratio does not see it)"
    )
    print(
        f"(a closed loop of {args.connections} connections keeps p50 near "
        f"{args.connections} / req/s: p99 < {P99_TARGET_MS:g} ms needs well over "
        f"{args.connections * 1000 / P99_TARGET_MS:,.0f} req/s)"
    )
    print_ratios(loads)
    for endpoint in ENDPOINTS:
        p99 = wrk.median(loads[SANDBOX][endpoint]).p99_ms
        checks.append(
            Check(f"{endpoint} p99 < {P99_TARGET_MS:g} ms", f"{p99:.1f} ms", p99 < P99_TARGET_MS)
        )
    return checks


def print_ratios(loads: dict[str, dict[str, list[wrk.Load]]]) -> None:
    """Every server against the floor of the same run: req/s ratio, CPU ratio, p99."""
    print()
    print(
        "Against the floor (median req/s and CPU per request as a ratio to the bare app's; p99 ms)"
    )
    others = [name for name in loads if name != FLOOR]
    print(
        f"{'endpoint':19}|{'floor req/s':>12}{'p99':>6} |" + "".join(f"{n:>21} |" for n in others)
    )
    for endpoint in ENDPOINTS:
        floor = wrk.median(loads[FLOOR][endpoint])
        cells = []
        for name in others:
            load = wrk.median(loads[name][endpoint])
            by_rps, by_cpu = load.rps / floor.rps, floor.cpu_us / load.cpu_us
            cells.append(f"{by_rps:6.2f}x {by_cpu:5.2f}x {load.p99_ms:6.1f} |")
        print(f"{endpoint:19}|{floor.rps:12,.0f}{floor.p99_ms:6.1f} |" + "".join(cells))
    print(f"{'':19}|{'':18} |" + "".join(f"{'req/s':>8}{'CPU':>7}{'p99':>6} |" for _ in others))

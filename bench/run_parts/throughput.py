"""Throughput and latency: the bare app and the sandbox (Enterprise key), endpoint by endpoint.

Each endpoint of each server is loaded with wrk one after the other, `--rounds` times, the order
swapped every round: on a shared machine, drift in its other load then touches both alike. Both
servers stay up; only one is loaded at once. Reported: medians, the ratio sandbox / bare by
requests/second and by CPU time per request, and the sandbox's p99.
"""

from __future__ import annotations

import argparse
import statistics

from harness import wrk
from harness.fleet import Fleet
from harness.processes import bare_app

from .common import ENT_KEY, Check, completed_job, sandbox

ENDPOINTS = ("GET /health", "GET /pipeline/{id}", "POST /pipeline/run")
RATIO_TARGETS = {"GET /health": 0.7, "GET /pipeline/{id}": 0.5, "POST /pipeline/run": 0.4}
P99_TARGET_MS = 10.0

Results = dict[str, dict[str, list[wrk.Load]]]  # server -> endpoint -> one Load a round


def measure(fleet: Fleet, args: argparse.Namespace) -> Results:
    servers = {"bare": fleet.start("bare", bare_app), "sandbox": fleet.start("sandbox", sandbox())}
    try:
        targets: dict[str, dict[str, tuple[str, str, str | None]]] = {}
        for name, server in servers.items():
            key = ENT_KEY if name == "sandbox" else None
            job = completed_job(server, key) if key else "job_bench0000000000"
            targets[name] = {
                "GET /health": ("get.lua", "/health", None),
                "GET /pipeline/{id}": ("get.lua", f"/pipeline/{job}", key),
                "POST /pipeline/run": ("post_run.lua", "/pipeline/run", key),
            }
        results: Results = {name: {endpoint: [] for endpoint in ENDPOINTS} for name in servers}
        if args.warmup:
            for name in servers:
                for script, path, key in targets[name].values():
                    wrk.load(servers[name], path, script, key, args.warmup, args.connections)
        for round_ in range(args.rounds):
            for endpoint in ENDPOINTS:
                order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
                for name in order:
                    script, path, key = targets[name][endpoint]
                    load = wrk.load(
                        servers[name], path, script, key, args.duration, args.connections
                    )
                    results[name][endpoint].append(load)
                    print(f"  round {round_ + 1} {name:8} {endpoint:20} {load.line()}", flush=True)
        return results
    finally:
        for server in servers.values():
            fleet.stop(server)


def report(results: Results, args: argparse.Namespace) -> list[Check]:
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
        bare = wrk.median(results["bare"][endpoint])
        box = wrk.median(results["sandbox"][endpoint])
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
    for endpoint in ENDPOINTS:
        p99 = wrk.median(results["sandbox"][endpoint]).p99_ms
        checks.append(
            Check(f"{endpoint} p99 < {P99_TARGET_MS:g} ms", f"{p99:.1f} ms", p99 < P99_TARGET_MS)
        )
    return checks

"""Limiter and scenario-engine overhead, on GET /pipeline/{id}.

An Enterprise key (no limiter) against a Pro fixture account whose limits are raised out of
reach (the limiter runs, never refuses), both on one server started with `--fixtures` of our
own; and the Enterprise key on a second server that also has `--scenario` of a file whose only
rule never matches. Interleaved rounds; medians. The same costs are then timed in-process
(in_process.py) and reported here as a share of one request's CPU time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import wrk
from harness.client import call
from harness.fleet import Fleet

from .common import ENT_KEY, Check, completed_job
from .install import Install

PRO_KEY = "sk_test_bench_pro_unthrottled_key_01"
PRO_ACCOUNT = "acct_bench_pro_unthrottled"
HUGE = 1_000_000_000
FIXTURE_ACCOUNTS = f"""\
# bench/run.py: one Pro account whose limits are out of reach, so the limiter runs on every
# request and never refuses one.
accounts:
  - account_id: {PRO_ACCOUNT}
    tier: pro
    limits: {{requests_per_minute: {HUGE}, burst: {HUGE}}}
    keys:
      - {{key: {PRO_KEY}, name: Bench Pro key}}
"""
NEVER_SCENARIO = """\
name: bench-never-matches
description: One request rule that never matches, to time the rule engine itself.
requests:
  - name: never
    match: {path: "/never/*"}
    respond: {status: 503}
"""
OVERHEAD_TARGET = 0.05
LABELS = {
    "enterprise": "Enterprise (no limiter, no scenario)",
    "pro, limiter on": "Pro, limits raised (limiter runs)",
    "enterprise, scenario": "Enterprise + never-matching rule",
}
COSTS = {
    "limiter_pro_us": "limiter, Pro bucket (take + headers)",
    "limiter_enterprise_us": "limiter, Enterprise (unlimited) bucket",
    "scenario_rules_us": "rule engine, one never-matching rule",
    "no_scenario_check_us": "rule engine, no scenario (the `any` check)",
}

Results = dict[str, list[wrk.Load]]  # series -> one Load a round


def write_inputs(work: Path) -> tuple[Path, Path]:
    """The fixtures folder and the scenario file, written under `work`."""
    fixtures = work / "fixtures"
    fixtures.mkdir(exist_ok=True)
    (fixtures / "accounts.yaml").write_text(FIXTURE_ACCOUNTS)
    scenario = work / "never.yaml"
    scenario.write_text(NEVER_SCENARIO)
    return fixtures, scenario


def measure(fleet: Fleet, args: argparse.Namespace, work: Path, install: Install) -> Results:
    fixtures, scenario = write_inputs(work)
    plain = fleet.start("sandbox --fixtures", install.sandbox("--fixtures", str(fixtures)))
    scripted = fleet.start(
        "sandbox --fixtures --scenario",
        install.sandbox("--fixtures", str(fixtures), "--scenario", str(scenario)),
    )
    try:
        series = {
            "enterprise": (plain, ENT_KEY),
            "pro, limiter on": (plain, PRO_KEY),
            "enterprise, scenario": (scripted, ENT_KEY),
        }
        paths = {}
        for name, (server, key) in series.items():
            paths[name] = f"/pipeline/{completed_job(server, key)}"
            answer = call(server.port, "GET", "/pipeline/x", key)  # a 404, with the headers
            limit = int(answer.headers.get("x-ratelimit-limit", "0"))
            expected = HUGE if key == PRO_KEY else 1_000_000
            if limit != expected:
                raise RuntimeError(f"{name}: X-RateLimit-Limit {limit}, expected {expected}")
        account = call(scripted.port, "GET", "/_sandbox/account", ENT_KEY).body
        if account.get("server_scenarios") != ["bench-never-matches"]:
            raise RuntimeError(f"scenario not active: {account}")
        results: Results = {name: [] for name in series}
        names = list(series)
        if args.warmup:
            for name in names:
                server, key = series[name]
                wrk.load(server, paths[name], "get.lua", key, args.warmup, args.connections)
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                server, key = series[name]
                load = wrk.load(
                    server, paths[name], "get.lua", key, args.duration, args.connections
                )
                results[name].append(load)
                print(f"  round {round_ + 1} {name:22} {load.line()}", flush=True)
        return results
    finally:
        fleet.stop(scripted)
        fleet.stop(plain)


def report(results: Results, costs: dict[str, float] | None, rounds: int) -> list[Check]:
    medians = {name: wrk.median(loads) for name, loads in results.items()}
    base = medians["enterprise"]
    print()
    print(
        "Limiter and scenario engine overhead: GET /pipeline/{id}, median of "
        f"{rounds} interleaved runs"
    )
    print(
        f"{'series':36}{'req/s':>8}{'p50':>7}{'p99':>7}{'CPU µs/req':>12}{'+req/s':>9}{'+CPU':>8}"
    )
    added: dict[str, tuple[float, float]] = {}
    for name, load in medians.items():
        by_rps, by_cpu = base.rps / load.rps - 1, load.cpu_us / base.cpu_us - 1
        added[name] = (by_rps, by_cpu)
        tail = "" if name == "enterprise" else f"{by_rps:+9.1%}{by_cpu:+8.1%}"
        print(
            f"{LABELS[name]:36}{load.rps:8,.0f}{load.p50_ms:7.1f}{load.p99_ms:7.1f}"
            f"{load.cpu_us:12.1f}{tail}"
        )
    checks = []
    for name, what in (
        ("pro, limiter on", "limiter"),
        ("enterprise, scenario", "[info] never-matching scenario"),
    ):
        by_cpu = added[name][1]
        checks.append(
            Check(f"{what} adds < 5 % (CPU/request)", f"{by_cpu:+.1%}", by_cpu < OVERHEAD_TARGET)
        )
    if costs:
        request_us = base.cpu_us
        print(
            "in-process, µs per request (share of one GET /pipeline/{id} at "
            f"{request_us:.0f} µs of CPU):"
        )
        for name, text in COSTS.items():
            print(f"  {text:44} {costs[name]:7.2f} µs  {costs[name] / request_us:6.2%}")
        limiter = costs["limiter_pro_us"] / request_us
        checks.append(
            Check("limiter < 5 % (in-process)", f"{limiter:.2%}", limiter < OVERHEAD_TARGET)
        )
        none = costs["no_scenario_check_us"] / request_us
        checks.append(
            Check(
                "rule engine, no scenario < 5 % (in-process)", f"{none:.2%}", none < OVERHEAD_TARGET
            )
        )
    return checks

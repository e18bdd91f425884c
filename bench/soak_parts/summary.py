"""The soak's summary: its checks, the figures behind them, and how they are printed."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from harness.measuring import at_fraction

from .accounts import Rounds
from .clients import Stats
from .receiver import Deliveries

JOURNAL_BOUND = 1000
FLAT_TOLERANCE = 0.15


@dataclass
class Run:
    """What one soak measured."""

    args: argparse.Namespace
    groups: int
    rounds: Rounds
    rounds_run: int
    stats: Stats
    deliveries: Deliveries
    samples: list[tuple[float, float, int]]  # (seconds since the start, RSS MiB, webhook backlog)
    load_seconds: float
    server_cpu: float  # share of one core during the load
    audited_after: float  # seconds the audit took after the load
    rss_after: float


def summarize(run: Run) -> dict[str, Any]:
    """Every figure and check of the run (the server's exit is checked by the caller)."""
    audit = run.rounds.audit
    checks: dict[str, tuple[bool, str]] = {}
    problems = run.stats.unexpected + run.stats.transport_errors
    checks["no unexpected answers"] = (
        not problems,
        f"{run.stats.requests} requests: {len(run.stats.unexpected)} unexpected answers, "
        f"{len(run.stats.transport_errors)} transport errors",
    )
    checks["every job accounted for"] = (
        not audit.job_problems and audit.accounts == len(run.rounds.all),
        f"submitted {audit.jobs_submitted}, listed {audit.jobs_listed} by GET /jobs across "
        f"{audit.accounts} accounts ({run.groups} groups x {run.rounds_run} rounds); final states "
        f"{dict(audit.final_statuses)}"
        + (f"; {audit.job_problems[:5]}" if audit.job_problems else ""),
    )
    with run.deliveries.lock:
        known = {job for account in run.rounds.all for job in account.expected}
        strays = len(run.deliveries.by_job.keys() - known)
        received = run.deliveries.total
    delivery_problems = list(audit.delivery_problems)
    if strays:
        delivery_problems.append(f"{strays} deliveries for jobs no client submitted")
    deliveries = run.deliveries
    if deliveries.bad_signatures or deliveries.unreadable:
        delivery_problems.append(
            f"{deliveries.bad_signatures} bad signatures, {deliveries.unreadable} unreadable"
        )
    if set(audit.log_states) - {"delivered"}:
        delivery_problems.append(f"delivery-log states {dict(audit.log_states)}")
    longest_wait = max(audit.waited_for_deliveries, default=0.0)
    attempt_ms = sorted(audit.attempt_ms) or [0.0]
    attempt_p50, attempt_p99 = at_fraction(attempt_ms, 0.5), at_fraction(attempt_ms, 0.99)
    checks["every delivery accounted for"] = (
        not delivery_problems,
        f"receiver got {received} deliveries for {len(known)} jobs, one terminal event each, "
        f"signatures valid; delivery logs {dict(audit.log_states)}; {audit.retried_attempts} "
        f"retried attempts (attempt errors {dict(audit.attempt_errors)}); attempt ms p50 "
        f"{attempt_p50:.1f}, p99 {attempt_p99:.1f}; longest wait for an account's webhooks "
        f"{longest_wait:.1f} s" + (f"; {delivery_problems[:5]}" if delivery_problems else ""),
    )
    checks["journals bounded"] = (
        audit.largest_journal <= JOURNAL_BOUND and not audit.resets_failed,
        f"largest /_sandbox/requests or /_sandbox/deliveries: {audit.largest_journal} items "
        f"(bound {JOURNAL_BOUND}); {audit.resets_failed} failed resets",
    )
    rss = [(at, mib) for at, mib, _ in run.samples]
    warm = [mib for at, mib in rss if at >= run.args.warmup - 0.5]
    reference = warm[0] if warm else rss[-1][1]
    last = rss[-1][1]
    growth = (last - reference) / reference if reference else 0.0
    checks["memory flat after warm-up"] = (
        growth <= FLAT_TOLERANCE,
        f"RSS {reference} MiB at {run.args.warmup:g} s -> {last} MiB at {rss[-1][0]:g} s "
        f"({growth:+.1%}, limit +{FLAT_TOLERANCE:.0%}); {run.rss_after} MiB after the audit",
    )
    latencies = sorted(run.stats.latencies)

    def ms(fraction: float) -> float:
        return round(at_fraction(latencies, fraction) * 1000, 1)

    return {
        "duration_s": run.args.duration,
        "clients": run.args.clients,
        "groups": run.groups,
        "rounds": run.rounds_run,
        "round_s": run.args.round_seconds,
        "requests": run.stats.requests,
        "requests_per_s": round(run.stats.requests / run.load_seconds, 1),
        "latency_ms": {"p50": ms(0.5), "p99": ms(0.99), "max": ms(1.0)} if latencies else {},
        "ops": dict(sorted(run.stats.ops.items())),
        "statuses": {str(k): v for k, v in sorted(run.stats.statuses.items())},
        "jobs_submitted": audit.jobs_submitted,
        "deliveries_received": received,
        "audit_s": round(run.audited_after, 1),
        "server_cpu": round(run.server_cpu, 2),
        "samples": [
            {"s": at, "rss_mib": mib, "webhook_backlog": lag} for at, mib, lag in run.samples
        ],
        "rss_after_audit_mib": run.rss_after,
        "unexpected": problems[:20],
        "checks": {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()},
    }


def print_summary(summary: dict[str, Any]) -> None:
    print(
        f"\n{summary['requests']} requests in {summary['duration_s']:g} s "
        f"({summary['requests_per_s']}/s) from {summary['clients']} clients, "
        f"{summary['groups']} account groups x {summary['rounds']} rounds; "
        f"latency ms {summary['latency_ms']}; audit took {summary['audit_s']} s after the load"
    )
    print(f"statuses: {summary['statuses']}")
    print(f"ops: {summary['ops']}")
    print(f"server CPU: {summary['server_cpu']:.0%} of one core during the load")
    print(
        "at s: RSS MiB / webhooks not yet received: "
        + ", ".join(
            f"{item['s']:g}: {item['rss_mib']} / {item['webhook_backlog']}"
            for item in summary["samples"]
        )
    )
    for name, check in summary["checks"].items():
        print(f"[{'PASS' if check['ok'] else 'FAIL'}] {name}: {check['detail']}")
    for line in summary["unexpected"]:
        print(f"  unexpected: {line}")
    print("SOAK PASSED" if summary["ok"] else "SOAK FAILED")

"""What bench/webhook_fanout.py measured, and its report: the probe's latency per phase, what
each receiver got, fan-out times and rates, the sandbox's CPU time and memory."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.measuring import nearest_rank
from harness.procfs import RssSampler, load_average


@dataclass
class Submitted:
    """One phase's submissions: when they started and ended, how many were accepted, the
    statuses of those that were not."""

    start: float
    end: float
    accepted: int
    refused: list[int]


@dataclass
class Measured:
    port: int
    load_before: str
    baseline: list[float]  # phase A: the probe's latencies, s
    control: Submitted  # phase C
    control_samples: list[list[float]]  # the probe's [t_monotonic, seconds, status] in C
    fanout: Submitted  # phase B
    samples: list[list[float]]  # the probe's [t_monotonic, seconds, status] in B
    counts: list[dict[str, Any]]  # what each receiver said at the end
    fast_done_at: float | None  # when both fast receivers had every delivery
    t_end: float  # when B ended: every delivery arrived, or the budget ran out
    cpu_used: float  # the sandbox's CPU seconds in B
    sampler: RssSampler
    rss: dict[str, int] = field(default_factory=dict)  # VmRSS KiB, by moment
    hwm: int = 0  # VmHWM KiB at the end
    pending: int | None = None  # deliveries pending at the end, by the delivery log
    failed: int | None = None  # deliveries failed at the end, by the delivery log


def ms(value: float) -> str:
    return f"{value * 1000:.2f}"


def window(samples: list[list[float]], start: float, end: float) -> list[float]:
    return [lat for t, lat, _ in samples if start <= t <= end]


def latency_row(label: str, values: Sequence[float]) -> str:
    top = max(values) if values else float("nan")
    return (
        f"| {label} | {len(values)} | {ms(nearest_rank(values, 50))} | "
        f"{ms(nearest_rank(values, 90))} | {ms(nearest_rank(values, 99))} | {ms(top)} |"
    )


def report(m: Measured, args: argparse.Namespace) -> int:
    """Print the report; 0 when every delivery arrived within the budget, else 1."""
    got = [c["count"] - 1 for c in m.counts]  # without the warm-up delivery
    complete = got == [args.jobs] * 3
    last = [c["last"] for c in m.counts]
    fast_end = m.fast_done_at or m.t_end
    t_submit, t_submitted = m.fanout.start, m.fanout.end
    bad = sum(1 for *_, code in m.samples + m.control_samples if code != 200)
    names = ["fast 1", "fast 2", f"slow ({args.slow_delay:g} s)"]

    print()
    print(f"sandbox: aiprod-sandbox serve --port 0 --webhook-timeout 2  (port {m.port})")
    print(f"load average (1, 5, 15 min): before {m.load_before}, after {load_average()}")
    for label, phase in (
        ("C (control, no webhooks)", m.control),
        ("B (fan-out account)", m.fanout),
    ):
        ok, no, t0, t1 = phase.accepted, phase.refused, phase.start, phase.end
        print(
            f"phase {label}: {args.jobs} jobs over {args.submitters} connections, {ok} accepted, "
            f"{len(no)} refused {sorted(set(no)) or ''} in {t1 - t0:.2f} s "
            f"({ok / (t1 - t0):.0f} jobs/s)"
        )
    print()
    print("| GET /jobs/{id} latency, ms | requests | p50 | p90 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|")
    print(latency_row("A: baseline, nothing else running", m.baseline))
    print(
        latency_row(
            "C: while submitting, no webhooks",
            window(m.control_samples, m.control.start, m.control.end),
        )
    )
    print(
        latency_row(
            "B: while submitting, fan-out running", window(m.samples, t_submit, t_submitted)
        )
    )
    print(
        latency_row(
            "B: after submitting, until the fast pair is done",
            window(m.samples, t_submitted, fast_end),
        )
    )
    print(latency_row("B: submit start to fast pair done", window(m.samples, t_submit, fast_end)))
    print(
        latency_row(
            "B: the rest (slow receiver's backlog only)", window(m.samples, fast_end, m.t_end)
        )
    )
    print(latency_row("B: whole phase", [lat for _, lat, _ in m.samples]))
    print(f"(probe: one request every {args.interval * 1000:g} ms; non-200 answers: {bad})")
    print()
    print("| receiver | deliveries | unique ids | retries seen | last one, s after 1st submit |")
    print("|---|---:|---:|---:|---:|")
    for name, count, info, at in zip(names, got, m.counts, last, strict=True):
        when = f"{at - t_submit:.2f}" if at and count else "-"
        print(
            f"| {name} | {count} / {args.jobs} | {info['unique'] - 1} | {info['retries']} | "
            f"{when} |"
        )
    total = sum(got)
    fan_out = (max(a for a in last if a) - t_submit) if complete else m.t_end - t_submit
    fast_time = (max(last[0], last[1]) - t_submit) if m.fast_done_at else float("nan")
    peak_at, peak = m.sampler.peak(t_submit)
    print()
    print("| figure | value |")
    print("|---|---:|")
    print(f"| deliveries recorded | {total} / {3 * args.jobs} |")
    print(f"| fan-out time, all 3 receivers, s | {fan_out:.2f}{'' if complete else ' (cut)'} |")
    print(f"| deliveries/s, all 3 receivers | {total / fan_out:.0f} |")
    print(f"| fan-out time, the 2 fast receivers, s | {fast_time:.2f} |")
    print(f"| deliveries/s to the fast pair | {(got[0] + got[1]) / fast_time:.0f} |")
    print(f"| sandbox CPU during phase B, s | {m.cpu_used:.2f} |")
    for name, kib in m.rss.items():
        if name == "end of B":
            print(
                f"| sandbox VmRSS when the fast pair was done (+{fast_end - t_submit:.1f} s), "
                f"MiB | {m.sampler.at(fast_end) / 1024:.1f} |"
            )
            print(
                f"| sandbox VmRSS peak in B (50 ms samples), MiB | {peak / 1024:.1f} "
                f"(at +{peak_at - t_submit:.1f} s) |"
            )
        print(f"| sandbox VmRSS {name}, MiB | {kib / 1024:.1f} |")
    print(f"| sandbox VmHWM (kernel high-water mark), MiB | {m.hwm / 1024:.1f} |")
    if m.pending is not None and m.failed is not None:
        print(
            f"| pending / failed in GET /_sandbox/deliveries (log keeps 1,000) | "
            f"{m.pending} / {m.failed} |"
        )
    print()
    if complete:
        print(f"all {3 * args.jobs} deliveries recorded in {fan_out:.1f} s")
        return 0
    rate = 1 / args.slow_delay if args.slow_delay else float("inf")
    print(
        f"NOT COMPLETE within the {args.budget:g} s budget: the slow receiver got {got[2]} of "
        f"{args.jobs}. Its first attempts go out one at a time, in event order, so it drains "
        f"at most {rate:.2f}/s: {args.jobs} take >= {args.jobs * args.slow_delay:.0f} s."
    )
    return 1

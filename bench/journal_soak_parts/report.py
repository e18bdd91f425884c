"""The journal soak's figures: each journal's bytes as the journal counts them, the RSS series,
the checks, and how they are printed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiprod_sandbox.core.journal import ENTRY_OVERHEAD

from .traffic import Account, Stats

FLAT = 0.05  # once every journal is full, RSS may rise at most this much more


@dataclass
class Sample:
    at: float  # seconds since the load began
    rss: float  # MiB
    requests: int  # answered so far
    full: int  # journals evicting


@dataclass
class Journal:
    account: Account
    kept: int
    evicted: int
    bytes: int  # counted from its whole listing
    bound: dict[str, int]


@dataclass
class Run:
    stats: Stats
    duration: float
    samples: list[Sample] = field(default_factory=list)
    journals: list[Journal] = field(default_factory=list)
    log_errors: int = 0
    exit_code: int | None = None


def counted(account: Account, listing: dict[str, Any]) -> int:
    """A journal's bytes as it counts them (headers, kept bodies, ENTRY_OVERHEAD an entry),
    from its whole listing; the key counts at its own length, not at the masked one's."""
    body_bytes = listing["bound"]["body_bytes"]
    total = 0
    for item in listing["items"]:
        total += ENTRY_OVERHEAD
        for part in (item["request"], item["response"]):
            total += min(part["body_size"], body_bytes)
            headers = part["headers"]
            for header in headers:  # packed as `name: value` lines, one newline between
                value = header["value"]
                if header["name"] == "authorization":
                    value = account.headers["Authorization"]
                total += len(header["name"]) + 2 + len(value)
            total += max(0, len(headers) - 1)
    return total


def report(run: Run) -> bool:
    stats, samples = run.stats, run.samples
    print(
        f"{stats.requests} requests in {run.duration:g} s ({stats.requests / run.duration:,.0f}/s)"
        f" on {len(run.journals)} accounts; statuses {dict(sorted(stats.statuses.items()))}"
    )
    print("at s: RSS MiB / requests answered / journals evicting")
    print(", ".join(f"{s.at:g}: {s.rss:.1f} / {s.requests} / {s.full}" for s in samples))
    print(f"\n{'account':8}{'kept':>6}{'evicted':>9}{'bytes':>10}{'bound':>9}{'% of bytes':>11}")
    ordinary = [j for j in run.journals if not j.account.heavy]
    heavy = [j for j in run.journals if j.account.heavy]
    for j in [*ordinary[:3], *heavy]:
        print(
            f"{j.account.name:8}{j.kept:6}{j.evicted:9}{j.bytes:10,}{j.bound['bytes']:9,}"
            f"{j.bytes / j.bound['bytes']:11.1%}"
        )
    if ordinary:
        low = min(ordinary, key=lambda j: j.bytes)
        high = max(ordinary, key=lambda j: j.bytes)
        kept = sorted(j.kept for j in ordinary)
        print(
            f"all {len(ordinary)} ordinary: kept {kept[0]}-{kept[-1]}, bytes {low.bytes:,}-"
            f"{high.bytes:,}, {sum(j.evicted for j in ordinary):,} evicted in all"
        )

    full_at = next((s for s in samples if s.full == len(run.journals)), None)
    first, last = samples[0], samples[-1]
    peak = max(samples, key=lambda s: s.rss)
    print(
        f"\nRSS: start {first.rss:.1f} MiB, peak {peak.rss:.1f} MiB at {peak.at:g} s, "
        f"end {last.rss:.1f} MiB"
    )
    checks: dict[str, tuple[bool, str]] = {
        "every answer as expected": (
            not stats.unexpected,
            f"{len(stats.unexpected)} unexpected: {stats.unexpected[:3]}",
        ),
        "every journal full and within its bounds": (
            all(
                j.evicted and j.kept <= j.bound["entries"] and j.bytes <= j.bound["bytes"]
                for j in run.journals
            ),
            f"largest {max(j.bytes for j in run.journals):,} bytes, "
            f"{max(j.kept for j in run.journals)} entries; "
            f"{sum(1 for j in run.journals if j.evicted)} of {len(run.journals)} evicting",
        ),
        "the heavy journal held by its bytes": (
            all(j.kept < j.bound["entries"] for j in heavy),
            ", ".join(f"{j.kept} entries of {j.bound['entries']}" for j in heavy),
        ),
    }
    if full_at is None:
        checks["memory flat once every journal is full"] = (False, "never all full")
    else:
        budget = sum(j.bound["bytes"] for j in run.journals) / 2**20
        print(
            f"RSS rise until every journal was full: {full_at.rss - first.rss:.1f} MiB for "
            f"{len(run.journals)} journals of at most {budget / len(run.journals):.2f} MiB "
            f"counted each: {(full_at.rss - first.rss) / len(run.journals):.2f} MiB a journal "
            "(the server's own warm-up included)"
        )
        rise = last.rss / full_at.rss - 1
        per_10k = (last.rss - full_at.rss) / max(1, last.requests - full_at.requests) * 1e4
        before = (full_at.rss - first.rss) / max(1, full_at.requests - first.requests) * 1e4
        checks["memory flat once every journal is full"] = (
            rise <= FLAT,
            f"all full at {full_at.at:g} s: {full_at.rss:.1f} MiB -> {last.rss:.1f} MiB at "
            f"{last.at:g} s ({rise:+.1%}, limit {FLAT:+.0%}) over "
            f"{last.requests - full_at.requests:,} more requests ({per_10k:+.2f} MiB per 10,000; "
            f"{before:+.2f} MiB per 10,000 while they filled)",
        )
    checks["server log clean, clean exit"] = (
        run.log_errors == 0 and run.exit_code == 0,
        f"{run.log_errors} unhandled errors logged; exit code {run.exit_code} on SIGTERM",
    )
    print()
    for name, (ok, detail) in checks.items():
        print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    ok = all(ok for ok, _ in checks.values())
    print("JOURNAL SOAK PASSED" if ok else "JOURNAL SOAK FAILED")
    return ok

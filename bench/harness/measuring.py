"""Timing: interleaved runs after unmeasured warm-ups, and samples reduced to figures.

Each benchmark keeps the percentile it has always reported, so that its figures stay
comparable with those in docs/benchmarks.md:

- `spread`: min, median and p90, the p90 interpolated (`statistics.quantiles`, inclusive);
- `nearest_rank`: the nearest-rank percentile;
- `at_fraction`: the sample at index floor(fraction x n) of the sorted samples.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence


def interleaved(
    contenders: Mapping[str, Callable[[], float]], runs: int, warmup: int
) -> dict[str, list[float]]:
    """Each contender measured `warmup + runs` times, in turns, so that drift in the machine's
    load touches every contender alike; the warm-up rounds are not kept."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for run in range(warmup + runs):
        for name, measure in contenders.items():
            seconds = measure()
            if run >= warmup:
                samples[name].append(seconds)
    return samples


def spread(samples: Sequence[float]) -> tuple[float, float, float]:
    """(min, median, p90)."""
    ordered = sorted(samples)
    p90 = statistics.quantiles(ordered, n=10, method="inclusive")[8] if len(ordered) > 1 else 0.0
    return ordered[0], statistics.median(ordered), p90 or ordered[-1]


def nearest_rank(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def at_fraction(ordered: Sequence[float], fraction: float) -> float:
    """The sample at index floor(fraction x n) of `ordered` (sorted), the last for 1.0."""
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

"""The tables more than one benchmark prints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .measuring import spread


def print_spread(
    samples: Mapping[str, Sequence[float]], width: int
) -> dict[str, tuple[float, float, float]]:
    """A row of min, median and p90 (seconds) per contender, names `width` wide; the figures."""
    print(f"{'':{width}} {'min':>7} {'median':>7} {'p90':>7}")
    figures = {}
    for name, values in samples.items():
        figures[name] = spread(values)
        low, median, p90 = figures[name]
        print(f"{name:{width}} {low:7.3f} {median:7.3f} {p90:7.3f}")
    return figures

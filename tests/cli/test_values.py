"""The values client commands take and show, without a server: durations, `field=value`
settings, and times relative to the account's clock."""

from __future__ import annotations

import argparse

import pytest

from aiprod_sandbox.commands.flags import duration, nested, setting
from aiprod_sandbox.commands.output import relative


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86400), ("45", 45), ("0.5m", 30)],
)
def test_durations(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "-5m", "m", "1 week"])
def test_not_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


def test_settings_nest_and_read_json_but_metadata_stays_text() -> None:
    given = [setting(t) for t in ("progress=60", "error.code=X", "metadata.n=42", "a=b=c")]
    assert nested(given) == {
        "progress": 60,
        "error": {"code": "X"},
        "metadata": {"n": "42"},
        "a": "b=c",
    }
    with pytest.raises(argparse.ArgumentTypeError):
        setting("novalue")


@pytest.mark.parametrize(
    ("at", "now", "shown"),
    [
        ("2026-01-01T00:00:00Z", "2026-01-01T02:30:00Z", "2h ago"),
        ("2026-01-01T00:00:10Z", "2026-01-01T00:00:00Z", "in 10s"),
        ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "just now"),
        ("2026-01-01T00:00:00Z", None, "2026-01-01T00:00:00Z"),  # piped: the ISO time
        (None, "2026-01-01T00:00:00Z", "-"),
    ],
)
def test_relative_times(at: str | None, now: str | None, shown: str) -> None:
    assert relative(at, now) == shown

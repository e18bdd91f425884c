"""What every client command's parser shares: `--url`, `--key` and `--json`, and the values
their arguments take (durations like `10m`, `field=value` settings).

Light on purpose: `cli.py` builds every parser from these at start, so `--help` stays instant;
what talks to a sandbox is imported only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def connection(parser: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    """`--url`, `--key` (flag > environment > default) and, unless told not to, `--json`."""
    parser.add_argument(
        "--url",
        default=None,
        help="the sandbox [env AIPROD_SANDBOX_URL] (default: http://127.0.0.1:8080)",
    )
    parser.add_argument(
        "--key",
        default=None,
        help="the account's key [env AIPROD_SANDBOX_KEY] (default: the example key)",
    )
    if json_flag:
        parser.add_argument(
            "--json", action="store_true", help="print the sandbox's JSON, nothing else"
        )


def duration(text: str) -> float:
    """`90s`, `10m`, `2h`, `1d`, or bare seconds (`45`, `0.5`) as seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (give e.g. 90s, 10m, 2h, 1d, or seconds)"
        )
    return float(match[1]) * UNITS[match[2] or "s"]


def setting(text: str) -> tuple[str, Any]:
    """`field=value` (dotted fields for nested objects); the value is read as JSON when it is a
    number, true/false/null, an object or a list, else kept as text. Values under `metadata`
    stay text: the API takes only strings there."""
    field, equals, value = text.partition("=")
    if not equals or not field.strip():
        raise argparse.ArgumentTypeError(f"expected field=value, got {text!r}")
    field = field.strip()
    if field.split(".")[0] == "metadata":
        return field, value
    try:
        return field, json.loads(value)
    except ValueError:
        return field, value


def nested(settings: list[tuple[str, Any]]) -> dict[str, Any]:
    """[("metadata.order", "4"), ("preset", "x")] → {"metadata": {"order": "4"}, "preset": "x"}"""
    out: dict[str, Any] = {}
    for dotted, value in settings:
        parts = dotted.split(".")
        into = out
        for part in parts[:-1]:
            found = into.get(part)
            if not isinstance(found, dict):
                found = into[part] = {}
            into = found
        into[parts[-1]] = value
    return out

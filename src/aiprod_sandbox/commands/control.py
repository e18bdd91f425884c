"""`aiprod-sandbox reset` and `aiprod-sandbox advice`: clear the account's world on a running
sandbox (`POST /_sandbox/reset`), and what to fix in the integration (`GET /_sandbox/advice`)."""

from __future__ import annotations

import argparse
from typing import Any

from . import flags


def add_parser(commands: Any) -> None:
    reset = commands.add_parser(
        "reset",
        help="clear the account's jobs, webhooks, deliveries, journals, scenario and clock",
        description="Clear the account's world; the account and its keys remain.",
    )
    reset.add_argument(
        "--keys", action="store_true", help="also put its keys back as the account began"
    )
    flags.connection(reset)
    reset.set_defaults(run=run_reset)
    advice = commands.add_parser(
        "advice",
        help="what to fix in this integration, from the account's recent traffic",
        description="The advisor's findings: each with the guide's reasoning, the fix and "
        "the request or delivery ids that show it.",
    )
    flags.connection(advice)
    advice.set_defaults(run=run_advice)


def run_reset(args: argparse.Namespace) -> int:
    from .client import SandboxClient
    from .output import Output

    out = Output(args.json)
    with SandboxClient(args.url, args.key) as client:
        done = client.json("POST", "/_sandbox/reset", json={"keys": True} if args.keys else {})
    if out.as_json:
        out.json(done)
    else:
        out.line("reset " + ", ".join(done["reset"]))
    return 0


def run_advice(args: argparse.Namespace) -> int:
    from rich.text import Text

    from .client import SandboxClient
    from .output import Output

    out = Output(args.json)
    with SandboxClient(args.url, args.key) as client:
        found = client.json("GET", "/_sandbox/advice")
    if out.as_json:
        out.json(found)
        return 0
    if not found["items"]:
        out.line(f"nothing to fix in the last {found['checked_requests']} requests")
        return 0
    for finding in found["items"]:
        out.line(Text(f"{finding['title']} ({finding['rule']}, {finding['count']}x)", "bold"))
        out.line(f"  guide: {finding['guide']}")
        out.line(f"  why:   {finding['why']}")
        out.line(f"  fix:   {finding['fix']}")
        out.line(f"  seen:  {', '.join(finding['evidence'])}")
    return 0

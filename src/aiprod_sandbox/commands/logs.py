"""`aiprod-sandbox logs tail [--follow]`: the account's request journal and webhook delivery
attempts on a running sandbox, one line each, oldest first, as they happen.

It polls `GET /_sandbox/requests` and `GET /_sandbox/deliveries` (control calls are not in the
journal, so it never sees itself) and prints what it has not printed yet. On a terminal each
line is coloured by status; piped, or with `--json`, each is a JSON line (`"type": "request"`
or `"delivery_attempt"`) for `jq`. Times are the account's clock's.
"""

from __future__ import annotations

import argparse
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import flags

if TYPE_CHECKING:
    from rich.text import Text

    from .client import SandboxClient
    from .output import Output

POLL_REQUESTS = 200  # journal entries read per poll (newest first)
POLL_DELIVERIES = 100
SEEN_KEPT = 20_000  # ids remembered, so a long tail stays small


def add_parser(commands: Any) -> None:
    logs = commands.add_parser(
        "logs",
        help="the request journal and webhook attempts, live",
        description="The account's API requests and webhook delivery attempts.",
    )
    actions = logs.add_subparsers(dest="action", metavar="ACTION", required=True)
    tail = actions.add_parser(
        "tail",
        help="the latest requests and delivery attempts; --follow for new ones as they come",
        description="The latest requests and delivery attempts, oldest first. "
        + (__doc__ or "").split("\n\n", 1)[1].strip(),
    )
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new ones")
    tail.add_argument(
        "-n", "--lines", type=int, default=10, metavar="N", help="past ones first (default 10)"
    )
    tail.add_argument(
        "--path",
        metavar="GLOB",
        help="only requests to these paths (/jobs/*); no delivery attempts",
    )
    tail.add_argument("--method", help="only requests with this method; no delivery attempts")
    tail.add_argument(
        "--status",
        action="append",
        type=_status,
        default=[],
        metavar="STATUS",
        help="only these statuses: 404, 4xx, 5xx (repeatable, or comma-separated); a delivery "
        "attempt that got no answer is 0",
    )
    tail.add_argument(
        "--no-deliveries", action="store_true", help="requests only, no delivery attempts"
    )
    tail.add_argument(
        "--interval", type=float, default=0.5, metavar="SECONDS", help="polling (default 0.5)"
    )
    flags.connection(tail)
    logs.set_defaults(run=run)


def _status(text: str) -> list[str]:
    parts = [part.strip().lower() for part in text.split(",") if part.strip()]
    for part in parts:
        if not (part.isdigit() or (len(part) == 3 and part[0].isdigit() and part[1:] == "xx")):
            raise argparse.ArgumentTypeError(f"not a status: {part!r} (give e.g. 404 or 5xx)")
    return parts


@dataclass(frozen=True)
class Line:
    """One thing to print: a request or a delivery attempt, with when it happened."""

    key: str
    at: str
    record: dict[str, Any]


class Tail:
    """What has been printed so far, and what the sandbox holds that has not."""

    def __init__(self, client: SandboxClient, args: argparse.Namespace) -> None:
        self.client = client
        self.args = args
        self.statuses = [s for group in args.status for s in group]
        self.seen: set[str] = set()
        self.order: deque[str] = deque()

    def new(self) -> list[Line]:
        """Lines not printed yet, oldest first."""
        lines = [line for line in self._requests() if line.key not in self.seen]
        if not self.args.no_deliveries:
            lines += [line for line in self._attempts() if line.key not in self.seen]
        lines.sort(key=lambda line: line.at)  # stable: each source is already in order
        for line in lines:
            self._remember(line.key)
        return lines

    def _remember(self, key: str) -> None:
        self.seen.add(key)
        self.order.append(key)
        if len(self.order) > SEEN_KEPT:
            self.seen.discard(self.order.popleft())

    def _wanted(self, status: int) -> bool:
        text = str(status)
        return not self.statuses or any(
            text == s or (s.endswith("xx") and text[:1] == s[0]) for s in self.statuses
        )

    def _requests(self) -> Iterator[Line]:
        query: dict[str, Any] = {"limit": POLL_REQUESTS}
        if self.args.path:
            query["path"] = self.args.path
        if self.args.method:
            query["method"] = self.args.method.upper()
        found = self.client.json("GET", "/_sandbox/requests", params=query)["items"]
        for entry in reversed(found):
            if self._wanted(entry["status"]):
                yield Line(entry["request_id"], entry["timestamp"], {"type": "request", **entry})

    def _attempts(self) -> Iterator[Line]:
        if self.args.path or self.args.method:
            return  # narrowed to requests
        query = {"limit": POLL_DELIVERIES}
        found = self.client.json("GET", "/_sandbox/deliveries", params=query)["items"]
        for delivery in reversed(found):
            for index, attempt in enumerate(delivery["attempts"]):
                finished = attempt["duration_ms"] is not None or attempt["error"] is not None
                if not finished or not self._wanted(attempt["response_status"]):
                    continue
                record = {
                    "type": "delivery_attempt",
                    "delivery_id": delivery["delivery_id"],
                    "event": delivery["event"],
                    "url": delivery["url"],
                    "job_id": delivery["job_id"],
                    **attempt,
                }
                at = attempt["sent_at"] or attempt["scheduled_at"]
                yield Line(f"{delivery['delivery_id']}#{index}", at, record)


def run(args: argparse.Namespace) -> int:
    import time

    from .client import SandboxClient
    from .output import Output

    out = Output(args.json)
    as_json = args.json or not out.terminal
    with SandboxClient(args.url, args.key) as client:
        tail = Tail(client, args)
        first = tail.new()
        for line in first[-args.lines :] if args.lines > 0 else []:
            _print(out, line, as_json)
        sys.stdout.flush()
        if not args.follow:
            return 0
        print(f"following {client.url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        while True:
            time.sleep(args.interval)
            for line in tail.new():
                _print(out, line, as_json)


def _print(out: Output, line: Line, as_json: bool) -> None:
    if as_json:
        out.json_line(line.record)
    else:
        out.live_line(_text(line.record))


def _text(record: dict[str, Any]) -> Text:
    from rich.text import Text

    from .output import http_style

    at = record.get("timestamp") or record.get("sent_at") or record.get("scheduled_at") or ""
    clock = at[11:19] if len(at) >= 19 else at
    if record["type"] == "request":
        status = record["status"]
        target = record["path"] + (f"?{record['query']}" if record["query"] else "")
        rules = f"  scenario: {', '.join(record['rules'])}" if record.get("rules") else ""
        return Text.assemble(
            (f"{clock}  ", "dim"),
            (f"{record['method']:<6} ", "bold"),
            (f"{status:>3}", http_style(status)),
            f"  {target}",
            (f"  {record['duration_ms']:.1f}ms  {record['request_id']}{rules}", "dim"),
        )
    status = record["response_status"]
    outcome = f"{status:>3}" + (f" {record['error']}" if record["error"] else "")
    return Text.assemble(
        (f"{clock}  ", "dim"),
        ("hook   ", "bold magenta"),
        (outcome, http_style(status) if not record["error"] else "red"),
        f"  {record['event']} → {record['url']}",
        (f"  attempt {record['attempt']} ({record['trigger']})  {record['delivery_id']}", "dim"),
    )

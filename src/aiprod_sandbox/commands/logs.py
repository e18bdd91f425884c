"""`aiprod-sandbox logs tail [--follow]`: the account's request journal and webhook delivery
attempts on a running sandbox, one line each, oldest first, as they happen.

It polls `GET /_sandbox/requests` and `GET /_sandbox/deliveries` (control calls are not in the
journal, so it never sees itself) and prints what it has not printed yet: each poll reads all
that came since the last one (deliveries by the sandbox's count of attempts, so a retry or a
redelivery of an old one comes too), and when the journal's bound let requests go before they
were read (or more deliveries were attempted than one listing gives), one line on stderr says
so. On a
terminal each line is coloured by status; piped, or with `--json`, each is a JSON line
(`"type": "request"` or `"delivery_attempt"`) for `jq`. Times are the account's clock's.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

from . import flags

if TYPE_CHECKING:
    from rich.text import Text

    from .client import SandboxClient
    from .output import Output

PAGE = 1000  # the most one listing gives (`limit` of both listings)
FIRST_PAGE = 100  # what a poll asks for first; most polls need no more
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


class Recent:
    """Ids remembered, the oldest forgotten past `SEEN_KEPT`."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._order: deque[str] = deque()

    def __contains__(self, key: object) -> bool:
        return key in self._ids

    def add(self, key: str) -> None:
        if key in self._ids:
            return
        self._ids.add(key)
        self._order.append(key)
        if len(self._order) > SEEN_KEPT:
            self._ids.discard(self._order.popleft())

    def clear(self) -> None:
        self._ids.clear()
        self._order.clear()


class Journal:
    """The journal's entries not read yet, oldest first.

    A listing's `kept + evicted` counts the entries ever added (since the last reset), so a
    poll knows how many came since the last one: it asks for that many (`PAGE` at most, the
    listing's bound, which is above the journal's own), and the ones the journal's bound let go
    before they were read are counted in `lost`, not passed over in silence."""

    def __init__(self, client: SandboxClient, query: dict[str, Any]) -> None:
        self.client = client
        self.query = query
        self.read = Recent()
        self.added: int | None = None  # entries ever added, as of the last poll
        self.evicted = 0
        self.lost = 0  # new entries let go before this poll could read them
        self.bound = ""

    def poll(self) -> list[dict[str, Any]]:
        limit = FIRST_PAGE
        while True:
            listed = self._list(limit)
            added = listed["kept"] + listed["evicted"]
            if self.added is not None and (added < self.added or listed["evicted"] < self.evicted):
                self.added = 0  # a reset: the counts start again
                self.read.clear()
            fresh = added - (self.added or 0)
            if len(listed["items"]) < limit or limit >= min(fresh, PAGE):
                break
            limit = min(fresh, PAGE)
        self.lost = max(0, fresh - listed["kept"]) if self.added is not None else 0
        self.bound = f"{listed['bound']['entries']} entries, {listed['bound']['bytes']} bytes"
        self.added, self.evicted = added, listed["evicted"]
        new = [entry for entry in reversed(listed["items"]) if entry["request_id"] not in self.read]
        for entry in new:
            self.read.add(entry["request_id"])
        return new

    def _list(self, limit: int) -> dict[str, Any]:
        found: dict[str, Any] = self.client.json(
            "GET", "/_sandbox/requests", params={**self.query, "limit": limit}
        )
        return found


class DeliveryLog:
    """The deliveries with an attempt that came back since the last poll: new ones, retries and
    a redelivery of an old one alike. The sandbox counts the attempts it records; each poll
    asks for the deliveries attempted after the count the last one saw (`attempted_after`)."""

    def __init__(self, client: SandboxClient) -> None:
        self.client = client
        self.recorded: int | None = None  # the sandbox's count at the last poll
        self.overflowed = False  # more deliveries attempted since than one listing gives

    def poll(self) -> list[dict[str, Any]]:
        after = self.recorded or 0
        page = self._list(after)
        if page["attempts_recorded"] < after:  # an import set the count back: from the start
            page = self._list(0)
        items: list[dict[str, Any]] = page["items"]
        self.overflowed = self.recorded is not None and len(items) >= PAGE
        self.recorded = page["attempts_recorded"]
        return sorted(items, key=lambda d: d["created_at"])

    def _list(self, after: int) -> dict[str, Any]:
        params = {"limit": PAGE, "attempted_after": after}
        found: dict[str, Any] = self.client.json("GET", "/_sandbox/deliveries", params=params)
        return found


class Tail:
    """What has been printed so far, and what the sandbox holds that has not."""

    def __init__(self, client: SandboxClient, args: argparse.Namespace) -> None:
        query: dict[str, Any] = {}
        if args.path:
            query["path"] = args.path
        if args.method:
            query["method"] = args.method.upper()
        self.args = args
        self.statuses = [s for group in args.status for s in group]
        self.journal = Journal(client, query)
        self.deliveries = DeliveryLog(client)
        self.printed = Recent()  # delivery attempts

    @property
    def with_attempts(self) -> bool:
        return not (self.args.no_deliveries or self.args.path or self.args.method)

    def new(self) -> list[Line]:
        """Lines not printed yet, oldest first (each source is in order; the sort is stable)."""
        lines = list(self._requests())
        if self.with_attempts:
            attempts = [line for line in self._attempts() if line.key not in self.printed]
            for line in attempts:
                self.printed.add(line.key)
            lines += attempts
        lines.sort(key=lambda line: line.at)
        return lines

    def lost(self) -> list[str]:
        """What the last poll could not read, a sentence each; none when it read everything."""
        said = []
        count = self.journal.lost
        if count:
            plural, them = ("s", "them") if count != 1 else ("", "it")
            said.append(
                f"{count} request{plural} not shown: the journal's bound ({self.journal.bound}) "
                f"let go of {them} before this poll could read {them}"
                + (" (not all may match --path or --method)" if self.journal.query else "")
            )
        if self.with_attempts and self.deliveries.overflowed:
            said.append(
                f"more than {PAGE} deliveries were attempted since the last poll: the attempts "
                "of the older ones among them are not shown"
            )
        return said

    def _wanted(self, status: int) -> bool:
        text = str(status)
        return not self.statuses or any(
            text == s or (s.endswith("xx") and text[:1] == s[0]) for s in self.statuses
        )

    def _requests(self) -> Iterator[Line]:
        for entry in self.journal.poll():
            if self._wanted(entry["status"]):
                yield Line(entry["request_id"], entry["timestamp"], {"type": "request", **entry})

    def _attempts(self) -> Iterator[Line]:
        for delivery in self.deliveries.poll():
            for attempt in delivery["attempts"]:
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
                key = f"{delivery['delivery_id']}#{attempt['attempt']}/{attempt['trigger']}/{at}"
                yield Line(key, at, record)


def run(args: argparse.Namespace) -> int:
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
        with _interrupted() as stop:
            while not stop.wait(args.interval):
                lines = tail.new()
                for lost in tail.lost():  # older than this poll's lines: said before them
                    sys.stdout.flush()
                    print(f"aiprod-sandbox logs: {lost}", file=sys.stderr, flush=True)
                for line in lines:
                    _print(out, line, as_json)
    return 130  # Ctrl-C: the end of a follow, told apart from a refusal


@contextlib.contextmanager
def _interrupted() -> Iterator[threading.Event]:
    """Set by Ctrl-C (or SIGTERM): the follow ends after the poll in hand, instead of a
    KeyboardInterrupt landing inside the HTTP client, where it can leave a lock held that
    closing the client then waits on forever. A second Ctrl-C interrupts at once."""
    stop = threading.Event()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    before = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


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

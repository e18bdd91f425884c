"""`aiprod-sandbox deliveries list|get|redeliver`: the webhook delivery log of a running sandbox
(`GET /_sandbox/deliveries`, `/{id}`, `POST /{id}/redeliver`: the stored bytes sent again
with the same id, and no retries of its own)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from . import flags

if TYPE_CHECKING:
    from .output import Output


def add_parser(commands: Any) -> None:
    deliveries = commands.add_parser(
        "deliveries",
        help="the webhook delivery log: list, show, redeliver",
        description="Every webhook delivery and each of its attempts.",
    )
    actions = deliveries.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="newest first")
    listing.add_argument("--job", dest="job_id", help="only this job's")
    listing.add_argument("--webhook", dest="webhook_id", help="only this webhook's")
    listing.add_argument("--event", help="only this event (e.g. job.completed)")
    listing.add_argument("--status", choices=("pending", "delivered", "failed"))
    listing.add_argument("--limit", type=int, default=20, help="at most (default 20)")
    get = actions.add_parser("get", help="one delivery with every attempt")
    get.add_argument("delivery_id", metavar="DELIVERY_ID")
    again = actions.add_parser("redeliver", help="send a delivery's stored bytes again now")
    again.add_argument("delivery_id", metavar="DELIVERY_ID")
    for action in (listing, get, again):
        flags.connection(action)
    deliveries.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .client import SandboxClient
    from .jobs import clock_now
    from .output import Output

    out = Output(args.json)
    with SandboxClient(args.url, args.key) as client:
        if args.action == "list":
            names = ("job_id", "webhook_id", "event", "status", "limit")
            query = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
            found = client.json("GET", "/_sandbox/deliveries", params=query)
        elif args.action == "get":
            found = client.json("GET", f"/_sandbox/deliveries/{args.delivery_id}")
        else:
            found = client.json("POST", f"/_sandbox/deliveries/{args.delivery_id}/redeliver")
        if out.as_json:
            out.json(found)
            return 0
        now = clock_now(client, out)
    if args.action == "list":
        _table(out, found["items"], now)
    else:
        _show(out, found, now, redelivered=args.action == "redeliver")
    return 0


def _last(delivery: dict[str, Any]) -> str:
    if not delivery["attempts"]:
        return "-"
    last = delivery["attempts"][-1]
    return f"{last['response_status']}" + (f" {last['error']}" if last["error"] else "")


def _table(out: Output, items: list[dict[str, Any]], now: str | None) -> None:
    from .output import relative, styled

    rows = [
        [
            d["delivery_id"],
            d["event"],
            styled(d["status"]),
            str(len(d["attempts"])),
            _last(d),
            relative(d["created_at"], now),
            d["url"],
        ]
        for d in items
    ]
    if not rows:
        out.line("no deliveries")
        return
    out.table(["delivery", "event", "status", "attempts", "last", "created", "url"], rows)


def _show(out: Output, delivery: dict[str, Any], now: str | None, *, redelivered: bool) -> None:
    from .output import http_style, relative, styled

    if redelivered:
        last = delivery["attempts"][-1]
        out.line(
            f"redelivered {delivery['delivery_id']} (attempt {last['attempt']}): "
            f"{last['response_status']}" + (f" {last['error']}" if last["error"] else "")
        )
    out.fields(
        [
            ("delivery", delivery["delivery_id"]),
            ("event", delivery["event"]),
            ("job", delivery["job_id"] or "-"),
            ("url", delivery["url"]),
            ("status", styled(delivery["status"])),
            ("next", relative(delivery["next_attempt_at"], now)),
        ]
    )
    rows = [
        [
            str(a["attempt"]),
            a["trigger"],
            relative(a["sent_at"] or a["scheduled_at"], now),
            styled(str(a["response_status"]), http_style(a["response_status"])),
            a["error"] or "",
            f"{a['duration_ms']:.0f}ms" if a["duration_ms"] is not None else "-",
        ]
        for a in delivery["attempts"]
    ]
    out.table(["attempt", "trigger", "sent", "status", "error", "took"], rows)

"""`aiprod-sandbox jobs list|get`: the account's jobs on a running sandbox, as a table or one
job's fields; `--json` prints the API's answer. Read through the control API (`GET
/_sandbox/jobs[/{job_id}]`: the same listing and view as `GET /jobs`, not counted or
journaled), so a look by hand is never taken for the partner's own traffic."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from . import flags

if TYPE_CHECKING:
    from .client import SandboxClient
    from .output import Output

STATUSES = ("PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED")


def add_parser(commands: Any) -> None:
    jobs = commands.add_parser(
        "jobs", help="list the account's jobs, or show one", description="The account's jobs."
    )
    actions = jobs.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="newest first, one page (as GET /jobs lists them)")
    listing.add_argument("--status", choices=STATUSES, help="only jobs in this state")
    listing.add_argument("--limit", type=int, default=10, help="per page, 1-100 (default 10)")
    listing.add_argument("--page", type=int, default=1, help="page number (default 1)")
    listing.add_argument(
        "--sort", default="-created_at", help="created_at, -created_at (default), status, -status"
    )
    get = actions.add_parser("get", help="one job, whole (as GET /jobs/{job_id} shows it)")
    get.add_argument("job_id", metavar="JOB_ID")
    for action in (listing, get):
        flags.connection(action)
    jobs.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .client import SandboxClient
    from .output import Output

    out = Output(args.json)
    with SandboxClient(args.url, args.key) as client:
        if args.action == "get":
            # The control API's reads: uncounted and unjournaled, so looking by hand never
            # shows up as the partner's polling (in `logs tail` or the advisor's findings).
            job = client.json("GET", f"/_sandbox/jobs/{args.job_id}")["job"]
            if out.as_json:
                out.json(job)
            else:
                show(out, job, clock_now(client, out))
            return 0
        query = {"page": args.page, "limit": args.limit, "sort": args.sort}
        if args.status:
            query["status"] = args.status
        page = client.json("GET", "/_sandbox/jobs", params=query)
        if out.as_json:
            out.json(page)
            return 0
        now = clock_now(client, out)
    _table(out, page, now)
    return 0


def clock_now(client: SandboxClient, out: Output) -> str | None:
    """The account clock's time, for times shown relative to it on a terminal (else None:
    piped output keeps the ISO times)."""
    if not out.terminal:
        return None
    now: str = client.json("GET", "/_sandbox/clock")["now"]
    return now


def _table(out: Output, page: dict[str, Any], now: str | None) -> None:
    from .output import relative, styled

    rows = [
        [
            job["job_id"],
            styled(job["status"]),
            f"{job['progress']}%",
            relative(job["created_at"], now),
            (job.get("error") or {}).get("code") or job["input"]["video_url"],
        ]
        for job in page["items"]
    ]
    info = page["pagination"]
    if rows:
        out.table(["job", "status", "progress", "created", "detail"], rows)
    if out.terminal or not rows:
        out.line(f"page {info['page']} of {info['pages']}, {info['total']} jobs")


def show(out: Output, job: dict[str, Any], now: str | None) -> None:
    from .output import relative, styled

    pairs: list[tuple[str, Any]] = [
        ("job", job["job_id"]),
        ("status", styled(job["status"])),
        ("progress", f"{job['progress']}%"),
        ("created", relative(job["created_at"], now)),
        ("started", relative(job["started_at"], now)),
        ("ended", relative(job["completed_at"], now)),
        ("video_url", job["input"]["video_url"]),
    ]
    if job.get("result"):
        result = job["result"]
        pairs += [
            ("result", result["video_url"]),
            ("cost", f"{result['cost_estimate']}"),
            ("quality", f"{result['quality_score']}"),
        ]
    if job.get("error"):
        error = job["error"]
        pairs.append(("error", styled(f"{error['code']}: {error['message']}", "red")))
    out.fields(pairs)

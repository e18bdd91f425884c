"""`aiprod-sandbox trigger EVENT [--job ID] [--set field=value ...]`: make a webhook event
happen on a running sandbox the way the API would make it, and say each step taken.

For a new job it submits `POST /pipeline/run` with the magic input that leads to the event
(`slow` for started and progress: it then runs on, on the account's clock; `stay_pending` for
cancelled; `fail_download` for failed, or `slow` when `--set error...` gives the error), then
moves the job along the state machine (`POST /_sandbox/jobs/{id}/transition`, or `DELETE
/jobs/{id}` to cancel) if the account's timing has not got it there yet. With `--job` it moves
that job; if the job is already where the event leaves it (job.completed for a COMPLETED job),
it sends the event again (`POST /_sandbox/events`), as `--send-only` always does. `--set` sets
fields of the submitted job (`voice_language=fr`, `metadata.order=42`), the progress of
job.progress (`progress=60`) or the error of job.failed (`error.code=PROCESSING_TIMEOUT`).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from . import flags

if TYPE_CHECKING:
    from .client import SandboxClient
    from .output import Output

EVENTS = ("job.started", "job.progress", "job.completed", "job.failed", "job.cancelled")
MAGIC = {  # the video_url file name that leads a new job to the event (fixtures/outcomes.yaml)
    "job.started": "slow",
    "job.progress": "slow",
    "job.completed": "sample",
    "job.failed": "fail_download",
    "job.cancelled": "stay_pending",
}
TARGET = {  # the status the event leaves a job in
    "job.started": "PROCESSING",
    "job.progress": "PROCESSING",
    "job.completed": "COMPLETED",
    "job.failed": "FAILED",
    "job.cancelled": "CANCELLED",
}
PROGRESS_STEPS = (30, 60, 90)
TRANSITION_FIELDS = ("progress", "error")
DEFAULT_ERROR = {
    "type": "processing_error",
    "code": "DOWNLOAD_FAILED",
    "message": "Could not download video_url (aiprod-sandbox trigger)",
}


def add_parser(commands: Any) -> None:
    trigger = commands.add_parser(
        "trigger",
        help="make a webhook event happen for a new or given job",
        description="Make EVENT happen the way the API would, printing each call made. "
        + (__doc__ or "").split("\n\n", 1)[1].strip(),
    )
    trigger.add_argument("event", choices=EVENTS, metavar="EVENT", help=", ".join(EVENTS))
    trigger.add_argument("--job", dest="job_id", metavar="ID", help="an existing job")
    trigger.add_argument(
        "--set",
        dest="settings",
        action="append",
        type=flags.setting,
        default=[],
        metavar="FIELD=VALUE",
        help="a field of the new job, progress=N or error.code/error.message (repeatable)",
    )
    trigger.add_argument(
        "--send-only",
        action="store_true",
        help="only send the event (POST /_sandbox/events): no job is submitted or moved",
    )
    flags.connection(trigger)
    trigger.set_defaults(run=run)


class Trigger:
    """One `trigger` run: the calls it makes, each noted as a step."""

    def __init__(
        self, client: SandboxClient, out: Output, event: str, settings: dict[str, Any]
    ) -> None:
        self.client = client
        self.out = out
        self.event = event
        self.settings = settings
        self.steps: list[str] = []

    def call(self, method: str, path: str, **more: Any) -> Any:
        """A call, printed as it is made (so a refusal later still shows what was done)."""
        found = self.client.json(method, path, **more)
        self.steps.append(f"{method} {path} → {_summary(found)}")
        if not self.out.as_json:
            self.out.live_line(self.steps[-1])
        return found

    def submit(self) -> dict[str, Any]:
        body = {k: v for k, v in self.settings.items() if k not in TRANSITION_FIELDS}
        magic = MAGIC[self.event]
        if self.event == "job.failed" and "error" in self.settings:
            magic = "slow"  # it must not fail on its own first, with an error of its own
        body.setdefault("video_url", f"https://example.com/{magic}.mp4")
        made = self.call("POST", "/pipeline/run", json=body)
        return self.read(made["job_id"])

    def read(self, job_id: str) -> dict[str, Any]:
        """The job now, through the control API: the command's own reads are not the
        partner's, so they stay out of the journal, `logs tail` and the advisor's counts."""
        job: dict[str, Any] = self.client.json("GET", f"/_sandbox/jobs/{job_id}")["job"]
        return job

    def move(self, job: dict[str, Any], *, given: bool) -> dict[str, Any]:
        """Along the state machine to where the event leaves the job, emitting it."""
        target = TARGET[self.event]
        path = f"/_sandbox/jobs/{job['job_id']}/transition"
        if given and job["status"] == target and self.event != "job.progress":
            return self.resend(job["job_id"])
        if self.event == "job.cancelled":
            if job["status"] != "CANCELLED":
                return dict(self.call("DELETE", f"/jobs/{job['job_id']}"))
            return job
        if job["status"] == "PENDING" and target != "PENDING":
            job = self.call("POST", path, json={"status": "PROCESSING"})
        if self.event == "job.progress":
            progress = self.settings.get("progress") or _next_step(job["progress"])
            return dict(self.call("POST", path, json={"status": target, "progress": progress}))
        if self.event == "job.failed" and job["status"] != "FAILED":
            error = {**DEFAULT_ERROR, **(self.settings.get("error") or {})}
            return dict(self.call("POST", path, json={"status": "FAILED", "error": error}))
        if job["status"] != target:
            return dict(self.call("POST", path, json={"status": target}))
        return job

    def resend(self, job_id: str | None) -> dict[str, Any]:
        body = {"event": self.event} | ({"job_id": job_id} if job_id else {})
        sent = self.call("POST", "/_sandbox/events", json=body)
        return self.read(sent["job_id"])


def _next_step(progress: int) -> int:
    return next((step for step in PROGRESS_STEPS if step > progress), 100)


def _summary(found: Any) -> str:
    if isinstance(found, dict) and "job_id" in found and "status" in found:
        progress = found.get("progress")
        shown = f" {progress}%" if found["status"] == "PROCESSING" and progress else ""
        return f"{found['job_id']} {found['status']}{shown}"
    if isinstance(found, dict) and "delivery_ids" in found:
        return f"{found['event']} for {found['job_id']}"
    return "ok"


def run(args: argparse.Namespace) -> int:
    from .client import SandboxClient
    from .output import Output

    settings = flags.nested(args.settings)
    if args.job_id and set(settings) - set(TRANSITION_FIELDS):
        print(
            "aiprod-sandbox trigger: with --job, --set takes only progress and error.*",
            file=sys.stderr,
        )
        return 2
    out = Output(args.json)
    with SandboxClient(args.url, args.key) as client:
        trigger = Trigger(client, out, args.event, settings)
        query = {"job_id": args.job_id, "event": args.event}
        before = set()
        if args.job_id:  # what was sent before is not this run's doing
            before = {d["delivery_id"] for d in _sent(client, query)}
        if args.send_only:
            job = trigger.resend(args.job_id)
        elif args.job_id:
            job = trigger.move(trigger.read(args.job_id), given=True)
        else:
            job = trigger.move(trigger.submit(), given=False)
        query["job_id"] = job["job_id"]
        sent = [d for d in _sent(client, query) if d["delivery_id"] not in before]
    _report(out, trigger, job, sent)
    return 0


def _sent(client: SandboxClient, query: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.json("GET", "/_sandbox/deliveries", params=query)["items"]
    return found[::-1]  # oldest first


def _report(out: Output, trigger: Trigger, job: dict[str, Any], sent: list[Any]) -> None:
    if out.as_json:
        out.json(
            {
                "event": trigger.event,
                "job_id": job["job_id"],
                "steps": trigger.steps,
                "job": job,
                "deliveries": [d["delivery_id"] for d in sent],
            }
        )
        return
    if not sent:
        out.line(f"{trigger.event} for {job['job_id']}: no webhook or callback_url takes it")
    for delivery in sent:
        out.line(
            f"{trigger.event} → {delivery['url']} ({delivery['delivery_id']}, {delivery['status']})"
        )

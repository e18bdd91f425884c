"""The sandbox console: the page at `/_sandbox/ui`, its script and style, and the read
endpoints it polls.

The page is three files shipped in the package (`console/index.html`, `app.js`, `app.css`;
no build step, nothing from outside). It is served with a Content-Security-Policy that runs
only those files: no inline script or style, no other origin, no framing, no form posts, so
a value that reaches the page (an imported job's id, a webhook URL) can be shown but never
run. Its reads go through `/_sandbox/jobs…`, which — unlike `GET /jobs` — are not rate
limited and not journaled, so watching an integration does not change what it sees.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from pydantic import BaseModel, Field
from starlette.responses import Response

from ..core.clock import iso
from . import jobs
from .jobs import JobListQuery, JobOut, job_out
from .operation import Call, control_operation
from .pagination import Page
from .responses import json_response

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""What the page may load and who may frame it: its own files and `/_sandbox/` reads only."""
FILES = {  # name in console/ → media type
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}


class TimelineEntry(BaseModel):
    at: str
    event: str = Field(examples=["job.started"])


class JobDetail(BaseModel):
    job: JobOut
    timeline: list[TimelineEntry]
    deliveries: list[str] = Field(description="Ids of the job's webhook deliveries")


@cache  # the files are constant: each is read once
def _read(name: str) -> bytes:
    return resources.files("aiprod_sandbox").joinpath("console", name).read_bytes()


def _file(name: str) -> Response:
    return Response(
        _read(name),
        media_type=FILES[name],
        headers={"Cache-Control": "no-cache", "Content-Security-Policy": CSP},
    )


async def page(call: Call) -> Response:
    return _file("index.html")


async def script(call: Call) -> Response:
    return _file("app.js")


async def style(call: Call) -> Response:
    return _file("app.css")


async def job_detail(call: Call) -> Response:
    account = call.account
    job = account.jobs.get(call.param("job_id"))
    deliveries = [d.delivery_id for d in account.deliveries.all() if d.job_id == job.job_id]
    return json_response(
        JobDetail(
            job=job_out(job, account, call.sandbox.links, call.base_url),
            timeline=[TimelineEntry(at=iso(at), event=event) for at, event in job.timeline],
            deliveries=deliveries,
        )
    )


OPERATIONS = (
    control_operation(
        "GET",
        "/_sandbox/ui",
        page,
        "The sandbox console (HTML)",
        "console",
        auth=False,
        errors=(),
        media_type="text/html",
        responses={200: (None, "The console page")},
    ),
    control_operation(
        "GET",
        "/_sandbox/ui/app.js",
        script,
        "The console's script",
        "consoleScript",
        auth=False,
        errors=(),
        media_type="text/javascript",
        responses={200: (None, "The console's script")},
    ),
    control_operation(
        "GET",
        "/_sandbox/ui/app.css",
        style,
        "The console's style sheet",
        "consoleStyle",
        auth=False,
        errors=(),
        media_type="text/css",
        responses={200: (None, "The console's style sheet")},
    ),
    control_operation(
        "GET",
        "/_sandbox/jobs",
        jobs.list_jobs,  # the same listing as GET /jobs, but not counted or journaled
        "This account's jobs (not counted)",
        "sandboxListJobs",
        query_model=JobListQuery,
        responses={200: (Page[JobOut], "One page of jobs")},
        errors=(400, 401),
    ),
    control_operation(
        "GET",
        "/_sandbox/jobs/{job_id}",
        job_detail,
        "A job with its timeline and deliveries",
        "sandboxGetJob",
        responses={200: (JobDetail, "The job")},
    ),
)

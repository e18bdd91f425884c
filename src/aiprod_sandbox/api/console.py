"""The sandbox console: the page at `/_sandbox/ui`, and the read endpoints it polls.

The page is one self-contained HTML file shipped in the package (no build step, nothing
from outside). Its reads go through `/_sandbox/jobs…`, which — unlike `GET /jobs` — are not
rate limited and not journaled, so watching an integration does not change what it sees.
"""

from __future__ import annotations

from importlib import resources

from pydantic import BaseModel, Field
from starlette.responses import Response

from ..core.clock import iso
from . import jobs
from .jobs import JobListQuery, JobOut, job_out
from .operation import Call, control_operation
from .pagination import Page
from .responses import json_response

_PAGE: bytes | None = None


class TimelineEntry(BaseModel):
    at: str
    event: str = Field(examples=["job.started"])


class JobDetail(BaseModel):
    job: JobOut
    timeline: list[TimelineEntry]
    deliveries: list[str] = Field(description="Ids of the job's webhook deliveries")


def _page() -> bytes:
    global _PAGE  # the page is a constant file: read it once
    if _PAGE is None:
        _PAGE = resources.files("aiprod_sandbox").joinpath("console/index.html").read_bytes()
    return _PAGE


async def page(call: Call) -> Response:
    return Response(
        _page(),
        media_type="text/html; charset=utf-8",
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": "default-src 'self'; "
            "style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline'; img-src 'self' data:",
        },
    )


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

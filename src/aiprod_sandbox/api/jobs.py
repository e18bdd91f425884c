"""Jobs: submit, read, list, update, cancel — models and routes (batches: `batch.py`).

`POST /pipeline/run`, `GET /pipeline/{job_id}`, `GET /jobs`, `GET /jobs/{job_id}`,
`PUT /jobs/{job_id}`, `DELETE /jobs/{job_id}`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.responses import Response

from ..core.accounts import Account
from ..core.clock import iso
from ..core.jobfields import JobInputFields, Metadata
from ..core.jobs import Job, JobInput, StatusName, fields_of
from ..core.links import Links
from ..core.schema import StrictModel
from ..core.snapshot.jobs import job_head
from ..core.urls import HttpUrl
from ..errors import UnknownField
from .operation import Call, Operation
from .pagination import Page, PageQuery, paginate
from .responses import JsonBytes, json_response
from .urlpolicy import ensure_allowed

Status = StatusName
_METADATA_DOC = "Up to 20 string keys (≤ 40 chars) with string values (≤ 500 chars)"


class JobFields(JobInputFields):
    """The per-job fields shared by a submission, a batch item and a batch's defaults."""

    metadata: Metadata | None = Field(
        default=None,
        description=_METADATA_DOC,
        examples=[{"customer_id": "cust_123", "project": "Q1_2026_Campaign"}],
    )


class JobSubmit(JobFields):
    """`POST /pipeline/run`."""

    video_url: HttpUrl = Field(
        description="Absolute http(s) URL of the input video",
        examples=["https://example.com/video.mp4"],
    )


class JobUpdate(StrictModel):
    """`PUT /jobs/{job_id}`: only `metadata` and `callback_url` can change."""

    metadata: Metadata | None = Field(default=None, description=_METADATA_DOC)
    callback_url: HttpUrl | None = Field(default=None)


class JobInputOut(BaseModel):
    # A job's input as the API shows it: every field of JobInput, null when not given.
    video_url: str
    voice_text: str | None
    voice_language: str | None
    music_style: str | None
    preset: str | None
    callback_url: str | None


assert tuple(JobInputOut.model_fields) == JobInput._fields


class JobResultOut(BaseModel):
    video_url: str = Field(description="Signed link to the result; expires after 1 hour")
    cost_estimate: float = Field(examples=[2.5])
    quality_score: float = Field(examples=[0.92])
    processing_time_seconds: int = Field(examples=[287])


class JobErrorOut(BaseModel):
    type: str = Field(examples=["processing_error"])
    code: str = Field(examples=["DOWNLOAD_FAILED"])
    message: str


class JobOut(BaseModel):
    """A job, as `GET /pipeline/{job_id}` shows it."""

    job_id: str = Field(examples=["job_abc123def456"])
    status: Status
    progress: int = Field(ge=0, le=100)
    created_at: str = Field(examples=["2026-02-04T10:30:00Z"])
    updated_at: str
    started_at: str | None
    completed_at: str | None
    estimated_duration_seconds: int = Field(examples=[300])
    input: JobInputOut
    metadata: dict[str, str]
    result: JobResultOut | None
    error: JobErrorOut | None


class JobAccepted(BaseModel):
    """`202 Accepted` for a submitted job."""

    job_id: str = Field(examples=["job_abc123def456"])
    status: Status = Field(examples=["PENDING"])
    estimated_duration_seconds: int = Field(examples=[300])
    created_at: str = Field(examples=["2026-02-04T10:30:00Z"])


class JobListQuery(PageQuery):
    sort: Literal["created_at", "-created_at", "status", "-status"] = "-created_at"
    status: Status | None = Field(default=None, description="Only jobs in this status")


def job_out(job: Job, account: Account, links: Links, base_url: str) -> JobOut:
    result, done, failure = None, job.result, job.error
    if done is not None:
        result = JobResultOut.model_construct(
            video_url=links.make(base_url, account.account_id, job.job_id, account.now()),
            cost_estimate=done.cost_estimate,
            quality_score=done.quality_score,
            processing_time_seconds=done.processing_time_seconds,
        )
    error = None
    if failure is not None:
        error = JobErrorOut.model_construct(
            type=failure.type, code=failure.code, message=failure.message
        )
    return JobOut.model_construct(
        **job_head(job),
        estimated_duration_seconds=job.estimated_duration_seconds,
        input=JobInputOut.model_construct(**fields_of(job.input)),
        result=result,
        error=error,
    )


def accepted(job: Job) -> JobAccepted:
    """The 202's body, made from the job's own fields (nothing to check: `model_construct`)."""
    return JobAccepted.model_construct(
        job_id=job.job_id,
        status=job.status.value,
        estimated_duration_seconds=job.estimated_duration_seconds,
        created_at=iso(job.created_at),
    )


def _view(call: Call, job: Job) -> Response:
    """The job as JSON. An ended job's view changes only with its result link (the base URL,
    and the second the link expires), so its body is kept and served again as it is."""
    account, links, base = call.account, call.sandbox.links, call.base_url
    if not job.ended:
        return json_response(job_out(job, account, links, base))
    key = (id(job), base, links.expires(account.now()))
    caches = call.ctx.caches
    body = caches.view(key, job)
    if body is None:
        body = job_out(job, account, links, base).model_dump_json().encode()
        caches.keep_view(key, job, body)
    return JsonBytes(body)


def job_context(call: Call) -> dict[str, Any]:
    """What job-field validation checks against: the catalogue and the account's presets."""
    presets = frozenset(p.id for p in call.account.preset_list)
    return {"catalog": call.sandbox.catalog, "presets": presets}


async def submit(call: Call) -> Response:
    body = await call.body(JobSubmit, job_context(call))
    await ensure_allowed(call, {"callback_url": body.callback_url})
    job = call.account.submit_job(body.job_input(body.video_url), body.metadata or {})
    return json_response(accepted(job), 202)


async def get_job(call: Call) -> Response:
    return _view(call, call.account.jobs.get(call.param("job_id")))


async def list_jobs(call: Call) -> Response:
    query = call.query(JobListQuery)
    jobs = call.account.jobs.listing(status=query.status, sort=query.sort)
    items, block = paginate(jobs, query.page, query.limit)
    account, links, base = call.account, call.sandbox.links, call.base_url
    page = Page[JobOut](
        items=[job_out(job, account, links, base) for job in items], pagination=block
    )
    return json_response(page)


async def update_job(call: Call) -> Response:
    try:
        body = await call.body(JobUpdate)
    except UnknownField as exc:
        exc.message = "Only metadata and callback_url can be updated"
        exc.details = {name: "Cannot be updated" for name in exc.details or {}}
        raise
    await ensure_allowed(call, {"callback_url": body.callback_url})
    job = call.account.jobs.update(
        call.param("job_id"),
        call.account.now(),
        metadata=body.metadata,
        callback_url=body.callback_url,
        set_callback="callback_url" in body.model_fields_set,
    )
    return _view(call, job)


async def cancel_job(call: Call) -> Response:
    job = call.account.jobs.cancel(
        call.param("job_id"), "Cancelled by API request", call.account.now()
    )
    return _view(call, job)


_JOB = {200: (JobOut, "The job")}
OPERATIONS = (
    Operation(
        "POST",
        "/pipeline/run",
        submit,
        "Submit a job",
        "Jobs",
        "submitJob",
        scope="jobs:write",
        request_model=JobSubmit,
        responses={202: (JobAccepted, "Accepted; the job runs asynchronously")},
        errors=(400, 401, 403, 413, 429),
    ),
    Operation(
        "GET",
        "/pipeline/{job_id}",
        get_job,
        "Get a job's status",
        "Jobs",
        "getPipelineJob",
        scope="jobs:read",
        responses=_JOB,
        errors=(401, 403, 404, 429),
    ),
    Operation(
        "GET",
        "/jobs",
        list_jobs,
        "List jobs",
        "Jobs",
        "listJobs",
        scope="jobs:read",
        query_model=JobListQuery,
        responses={200: (Page[JobOut], "One page of jobs")},
        errors=(400, 401, 403, 429),
    ),
    Operation(
        "GET",
        "/jobs/{job_id}",
        get_job,
        "Get a job",
        "Jobs",
        "getJob",
        scope="jobs:read",
        responses=_JOB,
        errors=(401, 403, 404, 429),
    ),
    Operation(
        "PUT",
        "/jobs/{job_id}",
        update_job,
        "Update a job's metadata or callback_url",
        "Jobs",
        "updateJob",
        scope="jobs:write",
        request_model=JobUpdate,
        responses=_JOB,
        errors=(400, 401, 403, 404, 409, 413, 429),
    ),
    Operation(
        "DELETE",
        "/jobs/{job_id}",
        cancel_job,
        "Cancel a pending job",
        "Jobs",
        "cancelJob",
        scope="jobs:write",
        responses={200: (JobOut, "The cancelled job")},
        errors=(401, 403, 404, 409, 429),
    ),
)

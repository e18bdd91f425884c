"""Batches: `POST /pipeline/batch` (Pro and Enterprise) — models and route.

Up to 100 videos in one request; the other fields of the body are defaults for every item,
and each item may override them. Validated whole: an error names `videos[3].video_url`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError
from starlette.responses import Response

from ..core.jobs import JobInput
from ..core.schema import exactly_one_of
from ..core.urls import HttpUrl
from .jobs import JobAccepted, JobFields, accepted, job_context
from .operation import Call, Operation
from .responses import json_response
from .urlpolicy import ensure_allowed

MAX_BATCH = 100


class BatchItem(JobFields):
    """One video of a batch: `url` or `video_url`, and any per-job field overriding the defaults."""

    model_config = ConfigDict(json_schema_extra=exactly_one_of("url", "video_url"))

    url: HttpUrl | None = Field(default=None, examples=["https://example.com/a.mp4"])
    video_url: HttpUrl | None = Field(default=None)

    @model_validator(mode="after")
    def _one_url(self) -> BatchItem:
        if (self.url is None) == (self.video_url is None):
            raise PydanticCustomError("url", "Give exactly one of 'url' or 'video_url'")
        return self


class BatchSubmit(JobFields):
    """`POST /pipeline/batch`: 1-100 videos; the other fields are defaults for every item."""

    videos: list[BatchItem] = Field(min_length=1, max_length=MAX_BATCH)


class BatchAccepted(BaseModel):
    batch_id: str
    jobs: list[JobAccepted]


def _merged(item: BatchItem, defaults: BatchSubmit) -> tuple[JobInput, dict[str, str]]:
    values: dict[str, Any] = {}
    for name in JobFields.model_fields:
        own = getattr(item, name)
        values[name] = own if name in item.model_fields_set else getattr(defaults, name)
    merged = JobFields.model_construct(**values)
    return merged.job_input(item.url or item.video_url or ""), merged.metadata or {}


async def submit_batch(call: Call) -> Response:
    call.account.ensure_batch()  # the tier first, before the body is read
    body = await call.body(BatchSubmit, job_context(call))
    merged = [_merged(item, body) for item in body.videos]
    await ensure_allowed(
        call,
        {f"videos[{n}].callback_url": job.callback_url for n, (job, _) in enumerate(merged)},
    )
    batch_id, jobs = call.account.submit_batch(merged)
    return json_response(BatchAccepted(batch_id=batch_id, jobs=[accepted(j) for j in jobs]), 202)


OPERATIONS = (
    Operation(
        "POST",
        "/pipeline/batch",
        submit_batch,
        "Submit a batch of jobs (Pro+)",
        "Jobs",
        "submitBatch",
        scope="jobs:write",
        request_model=BatchSubmit,
        responses={202: (BatchAccepted, "Accepted; every job runs asynchronously")},
        errors=(400, 401, 403, 413, 429),
    ),
)

"""`GET /me/usage`: tier, limits, requests this minute and today, jobs by status, cost."""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.responses import Response

from ..core.jobs import JobStatus
from ..core.ratelimit import UNLIMITED
from .operation import Call, Operation
from .responses import json_response


class UsageLimits(BaseModel):
    requests_per_minute: int = Field(description=f"{UNLIMITED} when not limited")
    burst: int = Field(description=f"{UNLIMITED} when not limited")
    concurrent_jobs: int


class UsageRequests(BaseModel):
    this_minute: int
    today: int


class UsageJobs(BaseModel):
    PENDING: int
    PROCESSING: int
    COMPLETED: int
    FAILED: int
    CANCELLED: int


class UsageCost(BaseModel):
    total: float = Field(description="Simulated cost of completed jobs")
    currency: str = "USD"
    charged: float = Field(default=0, description="Always 0: the sandbox charges nothing")


class UsageOut(BaseModel):
    account_id: str
    tier: str
    limits: UsageLimits
    requests: UsageRequests
    jobs: UsageJobs
    cost: UsageCost


async def usage(call: Call) -> Response:
    account = call.account
    limits = account.limits
    now = account.now()
    total = sum(
        job.result.cost_estimate
        for job in account.jobs
        if job.status == JobStatus.COMPLETED and job.result is not None
    )
    return json_response(
        UsageOut(
            account_id=account.account_id,
            tier=account.tier,
            limits=UsageLimits(
                requests_per_minute=limits.requests_per_minute or UNLIMITED,
                burst=limits.burst or UNLIMITED,
                concurrent_jobs=limits.concurrent_jobs,
            ),
            requests=UsageRequests(**account.usage.figures(now)),
            jobs=UsageJobs(**account.jobs.counts()),
            cost=UsageCost(total=round(total, 2)),
        )
    )


OPERATIONS = (
    Operation(
        "GET",
        "/me/usage",
        usage,
        "This account's usage",
        "Usage",
        "getUsage",
        scope="usage:read",
        responses={200: (UsageOut, "Usage on the account's clock")},
        errors=(401, 403, 429),
    ),
)

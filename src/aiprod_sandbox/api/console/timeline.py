"""A job as the console shows it: its events and its delivery attempts laid out per endpoint
on the account's clock, for the timeline picture.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field
from starlette.responses import Response

from ...core.accounts import Account
from ...core.clock import iso
from ...core.deliveries import Delivery
from ...core.jobs import Job
from ..jobs import JobOut, job_out
from ..operation import Call
from ..responses import json_response
from .checks import (
    CALLBACK,
    VERDICTS,
    Outcome,
    Verdict,
    endpoint_of,
    outcome,
    secret_of,
    sent_body,
    verdict,
)

# ---- a job and its timeline --------------------------------------------------------------

_OFFSET = "Seconds after the job was created, on the account's clock"


class TimelineEntry(BaseModel):
    at: str
    offset: float = Field(description=_OFFSET)
    event: str = Field(examples=["job.started"])


class LaneMark(BaseModel):
    """One delivery attempt (or the next one, `due`) on its endpoint's lane."""

    delivery_id: str
    event: str
    attempt: int = Field(description="0 for a `due` mark: the attempt not made yet")
    at: str
    offset: float = Field(description=_OFFSET)
    outcome: Outcome
    response_status: int = Field(description="0 when there was no response")
    deliberate: str | None
    signature: Verdict | None = Field(description=VERDICTS + "; null for a `due` mark")


class Lane(BaseModel):
    endpoint: str = Field(description=f"A webhook id, or `{CALLBACK}` for the job's callback_url")
    url: str
    marks: list[LaneMark] = Field(description="In time order")


class JobDetail(BaseModel):
    job: JobOut
    timeline: list[TimelineEntry]
    deliveries: list[str] = Field(description="Ids of the job's webhook deliveries")
    lanes: list[Lane] = Field(description="The job's delivery attempts, one lane per endpoint")
    now: str = Field(description="The account's clock now")
    now_offset: float = Field(description=_OFFSET)


def _offset(at: float, job: Job) -> float:
    return round(at - job.created_at, 3)


def _marks(account: Account, delivery: Delivery, job: Job) -> Iterable[LaneMark]:
    secret = secret_of(account, delivery)
    for attempt in delivery.attempts:
        at = attempt.sent_at if attempt.sent_at is not None else attempt.scheduled_at
        yield LaneMark(
            delivery_id=delivery.delivery_id,
            event=delivery.event,
            attempt=attempt.attempt,
            at=iso(at),
            offset=_offset(at, job),
            outcome=outcome(attempt),
            response_status=attempt.response_status,
            deliberate=attempt.deliberate,
            signature=verdict(secret, sent_body(attempt, delivery), attempt.request_headers),
        )
    due = delivery.next_attempt_at
    if delivery.status == "pending" and due is not None:
        yield LaneMark(
            delivery_id=delivery.delivery_id,
            event=delivery.event,
            attempt=0,
            at=iso(due),
            offset=_offset(due, job),
            outcome="due",
            response_status=0,
            deliberate=None,
            signature=None,
        )


def lanes_of(account: Account, job: Job, deliveries: list[Delivery]) -> list[Lane]:
    """One lane per endpoint the job's events went to (webhooks in registration order, then
    the callback), each attempt a mark."""
    order = {w.webhook_id: n for n, w in enumerate(account.webhooks.all())}
    lanes: dict[str, Lane] = {}
    for delivery in deliveries:
        name = endpoint_of(delivery)
        lane = lanes.setdefault(name, Lane(endpoint=name, url=delivery.url, marks=[]))
        lane.marks.extend(_marks(account, delivery, job))
    for lane in lanes.values():
        lane.marks.sort(key=lambda m: m.offset)  # stable: a delivery's attempts stay in order
    last = len(order)
    return sorted(lanes.values(), key=lambda lane: order.get(lane.endpoint, last))


async def job_detail(call: Call) -> Response:
    account = call.account
    job = account.jobs.get(call.param("job_id"))
    deliveries = [d for d in account.deliveries.all() if d.job_id == job.job_id]
    now = account.now()
    return json_response(
        JobDetail(
            job=job_out(job, account, call.sandbox.links, call.base_url),
            timeline=[
                TimelineEntry(at=iso(at), offset=_offset(at, job), event=event)
                for at, event in job.timeline
            ],
            deliveries=[d.delivery_id for d in deliveries],
            lanes=lanes_of(account, job, deliveries),
            now=iso(now),
            now_offset=_offset(now, job),
        )
    )

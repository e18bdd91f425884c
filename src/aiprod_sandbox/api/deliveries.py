"""Control endpoints for webhooks: the delivery log, redelivery, and events on demand.

`GET /_sandbox/deliveries`, `GET /_sandbox/deliveries/{id}`,
`POST /_sandbox/deliveries/{id}/redeliver`, `POST /_sandbox/events`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from ..core.clock import iso, iso_or_none
from ..core.deliveries import Attempt, AttemptError, Delivery
from ..core.ids import derive
from ..core.jobs import JobEventName
from ..core.schema import StrictModel
from ..core.snapshot import synthetic_job
from ..core.webhooks import announce
from ..errors import NotFound
from ..webhook_http.sender import Dispatcher
from .operation import Call, control_operation
from .responses import json_response


class AttemptOut(BaseModel):
    attempt: int
    trigger: Literal["scheduled", "manual", "test"]
    scheduled_at: str
    sent_at: str | None
    duration_ms: float | None
    request_headers: dict[str, str]
    request_body: str = Field(
        description="The exact body sent: the same on every attempt, but for one a scenario's "
        "`malformed_body` rule cut short"
    )
    response_status: int = Field(description="0 when there was no response")
    response_excerpt: str
    error: AttemptError | None = Field(
        description="Why the attempt failed; `dropped`: a scenario's `drop` rule kept it from "
        "being sent at all (no receiver was waited for, so it is no `timeout`); retried on the "
        "schedule like any failed attempt"
    )
    deliberate: str | None = Field(
        description="The scenario webhook action that made this attempt misbehave on purpose "
        "(`bad_signature`, `wrong_secret`, `missing_signature`, `stale_timestamp`, "
        "`malformed_body`, `wrong_content_type`, `slow`, `duplicate`, `out_of_order`, `delay`, "
        "`drop`); the attempt's answer and error are still what the receiver really did"
    )


class DeliveryOut(BaseModel):
    delivery_id: str
    webhook_id: str | None = Field(description="null: the job's callback_url")
    url: str
    event: str
    job_id: str | None
    status: Literal["pending", "delivered", "failed"]
    test: bool
    created_at: str
    next_attempt_at: str | None
    attempts: list[AttemptOut]
    note: str | None


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    attempts_recorded: int = Field(
        description="Attempts whose outcome came back, ever, in this account: give it as "
        "`attempted_after` to get only the deliveries attempted since"
    )


class DeliveryQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    webhook_id: str | None = None
    job_id: str | None = None
    event: str | None = None
    status: Literal["pending", "delivered", "failed"] | None = None
    attempted_after: int | None = Field(
        default=None,
        ge=0,
        description="Only deliveries with an attempt that came back after the account's "
        "`attempts_recorded` was this (a redelivery of an old one too)",
    )
    limit: int = Field(default=100, ge=1, le=1000, description="Newest first")


class EventIn(StrictModel):
    event: JobEventName
    job_id: str | None = Field(default=None, description="Default: a new synthetic job")


class EventSent(BaseModel):
    event: str
    job_id: str
    delivery_ids: list[str]


def _attempt(attempt: Attempt, body: str) -> AttemptOut:
    return AttemptOut(
        attempt=attempt.attempt,
        trigger=attempt.trigger,
        scheduled_at=iso(attempt.scheduled_at),
        sent_at=iso(attempt.sent_at) if attempt.sent_at is not None else None,
        duration_ms=attempt.duration_ms,
        request_headers=attempt.request_headers,
        request_body=body
        if attempt.request_body is None
        else attempt.request_body.decode("utf-8", "replace"),
        response_status=attempt.response_status,
        response_excerpt=attempt.response_excerpt,
        error=attempt.error,
        deliberate=attempt.deliberate,
    )


def delivery_head(delivery: Delivery) -> dict[str, Any]:
    """The fields the delivery log and the console's view of it show alike."""
    return {
        "delivery_id": delivery.delivery_id,
        "url": delivery.url,
        "event": delivery.event,
        "job_id": delivery.job_id,
        "status": delivery.status,
        "test": delivery.test,
        "created_at": iso(delivery.created_at),
        "next_attempt_at": iso_or_none(delivery.next_attempt_at),
        "note": delivery.note,
    }


def delivery_out(delivery: Delivery) -> DeliveryOut:
    body = delivery.body.decode("utf-8", "replace")
    return DeliveryOut(
        **delivery_head(delivery),
        webhook_id=delivery.webhook_id,
        attempts=[_attempt(a, body) for a in delivery.attempts],
    )


def _delivery(call: Call) -> Delivery:
    delivery = call.account.deliveries.get(call.param("delivery_id"))
    if delivery is None:
        raise NotFound("Delivery not found", code="DELIVERY_NOT_FOUND")
    return delivery


def dispatcher(call: Call) -> Dispatcher:
    found = call.request.app.state.dispatcher
    assert isinstance(found, Dispatcher)
    return found


async def list_deliveries(call: Call) -> Response:
    query = call.query(DeliveryQuery)
    items: list[DeliveryOut] = []
    for delivery in reversed(call.account.deliveries.all()):
        if query.webhook_id and delivery.webhook_id != query.webhook_id:
            continue
        if query.job_id and delivery.job_id != query.job_id:
            continue
        if query.event and delivery.event != query.event:
            continue
        if query.status and delivery.status != query.status:
            continue
        after = query.attempted_after
        if after is not None and delivery.last_recorded <= after:
            continue
        items.append(delivery_out(delivery))
        if len(items) >= query.limit:
            break
    recorded = call.account.attempts_recorded
    return json_response(DeliveryList(items=items, attempts_recorded=recorded))


async def get_delivery(call: Call) -> Response:
    return json_response(delivery_out(_delivery(call)))


async def redeliver(call: Call) -> Response:
    delivery = _delivery(call)
    await dispatcher(call).redeliver(call.account, delivery)
    return json_response(delivery_out(delivery))


def _fake_input(call: Call) -> dict[str, Any]:
    from faker import Faker  # imported on demand: it is slow to import, and rarely needed

    fake = Faker()
    fake.seed_instance(
        derive(call.account.seed, call.account.account_id, str(len(call.account.jobs)))
    )
    return {
        "video_url": f"https://{fake.domain_name()}/{fake.slug()}.mp4",
        "voice_text": fake.sentence(nb_words=8),
        "voice_language": "en",
    }


async def send_event(call: Call) -> Response:
    body = await call.body(EventIn)
    account = call.account
    if body.job_id is not None:
        job = account.jobs.get(body.job_id)
    else:
        job = synthetic_job(account, body.event, _fake_input(call))
    made = announce(account, body.event, job)
    return json_response(
        EventSent(event=body.event, job_id=job.job_id, delivery_ids=[d.delivery_id for d in made]),
        202,
    )


OPERATIONS = (
    control_operation(
        "GET",
        "/_sandbox/deliveries",
        list_deliveries,
        "The webhook delivery log",
        "listDeliveries",
        query_model=DeliveryQuery,
        responses={200: (DeliveryList, "Newest first")},
        errors=(400, 401),
    ),
    control_operation(
        "GET",
        "/_sandbox/deliveries/{delivery_id}",
        get_delivery,
        "One delivery",
        "getDelivery",
        responses={200: (DeliveryOut, "The delivery")},
    ),
    control_operation(
        "POST",
        "/_sandbox/deliveries/{delivery_id}/redeliver",
        redeliver,
        "Send a delivery's stored bytes again (same id, no retries)",
        "redeliver",
        responses={200: (DeliveryOut, "The delivery with the new attempt")},
    ),
    control_operation(
        "POST",
        "/_sandbox/events",
        send_event,
        "Send a job event now",
        "sendEvent",
        request_model=EventIn,
        responses={202: (EventSent, "The deliveries made")},
    ),
)

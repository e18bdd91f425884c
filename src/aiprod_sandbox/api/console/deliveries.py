"""The delivery log a page at a time, and one delivery with each attempt's signature checked."""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.responses import Response

from ...core.accounts import Account
from ...core.deliveries import AttemptError, Delivery, DeliveryStatus
from ...errors import NotFound
from ..deliveries import DeliveryOut, delivery_head, delivery_out
from ..operation import Call
from ..pagination import Page, PageQuery, paginate
from ..responses import json_response
from .checks import (
    CALLBACK,
    VERDICTS,
    Verdict,
    endpoint_of,
    mask_secret,
    secret_of,
    sent_body,
    verdict,
)

# ---- deliveries, a page at a time --------------------------------------------------------


class DeliveryRow(BaseModel):
    delivery_id: str
    endpoint: str = Field(description=f"A webhook id, or `{CALLBACK}`")
    url: str
    event: str
    job_id: str | None
    status: DeliveryStatus
    test: bool
    created_at: str
    next_attempt_at: str | None
    attempts: int
    last_status: int | None = Field(description="The last attempt's answer (0: none)")
    last_error: AttemptError | None
    signature: Verdict | None = Field(description="The last attempt's; " + VERDICTS)
    deliberate: list[str] = Field(description="Faults a scenario made on purpose, in order")
    note: str | None


class ConsoleDeliveryQuery(PageQuery):
    status: DeliveryStatus | None = None
    endpoint: str | None = Field(default=None, description=f"A webhook id, or `{CALLBACK}`")
    job_id: str | None = None


def delivery_row(account: Account, delivery: Delivery) -> DeliveryRow:
    last = delivery.attempts[-1] if delivery.attempts else None
    deliberate = [a.deliberate for a in delivery.attempts if a.deliberate]
    return DeliveryRow(
        **delivery_head(delivery),
        endpoint=endpoint_of(delivery),
        attempts=len(delivery.attempts),
        last_status=last.response_status if last else None,
        last_error=last.error if last else None,
        signature=(
            verdict(secret_of(account, delivery), sent_body(last, delivery), last.request_headers)
            if last
            else None
        ),
        deliberate=list(dict.fromkeys(deliberate)),
    )


async def list_deliveries(call: Call) -> Response:
    query = call.query(ConsoleDeliveryQuery)
    account = call.account
    found = [
        d
        for d in reversed(account.deliveries.all())  # newest first
        if (query.status is None or d.status == query.status)
        and (query.endpoint is None or endpoint_of(d) == query.endpoint)
        and (query.job_id is None or d.job_id == query.job_id)
    ]
    items, block = paginate(found, query.page, query.limit)
    rows = [delivery_row(account, d) for d in items]
    return json_response(Page[DeliveryRow](items=rows, pagination=block))


class SignatureCheck(BaseModel):
    attempt: int
    verdict: Verdict = Field(description=VERDICTS)


class DeliveryDetail(BaseModel):
    delivery: DeliveryOut = Field(description="As `GET /_sandbox/deliveries/{id}` has it")
    secret: str = Field(
        description="Which secret the signatures are checked with (masked)",
        examples=["webhook wh_abc123 (whsec_…9f2c)"],
    )
    signatures: list[SignatureCheck] = Field(description="One per attempt, in the same order")


async def get_delivery(call: Call) -> Response:
    account = call.account
    delivery = account.deliveries.get(call.param("delivery_id"))
    if delivery is None:
        raise NotFound("Delivery not found", code="DELIVERY_NOT_FOUND")
    secret = secret_of(account, delivery)
    if delivery.webhook_id is None:
        which = f"the account's callback secret ({mask_secret(account.callback_secret)})"
    elif secret is None:
        which = f"none: webhook {delivery.webhook_id} was deleted"
    else:
        which = f"webhook {delivery.webhook_id} ({mask_secret(secret)})"
    checks = [
        SignatureCheck(
            attempt=a.attempt, verdict=verdict(secret, sent_body(a, delivery), a.request_headers)
        )
        for a in delivery.attempts
    ]
    return json_response(
        DeliveryDetail(delivery=delivery_out(delivery), secret=which, signatures=checks)
    )

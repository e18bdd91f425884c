"""Webhooks with what became of their deliveries, keys with their audit trail, and one
journal entry.
"""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field
from starlette.responses import Response

from ...core.clock import iso
from ...core.deliveries import Delivery
from ...core.webhooks import Webhook
from ...errors import NotFound
from ..journal import entry_out
from ..keys import AuditEntry, KeyOut, key_out
from ..operation import Call
from ..responses import json_response
from .checks import (
    CALLBACK,
    MAX_AUDIT_PER_KEY,
    endpoint_of,
    mask_secret,
)

# ---- webhooks, keys, one request ---------------------------------------------------------


class Outcomes(BaseModel):
    """Deliveries kept in the log, by where they stand."""

    delivered: int
    failed: int
    pending: int


class EndpointRow(BaseModel):
    endpoint: str = Field(description=f"A webhook id, or `{CALLBACK}`")
    webhook_id: str | None
    urls: list[str] = Field(description="The webhook's URL; for callbacks, those seen (newest 10)")
    events: list[str]
    active: bool
    created_at: str | None
    secret: str = Field(description="The signing secret, masked")
    deliveries: Outcomes
    attempts: int


class EndpointList(BaseModel):
    items: list[EndpointRow] = Field(description=f"Webhooks in registration order, `{CALLBACK}`")
    kept: int = Field(description="Deliveries the log keeps now (it is bounded)")


def _outcomes(deliveries: list[Delivery]) -> Outcomes:
    counted = Counter(d.status for d in deliveries)
    return Outcomes(
        delivered=counted["delivered"], failed=counted["failed"], pending=counted["pending"]
    )


def _webhook_row(webhook: Webhook, deliveries: list[Delivery]) -> EndpointRow:
    return EndpointRow(
        endpoint=webhook.webhook_id,
        webhook_id=webhook.webhook_id,
        urls=[webhook.url],
        events=list(webhook.events),
        active=webhook.active,
        created_at=iso(webhook.created_at),
        secret=mask_secret(webhook.secret),
        deliveries=_outcomes(deliveries),
        attempts=sum(len(d.attempts) for d in deliveries),
    )


async def list_endpoints(call: Call) -> Response:
    account = call.account
    kept = account.deliveries.all()
    by_endpoint: dict[str, list[Delivery]] = {}
    for delivery in kept:
        by_endpoint.setdefault(endpoint_of(delivery), []).append(delivery)
    rows = [_webhook_row(w, by_endpoint.get(w.webhook_id, [])) for w in account.webhooks.all()]
    callbacks = by_endpoint.get(CALLBACK, [])
    rows.append(
        EndpointRow(
            endpoint=CALLBACK,
            webhook_id=None,
            urls=list(dict.fromkeys(d.url for d in reversed(callbacks)))[:10],
            events=[],
            active=True,
            created_at=None,
            secret=mask_secret(account.callback_secret),
            deliveries=_outcomes(callbacks),
            attempts=sum(len(d.attempts) for d in callbacks),
        )
    )
    return json_response(EndpointList(items=rows, kept=len(kept)))


class KeyRow(KeyOut):
    yours: bool = Field(description="The key this request was made with")
    audit: list[AuditEntry] = Field(description=f"Newest first, at most {MAX_AUDIT_PER_KEY}")
    audit_total: int = Field(description="The key's events the audit log keeps")


class KeyList(BaseModel):
    items: list[KeyRow] = Field(description="Newest first")


async def list_keys(call: Call) -> Response:
    account = call.account
    trails: dict[str, list[AuditEntry]] = {}
    for record in reversed(account.audit.items):
        trails.setdefault(record.key_id, []).append(AuditEntry.model_validate(record))
    mine = call.ctx.key.key_id if call.ctx.key is not None else None
    rows = [
        KeyRow(
            **key_out(key).model_dump(),
            yours=key.key_id == mine,
            audit=trails.get(key.key_id, [])[:MAX_AUDIT_PER_KEY],
            audit_total=len(trails.get(key.key_id, [])),
        )
        for key in reversed(account.keys.values())
    ]
    return json_response(KeyList(items=rows))


async def get_request(call: Call) -> Response:
    request_id = call.param("request_id")
    entry = next((e for e in reversed(call.account.journal) if e.request_id == request_id), None)
    if entry is None:
        raise NotFound(
            "That request is not in the journal (it keeps the newest entries only)",
            code="REQUEST_NOT_FOUND",
        )
    return json_response(entry_out(entry))

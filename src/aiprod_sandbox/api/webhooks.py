"""Webhooks: register, list, read, update, delete, test — models and routes.

The `whsec_` secret is shown once, in the 201 of `POST /webhooks/register`, never again.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from starlette.responses import Response

from ..core import webhooks as hooks
from ..core.clock import iso
from ..core.jobs import JOB_EVENTS
from ..core.schema import StrictModel
from ..core.urls import HttpUrl
from ..core.webhooks import EventList, Webhook, make_test_delivery
from .operation import Call, Operation
from .pagination import Page, PageQuery, paginate
from .responses import json_response
from .urlpolicy import ensure_allowed

_EVENTS_DOC = "Any of: " + ", ".join(JOB_EVENTS)


class WebhookRegister(StrictModel):
    url: HttpUrl = Field(examples=["https://yourserver.com/aiprod-webhook"])
    events: EventList = Field(
        min_length=1, description=_EVENTS_DOC, examples=[["job.completed", "job.failed"]]
    )
    active: bool = True


class WebhookUpdate(StrictModel):
    url: HttpUrl | None = None
    events: EventList | None = Field(default=None, min_length=1, description=_EVENTS_DOC)
    active: bool | None = None


class WebhookOut(BaseModel):
    webhook_id: str = Field(examples=["wh_abc123"])
    url: str
    events: list[str]
    active: bool
    created_at: str
    updated_at: str


class WebhookCreated(BaseModel):
    """Like a webhook, plus its `secret` — shown only here."""

    webhook_id: str = Field(examples=["wh_abc123"])
    url: str
    events: list[str]
    active: bool
    secret: str = Field(examples=["whsec_xxxxxxxxxxxxxxxx"])
    created_at: str


class DeliveryAccepted(BaseModel):
    delivery_id: str


class WebhookListQuery(PageQuery):
    sort: Literal["created_at", "-created_at"] = "-created_at"


def _out(webhook: Webhook) -> WebhookOut:
    return WebhookOut(
        webhook_id=webhook.webhook_id,
        url=webhook.url,
        events=list(webhook.events),
        active=webhook.active,
        created_at=iso(webhook.created_at),
        updated_at=iso(webhook.updated_at),
    )


async def register(call: Call) -> Response:
    body = await call.body(WebhookRegister)
    hooks.ensure_room(call.account)  # before the address lookup, which takes time
    await ensure_allowed(call, {"url": body.url})
    webhook = hooks.register(call.account, body.url, body.events, body.active)
    created = WebhookCreated(
        **_out(webhook).model_dump(exclude={"updated_at"}), secret=webhook.secret
    )
    return json_response(created, 201)


async def list_webhooks(call: Call) -> Response:
    query = call.query(WebhookListQuery)
    hooks = sorted(
        call.account.webhooks.all(), key=lambda w: w.created_at, reverse=query.sort == "-created_at"
    )
    items, block = paginate(hooks, query.page, query.limit)
    return json_response(Page[WebhookOut](items=[_out(w) for w in items], pagination=block))


async def get_webhook(call: Call) -> Response:
    return json_response(_out(call.account.webhooks.get(call.param("webhook_id"))))


async def update_webhook(call: Call) -> Response:
    body = await call.body(WebhookUpdate)
    webhook_id = call.param("webhook_id")
    call.account.webhooks.get(webhook_id)  # 404 before a lookup
    if body.url is not None:
        await ensure_allowed(call, {"url": body.url})
    webhook = hooks.update(
        call.account, webhook_id, url=body.url, events=body.events, active=body.active
    )
    return json_response(_out(webhook))


async def delete_webhook(call: Call) -> Response:
    return json_response(_out(call.account.webhooks.remove(call.param("webhook_id"))))


async def test_webhook(call: Call) -> Response:
    webhook = call.account.webhooks.get(call.param("webhook_id"))
    delivery = make_test_delivery(call.account, webhook)
    return json_response(DeliveryAccepted(delivery_id=delivery.delivery_id), 202)


_ONE = {200: (WebhookOut, "The webhook")}
OPERATIONS = (
    Operation(
        "POST",
        "/webhooks/register",
        register,
        "Register a webhook",
        "Webhooks",
        "registerWebhook",
        scope="webhooks:write",
        request_model=WebhookRegister,
        responses={201: (WebhookCreated, "Registered; store the secret")},
        errors=(400, 401, 403, 413, 429),
    ),
    Operation(
        "GET",
        "/webhooks",
        list_webhooks,
        "List webhooks",
        "Webhooks",
        "listWebhooks",
        scope="webhooks:read",
        query_model=WebhookListQuery,
        responses={200: (Page[WebhookOut], "One page of webhooks")},
        errors=(400, 401, 403, 429),
    ),
    Operation(
        "GET",
        "/webhooks/{webhook_id}",
        get_webhook,
        "Get a webhook",
        "Webhooks",
        "getWebhook",
        scope="webhooks:read",
        responses=_ONE,
        errors=(401, 403, 404, 429),
    ),
    Operation(
        "PUT",
        "/webhooks/{webhook_id}",
        update_webhook,
        "Update a webhook",
        "Webhooks",
        "updateWebhook",
        scope="webhooks:write",
        request_model=WebhookUpdate,
        responses=_ONE,
        errors=(400, 401, 403, 404, 413, 429),
    ),
    Operation(
        "DELETE",
        "/webhooks/{webhook_id}",
        delete_webhook,
        "Delete a webhook",
        "Webhooks",
        "deleteWebhook",
        scope="webhooks:write",
        responses={200: (WebhookOut, "The deleted webhook")},
        errors=(401, 403, 404, 429),
    ),
    Operation(
        "POST",
        "/webhooks/{webhook_id}/test",
        test_webhook,
        "Send a test delivery",
        "Webhooks",
        "testWebhook",
        scope="webhooks:write",
        responses={202: (DeliveryAccepted, "The test delivery is on its way")},
        errors=(401, 403, 404, 429),
    ),
)

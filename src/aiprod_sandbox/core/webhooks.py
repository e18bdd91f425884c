"""Registered webhooks, the guide's event payloads, and the fan-out of job events to deliveries.

Every job event goes to each active webhook of the account that subscribes to it, and to the
job's `callback_url` (with `webhook_id: null`, signed with the account's callback secret).
Each becomes a `Delivery` whose first attempt is due at the event's time on the account's
clock; the dispatcher picks it up from the account's scheduler.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from ..errors import NotFound, ValidationFailed
from .clock import iso
from .deliveries import DELIVERY_KIND, Delivery
from .jobs import JOB_EVENTS, Job, JobEvent
from .schema import known_names, names_schema

if TYPE_CHECKING:
    from .accounts import Account

TEST_EVENT = "webhook.test"
MAX_WEBHOOKS = 100  # per account


# The events a webhook subscribes to, in a model (a request, a state document, a fixture).
EventList = Annotated[
    list[str], known_names("event", JOB_EVENTS), names_schema(JOB_EVENTS, min_items=1)
]


@dataclass
class Webhook:
    webhook_id: str
    url: str
    events: tuple[str, ...]
    active: bool
    secret: str
    created_at: float
    updated_at: float


class WebhookBook:
    """One account's registered webhooks, in registration order."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, Webhook] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def all(self) -> list[Webhook]:
        return list(self._items.values())

    def wanting(self, event: str) -> bool:
        """Whether an active webhook subscribes to `event` (asked for every job event)."""
        if not self._items:
            return False
        return any(w.active and event in w.events for w in self._items.values())

    def add(self, webhook: Webhook) -> None:
        self._items[webhook.webhook_id] = webhook

    def find(self, webhook_id: str) -> Webhook | None:
        return self._items.get(webhook_id)

    def get(self, webhook_id: str) -> Webhook:
        webhook = self._items.get(webhook_id)
        if webhook is None:
            raise NotFound("Webhook not found", code="WEBHOOK_NOT_FOUND")
        return webhook

    def remove(self, webhook_id: str) -> Webhook:
        webhook = self.get(webhook_id)
        del self._items[webhook_id]
        return webhook

    def clear(self) -> None:
        self._items.clear()


def result_data(job: Job, video_url: str) -> dict[str, Any] | None:
    result = job.result
    if result is None:
        return None
    return {
        "video_url": video_url,
        "cost_estimate": result.cost_estimate,
        "quality_score": result.quality_score,
        "processing_time_seconds": result.processing_time_seconds,
    }


def event_data(job: Job, event: str, video_url: str) -> dict[str, Any]:
    """The `data` of an event, as the guide's table lists it (from the job as it is now)."""
    data: dict[str, Any] = {"job_id": job.job_id, "status": job.status.value}
    if event == "job.progress":
        data["progress"] = job.progress
    elif event == "job.completed":
        data["result"] = result_data(job, video_url)
        result = job.result
        cost = result.cost_estimate if result else 0.0
        data["cost"] = {"estimate": cost, "currency": "USD", "charged": 0}
    elif event == "job.failed":
        error = job.error
        data["error"] = (
            {"type": error.type, "code": error.code, "message": error.message} if error else None
        )
    elif event == "job.cancelled":
        data["reason"] = job.cancel_reason
    return data


def payload(event: str, webhook_id: str | None, data: dict[str, Any], at: float) -> bytes:
    """The body, serialized once: these bytes are signed, sent, stored and resent."""
    document = {"event": event, "webhook_id": webhook_id, "data": data, "timestamp": iso(at)}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def new_delivery(
    account: Account,
    *,
    webhook_id: str | None,
    url: str,
    event: str,
    job_id: str | None,
    body: bytes,
    at: float,
    test: bool = False,
) -> Delivery:
    delivery = Delivery(
        delivery_id=account.ids.new("dlv"),
        webhook_id=webhook_id,
        url=url,
        event=event,
        job_id=job_id,
        body=body,
        created_at=at,
        test=test,
        next_attempt_at=at,
    )
    account.deliveries.add(delivery)
    return delivery


def fan_out(account: Account, event: JobEvent, video_url: str) -> list[Delivery]:
    """Make the deliveries of one job event and schedule their first attempts."""
    job = account.jobs.find(event.job_id)
    if job is None:
        return []
    data = event_data(job, event.event, video_url)
    if event.event == "job.progress" and "progress" in event.data:
        data["progress"] = event.data["progress"]  # the step's value, not a later one
    made: list[Delivery] = []
    for webhook in account.webhooks.all():
        if webhook.active and event.event in webhook.events:
            made.append(
                new_delivery(
                    account,
                    webhook_id=webhook.webhook_id,
                    url=webhook.url,
                    event=event.event,
                    job_id=job.job_id,
                    body=payload(event.event, webhook.webhook_id, data, event.at),
                    at=event.at,
                )
            )
    if job.callback_url:
        made.append(
            new_delivery(
                account,
                webhook_id=None,
                url=job.callback_url,
                event=event.event,
                job_id=job.job_id,
                body=payload(event.event, None, data, event.at),
                at=event.at,
            )
        )
    for delivery in made:
        account.scheduler.schedule(event.at, DELIVERY_KIND, delivery.delivery_id)
    return made


def make_test_delivery(account: Account, webhook: Webhook) -> Delivery:
    """A `webhook.test` delivery: sent whatever the filter, logged as a test, never retried."""
    at = account.now()
    data = {"webhook_id": webhook.webhook_id, "message": "Test delivery from AIPROD Sandbox"}
    delivery = new_delivery(
        account,
        webhook_id=webhook.webhook_id,
        url=webhook.url,
        event=TEST_EVENT,
        job_id=None,
        body=payload(TEST_EVENT, webhook.webhook_id, data, at),
        at=at,
        test=True,
    )
    account.scheduler.schedule(at, DELIVERY_KIND, delivery.delivery_id)
    return delivery


def ensure_room(account: Account) -> None:
    """400 when the account has its `MAX_WEBHOOKS` already."""
    if len(account.webhooks) >= MAX_WEBHOOKS:
        raise ValidationFailed(details={"webhooks": f"At most {MAX_WEBHOOKS} per account"})


def register(account: Account, url: str, events: list[str], active: bool) -> Webhook:
    """A new webhook of the account, with its own id and `whsec_` secret. The URL has passed
    the address policy already (`api/urlpolicy.py`)."""
    ensure_room(account)  # again: the address lookup took time
    now = account.now()
    webhook = Webhook(
        webhook_id=account.ids.new("wh"),
        url=url,
        events=tuple(events),
        active=active,
        secret=account.tokens.webhook_secret(),
        created_at=now,
        updated_at=now,
    )
    account.webhooks.add(webhook)
    return webhook


def update(
    account: Account,
    webhook_id: str,
    *,
    url: str | None = None,
    events: list[str] | None = None,
    active: bool | None = None,
) -> Webhook:
    """Change what is given; the secret stays. 404 for a webhook the account lacks."""
    webhook = account.webhooks.get(webhook_id)
    if url is not None:
        webhook.url = url
    if events is not None:
        webhook.events = tuple(events)
    if active is not None:
        webhook.active = active
    webhook.updated_at = account.now()
    return webhook


def announce(account: Account, event: str, job: Job) -> list[Delivery]:
    """Emit `event` for `job` now, as if the job had done it; the deliveries it made."""
    extra = {"progress": job.progress} if event == "job.progress" else {}
    before = account.deliveries.added
    account.events_append(JobEvent(event, job.job_id, account.now(), extra))
    return account.deliveries.newest(account.deliveries.added - before)

"""The sandbox console: the page at `/_sandbox/ui`, its script and style, and the read
endpoints it polls.

The page is three files shipped in the package (`console/index.html`, `app.js`, `app.css`;
no build step, nothing from outside). It is served with a Content-Security-Policy that runs
only those files: no inline script or style, no other origin, no framing, no form posts, so
a value that reaches the page (an imported job's id, a webhook URL) can be shown but never
run. Its reads go through `/_sandbox/jobs…` and `/_sandbox/console/…`, which — unlike
`GET /jobs` — are not rate limited and not journaled, so watching an integration does not
change what it sees.

The console's reads are views made for a person: a job with its delivery attempts laid out
per endpoint for the timeline picture, the delivery log a page at a time, webhooks with what
became of their deliveries, keys with their audit trail. Each attempt says whether its
`X-AIPROD-Signature` verifies against the endpoint's secret, checked here as the guide's
`verify_webhook` would (`webhook_http/signing.py`); no secret or key leaves unmasked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, Field
from starlette.responses import Response

from ..core.accounts import Account
from ..core.clock import iso, iso_or_none
from ..core.deliveries import Attempt, AttemptError, Delivery, DeliveryStatus
from ..core.jobs import Job
from ..core.webhooks import Webhook
from ..errors import NotFound
from ..webhook_http.chaos import SIGNATURE
from ..webhook_http.signing import verify
from . import jobs
from .deliveries import DeliveryOut, delivery_out
from .jobs import JobListQuery, JobOut, job_out
from .journal import JournalEntryOut, entry_out
from .keys import AuditEntry, KeyOut, key_out
from .operation import Call, control_operation
from .pagination import Page, PageQuery, paginate
from .responses import json_response

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""What the page may load and who may frame it: its own files and `/_sandbox/` reads only."""
FILES = {  # name in console/ → media type
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
CALLBACK = "callback"  # the endpoint name of jobs' callback_url (as scenario rules name it)
MAX_AUDIT_PER_KEY = 50  # a key's newest audit events shown; `audit_total` says how many

Verdict = Literal["verifies", "wrong_signature", "no_signature", "unknown_secret"]
VERDICTS = (
    "`verifies`: the X-AIPROD-Signature header is the HMAC-SHA256 of the bytes sent under "
    "the endpoint's secret; `wrong_signature`: it is not; `no_signature`: the attempt carried "
    "none; `unknown_secret`: the webhook was deleted, so there is no secret to check with"
)
Outcome = Literal["acknowledged", "failed", "dropped", "due"]


# ---- checks ------------------------------------------------------------------------------


def secret_of(account: Account, delivery: Delivery) -> str | None:
    """The secret an endpoint checks `delivery` with: its webhook's `whsec_` secret, or the
    account's callback secret for a job's callback_url; None when the webhook is gone."""
    if delivery.webhook_id is None:
        return account.callback_secret
    webhook = account.webhooks.find(delivery.webhook_id)
    return webhook.secret if webhook is not None else None


def verdict(secret: str | None, body: bytes, headers: Mapping[str, str]) -> Verdict:
    """Whether an attempt's signature header verifies `body` under `secret` (see VERDICTS)."""
    name = SIGNATURE.lower()  # header names compare without regard to case, as in HTTP
    signature = next((v for k, v in headers.items() if k.lower() == name), None)
    if not signature:
        return "no_signature"
    if secret is None:
        return "unknown_secret"
    return "verifies" if verify(secret, body, signature) else "wrong_signature"


def sent_body(attempt: Attempt, delivery: Delivery) -> bytes:
    """The bytes an attempt sent: the delivery's, unless a scenario changed them for that
    attempt (`malformed_body` signs and keeps the bytes it cut short)."""
    return delivery.body if attempt.request_body is None else attempt.request_body


def outcome(attempt: Attempt) -> Outcome:
    if attempt.ok:
        return "acknowledged"
    return "dropped" if attempt.error == "dropped" else "failed"


def endpoint_of(delivery: Delivery) -> str:
    return delivery.webhook_id or CALLBACK


def mask_secret(secret: str) -> str:
    return f"whsec_…{secret[-4:]}" if secret else ""


# ---- the files ---------------------------------------------------------------------------


@cache  # the files are constant: each is read once
def _read(name: str) -> bytes:
    return resources.files("aiprod_sandbox").joinpath("console", name).read_bytes()


def _file(name: str) -> Response:
    return Response(
        _read(name),
        media_type=FILES[name],
        headers={"Cache-Control": "no-cache", "Content-Security-Policy": CSP},
    )


async def page(call: Call) -> Response:
    return _file("index.html")


async def script(call: Call) -> Response:
    return _file("app.js")


async def style(call: Call) -> Response:
    return _file("app.css")


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
        delivery_id=delivery.delivery_id,
        endpoint=endpoint_of(delivery),
        url=delivery.url,
        event=delivery.event,
        job_id=delivery.job_id,
        status=delivery.status,
        test=delivery.test,
        created_at=iso(delivery.created_at),
        next_attempt_at=iso_or_none(delivery.next_attempt_at),
        attempts=len(delivery.attempts),
        last_status=last.response_status if last else None,
        last_error=last.error if last else None,
        signature=(
            verdict(secret_of(account, delivery), sent_body(last, delivery), last.request_headers)
            if last
            else None
        ),
        deliberate=list(dict.fromkeys(deliberate)),
        note=delivery.note,
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
        "/_sandbox/ui/app.js",
        script,
        "The console's script",
        "consoleScript",
        auth=False,
        errors=(),
        media_type="text/javascript",
        responses={200: (None, "The console's script")},
    ),
    control_operation(
        "GET",
        "/_sandbox/ui/app.css",
        style,
        "The console's style sheet",
        "consoleStyle",
        auth=False,
        errors=(),
        media_type="text/css",
        responses={200: (None, "The console's style sheet")},
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
        "A job with its timeline, deliveries and their attempts per endpoint",
        "sandboxGetJob",
        responses={200: (JobDetail, "The job")},
    ),
    control_operation(
        "GET",
        "/_sandbox/console/deliveries",
        list_deliveries,
        "The delivery log a page at a time, each with its last answer and signature check",
        "consoleListDeliveries",
        query_model=ConsoleDeliveryQuery,
        responses={200: (Page[DeliveryRow], "One page of deliveries, newest first")},
        errors=(400, 401),
    ),
    control_operation(
        "GET",
        "/_sandbox/console/deliveries/{delivery_id}",
        get_delivery,
        "One delivery, each attempt's signature checked against its endpoint's secret",
        "consoleGetDelivery",
        responses={200: (DeliveryDetail, "The delivery")},
    ),
    control_operation(
        "GET",
        "/_sandbox/console/webhooks",
        list_endpoints,
        "Webhooks and the callback endpoint, with their deliveries by outcome",
        "consoleListWebhooks",
        responses={200: (EndpointList, "Every endpoint")},
        errors=(401,),
    ),
    control_operation(
        "GET",
        "/_sandbox/console/keys",
        list_keys,
        "The account's keys (masked), each with its audit trail",
        "consoleListKeys",
        responses={200: (KeyList, "Every key")},
        errors=(401,),
    ),
    control_operation(
        "GET",
        "/_sandbox/console/requests/{request_id}",
        get_request,
        "One entry of the request journal",
        "consoleGetRequest",
        responses={200: (JournalEntryOut, "The entry")},
    ),
)

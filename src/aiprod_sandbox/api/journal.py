"""The request journal over HTTP: `GET /_sandbox/requests` (filtered, with its evidence) and
`GET /_sandbox/har` (the journal and the delivery attempts as a HAR 1.2 file, which opens in a
browser's network panel). Keys and `whsec_` secrets are masked in both (`core/masking.py`).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response

from .._version import __version__
from ..core.accounts import Account
from ..core.clock import IsoTime, iso_ms
from ..core.deliveries import Attempt, Delivery
from ..core.journal import Headers, JournalEntry, header_pairs, shown
from ..core.masking import mask_text, masked_headers
from ..core.matching import RequestMatcher, request_misses
from ..errors import ValidationFailed
from .operation import Call, control_operation
from .responses import json_response

GLOB = frozenset("*?[")


class HeaderOut(BaseModel):
    name: str
    value: str


class ExchangeOut(BaseModel):
    headers: list[HeaderOut]
    body: str | None = Field(description="As text, keys masked; cut with a marker past the bound")
    body_size: int = Field(description="The whole body's size in bytes")
    truncated: bool


class ResponseOut(ExchangeOut):
    status: int = Field(description="0: no answer (the client left, or the connection dropped)")


class JournalEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read from a core JournalEntry

    request_id: str
    timestamp: str
    method: str
    path: str
    query: str
    status: int
    duration_ms: float
    key: str = Field(description="The key, masked")
    scenarios: list[str] = Field(description="Scenarios active for the account then")
    rules: list[str] = Field(description="Scenario rules that fired on it")
    user_agent: str | None
    conditional: bool = Field(description="Sent with If-None-Match")
    body_sha: str | None = Field(description="Short hash of the body (same body, same hash)")
    retry_after: int | None = Field(description="Retry-After of the answer, if any")
    job_ids: list[str] = Field(description="Jobs it named or created")
    delivery_ids: list[str] = Field(description="Deliveries its jobs' events began during it")
    fault: str | None = Field(
        description="A fault after the handler: what the handler did, and what the client got"
    )
    request: ExchangeOut
    response: ResponseOut


class JournalBound(BaseModel):
    entries: int = Field(description="Entries kept at most")
    bytes: int = Field(description="Bytes of headers and bodies kept at most")
    body_bytes: int = Field(description="Bytes of each body kept")


class JournalOut(BaseModel):
    items: list[JournalEntryOut]
    kept: int = Field(description="Entries the journal holds now")
    evicted: int = Field(description="Older entries let go to stay within the bound")
    bound: JournalBound


class JournalQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    method: str | None = Field(default=None, description="Only this method")
    path: str | None = Field(
        default=None, description="A glob (/jobs/*), or a path: that path and paths under it"
    )
    status: int | None = Field(default=None, ge=0, le=599, description="Only this status")
    job_id: str | None = Field(default=None, description="Only requests naming or making it")
    since: IsoTime | None = Field(default=None, description="At or after (account's clock)")
    until: IsoTime | None = Field(default=None, description="Before (account's clock)")
    header: list[Annotated[str, StringConstraints(pattern=r"^\s*[^:\s][^:]*:")]] = Field(
        default=[], description="`Name: value` the request carried (repeatable)"
    )
    body: list[Annotated[str, StringConstraints(pattern=r"^\s*[^=\s][^=]*=")]] = Field(
        default=[],
        description="`dotted.path=value` in the JSON body; the value read as JSON if it is",
    )
    limit: int = Field(default=100, ge=1, le=1000, description="Newest first, at most this many")


def _exchange(headers: Headers, body: bytes, size: int) -> dict[str, Any]:
    return {
        "headers": [HeaderOut(name=n, value=v) for n, v in masked_headers(headers)],
        "body": mask_text(shown(body, size)) if size else None,
        "body_size": size,
        "truncated": size > len(body),
    }


def entry_out(entry: JournalEntry) -> JournalEntryOut:
    out = JournalEntryOut.model_validate(
        {
            **entry._asdict(),
            "timestamp": entry.timestamp,
            "request": ExchangeOut(
                **_exchange(entry.request_headers, entry.request_body, entry.request_size)
            ),
            "response": ResponseOut(
                status=entry.status,
                **_exchange(entry.response_headers, entry.response_body, entry.response_size),
            ),
        }
    )
    return out


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _nested(dotted: str, value: Any) -> dict[str, Any]:
    parts = dotted.split(".")
    nested: Any = value
    for part in reversed(parts):
        nested = {part: nested}
    result: dict[str, Any] = nested
    return result


def _merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def matcher_of(query: JournalQuery) -> RequestMatcher:
    """The query's filters as a request matcher (the path filter is `_on_path`'s)."""
    headers: dict[str, str] = {}
    for item in query.header:
        name, colon, value = item.partition(":")
        if not colon or not name.strip():
            raise ValidationFailed(details={"header": f"expected 'Name: value', got {item!r}"})
        headers[name.strip()] = value.strip()
    body: dict[str, Any] = {}
    for item in query.body:
        dotted, equals, value = item.partition("=")
        if not equals or not dotted.strip():
            raise ValidationFailed(details={"body": f"expected 'path=value', got {item!r}"})
        _merge(body, _nested(dotted.strip(), _value(value)))
    return RequestMatcher(
        method=[query.method] if query.method else None,
        status=[query.status] if query.status is not None else None,
        job_id=query.job_id,
        since=query.since,
        until=query.until,
        headers=headers or None,
        body=body or None,
    )


def _on_path(path: str | None, entry: JournalEntry) -> bool:
    if path is None:
        return True
    if GLOB & set(path):
        return not request_misses(RequestMatcher(path=path), entry)
    return entry.path == path or entry.path.startswith(path.rstrip("/") + "/")


def bound_of(account: Account) -> JournalBound:
    journal = account.journal
    return JournalBound(entries=journal.limit, bytes=journal.budget, body_bytes=journal.body_bytes)


async def requests(call: Call) -> Response:
    query = call.query(JournalQuery)
    matcher = matcher_of(query)
    journal = call.account.journal
    items = []
    for entry in reversed(journal):
        if _on_path(query.path, entry) and not request_misses(matcher, entry):
            items.append(entry_out(entry))
            if len(items) >= query.limit:
                break
    return json_response(
        JournalOut(
            items=items, kept=len(journal), evicted=journal.evicted, bound=bound_of(call.account)
        )
    )


# ---- HAR ----------------------------------------------------------------------------------
def _har_headers(headers: Headers) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in masked_headers(headers)]


def _mime(headers: Headers) -> str:
    for name, value in header_pairs(headers):
        if name == b"content-type":
            return value.decode("latin-1")
    return ""


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _har_request_entry(entry: JournalEntry, base_url: str) -> dict[str, Any]:
    url = base_url + entry.path + (f"?{entry.query}" if entry.query else "")
    request: dict[str, Any] = {
        "method": entry.method,
        "url": url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": _har_headers(entry.request_headers),
        "queryString": [
            {"name": n, "value": v} for n, v in parse_qsl(entry.query, keep_blank_values=True)
        ],
        "headersSize": -1,
        "bodySize": entry.request_size,
    }
    if entry.request_size:
        request["postData"] = {
            "mimeType": _mime(entry.request_headers),
            "text": mask_text(shown(entry.request_body, entry.request_size)),
        }
    return {
        "startedDateTime": iso_ms(entry.at),
        "time": entry.duration_ms,
        "request": request,
        "response": {
            "status": entry.status,
            "statusText": _reason(entry.status),
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _har_headers(entry.response_headers),
            "content": {
                "size": entry.response_size,
                "mimeType": _mime(entry.response_headers),
                "text": mask_text(shown(entry.response_body, entry.response_size)),
            },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": entry.response_size,
        },
        "cache": {},
        "timings": {"send": 0, "wait": entry.duration_ms, "receive": 0},
        "_kind": "request",
        "_requestId": entry.request_id,
        "_jobIds": list(entry.job_ids),
        "_deliveryIds": list(entry.delivery_ids),
        "_rules": list(entry.rules),
        "_fault": entry.fault,
    }


def _har_attempt_entry(delivery: Delivery, attempt: Attempt) -> dict[str, Any]:
    at = attempt.sent_at if attempt.sent_at is not None else attempt.scheduled_at
    duration = attempt.duration_ms or 0.0
    headers = [{"name": n, "value": mask_text(v)} for n, v in attempt.request_headers.items()]
    mime = attempt.request_headers.get("Content-Type", "application/json")
    sent = delivery.body if attempt.request_body is None else attempt.request_body
    return {
        "startedDateTime": iso_ms(at),
        "time": duration,
        "request": {
            "method": "POST",
            "url": delivery.url,
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": headers,
            "queryString": [],
            "postData": {
                "mimeType": mime,
                "text": mask_text(sent.decode("utf-8", errors="replace")),
            },
            "headersSize": -1,
            "bodySize": len(sent),
        },
        "response": {
            "status": attempt.response_status,
            "statusText": _reason(attempt.response_status),
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [],
            "content": {
                "size": len(attempt.response_excerpt.encode()),
                "mimeType": "",
                "text": mask_text(attempt.response_excerpt),
            },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": {"send": 0, "wait": duration, "receive": 0},
        "_kind": "delivery",
        "_deliveryId": delivery.delivery_id,
        "_event": delivery.event,
        "_jobId": delivery.job_id,
        "_attempt": attempt.attempt,
        "_trigger": attempt.trigger,
        "_error": attempt.error,
        "_deliberate": attempt.deliberate,
    }


def har(account: Account, base_url: str) -> dict[str, Any]:
    """The account's journal and delivery attempts as one HAR 1.2 log, in time order (the
    account's clock)."""
    entries = [_har_request_entry(entry, base_url) for entry in account.journal]
    for delivery in account.deliveries.all():
        entries += [_har_attempt_entry(delivery, attempt) for attempt in delivery.attempts]
    entries.sort(key=lambda entry: entry["startedDateTime"])
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "AIPROD Sandbox", "version": __version__},
            "comment": f"Account {account.account_id}; times on the account's clock; "
            f"{account.journal.evicted} older requests let go by the journal's bound",
            "entries": entries,
        }
    }


async def har_export(call: Call) -> Response:
    body = json.dumps(har(call.account, call.base_url), ensure_ascii=False).encode()
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{call.account.account_id}.har"'},
    )


OPERATIONS = (
    control_operation(
        "GET",
        "/_sandbox/requests",
        requests,
        "This account's recent API requests, with their evidence",
        "listRequests",
        query_model=JournalQuery,
        responses={200: (JournalOut, "Newest first")},
    ),
    control_operation(
        "GET",
        "/_sandbox/har",
        har_export,
        "This account's requests and webhook attempts as a HAR 1.2 file",
        "exportHar",
        responses={200: (None, "A HAR 1.2 document (keys and secrets masked)")},
    ),
)

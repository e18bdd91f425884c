"""One mapping of each stored thing to plain JSON values and back: a job with its timeline, a
delivery with its attempts, a journal entry, a key event, the usage counters and a scenario's
rule counts.

The state document (`GET`/`PUT /_sandbox/state`) and the data directory's rows
(`store/sqlite.py`) are both made of these entries, so what a restart brings back is exactly
what an export shows. Times are ISO 8601 with milliseconds on the account's clock; bytes are
text when they are UTF-8 and `base64:` text when they are not. Reading an entry trusts it:
documents are checked by their models (`document.py`) before they get here.
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic_core import from_json, to_json

from ..clock import iso_ms, parse_iso
from ..deliveries import Attempt, Delivery
from ..journal import JournalEntry, header_pairs, pack_headers
from ..usage import AuditRecord, Usage

Entry = dict[str, Any]
BASE64 = "base64:"


def dumps(entry: Entry) -> str:
    """An entry as compact JSON text, UTF-8 kept (how exports and the data directory write
    them): pydantic's serializer, three times the speed of `json.dumps` on these entries."""
    return to_json(entry).decode("utf-8")


def loads(text: str | bytes) -> Entry:
    """`dumps` read back: pydantic's parser, twice the speed of `json.loads` (start-up reads
    an entry per stored job)."""
    entry: Entry = from_json(text)
    return entry


def time_out(at: float | None) -> str | None:
    return None if at is None else iso_ms(at)


def time_in(text: str | None) -> float | None:
    return None if text is None else parse_iso(text)


def bytes_out(data: bytes | None) -> str | None:
    """Bytes as text: themselves when they are UTF-8 (and do not look like base64 text)."""
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return BASE64 + base64.b64encode(data).decode("ascii")
    return BASE64 + base64.b64encode(data).decode("ascii") if text.startswith(BASE64) else text


def bytes_in(text: str | None) -> bytes | None:
    if text is None:
        return None
    if text.startswith(BASE64):
        return base64.b64decode(text[len(BASE64) :])
    return text.encode("utf-8")


def headers_out(packed: bytes) -> list[list[str]]:
    return [
        [name.decode("latin-1"), value.decode("latin-1")] for name, value in header_pairs(packed)
    ]


def headers_in(pairs: list[list[str]]) -> bytes:
    return pack_headers((name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs)


# ---- deliveries ----------------------------------------------------------------------------
def attempt_entry(attempt: Attempt) -> Entry:
    return {
        "attempt": attempt.attempt,
        "trigger": attempt.trigger,
        "scheduled_at": time_out(attempt.scheduled_at),
        "sent_at": time_out(attempt.sent_at),
        "duration_ms": attempt.duration_ms,
        "request_headers": dict(attempt.request_headers),
        "request_body": bytes_out(attempt.request_body),
        "response_status": attempt.response_status,
        "response_excerpt": attempt.response_excerpt,
        "error": attempt.error,
        "deliberate": attempt.deliberate,
    }


def attempt_from(entry: Entry) -> Attempt:
    return Attempt(
        attempt=entry["attempt"],
        trigger=entry["trigger"],
        scheduled_at=parse_iso(entry["scheduled_at"]),
        sent_at=time_in(entry.get("sent_at")),
        duration_ms=entry.get("duration_ms"),
        request_headers=dict(entry.get("request_headers") or {}),
        request_body=bytes_in(entry.get("request_body")),
        response_status=entry.get("response_status", 0),
        response_excerpt=entry.get("response_excerpt", ""),
        error=entry.get("error"),
        deliberate=entry.get("deliberate"),
    )


def delivery_entry(delivery: Delivery) -> Entry:
    return {
        "delivery_id": delivery.delivery_id,
        "webhook_id": delivery.webhook_id,
        "url": delivery.url,
        "event": delivery.event,
        "job_id": delivery.job_id,
        "body": bytes_out(delivery.body),
        "created_at": time_out(delivery.created_at),
        "test": delivery.test,
        "status": delivery.status,
        "next_attempt_at": time_out(delivery.next_attempt_at),
        "note": delivery.note,
        "held": delivery.held,
        "attempts": [attempt_entry(attempt) for attempt in delivery.attempts],
    }


def delivery_from(entry: Entry) -> Delivery:
    return Delivery(
        delivery_id=entry["delivery_id"],
        webhook_id=entry.get("webhook_id"),
        url=entry["url"],
        event=entry["event"],
        job_id=entry.get("job_id"),
        body=bytes_in(entry["body"]) or b"",
        created_at=parse_iso(entry["created_at"]),
        test=entry.get("test", False),
        status=entry.get("status", "pending"),
        next_attempt_at=time_in(entry.get("next_attempt_at")),
        attempts=[attempt_from(attempt) for attempt in entry.get("attempts", [])],
        note=entry.get("note"),
        held=entry.get("held"),
    )


# ---- the journal ---------------------------------------------------------------------------
def journal_entry(entry: JournalEntry) -> Entry:
    return {
        "request_id": entry.request_id,
        "at": time_out(entry.at),
        "method": entry.method,
        "path": entry.path,
        "query": entry.query,
        "status": entry.status,
        "duration_ms": entry.duration_ms,
        "key": entry.key,
        "scenarios": list(entry.scenarios),
        "rules": list(entry.rules),
        "user_agent": entry.user_agent,
        "conditional": entry.conditional,
        "body_sha": entry.body_sha,
        "retry_after": entry.retry_after,
        "request_headers": headers_out(entry.request_headers),
        "request_body": bytes_out(entry.request_body),
        "request_size": entry.request_size,
        "response_headers": headers_out(entry.response_headers),
        "response_body": bytes_out(entry.response_body),
        "response_size": entry.response_size,
        "job_ids": list(entry.job_ids),
        "delivery_ids": list(entry.delivery_ids),
        "fault": entry.fault,
    }


def journal_from(entry: Entry) -> JournalEntry:
    return JournalEntry(
        request_id=entry["request_id"],
        at=parse_iso(entry["at"]),
        method=entry["method"],
        path=entry["path"],
        query=entry.get("query", ""),
        status=entry["status"],
        duration_ms=entry.get("duration_ms", 0.0),
        key=entry.get("key", ""),
        scenarios=tuple(entry.get("scenarios", ())),
        rules=tuple(entry.get("rules", ())),
        user_agent=entry.get("user_agent"),
        conditional=entry.get("conditional", False),
        body_sha=entry.get("body_sha"),
        retry_after=entry.get("retry_after"),
        request_headers=headers_in(entry.get("request_headers", [])),
        request_body=bytes_in(entry.get("request_body")) or b"",
        request_size=entry.get("request_size", 0),
        response_headers=headers_in(entry.get("response_headers", [])),
        response_body=bytes_in(entry.get("response_body")) or b"",
        response_size=entry.get("response_size", 0),
        job_ids=tuple(entry.get("job_ids", ())),
        delivery_ids=tuple(entry.get("delivery_ids", ())),
        fault=entry.get("fault"),
    )


# ---- keys' audit trail and usage -----------------------------------------------------------
def audit_entry(record: AuditRecord) -> Entry:
    return {
        "event_id": record.event_id,
        "event": record.event,
        "key_id": record.key_id,
        "masked_key": record.masked_key,
        "request_id": record.request_id,
        "at": time_out(record.at),
    }


def audit_from(entry: Entry) -> AuditRecord:
    return AuditRecord(
        entry["event_id"],
        entry["event"],
        entry["key_id"],
        entry["masked_key"],
        entry.get("request_id"),
        parse_iso(entry["at"]),
    )


def usage_entry(usage: Usage) -> Entry:
    return {
        "minute": usage.minute,
        "this_minute": usage.this_minute,
        "day": usage.day,
        "today": usage.today,
    }


def usage_from(entry: Entry) -> Usage:
    return Usage(entry["minute"], entry["this_minute"], entry["day"], entry["today"])

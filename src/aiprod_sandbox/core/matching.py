"""Matchers over the evidence: which journal entries and deliveries a test's description fits,
and, for those it does not fit, which parts of it failed (the near misses a failing
verification shows).

A request matcher names any of: method, path (a glob, as scenarios use them), query
parameters, headers, a JSON body subset, JSONPath expressions over the body, status, job id
and a window of the account's clock. A delivery matcher names any of: event, job id, endpoint
(a webhook id, a URL glob, or `callback`), outcome, the number of attempts, how many
attempts the receiver acknowledged, and a subset of the payload.

JSON subsets: an object matches when each of its keys is in the actual object with a matching
value (recursively); arrays match element by element, at the same length; other values
match when equal. JSONPath expressions are read by `jsonpath-ng`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import parse_qsl

from pydantic import AfterValidator, BeforeValidator, Field

from .clock import IsoTime, parse_iso
from .deliveries import Delivery
from .journal import JournalEntry, header_pairs
from .scenarios.models import REACHABLE
from .schema import FrozenModel

if TYPE_CHECKING:
    from jsonpath_ng import JSONPath

DeliveryOutcome = Literal["acknowledged", "failed", "pending"]
_MISSING: Any = object()


def _one(value: Any) -> Any:
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


TEXTS = BeforeValidator(_one, json_schema_input_type=str | list[str])  # one or a list
NUMBERS = BeforeValidator(_one, json_schema_input_type=int | list[int])


@functools.lru_cache(maxsize=256)
def _compiled(expression: str) -> JSONPath:
    from jsonpath_ng.exceptions import JSONPathError
    from jsonpath_ng.ext.parser import parse

    try:
        return parse(expression)
    except (JSONPathError, ValueError, TypeError) as exc:
        raise ValueError(f"not a JSONPath expression: {expression!r} ({exc})") from None


def _jsonpaths(value: dict[str, Any]) -> dict[str, Any]:
    for expression in value:
        _compiled(expression)  # refused now, with the expression named, not at match time
    return value


def _reachable(glob: str) -> str:
    """A glob whose first part cannot match '/' could never match a path (scenarios' rule)."""
    if not re.match(REACHABLE, glob):
        raise ValueError(f"path {glob!r} can never match: request paths start with '/'")
    return glob


class RequestMatcher(FrozenModel):
    """Which API requests of the account: every part given must hold."""

    method: Annotated[list[str], TEXTS] | None = Field(
        default=None, description="A method or a list of them", examples=["POST"]
    )
    path: Annotated[str, AfterValidator(_reachable)] | None = Field(
        default=None,
        description="A glob: /pipeline/run, /jobs/*",
        examples=["/pipeline/run"],
        json_schema_extra={"pattern": REACHABLE},
    )
    query: dict[str, str] | None = Field(
        default=None, description="Query parameters that must have these values"
    )
    headers: dict[str, str] | None = Field(
        default=None, description="Request headers that must have these values (any case)"
    )
    body: Any = Field(default=None, description="A JSON subset the request body must contain")
    jsonpath: Annotated[dict[str, Any], AfterValidator(_jsonpaths)] | None = Field(
        default=None,
        description="JSONPath expressions over the body and the value each must find",
        examples=[{"$.metadata.customer_id": "cust_123"}],
        json_schema_extra={"propertyNames": {"pattern": r"^\$"}},
    )
    status: Annotated[list[int], NUMBERS] | None = Field(
        default=None, description="The answer's status, or a list (0: no answer)"
    )
    job_id: str | None = Field(default=None, description="A job the request named or created")
    since: IsoTime | None = Field(default=None, description="At or after, on the account's clock")
    until: IsoTime | None = Field(default=None, description="Before, on the account's clock")


class DeliveryMatcher(FrozenModel):
    """Which webhook deliveries of the account: every part given must hold."""

    event: Annotated[list[str], TEXTS] | None = Field(
        default=None, description="An event or a list of them", examples=["job.completed"]
    )
    job_id: str | None = None
    endpoint: str | None = Field(
        default=None, description="A webhook id, a URL glob, or `callback` for callback_url"
    )
    outcome: DeliveryOutcome | None = Field(
        default=None, description="acknowledged (a 2xx answer), failed, or pending"
    )
    attempts: int | None = Field(default=None, ge=0, description="Attempts made, exactly")
    acknowledged: int | None = Field(
        default=None, ge=0, description="Attempts the receiver answered 2xx, exactly"
    )
    body: Any = Field(default=None, description="A JSON subset the payload must contain")


@dataclass(frozen=True)
class Miss:
    """One part of a matcher that an entry failed: where, what was wanted, what was there."""

    part: str
    expected: Any
    actual: Any


# ---- JSON ---------------------------------------------------------------------------------
def subset_misses(expected: Any, actual: Any, where: str) -> list[Miss]:
    """Where `actual` fails to contain `expected` (the rules in the module's docstring)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [Miss(where, expected, _shown(actual))]
        misses: list[Miss] = []
        for key, value in expected.items():
            if key not in actual:
                misses.append(Miss(f"{where}.{key}", value, None))
            else:
                misses += subset_misses(value, actual[key], f"{where}.{key}")
        return misses
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [Miss(where, expected, _shown(actual))]
        return [
            miss
            for index, (want, have) in enumerate(zip(expected, actual, strict=True))
            for miss in subset_misses(want, have, f"{where}[{index}]")
        ]
    if expected != actual or isinstance(expected, bool) != isinstance(actual, bool):
        return [Miss(where, expected, _shown(actual))]
    return []


def _shown(value: Any) -> Any:
    return None if value is _MISSING else value


def parsed_body(raw: bytes, size: int) -> Any:
    """A kept body as JSON, or _MISSING when it is empty, cut short or not JSON."""
    if not raw or size > len(raw):
        return _MISSING
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _MISSING


def jsonpath_misses(expressions: dict[str, Any], document: Any) -> list[Miss]:
    misses: list[Miss] = []
    for expression, expected in expressions.items():
        found = (
            [] if document is _MISSING else [m.value for m in _compiled(expression).find(document)]
        )
        if not any(not subset_misses(expected, value, "") for value in found):
            actual = found[0] if len(found) == 1 else (found or None)
            misses.append(Miss(f"jsonpath {expression}", expected, actual))
    return misses


# ---- requests -----------------------------------------------------------------------------
def _header(entry: JournalEntry, name: str) -> str | None:
    wanted = name.lower().encode("latin-1")
    for raw_name, raw_value in header_pairs(entry.request_headers):
        if raw_name == wanted:
            return raw_value.decode("latin-1")
    return None


def request_misses(matcher: RequestMatcher, entry: JournalEntry) -> list[Miss]:
    """Every part of `matcher` that `entry` fails (none: it matches)."""
    misses: list[Miss] = []
    if matcher.method is not None and entry.method not in [m.upper() for m in matcher.method]:
        misses.append(Miss("method", _single(matcher.method), entry.method))
    if matcher.path is not None and not fnmatchcase(entry.path, matcher.path):
        misses.append(Miss("path", matcher.path, entry.path))
    if matcher.status is not None and entry.status not in matcher.status:
        misses.append(Miss("status", _single(matcher.status), entry.status))
    if matcher.job_id is not None and matcher.job_id not in entry.job_ids:
        misses.append(Miss("job_id", matcher.job_id, list(entry.job_ids) or None))
    if matcher.since is not None and entry.at < parse_iso(matcher.since):
        misses.append(Miss("since", matcher.since, entry.timestamp))
    if matcher.until is not None and entry.at >= parse_iso(matcher.until):
        misses.append(Miss("until", matcher.until, entry.timestamp))
    if matcher.query:
        query = dict(parse_qsl(entry.query, keep_blank_values=True))
        for name, value in matcher.query.items():
            if query.get(name) != value:
                misses.append(Miss(f"query.{name}", value, query.get(name)))
    if matcher.headers:
        for name, value in matcher.headers.items():
            actual = _header(entry, name)
            if actual != value:
                misses.append(Miss(f"headers.{name.lower()}", value, actual))
    if matcher.body is not None or matcher.jsonpath:
        document = parsed_body(entry.request_body, entry.request_size)
        if matcher.body is not None:
            if document is _MISSING:
                misses.append(Miss("body", matcher.body, _body_text(entry)))
            else:
                misses += subset_misses(matcher.body, document, "body")
        if matcher.jsonpath:
            misses += jsonpath_misses(matcher.jsonpath, document)
    return misses


def _single(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else values


def _body_text(entry: JournalEntry) -> str | None:
    if not entry.request_size:
        return None
    if entry.request_size > len(entry.request_body):
        return f"(a body of {entry.request_size} bytes, longer than the journal keeps)"
    return "(not JSON)"


# ---- deliveries ---------------------------------------------------------------------------
OUTCOME_OF = {"delivered": "acknowledged", "failed": "failed", "pending": "pending"}


def acknowledged(delivery: Delivery) -> int:
    """How many of the delivery's attempts the receiver answered with a 2xx."""
    return sum(1 for attempt in delivery.attempts if attempt.ok)


def delivery_misses(matcher: DeliveryMatcher, delivery: Delivery) -> list[Miss]:
    misses: list[Miss] = []
    if matcher.event is not None and delivery.event not in matcher.event:
        misses.append(Miss("event", _single(matcher.event), delivery.event))
    if matcher.job_id is not None and delivery.job_id != matcher.job_id:
        misses.append(Miss("job_id", matcher.job_id, delivery.job_id))
    endpoint = matcher.endpoint
    if endpoint is not None and not (
        endpoint == delivery.webhook_id
        or (endpoint == "callback" and delivery.webhook_id is None)
        or fnmatchcase(delivery.url, endpoint)
    ):
        misses.append(Miss("endpoint", endpoint, delivery.webhook_id or delivery.url))
    outcome = OUTCOME_OF[delivery.status]
    if matcher.outcome is not None and outcome != matcher.outcome:
        misses.append(Miss("outcome", matcher.outcome, outcome))
    if matcher.attempts is not None and len(delivery.attempts) != matcher.attempts:
        misses.append(Miss("attempts", matcher.attempts, len(delivery.attempts)))
    if matcher.acknowledged is not None:
        count = acknowledged(delivery)
        if count != matcher.acknowledged:
            misses.append(Miss("acknowledged", matcher.acknowledged, count))
    if matcher.body is not None:
        document = parsed_body(delivery.body, len(delivery.body))
        if document is _MISSING:
            misses.append(Miss("body", matcher.body, "(not JSON)"))
        else:
            misses += subset_misses(matcher.body, document, "body")
    return misses


def matching_entries(
    matcher: RequestMatcher, entries: Iterable[JournalEntry]
) -> list[JournalEntry]:
    return [entry for entry in entries if not request_misses(matcher, entry)]

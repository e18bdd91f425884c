"""Response helpers and the one place an error becomes the contract's envelope."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import Response

from ..core.ratelimit import Decision
from ..errors import RateLimited, SandboxError

JSON_TYPE = "application/json"


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class ErrorBody(BaseModel):
    type: str = Field(examples=["validation_error"])
    message: str = Field(examples=["Invalid input"])
    code: str = Field(examples=["INVALID_PARAMETER"])
    # Left out of the body when empty, so the document shows them as optional, never null.
    details: dict[str, str] | SkipJsonSchema[None] = Field(
        default=None,
        description="Each offending field (dotted path) and what is wrong with it",
        examples=[{"voice_language": "Must be 2-letter code (e.g., 'en', 'fr')"}],
        json_schema_extra=_no_default,
    )
    retry_after: int | SkipJsonSchema[None] = Field(
        default=None,
        description="On 429: whole seconds until a request would pass (= Retry-After)",
        json_schema_extra=_no_default,
    )
    request_id: str = Field(examples=["req_3k9x2m4p8q7r1s5t"])


class ErrorEnvelope(BaseModel):
    """Every error answer: `{"error": {...}}`."""

    error: ErrorBody


_CONTENT_TYPE = (b"content-type", JSON_TYPE.encode("latin-1"))


class JsonBytes(Response):
    """A JSON body already made, with no headers of its own: the answer Starlette's `Response`
    gives for it (`content-length`, then `content-type`), its headers put straight in place
    instead of worked out (the hot answers: a job, an accepted job, health)."""

    media_type = JSON_TYPE

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", b"%d" % len(body)), _CONTENT_TYPE]


def json_response(
    content: BaseModel | Mapping[str, Any] | list[Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    if isinstance(content, BaseModel):
        body = content.model_dump_json().encode()
    else:
        body = json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()
    if headers is None and status >= 200 and status not in (204, 304):
        return JsonBytes(body, status)
    return Response(body, status, headers, media_type=JSON_TYPE)


def error_response(exc: SandboxError, request_id: str) -> Response:
    """Render any sandbox error as the envelope; the only place that does."""
    retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
    envelope = ErrorEnvelope(
        error=ErrorBody(
            type=exc.type,
            message=exc.message,
            code=exc.code,
            details=exc.details,
            retry_after=retry_after,
            request_id=request_id,
        )
    )
    headers = dict(exc.headers)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    body = envelope.model_dump_json(exclude_none=True).encode()
    return Response(body, exc.status, headers, media_type=JSON_TYPE)


# The guide's rate-limit headers, as it writes them, and as an answer's start message carries them.
LIMIT_NAMES = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
RAW_LIMIT_NAMES = tuple(name.lower().encode("latin-1") for name in LIMIT_NAMES)


def limit_pairs(decision: Decision) -> list[tuple[bytes, bytes]]:
    """The guide's `X-RateLimit-*` headers of a rate-limit decision, on every API answer, as
    raw pairs: made without strings to encode (every API request makes them)."""
    limit, remaining, reset = RAW_LIMIT_NAMES
    return [
        (limit, b"%d" % decision.limit),
        (remaining, b"%d" % decision.remaining),
        (reset, b"%d" % decision.reset),
    ]


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """`limit_pairs` by the guide's names, for the layers that adjust them (a scripted answer's
    figures, `faults.py`)."""
    values = [value.decode("latin-1") for _, value in limit_pairs(decision)]
    return dict(zip(LIMIT_NAMES, values, strict=True))

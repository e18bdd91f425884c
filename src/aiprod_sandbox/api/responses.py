"""Response helpers and the one place an error becomes the contract's envelope."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field
from starlette.responses import Response

from ..errors import RateLimited, SandboxError

JSON_TYPE = "application/json"


class ErrorBody(BaseModel):
    type: str = Field(examples=["validation_error"])
    message: str = Field(examples=["Invalid input"])
    code: str = Field(examples=["INVALID_PARAMETER"])
    details: dict[str, str] | None = Field(
        default=None,
        examples=[{"voice_language": "Must be 2-letter code (e.g., 'en', 'fr')"}],
        json_schema_extra={"type": "object", "additionalProperties": {"type": "string"}},
    )
    retry_after: int | None = Field(default=None, json_schema_extra={"type": "integer"})
    request_id: str = Field(examples=["req_3k9x2m4p8q7r1s5t"])


class ErrorEnvelope(BaseModel):
    """Every error answer: `{"error": {...}}`."""

    error: ErrorBody


def json_response(
    content: BaseModel | Mapping[str, Any] | list[Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    if isinstance(content, BaseModel):
        body = content.model_dump_json().encode()
    else:
        body = json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()
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

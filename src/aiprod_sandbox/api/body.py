"""Reading and validating request bodies and query strings into pydantic models.

Bodies are capped (413 before anything is parsed), must be one JSON object (duplicate keys,
NaN and Infinity included among what is refused), and are validated whole: every bad field is
reported at once, as `details` keyed by dotted path (`videos[3].video_url`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypeVar, get_origin

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from ..errors import InvalidJson, RequestTooLarge, UnknownField, ValidationFailed

MAX_DETAILS = 100  # problems an error lists at most (then one line: how many more)
MORE = "…"  # the key of that line in `details`

M = TypeVar("M", bound=BaseModel)
JSON_TYPES = ("application/json",)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _number(text: str) -> float | int:
    """JSON has one kind of number: 32.0 is the integer 32 (for integer fields)."""
    value = float(text)
    return int(value) if value.is_integer() else value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(  # built once: json.loads(**options) builds one per call
    object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_float=_number
)


def parse_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or 400 INVALID_JSON saying what is wrong."""
    if not raw.strip():
        raise InvalidJson("Request body is empty; send a JSON object")
    try:
        text = raw.decode("utf-8")
        data = _DECODER.decode(text)
    except UnicodeDecodeError as exc:
        raise InvalidJson("Request body is not valid UTF-8") from exc
    except RecursionError as exc:
        raise InvalidJson("Request body is nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, duplicate keys, NaN, oversized integers
        raise InvalidJson(f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidJson(f"Request body must be a JSON object, not {type(data).__name__}")
    if _SURROGATE_ESCAPE.search(text):
        try:  # `\ud800` alone decodes to text no one can encode again: refuse it here
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidJson("Request body has an unpaired UTF-16 surrogate escape") from exc
    return data


def field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue  # pydantic's name for one member of a union, not a field
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + part
    return path if loc else "body"


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "Unknown field"
    if kind == "missing":
        return "Field required"
    return str(error["msg"])


def _bounded(details: dict[str, str]) -> dict[str, str]:
    """At most `MAX_DETAILS` problems, and a line saying how many more: an answer stays
    small however many fields a body gets wrong."""
    if len(details) <= MAX_DETAILS:
        return details
    kept = dict(list(details.items())[:MAX_DETAILS])
    kept[MORE] = f"and {len(details) - MAX_DETAILS} more problems not listed"
    return kept


def _unknown_only(model: type[BaseModel], data: dict[str, Any], where: str) -> UnknownField:
    """A body with far more keys than the model has fields: refused by its unknown keys alone,
    before the validation would make one error of each (80,000 of them: half a second)."""
    unknown = [key for key in data if key not in model.model_fields]
    details = _bounded({key: "Unknown field" for key in unknown})
    shown = ", ".join(list(details)[:10])
    return UnknownField(
        f"Unknown field(s) in request {where}: {shown} (and {len(unknown) - 10} more)",
        details=details,
    )


def translate(exc: ValidationError, *, where: str = "body") -> ValidationFailed:
    details: dict[str, str] = {}
    for error in exc.errors():
        loc = tuple(error["loc"])
        path = field_path(loc)
        if error["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
            # the last part is the client's own key, verbatim, even one like "[" or "a[0]"
            parent = field_path(loc[:-1]) if len(loc) > 1 else ""
            path = f"{parent}.{loc[-1]}" if parent else loc[-1]
        details.setdefault(path, _message(error))
    details = _bounded(details)
    if all(error["type"] == "extra_forbidden" for error in exc.errors()):
        names = ", ".join(sorted(details))
        return UnknownField(f"Unknown field(s) in request {where}: {names}", details=details)
    return ValidationFailed(details=details)


def validate(model: type[M], data: Any, context: Mapping[str, Any] | None = None) -> M:
    if isinstance(data, dict) and len(data) > len(model.model_fields) + MAX_DETAILS:
        raise _unknown_only(model, data, "body")
    try:
        return model.model_validate(data, context=dict(context or {}))
    except ValidationError as exc:
        raise translate(exc) from exc


def validate_query(model: type[M], request: Request) -> M:
    """Query parameters (known ones only; unknown parameters are ignored) into `model`."""
    known = model.model_fields
    params = request.query_params
    data: dict[str, Any] = {}
    for name in params:
        field = known.get(name)
        if field is not None:  # a list field takes every value given (`?header=a&header=b`)
            many = get_origin(field.annotation) is list
            data[name] = params.getlist(name) if many else params[name]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise translate(exc, where="query") from exc


def declared_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in JSON_TYPES

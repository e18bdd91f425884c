"""The OpenAPI 3.1 documents, generated from the operations and the pydantic models they use.

`/openapi.json` describes the guide's API; `/_sandbox/openapi.json` the sandbox's own
extensions (tag "Sandbox"), so partner code never comes to depend on them by accident.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from .._version import __version__
from ..core.schema import CATALOG_ENUM
from ..errors import BY_STATUS
from .operation import Operation
from .responses import ErrorEnvelope

_PATH_PARAM = re.compile(r"{(\w+)}")
_ERROR_TEXT = {status: f"{cls.summary} ({cls.type})" for status, cls in BY_STATUS.items()}
_REQUEST_ID = {
    "description": "Id of this request (also in error bodies)",
    "schema": {"type": "string", "pattern": "^req_"},
}


def _models(ops: Iterable[Operation]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    seen: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {
        (ErrorEnvelope, "serialization"): None
    }
    for op in ops:
        if op.request_model is not None:
            seen[(op.request_model, "validation")] = None
        for model, _ in op.responses.values():
            if model is not None:
                seen[(model, "serialization")] = None
    return list(seen)


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(op.path)
    ]
    if op.query_model is not None:
        schema = op.query_model.model_json_schema()
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            description = prop.pop("description", None)
            prop.pop("title", None)
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": prop,
            }
            if description:
                param["description"] = description
            params.append(param)
    return params


def _catalog_enums(node: Any, enums: Mapping[str, Sequence[str]]) -> None:
    """Put the catalogue's values where a field is marked with CATALOG_ENUM."""
    if isinstance(node, dict):
        source = node.pop(CATALOG_ENUM, None)
        if source is not None and source in enums:
            target = next((b for b in node.get("anyOf", []) if b.get("type") == "string"), node)
            target["enum"] = list(enums[source])
        for value in node.values():
            _catalog_enums(value, enums)
    elif isinstance(node, list):
        for value in node:
            _catalog_enums(value, enums)


def build_document(
    ops: Iterable[Operation],
    *,
    which: Literal["api", "sandbox"],
    enums: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    chosen = [op for op in ops if op.sandbox == (which == "sandbox")]
    refs, defs = models_json_schema(_models(chosen), ref_template="#/components/schemas/{model}")
    _catalog_enums(defs, enums or {})
    error_ref = refs[(ErrorEnvelope, "serialization")]
    paths: dict[str, dict[str, Any]] = {}
    for op in chosen:
        responses: dict[str, Any] = {}
        for status, (model, text) in op.responses.items():
            entry: dict[str, Any] = {"description": text, "headers": {"X-Request-Id": _REQUEST_ID}}
            for name, about in op.response_headers.items():
                entry["headers"][name] = {"description": about, "schema": {"type": "string"}}
            if status != 304:
                if model is not None:
                    schema = refs[(model, "serialization")]
                elif op.media_type == "application/json":
                    schema = {"type": "object"}
                else:
                    schema = {"type": "string", "format": "binary"}
                entry["content"] = {op.media_type: {"schema": schema}}
            responses[str(status)] = entry
        always = {405, 500} | ({503} if op.auth and not op.sandbox else set())
        for status in sorted({*op.errors, *always}):
            responses[str(status)] = {
                "description": _ERROR_TEXT[status],
                "headers": {"X-Request-Id": _REQUEST_ID},
                "content": {"application/json": {"schema": error_ref}},
            }
        if op.auth and not op.sandbox:  # a scenario may script any status
            responses["default"] = {
                "description": "Any other status a scenario scripts, in the error envelope",
                "headers": {"X-Request-Id": _REQUEST_ID},
                "content": {"application/json": {"schema": error_ref}},
            }
        operation: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": _parameters(op),
            "responses": responses,
            "security": [{"bearerAuth": []}] if op.auth else [],
        }
        if op.description:
            operation["description"] = op.description
        if op.request_model is not None:
            operation["requestBody"] = {
                "required": op.body_required,
                "content": {"application/json": {"schema": refs[(op.request_model, "validation")]}},
            }
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    title = "AIPROD API (sandbox)" if which == "api" else "AIPROD Sandbox control API"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": __version__,
            "description": (
                "The AIPROD video-pipeline API as served by AIPROD Sandbox."
                if which == "api"
                else "The sandbox's own extensions under /_sandbox/ (not part of production)."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A test key: sk_test_...",
                },
            },
        },
        "tags": [{"name": tag} for tag in dict.fromkeys(op.tag for op in chosen)],
    }

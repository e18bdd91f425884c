"""Checks a response against the served OpenAPI document: status documented, body conforms.

Used as an httpx response hook by the `client` fixture, so every response any API test
receives is checked against the document the sandbox itself serves.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from jsonschema import Draft202012Validator


class OpenApiChecker:
    def __init__(self, *documents: dict[str, Any]) -> None:
        self._routes: list[tuple[str, re.Pattern[str], dict[str, Any], dict[str, Any]]] = []
        for document in documents:
            for template, methods in document["paths"].items():
                pattern = re.compile("^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template)) + "$")
                for method, operation in methods.items():
                    self._routes.append((method.upper(), pattern, operation, document))
        self.checked = 0

    def operation(self, method: str, path: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        method = "GET" if method == "HEAD" else method
        for route_method, pattern, operation, document in self._routes:
            if route_method == method and pattern.match(path):
                return operation, document
        return None

    def check(
        self, method: str, path: str, status: int, headers: httpx.Headers, body: bytes
    ) -> None:
        assert headers.get("x-request-id", "").startswith("req_"), "X-Request-Id missing"
        found = self.operation(method, path)
        if found is None:
            # Unknown route or method: must be the error envelope.
            assert status in (404, 405), f"{method} {path} is not documented but got {status}"
            return
        operation, document = found
        responses = operation["responses"]
        documented = str(status) if str(status) in responses else "default"
        assert documented in responses, (
            f"{method} {path} answered {status}, documented: {sorted(responses)}"
        )
        spec = responses[documented]
        content = spec.get("content")
        if not content or method == "HEAD":
            return
        media_type = headers.get("content-type", "").split(";")[0]
        assert media_type in content, f"{method} {path} {status}: content-type {media_type}"
        schema = content[media_type]["schema"]
        if media_type != "application/json":
            return
        import json

        data = json.loads(body)
        wrapper = {**schema, "components": document["components"]}
        errors = sorted(Draft202012Validator(wrapper).iter_errors(data), key=str)
        assert not errors, f"{method} {path} {status} does not match its schema: {errors[0]}"
        self.checked += 1

    def hook(self, response: httpx.Response) -> None:
        response.read()
        self.check(
            response.request.method,
            response.request.url.path,
            response.status_code,
            response.headers,
            response.content,
        )

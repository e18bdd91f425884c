"""The direct route: the endpoints a partner's client calls most, found without Starlette's router.

Starlette's router tries each route's pattern in turn, then wraps the endpoint in its layers
(the route, `request_response`, the exception handlers); on a request that takes tens of
microseconds in all, that is a good part of it (`docs/benchmarks.md`, issue 20). Here the
hot paths are found with one dict lookup, and the middleware calls their endpoint itself.

It answers only where Starlette would pick the same endpoint: a literal path with a method it
serves, or a one-segment parameter (`/pipeline/{job_id}`) whose value is not a literal path
of its own (`GET /pipeline/run` is Starlette's to answer, as before). Everything else — other
paths, 405s, a `root_path` — goes through the router unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

Endpoint = Callable[[Request], Awaitable[Response]]

HOT_PATHS = (
    "/health",
    "/pipeline/run",
    "/pipeline/batch",
    "/pipeline/{job_id}",
    "/jobs",
    "/jobs/{job_id}",
)


class DirectRoutes:
    """`find(scope)`: the endpoint and path parameters of a hot path, or None (the router's)."""

    __slots__ = ("_literal", "_literal_paths", "_prefixed")

    def __init__(self, handlers: Mapping[str, Mapping[str, Endpoint]]) -> None:
        """`handlers`: every route's endpoints by path, then method (HEAD included)."""
        self._literal: dict[tuple[str, str], Endpoint] = {}
        self._literal_paths = frozenset(path for path in handlers if "{" not in path)
        # prefix ("/pipeline/") -> (parameter name, endpoints by method)
        self._prefixed: dict[str, tuple[str, Mapping[str, Endpoint]]] = {}
        for path in HOT_PATHS:
            methods = handlers.get(path)
            if methods is None:
                continue
            if "{" not in path:
                for method, endpoint in methods.items():
                    self._literal[(method, path)] = endpoint
                continue
            prefix, _, rest = path.partition("{")
            name = rest.removesuffix("}")
            assert prefix.endswith("/") and "/" not in rest, f"one trailing parameter: {path}"
            self._prefixed[prefix] = (name, methods)

    def find(self, scope: Scope) -> tuple[Endpoint, dict[str, str]] | None:
        if scope.get("root_path"):
            return None  # mounted below a prefix: the router strips it
        path: str = scope["path"]
        method: str = scope["method"]
        endpoint = self._literal.get((method, path))
        if endpoint is not None:
            return endpoint, {}
        if path in self._literal_paths:
            return None  # another method on a literal path: the router's 405 (or a match)
        cut = path.rfind("/") + 1
        if cut <= 1 or cut == len(path):
            return None
        found = self._prefixed.get(path[:cut])
        if found is None:
            return None
        name, methods = found
        endpoint = methods.get(method)
        if endpoint is None:
            return None  # the router answers 405 with the allowed methods
        return endpoint, {name: path[cut:]}

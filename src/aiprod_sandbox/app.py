"""`create_app`: the Starlette application, assembled from the resource modules' operations.

No module-level app or state: every call builds a fresh `Sandbox` (or uses the one given),
so two apps in one process share nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Literal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from .api import (
    accounts,
    advice,
    batch,
    console,
    control,
    deliveries,
    files,
    health,
    jobs,
    journal,
    keys,
    presets,
    scenarios,
    state,
    usage,
    verify,
    webhooks,
)
from .api.context import context_of
from .api.direct import HOT_PATHS, DirectRoutes, Endpoint
from .api.middleware import RequestContextMiddleware
from .api.openapi import build_document
from .api.operation import Call, Handler, Operation, endpoint
from .api.responses import JSON_TYPE, error_response
from .core.clock import WallTime, run_every, system_time
from .core.sandbox import Sandbox
from .core.store import MemoryStore, Store
from .errors import MethodNotAllowed, NotFound, SandboxError
from .settings import Settings
from .webhook_http.addresses import Resolver
from .webhook_http.sender import Dispatcher
from .webhook_http.transmit import WireOptions

RESOURCE_OPERATIONS: tuple[Operation, ...] = (
    *jobs.OPERATIONS,
    *batch.OPERATIONS,
    *presets.OPERATIONS,
    *health.OPERATIONS,
    *files.OPERATIONS,
    *webhooks.OPERATIONS,
    *keys.OPERATIONS,
    *usage.OPERATIONS,
    *control.OPERATIONS,
    *journal.OPERATIONS,
    *verify.OPERATIONS,
    *accounts.OPERATIONS,
    *state.OPERATIONS,
    *deliveries.OPERATIONS,
    *scenarios.OPERATIONS,
    *advice.OPERATIONS,
    *console.OPERATIONS,
)
TICK_SECONDS = 0.05


def _enums(sandbox: Sandbox) -> dict[str, list[str]]:
    """The catalogue's values, for the document's enums (the catalogue is data)."""
    catalog = sandbox.catalog
    return {
        "languages": sorted(catalog.languages),
        "music_styles": [style.id for style in catalog.music_styles],
        "presets": [preset.id for preset in catalog.presets],
        "scenarios": sorted(sandbox.scenario_library),
    }


def _document_operations() -> tuple[Operation, ...]:
    """`/openapi.json` and `/_sandbox/openapi.json`, built on first request from every operation."""
    cache: dict[str, bytes] = {}

    def serve(which: Literal["api", "sandbox"]) -> Handler:
        async def handler(call: Call) -> Response:
            if which not in cache:
                document = build_document(
                    call.request.app.state.operations, which=which, enums=_enums(call.sandbox)
                )
                cache[which] = json.dumps(document, ensure_ascii=False).encode()
            return Response(cache[which], media_type=JSON_TYPE)

        return handler

    return (
        Operation(
            "GET",
            "/openapi.json",
            serve("api"),
            "This OpenAPI document",
            "Health",
            "openapi",
            auth=False,
            responses={200: (None, "OpenAPI 3.1 document")},
        ),
        Operation(
            "GET",
            "/_sandbox/openapi.json",
            serve("sandbox"),
            "OpenAPI document of the /_sandbox control API",
            "Sandbox",
            "sandboxOpenapi",
            auth=False,
            sandbox=True,
            responses={200: (None, "OpenAPI 3.1 document")},
        ),
    )


async def _sandbox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SandboxError)
    return error_response(exc, context_of(request.scope).ensure_request_id())


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    ctx = context_of(request.scope)
    error: SandboxError
    if exc.status_code == 405:
        error = MethodNotAllowed(
            f"Method {request.method} is not allowed on {request.url.path}",
            headers=exc.headers,
        )
    elif exc.status_code == 404:
        error = NotFound(
            f"No route {request.method} {request.url.path}; see /openapi.json",
            code="ROUTE_NOT_FOUND",
        )
    else:
        error = SandboxError(exc.detail)
        error.status = exc.status_code
    return error_response(error, ctx.ensure_request_id())


def _endpoints(operations: Sequence[Operation]) -> dict[str, dict[str, Endpoint]]:
    """Every operation's endpoint by path, then method (HEAD answered as GET)."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for op in operations:
        by_path.setdefault(op.path, {})[op.method] = endpoint(op)
    for handlers in by_path.values():
        if "GET" in handlers:
            handlers["HEAD"] = handlers["GET"]
    return by_path


def _routes(by_path: dict[str, dict[str, Endpoint]]) -> list[Route]:
    """One route per path, dispatching on the method, so a 405 lists every allowed method."""
    routes = []
    # Literal paths first: `/pipeline/batch` must win over `/pipeline/{job_id}`, for its 405s too.
    hot = HOT_PATHS
    for path, handlers in sorted(
        by_path.items(),
        key=lambda item: (
            item[0] not in hot,
            hot.index(item[0]) if item[0] in hot else 0,
            "{" in item[0],
        ),
    ):

        async def dispatch(
            request: Request,
            handlers: dict[str, Endpoint] = handlers,
        ) -> Response:
            return await handlers[request.method](request)

        routes.append(Route(path, dispatch, methods=list(handlers)))
    return routes


class SandboxApp(Starlette):
    """Starlette, with `RequestContextMiddleware` outermost: it already turns any exception
    into a logged 500 envelope, so Starlette's own last-resort layer (which would only
    re-raise it) is left out of every request's path."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if isinstance(stack, ServerErrorMiddleware) and isinstance(
            stack.app, RequestContextMiddleware
        ):
            return stack.app
        return stack


def open_store(settings: Settings) -> Store:
    """Where accounts are kept: memory, or `--data-dir`'s SQLite database."""
    if settings.data_dir is None:
        return MemoryStore()
    from .store.sqlite import SqliteStore  # only servers with a data directory load it

    return SqliteStore(settings.data_dir)


def build_sandbox(settings: Settings, wall: WallTime = system_time) -> Sandbox:
    """The domain the settings describe, on the store they name (`open_store`)."""
    store = open_store(settings)
    try:
        return Sandbox(settings.core(), wall=wall, store=store)
    except BaseException:
        store.close(write=False)  # let go of the data directory: the server never started
        raise


def create_app(
    settings: Settings | None = None,
    *,
    sandbox: Sandbox | None = None,
    wall: WallTime = system_time,
    webhook_wire: WireOptions | None = None,
    webhook_resolver: Resolver | None = None,
) -> Starlette:
    """Build the sandbox's ASGI app. Pass `sandbox` to share a domain you already hold,
    `webhook_wire` to choose how webhooks reach the network (trust roots, sockets), and
    `webhook_resolver` to look webhook hosts up with a resolver of your own (tests)."""
    settings = settings or Settings()
    sandbox = sandbox or build_sandbox(settings, wall)
    dispatcher = Dispatcher(sandbox, settings, wire=webhook_wire, resolver=webhook_resolver)
    sandbox.accounts.runner.connect_sender(dispatcher.start)  # due attempts go out through it
    operations = RESOURCE_OPERATIONS + _document_operations()
    by_path = _endpoints(operations)
    routes = _routes(by_path)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ticker = asyncio.create_task(run_every(TICK_SECONDS, sandbox.run_all_due))
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await dispatcher.aclose()
            sandbox.store.close()

    app = SandboxApp(
        lifespan=lifespan,
        routes=routes,
        middleware=[
            Middleware(
                RequestContextMiddleware,
                sandbox=sandbox,
                settings=settings,
                direct=DirectRoutes(by_path),
            )
        ],
        exception_handlers={SandboxError: _sandbox_error, HTTPException: _http_error},
    )
    app.router.redirect_slashes = False  # `/jobs/` is not a route: 404, not a 307 to `/jobs`
    app.state.sandbox = sandbox
    app.state.dispatcher = dispatcher
    app.state.operations = operations
    return app

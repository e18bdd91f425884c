"""The request-context middleware (pure ASGI): request id, extra headers, journal, last resort.

It gives every request a `RequestContext`, puts `X-Request-Id`, `X-Content-Type-Options:
nosniff` (and any headers the checks collected, like rate-limit headers) on every response,
commits the account's changes to the store before the answer leaves (`core/store.py`),
records the request in its account's journal, and turns an unexpected exception into a
logged 500 envelope, so one bad request never stops the server serving others.
"""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.accounts import Account
from ..core.clock import monotonic
from ..core.journal import Exchange, pack_headers
from ..core.sandbox import Sandbox
from ..errors import DropConnection, SandboxError
from ..settings import Settings
from .context import SCOPE_KEY, AppCaches, RequestContext
from .direct import DirectRoutes, Endpoint
from .responses import RAW_LIMIT_NAMES, error_response, limit_pairs

log = logging.getLogger("aiprod_sandbox")
# A browser must take each answer as the type it says (JSON never as HTML).
NOSNIFF = (b"x-content-type-options", b"nosniff")
# The names of the headers the middleware sets, which replace any of the same name the answer
# had: without and with the rate limit's.
OURS = frozenset((b"x-request-id", NOSNIFF[0]))
OURS_LIMITED = OURS.union(RAW_LIMIT_NAMES)


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        sandbox: Sandbox,
        settings: Settings,
        direct: DirectRoutes | None = None,
    ) -> None:
        self.app = app
        self.sandbox = sandbox
        self.settings = settings
        self.caches = AppCaches()
        self.direct = direct  # the hot endpoints, run without the router (`direct.py`)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx = RequestContext(self.sandbox, self.settings, monotonic(), caches=self.caches)
        store = self.sandbox.store
        settle = store.durable  # wait for the store before answering (not once it failed)
        scope[SCOPE_KEY] = ctx
        status = 0
        kept = self.settings.journal_body_bytes
        seen = _Seen()  # what the journal keeps of the exchange: bodies up to `kept` bytes

        async def receive_seen() -> Message:
            message = await receive()
            if message["type"] == "http.request" and (chunk := message.get("body", b"")):
                seen.request = _kept(seen.request, chunk, kept)
                seen.request_size += len(chunk)
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal status, settle
            if message["type"] == "http.response.start":
                if ctx.account is not None and settle:
                    settle = False  # a failed write is answered with a 500, without waiting
                    await store.settle(ctx.account)  # durable before the client hears of it
                status = message["status"]
                # Appended as raw pairs: MutableHeaders.__setitem__ rescans the list per header.
                extra = [(b"x-request-id", ctx.ensure_request_id().encode("latin-1")), NOSNIFF]
                names = OURS
                if ctx.limit is not None:
                    extra += limit_pairs(ctx.limit)
                    names = OURS_LIMITED
                if ctx.headers:  # set by the layers (a scenario's own figures too): they win
                    noted = [
                        (k.lower().encode("latin-1"), v.encode("latin-1"))
                        for k, v in ctx.headers.items()
                    ]
                    named = {name for name, _ in noted}
                    extra = [pair for pair in extra if pair[0] not in named] + noted
                    names = frozenset(name for name, _ in extra)
                headers = [pair for pair in message.get("headers", ()) if pair[0] not in names]
                headers += extra
                message["headers"] = seen.response_headers = headers
            elif message["type"] == "http.response.body" and (chunk := message.get("body", b"")):
                seen.response = _kept(seen.response, chunk, kept)
                seen.response_size += len(chunk)
            await send(message)

        try:
            found = self.direct.find(scope) if self.direct is not None else None
            if found is None:
                await self.app(scope, receive_seen, send_with_headers)
            else:
                await _run_direct(*found, ctx, scope, receive_seen, send_with_headers)
        except DropConnection:
            status = 0  # the journal says: no answer
            raise  # on purpose: the server cuts the connection
        except ClientDisconnect:
            status = 0  # the client left mid-request: nothing to answer, nothing broken
            log.debug("client disconnected during %s %s", scope.get("method"), scope.get("path"))
        except Exception as exc:
            log.exception(
                "Unhandled error in %s %s (request %s)",
                scope.get("method"),
                scope.get("path"),
                ctx.ensure_request_id(),
            )
            self.sandbox.record_error(exc)
            if status == 0:
                response = error_response(SandboxError(), ctx.ensure_request_id())
                await response(scope, receive, send_with_headers)
        finally:
            self._journal(scope, ctx, status, seen)

    def _journal(self, scope: Scope, ctx: RequestContext, status: int, seen: _Seen) -> None:
        account = ctx.account
        path = scope.get("path", "")
        if account is None or ctx.key is None or path.startswith("/_sandbox/"):
            return  # the journal is of the partner's API traffic, not of control calls
        notes = ctx.notes
        job_ids, delivery_ids = _caused(account, scope, ctx)
        request_headers = pack_headers(scope["headers"])
        response_headers = pack_headers(seen.response_headers)
        request, response = seen.request, seen.response
        exchange = tuple.__new__(  # Exchange(...) without its __new__ in Python: one per request
            Exchange,
            (
                ctx.ensure_request_id(),
                account.now(),
                scope.get("method", ""),
                path,
                scope.get("query_string", b""),
                status,
                monotonic() - ctx.started,
                ctx.key.masked,
                tuple(account.scenarios.names()) if account.scenarios.any else (),
                notes.rules,
                notes.body_sha,
                notes.fault,
                job_ids,
                delivery_ids,
                request_headers,
                request,
                seen.request_size,
                response_headers,
                response,
                seen.response_size,
            ),
        )
        evidence = len(request) + len(response) + len(request_headers) + len(response_headers)
        account.journal.append(exchange, evidence)  # an entry when the journal is read
        account.changes.touch()  # written with the account's next commit (the next tick)


async def _run_direct(
    endpoint: Endpoint,
    params: dict[str, str],
    ctx: RequestContext,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """A hot endpoint, as the router would run it: its sandbox errors answered in the
    envelope (as the app's exception handler does), anything else left to `__call__`."""
    scope["path_params"] = params
    try:
        response = await endpoint(Request(scope, receive, send))
    except SandboxError as exc:
        response = error_response(exc, ctx.ensure_request_id())
    await response(scope, receive, send)


def _kept(kept: bytes, chunk: bytes, limit: int) -> bytes:
    """`kept` with what fits of `chunk` after it (at most `limit` bytes in all). A first chunk
    that fits is kept as it is, not copied: most bodies come in one (a cached job view's is
    then shared with the cache)."""
    if not kept:
        return bytes(chunk[:limit]) if len(chunk) > limit or type(chunk) is not bytes else chunk
    if len(kept) < limit:
        return kept + bytes(chunk[: limit - len(kept)])
    return kept


class _Seen:
    """The bodies and answer headers of one exchange, as far as the journal keeps them."""

    __slots__ = ("request", "request_size", "response", "response_size", "response_headers")

    def __init__(self) -> None:
        self.request = b""
        self.request_size = 0
        self.response = b""
        self.response_size = 0
        self.response_headers: list[tuple[bytes, bytes]] = []


def _caused(
    account: Account, scope: Scope, ctx: RequestContext
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The jobs a request named or created, and the deliveries those jobs' events began
    while it ran (from where the book and the log stood when auth found the account)."""
    notes = ctx.notes
    named = scope.get("path_params", {}).get("job_id")
    if account.jobs.seq == notes.jobs_mark and account.deliveries.added == notes.deliveries_mark:
        return ((named,) if isinstance(named, str) else ()), ()  # it made nothing (most reads)
    job_ids = [named] if isinstance(named, str) else []
    if 0 <= notes.jobs_mark < account.jobs.seq:  # the book numbers every job it takes
        job_ids += account.jobs.created_since(notes.jobs_mark)
    if not job_ids:
        return (), ()
    added = account.deliveries.added - notes.deliveries_mark
    if added <= 0:
        return tuple(job_ids), ()
    mine = set(job_ids)
    delivery_ids = tuple(
        d.delivery_id for d in account.deliveries.newest(added) if d.job_id in mine
    )
    return tuple(job_ids), delivery_ids

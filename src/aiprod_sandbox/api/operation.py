"""An `Operation` is one endpoint: its route, the checks before its handler, and its docs.

Resource modules declare their operations; `app.py` turns them into routes and `openapi.py`
into the documents. Checks run in the contract's order: route and method (the router), then
auth, rate limit, scope, and the handler's own tier, validation, existence and state checks.
Due work of the account runs before the handler (so reads see the present) and after it (so
an instant job has finished, and sent its events, before the next request).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from ..core.accounts import Account
from ..core.keys import SANDBOX_SCOPE, ApiKey
from ..core.sandbox import Sandbox
from ..errors import (
    AuthError,
    InsufficientScope,
    KeyRevoked,
    LiveKeyInSandbox,
    NotFound,
    RateLimited,
    SandboxError,
    ValidationFailed,
)
from . import faults
from .auth import bearer_token
from .body import declared_json, parse_object, read_body, validate, validate_query
from .context import RequestContext, context_of
from .responses import error_response

M = TypeVar("M", bound=BaseModel)


class Call:
    """What a handler gets: the request, its context, and the authenticated account."""

    __slots__ = ("request", "ctx")

    def __init__(self, request: Request, ctx: RequestContext) -> None:
        self.request = request
        self.ctx = ctx

    @property
    def sandbox(self) -> Sandbox:
        return self.ctx.sandbox

    @property
    def has_account(self) -> bool:
        return self.ctx.account is not None

    @property
    def account(self) -> Account:
        assert self.ctx.account is not None, "operation is not authenticated"
        return self.ctx.account

    @property
    def key(self) -> ApiKey:
        assert self.ctx.key is not None, "operation is not authenticated"
        return self.ctx.key

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    @property
    def base_url(self) -> str:
        public = self.ctx.settings.public_url
        if public:
            return public
        scope = self.request.scope
        host = None
        for name, value in scope["headers"]:  # a loop: a generator costs more than the search
            if name == b"host":
                host = value
                break
        server = scope.get("server")
        if type(server) is not tuple:
            server = tuple(server or ())
        cache_key = (scope.get("scheme"), host, scope.get("root_path", ""), server)
        cache = self.ctx.caches.base_urls  # the same host asked for again and again
        found = cache.get(cache_key)
        if found is None:
            if len(cache) > 256:
                cache.clear()
            found = cache[cache_key] = str(self.request.base_url).rstrip("/")
        return found

    async def body(
        self,
        model: type[M],
        context: Mapping[str, Any] | None = None,
        *,
        allow_empty: bool = False,
        limit: int | None = None,
        in_thread: bool = False,
    ) -> M:
        """The body as `model`; at most `limit` bytes (default: the server's body limit).
        `in_thread` parses and checks it in a worker thread: a body of megabytes (a state
        import) then never holds the event loop, and every other client is served meanwhile."""
        raw = await read_body(self.request, limit or self.ctx.settings.max_body_bytes)
        self.ctx.notes.body_sha = hashlib.sha256(raw).hexdigest()[:16]  # for the advisor
        if allow_empty and not raw.strip():
            return validate(model, {}, context)
        self.still_allowed()  # the body took time: the key may have been revoked meanwhile
        if not declared_json(self.request):
            self.ctx.headers["X-AIPROD-Warning"] = (
                "Request body was parsed as JSON; send Content-Type: application/json"
            )
        if in_thread:
            return await asyncio.to_thread(_parsed, model, raw, context)
        return _parsed(model, raw, context)

    def still_allowed(self) -> None:
        """After a wait (a body, a lookup): a key revoked, or dropped by an import, since the
        request was let in does not get to act. The admin token has no key to lose."""
        key, account = self.ctx.key, self.ctx.account
        if key is not None and account is not None and not self.ctx.reclaiming:
            if key.revoked_at is not None or account.keys.get(key.key_id) is not key:
                raise KeyRevoked()

    def query(self, model: type[M]) -> M:
        return validate_query(model, self.request)


def _parsed(model: type[M], raw: bytes, context: Mapping[str, Any] | None) -> M:
    return validate(model, parse_object(raw), context)


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    operation_id: str
    scope: str | None = None
    auth: bool = True
    sandbox: bool = False  # documented in the /_sandbox document, not the API's
    request_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    responses: Mapping[int, tuple[type[BaseModel] | None, str]] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    description: str = ""
    media_type: str = "application/json"
    response_headers: Mapping[str, str] = field(default_factory=dict)
    account_optional: bool = False  # an admin call may name no account (reset of all)
    body_required: bool = True  # False: an empty body means the model's defaults
    # The account's first keys get in even when revoked, dropped or narrowed, marked as
    # `ctx.reclaiming`; the handler lets such a call do one thing only (reset with keys).
    reclaim: bool = False


def control_operation(
    method: str, path: str, handler: Handler, summary: str, operation_id: str, **more: Any
) -> Operation:
    """An operation of the `/_sandbox` control API: tagged Sandbox, documented in
    `/_sandbox/openapi.json`, answering 400, 401 and 404 unless `errors` says otherwise, and
    403 when it needs a key (one without the `sandbox` scope)."""
    errors = set(more.get("errors", (400, 401, 404)))
    if more.get("auth", True):
        errors.add(403)
    more["errors"] = tuple(sorted(errors))
    return Operation(method, path, handler, summary, "Sandbox", operation_id, sandbox=True, **more)


def endpoint(op: Operation) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint that runs `op` with the contract's checks around it."""

    async def run(request: Request) -> Response:
        ctx = context_of(request.scope)
        if op.auth and op.sandbox and _admin(request, ctx, op):
            pass
        elif op.auth and (scripted := await _check_key(request, ctx, op)) is not None:
            return scripted
        try:
            handled = await op.handler(Call(request, ctx))
        except SandboxError as exc:
            handled = error_response(exc, ctx.ensure_request_id())
        finally:
            if ctx.account is not None:
                ctx.account.catch_up()
        if ctx.notes.after is not None:  # a fault for after the handler: it has acted now
            return await faults.after(ctx, handled)
        return handled

    run.__name__ = op.operation_id
    return run


async def _check_key(request: Request, ctx: RequestContext, op: Operation) -> Response | None:
    """Auth, then (API calls only) scenario rules, rate limit, then scope — the contract's
    order — auditing refusals and the first use of a key each day. Returns a scenario's
    scripted answer, if one fires."""
    authorization, prefer = _auth_headers(request.scope["headers"])
    try:
        client = request.scope.get("client") or ("",)
        account, key = ctx.sandbox.accounts.identify(bearer_token(authorization), client[0])
    except LiveKeyInSandbox:
        agent = request.headers.get("user-agent", "")
        ctx.sandbox.live_key_requests.append((ctx.ensure_request_id(), agent))  # the advisor
        raise
    ctx.account, ctx.key = account, key
    ctx.notes.jobs_mark, ctx.notes.deliveries_mark = account.jobs.seq, account.deliveries.added
    request_id = ctx.ensure_request_id()
    now = account.now()
    if op.reclaim and account.is_origin(key):
        ctx.reclaiming = key.revoked_at is not None or SANDBOX_SCOPE not in key.scopes
    if key.revoked_at is not None and not ctx.reclaiming:
        refuse(ctx)
    if not ctx.reclaiming:
        key.last_used_at = now
    account.catch_up()
    if op.sandbox:  # control calls: never counted or limited, and only with their own scope
        if SANDBOX_SCOPE not in key.scopes and not ctx.reclaiming:
            refuse(ctx)
        return None
    account.usage.count(now)
    if (account.scenarios.any or prefer) and (
        scripted := await faults.apply(request, ctx)
    ) is not None:
        ctx.headers.update(faults.limit_headers(scripted, ctx.headers, account.bucket, now))
        return scripted
    decision = account.bucket.take(now)
    ctx.limit = decision  # the middleware puts its X-RateLimit-* headers on the answer
    if not decision.allowed:
        raise RateLimited(decision.retry_after)  # the guide's body: "Rate limit exceeded"
    if op.scope is not None and op.scope not in key.scopes:
        account.audit.record("key.denied", key.key_id, key.masked, request_id, now)
        raise InsufficientScope(
            f"This key lacks the scope '{op.scope}' needed for {op.method} {op.path}",
            details={"scope": f"missing '{op.scope}'"},
        )
    account.audit.used(key.key_id, key.masked, request_id, now)
    return None


_AUTHORIZATION = b"authorization"
_PREFER = faults.PREFER_HEADER.encode()


def _auth_headers(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, bool]:
    """The `Authorization` header (the first, as Starlette's `headers.get` gives it), and
    whether the fault header was sent: one pass over the raw headers."""
    authorization: str | None = None
    prefer = False
    for name, value in headers:
        if name == _AUTHORIZATION:
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == _PREFER:
            prefer = True
    return authorization, prefer


def refuse(ctx: RequestContext) -> None:
    """Refuse a key that may not make a control call (revoked, or without the `sandbox`
    scope), auditing the refusal."""
    account, key = ctx.account, ctx.key
    assert account is not None and key is not None
    account.audit.record(
        "key.denied", key.key_id, key.masked, ctx.ensure_request_id(), account.now()
    )
    if key.revoked_at is not None:
        raise KeyRevoked()
    raise InsufficientScope(
        f"This key lacks the scope '{SANDBOX_SCOPE}' needed for the control API",
        details={"scope": f"missing '{SANDBOX_SCOPE}'"},
    )


def _admin(request: Request, ctx: RequestContext, op: Operation) -> bool:
    """Control calls with `X-AIPROD-Admin-Token` reach any account (`X-AIPROD-Account`)."""
    token = request.headers.get("x-aiprod-admin-token")
    if token is None:
        return False
    expected = ctx.settings.admin_token
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise AuthError(
            "Invalid admin token (the server was started without --admin-token, "
            "or with another one)"
        )
    ctx.admin = True
    account_id = request.headers.get("x-aiprod-account")
    if account_id:
        account = ctx.sandbox.accounts.get(account_id)
        if account is None:
            raise NotFound(f"No account {account_id}", code="ACCOUNT_NOT_FOUND")
        ctx.account = account
        ctx.ensure_request_id()
        account.catch_up()
    elif not op.account_optional:
        raise ValidationFailed(
            "With the admin token, name the account in X-AIPROD-Account",
            details={"X-AIPROD-Account": "required with X-AIPROD-Admin-Token"},
        )
    return True

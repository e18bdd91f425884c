"""Scenario request rules at the HTTP surface: delays, extra headers, chosen answers, drops.

Run right after auth (rules may match on the key and tier) and before the rate limit, so a
scripted 429 storm or 503 outage answers as production would when it is overloaded.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from ..core.accounts import Account
from ..core.clock import sleep
from ..core.ratelimit import TokenBucket
from ..core.scenarios import RequestRule, Scenario
from ..errors import BY_STATUS, DropConnection, RateLimited, SandboxError, ServiceUnavailable
from .context import RequestContext
from .responses import JSON_TYPE, error_response, rate_limit_headers


class DroppedResponse(Response):
    """Starts an answer that never finishes: the client sees the connection drop."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")],
        }
        await send(start)
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        raise DropConnection("dropped on purpose by a scenario")


MAX_DELAYED = 32  # requests one account's scenario may hold in a delay at once
REFUSALS = (429, 503)  # scripted answers that say "not now": the bucket reads empty


def limit_headers(
    answer: Response, headers: dict[str, str], bucket: TokenBucket, now: float
) -> dict[str, str]:
    """The `X-RateLimit-*` headers of a scripted answer, which takes no token. A scripted 429
    or 503 reports no tokens left and a `Reset` at its `Retry-After`, so a client that paces
    itself by either header waits as long as the other tells it to."""
    figures = rate_limit_headers(bucket.peek(now))
    if answer.status_code not in REFUSALS:
        return figures
    retry_after = next(
        (v for k, v in headers.items() if k.lower() == "retry-after"),
        answer.headers.get("retry-after"),
    )
    figures["X-RateLimit-Remaining"] = "0"
    if retry_after is not None and retry_after.strip().isdigit():
        figures["X-RateLimit-Reset"] = str(math.ceil(now + int(retry_after)))
    return figures


async def _delayed(account: Account, seconds: float) -> None:
    """A scripted delay holds a connection for up to two minutes: an account holds at most
    `MAX_DELAYED` of them at once, so its scenario cannot take every connection the server
    has (past that, 503 with Retry-After, as an overloaded server answers)."""
    if account.delayed >= MAX_DELAYED:
        raise ServiceUnavailable(
            f"This account already has {MAX_DELAYED} requests held by its scenario's delays",
            headers={"Retry-After": "1"},
        )
    account.delayed += 1
    try:
        await sleep(seconds)
    finally:
        account.delayed -= 1


def label(scenario: Scenario, rule: RequestRule) -> str:
    return f"{scenario.name}:{rule.name or f'requests[{scenario.requests.index(rule)}]'}"


def _answer(rule: RequestRule, request_id: str) -> Response:
    respond = rule.respond
    status = respond.status or 500
    if status in (204, 304):
        return Response(status_code=status)  # these carry no body
    if status < 400 and respond.body is None:
        return Response(b"{}", status, media_type=JSON_TYPE)
    if respond.body is not None:
        body = json.dumps(respond.body, ensure_ascii=False).encode()
        return Response(body, status, media_type=JSON_TYPE)
    known = BY_STATUS.get(status)
    kind, code, message = (
        (known.type, known.code, known.default_message)
        if known is not None
        else ("server_error", "INTERNAL_ERROR", "Scripted error")
    )
    spec = respond.error
    error: SandboxError
    if status == 429:
        error = RateLimited(respond.retry_after if respond.retry_after is not None else 60)
    else:
        error = SandboxError()
    error.status = status
    error.type = (spec.type if spec else None) or kind
    error.code = (spec.code if spec else None) or code
    error.message = (spec.message if spec else None) or message
    return error_response(error, request_id)


async def _body(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length", "")
    if request.method not in ("POST", "PUT", "PATCH") or (
        declared.isdigit() and int(declared) > limit
    ):
        return None
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


async def apply(request: Request, ctx: RequestContext) -> Response | None:
    """Run the account's request rules on this call; an answer when one of them gives it."""
    account, key = ctx.account, ctx.key
    if account is None or key is None or not account.scenarios.any:
        return None
    scenarios = [account.scenarios.own] if account.scenarios.own else []
    rules = [
        rule for scenario in scenarios + account.scenarios.server for rule in scenario.requests
    ]
    # Only what some rule matches on is read: the body, and the query as a dict
    needs_body = any(rule.match.body for rule in rules)
    needs_query = any(rule.match.query for rule in rules)
    scope = request.scope
    fired = account.scenarios.request_rules(
        account.now(),
        method=request.method,
        path=scope.get("root_path", "") + scope["path"],  # request.url.path, unparsed
        query=dict(request.query_params) if needs_query else {},
        headers=request.headers,
        body=await _body(request, ctx.settings.max_body_bytes) if needs_body else None,
        tier=account.tier,
        key=key.secret,
    )
    if not fired:
        return None
    ctx.notes.rules = tuple(label(scenario, rule) for scenario, rule in fired)
    for _, rule in fired:
        respond = rule.respond
        if respond.delay:
            await _delayed(account, respond.delay)
        ctx.headers.update(respond.headers)
        if respond.retry_after is not None:
            ctx.headers["Retry-After"] = str(respond.retry_after)
        if respond.drop:
            return DroppedResponse()
        if respond.status is not None:
            return _answer(rule, ctx.ensure_request_id())
    return None

"""Scenario request rules at the HTTP surface: delays, extra headers, chosen answers, drops.

Run right after auth (rules may match on the key and tier) and before the rate limit, so a
scripted 429 storm or 503 outage answers as production would when it is overloaded. A rule
with `phase: after` lets the request through and acts once its handler has answered
(`after`, called by `operation.py`): the job, key or webhook is made, then the client gets a
500 or 503, a late answer, or a dropped connection instead, and the journal says so — the
failure that makes a client without idempotent retries create a job twice.

One request can ask for a fault of its own, without a scenario, in the `PREFER_HEADER`:
`X-AIPROD-Sandbox-Prefer: status=503; phase=after`, `drop`, `delay=2`, `retry_after=5`
(parameters separated by `;` or `,`). It is tried before the scenario's rules.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from ..core.accounts import Account
from ..core.clock import sleep
from ..core.ratelimit import TokenBucket
from ..core.scenarios import FILES, RequestRule, Respond, Scenario
from ..errors import (
    BY_STATUS,
    DropConnection,
    RateLimited,
    SandboxError,
    ServiceUnavailable,
    ValidationFailed,
)
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
PREFER_HEADER = "x-aiprod-sandbox-prefer"
PREFER_LABEL = "prefer-header"  # how the journal names a fault the header asked for
_PREFER_FORM = "status=NNN, drop, delay=SECONDS, retry_after=N, phase=after"
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


def _answer(respond: Respond, request_id: str) -> Response:
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


def preferred(value: str) -> Respond:
    """The fault the `PREFER_HEADER` asks for; a 400 naming the header when it makes no sense."""
    fields: dict[str, Any] = {}
    for part in value.replace(",", ";").split(";"):
        name, equals, raw = part.strip().partition("=")
        name = name.strip().lower()
        if not name:
            continue
        if name == "drop" and not equals:
            fields["drop"] = True
        elif name in ("status", "retry_after") and raw.strip().isdigit():
            fields[name] = int(raw)
        elif name == "delay":
            try:
                fields["delay"] = float(raw)
            except ValueError:
                fields["delay"] = raw
        elif name == "phase":
            fields["phase"] = raw.strip()
        else:
            raise ValidationFailed(
                f"{PREFER_HEADER}: cannot read {part.strip()!r}",
                details={PREFER_HEADER: _PREFER_FORM},
            )
    try:
        return Respond.model_validate(fields, context={FILES: True})
    except ValidationError as exc:
        problems = "; ".join(str(error["msg"]) for error in exc.errors())
        raise ValidationFailed(
            f"{PREFER_HEADER}: {problems}",
            details={PREFER_HEADER: _PREFER_FORM},
        ) from None


async def apply(request: Request, ctx: RequestContext) -> Response | None:
    """Run the account's request rules on this call (and the `PREFER_HEADER`'s fault); an
    answer when one of them gives it now. A fault for after the handler is noted on `ctx`."""
    account, key = ctx.account, ctx.key
    if account is None or key is None:
        return None
    fired: list[tuple[str, Respond]] = []
    asked = request.headers.get(PREFER_HEADER)
    if asked is not None:
        fired.append((PREFER_LABEL, preferred(asked)))
    if account.scenarios.any and not (fired and _answers(fired[0][1])):
        fired += await _scenario_rules(request, ctx, account, key.secret)
    if not fired:
        return None
    ctx.notes.rules = tuple(name for name, _ in fired)
    for name, respond in fired:
        if respond.phase == "after":
            ctx.notes.after = (name, respond)
            return None
        if respond.delay:
            await _delayed(account, respond.delay)
        ctx.headers.update(respond.headers)
        if respond.retry_after is not None:
            ctx.headers["Retry-After"] = str(respond.retry_after)
        if respond.drop:
            return DroppedResponse()
        if respond.status is not None:
            return _answer(respond, ctx.ensure_request_id())
    return None


def _answers(respond: Respond) -> bool:
    return respond.status is not None or respond.drop


async def _scenario_rules(
    request: Request, ctx: RequestContext, account: Account, secret: str
) -> list[tuple[str, Respond]]:
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
        key=secret,
    )
    return [(label(scenario, rule), rule.respond) for scenario, rule in fired]


async def after(ctx: RequestContext, handled: Response) -> Response:
    """The fault a `phase: after` rule holds for this request, once its handler answered
    `handled`: what the client gets instead (the handler's work stays done)."""
    assert ctx.notes.after is not None and ctx.account is not None
    name, respond = ctx.notes.after
    if respond.delay:
        await _delayed(ctx.account, respond.delay)
    ctx.headers.update(respond.headers)
    if respond.retry_after is not None:
        ctx.headers["Retry-After"] = str(respond.retry_after)
    did = f"the handler answered {handled.status_code}"
    if respond.drop:
        ctx.notes.fault = f"{name} (after): {did}; the connection was dropped"
        return DroppedResponse()
    if respond.status is None:
        ctx.notes.fault = f"{name} (after): {did}, {respond.delay:g} s late"
        return handled
    ctx.notes.fault = f"{name} (after): {did}; the client got {respond.status}"
    return _answer(respond, ctx.ensure_request_id())

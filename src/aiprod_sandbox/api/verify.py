"""`POST /_sandbox/verify`: does the account's evidence hold what the test says its client did
(`core/verify.py` judges), waiting up to `within` for it when asked.

How `within` waits follows the account's clock:
- a real or scaled clock: the sandbox checks again whenever the evidence has grown, until the
  verification holds or `within` seconds of the account's clock have passed (on a scaled clock
  that is `within / scale` real seconds; never more than `MAX_REAL_WAIT`);
- a manual clock: nothing happens unless the clock moves, so the sandbox moves it, as
  `clock/advance` does, from one instant of due work to the next, up to `within` seconds,
  and stops at the first instant at which the verification holds. The answer says how far the
  clock moved (`advanced_seconds`).
`at_most` and `never` hold only once the whole wait is over; the other counts (`exactly`
too), and sequences, end the wait as soon as they hold.

On a manual clock the work due at the clock's present instant (webhook attempts on the wire
included) is finished before the evidence is read, with or without `within`, so a verdict
never depends on how fast a receiver answered. An account has at most `MAX_WAITING` verifications
waiting at once (past that, 503 with `Retry-After`), so one test's waits cannot hold every
connection of a shared sandbox.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.responses import Response

from ..core.accounts import Account
from ..core.clock import monotonic
from ..core.verify import Verdict, Verification, check
from ..errors import ServiceUnavailable
from .deliveries import dispatcher
from .operation import Call, control_operation
from .responses import json_response

MAX_WAITING = 8  # verifications of one account waiting at once
MAX_REAL_WAIT = 300.0  # real seconds one may hold its connection, whatever its clock
POLL_SECONDS = 0.02  # how often a waiting verification looks whether the evidence grew


class MissOut(BaseModel):
    part: str = Field(examples=["body.metadata.customer_id"])
    expected: Any
    actual: Any


class NearMissOut(BaseModel):
    ref: str = Field(description="A request id or a delivery id")
    summary: str
    at: str
    step: int | None = Field(description="In a sequence: the step it was tried for")
    misses: list[MissOut]


class VerifyOut(BaseModel):
    ok: bool
    kind: Literal["requests", "deliveries", "sequence"]
    expected: str = Field(examples=["exactly 2"])
    count: int = Field(description="How many matched (in a sequence: steps found in order)")
    matched: list[str] = Field(description="Ids of what matched (the first 50)")
    near_misses: list[NearMissOut] = Field(
        description="When too few matched: the closest entries, and the parts each failed"
    )
    looked_at: int
    evicted: int = Field(description="Journal entries let go before this: evidence not whole")
    waited_seconds: float = Field(description="Real seconds spent waiting")
    advanced_seconds: float = Field(description="Seconds a manual clock was moved forward")
    message: str = Field(description="The verdict in words, near misses included")


def _check(account: Account, spec: Verification) -> Verdict:
    journal = account.journal
    return check(spec, list(journal), account.deliveries.all(), journal.evicted)


def _evidence(account: Account) -> tuple[int, int, int]:
    """Changes when the evidence may have: new requests, deliveries or attempts."""
    return account.journal.added, account.deliveries.added, account.attempts_recorded


async def _wait_real(account: Account, spec: Verification, verdict: Verdict) -> Verdict:
    assert spec.within is not None
    scale = max(account.clock.scale, 1e-9)
    deadline = monotonic() + min(spec.within / scale, MAX_REAL_WAIT)
    seen = _evidence(account)
    while monotonic() < deadline:
        await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - monotonic())))
        account.catch_up()
        if _evidence(account) != seen:
            seen = _evidence(account)
            verdict = _check(account, spec)
            if verdict.ok and spec.settles_early:
                return verdict
    return _check(account, spec)


async def _advance(call: Call, account: Account, spec: Verification) -> tuple[Verdict, float]:
    """On a manual clock: move it from one instant of due work to the next, up to `within`."""
    assert spec.within is not None
    sender = dispatcher(call)
    start = account.now()
    deadline = start + spec.within
    async with account.control:
        while True:
            verdict = _check(account, spec)
            now = account.now()
            if (verdict.ok and spec.settles_early) or now >= deadline:
                return verdict, now - start
            upcoming = account.scheduler.next_at()
            target = deadline if upcoming is None or upcoming > deadline else upcoming
            if target > now:
                account.clock.advance(target - now)
                account.changed_settings = True
            await sender.settle(account, max(target, now))


async def verify(call: Call) -> Response:
    spec = await call.body(Verification)
    account = call.account
    if account.clock.mode == "manual":
        async with account.control:  # what is due now, attempts in flight included
            await dispatcher(call).settle(account, account.now())
    verdict = _check(account, spec)
    waited = advanced = 0.0
    if spec.within is not None and not (verdict.ok and spec.settles_early):
        if account.verifying >= MAX_WAITING:
            raise ServiceUnavailable(
                f"This account already has {MAX_WAITING} verifications waiting",
                headers={"Retry-After": "1"},
            )
        account.verifying += 1
        started = monotonic()
        try:
            if account.clock.mode == "manual":
                verdict, advanced = await _advance(call, account, spec)
            else:
                verdict = await _wait_real(account, spec, verdict)
        finally:
            account.verifying -= 1
        waited = monotonic() - started
    return json_response(
        VerifyOut(
            ok=verdict.ok,
            kind=spec.kind,
            expected=verdict.expected,
            count=verdict.count,
            matched=verdict.matched,
            near_misses=[
                NearMissOut(
                    ref=near.ref,
                    summary=near.summary,
                    at=near.at,
                    step=near.step,
                    misses=[
                        MissOut(part=m.part, expected=m.expected, actual=m.actual)
                        for m in near.misses
                    ],
                )
                for near in verdict.near_misses
            ],
            looked_at=verdict.looked_at,
            evicted=verdict.evicted,
            waited_seconds=round(waited, 3),
            advanced_seconds=round(advanced, 3),
            message=verdict.message(spec.kind),
        )
    )


OPERATIONS = (
    control_operation(
        "POST",
        "/_sandbox/verify",
        verify,
        "Verify what the account's client did: requests, deliveries, or a sequence",
        "verify",
        request_model=Verification,
        responses={200: (VerifyOut, "The verdict (ok true or false), with near misses")},
        errors=(400, 401, 404, 503),
        description="Matches requests by method, path glob, query, headers, a JSON body "
        "subset or JSONPath, status, job and time; deliveries by event, job, endpoint, "
        "outcome, attempts and acknowledgements. Counts: exactly, at_least, at_most, never "
        "(default at least 1). `within` waits for it on the account's clock; on a manual "
        "clock it moves the clock forward as clock/advance does. A failed verification is "
        "a 200 with `ok: false`.",
    ),
)

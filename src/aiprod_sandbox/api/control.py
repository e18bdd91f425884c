"""The control API under `/_sandbox/`: account, reset, clock, timing, transitions (the state
document is `state.py`'s, the journal `journal.py`'s, verification `verify.py`'s, deliveries
`deliveries.py`'s, scenarios `scenarios.py`'s).

Authenticated by a key of the account holding the `sandbox` scope, or by the admin token with
`X-AIPROD-Account`; never rate limited; documented in `/_sandbox/openapi.json`. Operations that
change the account's world take its `control` lock, one at a time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from ..core.accounts import Account
from ..core.clock import MAX_SCALE, IsoTime, iso, parse_iso
from ..core.jobs import JobError, JobStatus, MovedTo
from ..core.schema import StrictModel
from ..errors import PermissionDenied, ValidationFailed
from .deliveries import dispatcher
from .jobs import JobOut, job_out
from .operation import Call, control_operation, refuse
from .responses import json_response

MAX_ADVANCE_SECONDS = 366 * 24 * 3600
MAX_RAN_LISTED = 1000


class LimitsOut(BaseModel):
    requests_per_minute: int | None
    burst: int | None
    concurrent_jobs: int
    batch: bool


class ClockOut(BaseModel):
    mode: Literal["real", "manual", "scaled"]
    now: str = Field(examples=["2026-02-04T10:30:00Z"])
    scale: float


class AccountOut(BaseModel):
    account_id: str
    tier: str
    limits: LimitsOut
    callback_secret: str = Field(description="Signs deliveries to job callback_url (whsec_...)")
    clock: ClockOut
    job_timing: Literal["instant", "simulated"]
    scenario: str | None = Field(description="This account's own scenario")
    server_scenarios: list[str] = Field(description="Scenarios on for every account (serve)")


class ResetIn(StrictModel):
    all: bool = Field(default=False, description="Every account (needs the admin token)")
    keys: bool = Field(
        default=False,
        description="Also put the keys back as the account began: the key that opened it "
        "(or its fixture's keys) working again with all its scopes, every key made or imported "
        "since deleted. That first key may ask for this even when revoked or narrowed.",
    )


class ResetOut(BaseModel):
    reset: list[str]


class ClockIn(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={  # the document says what the handler checks: scaled needs scale
            "if": {"properties": {"mode": {"const": "scaled"}}},
            "then": {"required": ["scale"], "properties": {"scale": {"type": "number"}}},
        }
    )
    mode: Literal["real", "manual", "scaled"] = Field(
        description="Required: give the current mode to change only `now`"
    )
    now: IsoTime | None = Field(default=None, description="ISO 8601; only forward")
    scale: float | None = Field(
        default=None,
        gt=0,
        le=MAX_SCALE,
        description="Clock seconds per real second; required with mode 'scaled'",
    )


class AdvanceIn(StrictModel):
    seconds: float = Field(ge=0, le=MAX_ADVANCE_SECONDS)


class RanOut(BaseModel):
    at: str
    kind: str
    ref: str
    action: str


class AdvanceOut(BaseModel):
    clock: ClockOut
    ran: list[RanOut] = Field(description=f"What ran, in time order (first {MAX_RAN_LISTED})")
    ran_count: int


class TimingIn(StrictModel):
    job_timing: Literal["instant", "simulated"]


class TimingOut(BaseModel):
    job_timing: Literal["instant", "simulated"]


class TransitionError(StrictModel):
    type: str = "processing_error"
    code: str
    message: str


class TransitionIn(StrictModel):
    status: MovedTo
    progress: int | None = Field(default=None, ge=0, le=100)
    error: TransitionError | None = None


def _clock(call: Call) -> ClockOut:
    return ClockOut.model_validate(call.account.clock.describe())


def _account(call: Call) -> AccountOut:
    account = call.account
    own = account.scenarios.own
    return AccountOut.model_validate(
        {
            "account_id": account.account_id,
            "tier": account.tier,
            "limits": account.limits.__dict__,
            "callback_secret": account.callback_secret,
            "clock": account.clock.describe(),
            "job_timing": account.job_timing,
            "scenario": own.name if own else None,
            "server_scenarios": [s.name for s in account.scenarios.server],
        }
    )


async def get_account(call: Call) -> Response:
    return json_response(_account(call))


async def reset(call: Call) -> Response:
    body = await call.body(ResetIn, allow_empty=True)
    if body.all:
        if not call.ctx.admin:
            raise PermissionDenied("Resetting every account needs the admin token")
        accounts = list(call.sandbox.accounts)
    elif call.has_account:
        accounts = [call.account]
    else:
        raise ValidationFailed(details={"all": "give true, or name one account"})
    if call.ctx.reclaiming and not body.keys:
        refuse(call.ctx)  # a revoked or narrowed first key may reset with keys, nothing else
    for account in accounts:
        async with account.control:
            call.sandbox.reset(account, keys=body.keys)
    return json_response(ResetOut(reset=[a.account_id for a in accounts]))


async def get_clock(call: Call) -> Response:
    return json_response(_clock(call))


async def set_clock(call: Call) -> Response:
    body = await call.body(ClockIn)
    now = parse_iso(body.now) if body.now is not None else None
    if body.mode == "scaled" and body.scale is None:
        raise ValidationFailed(details={"scale": "Required with mode 'scaled'"})
    async with call.account.control:
        call.account.clock.set(mode=body.mode, now=now, scale=body.scale)
        call.account.changed_settings = True
        call.account.run_due()
    return json_response(_clock(call))


async def advance(call: Call) -> Response:
    body = await call.body(AdvanceIn)
    account = call.account
    async with account.control:  # what falls due runs in order, with no import in between
        target = account.clock.advance(body.seconds)
        account.changed_settings = True
        ran = await dispatcher(call).settle(account, target)
    listed = [
        RanOut(
            at=iso(r.at),
            kind=r.kind,
            ref=r.ref,
            action=_outcome(account, r.ref, r.action) if r.kind == "delivery" else r.action,
        )
        for r in ran[:MAX_RAN_LISTED]
    ]
    return json_response(AdvanceOut(clock=_clock(call), ran=listed, ran_count=len(ran)))


def _outcome(account: Account, delivery_id: str, action: str) -> str:
    """`attempt 2` → `attempt 2: non_2xx 500` once the attempt has finished."""
    delivery = account.deliveries.get(delivery_id)
    number = action.removeprefix("attempt ")
    if delivery is None or not number.isdigit():
        return action
    for attempt in delivery.attempts:
        if attempt.attempt == int(number) and attempt.trigger != "manual":
            result = "delivered" if attempt.ok else attempt.error
            return f"{action}: {result} {attempt.response_status or ''}".rstrip()
    return action


async def set_timing(call: Call) -> Response:
    body = await call.body(TimingIn)
    call.account.job_timing = body.job_timing
    call.account.changed_settings = True
    return json_response(TimingOut(job_timing=body.job_timing))


async def transition(call: Call) -> Response:
    body = await call.body(TransitionIn)
    error = JobError(**body.error.model_dump()) if body.error else None
    job = call.account.jobs.force(
        call.param("job_id"),
        JobStatus(body.status),
        call.account.now(),
        progress=body.progress,
        error=error,
    )
    return json_response(job_out(job, call.account, call.sandbox.links, call.base_url))


OPERATIONS = (
    control_operation(
        "GET",
        "/_sandbox/account",
        get_account,
        "This account: tier, limits, clock, timing",
        "getAccount",
        responses={200: (AccountOut, "The account")},
    ),
    control_operation(
        "POST",
        "/_sandbox/reset",
        reset,
        "Clear this account's world (or every account's)",
        "reset",
        request_model=ResetIn,
        account_optional=True,
        body_required=False,
        reclaim=True,
        errors=(400, 401, 403, 404),
        responses={200: (ResetOut, "The accounts reset")},
    ),
    control_operation(
        "GET",
        "/_sandbox/clock",
        get_clock,
        "This account's clock",
        "getClock",
        responses={200: (ClockOut, "The clock")},
    ),
    control_operation(
        "POST",
        "/_sandbox/clock",
        set_clock,
        "Set the clock's mode, time or scale",
        "setClock",
        request_model=ClockIn,
        responses={200: (ClockOut, "The clock")},
        errors=(400, 401, 404, 409),
        description="409 INVALID_TRANSITION when `now` is before the clock's time: it only "
        "moves forward.",
    ),
    control_operation(
        "POST",
        "/_sandbox/clock/advance",
        advance,
        "Move the clock forward and run everything that falls due",
        "advanceClock",
        request_model=AdvanceIn,
        responses={200: (AdvanceOut, "The clock and what ran")},
    ),
    control_operation(
        "POST",
        "/_sandbox/timing",
        set_timing,
        "Instant or simulated timing for new jobs",
        "setTiming",
        request_model=TimingIn,
        responses={200: (TimingOut, "The timing")},
    ),
    control_operation(
        "POST",
        "/_sandbox/jobs/{job_id}/transition",
        transition,
        "Move a job along the state machine",
        "transitionJob",
        request_model=TransitionIn,
        errors=(400, 401, 404, 409),
        responses={200: (JobOut, "The job")},
    ),
)

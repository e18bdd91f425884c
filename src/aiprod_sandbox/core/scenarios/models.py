"""The scenario file format, as pydantic models (the JSON Schema is generated from them).

A scenario scripts what production can do to an integration: answer chosen requests with an
error, a delay or a dropped connection; make jobs fail or take their time; make the webhook
sender misbehave. Every rule has a `match` (which calls it applies to) and a `when` (which of
those calls: nth, first N, every Nth, after N, a seeded probability, a window of the account's
clock); `times` caps how often it fires. Rules are tried in order.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    model_validator,
)

from ..jobs import JobEventName
from ..schema import FrozenModel
from ..tiers import Tier
from ..yamlfile import problem_at

Method = Literal["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
EventName = Literal[JobEventName, "webhook.test"]
WebhookAction = Literal[
    "bad_signature",
    "wrong_secret",
    "missing_signature",
    "stale_timestamp",
    "malformed_body",
    "wrong_content_type",
    "slow",
    "duplicate",
    "out_of_order",
    "delay",
    "drop",
]
HOLDING: tuple[WebhookAction, ...] = ("delay", "out_of_order")  # they use delay_seconds
# A receiver that verifies X-AIPROD-Signature as the guide says must refuse these (the
# advisor's `unverified-webhook`): the signature is over other bytes, under another secret,
# or absent. A stale timestamp is not among them: its signature is right, and the guide
# asks for no replay check.
UNVERIFIABLE: tuple[WebhookAction, ...] = ("bad_signature", "wrong_secret", "missing_signature")
SLOW_MAX_SECONDS = 30.0  # the longest a `slow` delivery drips its body (real seconds)


MAX_RULES = 100  # of each kind, in one scenario
FILES = "scenario-files"  # validation context: also refuse rules that can never fire


def _files(info: ValidationInfo) -> bool:
    """The cross-field checks (impossible selections, empty answers) run for files, where
    a mistake should stop the server; the API takes what the schema allows."""
    return bool(info.context and info.context.get(FILES))


def _one_or_list(kind: str, names: Any) -> BeforeValidator:
    """One name or a list of them, in the file; always a list once loaded. An unknown name is
    one problem naming the known ones (not one per shape the field may take)."""
    known: tuple[str, ...] = get_args(names)

    def check(value: Any) -> Any:
        items = [value] if isinstance(value, str) else value
        if isinstance(items, list):
            unknown = ", ".join(repr(item) for item in items if item not in known)
            if unknown:
                raise ValueError(f"unknown {kind} {unknown}; known: {', '.join(known)}")
        return items

    return BeforeValidator(check, json_schema_input_type=names | list[names])


def _text(value: Any) -> Any:
    """`page: 2` means `?page=2`: a number or true/false is the text a partner wrote."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_text, json_schema_input_type=str | float | bool)]

# What a path glob must start with to match a path (which always starts with '/'): '/', '*',
# '?', or a [class] naming '/'. The schema's pattern is this one, so the document and the check
# agree exactly (a negated class or a range that happens to hold '/' is refused by both).
REACHABLE = r"^(?:[/*?]|\[[^\]]*/)"
_REACHABLE = re.compile(REACHABLE)


def _reachable(glob: str) -> str:
    """A glob whose first part cannot match '/' (`pipeline/run`) could never fire."""
    if not _REACHABLE.match(glob):
        raise ValueError(
            f"path {glob!r} can never match: request paths start with '/' (as in '/{glob}')"
        )
    return glob


class Window(FrozenModel):
    """Seconds of the account's clock since the scenario was switched on: [start, end)."""

    start: float = Field(default=0, ge=0)
    end: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _ordered(self, info: ValidationInfo) -> Window:
        if not _files(info):
            return self
        if self.end is not None and self.end <= self.start:
            raise ValueError("window.end must be after window.start: no call could be chosen")
        return self


class When(FrozenModel):
    """Which of the matching calls the rule applies to; every condition given must hold."""

    nth: int | None = Field(default=None, ge=1, description="only the Nth matching call")
    first: int | None = Field(default=None, ge=1, description="the first N matching calls")
    every: int | None = Field(default=None, ge=1, description="every Nth matching call")
    after: int | None = Field(default=None, ge=0, description="calls after the first N")
    probability: float | None = Field(
        default=None, gt=0, le=1, description="chance per call, from the seeded random source"
    )
    window: Window | None = None

    @model_validator(mode="after")
    def _possible(self, info: ValidationInfo) -> When:
        if not _files(info):
            return self
        if self.nth is not None and self.first is not None and self.nth > self.first:
            raise ValueError(f"nth {self.nth} is never among the first {self.first} calls")
        if self.nth is not None and self.after is not None and self.nth <= self.after:
            raise ValueError(f"nth {self.nth} is never after call {self.after}")
        if self.first is not None and self.after is not None and self.first <= self.after:
            raise ValueError(f"the first {self.first} calls are never after call {self.after}")
        if self.nth is not None and self.every is not None and self.nth % self.every:
            raise ValueError(f"call {self.nth} is never a multiple of every {self.every}")
        return self


class RequestMatch(FrozenModel):
    method: Annotated[list[Method], _one_or_list("method", Method)] | None = Field(
        default=None, description="one method or a list"
    )
    path: Annotated[str, AfterValidator(_reachable)] | None = Field(
        default=None,
        description="glob: /pipeline/*, /jobs/* (paths start with '/')",
        json_schema_extra={"pattern": REACHABLE},
    )
    query: dict[str, Text] | None = Field(
        default=None, description="parameters that must equal (numbers and true/false as text)"
    )
    headers: dict[str, Text] | None = Field(
        default=None, description="headers that must equal (numbers and true/false as text)"
    )
    body: dict[str, Any] | None = Field(
        default=None, description="body fields (dotted paths) that must equal"
    )
    tier: Annotated[list[Tier], _one_or_list("tier", Tier)] | None = Field(
        default=None, description="one tier or a list"
    )
    key: str | None = Field(default=None, description="the full test key, or its last 4 chars")


class ErrorSpec(FrozenModel):
    type: str | None = None
    code: str | None = None
    message: str | None = None


class Respond(FrozenModel):
    status: int | None = Field(default=None, ge=200, le=599)
    error: ErrorSpec | None = Field(default=None, description="envelope fields to use")
    body: dict[str, Any] | None = Field(default=None, description="a custom JSON body instead")
    headers: dict[str, Text] = {}
    retry_after: int | None = Field(default=None, ge=0)
    delay: float | None = Field(default=None, ge=0, le=120, description="real seconds")
    drop: bool = Field(default=False, description="close the connection without an answer")
    phase: Literal["before", "after"] = Field(
        default="before",
        description="before: answer instead of the handler; after: let the handler act (the "
        "job, key or webhook is made), then answer this way instead of its answer",
    )

    @model_validator(mode="after")
    def _sane(self, info: ValidationInfo) -> Respond:
        if not _files(info):
            return self
        if self.phase == "after" and not (self.status or self.drop or self.delay):
            raise ValueError("phase: after needs a status, a delay or drop to act with")
        if self.drop and (self.status is not None or self.body is not None):
            raise ValueError("drop answers nothing: give no status or body with it")
        if (self.error is not None or self.body is not None) and self.status is None:
            raise ValueError("an error or body needs a status")
        if not (self.status or self.drop or self.delay or self.headers):
            raise ValueError("respond must give a status, a delay, headers or drop")
        return self


class RequestRule(FrozenModel):
    name: str | None = None
    match: RequestMatch = RequestMatch()
    when: When = When()
    times: int | None = Field(default=None, ge=1, description="fire at most this many times")
    respond: Respond


class JobMatch(FrozenModel):
    """Job input fields (globs on text); `video_url: "*fail*"`."""

    video_url: str | None = None
    voice_text: str | None = None
    voice_language: str | None = None
    music_style: str | None = None
    preset: str | None = None


class JobRule(FrozenModel):
    name: str | None = None
    match: JobMatch = JobMatch()
    when: When = When()
    times: int | None = Field(default=None, ge=1)
    outcome: Literal["complete", "fail", "pending"] = "complete"
    error: ErrorSpec | None = None
    fail_at_progress: int | None = Field(default=None, ge=0, le=100)
    timing: Literal["instant", "simulated"] | None = None
    queue_seconds: float | None = Field(default=None, ge=0)
    processing_seconds: float | None = Field(default=None, gt=0)
    progress_steps: list[Annotated[int, Field(ge=1, le=99)]] | None = Field(
        default=None, description="progress values between 1 and 99 (sorted, repeats dropped)"
    )

    @model_validator(mode="after")
    def _steps(self, info: ValidationInfo) -> JobRule:
        if not _files(info):
            return self
        if self.outcome != "fail" and (self.error or self.fail_at_progress is not None):
            raise ValueError("error and fail_at_progress go with outcome: fail")
        return self


class WebhookMatch(FrozenModel):
    event: Annotated[list[EventName], _one_or_list("event", EventName)] | None = Field(
        default=None, description="one event or a list"
    )
    endpoint: str | None = Field(
        default=None, description="a webhook id, a URL glob, or 'callback' for callback_url"
    )


class WebhookRule(FrozenModel):
    name: str | None = None
    match: WebhookMatch = WebhookMatch()
    when: When = When()
    times: int | None = Field(default=None, ge=1)
    action: WebhookAction = Field(
        description="bad_signature: signed with the endpoint's secret over other bytes; "
        "wrong_secret: the body signed with another secret; missing_signature: no "
        "X-AIPROD-Signature; stale_timestamp: X-AIPROD-Timestamp an hour old; malformed_body: "
        "the body cut short (not JSON), signed as sent; wrong_content_type: text/plain; "
        "slow: the body dripped over drip_seconds; duplicate: sent twice; out_of_order, "
        "delay: held back delay_seconds; drop: not sent (logged as dropped, retried)"
    )
    delay_seconds: float = Field(
        default=30, ge=0, description="clock seconds (delay, out_of_order)"
    )
    drip_seconds: float = Field(
        default=5,
        gt=0,
        le=SLOW_MAX_SECONDS,
        description="real seconds over which slow sends the body (the receiver still gets "
        "the whole attempt timeout to answer after it)",
    )

    @model_validator(mode="after")
    def _delay_used(self, info: ValidationInfo) -> WebhookRule:
        if not _files(info):
            return self
        if "delay_seconds" in self.model_fields_set and self.action not in HOLDING:
            slow = "; slow takes drip_seconds (real seconds)" if self.action == "slow" else ""
            raise problem_at(
                ("delay_seconds",),
                f"delay_seconds goes with action: {' or '.join(HOLDING)}; "
                f"action: {self.action} ignores it{slow}",
            )
        if "drip_seconds" in self.model_fields_set and self.action != "slow":
            raise problem_at(
                ("drip_seconds",),
                f"drip_seconds goes with action: slow; action: {self.action} ignores it",
            )
        return self


class Scenario(FrozenModel):
    """One scenario file."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str
    advice: str | None = Field(default=None, description="the guide's advice it tests")
    tier: Tier | None = Field(default=None, description="the account takes this tier's limits")
    clock: Literal["real", "manual"] | None = None
    job_timing: Literal["instant", "simulated"] | None = None
    # Bounded: every request of the account is tried against its rules (13,104 rules once
    # cost every request of the account 16.5 ms).
    requests: list[RequestRule] = Field(default=[], max_length=MAX_RULES)
    jobs: list[JobRule] = Field(default=[], max_length=MAX_RULES)
    webhooks: list[WebhookRule] = Field(default=[], max_length=MAX_RULES)

    @model_validator(mode="after")
    def _names_once(self, info: ValidationInfo) -> Scenario:
        """Fired rules show in the journal as `scenario:rule`: one name, one rule."""
        if not _files(info):
            return self
        first: dict[str, str] = {}
        kinds: dict[str, list[Any]] = {
            "requests": self.requests,
            "jobs": self.jobs,
            "webhooks": self.webhooks,
        }
        for kind, rules in kinds.items():
            for index, rule in enumerate(rules):
                here = f"{kind}[{index}]"
                if rule.name is not None and first.setdefault(rule.name, here) != here:
                    raise problem_at(
                        (kind, index, "name"),
                        f"{here}: the name {rule.name!r} is already {first[rule.name]}'s; "
                        "rule names label fired rules in the journal, so each needs its own",
                    )
        return self

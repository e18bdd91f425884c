"""The state document: one account's whole world as JSON (`GET`/`PUT /_sandbox/state`).

It holds the account's tier and settings (clock, job timing, callback secret, its own
scenario and how far its rules have counted), its own presets, its webhooks with their
secrets, its keys (revoked ones too) with their scopes and secrets, its usage, the keys' audit
trail, the request journal, its webhook deliveries with every attempt and the retries still
due, and its jobs in any state with their timelines. Every field is checked by the rules the
API applies to the same thing, so a document that imports is one the API could have made.

Version 2 added usage, audit, journal, deliveries, scenario progress and job timelines, and
writes times with milliseconds; a version 1 document still imports (what it leaves out is
kept as it is).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from ..catalog import Preset
from ..clock import MAX_SCALE, IsoTime
from ..deliveries import MAX_ATTEMPTS_KEPT
from ..jobfields import ID_PATTERN, JobInputFields, Metadata
from ..jobs import JOB_EVENTS, StatusName
from ..keys import API_SCOPES, MAX_KEYS, ScopeList, TestKey
from ..scenarios import Scenario
from ..schema import CATALOG_ENUM, StrictModel, exactly_one_of
from ..tiers import Tier
from ..urls import HttpUrl
from ..webhooks import MAX_WEBHOOKS, EventList

STATE_VERSION: Literal[2] = 2
MAX_JOBS = 10_000  # in one document: an import is one request, and holds the loop while it runs
MAX_SECONDS = 366 * 24 * 3600  # a job's queue or processing time: a year at most
MAX_COST = 1_000_000.0
SECRET_PATTERN = r"^whsec_[A-Za-z0-9_]{16,128}$"
MAX_DELIVERIES = 20_000  # in one document (a log keeps 1,000 finished, and pending ones)
MAX_JOURNAL = 10_000  # entries in one document (a journal keeps 1,000 by default)
MAX_AUDIT = 10_000
MAX_TEXT = 1_000_000  # one body, header or excerpt in a document
Text = Annotated[str, Field(max_length=MAX_TEXT)]
HeaderText = Annotated[str, Field(max_length=8192)]  # a header's name or value
Header = Annotated[list[HeaderText], Field(min_length=2, max_length=2)]  # [name, value]
Count = Annotated[int, Field(ge=0, le=2**53)]


class StateClock(StrictModel):
    mode: Literal["real", "manual", "scaled"] = "real"
    now: IsoTime | None = Field(default=None, description="ISO 8601; default: the clock's time now")
    scale: float = Field(default=1.0, gt=0, le=MAX_SCALE)


class StateScenario(StrictModel):
    """The account's own scenario: a library one by name, or a whole one inline."""

    model_config = ConfigDict(json_schema_extra=exactly_one_of("name", "scenario"))
    name: str | None = Field(
        default=None,
        description="A scenario from GET /_sandbox/scenarios",
        json_schema_extra={CATALOG_ENUM: "scenarios"},
    )
    scenario: Scenario | None = Field(default=None, description="An inline scenario")

    @model_validator(mode="after")
    def _one(self) -> StateScenario:
        if (self.name is None) == (self.scenario is None):
            raise ValueError("give exactly one of 'name' or 'scenario'")
        return self


class StateSettings(StrictModel):
    """Each setting given replaces the account's; one left out is kept as it is."""

    job_timing: Literal["instant", "simulated"] | None = None
    clock: StateClock | None = None
    callback_secret: str | None = Field(
        default=None, pattern=SECRET_PATTERN, description="Signs deliveries to callback_url"
    )
    scenario: StateScenario | None = Field(
        default=None, description="The account's own scenario; null switches it off"
    )


class StateJobInput(JobInputFields):
    video_url: HttpUrl
    # Checked when the document is imported: its own presets count too.
    preset: str | None = Field(
        default=None,
        description="A preset of the catalogue, or of the document's own presets",
        json_schema_extra={CATALOG_ENUM: "presets"},
    )
    callback_url: HttpUrl | None = None


class StateJobResult(StrictModel):
    cost_estimate: float = Field(ge=0, le=MAX_COST)
    quality_score: float = Field(ge=0, le=1)
    processing_time_seconds: int = Field(ge=0, le=MAX_SECONDS)


class StateJobError(StrictModel):
    type: str = Field(default="processing_error", max_length=64)
    code: str = Field(max_length=64)
    message: str = Field(max_length=1000)


class StatePlan(StrictModel):
    outcome: Literal["complete", "fail", "pending"]
    simulated: bool
    queue_seconds: float = Field(ge=0, le=MAX_SECONDS)
    processing_seconds: float = Field(ge=0, le=MAX_SECONDS)
    quality_score: float = Field(ge=0, le=1)
    cost_estimate: float = Field(ge=0, le=MAX_COST)
    progress_steps: list[Annotated[int, Field(ge=1, le=99)]] = Field(
        default=[30, 60, 90],
        max_length=99,
        description="Progress values between 1 and 99, as a scenario's job rules give them",
    )
    error: StateJobError | None = None
    fail_at_progress: int | None = Field(default=None, ge=0, le=100)


class StateTimelineEntry(StrictModel):
    at: IsoTime
    event: Literal["job.created", *JOB_EVENTS]  # type: ignore[valid-type]
    progress: int | None = Field(default=None, ge=0, le=100)


class StateJob(StrictModel):
    job_id: str | None = Field(default=None, pattern=ID_PATTERN)
    status: StatusName = "COMPLETED"
    progress: int | None = Field(default=None, ge=0, le=100)
    created_at: IsoTime | None = None
    updated_at: IsoTime | None = None
    started_at: IsoTime | None = None
    completed_at: IsoTime | None = None
    input: StateJobInput
    metadata: Metadata = {}
    result: StateJobResult | None = None
    error: StateJobError | None = None
    batch_id: str | None = Field(default=None, pattern=ID_PATTERN)
    cancel_reason: str | None = Field(default=None, max_length=500)
    step: int | None = Field(default=None, ge=0, le=101, description="Steps of the plan done")
    plan: StatePlan | None = None
    timeline: list[StateTimelineEntry] | None = Field(
        default=None, max_length=200, description="Default: created at created_at"
    )


class StateWebhook(StrictModel):
    """A registered webhook, as `POST /webhooks/register` makes one (its secret included)."""

    webhook_id: str | None = Field(default=None, pattern=ID_PATTERN)
    url: HttpUrl
    events: EventList = Field(min_length=1)
    active: bool = True
    secret: str | None = Field(
        default=None, pattern=SECRET_PATTERN, description="Default: a new whsec_ secret"
    )
    created_at: IsoTime | None = None
    updated_at: IsoTime | None = None


class StateKey(StrictModel):
    """An API key of the account, as `POST /keys` makes one, with the key itself."""

    key_id: str | None = Field(default=None, pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    key: TestKey
    scopes: ScopeList = Field(
        default_factory=lambda: list(API_SCOPES), description="Default: all but `sandbox`"
    )
    created_at: IsoTime | None = None
    last_used_at: IsoTime | None = None
    revoked_at: IsoTime | None = None


class StateAttempt(StrictModel):
    attempt: int = Field(ge=1, le=1000)
    trigger: Literal["scheduled", "manual", "test"]
    scheduled_at: IsoTime
    sent_at: IsoTime | None = None
    duration_ms: float | None = Field(default=None, ge=0)
    request_headers: dict[str, HeaderText] = Field(default={}, max_length=100)
    request_body: Text | None = Field(default=None, description="What was sent, when changed")
    response_status: int = Field(default=0, ge=0, le=999)
    response_excerpt: Text = ""
    error: Literal["timeout", "connect_error", "dns", "redirect", "non_2xx", "dropped"] | None = (
        None
    )
    deliberate: str | None = Field(default=None, max_length=200)


class StateDelivery(StrictModel):
    """A webhook delivery, its body (the exact bytes signed and sent: text, or `base64:`
    text) and its attempts; a pending one's next attempt is scheduled again on import."""

    delivery_id: str = Field(pattern=ID_PATTERN)
    webhook_id: str | None = Field(default=None, pattern=ID_PATTERN)
    url: HttpUrl
    event: str = Field(max_length=64)
    job_id: str | None = Field(default=None, pattern=ID_PATTERN)
    body: Text
    created_at: IsoTime
    test: bool = False
    status: Literal["pending", "delivered", "failed"] = "pending"
    next_attempt_at: IsoTime | None = None
    note: str | None = Field(default=None, max_length=1000)
    held: str | None = Field(default=None, max_length=1000)
    attempts: list[StateAttempt] = Field(default=[], max_length=MAX_ATTEMPTS_KEPT)


class StateDeliveries(StrictModel):
    items: list[StateDelivery] = Field(default=[], max_length=MAX_DELIVERIES)
    added: Count = Field(default=0, description="Deliveries ever made (the log keeps fewer)")
    abandoned: Count = 0
    attempts_recorded: Count = 0


class StateRequest(StrictModel):
    """One request of the journal, as `GET /_sandbox/requests` shows it, headers unmasked."""

    request_id: str = Field(max_length=100)
    at: IsoTime
    method: str = Field(max_length=16)
    path: Text
    query: Text = ""
    status: int = Field(ge=0, le=999)
    duration_ms: float = Field(default=0.0, ge=0)
    key: str = Field(default="", max_length=300)
    scenarios: list[str] = Field(default=[], max_length=100)
    rules: list[str] = Field(default=[], max_length=100)
    user_agent: Text | None = None
    conditional: bool = False
    body_sha: str | None = Field(default=None, max_length=128)
    retry_after: int | None = Field(default=None, ge=0)
    request_headers: list[Header] = Field(default=[], max_length=200)
    request_body: Text = ""
    request_size: Count = 0
    response_headers: list[Header] = Field(default=[], max_length=200)
    response_body: Text = ""
    response_size: Count = 0
    job_ids: list[str] = Field(default=[], max_length=MAX_JOBS)
    delivery_ids: list[str] = Field(default=[], max_length=MAX_DELIVERIES)
    fault: str | None = Field(default=None, max_length=200)


class StateJournal(StrictModel):
    entries: list[StateRequest] = Field(default=[], max_length=MAX_JOURNAL)
    added: Count = Field(default=0, description="Entries ever added (the journal keeps fewer)")
    evicted: Count = 0


class StateAuditRecord(StrictModel):
    event_id: str = Field(max_length=64)
    event: Literal["key.created", "key.revoked", "key.used", "key.denied"]
    key_id: str = Field(max_length=64)
    masked_key: str = Field(max_length=64)
    request_id: str | None = Field(default=None, max_length=100)
    at: IsoTime


class StateAudit(StrictModel):
    records: list[StateAuditRecord] = Field(default=[], max_length=MAX_AUDIT)
    seq: Count = Field(default=0, description="Key events ever recorded (numbers the next)")


class StateUsage(StrictModel):
    """Requests counted this clock minute and day (minutes and days since 1970)."""

    minute: int = Field(default=-1, ge=-1)
    this_minute: Count = 0
    day: int = Field(default=-1, ge=-1)
    today: Count = 0


class StateRuleCount(StrictModel):
    scenario: str = Field(max_length=200)
    kind: Literal["requests", "jobs", "webhooks"]
    index: int = Field(ge=0, le=10_000)
    matched: Count
    fired: Count


class StateScenarioProgress(StrictModel):
    """How far the active scenarios' rules have counted, and since when each applies."""

    own_since: IsoTime | None = Field(default=None, description="null: no scenario of its own")
    server_since: IsoTime
    rules: list[StateRuleCount] = Field(default=[], max_length=10_000)


class StateDocument(StrictModel):
    """`GET /_sandbox/state` answers one; `PUT /_sandbox/state` takes one. `jobs` always
    replaces the account's jobs; `presets`, `webhooks`, `keys`, `usage`, `audit`, `journal`,
    `deliveries`, `scenario_progress` and each setting replace the account's when given and
    leave them as they are when left out."""

    version: Literal[1, 2] = STATE_VERSION
    account_id: str | None = Field(default=None, description="Exported for reference only")
    tier: Tier | None = None
    settings: StateSettings = StateSettings()
    presets: list[Preset] | None = None
    webhooks: list[StateWebhook] | None = Field(default=None, max_length=MAX_WEBHOOKS)
    keys: list[StateKey] | None = Field(
        default=None,
        max_length=MAX_KEYS,
        description="The key making the import is kept even when the document leaves it out",
    )
    usage: StateUsage | None = None
    audit: StateAudit | None = None
    scenario_progress: StateScenarioProgress | None = None
    journal: StateJournal | None = None
    deliveries: StateDeliveries | None = None
    jobs: list[StateJob] = Field(default=[], max_length=MAX_JOBS)


class StateExport(StateDocument):
    """What `GET /_sandbox/state` answers: the same document, with every job the account
    holds (more than one import takes: `PUT` is bounded by its body too)."""

    jobs: list[StateJob] = []

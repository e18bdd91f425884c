"""The state document: one account's whole world as JSON (`GET`/`PUT /_sandbox/state`).

It holds the account's tier and settings (clock, job timing, callback secret, its own
scenario), its own presets, its webhooks with their secrets, its keys (revoked ones too) with
their scopes and secrets, and its jobs in any state. Every field is checked by the rules the
API applies to the same thing, so a document that imports is one the API could have made.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from ..catalog import Preset
from ..clock import MAX_SCALE, IsoTime
from ..jobfields import ID_PATTERN, JobInputFields, Metadata
from ..jobs import StatusName
from ..keys import API_SCOPES, MAX_KEYS, ScopeList, TestKey
from ..scenarios import Scenario
from ..schema import CATALOG_ENUM, StrictModel, exactly_one_of
from ..tiers import Tier
from ..urls import HttpUrl
from ..webhooks import MAX_WEBHOOKS, EventList

STATE_VERSION = 1
MAX_JOBS = 10_000  # in one document: an import is one request, and holds the loop while it runs
MAX_SECONDS = 366 * 24 * 3600  # a job's queue or processing time: a year at most
MAX_COST = 1_000_000.0
SECRET_PATTERN = r"^whsec_[A-Za-z0-9_]{16,128}$"


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


class StateDocument(StrictModel):
    """`GET /_sandbox/state` answers one; `PUT /_sandbox/state` takes one. `jobs` always
    replaces the account's jobs; `presets`, `webhooks`, `keys` and each setting replace the
    account's when given and leave them as they are when left out."""

    version: Literal[1] = 1
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
    jobs: list[StateJob] = Field(default=[], max_length=MAX_JOBS)


class StateExport(StateDocument):
    """What `GET /_sandbox/state` answers: the same document, with every job the account
    holds (more than one import takes: `PUT` is bounded by its body too)."""

    jobs: list[StateJob] = []

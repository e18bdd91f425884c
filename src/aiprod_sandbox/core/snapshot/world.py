"""Export one account's world as a state document, and import a document into an account.

Import checks the whole document first (ids and keys given twice, keys that belong to another
account, unknown scenarios) and changes nothing unless all of it can be applied. Then `jobs`
replaces the account's jobs; the tier, presets, webhooks, keys and each setting replace the
account's when the document gives them. The key making the import is kept even when the
document leaves it out, so an import never locks out its caller. The clock only moves forward:
a document's `now` before the account's clock leaves the clock where it is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from ...errors import ValidationFailed
from ..accounts import Account
from ..catalog import Catalog
from ..clock import iso, iso_or_none, parse_iso
from ..ids import IdSource
from ..keys import ApiKey
from ..registry import Accounts
from ..scenarios import Scenario
from ..webhooks import Webhook
from .document import (
    StateClock,
    StateDocument,
    StateExport,
    StateKey,
    StateScenario,
    StateSettings,
    StateWebhook,
)
from .jobs import job_document, restore_job


@dataclass(frozen=True)
class Imported:
    """How many of each the document brought (None: the document left them as they were)."""

    jobs: int
    webhooks: int | None
    keys: int | None


def _scenario_out(own: Scenario | None, library: Mapping[str, Scenario]) -> StateScenario | None:
    if own is None:
        return None
    if library.get(own.name) == own:
        return StateScenario(name=own.name)
    return StateScenario(scenario=own)


def export_state(account: Account, library: Mapping[str, Scenario]) -> StateExport:
    """The whole account as a document (made, not validated: an account may hold more jobs
    than one import takes)."""
    document = export_head(account, library)
    document.jobs = [job_document(job) for job in account.jobs.listing(sort="created_at")]
    return document


def export_head(account: Account, library: Mapping[str, Scenario]) -> StateExport:
    """The document without its jobs (`jobs`, the last field, empty): what comes before them
    when they are written out a few at a time."""
    clock = account.clock
    job_timing, mode = account.own_settings
    return StateExport.model_construct(
        account_id=account.account_id,
        tier=account.base_tier,
        settings=StateSettings(
            job_timing=job_timing,  # type: ignore[arg-type]
            clock=StateClock(mode=mode, now=iso(clock.now()), scale=clock.scale),
            callback_secret=account.callback_secret,
            scenario=_scenario_out(account.scenarios.own, library),
        ),
        presets=list(account.presets) if account.presets is not None else None,
        webhooks=[
            StateWebhook(
                webhook_id=hook.webhook_id,
                url=hook.url,
                events=list(hook.events),
                active=hook.active,
                secret=hook.secret,
                created_at=iso(hook.created_at),
                updated_at=iso(hook.updated_at),
            )
            for hook in account.webhooks.all()
        ],
        keys=[
            StateKey(
                key_id=key.key_id,
                name=key.name,
                key=key.secret,
                scopes=key.scope_list,
                created_at=iso(key.created_at),
                last_used_at=iso_or_none(key.last_used_at),
                revoked_at=iso_or_none(key.revoked_at),
            )
            for key in account.keys.values()
        ],
        jobs=[],
    )


def _repeats(values: list[str | None], field: str, problems: dict[str, str]) -> None:
    seen: dict[str, int] = {}
    for index, value in enumerate(values):
        if value is None:
            continue
        if value in seen:
            problems[field.format(index)] = f"the same as at [{seen[value]}]: give each once"
        seen.setdefault(value, index)


def _check(
    account: Account,
    document: StateDocument,
    registry: Accounts,
    library: Mapping[str, Scenario],
    keep: ApiKey | None,
) -> dict[str, str]:
    """Every problem of the document that its model cannot see, by field."""
    problems: dict[str, str] = {}
    _repeats([j.job_id for j in document.jobs], "jobs[{}].job_id", problems)
    _repeats([w.webhook_id for w in document.webhooks or []], "webhooks[{}].webhook_id", problems)
    keys = document.keys or []
    _repeats([k.key_id for k in keys], "keys[{}].key_id", problems)
    _repeats([k.key for k in keys], "keys[{}].key", problems)
    for index, spec in enumerate(keys):
        owner = registry.owner_of(spec.key)
        if owner is not None and owner != account.account_id:
            problems[f"keys[{index}].key"] = (
                "belongs to another account (to copy a world into another account, leave keys out)"
            )
        elif keep is not None and spec.key_id == keep.key_id and spec.key != keep.secret:
            problems[f"keys[{index}].key_id"] = "is the id of the key making this import"
    presets = document.presets if document.presets is not None else account.preset_list
    known = {preset.id for preset in presets} | account.catalog.preset_ids
    for index, job in enumerate(document.jobs):
        if job.input.preset is not None and job.input.preset not in known:
            problems[f"jobs[{index}].input.preset"] = (
                f"Unknown preset: '{job.input.preset}' (see GET /presets)"
            )
    scenario = document.settings.scenario
    if scenario is not None and scenario.name is not None and scenario.name not in library:
        problems["settings.scenario.name"] = (
            f"Unknown scenario '{scenario.name}'; known: {', '.join(sorted(library))}"
        )
    return problems


def _ids_after(account: Account, document: StateDocument) -> IdSource:
    """The sequence the account's ids come from after the import. A fresh server's account
    would start its sequence over and mint the ids the document brought from another server,
    so the import starts a sequence of its own, named by the document and the account's
    import count: deterministic, and apart from every sequence the document's ids came from."""
    account.imports += 1
    digest = hashlib.sha256(document.model_dump_json().encode()).hexdigest()[:32]
    return IdSource(account.seed, account.account_id, "import", str(account.imports), digest)


def _webhook(account: Account, spec: StateWebhook, now: float) -> Webhook:
    created = parse_iso(spec.created_at) if spec.created_at else now
    return Webhook(
        webhook_id=spec.webhook_id or account.ids.new("wh"),
        url=spec.url,
        events=tuple(spec.events),
        active=spec.active,
        secret=spec.secret or account.tokens.webhook_secret(),
        created_at=created,
        updated_at=parse_iso(spec.updated_at) if spec.updated_at else created,
    )


def _key(account: Account, spec: StateKey, now: float) -> ApiKey:
    return ApiKey(
        key_id=spec.key_id or account.ids.new("key", 12),
        name=spec.name,
        secret=spec.key,
        scopes=frozenset(spec.scopes),
        created_at=parse_iso(spec.created_at) if spec.created_at else now,
        last_used_at=parse_iso(spec.last_used_at) if spec.last_used_at else None,
        revoked_at=parse_iso(spec.revoked_at) if spec.revoked_at else None,
    )


def _apply_settings(account: Account, document: StateDocument) -> None:
    settings = document.settings
    if document.tier is not None:
        account.base_tier = document.tier
        account.set_tier(document.tier)
    if settings.clock is not None:
        spec = settings.clock
        at = parse_iso(spec.now) if spec.now else None
        account.clock.set(mode=spec.mode, now=at, scale=spec.scale, at_least=True)
    if settings.job_timing is not None:
        account.job_timing = settings.job_timing
    if settings.callback_secret is not None:
        account.callback_secret = settings.callback_secret


def import_state(
    account: Account,
    document: StateDocument,
    *,
    registry: Accounts,
    library: Mapping[str, Scenario],
    keep: ApiKey | None = None,
) -> Imported:
    """Make the account's world the document's (see the module docstring); 400 naming every
    field that cannot be applied, before anything changes."""
    problems = _check(account, document, registry, library, keep)
    if problems:
        raise ValidationFailed(details=problems)
    settings = document.settings
    own = account.scenarios.own
    if "scenario" in settings.model_fields_set:
        given = settings.scenario
        own = None if given is None else (given.scenario or library[given.name or ""])
    account.use_scenario(None)  # settings apply beneath the scenario, which comes back last
    account.ids = _ids_after(account, document)
    _apply_settings(account, document)
    if document.presets is not None:
        account.presets = tuple(document.presets)
    now = account.now()
    if document.webhooks is not None:
        account.webhooks.clear()
        for hook in document.webhooks:
            account.webhooks.add(_webhook(account, hook, now))
    if document.keys is not None:
        keys = [_key(account, key, now) for key in document.keys]
        if keep is not None and all(key.secret != keep.secret for key in keys):
            keys.insert(0, keep)
        registry.replace_keys(account, keys)
    account.scheduler.clear()
    account.jobs.clear()
    for seq, spec in enumerate(document.jobs, start=1):
        account.jobs.restore(restore_job(account, spec, seq, now))
    if own is not None:
        account.use_scenario(own)
    return Imported(
        jobs=len(document.jobs),
        webhooks=None if document.webhooks is None else len(document.webhooks),
        keys=None if document.keys is None else len(document.keys),
    )


def state_from_fixture(
    jobs: list[dict[str, object]], webhooks: list[dict[str, object]], catalog: Catalog
) -> StateDocument:
    """The document of a fixture account's webhooks and jobs (its keys are made with it),
    checked with the file already (`catalog.py`)."""
    document = {"jobs": jobs, "webhooks": webhooks or None}
    return StateDocument.model_validate(document, context={"catalog": catalog})

"""Import a state document into an account (`export.py` makes one).

Import checks the whole document first (ids and keys given twice, keys that belong to another
account, unknown scenarios) and changes nothing unless all of it can be applied. Then `jobs`
replaces the account's jobs; the tier, presets, webhooks, keys and each setting replace the
account's when the document gives them. The key making the import is kept even when the
document leaves it out, so an import never locks out its caller. The clock only moves forward:
a document's `now` before the account's clock leaves the clock where it is. Usage, the audit
trail, the journal, deliveries (each pending one's next attempt due again) and the scenario's
rule counts replace the account's when given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from ...errors import ValidationFailed
from ..accounts import Account
from ..catalog import Catalog
from ..clock import parse_iso
from ..deliveries import DELIVERY_KIND
from ..ids import IdSource
from ..jobs import Job
from ..keys import ApiKey
from ..registry import Accounts
from ..scenarios import Scenario
from ..webhooks import Webhook
from .document import StateDocument, StateKey, StateWebhook
from .jobs import restore_job
from .records import (
    Entry,
    audit_from,
    delivery_from,
    journal_from,
    time_in,
    usage_from,
)


@dataclass(frozen=True)
class Imported:
    """How many of each the document brought (None: the document left them as they were)."""

    jobs: int
    webhooks: int | None
    keys: int | None


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


def _ids_after(account: Account, digest: str) -> IdSource:
    """The sequence the account's ids come from after the import. A fresh server's account
    would start its sequence over and mint the ids the document brought from another server,
    so the import starts a sequence of its own, named by the document and the account's
    import count: deterministic, and apart from every sequence the document's ids came from."""
    account.imports += 1
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


def new_key(account: Account, spec: StateKey, now: float) -> ApiKey:
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


@dataclass
class Parts:
    """A document's long lists as plain entries: from a checked document (`model_dump`), or
    from the data directory, which wrote them and is trusted (100,000 jobs are not checked
    field by field at start-up). None: the document left that part as it was."""

    jobs: list[Entry]
    job_rows: list[tuple[list[Any], bytes]] = field(default_factory=list)  # a store's
    deliveries: Entry | None = None
    journal: Entry | None = None
    audit: Entry | None = None

    @classmethod
    def of(cls, document: StateDocument) -> Parts:
        def dumped(part: BaseModel | None) -> Entry | None:
            return None if part is None else part.model_dump()

        return cls(
            jobs=[job.model_dump() for job in document.jobs],
            deliveries=dumped(document.deliveries),
            journal=dumped(document.journal),
            audit=dumped(document.audit),
        )


@dataclass(frozen=True)
class Prepared:
    """A checked document made ready to apply: its lists as entries, and its digest. Making
    it touches no account, so the HTTP layer does it in a worker thread (`prepare`)."""

    document: StateDocument
    parts: Parts
    digest: str


def prepare(document: StateDocument) -> Prepared:
    digest = hashlib.sha256(document.model_dump_json().encode()).hexdigest()[:32]
    return Prepared(document, Parts.of(document), digest)


def import_state(
    account: Account,
    document: StateDocument | Prepared,
    *,
    registry: Accounts,
    library: Mapping[str, Scenario],
    keep: ApiKey | None = None,
) -> Imported:
    """Make the account's world the document's (see the module docstring); 400 naming every
    field that cannot be applied, before anything changes."""
    prepared = document if isinstance(document, Prepared) else prepare(document)
    document = prepared.document
    problems = _check(account, document, registry, library, keep)
    if problems:
        raise ValidationFailed(details=problems)
    account.ids = _ids_after(account, prepared.digest)
    apply_document(account, document, prepared.parts, registry=registry, library=library, keep=keep)
    return Imported(
        jobs=len(document.jobs),
        webhooks=None if document.webhooks is None else len(document.webhooks),
        keys=None if document.keys is None else len(document.keys),
    )


def apply_document(
    account: Account,
    document: StateDocument,
    parts: Parts,
    *,
    registry: Accounts,
    library: Mapping[str, Scenario],
    keep: ApiKey | None = None,
) -> None:
    """Apply a document whose long lists come as `parts` (see `Parts`)."""
    settings = document.settings
    own = account.scenarios.own
    if "scenario" in settings.model_fields_set:
        given = settings.scenario
        own = None if given is None else (given.scenario or library[given.name or ""])
    account.use_scenario(None)  # settings apply beneath the scenario, which comes back last
    _apply_settings(account, document)
    if document.presets is not None:
        account.presets = tuple(document.presets)
    now = account.now()
    if document.webhooks is not None:
        account.webhooks.clear()
        for hook in document.webhooks:
            account.webhooks.add(_webhook(account, hook, now))
    if document.keys is not None:
        keys = [new_key(account, key, now) for key in document.keys]
        if keep is not None and all(key.secret != keep.secret for key in keys):
            keys.insert(0, keep)
        registry.replace_keys(account, keys)
    if document.usage is not None:
        account.usage = usage_from(document.usage.model_dump())
    if parts.audit is not None:
        records = [audit_from(r) for r in parts.audit["records"]]
        account.audit.restore(records, parts.audit["seq"])
    if parts.journal is not None:
        entries = [journal_from(entry) for entry in parts.journal["entries"]]
        account.journal.restore(entries, parts.journal["added"], parts.journal["evicted"])
    account.scheduler.clear()
    account.jobs.clear()
    for seq, job in enumerate(parts.jobs, start=1):
        account.jobs.restore(restore_job(account, job, job.get("seq") or seq, now))
    for row, timeline in parts.job_rows:
        account.jobs.restore(Job.from_row(row, timeline))
    if parts.deliveries is not None:
        restore_deliveries(account, parts.deliveries)
    else:
        reschedule_deliveries(account)
    if own is not None:
        account.use_scenario(own)
    if document.scenario_progress is not None:
        restore_progress(account, document.scenario_progress.model_dump())
    account.changes.everything()


def restore_deliveries(account: Account, spec: Entry) -> None:
    """The delivery log becomes the entry's, each pending delivery's next attempt due again."""
    log = account.deliveries
    log.clear()
    for item in spec["items"]:
        log.add(delivery_from(item))
    log.added, log.abandoned = spec["added"], spec["abandoned"]
    account.attempts_recorded = spec["attempts_recorded"]
    reschedule_deliveries(account)


def reschedule_deliveries(account: Account) -> None:
    """Schedule again the next attempt of every pending delivery (the scheduler was cleared)."""
    for delivery in account.deliveries.all():
        if delivery.status == "pending" and delivery.next_attempt_at is not None:
            account.scheduler.schedule(
                delivery.next_attempt_at, DELIVERY_KIND, delivery.delivery_id
            )


def restore_progress(account: Account, spec: Entry) -> None:
    counts = {
        (r["scenario"], r["kind"], r["index"]): (r["matched"], r["fired"]) for r in spec["rules"]
    }
    account.scenarios.restore_progress(
        time_in(spec["own_since"]) or 0.0, parse_iso(spec["server_since"]), counts
    )


def state_from_fixture(
    jobs: list[dict[str, object]], webhooks: list[dict[str, object]], catalog: Catalog
) -> StateDocument:
    """The document of a fixture account's webhooks and jobs (its keys are made with it),
    checked with the file already (`catalog.py`)."""
    document = {"jobs": jobs, "webhooks": webhooks or None}
    return StateDocument.model_validate(document, context={"catalog": catalog})

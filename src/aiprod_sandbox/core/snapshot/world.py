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
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from ...errors import ValidationFailed
from ..accounts import Account
from ..catalog import Catalog
from ..clock import Clock, iso_ms, parse_iso
from ..deliveries import DELIVERY_KIND
from ..ids import IdSource
from ..jobs import Job
from ..keys import ApiKey
from ..registry import Accounts
from ..scenarios import Scenario
from ..store import StoredAccount
from ..webhooks import Webhook
from .document import STATE_VERSION, StateDocument, StateKey, StateWebhook
from .jobs import job_entry, restore_job
from .records import (
    Entry,
    audit_entry,
    audit_from,
    delivery_entry,
    delivery_from,
    journal_entry,
    journal_from,
    time_in,
    time_out,
    usage_entry,
    usage_from,
)


@dataclass(frozen=True)
class Imported:
    """How many of each the document brought (None: the document left them as they were)."""

    jobs: int
    webhooks: int | None
    keys: int | None


def _scenario_out(own: Scenario | None, library: Mapping[str, Scenario]) -> Entry | None:
    if own is None:
        return None
    if library.get(own.name) == own:
        return {"name": own.name, "scenario": None}
    return {"name": None, "scenario": own.model_dump(mode="json")}


def export_state(account: Account, library: Mapping[str, Scenario]) -> Entry:
    """The whole account as a document's JSON values (made, not validated: an account may
    hold more jobs than one import takes)."""
    document = export_head(account, library)
    document["jobs"] = [job_entry(job) for job in account.jobs.listing(sort="created_at")]
    return document


def export_head(account: Account, library: Mapping[str, Scenario], *, lists: bool = True) -> Entry:
    """The document without its jobs (`jobs`, the last field, empty): what comes before them
    when they are written out a few at a time. Without `lists`, the journal's entries, the
    deliveries and the key events are left out too (their counts stay): the part a store
    writes on every change (it keeps the lists row by row)."""
    clock = account.clock
    job_timing, mode = account.own_settings
    journal, deliveries, audit = account.journal, account.deliveries, account.audit
    return {
        "version": STATE_VERSION,
        "account_id": account.account_id,
        "tier": account.base_tier,
        "settings": {
            "job_timing": job_timing,
            "clock": {"mode": mode, "now": iso_ms(clock.now()), "scale": clock.scale},
            "callback_secret": account.callback_secret,
            "scenario": _scenario_out(account.scenarios.own, library),
        },
        "presets": None
        if account.presets is None
        else [preset.model_dump(mode="json") for preset in account.presets],
        "webhooks": [
            {
                "webhook_id": hook.webhook_id,
                "url": hook.url,
                "events": list(hook.events),
                "active": hook.active,
                "secret": hook.secret,
                "created_at": iso_ms(hook.created_at),
                "updated_at": iso_ms(hook.updated_at),
            }
            for hook in account.webhooks.all()
        ],
        "keys": [
            {
                "key_id": key.key_id,
                "name": key.name,
                "key": key.secret,
                "scopes": key.scope_list,
                "created_at": iso_ms(key.created_at),
                "last_used_at": time_out(key.last_used_at),
                "revoked_at": time_out(key.revoked_at),
            }
            for key in account.keys.values()
        ],
        "usage": usage_entry(account.usage),
        "audit": {
            "records": [audit_entry(r) for r in audit.items] if lists else [],
            "seq": audit.seq,
        },
        "scenario_progress": _progress_out(account),
        "journal": {
            "entries": [journal_entry(entry) for entry in journal] if lists else [],
            "added": journal.added,
            "evicted": journal.evicted,
        },
        "deliveries": {
            "items": [delivery_entry(d) for d in deliveries.all()] if lists else [],
            "added": deliveries.added,
            "abandoned": deliveries.abandoned,
            "attempts_recorded": account.attempts_recorded,
        },
        "jobs": [],
    }


def _progress_out(account: Account) -> Entry:
    state = account.scenarios
    return {
        "own_since": None if state.own is None else iso_ms(state.own_since),
        "server_since": iso_ms(state.server_since),
        "rules": [
            {"scenario": name, "kind": kind, "index": index, "matched": m, "fired": f}
            for (name, kind, index), (m, f) in state.progress().items()
        ],
    }


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
        keys = [_key(account, key, now) for key in document.keys]
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


def internal_of(account: Account) -> Entry:
    """What a store keeps of an account besides its document: the clock's anchors (a real
    clock moves on while the server is down), the settings beneath a scenario, the keys it
    began with, and the counts that name its id sequences."""
    anchor, wall_anchor = account.clock.anchors()
    clock = account.clock
    before = account.before_scenario
    return {
        "clock": {"mode": clock.mode, "scale": clock.scale, "anchor": anchor, "wall": wall_anchor},
        "before_scenario": list(before) if before else None,
        "origin_keys": [
            {
                "key_id": key.key_id,
                "name": key.name,
                "key": key.secret,
                "scopes": key.scope_list,
                "created_at": iso_ms(key.created_at),
                "revoked_at": time_out(key.revoked_at),
            }
            for key in account.origin_keys
        ],
        "imports": account.imports,
        "restarts": account.restarts,
        "changed_settings": account.changed_settings,
    }


def restore_stored(
    account: Account, stored: StoredAccount, *, registry: Accounts, library: Mapping[str, Scenario]
) -> None:
    """Bring back an account a store kept (`store.py`): its head is checked as a document
    (it is small), its long lists are the store's own rows. Its ids come from a sequence of
    their own for each restart, so none repeats one minted before."""
    head, internal = dict(stored.head), stored.internal
    journal, deliveries, audit = head.pop("journal"), head.pop("deliveries"), head.pop("audit")
    head["settings"] = {**head["settings"], "clock": None}
    document = StateDocument.model_validate(head)
    parts = Parts(
        jobs=stored.jobs,
        job_rows=stored.job_rows,
        deliveries={**deliveries, "items": stored.deliveries},
        journal={**journal, "entries": stored.journal},
        audit={**audit, "records": stored.audit},
    )
    clock = internal["clock"]
    account.clock = Clock.resume(
        account.clock.wall, clock["mode"], clock["scale"], clock["anchor"], clock["wall"]
    )
    apply_document(account, document, parts, registry=registry, library=library)
    before = internal.get("before_scenario")
    if before is not None and account.scenarios.own is not None:
        account.before_scenario = (before[0], before[1])
        if account.clock.mode != clock["mode"]:
            account.clock.set(mode=clock["mode"])
    registry.adopt_origin(
        account, [_key(account, StateKey(**key), 0.0) for key in internal["origin_keys"]]
    )
    account.imports = internal.get("imports", 0)
    account.restarts = internal.get("restarts", 0) + 1
    account.changed_settings = internal.get("changed_settings", False)
    account.ids = IdSource(account.seed, account.account_id, "restart", str(account.restarts))
    account.request_ids = IdSource(
        account.seed, account.account_id, "requests", "restart", str(account.restarts)
    )


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

"""Export: one account's world as the state document's JSON values (`GET /_sandbox/state`,
`aiprod-sandbox state export`, and the head a store writes on every change)."""

from __future__ import annotations

from collections.abc import Mapping

from ..accounts import Account
from ..clock import iso_ms
from ..scenarios import Scenario
from .document import STATE_VERSION
from .jobs import job_entry
from .records import Entry, audit_entry, delivery_entry, journal_entry, time_out, usage_entry


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

"""An account as a store keeps it, and back (`core/store.py`): its document's head, what
the sandbox keeps besides (`internal_of`), and its rows, restored through the import's code."""

from __future__ import annotations

from collections.abc import Mapping

from ..accounts import Account
from ..clock import Clock, iso_ms
from ..ids import IdSource
from ..registry import Accounts
from ..scenarios import Scenario
from ..store import StoredAccount
from .document import StateDocument, StateKey
from .records import Entry, time_out
from .world import Parts, apply_document, new_key


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
        account, [new_key(account, StateKey(**key), 0.0) for key in internal["origin_keys"]]
    )
    account.imports = internal.get("imports", 0)
    account.restarts = internal.get("restarts", 0) + 1
    account.changed_settings = internal.get("changed_settings", False)
    account.ids = IdSource(account.seed, account.account_id, "restart", str(account.restarts))
    account.request_ids = IdSource(
        account.seed, account.account_id, "requests", "restart", str(account.restarts)
    )

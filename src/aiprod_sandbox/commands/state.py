"""`aiprod-sandbox state export|import`: one account's whole world as a state document, from
or into a running sandbox (`--url`, through `GET`/`PUT /_sandbox/state`) or a data directory
no server is using (`--data-dir`, opened directly: its lock keeps a server out meanwhile).

The account is the one `--key` opens (a key not yet in a data directory opens a new account,
named from the key and `--seed` as the server would) or, on a data directory, `--account`.
Errors are the sandbox's own words, one line, with exit code 1; usage errors exit 2.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import SandboxError
from .client import DEFAULT_KEY, CommandError, SandboxClient

if TYPE_CHECKING:
    from ..core.accounts import Account
    from ..core.keys import ApiKey
    from ..core.sandbox import Sandbox
    from ..core.snapshot import StateDocument


@dataclass(frozen=True)
class Target:
    url: str | None
    data_dir: Path | None
    key: str | None
    account_id: str | None
    seed: int | None


def export(target: Target, out: Path | None) -> int:
    text = _export_dir(target) if target.data_dir else _export_url(target)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        out.write_text(text + "\n", encoding="utf-8")
    return 0


def import_(target: Target, source: Path) -> int:
    raw = sys.stdin.buffer.read() if str(source) == "-" else source.read_bytes()
    summary = _import_dir(target, raw) if target.data_dir else _import_url(target, raw)
    print(summary)
    return 0


# ---- a running sandbox -------------------------------------------------------------------------
def _export_url(target: Target) -> str:
    with SandboxClient(target.url, target.key) as client:
        return client.request("GET", "/_sandbox/state").text


def _import_url(target: Target, raw: bytes) -> str:
    headers = {"Content-Type": "application/json"}
    with SandboxClient(target.url, target.key) as client:
        return _summary(client.json("PUT", "/_sandbox/state", content=raw, headers=headers))


# ---- a data directory --------------------------------------------------------------------------
def _open(target: Target) -> Sandbox:
    from ..app import build_sandbox
    from ..settings import Settings

    flags: dict[str, object] = {"data_dir": target.data_dir}
    if target.seed is not None:
        flags["seed"] = target.seed
    return build_sandbox(Settings.load(flags))


def _export_dir(target: Target) -> str:
    from ..core.snapshot import dumps, export_state

    sandbox = _open(target)
    try:
        account, _ = _find(sandbox, target, opening=False)
        return dumps(export_state(account, sandbox.scenario_library))
    finally:
        sandbox.store.close(write=False)  # an export changes nothing


def _import_dir(target: Target, raw: bytes) -> str:
    from ..core.snapshot import StateDocument, import_state

    sandbox = _open(target)
    try:
        opened = target.account_id is None and not sandbox.accounts.lookup(
            target.key or DEFAULT_KEY
        )
        account, key = _find(sandbox, target, opening=True)
        presets = frozenset(p.id for p in account.preset_list)
        context = {"catalog": sandbox.catalog, "presets": presets}
        try:
            document = StateDocument.model_validate_json(raw, context=context)
        except ValueError as exc:
            raise CommandError(f"not a state document: {exc}") from exc
        if opened:  # a new account: its clock starts where the document's stood
            _start_clock(account, document)
        library = sandbox.scenario_library
        try:
            done = import_state(
                account, document, registry=sandbox.accounts, library=library, keep=key
            )
        except SandboxError as exc:
            raise CommandError(_problems(exc)) from exc
        sandbox.store.commit(account)
        counts = {"jobs": done.jobs, "webhooks": done.webhooks, "keys": done.keys}
        return _summary({f"imported_{name}": count for name, count in counts.items()})
    finally:
        sandbox.store.close()


def _start_clock(account: Account, document: StateDocument) -> None:
    from ..core.clock import Clock, parse_iso

    given = document.settings.clock
    if given is not None and given.now is not None:
        account.clock = Clock(
            account.clock.wall, mode=given.mode, start=parse_iso(given.now), scale=given.scale
        )


def _find(sandbox: Sandbox, target: Target, *, opening: bool) -> tuple[Account, ApiKey | None]:
    """The account `--account` names, or the one `--key` opens (with that key)."""
    if target.account_id is not None:
        account = sandbox.accounts.get(target.account_id)
        if account is None:
            raise CommandError(f"{target.data_dir} holds no account {target.account_id}")
        return account, None
    secret = target.key or DEFAULT_KEY
    try:
        found = sandbox.accounts.identify(secret) if opening else sandbox.accounts.lookup(secret)
    except SandboxError as exc:
        raise CommandError(_problems(exc)) from exc
    if found is None:
        raise CommandError(f"{target.data_dir} holds no account with that key")
    return found


def _problems(exc: SandboxError) -> str:
    details = "; ".join(f"{k}: {v}" for k, v in (exc.details or {}).items())
    return f"{exc.code}: {exc.message}" + (f" ({details})" if details else "")


def _summary(done: dict[str, object]) -> str:
    return json.dumps(done)

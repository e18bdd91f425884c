"""The data the sandbox serves and checks against, loaded from `fixtures/` at start.

Presets, music styles, languages, tiers, magic outcomes and named accounts are data, not code.
The shipped folder is read first; a folder given with `--fixtures DIR` overrides it file by
file. Every file is validated here (read by `core/yamlfile.py`), and every problem of every
file stops the server as one `file:line: field: message` each: a `FixtureError`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, Field, ValidationError, model_validator

from . import yamlfile
from .clock import IsoTime
from .keys import MAX_KEY_LENGTH, SCOPES
from .schema import FrozenModel
from .tiers import TIERS, Tier

M = TypeVar("M", bound=BaseModel)


class FixtureError(yamlfile.FileError):
    """Fixture files that cannot be used; `problems` has one `file:line: field: message` each."""


class Preset(FrozenModel):
    id: str
    name: str
    description: str
    music_style: str
    resolution: str
    base_duration_seconds: int = Field(gt=0)
    cost_per_minute: float = Field(ge=0)
    created_at: str


class MusicStyle(FrozenModel):
    id: str
    name: str
    description: str


class TierLimits(FrozenModel):
    requests_per_minute: int | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, gt=0)
    concurrent_jobs: int = Field(gt=0)
    batch: bool


class JobErrorSpec(FrozenModel):
    type: str
    code: str
    message: str


class Outcome(FrozenModel):
    kind: Literal["fail", "pending", "slow"]
    error: JobErrorSpec | None = None
    fail_at_progress: int | None = Field(default=None, ge=0, le=90)
    queue_seconds: float | None = Field(default=None, ge=0)
    processing_seconds: float | None = Field(default=None, gt=0)


def _known_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; known: {', '.join(SCOPES)}")
    return scope


class FixtureKey(FrozenModel):
    """A key as the state document has one (`key_id` and the times are optional)."""

    key: str = Field(max_length=MAX_KEY_LENGTH)
    name: str = "Fixture key"
    scopes: list[Annotated[str, AfterValidator(_known_scope)]] | None = None
    key_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    created_at: IsoTime | None = None
    last_used_at: IsoTime | None = None
    revoked_at: IsoTime | None = None


class FixtureAccount(FrozenModel):
    account_id: str
    tier: Tier = "pro"
    limits: dict[str, Any] | None = None  # checked with tiers.yaml: they complete the tier's
    keys: list[FixtureKey]
    # Entries of the state document (checked as such: see `_check_worlds`).
    jobs: list[dict[str, Any]] = []
    webhooks: list[dict[str, Any]] = []


class AdviceRule(FrozenModel):
    title: str
    guide: str
    why: str
    fix: str


class _AdviceFile(FrozenModel):
    rules: dict[str, AdviceRule]


class _PresetsFile(FrozenModel):
    presets: list[Preset]


class _StylesFile(FrozenModel):
    music_styles: list[MusicStyle]


class _LanguagesFile(FrozenModel):
    languages: list[str]


class _TiersFile(FrozenModel):
    tiers: dict[Tier, TierLimits]


class _OutcomesFile(FrozenModel):
    outcomes: dict[str, Outcome]


class _AccountsFile(FrozenModel):
    accounts: list[FixtureAccount] = []

    @model_validator(mode="after")
    def _once(self) -> _AccountsFile:
        """An account id or a key given twice would silently replace the first."""
        ids: dict[str, int] = {}
        keys: dict[str, str] = {}
        for index, account in enumerate(self.accounts):
            first = ids.setdefault(account.account_id, index)
            if first != index:
                raise yamlfile.problem_at(
                    ("accounts", index, "account_id"),
                    f"account {account.account_id!r} is already accounts[{first}]",
                )
            for number, key in enumerate(account.keys):
                here = f"accounts[{index}].keys[{number}]"
                if keys.setdefault(key.key, here) != here:
                    raise yamlfile.problem_at(
                        ("accounts", index, "keys", number, "key"),
                        f"this key is already {keys[key.key]}: a key opens one account",
                    )
        return self


@dataclass(frozen=True)
class Catalog:
    """Everything loaded from the fixtures folders."""

    presets: tuple[Preset, ...]
    music_styles: tuple[MusicStyle, ...]
    languages: frozenset[str]
    tiers: Mapping[str, TierLimits]
    outcomes: Mapping[str, Outcome]
    accounts: tuple[FixtureAccount, ...]
    sample_video: bytes
    advice: Mapping[str, AdviceRule]

    def preset(self, preset_id: str) -> Preset | None:
        for preset in self.presets:
            if preset.id == preset_id:
                return preset
        return None

    @functools.cached_property  # asked on every job submitted
    def style_ids(self) -> frozenset[str]:
        return frozenset(style.id for style in self.music_styles)

    @functools.cached_property
    def preset_ids(self) -> frozenset[str]:
        return frozenset(preset.id for preset in self.presets)


def shipped_fixtures() -> Path:
    """The fixtures folder inside the installed wheel, or the source tree's in development."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "_data" / "fixtures"
    if packaged.is_dir():
        return packaged
    return here.parent.parent / "fixtures"


def _find(folders: list[Path], name: str) -> Path | None:
    """The override folder's file if it has one, else the shipped one."""
    return next((f / name for f in reversed(folders) if (f / name).is_file()), None)


class _Files:
    """Reads fixture files, keeping every problem of every file until all are read."""

    def __init__(self, folders: list[Path]) -> None:
        self.folders = folders
        self.documents: dict[str, yamlfile.Document] = {}
        self.problems: list[str] = []

    def load(self, name: str, model: type[M]) -> M | None:
        path = _find(self.folders, name)
        if path is None:
            self.missing(name)
            return None
        try:
            document = self.documents[name] = yamlfile.read(path)
            return document.validate(model)
        except yamlfile.FileError as exc:
            self.problems += exc.problems
            return None

    def missing(self, name: str) -> None:
        looked = ", ".join(map(str, self.folders))
        self.problems.append(f"{self.folders[-1] / name}:0: (file): not found (looked in {looked})")

    def problem(self, name: str, loc: tuple[Any, ...], message: str) -> None:
        self.problems.append(self.documents[name].problem(loc, message))


def load_catalog(override: Path | None = None) -> Catalog:
    folders = [shipped_fixtures()]
    if override is not None:
        if not override.is_dir():
            raise FixtureError([f"{override}:0: --fixtures: not a folder"])
        folders.append(override)
    files = _Files(folders)
    presets = files.load("presets.yaml", _PresetsFile)
    styles = files.load("music_styles.yaml", _StylesFile)
    languages = files.load("languages.yaml", _LanguagesFile)
    tiers = files.load("tiers.yaml", _TiersFile)
    outcomes = files.load("outcomes.yaml", _OutcomesFile)
    accounts = files.load("accounts.yaml", _AccountsFile)
    advice = files.load("advice.yaml", _AdviceFile)
    if tiers is not None:
        missing = [name for name in TIERS if name not in tiers.tiers]
        if missing:
            files.problem("tiers.yaml", ("tiers",), f"missing {', '.join(missing)}")
    if presets is not None and styles is not None:
        known = [style.id for style in styles.music_styles]
        for index, preset in enumerate(presets.presets):
            if preset.music_style not in known:
                message = f"unknown music style {preset.music_style!r}; known: {', '.join(known)}"
                files.problem("presets.yaml", ("presets", index, "music_style"), message)
    if tiers is not None and accounts is not None:
        _check_limits(files, accounts, tiers)
    video_path = _find(folders, "sample.mp4")
    if video_path is None:
        files.missing("sample.mp4")
    if files.problems:
        raise FixtureError(files.problems)
    assert presets and styles and languages and tiers and outcomes and accounts and advice
    assert video_path is not None  # (mypy: each is None only with a problem told)
    catalog = Catalog(
        presets=tuple(presets.presets),
        music_styles=tuple(styles.music_styles),
        languages=frozenset(languages.languages),
        tiers={str(name): limits for name, limits in tiers.tiers.items()},
        outcomes=dict(outcomes.outcomes),
        accounts=tuple(accounts.accounts),
        sample_video=video_path.read_bytes(),
        advice=dict(advice.rules),
    )
    _check_worlds(files, accounts, catalog)  # the catalogue whole: jobs name its values
    if files.problems:
        raise FixtureError(files.problems)
    return catalog


def _check_limits(files: _Files, accounts: _AccountsFile, tiers: _TiersFile) -> None:
    """An account's `limits` complete its tier's, so they are checked as the tier's are: at
    start, not when the account is made."""
    for index, account in enumerate(accounts.accounts):
        if account.limits is None or account.tier not in tiers.tiers:
            continue
        try:
            TierLimits.model_validate({**tiers.tiers[account.tier].model_dump(), **account.limits})
        except ValidationError as exc:
            under = ("accounts", index, "limits")
            files.problems += files.documents["accounts.yaml"].explain(exc, under=under)


def _check_worlds(files: _Files, accounts: _AccountsFile, catalog: Catalog) -> None:
    """An account's webhooks and jobs are what a state document holds for it, so they are
    checked as the document's are (URLs, events, secrets, times, statuses)."""
    from .snapshot.document import StateDocument  # the state package imports this module

    for index, account in enumerate(accounts.accounts):
        try:
            StateDocument.model_validate(
                {"webhooks": account.webhooks, "jobs": account.jobs}, context={"catalog": catalog}
            )
        except ValidationError as exc:
            files.problems += files.documents["accounts.yaml"].explain(
                exc, under=("accounts", index)
            )

"""The data the sandbox serves and checks against, loaded from `fixtures/` at start.

Presets, music styles, languages, tiers, magic outcomes and named accounts are data, not code.
The shipped folder is read first; a folder given with `--fixtures DIR` overrides it file by
file. Every file is validated here, and a bad one stops the server with its name and field.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Preset(_Strict):
    id: str
    name: str
    description: str
    music_style: str
    resolution: str
    base_duration_seconds: int = Field(gt=0)
    cost_per_minute: float = Field(ge=0)
    created_at: str


class MusicStyle(_Strict):
    id: str
    name: str
    description: str


class TierLimits(_Strict):
    requests_per_minute: int | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, gt=0)
    concurrent_jobs: int = Field(gt=0)
    batch: bool


class JobErrorSpec(_Strict):
    type: str
    code: str
    message: str


class Outcome(_Strict):
    kind: Literal["fail", "pending", "slow"]
    error: JobErrorSpec | None = None
    fail_at_progress: int | None = Field(default=None, ge=0, le=90)
    queue_seconds: float | None = Field(default=None, ge=0)
    processing_seconds: float | None = Field(default=None, gt=0)


class FixtureKey(_Strict):
    key: str
    name: str = "Fixture key"
    scopes: list[str] | None = None


class FixtureAccount(_Strict):
    account_id: str
    tier: Literal["free", "pro", "enterprise"] = "pro"
    limits: dict[str, Any] | None = None
    keys: list[FixtureKey]
    jobs: list[dict[str, Any]] = []
    webhooks: list[dict[str, Any]] = []


class AdviceRule(_Strict):
    title: str
    guide: str
    why: str
    fix: str


class _AdviceFile(_Strict):
    rules: dict[str, AdviceRule]


class _PresetsFile(_Strict):
    presets: list[Preset]


class _StylesFile(_Strict):
    music_styles: list[MusicStyle]


class _LanguagesFile(_Strict):
    languages: list[str]


class _TiersFile(_Strict):
    tiers: dict[Literal["free", "pro", "enterprise"], TierLimits]


class _OutcomesFile(_Strict):
    outcomes: dict[str, Outcome]


class _AccountsFile(_Strict):
    accounts: list[FixtureAccount] = []


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


def _read(folders: list[Path], name: str) -> tuple[Path, Any]:
    for folder in reversed(folders):  # the override folder wins
        path = folder / name
        if path.is_file():
            try:
                return path, yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as exc:
                raise ConfigError(f"{path}: cannot read fixture file: {exc}") from exc
    raise ConfigError(f"fixture file {name} not found in {', '.join(map(str, folders))}")


def _model(folders: list[Path], name: str, model: type[M]) -> M:
    path, data = _read(folders, name)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or '(file)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc


def load_catalog(override: Path | None = None) -> Catalog:
    folders = [shipped_fixtures()]
    if override is not None:
        if not override.is_dir():
            raise ConfigError(f"--fixtures {override}: not a folder")
        folders.append(override)
    presets = _model(folders, "presets.yaml", _PresetsFile).presets
    styles = _model(folders, "music_styles.yaml", _StylesFile).music_styles
    languages = _model(folders, "languages.yaml", _LanguagesFile).languages
    tiers = _model(folders, "tiers.yaml", _TiersFile).tiers
    outcomes = _model(folders, "outcomes.yaml", _OutcomesFile).outcomes
    accounts = _model(folders, "accounts.yaml", _AccountsFile).accounts
    advice = _model(folders, "advice.yaml", _AdviceFile).rules
    missing = {"free", "pro", "enterprise"} - set(tiers)
    if missing:
        raise ConfigError(f"tiers.yaml: missing tiers {sorted(missing)}")
    style_ids = {style.id for style in styles}
    for preset in presets:
        if preset.music_style not in style_ids:
            raise ConfigError(
                f"presets.yaml: {preset.id}: unknown music_style {preset.music_style}"
            )
    video_path = next(
        (
            folder / "sample.mp4"
            for folder in reversed(folders)
            if (folder / "sample.mp4").is_file()
        ),
        None,
    )
    if video_path is None:
        raise ConfigError("fixture file sample.mp4 not found")
    return Catalog(
        presets=tuple(presets),
        music_styles=tuple(styles),
        languages=frozenset(languages),
        tiers={str(name): limits for name, limits in tiers.items()},
        outcomes=dict(outcomes),
        accounts=tuple(accounts),
        sample_video=video_path.read_bytes(),
        advice=dict(advice),
    )

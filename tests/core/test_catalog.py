"""The catalogue: shipped fixtures load and hold the guide's data; overrides and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiprod_sandbox.core.catalog import Catalog, load_catalog, shipped_fixtures
from aiprod_sandbox.errors import ConfigError

ONE_PRESET = """
presets:
  - id: only_one
    name: Only one
    description: The override's single preset
    music_style: jazz
    resolution: 1280x720
    base_duration_seconds: 30
    cost_per_minute: 0.1
    created_at: "2026-03-01T00:00:00Z"
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- the shipped fixtures ---------------------------------------------------------------------
def test_shipped_presets(catalog: Catalog) -> None:
    assert len(catalog.presets) >= 6
    assert "brand_campaign" in catalog.preset_ids
    brand = catalog.preset("brand_campaign")
    assert brand is not None and brand.music_style == "orchestral"
    assert catalog.preset("no_such_preset") is None
    assert len(catalog.preset_ids) == len(catalog.presets)  # ids are unique
    assert all(preset.music_style in catalog.style_ids for preset in catalog.presets)


def test_shipped_styles_and_languages(catalog: Catalog) -> None:
    assert {"orchestral", "upbeat"} <= catalog.style_ids
    assert {"en", "fr"} <= catalog.languages
    assert all(len(code) == 2 and code.islower() for code in catalog.languages)
    assert "english" not in catalog.languages


def test_shipped_tiers_have_the_guides_numbers(catalog: Catalog) -> None:
    figures = {
        name: (limits.requests_per_minute, limits.burst, limits.concurrent_jobs)
        for name, limits in catalog.tiers.items()
    }
    assert figures == {
        "free": (10, 5, 2),
        "pro": (100, 50, 10),
        "enterprise": (None, None, 50),
    }
    assert [catalog.tiers[name].batch for name in ("free", "pro", "enterprise")] == [
        False,
        True,
        True,
    ]


def test_shipped_outcomes_accounts_and_video(catalog: Catalog) -> None:
    assert {"fail_download", "stay_pending", "slow"} <= set(catalog.outcomes)
    assert {account.account_id for account in catalog.accounts} >= {"acct_example_pro"}
    assert catalog.sample_video[4:8] == b"ftyp"


def test_the_shipped_folder_is_found() -> None:
    assert (shipped_fixtures() / "presets.yaml").is_file()


# ---- overrides --------------------------------------------------------------------------------
def test_an_override_folder_replaces_a_file_and_keeps_the_others(tmp_path: Path) -> None:
    write(tmp_path, "presets.yaml", ONE_PRESET)
    catalog = load_catalog(tmp_path)
    assert [preset.id for preset in catalog.presets] == ["only_one"]
    assert {"orchestral", "upbeat"} <= catalog.style_ids  # still the shipped styles
    assert catalog.tiers["pro"].concurrent_jobs == 10


def test_an_override_can_change_tiers_and_accounts(tmp_path: Path) -> None:
    write(
        tmp_path,
        "tiers.yaml",
        """
tiers:
  free: {requests_per_minute: 1, burst: 1, concurrent_jobs: 1, batch: false}
  pro: {requests_per_minute: 2, burst: 2, concurrent_jobs: 2, batch: true}
  enterprise: {concurrent_jobs: 3, batch: true}
""",
    )
    write(
        tmp_path,
        "accounts.yaml",
        "accounts:\n  - {account_id: acct_mine, keys: [{key: sk_test_mine_000000000001}]}\n",
    )
    catalog = load_catalog(tmp_path)
    assert catalog.tiers["enterprise"].requests_per_minute is None
    assert catalog.tiers["free"].concurrent_jobs == 1
    assert [a.account_id for a in catalog.accounts] == ["acct_mine"]
    assert catalog.accounts[0].tier == "pro"


def test_an_override_can_replace_the_sample_video(tmp_path: Path) -> None:
    (tmp_path / "sample.mp4").write_bytes(b"\x00\x00\x00\x18ftypmine")
    assert load_catalog(tmp_path).sample_video == b"\x00\x00\x00\x18ftypmine"


def test_an_override_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a folder"):
        load_catalog(tmp_path / "missing")


# ---- broken files -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "text", "field"),
    [
        ("presets.yaml", ONE_PRESET.replace("    name: Only one\n", ""), "presets.0.name"),
        (
            "presets.yaml",
            ONE_PRESET.replace("base_duration_seconds: 30", "base_duration_seconds: -5"),
            "presets.0.base_duration_seconds",
        ),
        (
            "presets.yaml",
            ONE_PRESET.replace("resolution:", "colour: red\n    resolution:"),
            "colour",
        ),
        (
            "music_styles.yaml",
            "music_styles:\n  - {id: x, name: X}\n",
            "music_styles.0.description",
        ),
        ("languages.yaml", "languages: english\n", "languages"),
        (
            "tiers.yaml",
            "tiers:\n  free: {concurrent_jobs: 0, batch: false}\n",
            "tiers.free.concurrent_jobs",
        ),
        (
            "outcomes.yaml",
            "outcomes:\n  boom: {kind: explode}\n",
            "outcomes.boom.kind",
        ),
        (
            "outcomes.yaml",
            "outcomes:\n  late: {kind: fail, fail_at_progress: 95}\n",
            "outcomes.late.fail_at_progress",
        ),
        ("accounts.yaml", "accounts:\n  - {account_id: acct_x}\n", "accounts.0.keys"),
    ],
)
def test_a_broken_file_names_the_file_and_the_field(
    tmp_path: Path, name: str, text: str, field: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError) as caught:
        load_catalog(tmp_path)
    message = str(caught.value)
    assert str(path) in message
    assert field in message


@pytest.mark.parametrize("text", ["presets: [unclosed\n", "", "- just a list\n"])
def test_an_unreadable_or_empty_file_names_the_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "presets.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_catalog(tmp_path)
    assert str(path) in str(caught.value)


def test_missing_tiers_are_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        "tiers.yaml",
        "tiers:\n  free: {concurrent_jobs: 2, batch: false}\n"
        "  pro: {concurrent_jobs: 10, batch: true}\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_catalog(tmp_path)
    assert "tiers.yaml" in str(caught.value)
    assert "enterprise" in str(caught.value)


def test_a_preset_with_an_unknown_style_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "music_styles.yaml", "music_styles:\n  - {id: a, name: A, description: A}\n")
    with pytest.raises(ConfigError) as caught:
        load_catalog(tmp_path)
    assert "presets.yaml" in str(caught.value)
    assert "brand_campaign" in str(caught.value)
    assert "orchestral" in str(caught.value)

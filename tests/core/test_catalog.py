"""The catalogue: shipped fixtures load and hold the guide's data; overrides and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiprod_sandbox.core.catalog import Catalog, FixtureError, load_catalog, shipped_fixtures
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
# Every problem is one `file:line: field: message`, and every problem of every file is told at
# once: a FixtureError (a ConfigError, so `serve` exits 2; see tests/e2e/test_fixture_errors.py).
def problems_of(folder: Path) -> list[str]:
    with pytest.raises(FixtureError) as caught:
        load_catalog(folder)
    assert isinstance(caught.value, ConfigError)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


@pytest.mark.parametrize(
    ("name", "text", "line", "field", "message"),
    [
        (
            "presets.yaml",
            ONE_PRESET.replace("    name: Only one\n", ""),
            3,
            "presets[0].name",
            "Field required",
        ),
        (
            "presets.yaml",
            ONE_PRESET.replace("base_duration_seconds: 30", "base_duration_seconds: -5"),
            8,
            "presets[0].base_duration_seconds",
            "greater than 0",
        ),
        (
            "presets.yaml",
            ONE_PRESET.replace("resolution:", "colour: red\n    resolution:"),
            7,
            "presets[0].colour",
            "unknown field",
        ),
        (
            "presets.yaml",
            ONE_PRESET.replace("music_style: jazz", "music_style: polka"),
            6,
            "presets[0].music_style",
            "unknown music style 'polka'; known: orchestral",
        ),
        (
            "music_styles.yaml",
            "music_styles:\n  - {id: x, name: X}\n",
            2,
            "music_styles[0].description",
            "Field required",
        ),
        ("languages.yaml", "languages: english\n", 1, "languages", "valid list"),
        (
            "tiers.yaml",
            "tiers:\n  free: {concurrent_jobs: 0, batch: false}\n",
            2,
            "tiers.free.concurrent_jobs",
            "greater than 0",
        ),
        (
            "tiers.yaml",
            "tiers:\n  free: {concurrent_jobs: 2, batch: false}\n",
            1,
            "tiers",
            "missing pro, enterprise",
        ),
        (
            "outcomes.yaml",
            "outcomes:\n  boom: {kind: explode}\n",
            2,
            "outcomes.boom.kind",
            "'fail'",
        ),
        (
            "outcomes.yaml",
            "outcomes:\n  late: {kind: fail, fail_at_progress: 95}\n",
            2,
            "outcomes.late.fail_at_progress",
            "less than or equal to 90",
        ),
        (
            "accounts.yaml",
            "accounts:\n  - {account_id: acct_x}\n",
            2,
            "accounts[0].keys",
            "required",
        ),
        (
            "accounts.yaml",
            "accounts:\n  - account_id: acct_x\n    keys:\n      - key: sk_test_x_000000000001\n"
            "        scopes: [jobs:read, jobs:delete]\n",
            5,
            "accounts[0].keys[0].scopes[1]",
            "unknown scope 'jobs:delete'; known: jobs:read, jobs:write, webhooks:read,",
        ),
        (
            "accounts.yaml",
            "accounts:\n  - account_id: acct_x\n    limits:\n      requests_per_minute: fast\n"
            "    keys: [{key: sk_test_x_000000000001}]\n",
            4,
            "accounts[0].limits.requests_per_minute",
            "valid integer",
        ),
        (
            "accounts.yaml",
            "accounts:\n  - account_id: acct_x\n    limits: {speed: 3}\n"
            "    keys: [{key: sk_test_x_000000000001}]\n",
            3,
            "accounts[0].limits.speed",
            "unknown field",
        ),
        (
            "accounts.yaml",
            "accounts:\n  - {account_id: acct_x, keys: [{key: sk_test_x_000000000001}]}\n"
            "  - {account_id: acct_x, keys: [{key: sk_test_x_000000000002}]}\n",
            3,
            "accounts[1].account_id",
            "account 'acct_x' is already accounts[0]",
        ),
        (
            "accounts.yaml",
            "accounts:\n  - {account_id: acct_x, keys: [{key: sk_test_x_000000000001}]}\n"
            "  - account_id: acct_y\n    keys:\n      - key: sk_test_x_000000000001\n",
            5,
            "accounts[1].keys[0].key",
            "this key is already accounts[0].keys[0]",
        ),
    ],
)
def test_a_broken_file_names_file_line_and_field(
    tmp_path: Path, name: str, text: str, line: int, field: str, message: str
) -> None:
    path = write(tmp_path, name, text)
    [problem] = problems_of(tmp_path)
    assert problem.startswith(f"{path}:{line}: {field}: "), problem
    assert message in problem


def test_every_problem_of_every_file_at_once(tmp_path: Path) -> None:
    presets = write(tmp_path, "presets.yaml", "presets:\n  - id: x\n   name: [unclosed\n")
    languages = write(tmp_path, "languages.yaml", "languages: [en, 2]\n")
    tiers = write(tmp_path, "tiers.yaml", "tiers:\n  free: {concurrent_jobs: 0, batch: false}\n")
    accounts = write(
        tmp_path,
        "accounts.yaml",
        "accounts:\n"
        "  - account_id: acct_x\n"
        "    keys: [{key: sk_test_x_000000000001, scopes: [jobs:read, everything]}]\n",
    )
    assert problems_of(tmp_path) == [
        f"{presets}:3: (yaml): bad indentation: 'name: [unclosed' lines up with no key above it",
        f"{languages}:1: languages[1]: Input should be a valid string",
        f"{tiers}:2: tiers.free.concurrent_jobs: Input should be greater than 0",
        f"{accounts}:3: accounts[0].keys[0].scopes[1]: unknown scope 'everything'; known: "
        "jobs:read, jobs:write, webhooks:read, webhooks:write, keys:read, keys:write, usage:read, "
        "sandbox",
    ]


def test_limits_are_checked_against_the_accounts_tier(tmp_path: Path) -> None:
    accounts = write(
        tmp_path,
        "accounts.yaml",
        "accounts:\n"
        "  - account_id: acct_x\n"
        "    tier: free\n"
        "    limits: {requests_per_minute: fast, speed: 3, burst: 2}\n"
        "    keys: [{key: sk_test_x_000000000001}]\n"
        "  - account_id: acct_y\n"
        "    limits:\n"
        "      concurrent_jobs: 0\n"
        "    keys: [{key: sk_test_y_000000000001}]\n",
    )
    assert problems_of(tmp_path) == [
        f"{accounts}:4: accounts[0].limits.requests_per_minute: Input should be a valid integer",
        f"{accounts}:4: accounts[0].limits.speed: unknown field",
        f"{accounts}:8: accounts[1].limits.concurrent_jobs: Input should be greater than 0",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("presets: [unclosed\n", ":1: (yaml): unclosed '[': no ']' closes it"),
        ("", ":1: (file): the file must be a mapping (of presets)"),
        ("- just a list\n", ":1: (file): the file must be a mapping (of presets)"),
        ("presets: []\npresets: []\n", ":2: presets: duplicate key (first on line 1)"),
    ],
)
def test_an_unreadable_or_empty_file_names_the_file(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = write(tmp_path, "presets.yaml", text)
    assert problems_of(tmp_path) == [f"{path}{problem}"]


def test_an_alias_bomb_in_a_fixture_file_is_refused(tmp_path: Path) -> None:
    levels = ["l0: &l0 [a, a, a, a, a, a, a, a, a, a]"]
    levels += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 9)]
    path = write(tmp_path, "languages.yaml", "\n".join(["languages: [en]", *levels]))
    assert problems_of(tmp_path) == [
        f"{path}:7: (yaml): aliases expand this to more than 1,000,000 values"
    ]

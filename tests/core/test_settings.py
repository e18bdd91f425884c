"""Settings.load: AIPROD_SANDBOX_* variables parsed, flags over variables, clear errors."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from aiprod_sandbox.errors import ConfigError
from aiprod_sandbox.settings import OPTIONS, Settings


def test_no_variables_and_no_flags_give_the_defaults() -> None:
    loaded = Settings.load(environ={})
    assert loaded == Settings()
    assert (loaded.host, loaded.port, loaded.seed) == ("127.0.0.1", 8080, 0)
    assert (loaded.strict_keys, loaded.default_tier, loaded.job_timing) == (
        False,
        "pro",
        "instant",
    )


def test_variables_are_parsed() -> None:
    loaded = Settings.load(
        environ={
            "AIPROD_SANDBOX_PORT": "9123",
            "AIPROD_SANDBOX_STRICT_KEYS": "true",
            "AIPROD_SANDBOX_START_TIME": "2026-01-01T00:00:00Z",
            "AIPROD_SANDBOX_SEED": "42",
            "AIPROD_SANDBOX_DEFAULT_TIER": " Free ",
            "AIPROD_SANDBOX_CLOCK": "manual",
            "AIPROD_SANDBOX_TIME_SCALE": "60",
            "AIPROD_SANDBOX_JOB_TIMING": "simulated",
            "AIPROD_SANDBOX_FIXTURES": "/tmp/fx",
            "AIPROD_SANDBOX_PUBLIC_URL": "https://sandbox.example",
            "AIPROD_SANDBOX_ADMIN_TOKEN": "  ",
            "AIPROD_SANDBOX_HOST": "0.0.0.0",
        }
    )
    assert loaded.port == 9123
    assert loaded.strict_keys is True
    assert loaded.start_time == datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert loaded.seed == 42
    assert loaded.default_tier == "free"
    assert loaded.clock == "manual"
    assert loaded.time_scale == 60.0
    assert loaded.job_timing == "simulated"
    assert loaded.fixtures == Path("/tmp/fx")
    assert loaded.public_url == "https://sandbox.example"
    assert loaded.admin_token is None  # blank means unset
    assert loaded.host == "0.0.0.0"


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("1", True), ("YES", True), ("on", True)]
    + [("false", False), ("0", False), ("no", False), ("off", False), ("", False)],
)
def test_boolean_variables(text: str, value: bool) -> None:
    assert Settings.load(environ={"AIPROD_SANDBOX_STRICT_KEYS": text}).strict_keys is value


def test_start_time_keeps_its_offset() -> None:
    loaded = Settings.load(environ={"AIPROD_SANDBOX_START_TIME": "2026-01-01T02:00:00+02:00"})
    expected = datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))).timestamp()
    assert loaded.start_time == expected == datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def test_flags_win_over_variables_and_unset_flags_do_not() -> None:
    environ = {"AIPROD_SANDBOX_PORT": "9000", "AIPROD_SANDBOX_SEED": "5"}
    loaded = Settings.load({"port": 7000, "seed": None, "strict_keys": True}, environ)
    assert loaded.port == 7000
    assert loaded.seed == 5
    assert loaded.strict_keys is True


def test_load_reads_the_process_environment_only_when_given_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIPROD_SANDBOX_PORT", "9999")
    assert Settings.load().port == 9999
    assert Settings.load(environ={}).port == 8080


@pytest.mark.parametrize(
    ("variable", "text"),
    [
        ("AIPROD_SANDBOX_PORT", "abc"),
        ("AIPROD_SANDBOX_PORT", "70000"),
        ("AIPROD_SANDBOX_PORT", "-1"),
        ("AIPROD_SANDBOX_SEED", "seven"),
        ("AIPROD_SANDBOX_STRICT_KEYS", "maybe"),
        ("AIPROD_SANDBOX_START_TIME", "2026-01-01T00:00:00"),
        ("AIPROD_SANDBOX_START_TIME", "next tuesday"),
        ("AIPROD_SANDBOX_TIME_SCALE", "0"),
        ("AIPROD_SANDBOX_TIME_SCALE", "-60"),
        ("AIPROD_SANDBOX_TIME_SCALE", "nan"),
        ("AIPROD_SANDBOX_TIME_SCALE", "fast"),
        ("AIPROD_SANDBOX_DEFAULT_TIER", "gold"),
        ("AIPROD_SANDBOX_CLOCK", "scaled"),
        ("AIPROD_SANDBOX_JOB_TIMING", "fast"),
        ("AIPROD_SANDBOX_LOG_LEVEL", "loud"),
    ],
)
def test_a_bad_variable_is_a_config_error_naming_it(variable: str, text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(environ={variable: text})
    assert variable in str(caught.value)


def test_an_infinite_time_scale_is_refused() -> None:
    with pytest.raises(ConfigError, match="AIPROD_SANDBOX_TIME_SCALE"):
        Settings.load(environ={"AIPROD_SANDBOX_TIME_SCALE": "inf"})


def test_other_variables_are_ignored() -> None:
    assert Settings.load(environ={"AIPROD_SANDBOX_JOURNAL_SIZE": "1", "PORT": "1"}) == Settings()


def test_every_option_has_a_flag_and_a_variable_and_a_field() -> None:
    fields = {field.name for field in dataclasses.fields(Settings)}
    for option in OPTIONS:
        assert option.name in fields
        assert option.env == "AIPROD_SANDBOX_" + option.name.upper()
        assert option.flag == "--" + option.name.replace("_", "-")


def test_settings_are_frozen_and_replace_makes_a_copy() -> None:
    loaded = Settings.load(environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.port = 1  # type: ignore[misc]
    changed = loaded.replace(port=1)
    assert (loaded.port, changed.port) == (8080, 1)

"""`aiprod-sandbox clock show|set|advance|freeze|scale` against a real `serve`."""

from __future__ import annotations

import json
from datetime import datetime

import httpx

from tests.cli.conftest import Cli, refused


def _now(api: httpx.Client) -> datetime:
    return datetime.fromisoformat(api.get("/_sandbox/clock").json()["now"])


def test_freeze_then_advance_moves_the_account_clock(cli: Cli, api: httpx.Client) -> None:
    frozen = cli("clock", "freeze")
    assert frozen.returncode == 0, frozen.stderr
    assert "manual" in frozen.stdout
    before = _now(api)
    done = cli("clock", "advance", "10m")
    assert done.returncode == 0, done.stderr
    assert (_now(api) - before).total_seconds() == 600
    assert api.get("/_sandbox/clock").json()["mode"] == "manual"


def test_advance_takes_hours_and_days_and_says_what_ran_as_json(
    cli: Cli, api: httpx.Client
) -> None:
    cli("clock", "freeze")
    before = _now(api)
    done = cli("clock", "advance", "1d", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["ran_count"] == 0 and answer["clock"]["mode"] == "manual"
    assert (_now(api) - before).total_seconds() == 86400


def test_scale_and_show(cli: Cli, api: httpx.Client) -> None:
    done = cli("clock", "scale", "60")
    assert done.returncode == 0, done.stderr
    clock = api.get("/_sandbox/clock").json()
    assert (clock["mode"], clock["scale"]) == ("scaled", 60.0)
    shown = cli("clock", "show", "--json")
    assert json.loads(shown.stdout)["mode"] == "scaled"
    assert "60x" in cli("clock", "show").stdout


def test_set_moves_forward_keeping_the_mode(cli: Cli, api: httpx.Client) -> None:
    cli("clock", "freeze")
    done = cli("clock", "set", "2031-01-01T00:00:00Z")
    assert done.returncode == 0, done.stderr
    clock = api.get("/_sandbox/clock").json()
    assert (clock["mode"], clock["now"]) == ("manual", "2031-01-01T00:00:00Z")
    back = cli("clock", "set", "--mode", "real")
    assert back.returncode == 0, back.stderr
    assert api.get("/_sandbox/clock").json()["mode"] == "real"


def test_setting_the_clock_back_is_the_sandboxs_refusal(cli: Cli) -> None:
    refused(cli("clock", "set", "2001-01-01T00:00:00Z"), "409 INVALID_TRANSITION")


def test_a_bad_duration_is_a_usage_error(cli: Cli) -> None:
    done = cli("clock", "advance", "10 weeks")
    assert done.returncode == 2
    assert "not a duration" in done.stderr

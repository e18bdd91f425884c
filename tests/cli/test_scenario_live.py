"""`aiprod-sandbox scenario list|use|clear` against a real `serve`, and `list` without one."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.cli.conftest import Cli, refused

SHIPPED = Path(__file__).resolve().parents[2] / "scenarios"


def test_use_switches_the_scenario_on_for_the_account(cli: Cli, api: httpx.Client) -> None:
    done = cli("scenario", "use", "free-tier")
    assert done.returncode == 0, done.stderr
    assert "free-tier" in done.stdout
    assert api.get("/_sandbox/account").json()["scenario"] == "free-tier"
    assert api.get("/me/usage").json()["tier"] == "free"  # really in force on the API


def test_list_marks_the_active_scenario(cli: Cli) -> None:
    cli("scenario", "use", "webhook-chaos")
    listed = json.loads(cli("scenario", "list", "--json").stdout)["items"]
    assert [i["name"] for i in listed if i["active"]] == ["webhook-chaos"]
    text = cli("scenario", "list").stdout.splitlines()
    marked = text.index("webhook-chaos")
    assert "    active for this account" in text[marked:]


def test_clear_switches_it_off(cli: Cli, api: httpx.Client) -> None:
    cli("scenario", "use", "free-tier")
    done = cli("scenario", "clear", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["scenario"] is None
    assert api.get("/_sandbox/account").json()["scenario"] is None


def test_an_unknown_name_shows_the_sandboxs_envelope(cli: Cli) -> None:
    done = cli("scenario", "use", "no-such-scenario")
    refused(done, "400 INVALID_PARAMETER")
    assert "no-such-scenario" in done.stderr


def test_list_without_a_sandbox_lists_the_shipped_scenarios(cli: Cli) -> None:
    done = cli("scenario", "list", "--url", "http://127.0.0.1:9", "--json")
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)["items"]
    assert "free-tier" in [i["name"] for i in items]
    assert {i["active"] for i in items} == {None}  # nobody to ask what is active


def test_a_wrong_key_is_refused_not_hidden_behind_the_shipped_list(cli: Cli) -> None:
    refused(cli("scenario", "list", "--key", "sk_live_abcdefghijklmnop1234"), "401")


def test_use_sends_a_scenario_file_of_ones_own(cli: Cli, api: httpx.Client, tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    text = (SHIPPED / "free-tier.yaml").read_text(encoding="utf-8")
    mine.write_text(text.replace("name: free-tier", "name: my-free-tier"), encoding="utf-8")
    done = cli("scenario", "use", str(mine))
    assert done.returncode == 0, done.stderr
    assert api.get("/_sandbox/account").json()["scenario"] == "my-free-tier"
    assert api.get("/me/usage").json()["tier"] == "free"


def test_a_bad_file_is_refused_here_with_file_and_line(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndescription: x\nrules: 7\n", encoding="utf-8")
    done = cli("scenario", "use", str(bad))
    assert done.returncode == 1
    assert done.stderr.startswith(f"{bad}:") and "Traceback" not in done.stderr

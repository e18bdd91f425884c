"""`aiprod-sandbox reset` and `aiprod-sandbox advice` against a real `serve`."""

from __future__ import annotations

import json

import httpx

from tests.cli.conftest import Cli


def test_reset_clears_the_accounts_world(cli: Cli, api: httpx.Client) -> None:
    api.post("/pipeline/run", json={"video_url": "https://example.com/a.mp4"})
    cli("clock", "freeze")
    cli("scenario", "use", "free-tier")
    done = cli("reset")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("reset acct_")
    assert api.get("/jobs").json()["items"] == []
    account = api.get("/_sandbox/account").json()
    assert account["scenario"] is None and account["clock"]["mode"] == "real"


def test_reset_as_json(cli: Cli) -> None:
    done = cli("reset", "--json")
    assert len(json.loads(done.stdout)["reset"]) == 1


def test_advice_names_what_to_fix(cli: Cli, api: httpx.Client) -> None:
    assert "nothing to fix" in cli("advice").stdout
    for _ in range(3):  # a 429 retried at once, before Retry-After
        cli("scenario", "use", "rate-limit-storm")
        api.get("/jobs")
    found = json.loads(cli("advice", "--json").stdout)
    assert found["checked_requests"] == 3
    for item in found["items"]:
        assert {"rule", "title", "fix", "evidence"} <= set(item)

"""Switching scenarios on and off: server-wide (Settings / serve --scenario), per account by
name or inline, DELETE, reset; and the 400s of the control API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings, create_app
from tests.conftest import START, auth, new_key
from tests.scenarios.conftest import (
    SHIPPED_NAMES,
    advance,
    get_job,
    inline,
    statuses,
    submit,
    use,
)
from tests.support.openapi_check import OpenApiChecker


@pytest.fixture
def server_wide(checker: OpenApiChecker) -> Iterator[Any]:
    """`server_wide(*names)`: a checked client of a sandbox started with those scenarios."""
    clients: list[TestClient] = []

    def start(*names: str, **settings: Any) -> TestClient:
        app = create_app(Settings(seed=7, scenario=names, **settings))
        client = TestClient(app)
        client.__enter__()
        client.event_hooks = {"request": [], "response": [checker.hook]}
        clients.append(client)
        return client

    try:
        yield start
    finally:
        for client in clients:
            client.__exit__(None, None, None)


def error_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    return dict(response.json()["error"])


def test_server_wide_scenario_applies_to_every_account_counting_its_own_calls(
    server_wide: Any,
) -> None:
    client = server_wide("intermittent-500s")
    first, second = auth(new_key()), auth(new_key("free"))
    assert statuses(client, first, 1) == [500]
    assert statuses(client, second, 4) == [500, 500, 200, 200]
    assert statuses(client, first, 3) == [500, 200, 200]
    for headers in (first, second):
        account = client.get("/_sandbox/account", headers=headers).json()
        assert account["server_scenarios"] == ["intermittent-500s"]
        assert account["scenario"] is None
        assert client.get("/_sandbox/scenario", headers=headers).json() == {
            "scenario": None,
            "server_scenarios": ["intermittent-500s"],
        }
        listed = client.get("/_sandbox/scenarios", headers=headers).json()["items"]
        assert {item["name"] for item in listed if item["active"]} == {"intermittent-500s"}


def test_an_accounts_own_scenario_comes_before_the_server_wide_one(server_wide: Any) -> None:
    client = server_wide("intermittent-500s")
    headers = auth(new_key())
    use(client, headers, "rate-limit-storm")
    listed = client.get("/_sandbox/scenarios", headers=headers).json()["items"]
    assert {item["name"] for item in listed if item["active"]} == {
        "intermittent-500s",
        "rate-limit-storm",
    }
    # The storm answers the first 3 calls. The server-wide rule counts them too (every rule
    # counts every call it matches), so its "first 2" have passed by the time it is reached.
    assert statuses(client, headers, 6) == [429, 429, 429, 200, 200, 200]
    entries = client.get("/_sandbox/requests", headers=headers).json()["items"]
    assert entries[0]["scenarios"] == ["rate-limit-storm", "intermittent-500s"]
    cleared = client.delete("/_sandbox/scenario", headers=headers).json()
    assert cleared == {"scenario": None, "server_scenarios": ["intermittent-500s"]}


def test_server_wide_tier_and_timing_settings(server_wide: Any) -> None:
    client = server_wide("free-tier", "realistic-timing", clock="manual", start_time=START)
    headers = auth(new_key("enterprise"))
    account = client.get("/_sandbox/account", headers=headers).json()
    assert account["tier"] == "free" and account["job_timing"] == "simulated"
    assert account["server_scenarios"] == ["free-tier", "realistic-timing"]
    job_id = submit(client, headers)
    assert get_job(client, headers, job_id)["status"] == "PENDING"


def test_put_by_name_and_inline_then_delete(client: TestClient, headers: dict[str, str]) -> None:
    assert use(client, headers, "intermittent-500s") == {
        "scenario": "intermittent-500s",
        "server_scenarios": [],
    }
    assert client.get("/_sandbox/account", headers=headers).json()["scenario"] == (
        "intermittent-500s"
    )
    assert statuses(client, headers, 1) == [500]
    mine = inline({"match": {"path": "/presets"}, "respond": {"status": 500}}, name="mine")
    assert use(client, headers, mine) == {"scenario": "mine", "server_scenarios": []}
    assert client.get("/_sandbox/scenario", headers=headers).json()["scenario"] == "mine"
    assert statuses(client, headers, 2) == [200, 200]  # the named one is off now
    assert statuses(client, headers, 1, "/presets") == [500]
    cleared = client.delete("/_sandbox/scenario", headers=headers)
    assert cleared.status_code == 200
    assert cleared.json() == {"scenario": None, "server_scenarios": []}
    assert statuses(client, headers, 1, "/presets") == [200]
    listed = client.get("/_sandbox/scenarios", headers=headers).json()["items"]
    assert not any(item["active"] for item in listed)
    assert client.delete("/_sandbox/scenario", headers=headers).status_code == 200  # idempotent


def test_reset_clears_the_accounts_scenario(client: TestClient, headers: dict[str, str]) -> None:
    use(client, headers, "free-tier")
    use(client, headers, inline({"respond": {"status": 500}}, name="down", tier="free"))
    assert statuses(client, headers, 1) == [500]
    assert client.post("/_sandbox/reset", headers=headers).status_code == 200
    assert client.get("/_sandbox/scenario", headers=headers).json()["scenario"] is None
    account = client.get("/_sandbox/account", headers=headers).json()
    assert account["scenario"] is None and account["tier"] == "pro"
    assert statuses(client, headers, 2) == [200, 200]


def test_an_unknown_name_is_400_naming_the_known_ones(
    client: TestClient, headers: dict[str, str]
) -> None:
    error = error_of(client.put("/_sandbox/scenario", json={"name": "nope"}, headers=headers))
    assert error["type"] == "validation_error" and error["code"] == "INVALID_PARAMETER"
    assert "nope" in error["message"]
    assert all(name in error["details"]["name"] for name in SHIPPED_NAMES)
    assert client.get("/_sandbox/scenario", headers=headers).json()["scenario"] is None


def test_an_invalid_inline_scenario_is_400_with_every_field_path(
    client: TestClient, headers: dict[str, str]
) -> None:
    use(client, headers, "intermittent-500s")
    bad = {
        "name": "Bad Name",
        "description": 3,
        "colour": "red",
        "requests": [
            {"respond": {"status": 700}},
            {"when": {"nth": 5, "first": 2}, "respond": {"status": 500}},
            {"respond": {"drop": True, "status": 500}},
            {"match": {"path": "jobs/*"}, "respond": {"status": 500}},  # no leading '/'
        ],
        "jobs": [{"progress_steps": [50, 25]}],
        "webhooks": [{"action": "explode"}],
    }
    error = error_of(client.put("/_sandbox/scenario", json={"scenario": bad}, headers=headers))
    assert error["code"] == "INVALID_PARAMETER"
    # What the schema refuses, the API refuses, every field at once. (Rules that could never
    # fire — nth 5 among the first 2, drop with a status — are refused in files, where
    # `scenario validate` and `serve --scenario` check them; see tests/scenarios/test_files.py.)
    assert set(error["details"]) == {
        "scenario.name",
        "scenario.description",
        "scenario.colour",
        "scenario.requests[0].respond.status",
        "scenario.requests[3].match.path",
        "scenario.webhooks[0].action",
    }
    assert "can never match" in error["details"]["scenario.requests[3].match.path"]
    assert error["details"]["scenario.colour"] == "Unknown field"
    # The scenario in use before stays in use.
    assert client.get("/_sandbox/scenario", headers=headers).json()["scenario"] == (
        "intermittent-500s"
    )


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "INVALID_PARAMETER", "name"),
        (
            {"name": "free-tier", "scenario": {"name": "x", "description": "x"}},
            "INVALID_PARAMETER",
            "name",
        ),
        ({"scenario": "free-tier"}, "INVALID_PARAMETER", "scenario"),
        ({"scenario": {"description": "no name"}}, "INVALID_PARAMETER", "scenario.name"),
        ({"name": "free-tier", "extra": 1}, "UNKNOWN_FIELD", "extra"),
    ],
)
def test_other_bad_bodies(
    client: TestClient, headers: dict[str, str], body: dict[str, Any], code: str, field: str
) -> None:
    error = error_of(client.put("/_sandbox/scenario", json=body, headers=headers))
    assert error["code"] == code
    assert field in error["details"]


def test_scenarios_need_a_test_key(client: TestClient) -> None:
    assert client.get("/_sandbox/scenarios").status_code == 401
    missing = client.put("/_sandbox/scenario", json={"name": "free-tier"})
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "MISSING_API_KEY"


# ---- what switching off leaves behind ------------------------------------------------------


def test_delete_undoes_a_scenarios_job_timing(client: TestClient) -> None:
    headers = auth(new_key())
    use(client, headers, "realistic-timing")
    client.delete("/_sandbox/scenario", headers=headers)
    assert client.get("/_sandbox/account", headers=headers).json()["job_timing"] == "instant"
    assert get_job(client, headers, submit(client, headers))["status"] == "COMPLETED"


def test_delete_undoes_a_scenarios_clock_mode(server_wide: Any) -> None:
    client = server_wide()  # a real clock
    headers = auth(new_key())
    use(client, headers, {"name": "frozen", "clock": "manual"})
    assert client.get("/_sandbox/clock", headers=headers).json()["mode"] == "manual"
    client.delete("/_sandbox/scenario", headers=headers)
    assert client.get("/_sandbox/clock", headers=headers).json()["mode"] == "real"


def test_reset_keeps_the_server_wide_scenarios_settings(server_wide: Any) -> None:
    client = server_wide("realistic-timing", clock="manual", start_time=START)
    headers = auth(new_key())
    assert client.post("/_sandbox/reset", headers=headers).status_code == 200
    account = client.get("/_sandbox/account", headers=headers).json()
    assert account["server_scenarios"] == ["realistic-timing"]
    assert account["job_timing"] == "simulated"
    advance(client, headers, 0)
    assert get_job(client, headers, submit(client, headers))["status"] == "PENDING"

"""Faults after the handler (`phase: after`), by scenario and by the one-off
`X-AIPROD-Sandbox-Prefer` header: the job, key or webhook is made, the client gets a 500,
a 503 or a dropped connection instead, and the journal says both."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.evidence.conftest import Partner
from tests.support.receivers import Receivers

PREFER = "X-AIPROD-Sandbox-Prefer"


def _use(partner: Partner, *requests: dict[str, Any]) -> None:
    scenario = {
        "name": "after",
        "description": "faults after the handler",
        "requests": list(requests),
    }
    answer = partner.client.put("/_sandbox/scenario", json={"scenario": scenario})
    assert answer.status_code == 200, answer.text


def _jobs(partner: Partner) -> list[dict[str, Any]]:
    return list(partner.client.get("/jobs").json()["items"])


@pytest.mark.parametrize("status", [500, 503])
def test_an_error_after_the_handler_leaves_the_job_created_and_listed(
    partner: Partner, status: int
) -> None:
    _use(
        partner,
        {
            "name": "lost-answer",
            "match": {"method": "POST", "path": "/pipeline/run"},
            "when": {"nth": 1},
            "respond": {"status": status, "phase": "after"},
        },
    )
    body = {"video_url": "https://example.com/in.mp4", "metadata": {"order": "o-1"}}
    failed = partner.client.post("/pipeline/run", json=body)
    assert failed.status_code == status
    assert failed.json()["error"]["code"] in ("INTERNAL_ERROR", "SERVICE_UNAVAILABLE")
    [job] = _jobs(partner)  # made, although the client was told it failed
    assert job["metadata"] == {"order": "o-1"}
    retried = partner.client.post("/pipeline/run", json=body)  # the naive retry: a duplicate
    assert retried.status_code == 202
    assert len(_jobs(partner)) == 2
    entry = partner.journal(path="/pipeline/run")["items"][-1]
    assert entry["status"] == status and entry["rules"] == ["after:lost-answer"]
    assert entry["fault"] == (
        f"after:lost-answer (after): the handler answered 202; the client got {status}"
    )
    assert entry["job_ids"] == [job["job_id"]]


def test_a_dropped_connection_after_the_handler(partner: Partner) -> None:
    _use(
        partner,
        {
            "match": {"method": "POST", "path": "/pipeline/run"},
            "when": {"first": 1},
            "respond": {"drop": True, "phase": "after"},
        },
    )
    with pytest.raises(httpx.TransportError):
        partner.client.post("/pipeline/run", json={"video_url": "https://example.com/in.mp4"})
    [job] = _jobs(partner)
    [entry] = partner.journal(path="/pipeline/run")["items"]
    assert entry["status"] == 0 and entry["job_ids"] == [job["job_id"]]
    assert "the handler answered 202; the connection was dropped" in entry["fault"]


def test_a_key_and_a_webhook_are_made_though_their_answers_are_lost(
    partner: Partner, receivers: Receivers
) -> None:
    _use(
        partner,
        {
            "match": {"method": "POST", "path": "/keys"},
            "respond": {"status": 500, "phase": "after"},
        },
        {
            "match": {"method": "POST", "path": "/webhooks/register"},
            "respond": {"status": 503, "phase": "after"},
        },
    )
    lost_key = partner.client.post("/keys", json={"name": "ci", "scopes": ["jobs:read"]})
    assert lost_key.status_code == 500
    names = [k["name"] for k in partner.client.get("/keys").json()["items"]]
    assert "ci" in names
    url = receivers.plain().url
    lost_hook = partner.client.post(
        "/webhooks/register", json={"url": url, "events": ["job.completed"]}
    )
    assert lost_hook.status_code == 503
    assert [w["url"] for w in partner.client.get("/webhooks").json()["items"]] == [url]


def test_the_prefer_header_makes_a_one_off_fault_without_a_scenario(partner: Partner) -> None:
    body = {"video_url": "https://example.com/in.mp4"}
    answer = partner.client.post(
        "/pipeline/run", json=body, headers={PREFER: "status=503; retry_after=7; phase=after"}
    )
    assert answer.status_code == 503 and answer.headers["retry-after"] == "7"
    assert len(_jobs(partner)) == 1
    before = partner.client.post("/pipeline/run", json=body, headers={PREFER: "status=500"})
    assert before.status_code == 500 and len(_jobs(partner)) == 1  # before: nothing made
    assert partner.client.post("/pipeline/run", json=body).status_code == 202  # one-off
    with pytest.raises(httpx.TransportError):
        partner.client.post("/pipeline/run", json=body, headers={PREFER: "drop, phase=after"})
    assert len(_jobs(partner)) == 3
    faults = [e["fault"] for e in partner.journal(path="/pipeline/run")["items"]]
    assert faults == [
        "prefer-header (after): the handler answered 202; the connection was dropped",
        None,
        None,
        "prefer-header (after): the handler answered 202; the client got 503",
    ]


@pytest.mark.parametrize(
    "value", ["status=abc", "teapot", "phase=after", "status=200; drop", "delay=999"]
)
def test_a_prefer_header_that_makes_no_sense_is_refused(partner: Partner, value: str) -> None:
    answer = partner.client.post(
        "/pipeline/run", json={"video_url": "https://example.com/in.mp4"}, headers={PREFER: value}
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "INVALID_PARAMETER" and "x-aiprod-sandbox-prefer" in error["message"]
    assert _jobs(partner) == []


def test_a_scenario_file_refuses_an_after_rule_with_nothing_to_do(partner: Partner) -> None:
    from aiprod_sandbox.core.scenarios import ScenarioError, load_text

    text = (
        "name: x\ndescription: d\nrequests:\n"
        "  - match: {path: /pipeline/run}\n    respond: {headers: {X-A: b}, phase: after}\n"
    )
    with pytest.raises(ScenarioError, match="phase: after needs a status, a delay or drop"):
        load_text(text, "x.yaml")

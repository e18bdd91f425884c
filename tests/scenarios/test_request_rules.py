"""Inline request rules (PUT /_sandbox/scenario {"scenario": {...}}) at the HTTP surface:
what they match, which calls they choose, how they compose, what they answer, the journal."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings, create_app
from tests.conftest import auth, new_key
from tests.scenarios.conftest import (
    advance,
    inline,
    journal,
    statuses,
    unchecked,
    use,
)
from tests.support.serve import SandboxProcess

FAIL = {"status": 500}
VIDEO = {"video_url": "https://example.com/a.mp4"}


def rule(match: dict[str, Any] | None = None, when: dict[str, Any] | None = None, **more: Any):
    return {"match": match or {}, "when": when or {}, "respond": FAIL, **more}


# ---- matching ------------------------------------------------------------------------------


def test_match_on_method_one_or_a_list(client: TestClient, headers: dict[str, str]) -> None:
    refused = client.put(
        "/_sandbox/scenario", headers=headers, json={"scenario": inline(rule({"method": "get"}))}
    )
    assert refused.status_code == 400  # methods are upper case, as in HTTP
    assert "scenario.requests[0].match.method" in refused.json()["error"]["details"]
    use(client, headers, inline(rule({"method": "POST"}), rule({"method": ["PUT", "DELETE"]})))
    assert client.get("/jobs", headers=headers).status_code == 200
    assert client.post("/pipeline/run", json=VIDEO, headers=headers).status_code == 500
    assert client.put("/jobs/job_x", json={}, headers=headers).status_code == 500
    assert client.delete("/jobs/job_x", headers=headers).status_code == 500
    assert client.get("/jobs/job_x", headers=headers).status_code == 404


def test_match_on_a_path_glob(client: TestClient, headers: dict[str, str]) -> None:
    use(client, headers, inline(rule({"path": "/jobs/*"})))
    assert client.get("/jobs", headers=headers).status_code == 200
    assert client.get("/jobs/job_x", headers=headers).status_code == 500
    assert client.get("/pipeline/job_x", headers=headers).status_code == 404
    # Control calls are never scripted, whatever the pattern.
    use(client, headers, inline(rule({"path": "/*"})))
    assert client.get("/_sandbox/account", headers=headers).status_code == 200
    assert client.get("/jobs", headers=headers).status_code == 500


def test_match_on_query_parameters(client: TestClient, headers: dict[str, str]) -> None:
    use(client, headers, inline(rule({"path": "/jobs", "query": {"status": "FAILED"}})))
    assert client.get("/jobs?status=FAILED", headers=headers).status_code == 500
    assert client.get("/jobs?status=COMPLETED", headers=headers).status_code == 200
    assert client.get("/jobs", headers=headers).status_code == 200


def test_a_number_or_boolean_in_query_or_headers_matches_its_text(
    client: TestClient, headers: dict[str, str]
) -> None:
    match = {"path": "/jobs", "query": {"limit": 2, "x": True}, "headers": {"X-Attempt": 3}}
    use(client, headers, inline(rule(match)))
    chosen = {**headers, "X-Attempt": "3"}
    assert client.get("/jobs?limit=2&x=true", headers=chosen).status_code == 500
    assert client.get("/jobs?limit=2&x=True", headers=chosen).status_code == 200
    assert client.get("/jobs?limit=3&x=true", headers=chosen).status_code == 200
    assert client.get("/jobs?limit=2&x=true", headers=headers).status_code == 200


def test_match_on_headers(client: TestClient, headers: dict[str, str]) -> None:
    use(client, headers, inline(rule({"headers": {"X-Chaos": "on"}})))
    assert client.get("/jobs", headers={**headers, "x-chaos": "on"}).status_code == 500
    assert client.get("/jobs", headers={**headers, "X-Chaos": "off"}).status_code == 200
    assert client.get("/jobs", headers=headers).status_code == 200


def test_match_on_a_dotted_body_field_leaves_other_bodies_intact(
    client: TestClient, headers: dict[str, str]
) -> None:
    use(client, headers, inline(rule({"method": "POST", "body": {"metadata.customer": "acme"}})))
    acme = {**VIDEO, "metadata": {"customer": "acme"}}
    other = {**VIDEO, "metadata": {"customer": "globex"}}
    assert client.post("/pipeline/run", json=acme, headers=headers).status_code == 500
    accepted = client.post("/pipeline/run", json=other, headers=headers)
    assert accepted.status_code == 202
    job = client.get(f"/jobs/{accepted.json()['job_id']}", headers=headers).json()
    assert job["metadata"] == {"customer": "globex"}
    assert client.post("/pipeline/run", json=VIDEO, headers=headers).status_code == 202


def test_match_on_tier(client: TestClient) -> None:
    scenario = inline(rule({"tier": "free"}), rule({"tier": ["enterprise"], "path": "/presets"}))
    free, pro, ent = (auth(new_key(tier)) for tier in ("free", "pro", "enterprise"))
    for headers in (free, pro, ent):
        use(client, headers, scenario)
    assert client.get("/jobs", headers=free).status_code == 500
    assert client.get("/jobs", headers=pro).status_code == 200
    assert client.get("/jobs", headers=ent).status_code == 200
    assert client.get("/presets", headers=ent).status_code == 500
    assert client.get("/presets", headers=pro).status_code == 200


@pytest.mark.parametrize("form", ["full", "last4"])
def test_match_on_the_key_full_or_its_last_four(client: TestClient, form: str) -> None:
    first = new_key()
    created = client.post("/keys", json={"name": "second"}, headers=auth(first))
    assert created.status_code == 201
    second = created.json()["key"]
    use(client, auth(first), inline(rule({"key": first if form == "full" else first[-4:]})))
    assert client.get("/jobs", headers=auth(first)).status_code == 500
    assert client.get("/jobs", headers=auth(second)).status_code == 200  # same account
    assert client.get("/jobs", headers=auth(first)).status_code == 500


# ---- choosing calls ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "times", "expected"),
    [
        ({"nth": 3}, None, [200, 200, 500, 200, 200, 200]),
        ({"first": 2}, None, [500, 500, 200, 200, 200, 200]),
        ({"every": 3}, None, [200, 200, 500, 200, 200, 500]),
        ({"after": 4}, None, [200, 200, 200, 200, 500, 500]),
        ({"every": 2, "after": 2}, None, [200, 200, 200, 500, 200, 500]),
        ({"nth": 2, "first": 3}, None, [200, 500, 200, 200, 200, 200]),
        ({}, 2, [500, 500, 200, 200, 200, 200]),
        ({"every": 2}, 2, [200, 500, 200, 500, 200, 200]),
    ],
)
def test_selection_of_calls(
    client: TestClient,
    headers: dict[str, str],
    when: dict[str, Any],
    times: int | None,
    expected: list[int],
) -> None:
    extra = {} if times is None else {"times": times}
    use(client, headers, inline(rule({"path": "/jobs"}, when, **extra)))
    assert client.get("/presets", headers=headers).status_code == 200  # not counted
    assert statuses(client, headers, 6) == expected


def test_counts_start_afresh_when_a_scenario_is_switched_on_again(
    client: TestClient, headers: dict[str, str]
) -> None:
    scenario = inline(rule(when={"first": 1}))
    use(client, headers, scenario)
    assert statuses(client, headers, 2) == [500, 200]
    use(client, headers, scenario)
    assert statuses(client, headers, 2) == [500, 200]


def probability_hits(seed: int, key: str, calls: int = 200) -> list[int]:
    scenario = inline(rule({"path": "/jobs"}, {"probability": 0.3}))
    with TestClient(create_app(Settings(seed=seed, clock="manual"))) as client:
        use(client, auth(key), scenario)
        return [n for n, status in enumerate(statuses(client, auth(key), calls)) if status == 500]


def test_probability_is_seeded_and_about_right() -> None:
    key = new_key("enterprise")  # unlimited: every call reaches the rule
    hits = probability_hits(11, key)
    assert probability_hits(11, key) == hits  # a fresh app, the same seed: the same calls
    assert 40 <= len(hits) <= 80, len(hits)  # 0.3 of 200 = 60 expected
    assert probability_hits(12, key) != hits  # another seed, other calls


def test_a_window_on_the_accounts_clock(client: TestClient, headers: dict[str, str]) -> None:
    advance(client, headers, 100)  # measured from when the scenario is switched on
    use(client, headers, inline(rule(when={"window": {"start": 10, "end": 20}})))
    assert statuses(client, headers, 1) == [200]
    advance(client, headers, 9)
    assert statuses(client, headers, 1) == [200]
    advance(client, headers, 1)
    assert statuses(client, headers, 2) == [500, 500]
    advance(client, headers, 9.5)
    assert statuses(client, headers, 1) == [500]
    advance(client, headers, 0.5)
    assert statuses(client, headers, 2) == [200, 200]


# ---- composing and answering ---------------------------------------------------------------


def test_headers_and_delay_rules_add_to_the_real_answer_and_evaluation_goes_on(
    client: TestClient, headers: dict[str, str]
) -> None:
    use(
        client,
        headers,
        inline(
            {"name": "tag", "respond": {"headers": {"X-Tag": "one"}}},
            {"name": "slow", "respond": {"delay": 0.3, "headers": {"X-Slow": "yes"}}},
            {"name": "down", "when": {"nth": 2}, "respond": {"status": 503, "retry_after": 7}},
            {"name": "never", "respond": {"status": 500}, "match": {"method": "DELETE"}},
        ),
    )
    started = time.monotonic()
    first = client.get("/presets", headers=headers)
    assert time.monotonic() - started >= 0.3
    assert first.status_code == 200 and first.json()["items"]
    assert (first.headers["X-Tag"], first.headers["X-Slow"]) == ("one", "yes")
    with unchecked(client):
        second = client.get("/presets", headers=headers)
    assert second.status_code == 503
    assert second.headers["X-Tag"] == "one" and second.headers["Retry-After"] == "7"
    assert second.json()["error"]["type"] == "service_unavailable_error"
    assert [entry["rules"] for entry in journal(client, headers)] == [
        ["inline:tag", "inline:slow"],
        ["inline:tag", "inline:slow", "inline:down"],
    ]


def test_a_rules_own_rate_limit_header_wins_over_the_buckets_and_is_sent_once(
    client: TestClient, headers: dict[str, str]
) -> None:
    """A rule that adds its own `X-RateLimit-Remaining` to the real answer shows that figure
    (before its handler or after it alike), once; the other two stay the bucket's."""
    plain = client.get("/presets", headers=headers)
    use(
        client,
        headers,
        inline(
            {"match": {"path": "/presets"}, "respond": {"headers": {"X-RateLimit-Remaining": "3"}}},
            {"match": {"path": "/jobs"}, "respond": {"phase": "after", "delay": 0.01,
             "headers": {"X-RateLimit-Remaining": "4"}}},
        ),
    )  # fmt: skip
    for path, shown in (("/presets", "3"), ("/jobs", "4")):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers.get_list("x-ratelimit-remaining") == [shown]
        assert answer.headers["x-ratelimit-limit"] == plain.headers["x-ratelimit-limit"]
        assert len(answer.headers.get_list("x-ratelimit-reset")) == 1


def test_the_first_rule_with_a_status_answers(client: TestClient, headers: dict[str, str]) -> None:
    use(client, headers, inline(rule({"path": "/jobs"}), {"respond": {"status": 429}}))
    failed = client.get("/jobs", headers=headers)
    assert failed.status_code == 500
    limited = client.get("/presets", headers=headers)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "60"  # a 429 without retry_after: the default
    assert limited.json()["error"]["retry_after"] == 60
    assert [entry["rules"] for entry in journal(client, headers)] == [
        ["inline:requests[0]"],
        ["inline:requests[1]"],
    ]


def test_every_rule_counts_every_call_it_matches(
    client: TestClient, headers: dict[str, str]
) -> None:
    use(
        client,
        headers,
        inline(
            {"when": {"nth": 1}, "respond": {"status": 500}},
            {"when": {"nth": 2}, "respond": {"status": 429, "retry_after": 1}},
        ),
    )
    assert statuses(client, headers, 3) == [500, 429, 200]


def test_a_custom_body(client: TestClient, headers: dict[str, str]) -> None:
    body = {"maintenance": True, "until": "2026-06-01T00:00:00Z", "nested": {"a": [1, 2]}}
    use(
        client,
        headers,
        inline({"match": {"path": "/jobs"}, "respond": {"status": 503, "body": body}}),
    )
    with unchecked(client):
        answer = client.get("/jobs", headers=headers)
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == body
    assert answer.headers["X-Request-Id"].startswith("req_")


def test_a_custom_error_type_code_and_message(client: TestClient, headers: dict[str, str]) -> None:
    error = {"type": "billing_error", "code": "PAYMENT_REQUIRED", "message": "Card declined"}
    use(client, headers, inline({"respond": {"status": 402, "error": error}}))
    with unchecked(client):
        answer = client.post("/pipeline/run", json=VIDEO, headers=headers)
    assert answer.status_code == 402
    assert answer.json() == {"error": {**error, "request_id": answer.headers["X-Request-Id"]}}
    # Only some fields: the rest come from the status's usual error.
    use(client, headers, inline({"respond": {"status": 500, "error": {"message": "Oops"}}}))
    answer = client.get("/jobs", headers=headers)
    assert answer.json()["error"] == {
        "type": "server_error",
        "code": "INTERNAL_ERROR",
        "message": "Oops",
        "request_id": answer.headers["X-Request-Id"],
    }


def test_the_journal_shows_scenarios_and_rules_per_request(
    client: TestClient, headers: dict[str, str]
) -> None:
    use(
        client,
        headers,
        inline(
            {"name": "tagged", "respond": {"headers": {"X-T": "1"}}, "when": {"first": 1}},
            {"match": {"path": "/presets"}, "respond": {"status": 500}},
            name="journaled",
        ),
    )
    client.get("/jobs", headers=headers)
    client.get("/presets", headers=headers)
    client.get("/jobs", headers=headers)
    client.delete("/_sandbox/scenario", headers=headers)
    client.get("/jobs", headers=headers)
    entries = journal(client, headers)
    assert [(e["path"], e["status"], e["scenarios"], e["rules"]) for e in entries] == [
        ("/jobs", 200, ["journaled"], ["journaled:tagged"]),
        ("/presets", 500, ["journaled"], ["journaled:requests[1]"]),
        ("/jobs", 200, ["journaled"], []),
        ("/jobs", 200, [], []),
    ]


def test_nothing_changes_without_a_scenario(client: TestClient, headers: dict[str, str]) -> None:
    for _ in range(4):
        started = time.monotonic()
        response = client.get("/jobs", headers=headers)
        assert response.status_code == 200 and time.monotonic() - started < 1.0
        assert "X-AIPROD-Slow" not in response.headers
    assert client.post("/pipeline/run", json=VIDEO, headers=headers).status_code == 202
    assert client.get("/_sandbox/scenario", headers=headers).json() == {
        "scenario": None,
        "server_scenarios": [],
    }
    assert all(e["scenarios"] == [] and e["rules"] == [] for e in journal(client, headers))
    assert len(journal(client, headers)) == 5


# ---- a dropped connection, over a real socket ----------------------------------------------


@pytest.fixture
def dropping(serve: Callable[..., SandboxProcess]) -> Iterator[tuple[SandboxProcess, httpx.Client]]:
    """A real server whose account drops every 2nd call to /jobs."""
    server = serve()
    cut = {"name": "cut", "match": {"path": "/jobs"}, "when": {"every": 2}}
    key = auth(new_key())
    with httpx.Client(base_url=server.base_url, headers=key, timeout=5, trust_env=False) as http:
        use(http, {}, inline({**cut, "respond": {"drop": True}}, name="drops"))
        yield server, http


def test_drop_cuts_the_connection_and_the_server_keeps_serving(
    dropping: tuple[SandboxProcess, httpx.Client],
) -> None:
    server, http = dropping
    assert http.get("/jobs").status_code == 200
    with pytest.raises(httpx.TransportError):
        http.get("/jobs")
    assert http.get("/jobs").status_code == 200
    assert http.get("/presets").status_code == 200
    with pytest.raises(httpx.TransportError):
        http.get("/jobs")
    assert http.get("/health").status_code == 200
    with httpx.Client(timeout=5, trust_env=False) as other:
        assert other.get(f"{server.base_url}/health").status_code == 200
    entries = list(reversed(http.get("/_sandbox/requests").json()["items"]))
    assert [(e["path"], e["rules"]) for e in entries] == [
        ("/jobs", []),
        ("/jobs", ["drops:cut"]),
        ("/jobs", []),
        ("/presets", []),
        ("/jobs", ["drops:cut"]),
    ]
    assert server.process.poll() is None


def test_the_journal_does_not_call_a_dropped_connection_a_200(
    dropping: tuple[SandboxProcess, httpx.Client],
) -> None:
    _, http = dropping
    assert http.get("/jobs").status_code == 200
    with pytest.raises(httpx.TransportError):
        http.get("/jobs")
    newest = http.get("/_sandbox/requests").json()["items"][0]
    assert newest["rules"] == ["drops:cut"]
    assert newest["status"] != 200


def test_a_scripted_204_is_a_clean_answer(serve: Callable[..., SandboxProcess]) -> None:
    server = serve()
    headers = auth(new_key())
    with httpx.Client(
        base_url=server.base_url, headers=headers, timeout=5, trust_env=False
    ) as http:
        use(http, {}, inline({"match": {"path": "/jobs"}, "respond": {"status": 204}}))
        answer = http.get("/jobs")
        assert answer.status_code == 204 and answer.content == b""
        assert http.get("/presets").status_code == 200  # the same connection, still usable
    assert "without completing response" not in server.stderr()

"""Every shipped scenario, switched on by name, does what its description promises.

The in-process sandbox runs on a manual clock at START with instant jobs (conftest.py), so the
clock moves only when a test advances it.
"""

from __future__ import annotations

import time
from typing import Any, get_args

import pytest
import yaml
from starlette.testclient import TestClient

from aiprod_sandbox.core.scenarios.models import WebhookAction
from aiprod_sandbox.errors import DropConnection
from tests.conftest import START, auth, new_key
from tests.scenarios.conftest import (
    SHIPPED,
    SHIPPED_NAMES,
    advance,
    deliveries,
    get_job,
    journal,
    signed_by,
    statuses,
    submit,
    use,
)
from tests.support.receivers import Receivers

ALL_EVENTS = ["job.started", "job.progress", "job.completed", "job.failed"]


def test_the_library_lists_all_nine_with_description_advice_and_active(
    client: TestClient, headers: dict[str, str]
) -> None:
    assert len(SHIPPED_NAMES) == 9
    use(client, headers, "slow-responses")
    items = client.get("/_sandbox/scenarios", headers=headers).json()["items"]
    assert sorted(item["name"] for item in items) == SHIPPED_NAMES
    for item in items:
        source = yaml.safe_load((SHIPPED / f"{item['name']}.yaml").read_text())
        assert item["description"] == source["description"]
        assert item["advice"] == source["advice"] and item["advice"]
        assert item["active"] is (item["name"] == "slow-responses")


def test_rate_limit_storm_refuses_the_first_three_calls_with_the_guides_429(
    client: TestClient, headers: dict[str, str]
) -> None:
    assert use(client, headers, "rate-limit-storm") == {
        "scenario": "rate-limit-storm",
        "server_scenarios": [],
    }
    for _ in range(3):
        refused = client.get("/jobs", headers=headers)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        error = refused.json()["error"]
        assert error["type"] == "rate_limit_error"
        assert error["message"] == "Rate limit exceeded"
        assert error["code"] == "RATE_LIMIT_EXCEEDED"
        assert error["retry_after"] == 1
        assert error["request_id"] == refused.headers["X-Request-Id"]
    passed = client.get("/jobs", headers=headers)
    assert passed.status_code == 200
    assert int(passed.headers["X-RateLimit-Remaining"]) == 49  # the storm took no tokens
    assert [entry["rules"] for entry in journal(client, headers)] == [
        ["rate-limit-storm:storm"]
    ] * 3 + [[]]


def test_scripted_answers_still_carry_the_rate_limit_headers(
    client: TestClient, headers: dict[str, str]
) -> None:
    use(client, headers, "rate-limit-storm")
    refused = client.get("/jobs", headers=headers)
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Limit"] == "100"
    # A refusal reads as an empty bucket whose Reset agrees with Retry-After (not a full one).
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["X-RateLimit-Reset"]) == START + int(refused.headers["Retry-After"])
    # An outage too, even a 503 with a Retry-After of its own.
    use(client, headers, "outage-503-window")
    advance(client, headers, 10)
    down = client.get("/jobs", headers=headers)
    assert down.status_code == 503
    assert down.headers["X-RateLimit-Remaining"] == "0"
    assert int(down.headers["X-RateLimit-Reset"]) == START + 10 + int(down.headers["Retry-After"])


def test_a_scripted_error_that_is_not_a_refusal_shows_the_bucket_as_it_is(
    client: TestClient, headers: dict[str, str]
) -> None:
    use(client, headers, "intermittent-500s")
    failed = client.post(
        "/pipeline/run", json={"video_url": "https://example.com/a.mp4"}, headers=headers
    )
    assert failed.status_code == 500
    assert failed.headers["X-RateLimit-Remaining"] == "50"  # it took no token


def test_intermittent_500s_fail_the_first_two_calls_then_work(
    client: TestClient, headers: dict[str, str]
) -> None:
    use(client, headers, "intermittent-500s")
    for _ in range(2):
        failed = client.post(
            "/pipeline/run", json={"video_url": "https://example.com/a.mp4"}, headers=headers
        )
        assert failed.status_code == 500
        error = failed.json()["error"]
        assert (error["type"], error["code"]) == ("server_error", "INTERNAL_ERROR")
        assert error["message"] == "Internal server error"
        assert error["request_id"] == failed.headers["X-Request-Id"]
    assert statuses(client, headers, 3) == [200, 200, 200]
    assert client.get("/jobs", headers=headers).json()["pagination"]["total"] == 0


def test_lost_answers_create_the_job_then_lose_the_first_and_third_answers(
    client: TestClient, headers: dict[str, str]
) -> None:
    use(client, headers, "lost-answers")
    body = {"video_url": "https://example.com/a.mp4"}
    lost = client.post("/pipeline/run", json=body, headers=headers)
    assert lost.status_code == 503 and lost.headers["Retry-After"] == "1"
    assert client.post("/pipeline/run", json=body, headers=headers).status_code == 202
    with pytest.raises(DropConnection):  # in process, the cut connection is this exception
        client.post("/pipeline/run", json=body, headers=headers)
    assert client.post("/pipeline/run", json=body, headers=headers).status_code == 202
    assert client.get("/jobs", headers=headers).json()["pagination"]["total"] == 4
    faults = [e["fault"] for e in journal(client, headers) if e["path"] == "/pipeline/run"]
    assert faults == [
        "lost-answers:created-then-503 (after): the handler answered 202; the client got 503",
        None,
        "lost-answers:created-then-dropped (after): the handler answered 202; "
        "the connection was dropped",
        None,
    ]


def test_outage_503_window_answers_503_until_300_clock_seconds_passed(
    client: TestClient, headers: dict[str, str]
) -> None:
    use(client, headers, "outage-503-window")
    for seconds in (0, 100, 199):  # the answers are checked against /openapi.json too
        advance(client, headers, seconds)
        down = client.get("/jobs", headers=headers)
        assert down.status_code == 503
        assert down.headers["Retry-After"] == "60"
        error = down.json()["error"]
        assert error["type"] == "service_unavailable_error"
        assert error["code"] == "SERVICE_UNAVAILABLE"
        assert error["request_id"] == down.headers["X-Request-Id"]
    advance(client, headers, 1)  # 300 s since the scenario was switched on
    assert statuses(client, headers, 3) == [200, 200, 200]
    assert submit(client, headers).startswith("job_")


def test_a_scripted_503_is_a_documented_answer(client: TestClient, headers: dict[str, str]) -> None:
    use(client, headers, "outage-503-window")
    assert client.get("/jobs", headers=headers).status_code == 503  # checked against the doc


def test_slow_responses_delay_every_second_get_only(
    client: TestClient, headers: dict[str, str]
) -> None:
    use(client, headers, "slow-responses")
    seen: list[tuple[str, float, str | None, int]] = []
    for method in ("GET", "POST", "GET", "POST", "GET", "GET"):
        started = time.monotonic()
        if method == "GET":
            response = client.get("/jobs", headers=headers)
        else:
            response = client.post(
                "/pipeline/run", json={"video_url": "https://example.com/a.mp4"}, headers=headers
            )
        took = time.monotonic() - started
        seen.append((method, took, response.headers.get("X-AIPROD-Slow"), response.status_code))
    gets = [s for s in seen if s[0] == "GET"]
    posts = [s for s in seen if s[0] == "POST"]
    for index, (_, took, slow, status) in enumerate(gets, start=1):
        assert status == 200
        if index % 2 == 0:
            assert took >= 1.5 and slow == "true"
        else:
            assert took < 1.0 and slow is None
    for _, took, slow, status in posts:
        assert status == 202 and took < 1.0 and slow is None
    # The answer itself is the real one: both jobs are listed.
    assert client.get("/jobs", headers=headers).json()["pagination"]["total"] == 2


def test_failing_jobs_fail_every_second_job_at_60_and_corrupt_inputs_at_once(
    client: TestClient, headers: dict[str, str]
) -> None:
    use(client, headers, "failing-jobs")
    videos = ["a", "b", "c", "corrupt_clip", "d", "e"]
    jobs = {video: get_job(client, headers, submit(client, headers, video)) for video in videos}
    # "corrupt" is matched first; every-other counts it too (every job is a job), so the
    # 2nd (b) and the 6th (e) job fail at 60 %.
    for video in ("a", "c", "d"):
        assert jobs[video]["status"] == "COMPLETED"
        assert jobs[video]["error"] is None and jobs[video]["result"] is not None
    for video in ("b", "e"):
        job = jobs[video]
        assert job["status"] == "FAILED" and job["result"] is None
        assert job["progress"] == 60
        assert job["error"] == {
            "type": "processing_error",
            "code": "PROCESSING_FAILED",
            "message": "Rendering failed at the mixing stage",
        }
    corrupt = jobs["corrupt_clip"]
    assert corrupt["status"] == "FAILED" and corrupt["progress"] == 0
    assert corrupt["error"] == {
        "type": "processing_error",
        "code": "UNSUPPORTED_MEDIA",
        "message": "The input could not be decoded",
    }


def test_realistic_timing_moves_jobs_only_as_the_clock_advances(
    client: TestClient, headers: dict[str, str]
) -> None:
    use(client, headers, "realistic-timing")
    assert client.get("/_sandbox/account", headers=headers).json()["job_timing"] == "simulated"
    job_id = submit(client, headers)
    assert get_job(client, headers, job_id)["status"] == "PENDING"
    assert get_job(client, headers, job_id)["status"] == "PENDING"  # reads move nothing
    seen: list[tuple[str, int]] = []
    for _ in range(600):
        job = get_job(client, headers, job_id)
        step = (job["status"], job["progress"])
        if not seen or seen[-1] != step:
            seen.append(step)
        if job["status"] == "COMPLETED":
            break
        advance(client, headers, 1)
    assert seen == [
        ("PENDING", 0),
        ("PROCESSING", 0),
        ("PROCESSING", 30),
        ("PROCESSING", 60),
        ("PROCESSING", 90),
        ("COMPLETED", 100),
    ]
    job = get_job(client, headers, job_id)
    assert job["result"]["processing_time_seconds"] >= 60  # minutes, not an instant


def test_free_tier_gives_a_pro_key_the_free_limits_until_cleared(
    client: TestClient,
) -> None:
    headers = auth(new_key("pro"))
    use(client, headers, "free-tier")
    account = client.get("/_sandbox/account", headers=headers).json()
    assert account["tier"] == "free"
    assert account["limits"] == {
        "requests_per_minute": 10,
        "burst": 5,
        "concurrent_jobs": 2,
        "batch": False,
    }
    assert statuses(client, headers, 5) == [200] * 5
    refused = client.get("/jobs", headers=headers)
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Limit"] == "10"
    assert int(refused.headers["Retry-After"]) >= 1
    advance(client, headers, 60)  # the bucket refills
    batch = client.post(
        "/pipeline/batch",
        json={"videos": [{"url": "https://example.com/a.mp4"}]},
        headers=headers,
    )
    assert batch.status_code == 403
    assert batch.json()["error"]["type"] == "permission_error"
    assert batch.json()["error"]["message"] == "Your tier does not support batch processing"

    cleared = client.delete("/_sandbox/scenario", headers=headers)
    assert cleared.json() == {"scenario": None, "server_scenarios": []}
    account = client.get("/_sandbox/account", headers=headers).json()
    assert account["tier"] == "pro"
    assert account["limits"] == {
        "requests_per_minute": 100,
        "burst": 50,
        "concurrent_jobs": 10,
        "batch": True,
    }
    batch = client.post(
        "/pipeline/batch",
        json={"videos": [{"url": "https://example.com/a.mp4"}]},
        headers=headers,
    )
    assert batch.status_code == 202
    assert batch.headers["X-RateLimit-Limit"] == "100"


# ---- webhook-chaos -------------------------------------------------------------------------


def chaos_run(
    client: TestClient, headers: dict[str, str], receivers: Receivers, jobs: int = 3
) -> tuple[dict[str, Any], list[str], Any, dict[str, list[Any]]]:
    """`jobs` instant jobs under webhook-chaos with a webhook for every job event; returns the
    webhook, the job ids, the receiver, and what had arrived after +0 s, +5 s and +35 s."""
    running = receivers.start()
    use(client, headers, "webhook-chaos")
    webhook = client.post(
        "/webhooks/register",
        json={"url": running.url, "events": ALL_EVENTS},
        headers=headers,
    ).json()
    job_ids = [submit(client, headers, f"v{n}") for n in range(jobs)]
    arrived: dict[str, list[Any]] = {}
    for label, seconds in (("0", 0), ("5", 5), ("35", 30)):
        advance(client, headers, seconds)  # returns once the due attempts are done
        arrived[label] = list(running.receiver.received)
    return webhook, job_ids, running.receiver, arrived


# The numbered attempts of webhook-chaos (every attempt counts; here each delivery's first
# attempt is the call of its position in the log, as nothing is retried).
NUMBERED = {
    2: "bad_signature",
    6: "missing_signature",
    7: "wrong_secret",
    8: "stale_timestamp",
    11: "malformed_body",
    12: "wrong_content_type",
    13: "slow",
}


def test_webhook_chaos_misbehaves_as_described(
    client: TestClient, headers: dict[str, str], receivers: Receivers
) -> None:
    webhook, jobs, receiver, arrived = chaos_run(client, headers, receivers)
    secret = webhook["secret"]
    log = deliveries(client, headers)
    assert all(d["status"] == "delivered" for d in log), log
    assert len(log) == 15  # 3 jobs x (started, 3 progress, completed)
    received = arrived["35"]
    copies = {
        d["delivery_id"]: [r for r in received if r.delivery_id == d["delivery_id"]] for d in log
    }

    # The numbered attempts misbehave as the description says; the others do not.
    for call, delivery in enumerate(log, start=1):
        kind = NUMBERED.get(call)
        if kind is None:
            assert {a["deliberate"] for a in delivery["attempts"]}.isdisjoint(NUMBERED.values())
            continue
        assert [a["deliberate"] for a in delivery["attempts"]] == [kind], call
        [item] = copies[delivery["delivery_id"]]
        signature = item.headers.get("x-aiprod-signature")
        assert item.body == delivery["attempts"][0]["request_body"].encode()
        assert signed_by(secret, item.body, signature) is (
            kind not in ("bad_signature", "missing_signature", "wrong_secret")
        ), kind
        assert (signature is None) is (kind == "missing_signature")
        stamp = int(item.headers["x-aiprod-timestamp"])
        assert stamp == (START - 3600 if kind == "stale_timestamp" else START)
        assert (item.headers["content-type"] == "text/plain; charset=utf-8") is (
            kind == "wrong_content_type"
        )
        assert (not item.body.endswith(b"}")) is (kind == "malformed_body")  # cut short
        assert (delivery["attempts"][0]["duration_ms"] >= 2000) is (kind == "slow")
    for item in received:
        if item.delivery_id not in {log[call - 1]["delivery_id"] for call in NUMBERED}:
            assert signed_by(secret, item.body, item.headers.get("x-aiprod-signature"))

    # Every job.completed arrives twice: same delivery id, same bytes, same headers.
    for delivery in (d for d in log if d["event"] == "job.completed"):
        twins = copies[delivery["delivery_id"]]
        assert len(twins) == 2
        assert twins[0].body == twins[1].body == delivery["attempts"][0]["request_body"].encode()
        assert twins[0].headers["x-aiprod-signature"] == twins[1].headers["x-aiprod-signature"]
        assert [a["deliberate"] for a in delivery["attempts"]] == ["duplicate", "duplicate"]

    # The first job.started is held back 5 s: it arrives after that job's later events.
    started = next(d for d in log if d["event"] == "job.started")
    assert started["job_id"] == jobs[0]
    assert started["delivery_id"] not in {r.delivery_id for r in arrived["0"]}
    order = [r.delivery_id for r in received]
    later = [
        d["delivery_id"]
        for d in log
        if d["job_id"] == jobs[0] and d is not started and d["attempts"][0]["deliberate"] != "delay"
    ]  # the late ones are later still
    assert all(order.index(started["delivery_id"]) > order.index(other) for other in later)
    assert started["delivery_id"] in {r.delivery_id for r in arrived["5"]}
    assert [a["deliberate"] for a in started["attempts"]] == ["out_of_order"]
    assert "out_of_order" in started["note"]

    # Late progress: held back 30 s, delivered only once the clock moved past it.
    late = [d for d in log if any(a["deliberate"] == "delay" for a in d["attempts"])]
    assert [log.index(d) + 1 for d in late] == [4, 9, 14]  # progress 3, 6 and 9
    for delivery in late:
        assert delivery["event"] == "job.progress"
        assert delivery["delivery_id"] not in {r.delivery_id for r in arrived["5"]}
        assert delivery["delivery_id"] in {r.delivery_id for r in arrived["35"]}
    # Every action but drop shows (a dropped attempt never reaches the receiver, and its
    # retry 1 s later is what `delay` shows already).
    deliberate = {a["deliberate"] for d in log for a in d["attempts"]} - {None}
    assert deliberate == set(get_args(WebhookAction)) - {"drop"}
    assert receiver.received == received


def test_webhook_chaos_delays_exactly_every_third_progress(
    client: TestClient, headers: dict[str, str], receivers: Receivers
) -> None:
    chaos_run(client, headers, receivers, jobs=2)  # 10 attempts: no slow one (the 13th)
    progress = [d for d in deliveries(client, headers) if d["event"] == "job.progress"]
    late = [n for n, d in enumerate(progress, start=1) if d["attempts"][0]["deliberate"] == "delay"]
    assert late == [3, 6]

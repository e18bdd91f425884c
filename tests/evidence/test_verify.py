"""`POST /_sandbox/verify` over real sockets: every matcher part, every count, sequences,
deliveries, near misses, and `within` on a manual and on a moving clock."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.evidence.conftest import Partner
from tests.support.receivers import Receivers


@pytest.fixture
def traffic(partner: Partner) -> dict[str, str]:
    """Three requests: two submissions (one with metadata) and a read with a query."""
    first = partner.submit(metadata={"customer_id": "cust_1", "project": "q1"})
    second = partner.submit(voice_text="hello")
    partner.client.get(
        "/jobs", params={"status": "COMPLETED", "limit": 5}, headers={"X-Trace": "t"}
    )
    return {"first": first, "second": second}


# One matching and one missing form of each part of a request matcher, and the part a miss
# names. Each holds for exactly one of the three requests of `traffic`.
PARTS: list[tuple[dict[str, Any], dict[str, Any], str]] = [
    ({"method": "GET"}, {"method": "DELETE"}, "method"),
    ({"path": "/jobs*"}, {"path": "/keys*"}, "path"),
    ({"query": {"status": "COMPLETED"}}, {"query": {"status": "FAILED"}}, "query.status"),
    ({"headers": {"X-Trace": "t"}}, {"headers": {"X-Trace": "u"}}, "headers.x-trace"),
    (
        {"body": {"metadata": {"customer_id": "cust_1"}}},
        {"body": {"metadata": {"customer_id": "cust_2"}}},
        "body.metadata.customer_id",
    ),
    (
        {"jsonpath": {"$.metadata.project": "q1"}},
        {"jsonpath": {"$.metadata.project": "q2"}},
        "jsonpath $.metadata.project",
    ),
    ({"jsonpath": {"$.voice_text": "hello"}}, {"jsonpath": {"$.voice_text": "bye"}}, "jsonpath"),
]


@pytest.mark.parametrize(("hit", "miss", "part"), PARTS, ids=[p[2] for p in PARTS])
def test_each_part_of_a_request_matcher(
    partner: Partner, traffic: dict[str, str], hit: dict[str, Any], miss: dict[str, Any], part: str
) -> None:
    found = partner.verify(requests=hit, exactly=1)
    assert found["ok"] and found["count"] == 1, found["message"]
    missed = partner.verify(requests=miss)
    assert not missed["ok"] and missed["count"] == 0
    parts = [m["part"] for near in missed["near_misses"] for m in near["misses"]]
    assert any(p.startswith(part) for p in parts), parts


def test_status_and_job_and_time_parts(partner: Partner, traffic: dict[str, str]) -> None:
    assert partner.verify(requests={"status": 202}, exactly=2)["ok"]
    assert partner.verify(requests={"status": [200, 202]}, exactly=3)["ok"]
    assert partner.verify(requests={"job_id": traffic["first"]}, exactly=1)["ok"]
    assert partner.verify(requests={"until": "2000-01-01T00:00:00Z"}, never=True)["ok"]
    assert partner.verify(requests={"since": "2000-01-01T00:00:00Z"}, exactly=3)["ok"]


def test_counts(partner: Partner, traffic: dict[str, str]) -> None:
    posts = {"method": "POST", "path": "/pipeline/run"}
    assert partner.verify(requests=posts)["expected"] == "at least 1"
    assert partner.verify(requests=posts, exactly=2)["ok"]
    assert not partner.verify(requests=posts, exactly=3)["ok"]
    assert partner.verify(requests=posts, at_least=2)["ok"]
    assert not partner.verify(requests=posts, at_least=3)["ok"]
    assert partner.verify(requests=posts, at_most=2)["ok"]
    too_many = partner.verify(requests=posts, at_most=1)
    assert not too_many["ok"] and len(too_many["matched"]) == 2 and not too_many["near_misses"]
    assert partner.verify(requests=posts, at_least=1, at_most=2)["ok"]
    assert partner.verify(requests={"method": "DELETE"}, never=True)["ok"]
    assert not partner.verify(requests=posts, never=True)["ok"]


def test_near_misses_come_closest_first_and_say_what_failed(
    partner: Partner, traffic: dict[str, str]
) -> None:
    wanted = {"method": "POST", "path": "/pipeline/run", "body": {"voice_text": "goodbye"}}
    answer = partner.verify(requests=wanted, exactly=1)
    assert not answer["ok"]
    closest = answer["near_misses"][0]
    assert closest["misses"] == [
        {"part": "body.voice_text", "expected": "goodbye", "actual": "hello"}
    ]
    assert [len(n["misses"]) for n in answer["near_misses"]] == sorted(
        len(n["misses"]) for n in answer["near_misses"]
    )
    assert "body.voice_text: expected 'goodbye', was 'hello'" in answer["message"]
    assert closest["ref"].startswith("req_") and "POST /pipeline/run" in closest["summary"]


def test_sequences_hold_in_order_only(partner: Partner, traffic: dict[str, str]) -> None:
    submit = {"method": "POST", "path": "/pipeline/run"}
    listing = {"method": "GET", "path": "/jobs"}
    assert partner.verify(sequence=[submit, submit, listing])["ok"]
    assert partner.verify(sequence=[submit, listing])["ok"]  # others may come between
    assert not partner.verify(sequence=[listing, submit])["ok"]
    second_first = [{"body": {"voice_text": "hello"}}, {"body": {"metadata": {"project": "q1"}}}]
    broken = partner.verify(sequence=second_first)
    assert not broken["ok"] and broken["count"] == 1
    [near] = broken["near_misses"]  # only what came after step 1 is tried for step 2
    assert near["step"] == 2 and near["summary"].startswith("GET /jobs")
    assert near["misses"][0]["part"] == "body"
    assert "step 2" in broken["message"]


def test_deliveries_by_event_job_endpoint_outcome_and_acknowledgements(
    partner: Partner, receivers: Receivers
) -> None:
    partner.manual_clock()
    failing = receivers.plain(500)  # refuses the first attempt, then takes them
    webhook = partner.register(failing.url, ["job.completed"])
    job_id = partner.submit()
    first = partner.verify(deliveries={"event": "job.completed", "job_id": job_id}, exactly=1)
    assert first["ok"]
    pending = {"job_id": job_id, "outcome": "pending", "attempts": 1, "acknowledged": 0}
    assert partner.verify(deliveries=pending, exactly=1)["ok"]
    partner.client.post("/_sandbox/clock/advance", json={"seconds": 1})
    done = {
        "event": "job.completed",
        "endpoint": webhook["webhook_id"],
        "outcome": "acknowledged",
        "attempts": 2,
        "acknowledged": 1,
        "body": {"event": "job.completed", "data": {"job_id": job_id, "status": "COMPLETED"}},
    }
    assert partner.verify(deliveries=done, exactly=1)["ok"]
    assert partner.verify(deliveries={"endpoint": failing.url}, exactly=1)["ok"]
    assert partner.verify(deliveries={"endpoint": "callback"}, never=True)["ok"]
    wrong = partner.verify(deliveries={**done, "acknowledged": 2}, exactly=1)
    assert not wrong["ok"]
    assert wrong["near_misses"][0]["misses"] == [
        {"part": "acknowledged", "expected": 2, "actual": 1}
    ]


def _clock(partner: Partner) -> datetime:
    now = partner.client.get("/_sandbox/clock").json()["now"]
    return datetime.fromisoformat(now.replace("Z", "+00:00"))


def test_never_within_moves_a_manual_clock_through_the_whole_window(partner: Partner) -> None:
    partner.manual_clock()
    before = _clock(partner)
    answer = partner.verify(requests={"method": "DELETE"}, never=True, within=60)
    assert answer["ok"] and answer["advanced_seconds"] == pytest.approx(60)
    assert (_clock(partner) - before).total_seconds() == pytest.approx(60, abs=1)
    partner.client.get("/jobs")
    held = partner.verify(requests={"path": "/jobs"}, within=30)  # holds already: no wait
    assert held["ok"] and held["advanced_seconds"] == 0 and held["waited_seconds"] == 0
    assert (_clock(partner) - before).total_seconds() == pytest.approx(60, abs=1)


def test_within_on_a_manual_clock_runs_due_work_until_a_delivery_arrives(
    partner: Partner, receivers: Receivers
) -> None:
    partner.manual_clock()
    partner.client.post("/_sandbox/timing", json={"job_timing": "simulated"})
    receiver = receivers.plain()
    partner.register(receiver.url, ["job.completed"])
    job_id = partner.submit()
    estimate = partner.client.get(f"/pipeline/{job_id}").json()["estimated_duration_seconds"]
    completed = {"event": "job.completed", "job_id": job_id, "outcome": "acknowledged"}
    before = _clock(partner)
    answer = partner.verify(deliveries=completed, exactly=1, within=estimate + 60)
    assert answer["ok"], answer["message"]
    assert 0 < answer["advanced_seconds"] < estimate + 60  # stopped when it held
    assert len(receiver.receiver.received) == 1
    job = partner.client.get(f"/pipeline/{job_id}").json()
    assert job["status"] == "COMPLETED"
    completed_at = datetime.fromisoformat(job["completed_at"].replace("Z", "+00:00"))
    assert (completed_at - before).total_seconds() == pytest.approx(
        answer["advanced_seconds"], abs=1
    )
    assert _clock(partner) == completed_at  # the clock stopped at the completion


def test_within_on_a_moving_clock_waits_and_gives_up_in_time(partner: Partner) -> None:
    # A scaled clock: 120 clock seconds a real second, a job of 60 clock seconds
    partner.client.post("/_sandbox/clock", json={"mode": "scaled", "scale": 120})
    scenario = {
        "name": "quick",
        "description": "d",
        "jobs": [{"timing": "simulated", "queue_seconds": 0, "processing_seconds": 60}],
    }
    assert partner.client.put("/_sandbox/scenario", json={"scenario": scenario}).status_code == 200
    job_id = partner.submit()
    started = time.monotonic()
    answer = partner.verify(
        requests={"method": "DELETE"}, never=True, within=24
    )  # 24 clock seconds: 0.2 s real
    assert answer["ok"] and 0.15 <= time.monotonic() - started < 5
    assert 0.15 <= answer["waited_seconds"] < 5 and answer["advanced_seconds"] == 0
    job = partner.client.get(f"/pipeline/{job_id}")
    assert job.status_code == 200
    gave_up = partner.verify(requests={"path": "/never/*"}, within=12)
    assert not gave_up["ok"] and gave_up["waited_seconds"] >= 0.08


def test_within_on_a_real_clock_ends_as_soon_as_it_holds(
    partner: Partner, another: Partner
) -> None:
    def later() -> None:
        time.sleep(0.3)
        partner.client.get("/jobs", params={"limit": 1})

    thread = threading.Thread(target=later)
    thread.start()
    started = time.monotonic()
    answer = partner.verify(requests={"path": "/jobs"}, exactly=1, within=20)
    thread.join()
    assert answer["ok"] and 0.25 <= time.monotonic() - started < 10
    # the other account's requests never count here
    another.client.get("/jobs")
    assert partner.verify(requests={"path": "/jobs"}, exactly=1)["ok"]


def test_bad_verifications_are_refused_with_the_field_named(partner: Partner) -> None:
    cases = [
        {"requests": {}, "deliveries": {}},
        {"requests": {"method": "GET"}, "exactly": 1, "never": True},
        {"requests": {"jsonpath": {"$..[": 1}}},
        {"requests": {}, "exactly": 1, "at_most": 1},
        {"sequence": [{"method": "GET"}], "exactly": 1},
        {"requests": {"path": "pipeline/run"}},
        {"requests": {}, "within": 0},
        {"requests": {"verb": "GET"}},
    ]
    for body in cases:
        answer = partner.client.post("/_sandbox/verify", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"]["type"] == "validation_error"


def test_one_account_cannot_hold_every_waiting_slot(
    partner: Partner, another: Partner, server: Any
) -> None:
    import concurrent.futures

    def wait_long() -> int:
        with httpx.Client(base_url=server.base_url, headers=partner.client.headers) as client:
            spec = {"requests": {"path": "/never"}, "never": True, "within": 3}
            return client.post("/_sandbox/verify", json=spec, timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(wait_long) for _ in range(8)]
        time.sleep(1.0)
        refused = partner.client.post(
            "/_sandbox/verify", json={"requests": {}, "never": True, "within": 1}
        )
        other = another.verify(requests={"path": "/never"}, never=True, within=0.1)
        statuses = [f.result() for f in futures]
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert other["ok"]
    assert statuses == [200] * 8

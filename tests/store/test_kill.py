"""`kill -9` at random moments: a real `serve --data-dir` process is killed mid-traffic, again
and again, and every write it acknowledged is there after each restart, and every webhook
retry it owed arrives at a real receiver at its time on the account's clock.

Bounded: six rounds of at most half a second of writes each, every wait with a timeout."""

from __future__ import annotations

import random
import signal
import threading
from pathlib import Path
from typing import Any

import httpx

from tests.support.serve import SandboxProcess, http_client, launch, random_key, shut_down

ROUNDS = 6
START = "2026-05-28T20:26:40Z"
QUIET = {  # the account's own scenario: a rule the writer's calls never match
    "scenario": {
        "name": "usage-outage",
        "description": "GET /usage answers 503",
        "requests": [{"match": {"path": "/usage"}, "respond": {"status": 503}}],
    }
}


class Acknowledged:
    """What the server answered with success: it must survive any kill after the answer."""

    def __init__(self) -> None:
        self.jobs: list[str] = []
        self.keys: dict[str, str] = {}  # key id -> the key
        self.revoked: set[str] = set()


def _writer(
    base: str, key: str, seen: Acknowledged, stop: threading.Event, rng: random.Random
) -> None:
    h = {"Authorization": f"Bearer {key}"}
    with http_client(timeout=2.0) as client:
        while not stop.is_set():
            try:
                roll = rng.random()
                if roll < 0.7:
                    r = client.post(
                        f"{base}/pipeline/run", json={"video_url": "https://e.com/a.mp4"}, headers=h
                    )
                    if r.status_code == 202:
                        seen.jobs.append(r.json()["job_id"])
                elif roll < 0.85 or not (set(seen.keys) - seen.revoked):
                    r = client.post(f"{base}/keys", json={"name": "made"}, headers=h)
                    if r.status_code == 201:
                        seen.keys[r.json()["key_id"]] = r.json()["key"]
                else:
                    key_id = rng.choice(sorted(set(seen.keys) - seen.revoked))
                    r = client.delete(f"{base}/keys/{key_id}", headers=h)
                    if r.is_success:
                        seen.revoked.add(key_id)
            except httpx.HTTPError:
                return  # killed: the request in flight was never acknowledged


def _state(client: httpx.Client, base: str, key: str) -> dict[str, Any]:
    r = client.get(f"{base}/_sandbox/state", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    document: dict[str, Any] = r.json()
    return document


def _check(state: dict[str, Any], seen: Acknowledged, setup: dict[str, Any]) -> None:
    jobs = {job["job_id"]: job for job in state["jobs"]}
    missing = [job_id for job_id in seen.jobs if job_id not in jobs]
    assert not missing, f"acknowledged jobs lost: {missing}"
    assert all(jobs[job_id]["status"] == "COMPLETED" for job_id in seen.jobs)
    keys = {k["key_id"]: k for k in state["keys"]}
    assert set(seen.keys) <= set(keys), "acknowledged keys lost"
    assert all(keys[key_id]["revoked_at"] for key_id in seen.revoked), "a revocation was lost"
    for job in setup["jobs"]:  # jobs in every state, as they were (the clock stood still)
        assert jobs[job["job_id"]] == job
    assert state["webhooks"] == setup["webhooks"]
    assert {**state["settings"], "clock": None} == {**setup["settings"], "clock": None}
    for given in setup["keys"]:  # as they were, but for when each was last used
        assert {**keys[given["key_id"]], "last_used_at": None} == {**given, "last_used_at": None}


def test_kill_9_loses_no_acknowledged_write_and_no_pending_retry(
    tmp_path: Path, receivers: Any
) -> None:
    failing = receivers.plain(default=500)
    args = ["--data-dir", str(tmp_path / "data"), "--clock", "manual", "--start-time", START]
    key = random_key()
    h = {"Authorization": f"Bearer {key}"}
    rng = random.Random(19)
    seen = Acknowledged()
    server: SandboxProcess = launch(args)
    with http_client() as client:
        base = server.base_url
        client.post(
            f"{base}/webhooks/register",
            json={"url": failing.url, "events": ["job.completed"]},
            headers=h,
        )
        old = client.post(f"{base}/keys", json={"name": "old"}, headers=h).json()
        client.post(f"{base}/keys", json={"name": "rotated"}, headers=h)
        client.delete(f"{base}/keys/{old['key_id']}", headers=h)
        assert client.put(f"{base}/_sandbox/scenario", json=QUIET, headers=h).is_success
        for url in ("fail_voice_synthesis.mp4", "stay_pending.mp4", "stay_pending.mp4"):
            client.post(
                f"{base}/pipeline/run", json={"video_url": f"https://e.com/{url}"}, headers=h
            )
        cancel = client.get(f"{base}/jobs?status=PENDING&limit=1", headers=h).json()["items"]
        client.delete(f"{base}/jobs/{cancel[0]['job_id']}", headers=h)
        client.post(f"{base}/_sandbox/timing", json={"job_timing": "simulated"}, headers=h)
        client.post(f"{base}/pipeline/run", json={"video_url": "https://e.com/slow.mp4"}, headers=h)
        client.post(f"{base}/_sandbox/clock/advance", json={"seconds": 60}, headers=h)
        client.post(f"{base}/_sandbox/timing", json={"job_timing": "instant"}, headers=h)
        setup = _state(client, base, key)
    statuses = {job["status"] for job in setup["jobs"]}
    assert statuses == {"FAILED", "PENDING", "CANCELLED", "PROCESSING"}
    running = [server]
    try:
        _rounds(args, key, seen, setup, rng, running, failing, h)
    finally:
        if running[0].process.poll() is None:
            shut_down(running[0])


def _rounds(
    args: list[str],
    key: str,
    seen: Acknowledged,
    setup: dict[str, Any],
    rng: random.Random,
    running: list[SandboxProcess],
    failing: Any,
    h: dict[str, str],
) -> None:
    """Kill and restart the server (`running[0]`) `ROUNDS` times, checking after each; then
    let the owed retries through."""
    server = running[0]
    for _ in range(ROUNDS):
        stop = threading.Event()
        writer = threading.Thread(
            target=_writer, args=(server.base_url, key, seen, stop, random.Random(rng.random()))
        )
        writer.start()
        threading.Event().wait(rng.uniform(0.05, 0.5))
        server.process.send_signal(signal.SIGKILL)  # no clean shutdown: mid-write, mid-send
        server.process.wait(timeout=5)
        stop.set()
        writer.join(timeout=5)
        shut_down(server)
        server = running[0] = launch(args)
        with http_client() as client:
            _check(_state(client, server.base_url, key), seen, setup)
    assert len(seen.jobs) > 20, "the writer must have written between the kills"
    with http_client() as client:
        base = server.base_url
        state = _state(client, base, key)
        pending = {
            d["delivery_id"]: d for d in state["deliveries"]["items"] if d["status"] == "pending"
        }
        ours = {d["job_id"] for d in pending.values()}
        # Every acknowledged job's completion is owed to the receiver (none may succeed).
        assert set(seen.jobs) <= ours
        failing.receiver.respond_with(default=200)
        client.post(f"{base}/_sandbox/clock/advance", json={"seconds": 3600}, headers=h)
        assert failing.receiver.wait_until(
            lambda got: set(pending) <= {item.delivery_id for item in got if item.status == 200},
            timeout=20,
        )
        for delivery_id, before in pending.items():
            after = client.get(f"{base}/_sandbox/deliveries/{delivery_id}", headers=h).json()
            assert after["status"] == "delivered"
            due = before["next_attempt_at"]
            assert due is not None
            assert after["attempts"][-1]["scheduled_at"][:19] == due[:19]  # at its time

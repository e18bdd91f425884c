"""A key revoked while a request of it is on its way, and control operations that race each
other, against a real server."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from .conftest import ServerProcess, api, connect, fresh_key, read_response

JOB = {"video_url": "https://example.com/input.mp4"}


def test_a_request_let_in_just_before_its_key_is_revoked_does_not_act(
    server: ServerProcess,
) -> None:
    """Before: a request authenticated just before a revoke still created its job after it."""
    owner = fresh_key()
    doomed = api(server, "POST", "/keys", owner, {"name": "doomed"}).json()
    body = json.dumps(JOB).encode()
    head = (
        "POST /pipeline/run HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {doomed['key']}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with connect(server) as sock:
        sock.sendall(head + body[:10])  # let in: the key is checked before the body comes
        time.sleep(0.3)
        assert api(server, "DELETE", f"/keys/{doomed['key_id']}", owner).status == 200
        sock.sendall(body[10:])
        answer = read_response(sock)
    assert answer is not None and answer.status == 401, answer
    assert answer.json()["error"]["code"] == "KEY_REVOKED"
    assert api(server, "GET", "/jobs", owner).json()["pagination"]["total"] == 0


def test_an_import_waits_for_an_advance_of_the_same_account(server: ServerProcess) -> None:
    """Before: an import landing while `clock/advance` waited for webhook attempts replaced
    the jobs under it, and the advance ran the new ones' steps against its own target time."""
    key = fresh_key()
    api(server, "POST", "/_sandbox/clock", key, {"mode": "manual"})
    api(server, "POST", "/_sandbox/timing", key, {"job_timing": "simulated"})
    # webhooks to a port nothing listens on: the advance waits for each refused attempt
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["job.progress", "job.completed"]}
    api(server, "POST", "/webhooks/register", key, hook)
    for _ in range(20):
        api(server, "POST", "/pipeline/run", key, JOB)
    finished: dict[str, Any] = {}

    def advance() -> None:
        answer = api(server, "POST", "/_sandbox/clock/advance", key, {"seconds": 7200}, timeout=60)
        finished["advance"] = answer

    runner = threading.Thread(target=advance)
    runner.start()
    # Import once the advance is under way (its first attempts are logged), not after a
    # fixed pause that a busy machine can outlast before the advance even arrives.
    deadline = time.monotonic() + 10
    while not api(server, "GET", "/_sandbox/deliveries?limit=1", key).json()["items"]:
        assert time.monotonic() < deadline, "the advance made no attempt in 10 s"
        time.sleep(0.005)
    assert "advance" not in finished, "the advance ended before the import could race it"
    imported = api(server, "PUT", "/_sandbox/state", key, {"jobs": []}, timeout=60)
    runner.join(timeout=60)
    assert imported.status == 200, imported
    # It waited for the advance to end: the advance saw every job through to the end (an
    # import in the middle would have taken the rest of them from under it). The server's
    # own account, not the two client threads' clocks, which a busy machine can reorder.
    ran = finished["advance"].json()
    assert ran["ran_count"] <= len(ran["ran"]), "the advance listed all it ran"
    completed = {r["ref"] for r in ran["ran"] if (r["kind"], r["action"]) == ("job", "complete")}
    assert len(completed) == 20, ran["ran_count"]
    assert api(server, "GET", "/jobs", key).json()["pagination"]["total"] == 0

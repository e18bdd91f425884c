"""What one client with well-formed free test keys could once do to other accounts through
the account table, against a real server.

Before: a flood of 100,000 new keys (25 s) evicted other accounts silently — the victim's jobs
and webhooks gone, its minted key then opening a new empty account — and took the server from
47 to 449 MiB; 1,000 requests with distinct 1 MiB keys grew it by 1 GiB under httptools. Now a
client opens a bounded number of accounts (1,000 at once, then 50 a second), only empty idle
accounts are ever let go (with a line in the log), and a key is at most 256 characters.
"""

from __future__ import annotations

import http.client
import json
import time

from .conftest import ServerProcess, api, fresh_key

FLOOD = 3_000  # new keys sent as fast as one connection goes
HUGE_KEYS = 200  # distinct keys of 200 KiB each
JOB = {"video_url": "https://example.com/input.mp4"}
HOOK = {"url": "https://hooks.example.com/victim", "events": ["job.completed"]}


def _get(connection: http.client.HTTPConnection, key: str) -> tuple[int, dict[str, str], bytes]:
    connection.request("GET", "/jobs", headers={"Authorization": f"Bearer {key}"})
    answer = connection.getresponse()
    return answer.status, dict(answer.getheaders()), answer.read()


def test_a_key_flood_is_held_back_and_evicts_no_account(server: ServerProcess) -> None:
    victim = fresh_key()
    job = api(server, "POST", "/pipeline/run", victim, JOB).json()["job_id"]
    hook = api(server, "POST", "/webhooks/register", victim, HOOK).json()["webhook_id"]
    rss_before = server.rss_kib()
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    started = time.monotonic()
    statuses: dict[int, int] = {}
    refusal = b""
    try:
        for _ in range(FLOOD):
            status, headers, body = _get(connection, fresh_key())
            statuses[status] = statuses.get(status, 0) + 1
            if status == 429 and not refusal:
                refusal, retry_after = body, headers["retry-after"]
    finally:
        connection.close()
    took = time.monotonic() - started
    opened = statuses.get(200, 0)
    assert set(statuses) == {200, 429}, statuses
    assert opened <= 1_000 + 50 * took + 50, (opened, took)  # the burst, then the rate
    error = json.loads(refusal)["error"]
    assert error["code"] == "RATE_LIMIT_EXCEEDED" and "new accounts" in error["message"]
    assert int(retry_after) >= 1
    # the victim lost nothing, and its key still opens its own account
    assert api(server, "GET", f"/jobs/{job}", victim).status == 200
    assert api(server, "GET", f"/webhooks/{hook}", victim).status == 200
    assert (server.rss_kib() - rss_before) / 1024 < 60, "MiB grown by the flood"


def test_huge_keys_open_no_account_and_cost_no_memory(server: ServerProcess) -> None:
    rss_before = server.rss_kib()
    refused = 0
    for n in range(HUGE_KEYS):
        key = f"sk_test_{n:08d}" + "k" * (200 * 1024)
        connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
        try:
            status, _, body = _get(connection, key)
        except (ConnectionError, http.client.HTTPException):
            refused += 1  # cut off by the parser's own limit on a head: refused too
            continue
        finally:
            connection.close()
        assert status in (400, 401), status
        if status == 401:
            assert json.loads(body)["error"]["code"] == "INVALID_API_KEY"
        refused += 1
    assert refused == HUGE_KEYS
    assert (server.rss_kib() - rss_before) / 1024 < 30, "MiB grown by 40 MiB of keys"
    assert api(server, "GET", "/jobs", fresh_key()).status == 200

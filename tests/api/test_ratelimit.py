"""Rate limits over HTTP, on a manual clock: the guide's tiers, headers and 429 body.

Per account a token bucket (capacity = burst, refill = limit / 60 per second of the account's
clock); refused requests take no token; control calls, `/health` and `/openapi.json` are not
counted. The last test runs the guide's own `make_request_with_retry`, copied verbatim, against
a real `aiprod-sandbox serve` process.
"""

from __future__ import annotations

import itertools
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings, create_app
from tests.conftest import START, auth, new_key
from tests.support.guide import guide_path

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
JOB = {"video_url": "https://example.com/video.mp4"}
T0 = int(START) + 20
T0_ISO = "2026-05-28T20:27:00Z"


@pytest.fixture
def settings() -> Settings:
    return Settings(seed=11, clock="manual", start_time=START)


def fresh(client: TestClient, tier: str) -> dict[str, str]:
    """A new account whose manual clock stands exactly on T0 (a whole second), so Reset values
    are exact. (A fresh manual clock stands exactly on START: see the test below.)"""
    headers = auth(new_key(tier))
    pinned = client.post("/_sandbox/clock", json={"mode": "manual", "now": T0_ISO}, headers=headers)
    assert pinned.status_code == 200, pinned.text
    return headers


def advance(client: TestClient, headers: dict[str, str], seconds: float) -> None:
    response = client.post("/_sandbox/clock/advance", json={"seconds": seconds}, headers=headers)
    assert response.status_code == 200, response.text


def rate(response: httpx.Response) -> tuple[int, int, int]:
    """(Limit, Remaining, Reset) as a client would parse them: with int()."""
    return tuple(int(response.headers[name]) for name in RATE_HEADERS)  # type: ignore[return-value]


def assert_rate_limited(response: httpx.Response) -> int:
    """The guide's 429 body plus the contract's code and request id; returns Retry-After."""
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["type"] == "rate_limit_error"
    assert error["message"] == "Rate limit exceeded"
    assert error["code"] == "RATE_LIMIT_EXCEEDED"
    assert error["request_id"] == response.headers["X-Request-Id"]
    header = response.headers["Retry-After"]
    assert re.fullmatch(r"[1-9]\d*", header), header
    assert isinstance(error["retry_after"], int)
    assert error["retry_after"] == int(header) >= 1
    return int(header)


# ---- Free: 10 / min, burst 5 ---------------------------------------------------------------
def test_free_gets_exactly_five_quick_requests_then_the_guides_429(client: TestClient) -> None:
    headers = fresh(client, "free")
    passed = [client.get("/jobs", headers=headers) for _ in range(5)]
    assert [r.status_code for r in passed] == [200] * 5
    assert [rate(r)[:2] for r in passed] == [(10, 4), (10, 3), (10, 2), (10, 1), (10, 0)]
    assert not any("Retry-After" in r.headers for r in passed)
    refused = client.get("/jobs", headers=headers)
    retry_after = assert_rate_limited(refused)
    assert retry_after == 6  # one token every 6 s at 10 / min
    assert rate(refused) == (10, 0, T0 + 30)


def test_reset_is_unix_seconds_on_the_account_clock(client: TestClient) -> None:
    headers = fresh(client, "free")
    resets = [rate(client.get("/jobs", headers=headers))[2] for _ in range(5)]
    # Full again when every token taken is back: 6 s each.
    assert resets == [T0 + 6 * n for n in range(1, 6)]
    # Move the account's clock somewhere else entirely: Reset follows it, not the wall clock.
    moved = client.post(
        "/_sandbox/clock", json={"mode": "manual", "now": "2030-01-01T00:00:00Z"}, headers=headers
    )
    assert moved.status_code == 200, moved.text
    after = client.get("/jobs", headers=headers)
    assert after.status_code == 200
    assert rate(after) == (10, 4, 1_893_456_000 + 6)


def test_waiting_exactly_retry_after_passes(client: TestClient) -> None:
    headers = auth(new_key("free"))
    for _ in range(5):
        assert client.get("/jobs", headers=headers).status_code == 200
    retry_after = assert_rate_limited(client.get("/jobs", headers=headers))
    advance(client, headers, retry_after - 1)
    still = client.get("/jobs", headers=headers)
    assert assert_rate_limited(still) == 1
    advance(client, headers, 1)
    again = client.get("/jobs", headers=headers)
    assert again.status_code == 200, again.text
    assert rate(again)[1] == 0
    assert_rate_limited(client.get("/jobs", headers=headers))


def test_retry_after_counts_down_with_a_partly_refilled_bucket(client: TestClient) -> None:
    headers = auth(new_key("free"))
    for _ in range(5):
        client.get("/jobs", headers=headers)
    advance(client, headers, 2.5)  # 2.5 s of 6: 3.5 s to go, rounded up
    retry_after = assert_rate_limited(client.get("/jobs", headers=headers))
    assert retry_after == 4
    advance(client, headers, retry_after)
    assert client.get("/jobs", headers=headers).status_code == 200


def test_refused_requests_take_no_token(client: TestClient) -> None:
    headers = auth(new_key("free"))
    for _ in range(5):
        client.get("/jobs", headers=headers)
    for _ in range(15):
        assert_rate_limited(client.get("/jobs", headers=headers))
    advance(client, headers, 6)
    assert client.get("/jobs", headers=headers).status_code == 200
    advance(client, headers, 30)  # the bucket is full again: exactly five pass
    statuses = [client.get("/jobs", headers=headers).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def test_bucket_refills_to_burst_and_no_further(client: TestClient) -> None:
    headers = auth(new_key("free"))
    advance(client, headers, 3600)  # an idle hour does not bank more than the burst
    statuses = [client.get("/jobs", headers=headers).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def test_sandbox_reset_gives_a_full_bucket(client: TestClient) -> None:
    headers = auth(new_key("free"))
    for _ in range(6):
        client.get("/jobs", headers=headers)
    reset = client.post("/_sandbox/reset", json={}, headers=headers)
    assert reset.status_code == 200, reset.text
    statuses = [client.get("/jobs", headers=headers).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


# ---- which responses carry the headers, and what is counted --------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/jobs", None, 200),
        ("GET", "/jobs/job_doesnotexist0000", None, 404),
        ("GET", "/pipeline/job_doesnotexist0000", None, 404),
        ("DELETE", "/jobs/job_doesnotexist0000", None, 404),
        ("POST", "/pipeline/run", {}, 400),
        ("POST", "/pipeline/run", JOB, 202),
        ("GET", "/jobs?limit=500", None, 400),
        ("GET", "/webhooks/wh_doesnotexist000", None, 404),
        ("DELETE", "/keys/key_doesnotexist", None, 404),
        ("GET", "/me/usage", None, 200),
        ("GET", "/presets", None, 200),
    ],
)
def test_every_authenticated_api_response_carries_the_headers(
    client: TestClient, method: str, path: str, body: Any, status: int
) -> None:
    headers = fresh(client, "pro")
    response = client.request(method, path, json=body, headers=headers)
    assert response.status_code == status, response.text
    assert rate(response) == (100, 49, T0 + 1)  # 0.6 s for the one token, rounded up


def test_a_429_and_a_403_carry_the_headers_too(client: TestClient) -> None:
    headers = fresh(client, "free")
    batch = client.post(
        "/pipeline/batch", json={"videos": [{"url": JOB["video_url"]}]}, headers=headers
    )
    assert batch.status_code == 403
    assert rate(batch) == (10, 4, T0 + 6)
    for _ in range(4):
        client.get("/jobs", headers=headers)
    refused = client.get("/jobs", headers=headers)
    assert refused.status_code == 429
    assert rate(refused)[:2] == (10, 0)


@pytest.mark.parametrize(
    "path", ["/health", "/openapi.json", "/_sandbox/clock", "/_sandbox/account"]
)
def test_uncounted_endpoints_carry_no_rate_headers(client: TestClient, path: str) -> None:
    response = client.get(path, headers=auth(new_key("free")))
    assert response.status_code == 200, response.text
    for name in (*RATE_HEADERS, "Retry-After"):
        assert name not in response.headers


def test_control_calls_are_not_counted(client: TestClient) -> None:
    headers = auth(new_key("free"))
    for _ in range(20):
        assert client.get("/_sandbox/clock", headers=headers).status_code == 200
    for _ in range(5):
        assert client.get("/_sandbox/account", headers=headers).status_code == 200
    assert client.get("/health", headers=headers).status_code == 200
    first = client.get("/jobs", headers=headers)
    assert first.status_code == 200
    assert rate(first)[1] == 4


def test_control_calls_still_work_when_the_bucket_is_empty(client: TestClient) -> None:
    headers = auth(new_key("free"))
    for _ in range(6):
        client.get("/jobs", headers=headers)
    assert client.get("/_sandbox/clock", headers=headers).status_code == 200
    advance(client, headers, 6)  # the way out of a 429 on a manual clock must not be limited
    assert client.get("/jobs", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("tier", "expected"), [("free", (10, 4, 6)), ("enterprise", (10**6, 10**6, 0))]
)
def test_a_fresh_manual_clock_stands_exactly_on_its_start_time(
    tier: str, expected: tuple[int, int, int]
) -> None:
    ticks = itertools.count()

    def wall() -> float:  # a wall clock that moves 0.25 s every time it is read
        return 1_700_000_000.0 + 0.25 * next(ticks)

    app = create_app(Settings(seed=11, clock="manual", start_time=START), wall=wall)
    with TestClient(app) as test_client:
        response = test_client.get("/jobs", headers=auth(new_key(tier)))
    assert response.status_code == 200
    limit, remaining, reset_in = expected
    assert rate(response) == (limit, remaining, int(START) + reset_in)


# ---- the other tiers -----------------------------------------------------------------------
def test_pro_gets_fifty_quick_requests_then_429(client: TestClient) -> None:
    headers = fresh(client, "pro")
    passed = [client.get("/jobs", headers=headers) for _ in range(50)]
    assert all(r.status_code == 200 for r in passed)
    assert [rate(r)[1] for r in passed] == list(range(49, -1, -1))
    assert {rate(r)[0] for r in passed} == {100}
    refused = client.get("/jobs", headers=headers)
    assert assert_rate_limited(refused) == 1  # 0.6 s, rounded up to a whole second
    assert rate(refused)[2] == T0 + 30  # 50 tokens at 100 / min
    advance(client, headers, 1)
    assert client.get("/jobs", headers=headers).status_code == 200


def test_enterprise_is_never_limited_and_reports_a_million(client: TestClient) -> None:
    headers = fresh(client, "enterprise")
    for _ in range(200):
        response = client.get("/jobs", headers=headers)
        assert response.status_code == 200, response.text
        limit, remaining, reset = rate(response)
        assert (limit, remaining) == (1_000_000, 1_000_000)
        assert reset == T0


def test_accounts_have_separate_buckets(client: TestClient) -> None:
    alice, bob = auth(new_key("free")), auth(new_key("free"))
    for _ in range(5):
        assert client.get("/jobs", headers=alice).status_code == 200
    assert client.get("/jobs", headers=alice).status_code == 429
    bobs = [client.get("/jobs", headers=bob) for _ in range(5)]
    assert [r.status_code for r in bobs] == [200] * 5
    assert rate(bobs[0])[1] == 4
    assert client.get("/jobs", headers=bob).status_code == 429


def test_keys_of_one_account_share_its_bucket(client: TestClient) -> None:
    first = auth(new_key("free"))
    created = client.post("/keys", json={"name": "second"}, headers=first)
    assert created.status_code == 201
    second = auth(created.json()["key"])
    for _ in range(4):
        assert client.get("/jobs", headers=second).status_code == 200
    assert assert_rate_limited(client.get("/jobs", headers=first)) == 6


# ---- the guide's retry helper, unchanged, against a real server ----------------------------
# Copied verbatim from the guide's "Handling Rate Limits" (only run with exec, so the copy
# keeps the guide's own imports and layout).
GUIDE_RETRY_HELPER = '''\
import time
import requests

def make_request_with_retry(url, headers, data=None):
    """Make request with exponential backoff"""

    for attempt in range(5):
        response = requests.post(url, headers=headers, json=data)

        if response.status_code == 429:
            # Extract retry-after header
            retry_after = int(response.headers.get('Retry-After', 60))
            print(f"Rate limited, waiting {retry_after}s...")
            time.sleep(retry_after)
            continue

        return response

    raise Exception("Failed after 5 attempts")
'''
GUIDE_FILE = guide_path()
CLI = Path(sys.executable).parent / "aiprod-sandbox"
READY = re.compile(r"ready on (http://127\.0\.0\.1:\d+)\b")
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0


def test_helper_copy_matches_the_guide() -> None:
    if not GUIDE_FILE.is_file():
        pytest.skip(f"the guide is not at {GUIDE_FILE} (set AIPROD_GUIDE)")
    assert GUIDE_RETRY_HELPER in GUIDE_FILE.read_text(encoding="utf-8")


@pytest.fixture
def real_server() -> Iterator[str]:
    """`aiprod-sandbox serve --port 0` on the real clock; yields its base URL."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AIPROD_SANDBOX_") and not name.lower().endswith("_proxy")
    }
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        [str(CLI), "serve", "--host", "127.0.0.1", "--port", "0", "--seed", "5"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        url = None
        try:
            while url is None:
                line = lines.get(timeout=READY_TIMEOUT)
                if line is None:
                    pytest.fail(f"aiprod-sandbox exited with {process.wait(STOP_TIMEOUT)}")
                found = READY.search(line)
                url = found.group(1) if found else None
        except queue.Empty:
            pytest.fail(f"no ready line within {READY_TIMEOUT} s")
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
            pytest.fail(f"aiprod-sandbox did not stop within {STOP_TIMEOUT} s of SIGTERM")
        finally:
            reader.join(timeout=STOP_TIMEOUT)
            assert process.stdout is not None
            process.stdout.close()


def test_guides_retry_helper_gets_through_a_429_unchanged(
    real_server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Free bucket emptied with five calls; the helper's first POST is refused with
    Retry-After 6 (one token per 6 s), it sleeps that long — real seconds, on the real
    clock — and its second POST is accepted. One wait of about 6 s, bounded by the helper's
    own five attempts."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)  # `requests` must go straight to 127.0.0.1
    key = new_key("free")
    with httpx.Client(timeout=5.0, trust_env=False) as http:
        for _ in range(5):
            assert http.get(f"{real_server}/jobs", headers=auth(key)).status_code == 200
    namespace: dict[str, Any] = {}
    exec(GUIDE_RETRY_HELPER, namespace)  # the guide's code, run as the guide wrote it
    make_request_with_retry = namespace["make_request_with_retry"]

    response = make_request_with_retry(
        f"{real_server}/pipeline/run",
        {"Authorization": f"Bearer {key}"},
        {"video_url": "https://example.com/input.mp4"},
    )

    assert response.status_code in (200, 202), response.text
    assert response.json()["status"] == "PENDING"
    waits = re.findall(r"Rate limited, waiting (\d+)s\.\.\.", capsys.readouterr().out)
    assert len(waits) == 1, waits  # it was refused once, and one wait was enough
    assert 1 <= int(waits[0]) <= 6

"""What a partner's black-box suite, written from the guide and the contract, checks over a
real `aiprod-sandbox serve` process and real sockets: the 401 message, a control call without
its required field, scripted refusals' rate-limit headers, and a whole account carried from
one server to another by its state document — its webhook still signing with its secret."""

from __future__ import annotations

import time

import httpx

from aiprod_sandbox.webhook_http.signing import verify
from tests.e2e.conftest import StartSandbox
from tests.support.receivers import Receivers
from tests.support.serve import SandboxProcess, random_key

JOB = {"video_url": "https://example.com/input.mp4"}
NEW_YEAR_2030 = 1_893_456_000  # 2030-01-01T00:00:00Z


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_an_invalid_key_is_401_with_the_guides_message(
    sandbox: SandboxProcess, http: httpx.Client
) -> None:
    for header in ("Bearer sk_test_short", "Bearer sk_test_has-dashes-0000000000", "Token x"):
        answer = http.get(f"{sandbox.base_url}/jobs", headers={"Authorization": header})
        assert answer.status_code == 401
        error = answer.json()["error"]
        assert (error["type"], error["code"]) == ("auth_error", "INVALID_API_KEY")
        assert error["message"] == "Invalid API key"  # what the guide's clients compare
        assert error["details"]  # and what is wrong with the key, apart


def test_setting_the_clock_needs_a_mode_and_changes_nothing_without_it(
    sandbox: SandboxProcess, http: httpx.Client, fresh_key: str
) -> None:
    url, headers = f"{sandbox.base_url}/_sandbox/clock", bearer(fresh_key)
    http.post(url, json={"mode": "manual"}, headers=headers)
    before = http.get(url, headers=headers).json()
    refused = http.post(url, json={}, headers=headers)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "INVALID_PARAMETER"
    assert list(refused.json()["error"]["details"]) == ["mode"]
    assert http.get(url, headers=headers).json() == before


def test_a_scripted_refusal_reads_as_an_empty_bucket(
    sandbox: SandboxProcess, http: httpx.Client, fresh_key: str
) -> None:
    headers = bearer(fresh_key)
    pinned = {"mode": "manual", "now": "2030-01-01T00:00:00Z"}  # on a whole second
    http.post(f"{sandbox.base_url}/_sandbox/clock", json=pinned, headers=headers)
    for name in ("rate-limit-storm", "outage-503-window"):
        used = http.put(
            f"{sandbox.base_url}/_sandbox/scenario", json={"name": name}, headers=headers
        )
        assert used.status_code == 200, used.text
        refused = http.get(f"{sandbox.base_url}/jobs", headers=headers)
        assert refused.status_code in (429, 503), refused.text
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        reset = int(refused.headers["X-RateLimit-Reset"])
        assert reset == NEW_YEAR_2030 + int(refused.headers["Retry-After"])


def test_a_state_document_carries_an_account_to_another_server(
    start_sandbox: StartSandbox, http: httpx.Client, receivers: Receivers
) -> None:
    receiver = receivers.plain()
    key = random_key()
    first = start_sandbox()
    hook = http.post(
        f"{first.base_url}/webhooks/register",
        json={"url": receiver.url, "events": ["job.completed"]},
        headers=bearer(key),
    ).json()
    reports = http.post(
        f"{first.base_url}/keys",
        json={"name": "reports", "scopes": ["jobs:read"]},
        headers=bearer(key),
    ).json()
    http.post(f"{first.base_url}/pipeline/run", json=JOB, headers=bearer(key))
    assert receiver.receiver.wait_until(lambda got: len(got) == 1, timeout=10)
    # The export carries deliveries too: once the first server has recorded the receiver's
    # answer, nothing is pending, so the second server owes the receiver nothing.
    for _ in range(100):
        state = http.get(f"{first.base_url}/_sandbox/state", headers=bearer(key)).json()
        if all(d["status"] == "delivered" for d in state["deliveries"]["items"]):
            break
        time.sleep(0.05)
    assert [d["status"] for d in state["deliveries"]["items"]] == ["delivered"]
    first.stop()

    second = start_sandbox()
    restored = http.put(f"{second.base_url}/_sandbox/state", json=state, headers=bearer(key))
    assert restored.status_code == 200, restored.text
    moved = http.get(f"{second.base_url}/_sandbox/state", headers=bearer(key)).json()
    assert moved["webhooks"] == state["webhooks"]
    assert moved["jobs"] == state["jobs"]
    for entry in moved["keys"] + state["keys"]:
        del entry["last_used_at"]  # the key making these calls is used again, on a real clock
    assert moved["keys"] == state["keys"]
    listed = http.get(f"{second.base_url}/jobs", headers=bearer(reports["key"]))
    assert listed.json()["pagination"]["total"] == 1  # the restored key, with its scope
    http.post(f"{second.base_url}/pipeline/run", json=JOB, headers=bearer(key))
    assert receiver.receiver.wait_until(lambda got: len(got) == 2, timeout=10)
    delivered = receiver.receiver.received[1]
    assert verify(hook["secret"], delivered.body, delivered.headers["x-aiprod-signature"])

"""A partner's integration suite, written from the public guide and the plugin's docs alone.

It runs twice in our CI: here, on the in-process sandbox, and in `.ci/container` against the
image built from the `Dockerfile`, started read-only as a partner's CI starts it, with
`--aiprod-sandbox-url` and the receiver host the container reaches this machine by. The same
tests must pass in both places: that is the promise to partners.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from aiprod_sandbox.testing import ReceiverHandle, SandboxAccount

RETRYABLE = {429, 500, 502, 503, 504}


def verify_webhook(payload_bytes: bytes, signature: str, secret: str) -> bool:
    """The guide's own verification, as partners copy it."""
    expected_sig = hmac.new(secret.encode(), payload_bytes, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, expected_sig)


class PartnerClient:
    """What a partner writes from the guide: a bearer key, and retries with backoff on 429
    and 5xx that honour `Retry-After`."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=30,
            trust_env=False,
        )
        self.attempts = 0

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(6):
            self.attempts += 1
            response = self.http.request(method, path, **kwargs)
            if response.status_code not in RETRYABLE:
                return response
            wait = float(response.headers.get("Retry-After", 0.05 * 2**attempt))
            time.sleep(min(wait, 2.0))
        return response

    def run(self, **job: Any) -> dict[str, Any]:
        response = self.request("POST", "/pipeline/run", json=job)
        assert response.status_code == 202, response.text
        return dict(response.json())

    def status(self, job_id: str) -> dict[str, Any]:
        response = self.request("GET", f"/pipeline/{job_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait(self, job_id: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.status(job_id)
            if job["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
                return job
            assert time.monotonic() < deadline, f"{job_id} still {job['status']}"
            time.sleep(0.05)


@pytest.fixture
def partner(aiprod_account: SandboxAccount) -> Iterator[PartnerClient]:
    client = PartnerClient(aiprod_account.base_url, aiprod_account.key)
    yield client
    client.http.close()


VIDEO = {
    "video_url": "https://example.com/launch.mp4",
    "voice_text": "Hello, this is a test",
    "voice_language": "en",
    "music_style": "orchestral",
}


def test_a_job_completes_and_its_result_downloads(partner: PartnerClient) -> None:
    accepted = partner.run(**VIDEO, metadata={"customer_id": "cust_123"})
    job = partner.wait(accepted["job_id"])
    assert job["status"] == "COMPLETED"
    assert job["metadata"] == {"customer_id": "cust_123"}
    video = httpx.get(job["result"]["video_url"], trust_env=False, timeout=30)
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert len(video.content) > 1000


def test_job_completed_reaches_my_receiver_signed(
    partner: PartnerClient, aiprod_receiver: ReceiverHandle
) -> None:
    registered = partner.request(
        "POST",
        "/webhooks/register",
        json={"url": aiprod_receiver.url, "events": ["job.started", "job.completed"]},
    )
    assert registered.status_code == 201, registered.text
    secret = registered.json()["secret"]
    job_id = partner.run(**VIDEO)["job_id"]

    (delivery,) = aiprod_receiver.wait_for("job.completed", timeout=15)
    assert verify_webhook(delivery.body, delivery.headers["x-aiprod-signature"], secret)
    assert not verify_webhook(delivery.body, delivery.headers["x-aiprod-signature"], "whsec_x")
    payload = json.loads(delivery.body)
    assert payload["event"] == "job.completed"
    assert payload["data"]["job_id"] == job_id
    assert aiprod_receiver.events().count("job.started") == 1


@pytest.mark.aiprod_sandbox(scenario="intermittent-500s")
def test_my_retries_get_through_intermittent_500s(
    partner: PartnerClient, aiprod_account: SandboxAccount
) -> None:
    listed = partner.request("GET", "/jobs")
    assert listed.status_code == 200
    assert partner.attempts > 1  # the scenario answered 500 first, and the client retried
    statuses = [entry["status"] for entry in aiprod_account.requests(path="/jobs")]
    assert 500 in statuses and statuses[0] == 200  # newest first


@pytest.mark.aiprod_sandbox(clock="manual", job_timing="simulated")
def test_the_clock_moves_a_job_and_its_webhooks(
    partner: PartnerClient, aiprod_account: SandboxAccount, aiprod_receiver: ReceiverHandle
) -> None:
    hook = aiprod_account.register_webhook(aiprod_receiver.url, ["job.completed"])
    aiprod_receiver.secret = hook["secret"]
    job_id = partner.run(**VIDEO)["job_id"]
    assert partner.status(job_id)["status"] == "PENDING"

    aiprod_account.clock.advance(3600)

    assert partner.status(job_id)["status"] == "COMPLETED"
    (delivery,) = aiprod_receiver.wait_for("job.completed", timeout=15)
    assert delivery.signature_valid is True


@pytest.mark.aiprod_sandbox(tier="free")
def test_the_free_tier_limits_me_with_retry_after(aiprod_account: SandboxAccount) -> None:
    answers = [aiprod_account.client.get("/jobs") for _ in range(8)]
    limited = [answer for answer in answers if answer.status_code == 429]
    assert limited, [answer.status_code for answer in answers]
    first = limited[0]
    assert first.json()["error"]["type"] == "rate_limit_error"
    assert int(first.headers["Retry-After"]) >= 1
    assert first.headers["X-RateLimit-Remaining"] == "0"


def test_i_rotate_my_key_as_the_guide_advises(partner: PartnerClient) -> None:
    made = partner.request("POST", "/keys", json={"name": "next month"})
    assert made.status_code == 201, made.text
    successor = PartnerClient(str(partner.http.base_url), made.json()["key"])
    old = next(
        key
        for key in successor.request("GET", "/keys").json()["items"]
        if key["name"] == "Default key"
    )
    assert successor.request("DELETE", f"/keys/{old['key_id']}").status_code == 200
    refused = partner.request("GET", "/jobs")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "KEY_REVOKED"
    assert successor.request("GET", "/jobs").status_code == 200
    successor.http.close()

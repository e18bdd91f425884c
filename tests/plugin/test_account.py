"""`aiprod_account`: a fresh, isolated account per test with a ready client."""

from __future__ import annotations

import re

from .conftest import Inner

ACCOUNTS = """
    import httpx
    import pytest

    JOB = {"video_url": "https://example.com/launch.mp4", "voice_language": "en"}
    ACCOUNT_IDS = pytest.StashKey[set]()

    def test_a_submitted_job_completes(aiprod_account):
        accepted = aiprod_account.client.post("/pipeline/run", json=JOB)
        assert accepted.status_code == 202
        assert accepted.json()["status"] == "PENDING"
        job = aiprod_account.client.get(f"/pipeline/{accepted.json()['job_id']}").json()
        assert job["status"] == "COMPLETED"
        assert job["result"]["video_url"].startswith("http")
        assert job["input"]["voice_language"] == "en"

    def test_the_client_is_ready(aiprod_account, aiprod_sandbox):
        client = aiprod_account.client
        assert isinstance(client, httpx.Client)
        assert str(client.base_url).rstrip("/") == aiprod_sandbox.base_url
        assert client.headers["Authorization"] == f"Bearer {aiprod_account.key}"
        assert aiprod_account.key.startswith("sk_test_pro_")
        info = aiprod_account.info
        assert info["tier"] == "pro"
        assert info["job_timing"] == "instant"
        assert info["clock"]["mode"] == "real"
        assert info["scenario"] is None

    def test_a_writes_three_jobs(aiprod_account):
        for _ in range(3):
            aiprod_account.submit()
        aiprod_account.register_webhook("https://example.com/hooks")
        assert aiprod_account.client.get("/jobs").json()["pagination"]["total"] == 3

    def test_b_sees_none_of_them(aiprod_account):
        assert aiprod_account.client.get("/jobs").json()["pagination"]["total"] == 0
        assert aiprod_account.client.get("/webhooks").json()["items"] == []
        assert aiprod_account.deliveries() == []
        assert [r["path"] for r in aiprod_account.requests()] == ["/webhooks", "/jobs"]

    def test_every_test_has_an_account_of_its_own(aiprod_account, request):
        _first_time_seen(aiprod_account, request)

    @pytest.mark.parametrize("n", range(3))
    def test_parametrized_tests_are_apart_too(aiprod_account, request, n):
        _first_time_seen(aiprod_account, request)
        aiprod_account.submit()
        assert aiprod_account.client.get("/jobs").json()["pagination"]["total"] == 1

    def _first_time_seen(account, request):
        seen = request.config.stash.setdefault(ACCOUNT_IDS, set())
        account_id = account.info["account_id"]
        assert account_id not in seen
        seen.add(account_id)
"""


def test_accounts_are_fresh_and_isolated(inner: Inner) -> None:
    result = inner.suite(test_accounts=ACCOUNTS)
    result.assert_outcomes(passed=8)


SEEDED = """
    def test_ids_follow_the_seed(aiprod_sandbox, aiprod_account):
        assert aiprod_sandbox.settings.seed == 7
        job = aiprod_account.submit()
        print("JOB", job["job_id"], aiprod_account.job(job["job_id"])["result"]["cost_estimate"])
"""


def test_the_seed_option_makes_ids_repeat(inner: Inner) -> None:
    inner.pytester.makepyfile(test_seeded=SEEDED)
    printed = []
    for _ in range(2):
        result = inner.run("-s", "--aiprod-sandbox-seed", "7")
        result.assert_outcomes(passed=1)
        printed.append(re.findall(r"JOB (job_\w+) ([\d.]+)$", result.stdout.str(), re.MULTILINE))
    assert len(printed[0]) == 1
    assert printed[0] == printed[1]

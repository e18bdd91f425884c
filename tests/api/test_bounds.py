"""Every per-account structure is bounded: journals, jobs, and the number of accounts."""

from __future__ import annotations

from starlette.testclient import TestClient

from aiprod_sandbox import Settings, create_app
from tests.conftest import auth, new_key


def test_journal_jobs_and_accounts_stay_within_their_bounds() -> None:
    settings = Settings(
        journal_size=25, max_jobs_per_account=30, max_accounts=8, account_idle_seconds=0
    )
    app = create_app(settings)
    key = new_key("enterprise")
    with TestClient(app) as client:
        job_ids = [
            client.post(
                "/pipeline/run", json={"video_url": f"https://e.com/{n}.mp4"}, headers=auth(key)
            ).json()["job_id"]
            for n in range(60)
        ]
        journal = client.get("/_sandbox/requests?limit=1000", headers=auth(key)).json()["items"]
        assert len(journal) == 25
        listed = client.get("/jobs?limit=100", headers=auth(key)).json()
        assert listed["pagination"]["total"] == 30
        assert [job["job_id"] for job in listed["items"]] == job_ids[::-1][:30]  # newest kept
        assert client.get(f"/jobs/{job_ids[0]}", headers=auth(key)).status_code == 404
        account, _ = app.state.sandbox.accounts.lookup(key)
        assert len(account.events) <= 25
        for _ in range(20):  # each one empty, and idle at once: let go for the next
            assert client.get("/jobs", headers=auth(new_key())).status_code == 200
        accounts = app.state.sandbox.accounts
        assert len([account for account in accounts if not account.fixture]) <= 8
        fixture = client.get("/jobs", headers=auth("sk_test_example_pro_key_0001"))
        assert fixture.status_code == 200  # fixture accounts are never evicted


def test_jobs_that_never_end_cannot_pass_the_bound() -> None:
    """Before: the book forgot only ended jobs, so stay_pending jobs grew it without bound
    (and each submission scanned them all)."""
    with TestClient(create_app(Settings(max_jobs_per_account=5))) as client:
        headers = auth(new_key("enterprise"))
        pending = {"video_url": "https://e.com/stay_pending.mp4"}
        made = [client.post("/pipeline/run", json=pending, headers=headers) for _ in range(5)]
        assert [answer.status_code for answer in made] == [202] * 5
        refused = client.post("/pipeline/run", json=pending, headers=headers)
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "RATE_LIMIT_EXCEEDED" and "none has ended" in error["message"]
        assert refused.headers["Retry-After"] == "60"
        first = made[0].json()["job_id"]
        assert client.delete(f"/jobs/{first}", headers=headers).status_code == 200
        again = client.post("/pipeline/run", json=pending, headers=headers)
        assert again.status_code == 202  # the cancelled one is forgotten for it
        assert client.get(f"/jobs/{first}", headers=headers).status_code == 404
        assert client.get("/jobs", headers=headers).json()["pagination"]["total"] == 5

"""The account's control API: deliveries(), requests(), reset(), transition() and friends."""

from __future__ import annotations

from .conftest import Inner

CONTROL = """
    import pytest

    @pytest.mark.aiprod_sandbox(clock="manual")
    def test_deliveries_is_the_log(aiprod_account, aiprod_receiver):
        webhook = aiprod_account.register_webhook(aiprod_receiver.url)
        job_id = aiprod_account.submit()["job_id"]
        aiprod_account.clock.advance(0)  # returns once the attempts in flight have finished

        log = aiprod_account.deliveries()
        assert [d["event"] for d in log] == [
            "job.completed", "job.progress", "job.progress", "job.progress", "job.started"
        ]  # newest first
        assert {d["status"] for d in log} == {"delivered"}
        assert {(d["webhook_id"], d["job_id"], d["url"]) for d in log} == {
            (webhook["webhook_id"], job_id, aiprod_receiver.url)
        }
        (completed,) = aiprod_account.deliveries(event="job.completed")
        (attempt,) = completed["attempts"]
        assert attempt["response_status"] == 200
        assert attempt["request_body"].encode() == aiprod_receiver.wait_for("job.completed")[0].body
        assert aiprod_account.deliveries(status="failed") == []

    def test_requests_is_the_journal(aiprod_account):
        job_id = aiprod_account.submit()["job_id"]
        aiprod_account.client.get(f"/pipeline/{job_id}")
        aiprod_account.client.get("/pipeline/job_nope")
        aiprod_account.info  # control calls are not journaled

        journal = aiprod_account.requests()
        assert [(r["method"], r["path"], r["status"]) for r in journal] == [
            ("GET", "/pipeline/job_nope", 404),
            ("GET", f"/pipeline/{job_id}", 200),
            ("POST", "/pipeline/run", 202),
        ]
        assert [r["path"] for r in aiprod_account.requests(method="POST")] == ["/pipeline/run"]
        assert len(aiprod_account.requests(status=404)) == 1
        assert {r["key"] for r in journal} == {"sk_test_…" + aiprod_account.key[-4:]}
        assert aiprod_account.key not in str(journal)
        assert all(r["request_id"].startswith("req_") for r in journal)

    def test_reset_forgets_everything_but_the_account(aiprod_account):
        account_id = aiprod_account.info["account_id"]
        aiprod_account.register_webhook("https://example.com/hooks")
        aiprod_account.submit()
        aiprod_account.clock.set(mode="manual", now="2030-01-01T00:00:00Z")
        aiprod_account.set_timing("simulated")
        aiprod_account.use_scenario("intermittent-500s")

        aiprod_account.reset()

        info = aiprod_account.info
        assert info["account_id"] == account_id
        assert (info["clock"]["mode"], info["job_timing"], info["scenario"]) == (
            "real", "instant", None
        )
        assert aiprod_account.deliveries() == []
        assert aiprod_account.requests() == []
        assert aiprod_account.client.get("/jobs").json()["pagination"]["total"] == 0
        assert aiprod_account.client.get("/webhooks").json()["pagination"]["total"] == 0

    @pytest.mark.aiprod_sandbox(clock="manual", job_timing="simulated")
    def test_transition_moves_a_job_and_emits_its_events(aiprod_account, aiprod_receiver):
        aiprod_account.register_webhook(aiprod_receiver.url)
        job_id = aiprod_account.submit()["job_id"]
        assert aiprod_account.job(job_id)["status"] == "PENDING"

        moved = aiprod_account.transition(job_id, "PROCESSING", progress=40)
        assert (moved["status"], moved["progress"]) == ("PROCESSING", 40)
        aiprod_receiver.wait_for("job.started")

        done = aiprod_account.transition(job_id, "COMPLETED")
        assert done["status"] == "COMPLETED" and done["result"] is not None
        aiprod_receiver.wait_for("job.completed")
        assert aiprod_account.job(job_id)["status"] == "COMPLETED"

        with pytest.raises(AssertionError, match="409.*INVALID_TRANSITION"):
            aiprod_account.transition(job_id, "PROCESSING")

    @pytest.mark.aiprod_sandbox(clock="manual", job_timing="simulated")
    def test_transition_to_failed_carries_the_error(aiprod_account):
        job_id = aiprod_account.submit()["job_id"]
        aiprod_account.transition(job_id, "PROCESSING")
        error = {"type": "processing_error", "code": "DOWNLOAD_FAILED", "message": "gone"}
        failed = aiprod_account.transition(job_id, "FAILED", error=error)
        assert failed["status"] == "FAILED"
        assert failed["error"] == error

    def test_scenarios_switch_on_and_off(aiprod_account):
        aiprod_account.use_scenario("intermittent-500s")
        assert aiprod_account.client.get("/jobs").status_code == 500
        aiprod_account.clear_scenario()
        assert aiprod_account.info["scenario"] is None
        assert aiprod_account.client.get("/jobs").status_code == 200

    def test_an_inline_scenario_through_the_control_api(aiprod_account):
        scenario = {
            "name": "presets-down",
            "description": "GET /presets answers 503 for a while",
            "requests": [
                {"match": {"path": "/presets"}, "respond": {"status": 503, "retry_after": 30}}
            ],
        }
        put = aiprod_account.client.put("/_sandbox/scenario", json={"scenario": scenario})
        assert put.status_code == 200, put.text
        down = aiprod_account.client.get("/presets")
        assert (down.status_code, down.headers["Retry-After"]) == (503, "30")
        assert aiprod_account.client.get("/jobs").status_code == 200
        assert aiprod_account.info["scenario"] == "presets-down"

    def test_clock_set_and_now(aiprod_account):
        aiprod_account.clock.set(mode="manual", now="2030-01-01T00:00:00Z")
        assert aiprod_account.clock.now() == "2030-01-01T00:00:00Z"
        aiprod_account.clock.advance(3600)
        assert aiprod_account.clock.now() == "2030-01-01T01:00:00Z"
        job = aiprod_account.submit()
        assert job["created_at"] == "2030-01-01T01:00:00Z"

    def test_set_timing(aiprod_account):
        aiprod_account.set_timing("simulated")
        assert aiprod_account.info["job_timing"] == "simulated"
        job_id = aiprod_account.submit()["job_id"]
        assert aiprod_account.job(job_id)["status"] == "PENDING"

    def test_control_errors_name_the_call(aiprod_account):
        refused = "POST /_sandbox/jobs/job_nope/transition answered 404"
        with pytest.raises(AssertionError, match=refused):
            aiprod_account.transition("job_nope", "PROCESSING")
        with pytest.raises(AssertionError, match="POST /pipeline/run answered 400"):
            aiprod_account.submit(video_url="not a url")
"""


def test_the_control_helpers(inner: Inner) -> None:
    result = inner.suite(test_control=CONTROL)
    result.assert_outcomes(passed=10)


INLINE = """
    PRESETS_DOWN = {
        "description": "GET /presets answers 503 for a while",
        "requests": [
            {"match": {"path": "/presets"}, "respond": {"status": 503, "retry_after": 30}}
        ],
    }

    def test_an_inline_scenario(aiprod_account):
        aiprod_account.use_scenario(name="presets-down", **PRESETS_DOWN)
        down = aiprod_account.client.get("/presets")
        assert down.status_code == 503
        assert down.headers["Retry-After"] == "30"
        assert aiprod_account.client.get("/jobs").status_code == 200
        assert aiprod_account.info["scenario"] == "presets-down"
"""


def test_use_scenario_takes_an_inline_scenario(inner: Inner) -> None:
    result = inner.suite(test_inline=INLINE)
    result.assert_outcomes(passed=1)

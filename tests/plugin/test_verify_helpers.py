"""The plugin's verification helpers — `verify`, `assert_requested`, `assert_delivered`,
`assert_sequence`, the receiver's `assert_received` — and the journal attached to a failing
test's report (`--aiprod-sandbox-journal`), run in an inner pytest session."""

from __future__ import annotations

from .conftest import Inner

HELPERS = """
    import pytest

    BODY = {"video_url": "https://example.com/in.mp4", "metadata": {"order": "o-1"}}

    def test_assert_requested_passes_and_fails_with_near_misses(aiprod_account):
        aiprod_account.client.post("/pipeline/run", json=BODY)
        verdict = aiprod_account.assert_requested(
            "POST", "/pipeline/run", times=1, body={"metadata": {"order": "o-1"}}
        )
        assert verdict["ok"] and verdict["count"] == 1
        aiprod_account.assert_requested("POST", "/pipeline/*", jsonpath={"$.metadata.order": "o-1"})
        aiprod_account.assert_not_requested("DELETE")
        with pytest.raises(AssertionError) as failed:
            other = {"metadata": {"order": "o-2"}}
            aiprod_account.assert_requested("POST", "/pipeline/run", body=other)
        message = str(failed.value)
        assert "expected at least 1 matching requests, found 0" in message
        assert "near miss req_" in message
        assert "body.metadata.order: expected 'o-2', was 'o-1'" in message

    @pytest.mark.aiprod_sandbox(clock="manual")
    def test_assert_delivered_acknowledged_once(aiprod_account, aiprod_receiver):
        aiprod_receiver.respond_with(500)
        aiprod_account.register_webhook(aiprod_receiver.url, ["job.completed"])
        job_id = aiprod_account.submit()["job_id"]
        with pytest.raises(AssertionError, match="acknowledged: expected 1, was 0"):
            aiprod_account.assert_delivered("job.completed", job_id=job_id, acknowledged_once=True)
        verdict = aiprod_account.assert_delivered(
            "job.completed", job_id=job_id, acknowledged_once=True, within=10
        )
        assert verdict["advanced_seconds"] == 1  # the retry, one clock second later
        aiprod_account.assert_delivered("job.completed", outcome="acknowledged", attempts=2)

    def test_assert_sequence(aiprod_account):
        job_id = aiprod_account.submit()["job_id"]
        aiprod_account.client.get(f"/pipeline/{job_id}")
        aiprod_account.assert_sequence(
            {"method": "POST", "path": "/pipeline/run"}, {"method": "GET", "job_id": job_id}
        )
        with pytest.raises(AssertionError, match="1 matched in order"):
            aiprod_account.assert_sequence(
                {"method": "GET", "job_id": job_id}, {"method": "POST", "path": "/pipeline/run"}
            )

    @pytest.mark.aiprod_sandbox(clock="manual")
    def test_the_receivers_assert_received(aiprod_account, aiprod_receiver):
        webhook = aiprod_account.register_webhook(aiprod_receiver.url, ["job.completed"])
        aiprod_receiver.secret = webhook["secret"]
        job_id = aiprod_account.submit()["job_id"]
        [item] = aiprod_receiver.assert_received("job.completed", job_id=job_id, times=1)
        assert item.signature_valid
        with pytest.raises(AssertionError) as failed:
            aiprod_receiver.assert_received("job.completed", job_id="job_other", within=0.2)
        assert "expected at least 1 × job.completed, received 0" in str(failed.value)
        assert "near miss dlv_" in str(failed.value) and "job_id '" + job_id in str(failed.value)

    @pytest.mark.aiprod_sandbox(clock="manual")
    def test_the_receiver_tells_a_duplicate(aiprod_account, aiprod_receiver):
        aiprod_account.use_scenario(
            name="dup", description="d", webhooks=[{"action": "duplicate"}]
        )
        aiprod_account.register_webhook(aiprod_receiver.url, ["job.completed"])
        aiprod_account.submit()
        aiprod_receiver.wait_for("job.completed", count=2)
        with pytest.raises(AssertionError, match="delivered more than once: dlv_"):
            aiprod_receiver.assert_received("job.completed", signed=False, once_each=True)
        with pytest.raises(AssertionError, match="acknowledged: expected 1, was 2"):
            aiprod_account.assert_delivered("job.completed", acknowledged_once=True)

    def test_har(aiprod_account):
        aiprod_account.submit()
        har = aiprod_account.har()
        assert har["log"]["version"] == "1.2" and len(har["log"]["entries"]) == 1
"""


def test_the_verification_helpers(inner: Inner) -> None:
    result = inner.suite(test_helpers=HELPERS)
    result.assert_outcomes(passed=6)


FAILING = """
    def test_fails_after_a_lost_answer(aiprod_account):
        aiprod_account.client.post(
            "/pipeline/run",
            json={"video_url": "https://example.com/in.mp4"},
            headers={"X-AIPROD-Sandbox-Prefer": "status=503; phase=after"},
        )
        assert False, "the test's own failure"
"""


def test_a_failing_tests_report_carries_its_journal_when_asked(inner: Inner) -> None:
    asked = inner.suite("--aiprod-sandbox-journal", test_failing=FAILING)
    asked.assert_outcomes(failed=1)
    asked.stdout.fnmatch_lines(
        [
            "*- AIPROD Sandbox journal -*",
            "requests, newest first (1 shown of 1 kept):",
            "  * req_* POST /pipeline/run → 503; jobs job_*; rules prefer-header; fault: "
            "prefer-header (after): the handler answered 202; the client got 503",
            "webhook deliveries, newest first:",
            "  (none)",
            "the whole exchange as HAR: GET */_sandbox/har (same key)",
        ]
    )
    quiet = inner.run()
    quiet.assert_outcomes(failed=1)
    quiet.stdout.no_fnmatch_line("*AIPROD Sandbox journal*")
    quiet.stdout.fnmatch_lines(["*- AIPROD Sandbox account -*"])

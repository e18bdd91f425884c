"""External mode: the same suite passes against the in-process sandbox and against a real
`aiprod-sandbox serve` process (a container in CI) named by --aiprod-sandbox-url or
AIPROD_SANDBOX_URL. Each run against a server gets keys of its own (a random run id), and a
run that pins the run id gets the same keys, so the same accounts, and they start clean.
`test_external_sharing.py` shows reruns after key rotation and sessions run at once."""

from __future__ import annotations

import re

import pytest

from .conftest import Inner

NOTHING_LISTENS = "http://127.0.0.1:9"  # the discard port: connections are refused

SUITE = """
    import os

    import pytest

    def test_it_runs_where_it_was_told(aiprod_sandbox):
        expected = os.environ.get("EXPECTED_SANDBOX_URL")
        if expected:
            assert type(aiprod_sandbox).__name__ == "ExternalSandbox"
            assert aiprod_sandbox.base_url == expected
        else:
            assert type(aiprod_sandbox).__name__ == "ThreadedSandbox"

    def test_starts_clean_and_completes_a_job(aiprod_account):
        assert aiprod_account.requests() == []
        assert aiprod_account.client.get("/jobs").json()["pagination"]["total"] == 0
        job_id = aiprod_account.submit()["job_id"]
        assert aiprod_account.job(job_id)["status"] == "COMPLETED"
        print("ACCOUNT", aiprod_account.info["account_id"])

    def test_sees_no_other_test(aiprod_account):
        assert aiprod_account.client.get("/jobs").json()["pagination"]["total"] == 0

    @pytest.mark.aiprod_sandbox(tier="free", scenario="intermittent-500s")
    def test_marker_tier_and_scenario(aiprod_account):
        assert aiprod_account.info["tier"] == "free"
        assert [aiprod_account.client.get("/jobs").status_code for _ in range(3)] == [500, 500, 200]

    @pytest.mark.aiprod_sandbox(clock="manual", job_timing="simulated")
    def test_marker_clock_and_timing(aiprod_account):
        job_id = aiprod_account.submit()["job_id"]
        assert aiprod_account.job(job_id)["status"] == "PENDING"
        aiprod_account.clock.advance(3600)
        assert aiprod_account.job(job_id)["status"] == "COMPLETED"

    @pytest.mark.aiprod_sandbox(inprocess=True)
    def test_inprocess_falls_back_to_http_against_a_url(aiprod_account):
        assert aiprod_account.submit()["status"] == "PENDING"

    @pytest.mark.aiprod_sandbox(clock="manual")
    def test_receiver_and_retries(aiprod_account, aiprod_receiver):
        webhook = aiprod_account.register_webhook(aiprod_receiver.url, events=["job.completed"])
        aiprod_receiver.secret = webhook["secret"]
        aiprod_receiver.respond_with(500, 500)
        aiprod_account.submit()
        aiprod_receiver.wait_for("job.completed")
        aiprod_account.clock.advance(60)
        got = aiprod_receiver.received
        assert [(d.attempt, d.status, d.signature_valid) for d in got] == [
            (1, 500, True), (2, 500, True), (3, 200, True)
        ]
        assert len({d.delivery_id for d in got}) == 1
"""
SUITE_TESTS = 7


def _account_ids(result: pytest.RunResult) -> list[str]:
    return re.findall(r"ACCOUNT (acct_\w+)", result.stdout.str())


def test_the_same_suite_passes_in_process_and_against_a_server(
    inner: Inner, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    inner.pytester.makepyfile(test_shared=SUITE)

    in_process = inner.run("-s")
    in_process.assert_outcomes(passed=SUITE_TESTS)

    monkeypatch.setenv("EXPECTED_SANDBOX_URL", served)
    monkeypatch.setenv("AIPROD_SANDBOX_URL", NOTHING_LISTENS)  # the option wins
    by_option = inner.run("-s", "--aiprod-sandbox-url", served)
    by_option.assert_outcomes(passed=SUITE_TESTS)

    monkeypatch.setenv("AIPROD_SANDBOX_URL", served)
    by_variable = inner.run("-s")  # a session of its own: other keys, other accounts
    by_variable.assert_outcomes(passed=SUITE_TESTS)

    pinned = [inner.run("-s", "--aiprod-sandbox-run-id", "r1") for _ in range(2)]
    for run in pinned:  # the same keys twice: the same account, clean each time
        run.assert_outcomes(passed=SUITE_TESTS)
        run.stdout.fnmatch_lines([f"aiprod-sandbox: {served}, run id r1 *"])

    assert len(_account_ids(by_option)) == 1
    assert _account_ids(by_option) != _account_ids(by_variable)
    assert _account_ids(pinned[0]) == _account_ids(pinned[1])
    assert _account_ids(pinned[0]) not in (_account_ids(by_option), _account_ids(by_variable))
    # In this process the keys need no run id: the same ids from run to run.
    monkeypatch.delenv("AIPROD_SANDBOX_URL")
    assert _account_ids(in_process) == _account_ids(inner.run("-s"))


def test_an_unreachable_url_is_an_error_of_every_test(
    inner: Inner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIPROD_SANDBOX_URL", NOTHING_LISTENS)
    inner.pytester.makepyfile(test_shared=SUITE)
    result = inner.run("-k", "where_it_was_told or starts_clean")
    result.assert_outcomes(errors=2, deselected=SUITE_TESTS - 2)
    result.stdout.fnmatch_lines(["*ConnectError*"])

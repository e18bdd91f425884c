"""An exception the in-process sandbox hits is re-raised in the test that caused it, although
the client got the contract's 500 envelope (as pytest-httpserver re-raises its server's)."""

from __future__ import annotations

from .conftest import Inner

# The inner suites' conftest makes the sandbox's domain object fail on purpose: every job
# submission reads `sandbox.catalog` (to validate the body), and here that read raises.
EXPLODING = """
    import pytest

    from aiprod_sandbox.core.sandbox import Sandbox

    class Exploding(Sandbox):
        @property
        def catalog(self):
            raise RuntimeError("catalog exploded")

        @catalog.setter
        def catalog(self, value):
            pass

    @pytest.fixture
    def exploding(aiprod_sandbox, monkeypatch):
        monkeypatch.setattr(aiprod_sandbox.sandbox, "__class__", Exploding)

    @pytest.fixture
    def submit():
        def post(account):
            job = {"video_url": "https://example.com/a.mp4"}
            return account.client.post("/pipeline/run", json=job)

        return post
"""

RE_RAISED = """
    import pytest

    def test_over_http(aiprod_account, exploding, submit):
        answer = submit(aiprod_account)
        assert answer.status_code == 500
        assert answer.json()["error"]["type"] == "server_error"
        assert answer.json()["error"]["code"] == "INTERNAL_ERROR"
        assert answer.json()["error"]["request_id"] == answer.headers["X-Request-Id"]
        # the test body passed: the plugin fails it afterwards with the server's exception

    @pytest.mark.aiprod_sandbox(inprocess=True)
    def test_in_process(aiprod_account, exploding, submit):
        assert submit(aiprod_account).status_code == 500

    def test_the_next_test_is_not_blamed(aiprod_account):
        assert aiprod_account.submit()["status"] == "PENDING"
"""


def test_server_exceptions_fail_the_test_that_caused_them(inner: Inner) -> None:
    inner.pytester.makeconftest(EXPLODING)
    result = inner.suite(test_re_raised=RE_RAISED)
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_over_http _*",
            "*in catalog",
            "*RuntimeError: catalog exploded",
            "*_ test_in_process _*",
            "*RuntimeError: catalog exploded",
            "FAILED test_re_raised.py::test_over_http - RuntimeError: catalog exploded",
            "FAILED test_re_raised.py::test_in_process - RuntimeError: catalog exploded",
        ]
    )


LEAK = """
    def test_fails_by_itself(aiprod_account, exploding, submit):
        assert submit(aiprod_account).status_code == 202

    def test_the_next_test_is_not_blamed(aiprod_account):
        assert aiprod_account.submit()["status"] == "PENDING"
"""


def test_an_error_is_not_blamed_on_the_next_test(inner: Inner) -> None:
    inner.pytester.makeconftest(EXPLODING)
    result = inner.suite(test_leak=LEAK)
    result.stdout.fnmatch_lines(["FAILED test_leak.py::test_fails_by_itself - assert 500 == 202"])
    result.assert_outcomes(failed=1, passed=1)


MANY = """
    import pytest

    @pytest.mark.aiprod_sandbox(tier="enterprise")  # no rate limit in the way
    def test_a_hundred_errors(aiprod_account, exploding, submit):
        for _ in range(100):
            assert submit(aiprod_account).status_code == 500

    def test_one_more(aiprod_account, exploding, submit):
        assert submit(aiprod_account).status_code == 500
"""


def test_errors_are_re_raised_after_a_hundred_of_them(inner: Inner) -> None:
    inner.pytester.makeconftest(EXPLODING)
    result = inner.suite(test_many=MANY)
    result.stdout.fnmatch_lines(
        ["FAILED test_many.py::test_a_hundred_errors - RuntimeError: catalog exploded"]
    )
    result.assert_outcomes(failed=2)

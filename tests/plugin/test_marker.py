"""`@pytest.mark.aiprod_sandbox(tier=, scenario=, clock=, job_timing=, inprocess=)`."""

from __future__ import annotations

from .conftest import Inner

MARKED = """
    import time

    import pytest

    BATCH = {"videos": [{"url": "https://example.com/a.mp4"}]}

    @pytest.mark.aiprod_sandbox(tier="free")
    def test_free_tier(aiprod_account):
        info = aiprod_account.client.get("/_sandbox/account").json()
        assert info["tier"] == "free"
        assert info["limits"]["requests_per_minute"] == 10
        assert aiprod_account.key.startswith("sk_test_free_")
        refused = aiprod_account.client.post("/pipeline/batch", json=BATCH)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "TIER_FEATURE_UNAVAILABLE"
        assert refused.json()["error"]["message"] == "Your tier does not support batch processing"

    @pytest.mark.aiprod_sandbox(tier="enterprise")
    def test_enterprise_tier(aiprod_account):
        assert aiprod_account.info["tier"] == "enterprise"
        assert aiprod_account.client.post("/pipeline/batch", json=BATCH).status_code == 202

    def test_pro_is_the_default(aiprod_account):
        assert aiprod_account.info["tier"] == "pro"

    @pytest.mark.aiprod_sandbox(clock="manual")
    def test_manual_clock_stands_still_until_advanced(aiprod_account):
        before = aiprod_account.clock.now()
        time.sleep(1.1)
        assert aiprod_account.clock.now() == before
        moved = aiprod_account.clock.advance(90)
        assert moved["clock"]["mode"] == "manual"
        assert aiprod_account.info["clock"]["mode"] == "manual"
        assert _seconds(aiprod_account.clock.now()) - _seconds(before) == 90

    @pytest.mark.aiprod_sandbox(clock="manual", job_timing="simulated")
    def test_simulated_jobs_wait_for_the_clock(aiprod_account):
        job_id = aiprod_account.submit()["job_id"]
        assert aiprod_account.job(job_id)["status"] == "PENDING"
        assert aiprod_account.info["job_timing"] == "simulated"
        ran = aiprod_account.clock.advance(3600)
        assert [step["action"] for step in ran["ran"]][0] == "job.started"
        job = aiprod_account.job(job_id)
        assert job["status"] == "COMPLETED"
        assert job["progress"] == 100

    @pytest.mark.aiprod_sandbox(scenario="intermittent-500s")
    def test_scenario_intermittent_500s(aiprod_account):
        statuses = [aiprod_account.client.get("/jobs") for _ in range(3)]
        assert [r.status_code for r in statuses] == [500, 500, 200]
        assert statuses[0].json()["error"]["type"] == "server_error"
        assert statuses[0].json()["error"]["code"] == "INTERNAL_ERROR"
        assert aiprod_account.info["scenario"] == "intermittent-500s"

    @pytest.mark.aiprod_sandbox(scenario="free-tier")
    def test_scenario_free_tier(aiprod_account):
        refused = aiprod_account.client.post("/pipeline/batch", json=BATCH)
        assert refused.status_code == 403

    def _seconds(iso):
        from datetime import datetime
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
"""

LAYERED = """
    import pytest

    pytestmark = pytest.mark.aiprod_sandbox(tier="free", job_timing="simulated")

    def test_module_marker_applies(aiprod_account):
        assert aiprod_account.info["tier"] == "free"
        assert aiprod_account.info["job_timing"] == "simulated"

    @pytest.mark.aiprod_sandbox(clock="manual")
    def test_function_marker_adds_to_it(aiprod_account):
        info = aiprod_account.info
        assert (info["tier"], info["job_timing"], info["clock"]["mode"]) == (
            "free", "simulated", "manual"
        )

    @pytest.mark.aiprod_sandbox(tier="enterprise")
    class TestClassMarker:
        def test_the_closest_marker_wins(self, aiprod_account):
            assert aiprod_account.info["tier"] == "enterprise"
            assert aiprod_account.info["job_timing"] == "simulated"

        @pytest.mark.aiprod_sandbox(tier="pro")
        def test_the_function_beats_the_class(self, aiprod_account):
            assert aiprod_account.info["tier"] == "pro"
"""


IN_PROCESS = """
    import socket

    import httpx
    import pytest

    def story(account):
        \"\"\"What a partner's client sees: statuses, states, error codes, headers.\"\"\"
        client = account.client
        accepted = client.post("/pipeline/run", json={"video_url": "https://example.com/a.mp4"})
        job = client.get(f"/jobs/{accepted.json()['job_id']}")
        bad = client.post("/pipeline/run", json={"video_url": "ftp://x", "voice_language": "x"})
        missing = client.get("/pipeline/job_doesnotexist")
        anonymous = client.get("/jobs", headers={"Authorization": ""})
        return {
            "submit": (accepted.status_code, accepted.json()["status"]),
            "read": (job.status_code, job.json()["status"], sorted(job.json())),
            "bad": (
                bad.status_code, bad.json()["error"]["code"], sorted(bad.json()["error"]["details"])
            ),
            "missing": (missing.status_code, missing.json()["error"]["code"]),
            "anonymous": (anonymous.status_code, anonymous.json()["error"]["code"]),
            "headers": sorted(h for h in job.headers if h.lower().startswith("x-")),
            "listed": client.get("/jobs").json()["pagination"]["total"],
        }

    EXPECTED = {
        "submit": (202, "PENDING"),
        "read": (200, "COMPLETED", [
            "completed_at", "created_at", "error", "estimated_duration_seconds", "input",
            "job_id", "metadata", "progress", "result", "started_at", "status", "updated_at",
        ]),
        "bad": (400, "INVALID_PARAMETER", ["video_url", "voice_language"]),
        "missing": (404, "JOB_NOT_FOUND"),
        "anonymous": (401, "MISSING_API_KEY"),
        "headers": [
            "x-content-type-options", "x-ratelimit-limit", "x-ratelimit-remaining",
            "x-ratelimit-reset", "x-request-id",
        ],
        "listed": 1,
    }

    @pytest.fixture
    def no_sockets(monkeypatch):
        def refuse(*args, **kwargs):
            raise AssertionError("a socket was used")
        monkeypatch.setattr(socket.socket, "connect", refuse)
        monkeypatch.setattr(socket.socket, "connect_ex", refuse)
        monkeypatch.setattr(socket, "create_connection", refuse)

    def test_over_http(aiprod_account):
        transport = aiprod_account.client._transport  # the session's shared socket pool
        assert isinstance(transport._inner, httpx.HTTPTransport)
        assert story(aiprod_account) == EXPECTED

    @pytest.mark.aiprod_sandbox(inprocess=True)
    def test_in_process(no_sockets, aiprod_account):
        transport = aiprod_account.client._transport
        assert not isinstance(transport, httpx.HTTPTransport)
        assert type(transport).__name__ == "InProcessTransport"
        assert story(aiprod_account) == EXPECTED

    @pytest.mark.aiprod_sandbox(inprocess=True, clock="manual", job_timing="simulated")
    def test_in_process_with_the_clock(no_sockets, aiprod_account):
        job_id = aiprod_account.submit()["job_id"]
        assert aiprod_account.job(job_id)["status"] == "PENDING"
        aiprod_account.clock.advance(3600)
        assert aiprod_account.job(job_id)["status"] == "COMPLETED"

    def test_the_socket_guard_works(aiprod_sandbox, no_sockets):
        with httpx.Client(base_url=aiprod_sandbox.base_url) as client:
            with pytest.raises(AssertionError, match="a socket was used"):
                client.get("/health")
"""


def test_marker_keywords_configure_the_account(inner: Inner) -> None:
    """tier, clock, job_timing, scenario, layering, and inprocess (no socket, same answers)."""
    result = inner.suite(test_marked=MARKED, test_layered=LAYERED, test_inprocess=IN_PROCESS)
    result.assert_outcomes(passed=15)


BAD_MARKERS = """
    import pytest

    @pytest.mark.aiprod_sandbox(teir="free")
    def test_misspelt_keyword(aiprod_account):
        pass

    @pytest.mark.aiprod_sandbox("free")
    def test_positional_argument(aiprod_account):
        pass

    @pytest.mark.aiprod_sandbox(tier="gold")
    def test_unknown_tier(aiprod_account):
        pass

    @pytest.mark.aiprod_sandbox(scenario="no-such-scenario")
    def test_unknown_scenario(aiprod_account):
        pass

    @pytest.mark.aiprod_sandbox(tier="free")
    def test_a_good_one_still_runs(aiprod_account):
        pass
"""


def test_a_bad_marker_is_a_usage_error_of_that_test(inner: Inner) -> None:
    result = inner.suite(test_bad_markers=BAD_MARKERS)
    result.assert_outcomes(passed=1, errors=4)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_misspelt_keyword*",
            "*UsageError: @pytest.mark.aiprod_sandbox takes only keywords tier, scenario, clock, "
            "scale, job_timing, inprocess; got *'teir'*",
            "*ERROR at setup of test_positional_argument*",
            "*UsageError: @pytest.mark.aiprod_sandbox takes only keywords*; got ('free',)",
            "*ERROR at setup of test_unknown_tier*",
            "*UsageError: aiprod_sandbox(tier='gold'): one of *'enterprise', 'free', 'pro'*",
            "*ERROR at setup of test_unknown_scenario*",
            "*PUT /_sandbox/scenario answered 400*INVALID_PARAMETER*",
        ]
    )


DROPPED = """
    import httpx
    import pytest

    DROP = {
        "name": "drop-jobs",
        "description": "GET /jobs: the connection drops without an answer",
        "requests": [{"match": {"path": "/jobs"}, "respond": {"drop": True}}],
    }

    def check(account):
        put = account.client.put("/_sandbox/scenario", json={"scenario": DROP})
        assert put.status_code == 200, put.text
        with pytest.raises(httpx.TransportError):
            account.client.get("/jobs")

    def test_over_http(aiprod_account):
        check(aiprod_account)

    @pytest.mark.aiprod_sandbox(inprocess=True)
    def test_in_process(aiprod_account):
        check(aiprod_account)
"""


def test_inprocess_drops_a_connection_the_way_http_does(inner: Inner) -> None:
    result = inner.suite("-rA", test_dropped=DROPPED)
    result.stdout.fnmatch_lines(
        ["PASSED test_dropped.py::test_over_http", "PASSED test_dropped.py::test_in_process"]
    )
    result.assert_outcomes(passed=2)


SCALED = """
    import pytest

    @pytest.mark.aiprod_sandbox(clock="scaled")
    def test_a_scaled_clock(aiprod_account):
        assert aiprod_account.info["clock"]["mode"] == "scaled"
        assert aiprod_account.info["clock"]["scale"] == 60  # the default: a minute a second

    @pytest.mark.aiprod_sandbox(scale=120)
    def test_a_scale_alone_makes_a_scaled_clock(aiprod_account):
        clock = aiprod_account.info["clock"]
        assert (clock["mode"], clock["scale"]) == ("scaled", 120)

    def test_a_scaled_clock_in_the_test_body(aiprod_account):
        aiprod_account.clock.set(mode="scaled", scale=60)
        assert aiprod_account.info["clock"]["scale"] == 60
"""


def test_the_marker_can_make_a_scaled_clock(inner: Inner) -> None:
    result = inner.suite("-rA", test_scaled=SCALED)
    result.stdout.fnmatch_lines(["PASSED test_scaled.py::test_a_scaled_clock_in_the_test_body"])
    result.assert_outcomes(passed=3)

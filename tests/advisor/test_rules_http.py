"""The integration advisor over HTTP: for every rule, a session that breaks the guide's advice
and gets the finding (rule id, texts of fixtures/advice.yaml, and exactly the request ids of
the offending calls — or the delivery ids — as evidence), and a session that follows the
advice and does not. Then the two other ways of seeing the findings: `serve`'s summary on
SIGTERM and the pytest plugin's `--aiprod-sandbox-advice` section.

The sandbox runs on a manual clock at START with simulated job timing, so "waiting" is a
clock advance and every interval is exact.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings, create_app
from aiprod_sandbox.core.sandbox import Sandbox
from aiprod_sandbox.webhook_http.receiver import Receiver
from aiprod_sandbox.webhook_http.signing import verify
from tests.advisor.conftest import (
    RULE_IDS,
    RULE_TEXTS,
    WAIT,
    Api,
    Verifying,
    assert_finding,
    rid,
)
from tests.conftest import START, auth, new_key
from tests.support.receivers import Receivers

VIDEO = {"video_url": "https://example.com/video.mp4", "preset": "social_short"}
OTHER = {"video_url": "https://example.com/other.mp4", "preset": "social_short"}
LIVE_KEY = "sk_live_abcdefghijklmnopqrst"


def estimated(response: httpx.Response) -> int:
    """Clock seconds after which the accepted job has ended: its estimated_duration_seconds,
    plus one (the estimate is rounded to the nearest second, so it may be up to 0.5 s short)."""
    return int(response.json()["estimated_duration_seconds"]) + 1


def test_every_rule_has_its_texts_in_the_fixture() -> None:
    assert sorted(RULE_TEXTS) == sorted(RULE_IDS)
    for rule, text in RULE_TEXTS.items():
        assert set(text) == {"title", "guide", "why", "fix"}, rule
        assert all(value.strip() for value in text.values()), rule


def test_a_fresh_account_has_no_findings(api: Api) -> None:
    assert api.advice() == {"items": [], "checked_requests": 0}


# ---- poll-after-webhook --------------------------------------------------------------------


def test_reading_a_job_after_registering_a_webhook_is_poll_after_webhook(
    api: Api, receivers: Receivers
) -> None:
    receiver = receivers.start()
    early = api.submit(VIDEO)
    api.advance(estimated(early))
    api.read_job(early.json()["job_id"])  # no webhook yet: fine
    api.advance(1)
    api.register(receiver.url)
    later = api.submit(OTHER)
    job_id = later.json()["job_id"]
    api.advance(estimated(later))
    assert receiver.receiver.wait_until(lambda got: len(got) == 1, WAIT)
    assert receiver.receiver.received[0].json()["data"]["job_id"] == job_id
    first = rid(api.read_job(job_id))
    api.advance(30)
    second = rid(api.read_job(job_id))

    assert_finding(api.finding("poll-after-webhook"), "poll-after-webhook", [first, second])


def test_reading_a_job_that_has_a_callback_url_is_poll_after_webhook(
    api: Api, receivers: Receivers
) -> None:
    receiver = receivers.start()
    plain = api.submit(VIDEO)
    called = api.submit({**OTHER, "callback_url": receiver.url})
    api.advance(max(estimated(plain), estimated(called)))
    api.read_job(plain.json()["job_id"])  # no callback, no webhook: fine
    read = rid(api.read_job(called.json()["job_id"]))

    assert_finding(api.finding("poll-after-webhook"), "poll-after-webhook", [read])


def test_reading_only_before_the_webhook_and_then_waiting_for_it_gives_no_finding(
    api: Api, receivers: Receivers
) -> None:
    receiver = receivers.start()
    early = api.submit(VIDEO)
    api.advance(estimated(early))
    assert api.read_job(early.json()["job_id"]).json()["status"] == "COMPLETED"
    api.advance(1)
    api.register(receiver.url)
    later = api.submit(OTHER)
    api.advance(estimated(later))
    assert receiver.receiver.wait_until(lambda got: len(got) == 1, WAIT)
    assert receiver.receiver.received[0].json()["data"]["status"] == "COMPLETED"

    assert api.findings() == {}


def test_reading_a_job_whose_end_was_not_acknowledged_is_reconciling_not_polling(
    api: Api, receivers: Receivers
) -> None:
    # The end's attempts at +0, +1 and +6 s fail; the one at +36 s is acknowledged
    receiver = receivers.plain(500, 500, 500, default=200)
    api.register(receiver.url, ["job.completed"])
    submitted = api.submit(VIDEO)
    job_id = submitted.json()["job_id"]
    api.advance(estimated(submitted))
    assert receiver.receiver.wait_until(lambda got: len(got) >= 1, WAIT)
    reconciling = api.read_job(job_id)  # the guide's fallback: the webhook did not land
    assert reconciling.json()["status"] == "COMPLETED"
    api.advance(10)
    assert receiver.receiver.wait_until(lambda got: len(got) == 3, WAIT)
    api.read_job(job_id)  # still not acknowledged: reconciling
    api.advance(30)
    assert receiver.receiver.wait_until(lambda got: len(got) == 4, WAIT)
    polled = rid(api.read_job(job_id))  # the webhook has told it now: a poll again

    assert_finding(api.finding("poll-after-webhook"), "poll-after-webhook", [polled])


def test_reading_a_job_that_ended_before_the_webhook_existed_is_not_poll_after_webhook(
    api: Api, receivers: Receivers
) -> None:
    receiver = receivers.start()
    early = api.submit(VIDEO)
    api.advance(estimated(early))
    api.advance(60)
    api.register(receiver.url)
    api.advance(60)
    assert api.read_job(early.json()["job_id"]).json()["status"] == "COMPLETED"

    assert "poll-after-webhook" not in api.findings()


def test_a_webhook_of_job_failed_only_does_not_make_a_read_poll_after_webhook(
    api: Api, receivers: Receivers
) -> None:
    receiver = receivers.start()
    api.register(receiver.url, ["job.failed"])
    accepted = api.submit(VIDEO)
    api.advance(estimated(accepted))
    assert api.read_job(accepted.json()["job_id"]).json()["status"] == "COMPLETED"
    assert receiver.receiver.received == []

    assert "poll-after-webhook" not in api.findings()


# ---- poll-too-often ------------------------------------------------------------------------


def test_reading_a_job_every_second_is_poll_too_often(api: Api) -> None:
    job_id = api.submit(VIDEO).json()["job_id"]
    api.read_job(job_id)
    quick = []
    for _ in range(3):
        api.advance(1)
        quick.append(rid(api.read_job(job_id)))

    assert_finding(api.finding("poll-too-often"), "poll-too-often", quick)


def test_more_than_ten_reads_of_a_job_is_poll_too_often_even_when_spaced(api: Api) -> None:
    job_id = api.submit(VIDEO).json()["job_id"]
    reads = []
    for _ in range(12):
        reads.append(rid(api.read_job(job_id)))
        api.advance(10)

    assert_finding(api.finding("poll-too-often"), "poll-too-often", reads[10:])


def test_one_read_after_estimated_duration_gives_no_finding(api: Api) -> None:
    accepted = api.submit(VIDEO)
    api.advance(estimated(accepted))
    assert api.read_job(accepted.json()["job_id"]).json()["status"] == "COMPLETED"

    assert api.findings() == {}


def test_reads_ten_seconds_apart_after_estimated_duration_give_no_finding(api: Api) -> None:
    accepted = api.submit(VIDEO)
    job_id = accepted.json()["job_id"]
    api.advance(estimated(accepted) - 20)
    statuses = []
    for _ in range(4):
        statuses.append(api.read_job(job_id).json()["status"])
        api.advance(10)
    assert statuses[-1] == "COMPLETED"

    assert api.findings() == {}


# ---- retry-before-retry-after --------------------------------------------------------------


def exhaust(api: Api) -> httpx.Response:
    """Spend the free tier's burst of 5; the 6th request is refused with Retry-After."""
    for _ in range(5):
        api.get("/jobs")
    refused = api.get("/jobs", expect=429)
    assert int(refused.headers["Retry-After"]) > 2
    return refused


def test_retrying_a_429_before_retry_after_is_retry_before_retry_after(free_api: Api) -> None:
    exhaust(free_api)
    free_api.advance(1)
    early = [rid(free_api.get("/jobs", expect=429))]
    free_api.advance(1)
    last = free_api.get("/jobs", expect=429)
    early.append(rid(last))
    free_api.advance(int(last.headers["Retry-After"]))
    free_api.get("/jobs")  # on time: not evidence

    assert_finding(free_api.finding("retry-before-retry-after"), "retry-before-retry-after", early)


def test_waiting_retry_after_before_retrying_gives_no_finding(free_api: Api) -> None:
    refused = exhaust(free_api)
    free_api.advance(int(refused.headers["Retry-After"]))
    free_api.get("/jobs")

    assert free_api.findings() == {}


# ---- retry-4xx -----------------------------------------------------------------------------


BAD = {"video_url": "https://example.com/video.mp4", "voice_language": "english"}


def test_resending_a_400_unchanged_is_retry_4xx(api: Api) -> None:
    api.post("/pipeline/run", json=BAD, expect=400)
    retries = [rid(api.post("/pipeline/run", json=BAD, expect=400)) for _ in range(2)]
    api.post("/pipeline/run", json={**BAD, "voice_language": "en"}, expect=202)  # fixed

    assert_finding(api.finding("retry-4xx"), "retry-4xx", retries)


def test_fixing_the_body_after_a_400_gives_no_finding(api: Api) -> None:
    refused = api.post("/pipeline/run", json=BAD, expect=400)
    assert "voice_language" in refused.json()["error"]["details"]
    api.post("/pipeline/run", json={**BAD, "voice_language": "en"}, expect=202)

    assert api.findings() == {}


def test_retrying_a_403_with_a_key_that_has_the_scope_is_not_retry_4xx(api: Api) -> None:
    created = api.post("/keys", json={"name": "writer", "scopes": ["jobs:write"]}, expect=201)
    writer = Api(api.client, created.json()["key"])
    assert writer.get("/jobs", expect=403).json()["error"]["type"] == "permission_error"
    api.get("/jobs")  # the same request, with a key that may read jobs

    assert "retry-4xx" not in api.findings()


# ---- duplicate-submission ------------------------------------------------------------------


def test_the_same_body_accepted_twice_within_seconds_is_duplicate_submission(api: Api) -> None:
    api.submit(VIDEO)
    duplicates = [rid(api.submit(VIDEO))]
    api.advance(5)
    duplicates.append(rid(api.submit(VIDEO)))

    assert_finding(api.finding("duplicate-submission"), "duplicate-submission", duplicates)


def test_different_bodies_or_the_same_body_30_s_apart_give_no_finding(api: Api) -> None:
    api.submit(VIDEO)
    api.submit(OTHER)
    api.advance(30)
    api.submit(VIDEO)

    assert api.findings() == {}


def test_the_same_batch_accepted_twice_within_seconds_is_duplicate_submission(
    api: Api,
) -> None:
    batch = {"videos": [{"url": "https://example.com/a.mp4"}, {"url": "https://example.com/b.mp4"}]}
    api.post("/pipeline/batch", json=batch, expect=202)
    again = rid(api.post("/pipeline/batch", json=batch, expect=202))

    assert_finding(api.finding("duplicate-submission"), "duplicate-submission", [again])


# ---- presets-no-cache ----------------------------------------------------------------------


def test_fetching_presets_again_without_if_none_match_is_presets_no_cache(api: Api) -> None:
    api.get("/presets")
    again = [rid(api.get("/presets")) for _ in range(2)]

    assert_finding(api.finding("presets-no-cache"), "presets-no-cache", again)


def test_if_none_match_or_an_hour_of_caching_gives_no_finding(api: Api) -> None:
    etag = api.get("/presets").headers["ETag"]
    for _ in range(2):
        assert api.get("/presets", expect=304, headers={"If-None-Match": etag}).content == b""
    api.advance(3601)
    api.get("/presets")  # the cached copy is an hour old: fetch it again

    assert api.findings() == {}


def test_walking_the_pages_of_presets_once_is_not_presets_no_cache(api: Api) -> None:
    first = api.get("/presets", params={"limit": 4}).json()
    assert first["pagination"]["has_next"]
    api.get("/presets", params={"limit": 4, "page": 2})

    assert "presets-no-cache" not in api.findings()


def test_retrying_a_refused_presets_fetch_is_not_presets_no_cache(free_api: Api) -> None:
    for _ in range(5):
        free_api.get("/jobs")
    refused = free_api.get("/presets", expect=429)
    free_api.advance(int(refused.headers["Retry-After"]))
    free_api.get("/presets")

    assert "presets-no-cache" not in free_api.findings()


# ---- unverified-webhook --------------------------------------------------------------------


def chaos_session(api: Api, receiver: Receiver, url: str) -> str:
    """webhook-chaos on, a webhook for job.completed, two jobs run to completion; the 2nd
    delivery is signed with a wrong secret on purpose. Returns the webhook's secret."""
    api.use("webhook-chaos")
    secret = str(api.register(url, ["job.completed"])["secret"])
    receiver.secret = secret
    for body in (VIDEO, OTHER):
        api.advance(estimated(api.submit(body)))
    api.advance(5)  # any retry (1 s later) is sent
    assert receiver.wait_until(lambda got: any(r.signature_valid is False for r in got), WAIT)
    return secret


def test_a_receiver_answering_200_to_a_bad_signature_is_unverified_webhook(
    api: Api, receivers: Receivers
) -> None:
    running = receivers.start(receiver=Receiver())  # answers 200 to everything
    secret = chaos_session(api, running.receiver, running.url)
    forged = [r for r in running.receiver.received if r.signature_valid is False]
    assert len(forged) == 1 and forged[0].status == 200
    assert not verify(secret, forged[0].body, forged[0].headers["x-aiprod-signature"])
    log = {d["delivery_id"]: d for d in api.deliveries()}
    bad = log[forged[0].delivery_id]["attempts"][0]
    assert (bad["deliberate"], bad["response_status"]) == ("bad_signature", 200)

    assert_finding(api.finding("unverified-webhook"), "unverified-webhook", [forged[0].delivery_id])


def test_a_receiver_answering_401_to_a_bad_signature_gives_no_finding(
    api: Api, receivers: Receivers
) -> None:
    running = receivers.start(receiver=Verifying(secret="whsec_placeholder"))
    chaos_session(api, running.receiver, running.url)
    forged = [r for r in running.receiver.received if r.signature_valid is False]
    assert len(forged) == 1 and forged[0].status == 401
    log = {d["delivery_id"]: d for d in api.deliveries()}
    attempts = log[forged[0].delivery_id]["attempts"]
    assert attempts[0]["deliberate"] == "bad_signature"
    assert attempts[0]["response_status"] == 401
    assert log[forged[0].delivery_id]["status"] == "delivered"  # the retry was signed right

    assert "unverified-webhook" not in api.findings()


# ---- many-client-identities ----------------------------------------------------------------


def test_one_key_from_four_user_agents_is_many_client_identities(api: Api) -> None:
    agents = ["shop-web/2.1", "shop-ios/5.0", "reporting-cron/1.0", "curl/8.5.0"]
    firsts = [rid(api.get("/jobs", headers={"User-Agent": agent})) for agent in agents]
    api.get("/jobs", headers={"User-Agent": agents[0]})  # seen already: not evidence

    assert_finding(api.finding("many-client-identities"), "many-client-identities", firsts)


def test_one_key_from_one_user_agent_gives_no_finding(api: Api) -> None:
    for path in ("/jobs", "/presets", "/me/usage", "/jobs"):
        api.get(path, headers={"User-Agent": "shop-web/2.1"})

    assert api.findings() == {}


def test_three_user_agents_on_one_key_and_a_fourth_on_another_key_give_no_finding(
    api: Api,
) -> None:
    agents = ["shop-web/2.1", "shop-ios/5.0", "reporting-cron/1.0"]
    for agent in agents:
        api.get("/jobs", headers={"User-Agent": agent})
    created = api.post(
        "/keys", json={"name": "cli"}, headers={"User-Agent": agents[0]}, expect=201
    ).json()
    Api(api.client, created["key"]).get("/jobs", headers={"User-Agent": "curl/8.5.0"})

    assert api.findings() == {}


# ---- live-key-attempts ---------------------------------------------------------------------


# A live key names no account, so the rule is the server's: the 401 tells the client that
# sent it, and `advice_summary` (serve's and the plugin's summary) tells whoever runs the
# server. No account is shown another client's live key (core/advisor.py says why).


def summary_of(client: TestClient, rule: str) -> list[str]:
    sandbox: Sandbox = client.app.state.sandbox  # type: ignore[attr-defined]
    return [line for line in sandbox.advice_summary() if f" {rule} " in line]


def test_a_live_key_sent_to_the_sandbox_is_the_servers_live_key_attempts(
    api: Api, client: TestClient
) -> None:
    refused = client.get("/jobs", headers=auth(LIVE_KEY))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "LIVE_KEY_IN_SANDBOX"
    api.get("/jobs")

    title, fix = RULE_TEXTS["live-key-attempts"]["title"], RULE_TEXTS["live-key-attempts"]["fix"]
    assert summary_of(client, "live-key-attempts") == [
        f"server: live-key-attempts ×1: {title} — fix: {fix}\n    evidence: {rid(refused)}"
    ]
    assert api.findings() == {}  # the account did not send it


def test_two_accounts_sharing_a_user_agent_are_not_blamed_for_a_live_key(
    client: TestClient,
) -> None:
    """The review's reproduction: a live key and two accounts' test keys, all from the one
    User-Agent every client of an HTTP library shares. Before, both accounts were shown the
    live key as theirs; now neither is, and the server's summary has it once."""
    shared = {"User-Agent": "python-httpx/0.28.1"}
    first, second = Api(client, new_key()), Api(client, new_key())
    first.get("/jobs", headers=shared)
    refused = client.get("/jobs", headers={**auth(LIVE_KEY), **shared})
    assert refused.json()["error"]["code"] == "LIVE_KEY_IN_SANDBOX"
    second.get("/jobs", headers=shared)
    first.get("/presets", headers=shared)

    for account in (first, second):
        assert account.findings() == {}
        assert rid(refused) not in json.dumps(account.advice())
    lines = [line for line in summary_of(client, "live-key-attempts")]
    assert len(lines) == 1 and lines[0].startswith("server: ") and rid(refused) in lines[0]
    accounts = {api.get("/_sandbox/account").json()["account_id"] for api in (first, second)}
    sandbox: Sandbox = client.app.state.sandbox  # type: ignore[attr-defined]
    assert not [
        line
        for line in sandbox.advice_summary()
        if line.split(":")[0] in accounts and rid(refused) in line
    ]


def test_only_test_keys_give_no_finding(api: Api) -> None:
    api.get("/jobs")
    created = api.post("/keys", json={"name": "second"}, expect=201).json()
    Api(api.client, created["key"]).get("/jobs")

    assert api.findings() == {}


def test_serve_summary_reports_one_live_key_attempt_once(checker: Any) -> None:
    settings = Settings(seed=7, clock="manual", start_time=START)
    sandbox = Sandbox(settings.core())
    with TestClient(create_app(settings, sandbox=sandbox)) as client:
        client.event_hooks = {"request": [], "response": [checker.hook]}
        assert client.get("/jobs", headers=auth(LIVE_KEY)).status_code == 401
        for _ in range(2):
            assert client.get("/jobs", headers=auth(new_key())).status_code == 200

    lines = [line for line in sandbox.advice_summary() if "live-key-attempts" in line]
    assert len(lines) == 1, lines


# ---- serve's summary and the plugin's section ----------------------------------------------


CLI = Path(sys.executable).parent / "aiprod-sandbox"
READY = re.compile(r"ready on (?P<url>http://127\.0\.0\.1:\d+)\b")
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def test_serve_prints_integration_advice_on_sigterm() -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AIPROD_SANDBOX_") and not name.lower().endswith("_proxy")
    }
    env["PYTHONUNBUFFERED"] = "1"
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [str(CLI), "serve", "--port", "0", "--clock", "manual"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            text=True,
            encoding="utf-8",
        )
        assert process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True)
        reader.start()
        try:
            try:
                line = lines.get(timeout=READY_TIMEOUT)
            except queue.Empty:
                line = None
            found = READY.search(line or "")
            assert found, f"no ready line: {line!r}"
            headers = auth(new_key())
            with httpx.Client(base_url=found["url"], trust_env=False, timeout=10) as http:
                sent = []
                for _ in range(2):
                    answer = http.post("/pipeline/run", json=VIDEO, headers=headers)
                    assert answer.status_code == 202, answer.text
                    sent.append(answer.headers["x-request-id"])
                account = http.get("/_sandbox/account", headers=headers).json()["account_id"]
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait(timeout=STOP_TIMEOUT)
            reader.join(STOP_TIMEOUT)
            process.stdout.close()
        stderr.seek(0)
        printed = stderr.read()

    assert code == 0, printed
    title = RULE_TEXTS["duplicate-submission"]["title"]
    fix = RULE_TEXTS["duplicate-submission"]["fix"]
    # The server has stopped: the summary names the evidence itself (the repeated request's
    # id, as the client's own logs have it), rather than an endpoint nobody can reach now.
    assert "Integration advice (1 finding(s), each with the ids of the requests" in printed
    assert "/_sandbox/advice" not in printed, printed
    assert f"  {account}: duplicate-submission ×1: {title} — fix: {fix}\n" in printed, printed
    assert f"      evidence: {sent[1]}\n" in printed, printed
    assert printed.index("Integration advice") < printed.index("AIPROD Sandbox stopped")


INNER_TEST = """
    BODY = {"video_url": "https://example.com/video.mp4"}

    def test_submits_twice(aiprod_account):
        for _ in range(2):
            assert aiprod_account.client.post("/pipeline/run", json=BODY).status_code == 202

    def test_reads_presets_once(aiprod_account):
        assert aiprod_account.client.get("/presets").status_code == 200
"""
UNRELATED_PLUGINS = ("faker", "hypothesispytest", "anyio", "xdist", "xdist.looponfail")


def _inner(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    blocked = [f"-pno:{name}" for name in UNRELATED_PLUGINS]
    return pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider", *blocked, timeout=60)


@pytest.fixture
def inner_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("AIPROD_SANDBOX_URL", "AIPROD_SANDBOX_RECEIVER_HOST"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_inner=INNER_TEST)
    return pytester


def test_the_plugin_prints_the_advice_section_with_its_option(
    inner_suite: pytest.Pytester,
) -> None:
    result = _inner(inner_suite, "--aiprod-sandbox-advice")

    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    title = RULE_TEXTS["duplicate-submission"]["title"]
    result.stdout.fnmatch_lines(
        [
            "*= AIPROD Sandbox integration advice =*",
            f"test_inner.py::test_submits_twice: duplicate-submission ×1: {title} — fix: *",
            "    evidence: req_*",
        ]
    )
    result.stdout.no_fnmatch_line("*presets-no-cache*")


def test_advice_fail_fails_a_session_of_passing_tests_that_has_findings(
    inner_suite: pytest.Pytester,
) -> None:
    failing = _inner(inner_suite, "--aiprod-sandbox-advice=fail")
    failing.assert_outcomes(passed=2)
    assert failing.ret == pytest.ExitCode.TESTS_FAILED
    failing.stdout.fnmatch_lines(["*1 findings: the session fails (--aiprod-sandbox-advice=fail)"])
    clean = _inner(inner_suite, "--aiprod-sandbox-advice=fail", "-k", "presets")
    clean.assert_outcomes(passed=1, deselected=1)
    assert clean.ret == pytest.ExitCode.OK
    clean.stdout.fnmatch_lines(["no findings"])

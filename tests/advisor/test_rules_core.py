"""The advisor's checks as pure functions over hand-built `Facts`: for each rule, what makes it
fire (and exactly which ids are its evidence), where its thresholds are, and — with hypothesis
— that an account following the guide's advice never gets it. Then `advise`, which turns the
evidence into findings with the texts of fixtures/advice.yaml."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiprod_sandbox.core import advisor
from aiprod_sandbox.core.advisor import (
    CHECKS,
    DUPLICATE_WINDOW,
    MAX_EVIDENCE,
    MAX_USER_AGENTS,
    POLL_GAP_SECONDS,
    POLL_MAX_READS,
    PRESETS_WINDOW,
    RETRY_4XX_WINDOW,
    Facts,
    advise,
)
from aiprod_sandbox.core.catalog import load_catalog
from aiprod_sandbox.core.journal import JournalEntry
from tests.advisor.conftest import ACCOUNT_RULE_IDS, RULE_IDS, RULE_TEXTS, SERVER_RULE_IDS

KEY = "sk_test_…0001"
OTHER_KEY = "sk_test_…0002"
JOB = "job_aaaaaaaaaaaaaaaa"
OTHER_JOB = "job_bbbbbbbbbbbbbbbb"
T0 = 1_780_000_000.0
_ids = itertools.count(1)


def entry(
    at: float,
    method: str = "GET",
    path: str = "/jobs",
    *,
    status: int = 200,
    query: str = "",
    key: str = KEY,
    user_agent: str | None = "shop-web/2.1",
    conditional: bool = False,
    body_sha: str | None = None,
    retry_after: int | None = None,
    request_id: str | None = None,
) -> JournalEntry:
    """One journal entry, as the middleware writes it (the fields the checks read)."""
    return JournalEntry(
        request_id=request_id or f"req_{next(_ids):016d}",
        at=T0 + at,
        method=method,
        path=path,
        query=query,
        status=status,
        duration_ms=1.0,
        key=key,
        user_agent=user_agent,
        conditional=conditional,
        body_sha=body_sha,
        retry_after=retry_after,
    )


def facts(
    journal: Iterable[JournalEntry] = (),
    *,
    webhook_times: Sequence[float] = (),
    callback_jobs: Iterable[str] = (),
    bad_signature_accepted: Sequence[str] = (),
) -> Facts:
    journal = list(journal)
    watched: dict[str, float] = {}
    if webhook_times:  # every job read is still running when the first webhook comes
        first = T0 + min(webhook_times)
        for item in journal:
            if match := advisor.JOB_READ.match(item.path):
                watched[match.group(1)] = first
    for job in callback_jobs:  # a callback_url covers the job from its submission
        watched[job] = float("-inf")
    return Facts(
        journal=journal,
        watched=watched,
        bad_signature_accepted=list(bad_signature_accepted),
    )


def ids(entries: Iterable[JournalEntry]) -> list[str]:
    return [e.request_id for e in entries]


def read(at: float, job: str = JOB, *, via: str = "/jobs", status: int = 200) -> JournalEntry:
    return entry(at, "GET", f"{via}/{job}", status=status)


def submit(at: float, body_sha: str | None = "a1" * 8, status: int = 202) -> JournalEntry:
    return entry(at, "POST", "/pipeline/run", status=status, body_sha=body_sha)


def presets(at: float, *, conditional: bool = False, query: str = "", status: int = 200) -> Any:
    status = 304 if conditional and status == 200 else status
    return entry(at, "GET", "/presets", conditional=conditional, query=query, status=status)


def gaps_to_times(gaps: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(gaps, initial=0.0))


def seconds(low: float, high: float) -> st.SearchStrategy[float]:
    """Seconds in [low, high] on a 1/1024 s grid: exact in binary, so `T0 + a + b` compares
    with `T0 + (a + b)` exactly and a boundary drawn is a boundary checked."""
    return st.integers(round(low * 1024), round(high * 1024)).map(lambda n: n / 1024)


# ---- poll-after-webhook --------------------------------------------------------------------


def test_poll_after_webhook_flags_reads_from_the_registration_on() -> None:
    before = read(10)
    after = [read(100), read(200, via="/pipeline")]
    other = read(300, OTHER_JOB)
    journal = [before, entry(50, "POST", "/webhooks/register", status=201), *after, other]

    found = advisor.poll_after_webhook(facts(journal, webhook_times=[50]))

    assert found == ids([*after, other])


def test_poll_after_webhook_uses_the_first_of_several_webhooks() -> None:
    reads = [read(10), read(60), read(120)]
    assert advisor.poll_after_webhook(facts(reads, webhook_times=[100, 50])) == ids(reads[1:])


def test_poll_after_webhook_flags_every_read_of_a_job_with_a_callback_url() -> None:
    called = [read(0), read(500)]
    plain = read(10, OTHER_JOB)
    found = advisor.poll_after_webhook(facts([called[0], plain, called[1]], callback_jobs=[JOB]))
    assert found == ids(called)


def test_poll_after_webhook_ignores_failed_reads_lists_and_writes() -> None:
    journal = [
        read(100, status=404),
        read(100, status=429),
        entry(100, "GET", "/jobs"),
        entry(100, "POST", f"/pipeline/{JOB}/cancel"),
        entry(100, "GET", f"/jobs/{JOB}/extra"),
    ]
    assert advisor.poll_after_webhook(facts(journal, webhook_times=[0], callback_jobs=[JOB])) == []


@given(st.lists(seconds(0, 10_000), max_size=30))
def test_without_webhook_or_callback_reading_is_never_poll_after_webhook(
    times: list[float],
) -> None:
    journal = [read(t, JOB if i % 2 else OTHER_JOB) for i, t in enumerate(sorted(times))]
    assert advisor.poll_after_webhook(facts(journal)) == []


# ---- poll-too-often ------------------------------------------------------------------------


def test_poll_too_often_flags_reads_closer_than_the_gap_once_there_are_two() -> None:
    reads = [read(0), read(1), read(2)]
    assert advisor.poll_too_often(facts(reads)) == ids(reads[1:])


def test_poll_too_often_forgives_a_single_quick_read() -> None:
    assert advisor.poll_too_often(facts([read(0), read(1), read(30)])) == []


def test_poll_too_often_flags_the_reads_beyond_the_tenth() -> None:
    reads = [read(t) for t in gaps_to_times([POLL_GAP_SECONDS] * POLL_MAX_READS)]
    assert len(reads) == POLL_MAX_READS + 1
    assert advisor.poll_too_often(facts(reads[:-1])) == []
    assert advisor.poll_too_often(facts(reads)) == ids(reads[-1:])


def test_poll_too_often_counts_each_job_on_its_own() -> None:
    journal = [read(0), read(1, OTHER_JOB), read(2), read(3, OTHER_JOB), read(30), read(40)]
    assert advisor.poll_too_often(facts(journal)) == []  # one quick read of each job


def test_poll_too_often_treats_pipeline_and_jobs_paths_as_one_job() -> None:
    reads = [read(0), read(1, via="/pipeline"), read(2)]
    assert advisor.poll_too_often(facts(reads)) == ids(reads[1:])


@given(st.lists(seconds(POLL_GAP_SECONDS, 600), max_size=POLL_MAX_READS - 1))
def test_reading_at_most_ten_times_with_gaps_is_never_poll_too_often(gaps: list[float]) -> None:
    reads = [read(t) for t in gaps_to_times(gaps)]
    assert advisor.poll_too_often(facts(reads)) == []


def test_the_guides_five_second_loop_is_poll_too_often() -> None:
    reads = [read(t) for t in range(0, 35, 5)]  # a 30 s job polled like the guide's example
    assert advisor.poll_too_often(facts(reads)) != []


def test_poll_too_often_fired_by_the_count_shows_the_reads_beyond_the_tenth() -> None:
    reads = [read(t) for t in gaps_to_times([10, 1] + [10] * 9)]
    assert len(reads) == 12
    assert advisor.poll_too_often(facts(reads)) == ids(reads[POLL_MAX_READS:])


# ---- retry-before-retry-after --------------------------------------------------------------


def test_a_request_before_retry_after_has_passed_is_evidence() -> None:
    limited = entry(0, status=429, retry_after=6)
    early = [entry(1, status=429, retry_after=5), entry(5.5, status=429, retry_after=1)]
    on_time = entry(6.5)
    journal = [limited, *early, on_time]
    assert advisor.retry_before_retry_after(facts(journal)) == ids(early)


def test_a_request_exactly_retry_after_later_is_not_evidence() -> None:
    journal = [entry(0, status=429, retry_after=6), entry(6)]
    assert advisor.retry_before_retry_after(facts(journal)) == []


def test_any_path_counts_as_a_retry_since_the_bucket_is_the_accounts() -> None:
    other = entry(2, "POST", "/pipeline/run", status=429, retry_after=4)
    assert advisor.retry_before_retry_after(
        facts([entry(0, status=429, retry_after=6), other])
    ) == ids([other])


def test_a_429_without_retry_after_blocks_nothing() -> None:
    journal = [entry(0, status=429), entry(0.1), entry(0, status=429, retry_after=0), entry(0.2)]
    assert advisor.retry_before_retry_after(facts(journal)) == []


@st.composite
def patient_journals(draw: st.DrawFn) -> list[JournalEntry]:
    """An account that, after every 429, waits at least its Retry-After before the next call."""
    journal: list[JournalEntry] = []
    now = 0.0
    for _ in range(draw(st.integers(0, 40))):
        limited = draw(st.booleans())
        retry_after = draw(st.integers(1, 60)) if limited else None
        journal.append(
            entry(
                now,
                status=429 if limited else draw(st.sampled_from([200, 202, 400, 503])),
                retry_after=retry_after,
            )
        )
        wait = draw(seconds(0, 30))
        now += (retry_after or 0) + wait
    return journal


@settings(max_examples=200)
@given(patient_journals())
def test_an_account_that_waits_retry_after_after_every_429_is_never_flagged(
    journal: list[JournalEntry],
) -> None:
    assert advisor.retry_before_retry_after(facts(journal)) == []


@given(patient_journals(), st.integers(1, 60), seconds(0, 0.999))
def test_one_impatient_request_after_a_patient_history_is_exactly_the_evidence(
    journal: list[JournalEntry], retry_after: int, fraction: float
) -> None:
    start = journal[-1].at - T0 + 600 if journal else 0.0
    limited = entry(start, status=429, retry_after=retry_after)
    impatient = entry(start + fraction * retry_after, status=429, retry_after=retry_after)
    found = advisor.retry_before_retry_after(facts([*journal, limited, impatient]))
    assert found == ids([impatient])


# ---- retry-4xx -----------------------------------------------------------------------------


def bad_submit(at: float, sha: str = "bad0" * 4, status: int = 400, key: str = KEY) -> Any:
    return entry(at, "POST", "/pipeline/run", status=status, body_sha=sha, key=key)


def test_resending_a_failed_request_unchanged_is_retry_4xx() -> None:
    first = bad_submit(0)
    again = [bad_submit(1), bad_submit(RETRY_4XX_WINDOW + 1)]  # each within 300 s of the last
    assert advisor.retry_4xx(facts([first, *again])) == ids(again)


def test_retry_4xx_covers_every_client_error_but_429() -> None:
    for status in (400, 401, 403, 404, 409, 413, 422):
        journal = [read(0, status=status), read(10, status=status)]
        assert advisor.retry_4xx(facts(journal)) == ids(journal[1:]), status
    limited = [read(0, status=429), read(10)]
    assert advisor.retry_4xx(facts(limited)) == []


def test_a_changed_request_is_not_retry_4xx() -> None:
    journal = [
        bad_submit(0),
        bad_submit(1, sha="good" * 4, status=202),  # another body
        entry(2, "GET", "/jobs", status=400, query="status=bogus"),
        entry(3, "GET", "/jobs", query="status=PENDING"),  # another query
    ]
    assert advisor.retry_4xx(facts(journal)) == []


def test_the_first_repeat_is_evidence_even_if_it_succeeds_then_the_failure_is_forgotten() -> None:
    journal = [read(0, status=409), read(1), read(2), read(3, status=409)]
    assert advisor.retry_4xx(facts(journal)) == ids(journal[1:2])


def test_a_repeat_after_the_window_is_not_retry_4xx() -> None:
    journal = [read(0, status=404), read(RETRY_4XX_WINDOW + 0.5, status=404)]
    assert advisor.retry_4xx(facts(journal)) == []


def test_retrying_5xx_is_not_retry_4xx() -> None:
    journal = [bad_submit(0, status=503), bad_submit(1, status=503), bad_submit(3, status=202)]
    assert advisor.retry_4xx(facts(journal)) == []


@given(st.lists(st.tuples(seconds(0, 5), st.sampled_from([400, 404, 409])), max_size=30))
def test_a_request_changed_before_every_retry_is_never_retry_4xx(
    attempts: list[tuple[float, int]],
) -> None:
    times = gaps_to_times([gap for gap, _ in attempts])
    journal = [
        bad_submit(at, sha=f"{index:016x}", status=status)
        for index, (at, (_, status)) in enumerate(zip(times, attempts, strict=False))
    ]
    assert advisor.retry_4xx(facts(journal)) == []


def test_the_same_call_with_another_key_is_not_retry_4xx() -> None:
    journal = [read(0, status=403)._replace(key=OTHER_KEY), read(5)]
    assert advisor.retry_4xx(facts(journal)) == []


# ---- duplicate-submission ------------------------------------------------------------------


def test_the_same_body_accepted_again_within_the_window_is_duplicate_submission() -> None:
    journal = [submit(0), submit(3), submit(3 + DUPLICATE_WINDOW)]
    assert advisor.duplicate_submission(facts(journal)) == ids(journal[1:])


def test_the_same_body_after_the_window_is_not_duplicate_submission() -> None:
    journal = [submit(0), submit(DUPLICATE_WINDOW + 0.5), submit(3 * DUPLICATE_WINDOW)]
    assert advisor.duplicate_submission(facts(journal)) == []


def test_only_accepted_submissions_with_a_body_count() -> None:
    journal = [
        submit(0, status=429),
        submit(1, status=400),
        submit(2, status=503),
        submit(3),  # the first 202
        submit(4, body_sha=None),
        submit(5, body_sha=None),
        entry(6, "POST", "/webhooks/register", status=201, body_sha="a1" * 8),
    ]
    assert advisor.duplicate_submission(facts(journal)) == []


@given(st.lists(seconds(0, 20), max_size=30))
def test_different_bodies_are_never_duplicate_submission(gaps: list[float]) -> None:
    journal = [submit(at, f"{i:016x}") for i, at in enumerate(gaps_to_times(gaps))]
    assert advisor.duplicate_submission(facts(journal)) == []


@given(st.lists(seconds(DUPLICATE_WINDOW + 0.001, 3600), max_size=30))
def test_the_same_body_spaced_beyond_the_window_is_never_duplicate_submission(
    gaps: list[float],
) -> None:
    journal = [submit(at) for at in gaps_to_times(gaps)]
    assert advisor.duplicate_submission(facts(journal)) == []


# ---- presets-no-cache ----------------------------------------------------------------------


def test_fetching_presets_again_within_the_hour_is_presets_no_cache() -> None:
    journal = [presets(0), presets(60), presets(PRESETS_WINDOW + 60)]
    assert advisor.presets_no_cache(facts(journal)) == ids(journal[1:])


def test_conditional_fetches_and_hourly_refreshes_are_not_presets_no_cache() -> None:
    journal = [
        presets(0),
        presets(1, conditional=True),
        presets(2, conditional=True),
        presets(PRESETS_WINDOW + 0.5),
    ]
    assert advisor.presets_no_cache(facts(journal)) == []


@given(st.lists(seconds(0, 100), max_size=30))
def test_sending_if_none_match_after_the_first_fetch_is_never_presets_no_cache(
    gaps: list[float],
) -> None:
    times = gaps_to_times(gaps)
    journal = [presets(at, conditional=index > 0) for index, at in enumerate(times)]
    assert advisor.presets_no_cache(facts(journal)) == []


@pytest.mark.parametrize(
    "journal",
    [
        [presets(0, query="limit=4"), presets(1, query="limit=4&page=2")],
        [presets(0, status=429), presets(6)],
    ],
    ids=["pages", "after-429"],
)
def test_reading_each_page_once_or_retrying_a_refusal_is_not_presets_no_cache(
    journal: list[JournalEntry],
) -> None:
    assert advisor.presets_no_cache(facts(journal)) == []


# ---- unverified-webhook, and live-key-attempts (the server's) -------------------------------


def test_unverified_webhook_is_the_deliveries_that_accepted_a_bad_signature() -> None:
    assert advisor.unverified_webhook(facts(bad_signature_accepted=["dlv_1", "dlv_2"])) == [
        "dlv_1",
        "dlv_2",
    ]
    assert advisor.unverified_webhook(facts([read(0)])) == []


def test_live_key_attempts_are_a_server_finding_of_every_live_key_request(rules: Any) -> None:
    assert advisor.server_findings([], rules) == []
    [finding] = advisor.server_findings(["req_1", "req_2"], rules)
    assert dataclasses.asdict(finding) == {
        "rule": "live-key-attempts",
        **RULE_TEXTS["live-key-attempts"],
        "count": 2,
        "evidence": ["req_1", "req_2"],
    }


def test_no_account_check_reads_live_keys() -> None:
    """An account's facts hold nothing of other clients: no field for live-key requests, and
    no check of that rule."""
    assert "live_key_requests" not in {f.name for f in dataclasses.fields(Facts)}
    assert "live-key-attempts" not in CHECKS


# ---- many-client-identities ----------------------------------------------------------------


def test_more_than_three_user_agents_on_a_key_show_the_first_request_of_each() -> None:
    agents = ["shop-web/2.1", "shop-ios/5.0", "cron/1.0", None]
    firsts = [entry(i, user_agent=agent) for i, agent in enumerate(agents)]
    journal = [firsts[0], firsts[1], entry(2, user_agent=agents[0]), *firsts[2:]]
    assert advisor.many_client_identities(facts(journal)) == ids(firsts)


def test_three_user_agents_per_key_are_fine_however_many_keys() -> None:
    journal = [
        entry(i, user_agent=agent, key=key)
        for i, (key, agent) in enumerate(itertools.product([KEY, OTHER_KEY], ["a/1", "b/1", "c/1"]))
    ]
    assert advisor.many_client_identities(facts(journal)) == []


def test_a_missing_user_agent_and_an_empty_one_are_one_identity() -> None:
    journal = [entry(i, user_agent=agent) for i, agent in enumerate(["a", "b", None, ""])]
    assert advisor.many_client_identities(facts(journal)) == []


@given(
    st.lists(
        st.tuples(st.sampled_from([KEY, OTHER_KEY]), st.sampled_from(["a/1", "b/1", "c/1"])),
        max_size=40,
    )
)
def test_at_most_three_user_agents_per_key_is_never_many_client_identities(
    calls: list[tuple[str, str]],
) -> None:
    journal = [entry(i, key=key, user_agent=agent) for i, (key, agent) in enumerate(calls)]
    assert advisor.many_client_identities(facts(journal)) == []


@given(st.lists(st.text(max_size=8), min_size=1, max_size=40))
def test_many_client_identities_evidence_is_one_request_per_agent(agents: list[str]) -> None:
    journal = [entry(i, user_agent=agent) for i, agent in enumerate(agents)]
    found = advisor.many_client_identities(facts(journal))
    distinct = list(dict.fromkeys(agents))
    if len(distinct) > MAX_USER_AGENTS:
        assert found == [journal[agents.index(agent)].request_id for agent in distinct]
    else:
        assert found == []


# ---- advise --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rules() -> Any:
    return load_catalog().advice


def test_every_rule_has_a_check_and_a_text(rules: Any) -> None:
    assert tuple(CHECKS) == ACCOUNT_RULE_IDS
    assert advisor.SERVER_RULES == SERVER_RULE_IDS
    assert set(rules) == set(RULE_IDS)
    for rule_id, text in rules.items():
        assert text.model_dump() == RULE_TEXTS[rule_id]


def test_advise_gives_a_finding_per_rule_with_evidence_in_the_checks_order(rules: Any) -> None:
    journal = [submit(0), submit(1), presets(2), presets(3)]
    found = advise(facts(journal, bad_signature_accepted=["dlv_1"]), rules)
    assert [f.rule for f in found] == [
        "duplicate-submission",
        "presets-no-cache",
        "unverified-webhook",
    ]
    first = found[0]
    assert dataclasses.asdict(first) == {
        "rule": "duplicate-submission",
        **RULE_TEXTS["duplicate-submission"],
        "count": 1,
        "evidence": [journal[1].request_id],
    }


def test_advise_has_no_findings_for_a_quiet_account(rules: Any) -> None:
    assert advise(facts([read(0), presets(1), submit(2)]), rules) == []


def test_advise_keeps_the_count_but_at_most_twenty_unique_ids_of_evidence(rules: Any) -> None:
    repeated = ["dlv_same"] * 3 + [f"dlv_{n}" for n in range(30)]
    [finding] = advise(facts(bad_signature_accepted=repeated), rules)
    assert finding.count == 33
    assert finding.evidence == ["dlv_same", *[f"dlv_{n}" for n in range(MAX_EVIDENCE - 1)]]


journal_entries = st.builds(
    lambda at, method, path, status, agent, sha, conditional, retry_after: entry(
        at,
        method,
        path,
        status=status,
        user_agent=agent,
        body_sha=sha,
        conditional=conditional,
        retry_after=retry_after,
    ),
    seconds(0, 100),
    st.sampled_from(["GET", "POST"]),
    st.sampled_from(
        ["/jobs", f"/jobs/{JOB}", f"/pipeline/{OTHER_JOB}", "/presets", "/pipeline/run"]
    ),
    st.sampled_from([200, 202, 304, 400, 404, 429, 500]),
    st.sampled_from(["a", "b", "c", "d", "e", None]),
    st.sampled_from([None, "s1", "s2"]),
    st.booleans(),
    st.sampled_from([None, 0, 1, 6, 60]),
)


@settings(max_examples=100)
@given(
    st.lists(journal_entries, max_size=40),
    st.lists(seconds(0, 100), max_size=2),
    st.lists(st.sampled_from(["dlv_1", "dlv_2"]), max_size=3),
)
def test_advise_findings_are_well_formed_for_any_journal(
    rules: Any, journal: list[JournalEntry], hooks: list[float], bad: list[str]
) -> None:
    journal.sort(key=lambda e: e.at)
    known = {e.request_id for e in journal} | set(bad)
    found = advise(facts(journal, webhook_times=hooks, bad_signature_accepted=bad), rules)
    assert [f.rule for f in found] == [r for r in CHECKS if r in {f.rule for f in found}]
    for finding in found:
        assert finding.evidence, finding
        assert len(set(finding.evidence)) == len(finding.evidence) <= MAX_EVIDENCE
        assert finding.count >= len(finding.evidence)
        assert set(finding.evidence) <= known
        assert {k: getattr(finding, k) for k in ("title", "guide", "why", "fix")} == RULE_TEXTS[
            finding.rule
        ]

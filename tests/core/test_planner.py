"""The planner: seeded figures per job, magic inputs from fixtures/outcomes.yaml, URL names."""

from __future__ import annotations

import pytest

from aiprod_sandbox.core.catalog import Catalog
from aiprod_sandbox.core.ids import Draws
from aiprod_sandbox.core.jobs import JobInput, JobPlan
from aiprod_sandbox.core.planner import (
    DEFAULT_BASE_SECONDS,
    DEFAULT_COST_PER_MINUTE,
    find_outcome,
    magic_name,
    plan_job,
)

PLAIN = JobInput("https://example.com/input.mp4")


def plan_for(
    catalog: Catalog,
    job_input: JobInput = PLAIN,
    *,
    seed: int = 7,
    account: str = "acct_a",
    job: str = "job_1",
    simulated: bool = False,
) -> JobPlan:
    preset = catalog.preset(job_input.preset) if job_input.preset else None
    return plan_job(catalog, job_input, preset, Draws(seed, account, job), simulated=simulated)


def magic(name: str) -> JobInput:
    return JobInput(f"https://cdn.example.com/clips/{name}.mp4")


# ---- determinism ------------------------------------------------------------------------------
def test_same_seed_account_and_job_give_the_same_figures(catalog: Catalog) -> None:
    assert plan_for(catalog) == plan_for(catalog)


@pytest.mark.parametrize(
    "other", [{"job": "job_2"}, {"account": "acct_b"}, {"seed": 8}], ids=["job", "account", "seed"]
)
def test_another_job_account_or_seed_gives_other_figures(
    catalog: Catalog, other: dict[str, object]
) -> None:
    first = plan_for(catalog)
    second = plan_for(catalog, **other)  # type: ignore[arg-type]
    assert (first.processing_seconds, first.queue_seconds) != (
        second.processing_seconds,
        second.queue_seconds,
    )


def test_figures_do_not_depend_on_draws_made_for_other_jobs(catalog: Catalog) -> None:
    alone = plan_for(catalog, job="job_9")
    for index in range(5):
        plan_for(catalog, job=f"job_{index}")
    assert plan_for(catalog, job="job_9") == alone


def test_figures_stay_in_their_ranges(catalog: Catalog) -> None:
    for index in range(200):
        plan = plan_for(catalog, job=f"job_{index}")
        assert DEFAULT_BASE_SECONDS <= plan.processing_seconds <= DEFAULT_BASE_SECONDS + 45
        assert 2 <= plan.queue_seconds <= 8
        assert 0.82 <= plan.quality_score <= 0.98
        assert plan.quality_score == round(plan.quality_score, 2)
        assert plan.cost_estimate == round(
            DEFAULT_COST_PER_MINUTE * plan.processing_seconds / 60, 2
        )
        assert plan.outcome == "complete" and plan.error is None


def test_a_preset_sets_base_duration_and_price(catalog: Catalog) -> None:
    preset = catalog.preset("cinematic_trailer")
    assert preset is not None
    plan = plan_for(catalog, JobInput(PLAIN.video_url, preset="cinematic_trailer"))
    base = preset.base_duration_seconds
    assert base <= plan.processing_seconds <= base + 45
    assert plan.cost_estimate == round(preset.cost_per_minute * plan.processing_seconds / 60, 2)


def test_voice_text_adds_time_per_word(catalog: Catalog) -> None:
    quiet = plan_for(catalog)
    spoken = plan_for(catalog, JobInput(PLAIN.video_url, voice_text="one two three four five"))
    assert spoken.processing_seconds == pytest.approx(quiet.processing_seconds + 5 * 0.4)


@pytest.mark.parametrize("simulated", [False, True])
def test_ordinary_jobs_complete_with_the_servers_timing(catalog: Catalog, simulated: bool) -> None:
    plan = plan_for(catalog, simulated=simulated)
    assert plan.outcome == "complete"
    assert plan.simulated is simulated


# ---- magic inputs -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "code", "error_type", "fail_at"),
    [
        ("fail_download", "DOWNLOAD_FAILED", "processing_error", 0),
        ("fail_unsupported_media", "UNSUPPORTED_MEDIA", "processing_error", 0),
        ("fail_voice_synthesis", "VOICE_SYNTHESIS_FAILED", "processing_error", 30),
        ("fail_music_generation", "MUSIC_GENERATION_FAILED", "processing_error", 60),
        ("fail_internal", "INTERNAL_ERROR", "server_error", 90),
        ("fail_timeout", "PROCESSING_TIMEOUT", "server_error", 90),
    ],
)
@pytest.mark.parametrize("simulated", [False, True])
def test_magic_failures_fail_with_their_code(
    catalog: Catalog, name: str, code: str, error_type: str, fail_at: int, simulated: bool
) -> None:
    plan = plan_for(catalog, magic(name), simulated=simulated)
    assert plan.outcome == "fail"
    assert plan.simulated is simulated
    assert plan.error is not None
    assert (plan.error.code, plan.error.type) == (code, error_type)
    assert plan.error.message
    assert plan.fail_at_progress == fail_at


def test_every_failure_in_the_outcomes_file_is_planned_as_written(catalog: Catalog) -> None:
    failures = {name: o for name, o in catalog.outcomes.items() if o.kind == "fail"}
    assert len(failures) >= 6
    for name, outcome in failures.items():
        plan = plan_for(catalog, magic(name))
        assert outcome.error is not None and plan.error is not None
        assert plan.error.code == outcome.error.code
        assert plan.error.message == outcome.error.message
        assert plan.fail_at_progress == (outcome.fail_at_progress or 0)


@pytest.mark.parametrize("simulated", [False, True])
def test_stay_pending_never_starts(catalog: Catalog, simulated: bool) -> None:
    plan = plan_for(catalog, magic("stay_pending"), simulated=simulated)
    assert plan.outcome == "pending"
    assert plan.error is None


@pytest.mark.parametrize("simulated", [False, True])
def test_slow_is_simulated_even_when_timing_is_instant(catalog: Catalog, simulated: bool) -> None:
    plan = plan_for(catalog, magic("slow"), simulated=simulated)
    assert plan.outcome == "complete"
    assert plan.simulated is True
    assert (plan.queue_seconds, plan.processing_seconds) == (10, 600)
    assert plan.estimated_duration_seconds == 610


def test_slow_jobs_cost_what_they_process(catalog: Catalog) -> None:
    plan = plan_for(catalog, magic("slow"))
    assert plan.cost_estimate == round(DEFAULT_COST_PER_MINUTE * plan.processing_seconds / 60, 2)


def test_a_magic_name_elsewhere_in_the_url_is_not_magic(catalog: Catalog) -> None:
    for url in (
        "https://fail_download.example.com/video.mp4",
        "https://example.com/fail_download/video.mp4",
        "https://example.com/video.mp4?name=fail_download.mp4",
        "https://example.com/video.mp4#fail_download",
        "https://example.com/fail_download_v2.mp4",
    ):
        assert find_outcome(catalog, JobInput(url)) is None, url
        assert plan_for(catalog, JobInput(url)).outcome == "complete"


# ---- magic_name -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://example.com/fail_download.mp4", "fail_download"),
        ("https://example.com/fail_download.mp4?token=abc&x=1", "fail_download"),
        ("https://example.com/a/b/stay_pending.mov?sig=1#t=3", "stay_pending"),
        ("https://example.com/slow?version=2", "slow"),
        ("http://127.0.0.1:9000/slow.webm", "slow"),
        ("https://example.com/video.mp4?file=slow.mp4", "video"),
        ("https://example.com/", ""),
    ],
)
def test_magic_name_is_the_file_name_without_extension(url: str, name: str) -> None:
    assert magic_name(url) == name

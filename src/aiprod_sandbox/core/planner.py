"""Decides how a new job will run: its outcome (magic inputs), its timing, its score and cost.

The figures are drawn from a random stream named by the seed, the account and the job id, so a
job's result does not depend on how many other jobs were submitted before it.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import urlsplit

from .catalog import Catalog, Outcome, Preset
from .ids import Draws
from .jobs import PROGRESS_STEPS, JobError, JobInput, JobPlan
from .scenarios.models import JobRule

DEFAULT_BASE_SECONDS = 180
DEFAULT_COST_PER_MINUTE = 0.5


def magic_name(video_url: str) -> str:
    """The URL's file name without extension: `https://x/fail_download.mp4` → `fail_download`."""
    path = urlsplit(video_url).path
    name = path.rpartition("/")[2]
    if not name or name in (".", ".."):
        return PurePosixPath(path).stem  # trailing slash, dot segments: pathlib's rules
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def find_outcome(catalog: Catalog, job_input: JobInput) -> Outcome | None:
    return catalog.outcomes.get(magic_name(job_input.video_url))


def plan_job(
    catalog: Catalog,
    job_input: JobInput,
    preset: Preset | None,
    rng: Draws,
    *,
    simulated: bool,
    rule: JobRule | None = None,
) -> JobPlan:
    """The job's plan: a scenario's job rule first, then magic inputs, else a completion."""
    base = preset.base_duration_seconds if preset else DEFAULT_BASE_SECONDS
    per_minute = preset.cost_per_minute if preset else DEFAULT_COST_PER_MINUTE
    words = len((job_input.voice_text or "").split())
    processing = base + words * 0.4 + rng.uniform(0, 45)
    queue = rng.uniform(2, 8)
    quality = round(rng.uniform(0.82, 0.98), 2)

    if rule is not None:
        return _from_rule(rule, simulated, queue, processing, quality, per_minute)
    outcome = find_outcome(catalog, job_input)
    if outcome is not None and outcome.kind == "slow":
        simulated = True
        processing = outcome.processing_seconds or processing
        if outcome.queue_seconds is not None:
            queue = outcome.queue_seconds
    cost = round(per_minute * processing / 60, 2)  # the cost of the time it really runs
    if outcome is None or outcome.kind == "slow":
        return JobPlan("complete", simulated, queue, processing, quality, cost)
    if outcome.kind == "pending":
        return JobPlan("pending", simulated, queue, processing, quality, cost)
    spec = outcome.error
    error = (
        JobError(spec.type, spec.code, spec.message)
        if spec
        else JobError("processing_error", "PROCESSING_FAILED", "Processing failed")
    )
    return JobPlan(
        "fail",
        simulated,
        queue,
        processing,
        quality,
        cost,
        error=error,
        fail_at_progress=outcome.fail_at_progress or 0,
    )


def _from_rule(
    rule: JobRule,
    simulated: bool,
    queue: float,
    processing: float,
    quality: float,
    per_minute: float,
) -> JobPlan:
    if rule.timing is not None:
        simulated = rule.timing == "simulated"
    queue = rule.queue_seconds if rule.queue_seconds is not None else queue
    processing = rule.processing_seconds or processing
    steps = tuple(rule.progress_steps) if rule.progress_steps is not None else PROGRESS_STEPS
    error = None
    if rule.outcome == "fail":
        spec = rule.error
        error = JobError(
            (spec.type if spec else None) or "processing_error",
            (spec.code if spec else None) or "PROCESSING_FAILED",
            (spec.message if spec else None) or "Processing failed (scenario)",
        )
    return JobPlan(
        rule.outcome,
        simulated,
        queue,
        processing,
        quality,
        round(per_minute * processing / 60, 2),
        steps,
        error,
        rule.fail_at_progress,
    )

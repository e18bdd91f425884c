"""Jobs in the state document: a job as a document entry, and an entry as a job again.

Jobs that have not ended carry on from where they were, on the account's clock. Jobs given
without a plan, id or times (as fixture files may) get them as a submission would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..accounts import Account
from ..clock import iso, iso_ms, parse_iso
from ..ids import Draws
from ..jobs import (
    PROGRESS_STEPS,
    Job,
    JobError,
    JobInput,
    JobPlan,
    JobResult,
    JobStatus,
    fields_of,
)
from ..planner import plan_job
from ..timeline import pack_moments
from .document import StateJob, StateJobInput
from .records import Entry


def _plan_entry(plan: JobPlan) -> Entry:
    error = plan.error
    return {
        "outcome": plan.outcome,
        "simulated": plan.simulated,
        "queue_seconds": plan.queue_seconds,
        "processing_seconds": plan.processing_seconds,
        "quality_score": plan.quality_score,
        "cost_estimate": plan.cost_estimate,
        "progress_steps": list(plan.progress_steps),
        "error": fields_of(error) if error else None,
        "fail_at_progress": plan.fail_at_progress,
    }


def job_head(job: Job, stamp: Callable[[float], str] = iso) -> dict[str, Any]:
    """The fields the API and the state document show alike, their times as ISO text (the
    API's to the second, the document's with `stamp` = `iso_ms`)."""
    return {
        "job_id": job.job_id,
        "status": job.status.value,
        "progress": job.progress,
        "created_at": stamp(job.created_at),
        "updated_at": stamp(job.updated_at),
        "started_at": None if job.started_at is None else stamp(job.started_at),
        "completed_at": None if job.completed_at is None else stamp(job.completed_at),
        "metadata": dict(job.metadata),
    }


def job_entry(job: Job) -> Entry:
    """A job as the state document and the data directory hold it (`StateJob`'s fields)."""
    result, error = job.result, job.error
    entry = job_head(job, iso_ms)
    entry["input"] = fields_of(job.input)
    entry["result"] = fields_of(result) if result else None
    entry["error"] = fields_of(error) if error else None
    entry["batch_id"] = job.batch_id
    entry["cancel_reason"] = job.cancel_reason
    entry["step"] = job.step
    entry["plan"] = _plan_entry(job.plan)
    entry["timeline"] = [
        {"at": iso_ms(at), "event": event, "progress": progress}
        for at, event, progress in job.timeline.moments()
    ]
    return entry


def _error(spec: Entry | None) -> JobError | None:
    return (
        JobError(spec.get("type", "processing_error"), spec["code"], spec["message"])
        if spec
        else None
    )


def restore_job(account: Account, spec: Entry, seq: int, now: float) -> Job:
    """The job an entry describes (a `StateJob`'s fields: checked already, or written by the
    store), as it stands at `now` on the account's clock. An entry without a plan, times or
    timeline (a fixture's) gets them as a submission would."""
    job_id = spec.get("job_id") or account.ids.new("job")
    job_input = JobInput(**spec["input"])
    p = spec.get("plan")
    if p is not None:
        plan = JobPlan(
            p["outcome"],
            p["simulated"],
            p["queue_seconds"],
            p["processing_seconds"],
            p["quality_score"],
            p["cost_estimate"],
            tuple(sorted(set(p.get("progress_steps", PROGRESS_STEPS)))),
            _error(p.get("error")),
            p.get("fail_at_progress"),
        )
    else:
        rng = Draws(account.seed, account.account_id, job_id)
        preset = account.preset(job_input.preset) if job_input.preset else None
        plan = plan_job(
            account.catalog, job_input, preset, rng, simulated=account.job_timing == "simulated"
        )
    status = JobStatus(spec.get("status", "COMPLETED"))
    created = _at(spec.get("created_at")) or now
    started = _at(spec.get("started_at"))
    completed = _at(spec.get("completed_at"))
    progress = spec.get("progress")
    if progress is None:
        progress = 100 if status == JobStatus.COMPLETED else 0
    if status == JobStatus.PROCESSING and started is None:
        # Given without a start time, a running job is where its progress says it is *now*,
        # so a preloaded world starts with the job still running.
        done = [
            off
            for off, action, value in plan.steps()
            if action == "progress" and value is not None and value <= progress
        ]
        started = max(created, now - (done[-1] if done else 0.0))
    if status in (JobStatus.COMPLETED, JobStatus.FAILED) and started is None:
        started = created
    if status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED) and completed is None:
        completed = max(created, started or created)
    result = None
    if status == JobStatus.COMPLETED:
        given = spec.get("result")
        result = (
            JobResult(**given)
            if given
            else JobResult(plan.cost_estimate, plan.quality_score, round(plan.processing_seconds))
        )
    error = None
    if status == JobStatus.FAILED:
        error = (
            _error(spec.get("error"))
            or plan.error
            or JobError("processing_error", "PROCESSING_FAILED", "Processing failed")
        )
    timeline = spec.get("timeline")
    step = spec.get("step")
    return Job(
        job_id=job_id,
        seq=seq,
        input=job_input,
        metadata=dict(spec.get("metadata") or {}),
        plan=plan,
        created_at=created,
        status=status,
        progress=progress,
        updated_at=_at(spec.get("updated_at")) or (completed or started or created),
        started_at=started,
        completed_at=completed,
        result=result,
        error=error,
        batch_id=spec.get("batch_id"),
        cancel_reason=spec.get("cancel_reason"),
        step=step if step is not None else _steps_done(plan, progress),
        timeline=[(created, "job.created")] if timeline is None else (),
        timeline_data=None
        if timeline is None
        else pack_moments((parse_iso(m["at"]), m["event"], m.get("progress")) for m in timeline),
    )


def _at(text: str | None) -> float | None:
    return None if text is None else parse_iso(text)


def _steps_done(plan: JobPlan, progress: int) -> int:
    return sum(
        1
        for _, action, value in plan.steps()
        if action == "progress" and value is not None and value <= progress
    )


SYNTHETIC_STATUS = {
    "job.started": "PROCESSING",
    "job.progress": "PROCESSING",
    "job.completed": "COMPLETED",
    "job.failed": "FAILED",
    "job.cancelled": "CANCELLED",
}


def synthetic_job(account: Account, event: str, fake_input: dict[str, Any]) -> Job:
    """A job made up to carry one event (`POST /_sandbox/events` without a job): in the state
    the event implies, with nothing left to run, so it sends that event and no other."""
    status = SYNTHETIC_STATUS[event]
    spec = StateJob(
        status=status,  # type: ignore[arg-type]
        progress=30 if event == "job.progress" else None,
        input=StateJobInput(**fake_input),
        metadata={"synthetic": "true"},
        cancel_reason="Synthetic event from the sandbox" if status == "CANCELLED" else None,
    )
    now = account.now()
    job = restore_job(account, spec.model_dump(), seq=len(account.jobs) + 1, now=now)
    job.step = len(job.steps())
    account.jobs.restore(job)
    return job

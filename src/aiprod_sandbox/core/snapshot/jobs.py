"""Jobs in the state document: a job as a document entry, and an entry as a job again.

Jobs that have not ended carry on from where they were, on the account's clock. Jobs given
without a plan, id or times (as fixture files may) get them as a submission would.
"""

from __future__ import annotations

from typing import Any

from ..accounts import Account
from ..clock import iso, iso_or_none, parse_iso
from ..ids import Draws
from ..jobs import Job, JobError, JobInput, JobPlan, JobResult, JobStatus, fields_of
from ..planner import plan_job
from .document import StateJob, StateJobError, StateJobInput, StateJobResult, StatePlan


def _plan_out(plan: JobPlan) -> StatePlan:
    error = plan.error
    return StatePlan(
        outcome=plan.outcome,
        simulated=plan.simulated,
        queue_seconds=plan.queue_seconds,
        processing_seconds=plan.processing_seconds,
        quality_score=plan.quality_score,
        cost_estimate=plan.cost_estimate,
        progress_steps=list(plan.progress_steps),
        error=StateJobError(**fields_of(error)) if error else None,
        fail_at_progress=plan.fail_at_progress,
    )


def job_head(job: Job) -> dict[str, Any]:
    """The fields the API and the state document show alike, their times as ISO text."""
    return {
        "job_id": job.job_id,
        "status": job.status.value,
        "progress": job.progress,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "started_at": iso_or_none(job.started_at),
        "completed_at": iso_or_none(job.completed_at),
        "metadata": dict(job.metadata),
    }


def job_document(job: Job) -> StateJob:
    return StateJob(
        **job_head(job),
        input=StateJobInput(**fields_of(job.input)),
        result=StateJobResult(**fields_of(job.result)) if job.result else None,
        error=StateJobError(**fields_of(job.error)) if job.error else None,
        batch_id=job.batch_id,
        cancel_reason=job.cancel_reason,
        step=job.step,
        plan=_plan_out(job.plan),
    )


def _error(spec: StateJobError | None) -> JobError | None:
    return JobError(spec.type, spec.code, spec.message) if spec else None


def restore_job(account: Account, spec: StateJob, seq: int, now: float) -> Job:
    """The job a document entry describes, as it stands at `now` on the account's clock."""
    job_id = spec.job_id or account.ids.new("job")
    job_input = JobInput(**spec.input.model_dump())
    if spec.plan is not None:
        p = spec.plan
        plan = JobPlan(
            p.outcome,
            p.simulated,
            p.queue_seconds,
            p.processing_seconds,
            p.quality_score,
            p.cost_estimate,
            tuple(sorted(set(p.progress_steps))),
            _error(p.error),
            p.fail_at_progress,
        )
    else:
        rng = Draws(account.seed, account.account_id, job_id)
        preset = account.preset(job_input.preset) if job_input.preset else None
        plan = plan_job(
            account.catalog, job_input, preset, rng, simulated=account.job_timing == "simulated"
        )
    status = JobStatus(spec.status)
    created = parse_iso(spec.created_at) if spec.created_at else now
    started = parse_iso(spec.started_at) if spec.started_at else None
    completed = parse_iso(spec.completed_at) if spec.completed_at else None
    progress = spec.progress
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
        result = (
            JobResult(**spec.result.model_dump())
            if spec.result
            else JobResult(plan.cost_estimate, plan.quality_score, round(plan.processing_seconds))
        )
    error = None
    if status == JobStatus.FAILED:
        error = (
            _error(spec.error)
            or plan.error
            or JobError("processing_error", "PROCESSING_FAILED", "Processing failed")
        )
    return Job(
        job_id=job_id,
        seq=seq,
        input=job_input,
        metadata=dict(spec.metadata),
        plan=plan,
        created_at=created,
        status=status,
        progress=progress,
        updated_at=parse_iso(spec.updated_at)
        if spec.updated_at
        else (completed or started or created),
        started_at=started,
        completed_at=completed,
        result=result,
        error=error,
        batch_id=spec.batch_id,
        cancel_reason=spec.cancel_reason,
        step=spec.step if spec.step is not None else _steps_done(plan, progress),
        timeline=[(created, "job.created")],
    )


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
    job = restore_job(account, spec, seq=len(account.jobs) + 1, now=now)
    job.step = len(job.steps())
    account.jobs.restore(job)
    return job

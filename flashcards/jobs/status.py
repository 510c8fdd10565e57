"""Job run records: what each background job did, when, and how long it took.

Place: the runner writes a JobRun row when a job starts and completes it when the job
ends (each in its own short transaction, so a failing job still leaves its record);
the jobs page and `flashcards jobs --list` read them, and the runner reads the last
run times at start to detect runs missed while no scheduler was running.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CursorResult, Result, delete, func, select, update
from sqlalchemy.orm import Session

from flashcards.db.models import JobRun

RUNNING = "running"
OK = "ok"
FAILED = "failed"
INTERRUPTED = "interrupted"
# Runs that count as "the job ran" when deciding whether a run was missed. An
# interrupted run did not finish, so the job runs again at the next start.
_COMPLETED = (OK, FAILED)
# How many runs of each job the history keeps (housekeeping prunes the rest).
KEEP_RUNS_PER_JOB = 100


def rows_changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed (DML results are CursorResults)."""
    return result.rowcount if isinstance(result, CursorResult) else 0


def record_start(session: Session, job_id: str, *, now: dt.datetime) -> int:
    """Note that a job started; returns the run's id for `record_finish`."""
    run = JobRun(job_id=job_id, started_at=now, outcome=RUNNING, message="")
    session.add(run)
    session.flush()
    return run.id


def record_finish(
    session: Session,
    run_id: int,
    *,
    now: dt.datetime,
    outcome: str,
    message: str,
) -> None:
    """Complete a run record with its outcome, message and duration."""
    run = session.get_one(JobRun, run_id)
    run.finished_at = now
    run.outcome = outcome
    run.message = message[:4000]
    run.duration_ms = max(0, round((now - run.started_at).total_seconds() * 1000))


def mark_interrupted(session: Session, *, now: dt.datetime) -> int:
    """Close the runs a dead scheduler left 'running'; call only holding the lock."""
    result = session.execute(
        update(JobRun)
        .where(JobRun.outcome == RUNNING)
        .values(
            outcome=INTERRUPTED,
            finished_at=now,
            message="The scheduler stopped before this run finished.",
        )
    )
    return rows_changed(result)


def last_run_times(session: Session) -> dict[str, dt.datetime]:
    """When each job last ran to completion (ok or failed), by job id."""
    rows = session.execute(
        select(JobRun.job_id, func.max(JobRun.started_at))
        .where(JobRun.outcome.in_(_COMPLETED))
        .group_by(JobRun.job_id)
    )
    return {job_id: started for job_id, started in rows if started is not None}


def latest_runs(session: Session) -> dict[str, JobRun]:
    """The newest run record of each job (whatever its outcome), by job id."""
    newest = (
        select(JobRun.job_id, func.max(JobRun.id).label("id"))
        .group_by(JobRun.job_id)
        .subquery()
    )
    runs = session.scalars(select(JobRun).join(newest, newest.c.id == JobRun.id))
    return {run.job_id: run for run in runs}


def recent_runs(session: Session, job_id: str, *, limit: int = 10) -> list[JobRun]:
    """The newest runs of one job, newest first."""
    return list(
        session.scalars(
            select(JobRun)
            .where(JobRun.job_id == job_id)
            .order_by(JobRun.id.desc())
            .limit(limit)
        )
    )


def prune_runs(session: Session, *, keep: int = KEEP_RUNS_PER_JOB) -> int:
    """Delete all but the newest `keep` run records of each job; returns how many."""
    ranked = select(
        JobRun.id,
        func.row_number()
        .over(partition_by=JobRun.job_id, order_by=JobRun.id.desc())
        .label("rank"),
    ).subquery()
    old = select(ranked.c.id).where(ranked.c.rank > keep)
    result = session.execute(delete(JobRun).where(JobRun.id.in_(old)))
    return rows_changed(result)

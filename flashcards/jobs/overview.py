"""The jobs overview: each job, its schedule, its last run and its next run.

Place: read side of the job runner, shared by the web's /jobs page and
`flashcards jobs --list`, so both say the same. It works in any process: next run
times come from the live scheduler when this process runs it, and otherwise from
the trigger and the stored last run (what the scheduler will do when it runs).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from flashcards.config import Settings
from flashcards.db.models import JobRun
from flashcards.jobs.locks import scheduler_lock
from flashcards.jobs.runner import IN_PROCESS, job_specs, process_jobs
from flashcards.jobs.status import last_run_times, latest_runs


@dataclass(frozen=True)
class JobOverview:
    """One line of the jobs page."""

    id: str
    name: str
    schedule: str
    off_reason: str | None
    last_run: JobRun | None
    # None: off, or never ran and no scheduler here to ask ("when a scheduler starts").
    next_run_at: dt.datetime | None
    overdue: bool = False

    @property
    def enabled(self) -> bool:
        return self.off_reason is None


@dataclass(frozen=True)
class SchedulerOverview:
    """Who runs the jobs, as the page and the CLI say it."""

    mode: str
    state: str  # running-here, elsewhere, refused, not-running
    message: str


def scheduler_overview(settings: Settings) -> SchedulerOverview:
    """Whether this process runs the jobs, another one does, or none does (and why)."""
    here = process_jobs()
    if here.state == "running":
        return SchedulerOverview(settings.jobs_mode, "running-here", here.message)
    if here.state == "refused":
        return SchedulerOverview(settings.jobs_mode, "refused", here.message)
    lock = scheduler_lock(settings.database_url, settings.instance_dir)
    try:
        holder = lock.holder()
    finally:
        lock.release()
    if holder is not None:
        return SchedulerOverview(
            settings.jobs_mode, "elsewhere", f"Background jobs run in {holder}."
        )
    start = (
        "`flashcards serve` (FLASHCARDS_JOBS_MODE=in-process) or `flashcards jobs`"
        if settings.jobs_mode == IN_PROCESS
        else "`flashcards jobs` (FLASHCARDS_JOBS_MODE=separate)"
    )
    return SchedulerOverview(
        settings.jobs_mode,
        "not-running",
        f"No job scheduler is running, so no background job runs; start {start}.",
    )


def jobs_overview(
    session: Session, settings: Settings, *, now: dt.datetime
) -> list[JobOverview]:
    """Every job with its schedule, latest run and next run, in display order."""
    latest = latest_runs(session)
    last_completed = last_run_times(session)
    handle = process_jobs().handle
    overview = []
    for spec in job_specs(settings):
        next_run_at: dt.datetime | None = None
        overdue = False
        if spec.enabled:
            if handle is not None:
                next_run_at = handle.next_run_at(spec.id)
            elif spec.id in last_completed:
                next_run_at = spec.trigger.get_next_fire_time(
                    last_completed[spec.id], now
                )
                overdue = next_run_at is not None and next_run_at <= now
        overview.append(
            JobOverview(
                id=spec.id,
                name=spec.name,
                schedule=spec.schedule,
                off_reason=spec.off_reason,
                last_run=latest.get(spec.id),
                next_run_at=next_run_at,
                overdue=overdue,
            )
        )
    return overview


def format_time(moment: dt.datetime | None) -> str:
    if moment is None:
        return "-"
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"


def format_duration(milliseconds: int | None) -> str:
    if milliseconds is None:
        return "-"
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    return f"{milliseconds / 1000:.1f} s"


def describe_last_run(run: JobRun | None) -> str:
    if run is None:
        return "never"
    text = f"{format_time(run.started_at)}, {run.outcome}"
    if run.duration_ms is not None:
        text += f" in {format_duration(run.duration_ms)}"
    if run.message:
        text += f": {run.message}"
    return text


def describe_next_run(job: JobOverview) -> str:
    if not job.enabled:
        return f"off ({job.off_reason})"
    if job.next_run_at is None:
        return "when a scheduler starts"
    if job.overdue:
        return f"overdue since {format_time(job.next_run_at)}; runs once a scheduler runs"
    return format_time(job.next_run_at)


def overview_lines(scheduler: SchedulerOverview, jobs: list[JobOverview]) -> list[str]:
    """The plain-text overview `flashcards jobs --list` prints."""
    lines = [f"Jobs mode: {scheduler.mode}. {scheduler.message}", ""]
    for job in jobs:
        lines += [
            f"{job.id}: {job.name}",
            f"  schedule: {job.schedule}",
            f"  last run: {describe_last_run(job.last_run)}",
            f"  next run: {describe_next_run(job)}",
        ]
    return lines

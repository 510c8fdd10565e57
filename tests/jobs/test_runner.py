"""The runner: job ids and triggers, missed-run detection, run records, start rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flashcards.config import Settings
from flashcards.db.models import JobRun
from flashcards.jobs import runner
from flashcards.jobs.locks import FileLock, SchedulerLock
from flashcards.jobs.runner import (
    BACKUP,
    DECK_SYNC,
    HOUSEKEEPING,
    JobRuntime,
    build_scheduler,
    execute_job,
    first_run_time,
    job_specs,
    process_jobs,
    start_in_process_jobs,
)
from flashcards.jobs.status import last_run_times, mark_interrupted, record_start
from tests.jobs.conftest import Clock, write

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
FIVE_MINUTES = IntervalTrigger(minutes=5, timezone=dt.UTC)
QUARTER_HOURS = CronTrigger(minute="*/15", timezone=dt.UTC)


def ago(**delta: float) -> dt.datetime:
    return NOW - dt.timedelta(**delta)


# --- which jobs, when ------------------------------------------------------------------


def test_job_specs_ids_and_triggers(settings: Settings) -> None:
    specs = {spec.id: spec for spec in job_specs(settings)}
    assert list(specs) == [DECK_SYNC, BACKUP, HOUSEKEEPING]
    sync, backup, housekeeping = specs.values()
    assert isinstance(sync.trigger, IntervalTrigger)
    assert sync.trigger.interval == dt.timedelta(minutes=5)
    if settings.database_url.startswith("sqlite"):
        assert isinstance(backup.trigger, IntervalTrigger)
        assert backup.trigger.interval == dt.timedelta(minutes=30)
    assert isinstance(housekeeping.trigger, CronTrigger)
    assert str(housekeeping.trigger) == "cron[minute='*/15']"


def test_intervals_come_from_the_settings(settings: Settings) -> None:
    specs = job_specs(
        settings.with_overrides(
            sync_minutes=1, backup_minutes=60, database_url="sqlite:///x.sqlite3"
        )
    )
    assert [s.trigger.interval for s in specs[:2]] == [
        dt.timedelta(minutes=1),
        dt.timedelta(minutes=60),
    ]
    assert specs[0].schedule.startswith("every minute")


def test_backups_are_off_on_postgresql_and_jobs_can_be_switched_off(
    settings: Settings,
) -> None:
    on_pg = settings.with_overrides(
        database_url="postgresql+psycopg://flashcards@db/flashcards", sync_minutes=0
    )
    specs = {spec.id: spec for spec in job_specs(on_pg)}
    assert not specs[BACKUP].enabled
    assert "pg_dump" in (specs[BACKUP].off_reason or "")
    assert not specs[DECK_SYNC].enabled
    assert specs[HOUSEKEEPING].enabled


def test_build_scheduler_adds_each_enabled_job_once_without_starting(
    runtime: JobRuntime,
) -> None:
    scheduler = build_scheduler(runtime, now=NOW, last_runs={})
    assert isinstance(scheduler, BackgroundScheduler)
    assert not scheduler.running
    jobs = {job.id: job for job in scheduler.get_jobs()}
    expected = [DECK_SYNC, HOUSEKEEPING]
    if runtime.settings.database_url.startswith("sqlite"):
        expected.insert(1, BACKUP)
    assert list(jobs) == expected
    for job_id, job in jobs.items():
        assert job.func is execute_job
        assert job.args == (runtime, job_id)
        assert job.coalesce is True
        assert job.max_instances == 1
        assert job.misfire_grace_time is None
        assert job.next_run_time == NOW  # never ran: runs at start
    executor = scheduler._executors["default"]
    assert isinstance(executor, ThreadPoolExecutor)
    assert executor._pool._max_workers == 1


def test_blocking_scheduler_for_the_jobs_command(runtime: JobRuntime) -> None:
    scheduler = build_scheduler(runtime, now=NOW, last_runs={}, blocking=True)
    assert isinstance(scheduler, BlockingScheduler)


# --- missed runs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "last_run_at", "expected"),
    [
        pytest.param(FIVE_MINUTES, None, NOW, id="never ran: now"),
        pytest.param(FIVE_MINUTES, ago(minutes=2), ago(minutes=-3),
                     id="ran 2 min ago: keeps its cadence"),
        pytest.param(FIVE_MINUTES, ago(minutes=5), NOW, id="due exactly now"),
        pytest.param(FIVE_MINUTES, ago(hours=3), NOW,
                     id="down for 3 hours: 36 missed runs, one run now"),
        pytest.param(QUARTER_HOURS, ago(minutes=15), NOW, id="cron: due now"),
        pytest.param(QUARTER_HOURS, ago(minutes=20), NOW, id="cron: missed 11:45"),
        pytest.param(QUARTER_HOURS, ago(minutes=1), NOW,
                     id="cron: ran at 11:59, the 12:00 slot is due"),
        pytest.param(QUARTER_HOURS, NOW, ago(minutes=-15),
                     id="cron: ran at 12:00, next slot 12:15"),
        pytest.param(QUARTER_HOURS, ago(days=30), NOW, id="cron: a month down"),
    ],
)
def test_first_run_time(
    trigger: object, last_run_at: dt.datetime | None, expected: dt.datetime
) -> None:
    assert first_run_time(trigger, last_run_at, now=NOW) == expected


def test_missed_runs_after_downtime_run_once_at_start(
    runtime: JobRuntime, sessions: sessionmaker[Session]
) -> None:
    """Stored last runs: deck sync 3 hours ago (missed), housekeeping at the 12:00
    slot (not missed; failing counts as having run)."""
    with sessions.begin() as session:
        session.add(JobRun(job_id=DECK_SYNC, started_at=ago(hours=3), outcome="ok"))
        session.add(JobRun(job_id=HOUSEKEEPING, started_at=NOW, outcome="failed"))
        # A run its dead scheduler left behind does not count as having run.
        session.add(JobRun(job_id=BACKUP, started_at=ago(minutes=1), outcome="running"))
    with sessions.begin() as session:
        assert mark_interrupted(session, now=NOW) == 1
        last_runs = last_run_times(session)
    assert last_runs == {DECK_SYNC: ago(hours=3), HOUSEKEEPING: NOW}

    scheduler = build_scheduler(runtime, now=NOW, last_runs=last_runs)
    jobs = {job.id: job for job in scheduler.get_jobs()}

    sync = jobs[DECK_SYNC]
    assert sync.next_run_time == NOW
    # What the scheduler hands the executor when it wakes up a moment later: one run
    # (coalesced), not the 36 that were missed.
    run_times = sync._get_run_times(NOW + dt.timedelta(seconds=1))
    assert run_times == [NOW]
    assert sync.trigger.get_next_fire_time(run_times[-1], NOW) == NOW + dt.timedelta(
        minutes=5
    )
    assert jobs[HOUSEKEEPING].next_run_time == dt.datetime(2026, 3, 10, 12, 15,
                                                           tzinfo=dt.UTC)
    if BACKUP in jobs:
        assert jobs[BACKUP].next_run_time == NOW  # interrupted: runs again


# --- running a job ---------------------------------------------------------------------


def test_execute_job_records_the_run_with_the_clocks_times(
    runtime: JobRuntime, sessions: sessionmaker[Session], clock: Clock, studied: int
) -> None:
    write(runtime.settings.decks_dir / "more.yaml",
          "deck: More\ncards:\n  - id: a\n    front: a\n    back: b\n")
    start = clock()
    assert execute_job(runtime, DECK_SYNC) == "ok"
    with sessions() as session:
        (run,) = session.scalars(select(JobRun)).all()
    assert run.job_id == DECK_SYNC
    assert run.started_at == start
    assert run.finished_at == start  # the test clock did not move
    assert (run.outcome, run.duration_ms) == ("ok", 0)
    assert run.message == "1 unchanged, 1 imported (more)"


class TickingClock(Clock):
    """Moves 1.5 s forward each time it is read."""

    def __call__(self) -> dt.datetime:
        self.current += dt.timedelta(seconds=1.5)
        return self.current


def test_a_failing_job_is_recorded_as_failed(
    settings: Settings,
    sessions: sessionmaker[Session],
    lock: SchedulerLock,
    tmp_path: Path,
    on_sqlite: None,
) -> None:
    broken = settings.with_overrides(
        database_url=f"sqlite:///{tmp_path / 'no-such-dir' / 'gone.sqlite3'}"
    )
    runtime = JobRuntime(broken, sessions, lock, TickingClock(NOW))
    assert execute_job(runtime, BACKUP) == "failed"
    with sessions() as session:
        (run,) = session.scalars(select(JobRun)).all()
    assert run.outcome == "failed"
    assert run.message.startswith("BackupError: ")
    assert "no database file to back up" in run.message
    assert run.duration_ms == 1500


def test_execute_job_takes_the_lock_back_or_skips(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """A scheduler whose lock is gone (a dropped PostgreSQL connection) runs nothing
    while another scheduler holds it."""
    ours = FileLock(settings.instance_dir / "jobs.lock")
    theirs = FileLock(settings.instance_dir / "jobs.lock")
    assert theirs.acquire(purpose="the other scheduler", now=NOW)
    try:
        runtime = JobRuntime(settings, sessions, ours, Clock(NOW))
        assert execute_job(runtime, HOUSEKEEPING) == "skipped"
        with sessions() as session:
            assert session.scalars(select(JobRun)).all() == []
    finally:
        theirs.release()
    assert execute_job(runtime, HOUSEKEEPING) == "ok"
    assert ours.still_held()
    ours.release()


def test_record_start_and_unknown_jobs(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        run_id = record_start(session, DECK_SYNC, now=NOW)
    assert run_id
    with pytest.raises(KeyError, match="there is no job 'nope'"):
        runner.job_spec(Settings.from_env(environ={}), "nope")


# --- starting in the web process ----------------------------------------------------------


def test_separate_mode_starts_no_scheduler(settings: Settings) -> None:
    handle = start_in_process_jobs(settings.with_overrides(jobs_mode="separate"))
    assert handle is None
    status = process_jobs()
    assert status.state == "separate"
    assert "flashcards jobs" in status.message
    # It did not even take the lock.
    other = FileLock(settings.instance_dir / "jobs.lock")
    if settings.database_url.startswith("sqlite"):
        assert other.acquire(purpose="pytest", now=NOW)
        other.release()


def test_unknown_jobs_mode_is_an_error(settings: Settings) -> None:
    with pytest.raises(ValueError, match="FLASHCARDS_JOBS_MODE must be"):
        start_in_process_jobs(settings.with_overrides(jobs_mode="inprocess"))


def test_in_process_start_refuses_while_another_scheduler_holds_the_lock(
    settings: Settings, lock: SchedulerLock, caplog: pytest.LogCaptureFixture
) -> None:
    handle = start_in_process_jobs(settings, clock=Clock(NOW))
    assert handle is None
    status = process_jobs()
    assert status.state == "refused"
    assert "already runs them" in status.message
    assert "(pytest)" in status.message  # who holds it
    assert lock.where in status.message
    assert status.message in caplog.text
    assert lock.still_held()

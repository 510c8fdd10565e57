"""The job runner: which background jobs exist, when they run, and the one scheduler.

Place: `flashcards serve` calls `start_in_process_jobs` (a BackgroundScheduler in the
web process, when FLASHCARDS_JOBS_MODE is "in-process"); `flashcards jobs` calls
`run_jobs_blocking` (a BlockingScheduler on its own, for deployments whose web runs
in several worker processes, which then start no scheduler). Either way a lock
(locks.py) is taken first, so at most one scheduler per database runs jobs; one
that is refused runs nothing and says why, in the log and on the jobs page.

Every job runs through `execute_job`, which records the run (status.py) and gives
the job function the time from the runtime's clock: job functions never read the
clock themselves. Missed runs are handled in two ways: while running, APScheduler
coalesces a backlog into one run and never starts a job that is still running
(coalesce, max_instances=1, a single worker thread); across downtime, the last run
times stored in the database decide whether a run came due while nothing ran, and
such a job runs once at start (`first_run_time`).
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from flashcards.config import Settings
from flashcards.db.engine import make_engine, make_session_factory
from flashcards.db.migrate import upgrade_database
from flashcards.jobs.deck_sync import sync_deck_folder
from flashcards.jobs.housekeeping import run_housekeeping
from flashcards.jobs.locks import SchedulerLock, scheduler_lock
from flashcards.jobs.status import (
    FAILED,
    OK,
    last_run_times,
    mark_interrupted,
    record_finish,
    record_start,
)
from flashcards.services.backups import (
    PG_DUMP_HINT,
    backups_dir,
    make_backup,
    rotate_backups,
    sqlite_database_path,
)

log = logging.getLogger(__name__)

DECK_SYNC = "deck-sync"
BACKUP = "backup"
HOUSEKEEPING = "housekeeping"
JOB_IDS = (DECK_SYNC, BACKUP, HOUSEKEEPING)

IN_PROCESS = "in-process"
SEPARATE = "separate"
JOBS_MODES = (IN_PROCESS, SEPARATE)

# Every job: a backlog collapses into one run, a running job is never started
# again, and a late run still runs however late it is (a laptop waking up).
JOB_DEFAULTS: dict[str, Any] = {
    "coalesce": True,
    "max_instances": 1,
    "misfire_grace_time": None,
}
HOUSEKEEPING_MINUTES = "*/15"
SKIPPED = "skipped"


def utc_now() -> dt.datetime:
    """The real clock; the outer edge where time enters the job runner."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class JobRuntime:
    """What a job needs: settings, a session factory, the clock, and the held lock."""

    settings: Settings
    sessions: sessionmaker[Session]
    lock: SchedulerLock
    clock: Callable[[], dt.datetime] = utc_now
    purpose: str = "flashcards jobs"


JobFunction = Callable[[JobRuntime, dt.datetime], str]


@dataclass(frozen=True)
class JobSpec:
    """One background job: its id, what it does, and when (no trigger: it is off)."""

    id: str
    name: str
    schedule: str
    run: JobFunction
    trigger: Any = None
    off_reason: str | None = None

    @property
    def enabled(self) -> bool:
        return self.trigger is not None


# --- the jobs -----------------------------------------------------------------------


def _deck_sync(runtime: JobRuntime, now: dt.datetime) -> str:
    settings = runtime.settings
    return sync_deck_folder(
        runtime.sessions, settings.decks_dir, now=now, max_bytes=settings.max_deck_bytes
    ).summary()


def _backup(runtime: JobRuntime, now: dt.datetime) -> str:
    settings = runtime.settings
    folder = backups_dir(settings.instance_dir)
    made = make_backup(sqlite_database_path(settings.database_url), folder, now=now)
    deleted = rotate_backups(folder)
    return (
        f"{made.path.name} ({made.size_bytes / 1_000_000:.1f} MB); "
        f"{len(deleted)} old backups removed"
    )


def _housekeeping(runtime: JobRuntime, now: dt.datetime) -> str:
    with runtime.sessions.begin() as session:
        return run_housekeeping(session, now=now).summary()


def _every(minutes: int) -> str:
    return "every minute" if minutes == 1 else f"every {minutes} minutes"


def job_specs(settings: Settings) -> list[JobSpec]:
    """The background jobs for these settings, in display order, with their triggers."""
    on_postgresql = make_url(settings.database_url).get_backend_name() == "postgresql"
    specs = []
    if settings.sync_minutes > 0:
        specs.append(
            JobSpec(
                DECK_SYNC,
                "Deck folder sync",
                f"{_every(settings.sync_minutes)}: re-import changed files of "
                f"{settings.decks_dir}",
                _deck_sync,
                IntervalTrigger(minutes=settings.sync_minutes, timezone=dt.UTC),
            )
        )
    else:
        specs.append(
            JobSpec(DECK_SYNC, "Deck folder sync", "off", _deck_sync,
                    off_reason="FLASHCARDS_SYNC_MINUTES is 0")
        )
    backup_off = (
        PG_DUMP_HINT if on_postgresql
        else "FLASHCARDS_BACKUP_MINUTES is 0" if settings.backup_minutes <= 0
        else None
    )
    specs.append(
        JobSpec(
            BACKUP,
            "Database backup",
            "off" if backup_off else
            f"{_every(settings.backup_minutes)} into "
            f"{backups_dir(settings.instance_dir)}, with rotation",
            _backup,
            None if backup_off
            else IntervalTrigger(minutes=settings.backup_minutes, timezone=dt.UTC),
            off_reason=backup_off,
        )
    )
    specs.append(
        JobSpec(
            HOUSEKEEPING,
            "Housekeeping",
            "every 15 minutes, so it follows each user's day rollover: unbury, "
            "drop expired undo data, prune job history",
            _housekeeping,
            CronTrigger(minute=HOUSEKEEPING_MINUTES, timezone=dt.UTC),
        )
    )
    return specs


def job_spec(settings: Settings, job_id: str) -> JobSpec:
    for spec in job_specs(settings):
        if spec.id == job_id:
            return spec
    raise KeyError(f"there is no job {job_id!r}; the jobs are {', '.join(JOB_IDS)}")


# --- running one job ------------------------------------------------------------------


def execute_job(runtime: JobRuntime, job_id: str) -> str:
    """Run one job now and record it; returns the outcome ('ok', 'failed', 'skipped').

    The scheduler calls this (a module-level function, as APScheduler wants), and
    tests call it directly with a controllable clock in the runtime. A job that
    raises is recorded as failed with its message; the next run tries again.
    """
    spec = job_spec(runtime.settings, job_id)
    if not runtime.lock.still_held() and not runtime.lock.acquire(
        purpose=runtime.purpose, now=runtime.clock()
    ):
        # Only possible on PostgreSQL, when the lock's connection dropped and
        # another scheduler took over meanwhile.
        log.error(
            "job %s not run: this scheduler lost its lock (%s) to %s",
            job_id, runtime.lock.where, runtime.lock.holder() or "another process",
        )
        return SKIPPED
    started = runtime.clock()
    with runtime.sessions.begin() as session:
        run_id = record_start(session, job_id, now=started)
    try:
        message = spec.run(runtime, started)
        outcome = OK
    except Exception as error:
        log.exception("job %s failed", job_id)
        message = f"{type(error).__name__}: {error}"
        outcome = FAILED
    with runtime.sessions.begin() as session:
        record_finish(
            session, run_id, now=runtime.clock(), outcome=outcome, message=message
        )
    log.info("job %s: %s: %s", job_id, outcome, message)
    return outcome


# --- building the scheduler ------------------------------------------------------------


def first_run_time(
    trigger: Any, last_run_at: dt.datetime | None, *, now: dt.datetime
) -> dt.datetime | None:
    """When a job first runs after its scheduler starts at `now`.

    A job that never ran runs now. A job whose next run came due while no scheduler
    was running (the service was down) runs now, once, however many runs were
    missed. Otherwise it keeps its cadence: the next run after its last run, as if
    the scheduler had never stopped. None: the trigger never fires again.
    """
    if last_run_at is None:
        return now
    due: dt.datetime | None = trigger.get_next_fire_time(last_run_at, now)
    if due is None:
        return None
    return now if due <= now else due


def build_scheduler(
    runtime: JobRuntime,
    *,
    now: dt.datetime,
    last_runs: dict[str, dt.datetime],
    blocking: bool = False,
) -> Any:
    """An APScheduler scheduler with every enabled job added, not yet started.

    One worker thread: jobs run one after another, so a deck import and
    housekeeping never wait on each other's SQLite write lock.
    """
    scheduler_class = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = scheduler_class(
        timezone=dt.UTC,
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults=JOB_DEFAULTS,
    )
    for spec in job_specs(runtime.settings):
        if not spec.enabled:
            continue
        scheduler.add_job(
            execute_job,
            trigger=spec.trigger,
            args=(runtime, spec.id),
            id=spec.id,
            name=spec.name,
            replace_existing=True,
            next_run_time=first_run_time(spec.trigger, last_runs.get(spec.id), now=now),
            **JOB_DEFAULTS,
        )
    return scheduler


# --- this process and its scheduler -----------------------------------------------------


@dataclass
class JobsHandle:
    """A running scheduler, its lock and its database; `shutdown` stops all three."""

    scheduler: Any
    runtime: JobRuntime
    # The engine start opened itself (None when the caller passed `sessions`).
    engine_owned: Engine | None = None
    _stopped: bool = field(default=False, repr=False)

    def next_run_at(self, job_id: str) -> dt.datetime | None:
        job = self.scheduler.get_job(job_id)
        return job.next_run_time if job is not None else None

    def shutdown(self, wait: bool = True) -> None:
        """Stop the scheduler (waiting for a running job), then release the lock."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.scheduler.running:
                self.scheduler.shutdown(wait=wait)
        finally:
            self.runtime.lock.release()
            if self.engine_owned is not None:
                self.engine_owned.dispose()
            _set_process(ProcessJobs("stopped", "The job scheduler of this process "
                                     "has stopped."))


@dataclass(frozen=True)
class ProcessJobs:
    """What this process does about background jobs, for the jobs page.

    state: 'none' (started no scheduler), 'separate' (jobs mode says another process
    runs them), 'running' (runs them), 'refused' (another scheduler holds the lock),
    'stopped'.
    """

    state: str
    message: str
    handle: JobsHandle | None = None


_process = ProcessJobs("none", "This process started no job scheduler.")
_process_guard = threading.Lock()


def process_jobs() -> ProcessJobs:
    """This process's job scheduler state (one scheduler per process at most)."""
    return _process


def _set_process(state: ProcessJobs) -> None:
    global _process
    _process = state


class SchedulerRefusedError(Exception):
    """Another scheduler holds the lock; the message says who and where."""


def check_jobs_mode(settings: Settings) -> None:
    """Raises ValueError for a jobs mode that is neither 'in-process' nor 'separate'."""
    if settings.jobs_mode not in JOBS_MODES:
        raise ValueError(
            f"FLASHCARDS_JOBS_MODE must be 'in-process' or 'separate', not "
            f"{settings.jobs_mode!r}"
        )


def _open_sessions(settings: Settings) -> tuple[sessionmaker[Session], Engine]:
    settings.instance_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    return make_session_factory(engine), engine


def _prepare(
    settings: Settings,
    *,
    sessions: sessionmaker[Session] | None,
    clock: Callable[[], dt.datetime],
    purpose: str,
    blocking: bool,
) -> JobsHandle:
    """Take the lock, then build the scheduler from the stored last run times.

    Raises:
        SchedulerRefusedError: another scheduler holds the lock.
    """
    lock = scheduler_lock(settings.database_url, settings.instance_dir)
    now = clock()
    if not lock.acquire(purpose=purpose, now=now):
        try:
            holder = lock.holder() or "another process"
        finally:
            lock.release()  # closes what asking needed (a PostgreSQL connection)
        raise SchedulerRefusedError(
            f"Background jobs are not started here: {holder} already runs them "
            f"(it holds {lock.where}). Only one scheduler runs jobs, so that no job "
            "runs twice."
        )
    engine = None
    try:
        if sessions is None:
            sessions, engine = _open_sessions(settings)
        runtime = JobRuntime(settings, sessions, lock, clock, purpose)
        with sessions.begin() as session:
            # We hold the lock, so runs still marked running belong to a dead scheduler.
            mark_interrupted(session, now=now)
            last_runs = last_run_times(session)
        scheduler = build_scheduler(
            runtime, now=now, last_runs=last_runs, blocking=blocking
        )
    except BaseException:
        lock.release()
        if engine is not None:
            engine.dispose()
        raise
    return JobsHandle(scheduler, runtime, engine)


def _describe_jobs(handle: JobsHandle) -> str:
    parts = []
    for job in handle.scheduler.get_jobs():
        when = job.next_run_time
        parts.append(f"{job.id} (next {when:%Y-%m-%d %H:%M:%S} UTC)" if when else job.id)
    return ", ".join(parts) or "no jobs enabled"


def start_in_process_jobs(
    settings: Settings,
    *,
    sessions: sessionmaker[Session] | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
) -> JobsHandle | None:
    """Start the background jobs inside this (web) process, if this process should.

    Returns the running handle, or None when jobs mode is 'separate', when this
    process already started its scheduler, or when another scheduler holds the lock
    (the reason is logged and shown on the jobs page). Call `handle.shutdown()` when
    the server stops; it is also registered with atexit.

    Raises:
        ValueError: the jobs mode is neither 'in-process' nor 'separate'.
    """
    check_jobs_mode(settings)
    with _process_guard:
        if _process.handle is not None:
            log.warning("background jobs already run in this process; not starting twice")
            return None
        if settings.jobs_mode != IN_PROCESS:
            message = (
                "Background jobs run in a separate `flashcards jobs` process "
                f"(FLASHCARDS_JOBS_MODE={settings.jobs_mode}); this process starts none."
            )
            log.info(message)
            _set_process(ProcessJobs(SEPARATE, message))
            return None
        try:
            handle = _prepare(settings, sessions=sessions, clock=clock,
                              purpose="flashcards serve", blocking=False)
        except SchedulerRefusedError as refused:
            log.warning("%s", refused)
            _set_process(ProcessJobs("refused", str(refused)))
            return None
        try:
            handle.scheduler.start()
        except BaseException:
            handle.shutdown(wait=False)
            raise
        _set_process(ProcessJobs("running", "Background jobs run in this process.",
                                 handle))
    atexit.register(handle.shutdown, wait=False)
    log.info("background jobs started in this process: %s", _describe_jobs(handle))
    return handle


def run_jobs_blocking(
    settings: Settings,
    *,
    sessions: sessionmaker[Session] | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
) -> None:
    """Run the background jobs in this process until interrupted (`flashcards jobs`).

    Runs whatever FLASHCARDS_JOBS_MODE says: the lock decides. Returns after
    KeyboardInterrupt or SystemExit (the command turns SIGTERM into the latter),
    once a running job has finished and the lock is released.

    Raises:
        SchedulerRefusedError: another scheduler holds the lock.
    """
    check_jobs_mode(settings)
    with _process_guard:
        if _process.handle is not None:
            raise SchedulerRefusedError("This process already runs a job scheduler.")
        try:
            handle = _prepare(settings, sessions=sessions, clock=clock,
                              purpose="flashcards jobs", blocking=True)
        except SchedulerRefusedError as refused:
            _set_process(ProcessJobs("refused", str(refused)))
            raise
        _set_process(ProcessJobs("running", "Background jobs run in this process.",
                                 handle))
    log.info(
        "job scheduler started (lock: %s): %s",
        handle.runtime.lock.where, _describe_jobs(handle),
    )
    try:
        handle.scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("stopping the job scheduler (waiting for a running job to finish)")
    finally:
        handle.shutdown(wait=True)
    log.info("job scheduler stopped")

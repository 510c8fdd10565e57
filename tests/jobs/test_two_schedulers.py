"""Two `flashcards jobs` processes started together: one runs the jobs, one refuses.

Real processes against a real database, synchronised on their log lines (no sleeps).
The running one also shows the start rules: jobs whose runs were missed while
nothing ran (stored last runs hours ago) run once at start; a job that ran a
minute ago keeps its cadence and does not run.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import signal
import subprocess
import sys
import threading

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from flashcards.config import Settings
from flashcards.db.models import JobRun
from flashcards.jobs.locks import scheduler_lock
from flashcards.jobs.runner import BACKUP, DECK_SYNC, HOUSEKEEPING
from tests.conftest import REPO
from tests.jobs.conftest import DECK, write

TIMEOUT = 60.0

CLI = """
import sys
from flashcards.cli import main
from flashcards.jobs.commands import backup_command, jobs_command, restore_command
for command in (jobs_command, backup_command, restore_command):
    if command.name not in main.commands:
        main.add_command(command)
main(sys.argv[1:], prog_name="flashcards")
"""


def cli_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        FLASHCARDS_INSTANCE=str(settings.instance_dir),
        FLASHCARDS_DATABASE_URL=settings.database_url,
        FLASHCARDS_DECKS=str(settings.decks_dir),
        FLASHCARDS_JOBS_MODE="separate",
        PYTHONUNBUFFERED="1",
    )
    return env


class Processes:
    """Child processes whose output lines arrive on one queue as (index, line)."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[int, str | None]] = queue.Queue()
        self.procs: list[subprocess.Popen[str]] = []
        self.output: list[list[str]] = []

    def start(self, args: list[str], env: dict[str, str]) -> int:
        proc = subprocess.Popen(
            [sys.executable, "-c", CLI, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=REPO,
        )
        index = len(self.procs)
        self.procs.append(proc)
        self.output.append([])
        threading.Thread(target=self._read, args=(index, proc), daemon=True).start()
        return index

    def _read(self, index: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.events.put((index, line))
        self.events.put((index, None))

    def next_event(self) -> tuple[int, str | None]:
        try:
            index, line = self.events.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"nothing happened for {TIMEOUT} s: {self.output}") from None
        if line is not None:
            self.output[index].append(line)
        return index, line

    def text(self, index: int) -> str:
        return "".join(self.output[index])

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=TIMEOUT)
            if proc.stdout is not None:
                proc.stdout.close()


def test_two_schedulers_started_together_one_runs_the_other_refuses(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    write(settings.decks_dir / "capitals.yaml", DECK)
    on_sqlite = settings.database_url.startswith("sqlite")
    # The edge of the test: the children run on the real clock.
    now = dt.datetime.now(dt.UTC)
    with sessions.begin() as session:
        session.add(JobRun(job_id=DECK_SYNC, started_at=now - dt.timedelta(minutes=1),
                           outcome="ok", message="ran a minute ago"))
        session.add(JobRun(job_id=BACKUP, started_at=now - dt.timedelta(hours=3),
                           outcome="ok"))
        session.add(JobRun(job_id=HOUSEKEEPING, started_at=now - dt.timedelta(days=3),
                           outcome="ok"))
    expected_runs = [HOUSEKEEPING] + ([BACKUP] if on_sqlite else [])

    children = Processes()
    env = cli_env(settings)
    try:
        children.start(["jobs"], env)
        children.start(["jobs"], env)

        # Until one of them has exited, the other has started its scheduler, and
        # the missed jobs have run.
        ended: int | None = None
        started: int | None = None
        done: set[str] = set()
        while ended is None or started is None or not done.issuperset(expected_runs):
            index, line = children.next_event()
            if line is None:
                assert ended is None, children.output
                ended = index
            elif "job scheduler started" in line:
                assert started is None, children.output
                started = index
            else:
                done.update(j for j in expected_runs if f"job {j}: ok" in line)
        assert ended != started
        refused, running = children.procs[ended], children.procs[started]
        assert refused.wait(timeout=TIMEOUT) == 1
        message = children.text(ended)
        assert "already runs them" in message
        assert f"pid {running.pid} " in message
        assert "(flashcards jobs)" in message

        # Stop the scheduler the way systemd would.
        running.send_signal(signal.SIGTERM)
        while children.next_event() != (started, None):
            pass
        assert running.wait(timeout=TIMEOUT) == 0, children.text(started)
        assert "job scheduler stopped" in children.text(started)
    finally:
        children.stop_all()

    with sessions() as session:
        counts = dict(
            session.execute(
                select(JobRun.job_id, func.count()).group_by(JobRun.job_id)
            ).all()
        )
        outcomes = set(session.scalars(select(JobRun.outcome)))
    assert counts == {
        DECK_SYNC: 1,  # ran a minute ago: not due, not run
        HOUSEKEEPING: 2,  # missed for days: run exactly once
        BACKUP: 2 if on_sqlite else 1,
    }
    assert outcomes == {"ok"}
    if on_sqlite:
        assert len(list((settings.instance_dir / "backups").glob("flashcards-*"))) == 1
    # The lock went with the scheduler.
    lock = scheduler_lock(settings.database_url, settings.instance_dir)
    assert lock.acquire(purpose="pytest", now=now)
    lock.release()


IN_PROCESS = """
import threading
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from flashcards.config import Settings
from flashcards.jobs import runner

settings = Settings.from_env()
expected = {spec.id for spec in runner.job_specs(settings) if spec.enabled}
ran = []
all_ran = threading.Event()

def listen(event):
    ran.append(event.job_id)
    if set(ran) >= expected:
        all_ran.set()

# Listen from before the start: the jobs that are due run at once.
build_scheduler = runner.build_scheduler
def build_and_listen(*args, **kwargs):
    scheduler = build_scheduler(*args, **kwargs)
    scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    return scheduler
runner.build_scheduler = build_and_listen

first = runner.start_in_process_jobs(settings)
assert first is not None, runner.process_jobs().message
print("state:", runner.process_jobs().state, flush=True)
print("second:", runner.start_in_process_jobs(settings), flush=True)
print("ran all:", all_ran.wait(60), sorted(ran), flush=True)
first.shutdown()
print("after shutdown:", runner.process_jobs().state, flush=True)
"""


def test_serve_starts_its_scheduler_once(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """`start_in_process_jobs` runs the jobs once, and a second call starts nothing."""
    env = cli_env(settings) | {"FLASHCARDS_JOBS_MODE": "in-process"}
    done = subprocess.run(
        [sys.executable, "-c", IN_PROCESS],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "state: running"
    assert lines[1] == "second: None"
    assert lines[2].startswith("ran all: True")
    assert lines[3] == "after shutdown: stopped"
    assert "not starting twice" in done.stderr
    with sessions() as session:
        counts = dict(
            session.execute(
                select(JobRun.job_id, func.count()).group_by(JobRun.job_id)
            ).all()
        )
    assert set(counts.values()) == {1}

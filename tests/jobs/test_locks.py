"""The scheduler lock: one holder at a time, and the others learn who it is."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flashcards.jobs.locks import AdvisoryLock, FileLock, scheduler_lock
from tests.conftest import PG_URL

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def test_two_file_locks_exclude_each_other(tmp_path: Path) -> None:
    first = FileLock(tmp_path / "jobs.lock")
    second = FileLock(tmp_path / "jobs.lock")
    assert first.acquire(purpose="flashcards serve", now=NOW)
    assert not second.acquire(purpose="flashcards jobs", now=NOW)
    holder = second.holder()
    assert holder is not None
    assert holder.startswith(f"pid {os.getpid()} on host ")
    assert holder.endswith("(flashcards serve) since 2026-03-10 12:00 UTC")
    assert first.still_held() and not second.still_held()

    first.release()
    assert first.holder() is None
    assert second.acquire(purpose="flashcards jobs", now=NOW)
    assert "(flashcards jobs)" in (first.holder() or "")
    second.release()
    second.release()  # idempotent


def test_a_note_from_a_dead_process_means_nobody_holds_it(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    lock = FileLock(tmp_path / "jobs.lock")
    lock.path.write_text(json.dumps({"pid": int(gone.stdout), "host": os.uname().nodename,
                                     "purpose": "flashcards jobs"}))
    assert lock.holder() is None
    assert lock.acquire(purpose="pytest", now=NOW)
    lock.release()


HOLD = """
import datetime as dt, sys
from pathlib import Path
from flashcards.jobs.locks import FileLock
lock = FileLock(Path(sys.argv[1]))
print("held" if lock.acquire(purpose="flashcards jobs", now=dt.datetime.now(dt.UTC))
      else "refused", flush=True)
sys.stdin.readline()
"""


def test_a_lock_held_by_another_process_is_released_when_it_dies(tmp_path: Path) -> None:
    path = tmp_path / "jobs.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        lock = FileLock(path)
        assert not lock.acquire(purpose="pytest", now=NOW)
        assert f"pid {holder.pid} " in (lock.holder() or "")
        # Killed without any cleanup: the kernel releases the lock.
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        assert lock.acquire(purpose="pytest", now=NOW)
        lock.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
        assert holder.stdin is not None
        holder.stdin.close()


def test_scheduler_lock_picks_the_lock_by_database(tmp_path: Path) -> None:
    lock = scheduler_lock(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path)
    assert isinstance(lock, FileLock)
    assert lock.path == tmp_path / "jobs.lock"
    pg = scheduler_lock("postgresql+psycopg://u@db/flashcards", tmp_path)
    assert isinstance(pg, AdvisoryLock)
    assert pg.where.startswith("PostgreSQL advisory lock")


@pytest.mark.skipif(PG_URL is None, reason="needs FLASHCARDS_TEST_DATABASE_URL")
def test_two_advisory_locks_exclude_each_other(database_url: str) -> None:
    first = AdvisoryLock(database_url)
    second = AdvisoryLock(database_url)
    try:
        assert first.holder() is None
        assert first.acquire(purpose="flashcards serve", now=NOW)
        assert first.still_held()
        assert not second.acquire(purpose="flashcards jobs", now=NOW)
        assert not second.still_held()
        holder = second.holder()
        assert holder is not None
        assert holder.startswith(f"pid {os.getpid()} on host ")
        assert "(flashcards serve)" in holder
        first.release()
        assert not first.still_held()
        assert second.acquire(purpose="flashcards jobs", now=NOW)
        assert "(flashcards jobs)" in (first.holder() or "")
    finally:
        first.release()
        second.release()

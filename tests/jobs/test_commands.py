"""`flashcards jobs --list`, `flashcards backup` and `flashcards restore` via click."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from flashcards.cli import Context
from flashcards.config import Settings
from flashcards.db.models import JobRun, Note, Review, User
from flashcards.jobs.commands import backup_command, jobs_command, restore_command
from flashcards.jobs.locks import scheduler_lock
from flashcards.services.backups import list_backups


def invoke(settings: Settings, *args: str, input: str | None = None) -> Result:
    """Run a command the way `flashcards` runs it, with these settings."""

    @click.group()
    @click.pass_context
    def cli(ctx: click.Context) -> None:
        ctx.obj = Context(settings)

    for command in (jobs_command, backup_command, restore_command):
        cli.add_command(command)
    return CliRunner().invoke(cli, list(args), input=input)


def test_jobs_list_prints_each_job_with_its_runs(
    settings: Settings, sessions: sessionmaker[Session], now: dt.datetime
) -> None:
    with sessions.begin() as session:
        session.add(JobRun(job_id="deck-sync", started_at=now, outcome="ok",
                           finished_at=now + dt.timedelta(seconds=2),
                           duration_ms=2000, message="1 unchanged"))
    result = invoke(settings, "jobs", "--list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "Jobs mode: in-process. No job scheduler is running, so no background job "
        "runs; start `flashcards serve` (FLASHCARDS_JOBS_MODE=in-process) or "
        "`flashcards jobs`."
    )
    assert "deck-sync: Deck folder sync" in lines
    assert "  last run: 2026-03-10 12:00:00 UTC, ok in 2.0 s: 1 unchanged" in lines
    # Nothing runs the jobs, so the next sync is overdue (the clock is the real one).
    assert "  next run: overdue since 2026-03-10 12:05:00 UTC; runs once a scheduler runs" in lines
    assert "housekeeping: Housekeeping" in lines
    assert lines.count("  last run: never") == 2


def test_jobs_list_names_the_scheduler_that_runs_them(
    settings: Settings, now: dt.datetime
) -> None:
    lock = scheduler_lock(settings.database_url, settings.instance_dir)
    assert lock.acquire(purpose="flashcards jobs", now=now)
    try:
        result = invoke(settings, "jobs", "--list")
    finally:
        lock.release()
    first = result.output.splitlines()[0]
    assert "Background jobs run in pid " in first
    # (On PostgreSQL "since" is when the lock's connection started.)
    assert "(flashcards jobs) since " in first


def test_jobs_refuses_while_another_scheduler_runs(
    settings: Settings, now: dt.datetime
) -> None:
    lock = scheduler_lock(settings.database_url, settings.instance_dir)
    assert lock.acquire(purpose="flashcards serve", now=now)
    try:
        result = invoke(settings, "jobs")
    finally:
        lock.release()
    assert result.exit_code == 1
    assert "already runs them" in result.output
    assert "(flashcards serve)" in result.output


@pytest.mark.usefixtures("on_sqlite")
def test_backup_then_restore_brings_back_deleted_history(
    settings: Settings, sessions: sessionmaker[Session], studied: int
) -> None:
    result = invoke(settings, "backup")
    assert result.exit_code == 0, result.output
    (backup,) = list_backups(settings.instance_dir / "backups")
    assert f"to {backup.path} (" in result.output

    with sessions.begin() as session:
        session.execute(delete(Note).where(Note.key == "france"))
        stamp_after_backup = session.scalar(select(func.max(User.queue_stamp))) or 0

    result = invoke(settings, "restore", str(backup.path), input="y\n")

    assert result.exit_code == 0, result.output
    assert "Replace the content of" in result.output
    assert f"from {backup.path} (schema " in result.output
    assert "The database as it was before is in " in result.output
    with sessions() as session:
        assert session.scalars(select(Review.card_id)).all() == [studied]
        # Study queues a running web process kept from before cannot pass for
        # current: every stamp moved past the ones of the replaced database.
        restored = session.scalar(select(func.min(User.queue_stamp)))
        assert restored is not None and restored > stamp_after_backup
    safety = [b for b in list_backups(settings.instance_dir / "backups") if b.label]
    assert len(safety) == 1


@pytest.mark.usefixtures("on_sqlite")
def test_restore_can_be_declined(
    settings: Settings, sessions: sessionmaker[Session], studied: int
) -> None:
    assert invoke(settings, "backup").exit_code == 0
    (backup,) = list_backups(settings.instance_dir / "backups")
    result = invoke(settings, "restore", str(backup.path), input="n\n")
    assert result.exit_code == 1
    assert "Aborted" in result.output
    assert len(list_backups(settings.instance_dir / "backups")) == 1


def _database(settings: Settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))


def _rows(database: Path) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return conn.execute("SELECT * FROM reviews").fetchall()


@pytest.mark.usefixtures("on_sqlite")
def test_restore_of_a_non_database_fails_clearly(
    settings: Settings, studied: int, tmp_path: Path
) -> None:
    bogus = tmp_path / "backup.sqlite3"
    bogus.write_text("hello", encoding="utf-8")
    before = _rows(_database(settings))
    result = invoke(settings, "restore", "--yes", str(bogus))
    assert result.exit_code == 1
    assert result.output == (
        f"Not restored: {bogus} is not an SQLite database (its header is wrong). "
        "The current database is unchanged.\n"
    )
    assert _rows(_database(settings)) == before
    assert not (settings.instance_dir / "backups").exists()


@pytest.mark.usefixtures("on_sqlite")
def test_restore_refuses_while_jobs_run(
    settings: Settings, studied: int, now: dt.datetime
) -> None:
    assert invoke(settings, "backup").exit_code == 0
    (backup,) = list_backups(settings.instance_dir / "backups")
    lock = scheduler_lock(settings.database_url, settings.instance_dir)
    assert lock.acquire(purpose="flashcards serve", now=now)
    try:
        result = invoke(settings, "restore", "--yes", str(backup.path))
    finally:
        lock.release()
    assert result.exit_code == 1
    assert "background jobs are running in pid " in result.output
    assert "(flashcards serve)" in result.output
    assert len(list_backups(settings.instance_dir / "backups")) == 1


def test_backup_on_postgresql_points_to_pg_dump(settings: Settings) -> None:
    on_pg = settings.with_overrides(
        database_url="postgresql+psycopg://flashcards@db.invalid/flashcards"
    )
    result = invoke(on_pg, "backup")
    assert result.exit_code == 1
    assert "pg_dump" in result.output

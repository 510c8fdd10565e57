"""The `flashcards jobs`, `flashcards backup` and `flashcards restore` commands.

Place: click commands that cli.py registers on its group (`main.add_command`). They
read the group's context object (settings, and a lazily opened database) and call
the job runner and the backup service; this module imports nothing from cli.py, so
cli.py can import it at the top.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from types import FrameType
from typing import NoReturn, Protocol

import click
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from flashcards.config import Settings
from flashcards.db.engine import make_engine
from flashcards.db.migrate import upgrade_database
from flashcards.jobs.locks import scheduler_lock
from flashcards.jobs.overview import jobs_overview, overview_lines, scheduler_overview
from flashcards.jobs.runner import SchedulerRefusedError, run_jobs_blocking, utc_now
from flashcards.services.backups import (
    BackupError,
    backups_dir,
    check_backup,
    make_backup,
    restore_backup,
    sqlite_database_path,
)


class CliContext(Protocol):
    """What these commands need from cli.Context."""

    settings: Settings

    @property
    def sessions(self) -> sessionmaker[Session]: ...


def _highest_queue_stamp(database: Path) -> int:
    """The largest users.queue_stamp in a SQLite file (0 if there is none yet)."""
    if not database.is_file():
        return 0
    try:
        with closing(sqlite3.connect(database)) as connection:
            found = connection.execute("SELECT max(queue_stamp) FROM users").fetchone()
    except sqlite3.Error:  # an older schema without the column, or no users table
        return 0
    return int(found[0] or 0)


def _fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(1)


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    # Our runner logs every run; APScheduler's own lines would say it twice.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Unwinds the blocking scheduler like Ctrl+C: the running job finishes, then the
    # lock is released.
    raise SystemExit(0)


@click.command("jobs")
@click.option(
    "--list",
    "list_only",
    is_flag=True,
    help="Print each job, its schedule, last run and next run, then exit.",
)
@click.pass_obj
def jobs_command(ctx: CliContext, list_only: bool) -> None:
    """Run the background jobs (deck sync, backups, housekeeping) until stopped.

    For deployments whose web runs in several worker processes: run exactly one of
    these and set FLASHCARDS_JOBS_MODE=separate so that web processes start no
    scheduler. A second one refuses to start (exit status 1) and says who runs the
    jobs already.
    """
    settings = ctx.settings
    if list_only:
        with ctx.sessions() as session:
            jobs = jobs_overview(session, settings, now=utc_now())
        for line in overview_lines(scheduler_overview(settings), jobs):
            click.echo(line)
        return
    _configure_logging()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        run_jobs_blocking(settings, sessions=ctx.sessions)
    except SchedulerRefusedError as refused:
        _fail(str(refused))
    except ValueError as error:
        _fail(str(error))


@click.command("backup")
@click.pass_obj
def backup_command(ctx: CliContext) -> None:
    """Back up the SQLite database into instance/backups now (safe while it runs)."""
    settings = ctx.settings
    try:
        database = sqlite_database_path(settings.database_url)
        made = make_backup(database, backups_dir(settings.instance_dir), now=utc_now())
    except BackupError as error:
        _fail(str(error))
    click.echo(f"Backed up {database} to {made.path} ({made.size_bytes:,} bytes).")


@click.command("restore")
@click.argument("backup_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Restore without asking first.")
@click.pass_obj
def restore_command(ctx: CliContext, backup_file: Path, yes: bool) -> None:
    """Replace the database with BACKUP_FILE, after checking it.

    The file must be an intact flashcards database (integrity_check, the flashcards
    tables, a schema this version knows). The current database is backed up first,
    into instance/backups with the label 'before-restore'. Stop `flashcards jobs`
    (or `flashcards serve`) first: restore refuses while a job scheduler runs.
    """
    settings = ctx.settings
    try:
        database = sqlite_database_path(settings.database_url)
        revision = check_backup(backup_file)
    except BackupError as error:
        _fail(f"Not restored: {error} The current database is unchanged.")
    if not yes:
        click.confirm(
            f"Replace the content of {database} with {backup_file} "
            f"(schema {revision})? The current database is backed up first.",
            abort=True,
        )
    now = utc_now()
    lock = scheduler_lock(settings.database_url, settings.instance_dir)
    if not lock.acquire(purpose="flashcards restore", now=now):
        try:
            holder = lock.holder() or "another process"
        finally:
            lock.release()
        _fail(
            f"Not restored: background jobs are running in {holder}; stop it first "
            "so that no job writes while the database is replaced. The current "
            "database is unchanged."
        )
    stamps_before = _highest_queue_stamp(database)
    try:
        result = restore_backup(
            backup_file, database, backups_dir(settings.instance_dir), now=now
        )
    except BackupError as error:
        _fail(f"Not restored: {error} The current database is unchanged.")
    finally:
        lock.release()
    # An older backup has an older schema: bring it up to date now, not at next start.
    engine = make_engine(settings.database_url)
    try:
        upgrade_database(engine)
        # Study queues kept by a web process that was not stopped must not take the
        # restored (older) stamps for current ones: move every stamp past the old.
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE users SET queue_stamp = queue_stamp + :gap"),
                {"gap": stamps_before + 1},
            )
    finally:
        engine.dispose()
    click.echo(f"Restored {database} from {backup_file} (schema {result.revision}).")
    if result.safety_backup is not None:
        click.echo(f"The database as it was before is in {result.safety_backup.path}.")

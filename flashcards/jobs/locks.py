"""The lock that makes sure only one job scheduler runs per database.

Place: the job runner (runner.py) takes it before starting a scheduler, and
`flashcards restore` takes it so that no job writes while the database is replaced.
SQLite gets an OS file lock in the instance folder (`fcntl.flock`, released by the
kernel when the process dies, and not shared with processes the werkzeug reloader
spawns, because Python opens files non-inheritable); PostgreSQL gets a session-level
advisory lock on a dedicated connection, released when that connection closes.

Whoever holds the lock leaves a note saying who they are, so the process that is
refused can say why: in the lock file for SQLite, in `application_name` (visible in
`pg_stat_activity`) for PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, NullPool, create_engine, make_url, text

LOCK_FILENAME = "jobs.lock"
# pg_try_advisory_lock(bigint) key: "flashcards jobs". Below 2**32, so pg_locks shows
# it as classid 0, objid KEY, objsubid 1.
ADVISORY_LOCK_KEY = 0x666C_6A62
_APP_NAME_PREFIX = "flashcards:"


class SchedulerLock(Protocol):
    """One process at a time holds it; the others learn who does."""

    @property
    def where(self) -> str:
        """What is locked, for messages ("/srv/instance/jobs.lock")."""
        ...

    def acquire(self, *, purpose: str, now: dt.datetime) -> bool:
        """Take the lock without waiting; False when another holder has it."""
        ...

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        ...

    def still_held(self) -> bool:
        """Whether this object still holds the lock (a PostgreSQL connection can drop)."""
        ...

    def holder(self) -> str | None:
        """Who holds the lock, if anybody does, as a sentence fragment; never acquires."""
        ...


def describe_holder(note: dict[str, object]) -> str:
    """'pid 123 on host "web1" (flashcards jobs) since 2026-03-10 12:00 UTC'."""
    parts = [f"pid {note.get('pid', '?')}"]
    if note.get("host"):
        parts.append(f'on host "{note["host"]}"')
    if note.get("purpose"):
        parts.append(f"({note['purpose']})")
    since = note.get("since")
    if isinstance(since, str):
        try:
            moment = dt.datetime.fromisoformat(since)
        except ValueError:
            pass
        else:
            parts.append(f"since {moment.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC")
    return " ".join(parts)


def _note(purpose: str, now: dt.datetime) -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "purpose": purpose,
        "since": now.astimezone(dt.UTC).isoformat(),
    }


class FileLock:
    """`flock` on a file in the instance folder: the SQLite lock.

    flock locks belong to an open file description, so two FileLock objects on the
    same path exclude each other even inside one process.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: int | None = None

    @property
    def where(self) -> str:
        return str(self.path)

    def acquire(self, *, purpose: str, now: dt.datetime) -> bool:
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_note(purpose, now)).encode(), 0)
        self._file = fd
        return True

    def release(self) -> None:
        if self._file is None:
            return
        fd, self._file = self._file, None
        try:
            # Empty the note first: a stale note would name a process that is gone.
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def still_held(self) -> bool:
        return self._file is not None

    def holder(self) -> str | None:
        if self._file is not None:
            return describe_holder(_note_from_text(self._read()) or {})
        note = None
        # The holder writes its note just after taking the lock; a process that
        # lost the race may look in between, so it waits a moment for the note.
        for _attempt in range(20):
            try:
                note = _note_from_text(self._read())
            except FileNotFoundError:
                return None
            if note is not None or not self._locked_by_someone():
                break
            time.sleep(0.025)
        if note is None:
            return None
        # The note outlives a process killed without cleanup; the kernel released its
        # lock, so a note whose process is gone (on this host) means nobody holds it.
        pid = note.get("pid")
        if (
            note.get("host") == socket.gethostname()
            and isinstance(pid, int)
            and not _process_exists(pid)
        ):
            return None
        return describe_holder(note)

    def _read(self) -> str:
        return self.path.read_text(encoding="utf-8", errors="replace")

    def _locked_by_someone(self) -> bool:
        """Whether another process holds the lock now (asked without taking it)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)


def _note_from_text(content: str) -> dict[str, object] | None:
    try:
        note = json.loads(content)
    except ValueError:
        return None
    return note if isinstance(note, dict) else None


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class AdvisoryLock:
    """A session-level PostgreSQL advisory lock: the PostgreSQL lock.

    It lives on its own connection (no pool, autocommit, so it never sits idle in a
    transaction), and is released when that connection closes, including when the
    process dies. Advisory locks are per database, so several flashcards databases
    on one server do not get in each other's way.
    """

    def __init__(self, database_url: str, key: int = ADVISORY_LOCK_KEY) -> None:
        self.url = make_url(database_url)
        self.key = key
        self._engine: Engine | None = None
        self._connection: Connection | None = None

    @property
    def where(self) -> str:
        return (
            f"PostgreSQL advisory lock {self.key} in database "
            f'"{self.url.database}" on {self.url.host or "localhost"}'
        )

    def _make_engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(
                self.url, poolclass=NullPool, isolation_level="AUTOCOMMIT"
            )
        return self._engine

    def acquire(self, *, purpose: str, now: dt.datetime) -> bool:
        if self._connection is not None and self.still_held():
            return True
        self._drop_connection()
        connection = self._make_engine().connect()
        try:
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            ).scalar_one()
            if not got:
                connection.close()
                return False
            note = _note(purpose, now)
            # application_name is at most 63 bytes; keep the pid and host first.
            name = (
                f"{_APP_NAME_PREFIX}{note['pid']}@{note['host']} {purpose}"
            )[:63]
            connection.execute(
                text("SELECT set_config('application_name', :name, false)"),
                {"name": name},
            )
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return True

    def release(self) -> None:
        self._drop_connection()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": self.key}
                )
            except Exception:  # the connection is gone, and the lock with it
                pass
            finally:
                connection.close()

    def still_held(self) -> bool:
        if self._connection is None:
            return False
        try:
            held = self._connection.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND pid = pg_backend_pid() AND classid = 0 AND objid = :key"
                    " AND objsubid = 1 AND granted"
                ),
                {"key": self.key},
            ).scalar_one()
        except Exception:
            return False
        return bool(held)

    def holder(self) -> str | None:
        try:
            with self._make_engine().connect() as connection:
                row = connection.execute(
                    text(
                        "SELECT a.pid, a.application_name, a.client_addr::text,"
                        " a.backend_start FROM pg_locks l"
                        " JOIN pg_stat_activity a ON a.pid = l.pid"
                        " WHERE l.locktype = 'advisory' AND l.granted"
                        " AND l.database = (SELECT oid FROM pg_database"
                        "                   WHERE datname = current_database())"
                        " AND l.classid = 0 AND l.objid = :key AND l.objsubid = 1"
                    ),
                    {"key": self.key},
                ).first()
        except Exception:
            return None
        if row is None:
            return None
        backend_pid, app_name, client, started = row
        note: dict[str, object] = {"pid": backend_pid, "host": client or "localhost"}
        if isinstance(app_name, str) and app_name.startswith(_APP_NAME_PREFIX):
            who, _, purpose = app_name[len(_APP_NAME_PREFIX) :].partition(" ")
            pid, _, host = who.partition("@")
            note = {"pid": int(pid) if pid.isdigit() else pid, "host": host,
                    "purpose": purpose}
        if isinstance(started, dt.datetime):
            note["since"] = started.isoformat()
        return describe_holder(note)


def scheduler_lock(database_url: str, instance_dir: Path) -> SchedulerLock:
    """The right lock for the database: advisory on PostgreSQL, a file otherwise."""
    if make_url(database_url).get_backend_name() == "postgresql":
        return AdvisoryLock(database_url)
    return FileLock(instance_dir / LOCK_FILENAME)

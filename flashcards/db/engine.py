"""Engine and session setup: SQLite in the instance folder by default, PostgreSQL by URL.

SQLite gets WAL (readers never block the writer), foreign keys on and a busy timeout
so that the web process and the jobs process can share one file.

A SQLite file also gets a background thread that checkpoints its write-ahead log
(copies it back into the database file) a moment after writes. Left to SQLite, the
checkpoint runs inside whichever commit crosses the WAL size limit, and that one
answer or page takes ten times longer than the others; SQLite's documentation
suggests exactly this for latency-sensitive programs. The automatic checkpoint stays
on, at a larger size, as a cap for when the thread falls behind.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

DATABASE_FILENAME = "flashcards.sqlite3"
# Pages (4 KiB) the WAL may grow to before a commit has to checkpoint it itself.
WAL_AUTOCHECKPOINT_PAGES = 10_000
# How soon after a write the background thread checkpoints.
CHECKPOINT_DELAY_SECONDS = 1.0

log = logging.getLogger(__name__)


def default_database_url(instance_dir: Path) -> str:
    """The SQLite file inside the instance folder."""
    return f"sqlite:///{(instance_dir / DATABASE_FILENAME).resolve()}"


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cursor.close()


class _WalCheckpointer:
    """Checkpoints one SQLite file's WAL a moment after writes, in a thread.

    The thread starts with the first commit in each process (gunicorn builds the
    engine before it forks its workers, and threads do not survive a fork), and
    ends when the engine is garbage; disposing of the engine only waits for a
    checkpoint in progress (disposal is not final: the pool comes back on use).
    """

    def __init__(self, engine: Engine, path: str) -> None:
        self._engine = weakref.ref(engine)
        self._path = path
        self._pid = 0
        self._thread: threading.Thread | None = None
        self._written = threading.Event()
        self._stopped = threading.Event()
        self._checkpointing = threading.Lock()

    def wrote(self) -> None:
        """Called after each commit."""
        if self._pid != os.getpid() or self._thread is None:
            self._start()
        self._written.set()

    def _start(self) -> None:
        # Fresh primitives: those copied by a fork may be held by a thread that
        # does not exist in this process.
        self._pid = os.getpid()
        self._written = threading.Event()
        self._stopped = threading.Event()
        self._checkpointing = threading.Lock()
        self._thread = threading.Thread(
            target=self._run, name=f"wal-checkpoint {self._path}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        written, stopped = self._written, self._stopped
        while written.wait() and not stopped.is_set():
            # Let a burst of writes finish first.
            if stopped.wait(CHECKPOINT_DELAY_SECONDS):
                break
            written.clear()
            if self._engine() is None:
                break
            with self._checkpointing:
                self._checkpoint()

    def _checkpoint(self) -> None:
        # A connection per checkpoint, closed at once: an idle extra connection
        # would keep SQLite from cleaning up the WAL when the app's last one
        # closes (copies of the bare file would then miss recent writes).
        # mode=rw: never create a file that has gone in the meantime.
        uri = f"file:{quote(self._path)}?mode=rw"
        try:
            with closing(sqlite3.connect(uri, uri=True)) as connection:
                # PASSIVE: copies what it can without waiting for anyone.
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as error:
            # Tried again after the next write; SQLite's own checkpoint is the cap.
            log.warning("WAL checkpoint of %s failed: %s", self._path, error)

    def wait_for_checkpoint(self) -> None:
        with self._checkpointing:
            pass

    def stop(self) -> None:
        self._stopped.set()
        self._written.set()


def _start_checkpointer(engine: Engine) -> None:
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    checkpointer = _WalCheckpointer(engine, path)
    event.listen(engine, "commit", lambda _connection: checkpointer.wrote())
    event.listen(
        engine, "engine_disposed", lambda _engine: checkpointer.wait_for_checkpoint()
    )
    weakref.finalize(engine, checkpointer.stop)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite connections get the pragmas above."""
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _configure_sqlite_connection)
        _start_checkpointer(engine)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (views render after it)."""
    return sessionmaker(bind=engine, expire_on_commit=False)

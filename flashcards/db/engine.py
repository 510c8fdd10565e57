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
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

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


class _WalCheckpointer(threading.Thread):
    """Checkpoints one SQLite file's WAL between requests, on its own connection."""

    def __init__(self, engine: Engine, path: str) -> None:
        super().__init__(name=f"wal-checkpoint {path}", daemon=True)
        self._engine = weakref.ref(engine)
        self._path = path
        self.written = threading.Event()
        self.stopped = threading.Event()

    def run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while self.written.wait() and not self.stopped.is_set():
                # Let a burst of writes finish first.
                if self.stopped.wait(CHECKPOINT_DELAY_SECONDS):
                    break
                self.written.clear()
                if self._engine() is None:
                    break
                if connection is None:
                    connection = sqlite3.connect(self._path, check_same_thread=False)
                # PASSIVE: copies what it can without waiting for readers or writers.
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as error:
            log.warning("WAL checkpoint of %s stopped: %s", self._path, error)
        finally:
            if connection is not None:
                connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.written.set()


def _start_checkpointer(engine: Engine) -> None:
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    checkpointer = _WalCheckpointer(engine, path)
    event.listen(engine, "commit", lambda _connection: checkpointer.written.set())
    event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())
    weakref.finalize(engine, checkpointer.stop)
    checkpointer.start()


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

"""Engine and session setup: SQLite in the instance folder by default, PostgreSQL by URL.

SQLite gets WAL (readers never block the writer), foreign keys on and a busy timeout
so that the web process and the jobs process can share one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

DATABASE_FILENAME = "flashcards.sqlite3"


def default_database_url(instance_dir: Path) -> str:
    """The SQLite file inside the instance folder."""
    return f"sqlite:///{(instance_dir / DATABASE_FILENAME).resolve()}"


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite connections get the pragmas above."""
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _configure_sqlite_connection)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (views render after it)."""
    return sessionmaker(bind=engine, expire_on_commit=False)

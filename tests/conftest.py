"""Shared fixtures: a fixed `now`, and a fresh, migrated real database per test.

The database is a SQLite file in the test's tmp folder, or a clean schema on the
PostgreSQL named by FLASHCARDS_TEST_DATABASE_URL (one database per xdist worker).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from flashcards.db.engine import make_engine, make_session_factory
from flashcards.db.migrate import upgrade_database

PG_URL = os.environ.get("FLASHCARDS_TEST_DATABASE_URL")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def _worker_database_url(worker: str) -> str:
    assert PG_URL is not None
    url = make_url(PG_URL)
    name = f"{url.database}_{worker}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def database_url(tmp_path: Path, worker_id: str) -> Iterator[str]:
    """A URL to an empty database that only this test uses."""
    if PG_URL is None:
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    url = _worker_database_url(worker_id)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)

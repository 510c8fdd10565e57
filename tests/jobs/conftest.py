"""Fixtures for the job tests: settings on a real database, a controllable clock,
a populated deck with history, and a clean per-process scheduler state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from flashcards.config import Settings
from flashcards.db.models import Card, CardProgress, Note, Review
from flashcards.jobs import runner
from flashcards.jobs.locks import SchedulerLock, scheduler_lock
from flashcards.jobs.runner import JobRuntime
from flashcards.services.importing import import_paths
from flashcards.services.users import ensure_local_user

DECK = """\
deck: Capitals
id: capitals
cards:
  - id: france
    front: Capital of France?
    back: Paris
  - id: japan
    front: Capital of Japan?
    back: Tokyo
    reverse: true
"""


class Clock:
    """A clock the test moves by hand; jobs read time only through it."""

    def __init__(self, start: dt.datetime) -> None:
        self.current = start

    def __call__(self) -> dt.datetime:
        return self.current

    def advance(self, **delta: float) -> dt.datetime:
        self.current += dt.timedelta(**delta)
        return self.current


@pytest.fixture
def settings(tmp_path: Path, database_url: str, engine: Engine) -> Settings:
    decks = tmp_path / "decks"
    decks.mkdir()
    return Settings(
        instance_dir=tmp_path / "instance",
        database_url=database_url,
        decks_dir=decks,
    )


@pytest.fixture
def on_sqlite(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite backups: PostgreSQL is backed up with pg_dump")


@pytest.fixture
def clock(now: dt.datetime) -> Clock:
    return Clock(now)


@pytest.fixture
def lock(settings: Settings, now: dt.datetime) -> Iterator[SchedulerLock]:
    held = scheduler_lock(settings.database_url, settings.instance_dir)
    assert held.acquire(purpose="pytest", now=now)
    yield held
    held.release()


@pytest.fixture
def runtime(
    settings: Settings,
    sessions: sessionmaker[Session],
    lock: SchedulerLock,
    clock: Clock,
) -> JobRuntime:
    return JobRuntime(settings, sessions, lock, clock, "pytest")


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """Each test starts as a process that started no scheduler."""
    saved = runner.process_jobs()
    runner._set_process(runner.ProcessJobs("none", "This process started no job scheduler."))
    yield
    handle = runner.process_jobs().handle
    if handle is not None:
        handle.shutdown(wait=True)
    runner._set_process(saved)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def card_id(session: Session, key: str, slot: str = "front") -> int:
    return session.execute(
        select(Card.id).join(Note).where(Note.key == key, Card.slot == slot)
    ).scalar_one()


def add_history(
    session: Session, key: str, *, now: dt.datetime, slot: str = "front"
) -> int:
    """Give a card a scheduling state and one review, as studying would."""
    user = ensure_local_user(session, now=now)
    card = session.get_one(Card, card_id(session, key, slot))
    session.add(
        CardProgress(user_id=user.id, card_id=card.id, deck_id=card.deck_id,
                     phase="review", queue="review", interval_days=3, ease=2.5,
                     reps=2, due_at=now, due_day=1, version=2)
    )
    session.add(
        Review(user_id=user.id, card_id=card.id, deck_id=card.deck_id,
               reviewed_at=now, review_day=1, rating=3, phase="learning",
               interval_before=0, interval_after=3, ease_before=0.0, ease_after=2.5,
               state_before={"progress": None, "version": 0, "buried": []})
    )
    return card.id


@pytest.fixture
def studied(
    settings: Settings, sessions: sessionmaker[Session], now: dt.datetime
) -> int:
    """The capitals deck imported from the decks folder, with history on 'france'."""
    write(settings.decks_dir / "capitals.yaml", DECK)
    with sessions.begin() as session:
        report = import_paths(session, [settings.decks_dir], now=now)
        assert report.ok, report.failures
        return add_history(session, "france", now=now)

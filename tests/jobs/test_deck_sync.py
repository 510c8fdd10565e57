"""Deck folder sync: changed files re-import, history stays, broken files get a banner."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flashcards.config import Settings
from flashcards.db.models import Card, CardProgress, DeckFileProblem, Note, Review
from flashcards.jobs.deck_sync import SyncResult, deck_file_problems, sync_deck_folder
from tests.jobs.conftest import DECK, write

BROKEN = """\
deck: Capitals
id: capitals
cards:
  - id: france
    front: Capital of France?
  - id: japan
    back: Tokyo
"""


def sync(
    settings: Settings, sessions: sessionmaker[Session], now: dt.datetime
) -> SyncResult:
    return sync_deck_folder(
        sessions, settings.decks_dir, now=now, max_bytes=settings.max_deck_bytes
    )


def front_of(session: Session, key: str) -> str | None:
    return session.scalars(select(Note.front).where(Note.key == key)).one()


def live_cards(session: Session) -> int:
    return len(session.scalars(select(Card.id).where(Card.retired_at.is_(None))).all())


def test_unchanged_files_are_skipped_by_hash(
    settings: Settings, sessions: sessionmaker[Session], studied: int, now: dt.datetime
) -> None:
    result = sync(settings, sessions, now)
    assert [d.skipped for d in result.report.decks] == [True]
    assert result.summary() == "1 unchanged"


def test_sync_picks_up_an_edited_file_and_keeps_history(
    settings: Settings, sessions: sessionmaker[Session], studied: int, now: dt.datetime
) -> None:
    write(
        settings.decks_dir / "capitals.yaml",
        DECK.replace("Capital of France?", "What is the capital of France?"),
    )
    later = now + dt.timedelta(minutes=5)

    result = sync(settings, sessions, later)

    assert result.summary() == "0 unchanged, 1 imported (capitals)"
    with sessions() as session:
        assert front_of(session, "france") == "What is the capital of France?"
        card = session.get_one(Card, studied)
        assert card.retired_at is None
        assert session.scalars(select(Review.card_id)).all() == [studied]
        progress = session.scalars(select(CardProgress)).one()
        assert (progress.card_id, progress.reps) == (studied, 2)


def test_broken_file_changes_nothing_and_shows_then_clears_the_banner(
    settings: Settings, sessions: sessionmaker[Session], studied: int, now: dt.datetime
) -> None:
    path = write(settings.decks_dir / "capitals.yaml", BROKEN)
    broken_at = now + dt.timedelta(minutes=5)

    result = sync(settings, sessions, broken_at)

    assert "1 failed (capitals.yaml)" in result.summary()
    with sessions() as session:
        # The last good version keeps working: same text, same live cards.
        assert front_of(session, "france") == "Capital of France?"
        assert live_cards(session) == 3
        (problem,) = deck_file_problems(session)
        assert problem.path == str(path.resolve())
        assert problem.seen_at == broken_at
        assert problem.problems
        assert all(str(path) in line for line in problem.problems)
        assert any("back" in line for line in problem.problems)
        assert any("front" in line for line in problem.problems)

    # Still broken five minutes later: the same banner, still dated from the start.
    sync(settings, sessions, broken_at + dt.timedelta(minutes=5))
    with sessions() as session:
        (problem,) = deck_file_problems(session)
        assert problem.seen_at == broken_at

    write(path, DECK.replace("Paris", "Paris (since 508)"))
    result = sync(settings, sessions, broken_at + dt.timedelta(minutes=10))

    assert result.problems_cleared == [str(path.resolve())]
    with sessions() as session:
        assert deck_file_problems(session) == []
        assert session.scalars(select(Note.back).where(Note.key == "france")).one() == (
            "Paris (since 508)"
        )
        assert session.scalars(select(Review.card_id)).all() == [studied]


def test_banner_clears_when_the_broken_file_goes_back_to_the_imported_version(
    settings: Settings, sessions: sessionmaker[Session], studied: int, now: dt.datetime
) -> None:
    path = write(settings.decks_dir / "capitals.yaml", BROKEN)
    sync(settings, sessions, now)
    write(path, DECK)  # same bytes as imported: skipped by hash, and fine
    result = sync(settings, sessions, now + dt.timedelta(minutes=5))
    assert [d.skipped for d in result.report.decks] == [True]
    with sessions() as session:
        assert deck_file_problems(session) == []


def test_banner_clears_when_the_broken_file_disappears(
    settings: Settings, sessions: sessionmaker[Session], studied: int, now: dt.datetime
) -> None:
    path = write(settings.decks_dir / "other.yaml", "deck: [unclosed\n")
    sync(settings, sessions, now)
    with sessions() as session:
        assert [p.path for p in deck_file_problems(session)] == [str(path.resolve())]
    path.unlink()
    sync(settings, sessions, now + dt.timedelta(minutes=5))
    with sessions() as session:
        assert deck_file_problems(session) == []


def test_problems_of_one_file_do_not_stop_the_others(
    settings: Settings, sessions: sessionmaker[Session], studied: int, now: dt.datetime
) -> None:
    write(settings.decks_dir / "broken.yaml", "cards: 3\n")
    write(
        settings.decks_dir / "colours.yaml",
        "deck: Colours\ncards:\n  - id: red\n    front: rot\n    back: red\n",
    )
    result = sync(settings, sessions, now)
    assert result.summary() == (
        "1 unchanged, 1 imported (colours), 1 failed (broken.yaml)"
    )
    with sessions() as session:
        assert front_of(session, "red") == "rot"
        assert len(deck_file_problems(session)) == 1


def test_missing_decks_folder_clears_its_problems(
    settings: Settings, sessions: sessionmaker[Session], now: dt.datetime
) -> None:
    with sessions.begin() as session:
        session.add(
            DeckFileProblem(
                path=str(settings.decks_dir.resolve() / "gone.yaml"),
                problems=["gone.yaml: broken"],
                seen_at=now,
            )
        )
    settings.decks_dir.rmdir()
    result = sync(settings, sessions, now)
    assert result.folder_missing
    assert result.summary() == "no decks folder; 1 fixed or gone"
    with sessions() as session:
        assert deck_file_problems(session) == []

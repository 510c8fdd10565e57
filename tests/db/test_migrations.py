"""Every migration downgrades and upgrades again without losing a row.

On SQLite, batch mode rebuilds a table to drop a column; with foreign keys on,
dropping the old table would cascade into the rows that refer to it (cards of
notes, progress of users). migrations/env.py turns them off while migrating.
"""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from flashcards.db.migrate import alembic_config, upgrade_database
from flashcards.db.models import Card, CardProgress, Deck, Note, Review, User
from flashcards.deckfile import CardSpec, DeckSpec
from flashcards.services import study
from flashcards.services.importing import import_deck
from flashcards.services.users import ensure_local_user


def counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            or 0
            for model in (User, Note, Card, CardProgress, Review)
        }


def test_down_to_the_first_revision_and_up_again_keeps_every_row(
    engine: Engine, sessions: sessionmaker[Session], now: dt.datetime
) -> None:
    with sessions.begin() as session:
        ensure_local_user(session, now=now)
        cards = tuple(
            CardSpec(id=f"k{i}", kind="basic", front=f"Q{i}", back="A", reverse=True)
            for i in range(4)
        )
        import_deck(session, DeckSpec(id="d", name="D", cards=cards), now=now)
    for _ in range(3):
        with sessions.begin() as session:
            user = session.scalars(select(User)).one()
            deck = session.scalars(select(Deck)).one()
            card = study.study_queue(session, user=user, deck=deck, now=now).card
            assert card is not None
            study.answer_card(session, user=user, card_id=card.card_id, rating=3,
                              now=now, expected_version=card.version)
    before = counts(sessions)
    assert before["card_progress"] > 0 and before["reviews"] == 3

    config = alembic_config(engine)
    command.downgrade(config, "0001")
    engine.dispose()
    upgrade_database(engine)
    engine.dispose()

    assert counts(sessions) == before

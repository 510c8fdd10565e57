"""Migration 0002: notes get columns for their stored Anki fields; no data is lost."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from flashcards.db.engine import make_engine
from flashcards.db.migrate import alembic_config

ANKI_COLUMNS = {"anki_key", "anki_fields", "anki_images"}
# The reflected columns are plain DateTime: naive values, meaning UTC.
WHEN = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC).replace(tzinfo=None)


@pytest.fixture
def at_0001(database_url: str) -> Iterator[Engine]:
    """A database at revision 0001 holding one deck with one note."""
    engine = make_engine(database_url)
    command.upgrade(alembic_config(engine), "0001")
    metadata = sa.MetaData()
    decks = sa.Table("decks", metadata, autoload_with=engine)
    notes = sa.Table("notes", metadata, autoload_with=engine)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(decks).values(
                id=1,
                scope="shared",
                slug="d",
                name="D",
                tags=["t"],
                content_hash="",
                created_at=WHEN,
                updated_at=WHEN,
            )
        )
        connection.execute(
            sa.insert(notes).values(
                id=1,
                deck_id=1,
                key="k",
                kind="basic",
                front="Front",
                back="Back",
                reverse=False,
                tags=[],
                position=0,
                created_at=WHEN,
                content_updated_at=WHEN,
            )
        )
    yield engine
    engine.dispose()


def note_columns(engine: Engine) -> set[str]:
    return {column["name"] for column in sa.inspect(engine).get_columns("notes")}


def the_note(engine: Engine) -> dict[str, object]:
    with engine.connect() as connection:
        row = connection.execute(sa.text("SELECT * FROM notes")).mappings().one()
    return dict(row)


def test_upgrade_adds_empty_columns_and_keeps_the_notes(at_0001: Engine) -> None:
    command.upgrade(alembic_config(at_0001), "0002")
    assert note_columns(at_0001) >= ANKI_COLUMNS
    note = the_note(at_0001)
    assert (note["key"], note["front"], note["back"]) == ("k", "Front", "Back")
    assert note["anki_key"] is None and note["anki_fields"] is None
    assert note["anki_images"] is None


def test_downgrade_drops_the_columns_and_keeps_the_notes(at_0001: Engine) -> None:
    config = alembic_config(at_0001)
    command.upgrade(config, "0002")
    command.downgrade(config, "0001")
    assert not ANKI_COLUMNS & note_columns(at_0001)
    note = the_note(at_0001)
    assert (note["key"], note["front"], note["back"]) == ("k", "Front", "Back")

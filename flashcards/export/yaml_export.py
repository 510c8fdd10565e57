"""Write a deck from the database back out as a format-1 deck file.

Place in the data flow: database → `deck_spec` (a `DeckSpec` of the live
entries, in file order, with every stable id) → `deckfile.write.dump_deck` →
YAML text. Importing that file again gives the same content and keeps every deck
and card id, so nothing is added, retired or changed. Progress never goes into a
deck file (design: no scheduling data in deck files).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from flashcards.db.models import Deck, Note
from flashcards.deckfile import CardSpec, DeckSpec
from flashcards.deckfile.spec import CardKind
from flashcards.deckfile.write import dump_deck
from flashcards.export.files import atomic_output
from flashcards.export.service import select_decks


def deck_spec(session: Session, deck: Deck) -> DeckSpec:
    """The deck's live entries as a DeckSpec, in their file order."""
    notes = session.scalars(
        select(Note)
        .where(Note.deck_id == deck.id, Note.retired_at.is_(None))
        .order_by(Note.position, Note.id)
    )
    cards = tuple(
        CardSpec(
            id=note.key,
            kind=cast(CardKind, note.kind),
            front=note.front,
            back=note.back,
            cloze=note.cloze,
            reverse=note.reverse,
            extra=note.extra,
            tags=tuple(note.tags or ()),
        )
        for note in notes
    )
    return DeckSpec(
        id=deck.slug,
        name=deck.name,
        cards=cards,
        description=deck.description,
        tags=tuple(deck.tags or ()),
    )


def export_yaml(session: Session, *, deck_id: int, user_id: int | None) -> str:
    """The deck (a database id the user can see) as format-1 YAML text.

    Raises UnknownDeckError or EmptySelectionError (see `select_decks`).
    """
    (deck,) = select_decks(session, deck_ids=[deck_id], user_id=user_id)
    return dump_deck(deck_spec(session, deck))


def write_yaml(
    session: Session, path: Path, *, deck_id: int, user_id: int | None
) -> int:
    """Write the deck's YAML to `path` atomically; returns the number of entries.

    Raises ExportError subclasses (unknown deck, empty deck, unwritable path).
    """
    (deck,) = select_decks(session, deck_ids=[deck_id], user_id=user_id)
    spec = deck_spec(session, deck)
    text = dump_deck(spec)
    with atomic_output(path) as out:
        out.write(text.encode("utf-8"))
    return len(spec.cards)

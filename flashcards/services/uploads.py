"""Uploaded decks: a YAML deck sent through the web page becomes the user's own deck.

bytes -> deckfile.parse_deck (the same validation as `flashcards check`) ->
importing.import_deck with the user's scope, keeping the bytes as the deck's source
so it can be edited later. A deck that is invalid changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import PurePath

from sqlalchemy import select
from sqlalchemy.orm import Session

from flashcards.db.models import Deck, User
from flashcards.deckfile import DeckFileError, Problem
from flashcards.deckfile.parse import DEFAULT_MAX_BYTES, parse_deck
from flashcards.services.importing import DeckReport, import_deck, user_scope

DECK_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class UploadResult:
    deck_id: int
    report: DeckReport
    card_count: int


def upload_name(filename: str | None) -> str:
    """The name problems use for an upload: its base name, never a client path."""
    name = PurePath((filename or "").replace("\\", "/")).name
    return name or "upload.yaml"


def upload_deck(
    session: Session,
    *,
    user: User,
    data: bytes,
    filename: str | None,
    now: dt.datetime,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> UploadResult:
    """Validate and import an uploaded deck as `user`'s own deck.

    Uploading a deck with the same id again updates it in place, keeping the
    review history of every card whose id stays.

    Raises:
        DeckFileError: with every problem of the file (nothing was changed).
    """
    source = upload_name(filename)
    if not source.lower().endswith(DECK_SUFFIXES):
        raise DeckFileError(
            [Problem(source, None, "is not a YAML deck file; its name must end in "
                     ".yaml or .yml")]
        )
    stem = source.rsplit(".", 1)[0]
    spec = parse_deck(data, source=source, default_id=stem, max_bytes=max_bytes)
    text = data.decode("utf-8-sig")
    with session.begin_nested():
        report = import_deck(
            session,
            spec,
            now=now,
            scope=user_scope(user.id),
            owner_id=user.id,
            source_text=text,
        )
    deck_id = session.scalars(
        select(Deck.id).where(Deck.scope == user_scope(user.id), Deck.slug == spec.id)
    ).one()
    return UploadResult(deck_id=deck_id, report=report, card_count=len(spec.cards))

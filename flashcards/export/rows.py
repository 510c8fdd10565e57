"""Plain values the package writer consumes: decks, notes with their cards, reviews.

Place in the data flow: `export.service` reads them from the database (streaming,
one note at a time) and `export.apkg` turns them into a package. Keeping the
writer on plain values lets unit tests build packages without a database.

Notes and cards are NamedTuples: an export makes one per note and per card, and
a frozen dataclass takes three times as long to build; both are immutable.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class DeckRow:
    """One of our decks; `base_dir` is the deck file's folder (images live there)."""

    slug: str
    name: str
    description: str | None = None
    tags: tuple[str, ...] = ()
    base_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class ProgressRow:
    """One user's scheduling state of one card (the CardProgress columns needed)."""

    phase: str
    queue: str
    due_at: dt.datetime | None = None
    due_day: int | None = None
    interval_days: int = 0
    ease: float = 0.0
    remaining_steps: int = 0
    reps: int = 0
    lapses: int = 0
    last_reviewed_at: dt.datetime | None = None
    suspended: bool = False
    buried_until_day: int | None = None
    is_leech: bool = False


class CardRow(NamedTuple):
    """A live card of a note: our card id, slot, new-card position and state."""

    card_id: int
    slot: str
    position: int = 0
    progress: ProgressRow | None = None


class NoteRow(NamedTuple):
    """A live card entry of a deck with its live cards (Markdown, not HTML yet).

    `anki_key`, `anki_fields` and `anki_images` are the fields the database keeps
    rendered (deckfile.render_anki), usable while the key matches the text;
    `note_id` says which row to store freshly rendered fields in (None: nowhere).
    """

    deck_slug: str
    key: str
    kind: str
    front: str | None = None
    back: str | None = None
    cloze: str | None = None
    reverse: bool = False
    extra: str | None = None
    tags: tuple[str, ...] = ()
    created_at: dt.datetime | None = None
    content_updated_at: dt.datetime | None = None
    cards: tuple[CardRow, ...] = ()
    note_id: int | None = None
    anki_key: str | None = None
    anki_fields: str | None = None
    anki_images: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """One logged answer (the Review columns the revlog needs)."""

    card_id: int
    reviewed_at: dt.datetime
    rating: int
    phase: str
    interval_before: int
    interval_after: int
    step_seconds_after: int = 0
    ease_after: float = 0.0
    duration_ms: int = 0

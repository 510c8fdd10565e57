"""Import deck files into the database: upsert by stable ids, never losing history.

deckfile turns bytes into a DeckSpec; this module writes a DeckSpec into decks, notes
and cards. A note is matched by (deck, key) and a card by (note, slot), so editing
text keeps every card's state and review log. Entries missing from a file are
retired (out of the queue, history kept) and revived when their id returns.

Each note added or whose content changed also gets its fields rendered for Anki
(deckfile.render_anki) and stored beside its content, so exports do not render
Markdown and math again. A change to the deck's own `tags:` makes every note of
the deck count as changed for Anki: its content_updated_at (the note's mtime in
an export) moves on, or Anki would skip the new tags (docs/anki-apkg.md §1.2).

Each file is its own unit: it runs inside a SAVEPOINT, so a bad file changes nothing
while the other files of the same run still import. The caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from flashcards.db.models import SHARED_SCOPE, Card, Deck, Note
from flashcards.deckfile import CardSpec, DeckFileError, DeckSpec, Problem
from flashcards.deckfile.parse import DEFAULT_MAX_BYTES, parse_deck
from flashcards.deckfile.render_anki import entry_key, render_entry

log = logging.getLogger(__name__)

DECK_FILE_SUFFIXES = (".yaml", ".yml")
# The plain tables, for Core executemany inserts (no ORM bookkeeping per row).
_NOTES = cast(Table, Note.__table__)
_CARDS = cast(Table, Card.__table__)
# New-card order follows the file; a note's slots sort right after it.
_SLOT_STRIDE = 100


@dataclass
class DeckReport:
    """What one import did to one deck."""

    deck: str
    name: str
    source: str
    added: int = 0
    updated: int = 0
    retired: int = 0
    revived: int = 0
    unchanged: int = 0
    skipped: bool = False  # the file's content hash matched: nothing was read
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.skipped:
            return f"{self.deck}: unchanged ({self.source})"
        return (
            f"{self.deck}: {self.added} added, {self.updated} updated, "
            f"{self.retired} retired, {self.revived} revived, "
            f"{self.unchanged} unchanged ({self.source})"
        )


@dataclass
class FileFailure:
    """A file that was not imported, with every problem found in it."""

    path: str
    problems: list[str]


@dataclass
class ImportReport:
    decks: list[DeckReport] = field(default_factory=list)
    failures: list[FileFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


class DeckConflictError(Exception):
    """Two sources declare the same deck id."""


def find_deck_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into their deck files (recursively, sorted); keep files as given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.suffix in DECK_FILE_SUFFIXES and p.is_file()
                )
            )
        else:
            found.append(path)
    return found


def user_scope(user_id: int) -> str:
    """The scope of decks a user uploaded: visible to that user only."""
    return f"user:{user_id}"


def import_paths(
    session: Session,
    paths: Sequence[Path],
    *,
    now: dt.datetime,
    max_bytes: int = DEFAULT_MAX_BYTES,
    force: bool = False,
) -> ImportReport:
    """Import deck files and folders as shared decks; one savepoint per file.

    Files whose bytes hash to what was imported last time are skipped unparsed
    (unless `force`). A file that fails changes nothing in the database; its
    problems are in the report.
    """
    report = ImportReport()
    files = find_deck_files(paths)
    known_hashes: dict[str | None, str] = {
        path: digest
        for path, digest in session.execute(
            select(Deck.source_path, Deck.content_hash).where(
                Deck.scope == SHARED_SCOPE, Deck.source_path.is_not(None)
            )
        )
    }
    claimed: dict[str, str] = {}  # deck id -> file that declared it in this run
    for path in files:
        source = str(path)
        try:
            data = _read_limited(path, max_bytes)
        except DeckFileError as error:
            _fail(report, source, error.problems)
            continue
        digest = hashlib.sha256(data).hexdigest()
        stored_key = str(path.resolve())
        if not force and known_hashes.get(stored_key) == digest:
            slug = _slug_for_path(session, stored_key)
            claimed.setdefault(slug, source)
            report.decks.append(
                DeckReport(deck=slug, name=slug, source=source, skipped=True)
            )
            continue
        try:
            spec = parse_deck(
                data, source=source, default_id=path.stem, max_bytes=max_bytes
            )
        except DeckFileError as error:
            _fail(report, source, error.problems)
            continue
        if spec.id in claimed:
            other = claimed[spec.id]
            _fail(
                report,
                source,
                [
                    Problem(
                        source,
                        None,
                        f"deck id '{spec.id}' is also declared by "
                        f"{other}; each deck file needs its own id",
                    )
                ],
            )
            continue
        claimed[spec.id] = source
        try:
            with session.begin_nested():
                deck_report = import_deck(
                    session, spec, now=now, source_path=stored_key
                )
        except DeckConflictError as error:
            _fail(report, source, [Problem(source, None, str(error))])
            continue
        report.decks.append(deck_report)
    return report


def import_deck(
    session: Session,
    spec: DeckSpec,
    *,
    now: dt.datetime,
    scope: str = SHARED_SCOPE,
    owner_id: int | None = None,
    source_path: str | None = None,
    source_text: str | None = None,
) -> DeckReport:
    """Upsert one validated deck by its stable ids and return what changed.

    Raises DeckConflictError when another, still existing, file owns the deck id.
    """
    deck = session.scalars(
        select(Deck).where(Deck.scope == scope, Deck.slug == spec.id)
    ).one_or_none()
    if deck is None:
        deck = Deck(
            scope=scope,
            slug=spec.id,
            name=spec.name,
            owner_id=owner_id,
            created_at=now,
            updated_at=now,
            tags=[],
        )
        session.add(deck)
    elif (
        source_path is not None
        and deck.source_path not in (None, source_path)
        and Path(deck.source_path).exists()
    ):
        raise DeckConflictError(
            f"deck id '{spec.id}' is already declared by {deck.source_path}; "
            "each deck file needs its own id"
        )
    # Every note carries the deck's tags into Anki (new decks have no notes yet).
    deck_tags_changed = deck.id is not None and list(deck.tags or ()) != list(spec.tags)
    deck.name = spec.name
    deck.description = spec.description
    deck.tags = list(spec.tags)
    deck.source_path = source_path
    deck.source_text = source_text
    deck.content_hash = spec.content_hash
    deck.updated_at = now
    session.flush()

    report = DeckReport(
        deck=spec.id,
        name=spec.name,
        source=source_path or spec.source,
        warnings=[str(w) for w in spec.warnings],
    )
    existing = {
        row.key: row
        for row in session.execute(
            select(
                Note.id,
                Note.key,
                Note.kind,
                Note.front,
                Note.back,
                Note.cloze,
                Note.reverse,
                Note.extra,
                Note.tags,
                Note.line,
                Note.position,
                Note.retired_at,
                Note.anki_key,
            ).where(Note.deck_id == deck.id)
        )
    }

    new_rows: list[dict[str, object]] = []
    changed_rows: list[dict[str, object]] = []
    revived_ids: list[int] = []
    for position, card in enumerate(spec.cards):
        content = card.content()
        anki_key = entry_key(card.kind, card.front, card.back, card.cloze, card.extra)
        old = existing.pop(card.id, None)
        if old is None:
            new_rows.append(
                {
                    "deck_id": deck.id,
                    "key": card.id,
                    **content,
                    "line": card.line,
                    "position": position,
                    "created_at": now,
                    "content_updated_at": now,
                    **_anki_fields(card, anki_key),
                }
            )
            report.added += 1
            continue
        old_content = {
            "kind": old.kind,
            "front": old.front,
            "back": old.back,
            "cloze": old.cloze,
            "reverse": old.reverse,
            "extra": old.extra,
            "tags": list(old.tags),
        }
        row: dict[str, object] = {"id": old.id}
        if old_content != content:
            row.update(content, content_updated_at=now)
        if old.anki_key != anki_key:
            # The text changed, or its fields were never stored or came from an
            # older renderer: render them now.
            row.update(_anki_fields(card, anki_key))
        if old.line != card.line or old.position != position:
            row.update(line=card.line, position=position)
        if old.retired_at is not None:
            row["retired_at"] = None
            revived_ids.append(old.id)
            report.revived += 1
        elif old_content != content:
            report.updated += 1
        else:
            report.unchanged += 1
        if len(row) > 1:
            changed_rows.append(row)

    to_retire = [old.id for old in existing.values() if old.retired_at is None]
    report.retired = len(to_retire)

    if changed_rows:
        session.execute(update(Note), changed_rows)
    if deck_tags_changed:
        session.execute(
            update(Note).where(Note.deck_id == deck.id).values(content_updated_at=now)
        )
    if to_retire:
        session.execute(
            update(Note).where(Note.id.in_(to_retire)).values(retired_at=now)
        )
        session.execute(
            update(Card).where(Card.note_id.in_(to_retire)).values(retired_at=now)
        )
    if new_rows:
        # Core, no ORM bookkeeping. With RETURNING, SQLAlchemy sends the rows as
        # multi-row INSERTs (its "insertmanyvalues" batches) instead of one
        # statement per row, so the search index's triggers (migration 0003) run
        # per batch of rows rather than per statement: a markedly faster cold import.
        session.connection().execute(insert(_NOTES).returning(_NOTES.c.id), new_rows)

    _sync_cards(session, deck.id, spec, now=now)
    return report


def _anki_fields(card: CardSpec, key: str) -> dict[str, object]:
    """The note's columns of stored Anki fields (see deckfile.render_anki)."""
    try:
        rendered = render_entry(
            card.kind, card.front, card.back, card.cloze, card.extra
        )
    except Exception:
        # Only a renderer bug gets here. The fields are a cache: the import goes on
        # without them, and an export renders the entry again (and shows the error).
        log.exception("card '%s': cannot render its fields for Anki", card.id)
        return {"anki_key": None, "anki_fields": None, "anki_images": None}
    return {
        "anki_key": key,
        "anki_fields": rendered.stored(),
        "anki_images": list(rendered.images) or None,
    }


def _sync_cards(
    session: Session, deck_id: int, spec: DeckSpec, *, now: dt.datetime
) -> None:
    """Make the cards table match the slots each live note makes."""
    note_ids = {
        key: note_id
        for key, note_id in session.execute(
            select(Note.key, Note.id).where(
                Note.deck_id == deck_id, Note.retired_at.is_(None)
            )
        )
    }
    cards = {
        (row.note_id, row.slot): row
        for row in session.execute(
            select(Card.id, Card.note_id, Card.slot, Card.position, Card.retired_at)
            .join(Note, Note.id == Card.note_id)
            .where(Note.deck_id == deck_id, Note.retired_at.is_(None))
        )
    }
    to_add: list[dict[str, object]] = []
    to_change: list[dict[str, object]] = []
    wanted: set[tuple[int, str]] = set()
    for note_position, card in enumerate(spec.cards):
        note_id = note_ids[card.id]
        for slot_index, slot in enumerate(card.slots):
            key = (note_id, slot)
            wanted.add(key)
            position = note_position * _SLOT_STRIDE + slot_index
            old = cards.get(key)
            if old is None:
                to_add.append(
                    {
                        "note_id": note_id,
                        "deck_id": deck_id,
                        "slot": slot,
                        "position": position,
                    }
                )
            elif old.retired_at is not None or old.position != position:
                to_change.append(
                    {"id": old.id, "position": position, "retired_at": None}
                )
    for key, old in cards.items():
        if key not in wanted and old.retired_at is None:
            to_change.append({"id": old.id, "retired_at": now})
    if to_add:
        session.connection().execute(insert(_CARDS), to_add)
    if to_change:
        session.execute(update(Card), to_change)


def _read_limited(path: Path, max_bytes: int) -> bytes:
    """Read a deck file, refusing one over the size limit before reading it."""
    source = str(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise DeckFileError(
            [Problem(source, None, f"cannot read the file: {error.strerror}")]
        ) from error
    if size > max_bytes:
        raise DeckFileError(
            [
                Problem(
                    source,
                    None,
                    f"the file is {size:,} bytes; the limit is {max_bytes:,} bytes",
                )
            ]
        )
    try:
        return path.read_bytes()
    except OSError as error:
        raise DeckFileError(
            [Problem(source, None, f"cannot read the file: {error.strerror}")]
        ) from error


def _slug_for_path(session: Session, stored_path: str) -> str:
    return session.scalars(
        select(Deck.slug).where(
            Deck.scope == SHARED_SCOPE, Deck.source_path == stored_path
        )
    ).one()


def _fail(report: ImportReport, source: str, problems: Sequence[Problem]) -> None:
    report.failures.append(FileFailure(source, [str(p) for p in problems]))

"""Write an Anki package (.apkg) from decks, notes and (optionally) one user's progress.

Place in the data flow: `export.service` streams `DeckRow`s, `NoteRow`s and
`ReviewRow`s out of the database; `write_apkg` gets each note's fields
(`export.fields`: the stored ones, or rendered now), writes the legacy
`collection.anki2` that genanki writes (genanki's schema, collection row,
note-type and deck JSON, GUID hash) into a temporary SQLite file, and zips it
with the media into the given file object.

Why note and card rows are not written through `genanki.Note`: genanki stamps
every note with one package timestamp, but Anki only updates a note whose
incoming `mod` is newer than its own (anki-apkg.md §1.2), so each note here gets
its own mtime: its last content change, or the newer mtime of an image it shows
(never in the future). Each card needs its
own scheduling columns when progress travels. The rows have exactly genanki's
layout; they go in with batched `executemany`, which also keeps memory flat:
nothing but ids is held per note, so 100k notes stream through.

Identity (`export.identity`): GUIDs and deck ids come from our stable ids; note
type ids and schemas are frozen (`export.notetypes`). Row ids (note and card
ids) only need to be unique inside the package: they are taken from the note's
creation time in milliseconds, kept strictly increasing, so Anki's "Added"
column shows when the entry first appeared.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import genanki
from genanki.apkg_col import APKG_COL
from genanki.apkg_schema import APKG_SCHEMA

from flashcards.export import identity, notetypes
from flashcards.export import progress as anki_progress
from flashcards.export.fields import FieldRenderer, FreshFields, anki_tags
from flashcards.export.notetypes import NoteType
from flashcards.export.rows import CardRow, DeckRow, NoteRow, ReviewRow
from flashcards.srs import DayClock

COLLECTION_NAME = "collection.anki2"
_BATCH = 2000
_LEECH_TAG = "leech"


class PackageError(Exception):
    """The package cannot be written as asked; the message says why."""


@dataclass(frozen=True)
class ProgressSettings:
    """Include one user's card states and review log, on that user's day clock."""

    clock: DayClock


@dataclass
class ExportStats:
    """What went into a package."""

    decks: int = 0
    notes: int = 0
    cards: int = 0
    media: int = 0
    reviews: int = 0
    warnings: list[str] = field(default_factory=list)
    # Notes whose stored fields were missing or stale: what the export rendered.
    rendered: list[FreshFields] = field(default_factory=list)


class _Ids:
    """Strictly increasing row ids, each at least the time it is asked for (ms)."""

    def __init__(self) -> None:
        self._last = 0

    def next(self, at_least: int) -> int:
        self._last = max(at_least, self._last + 1)
        return self._last


def _epoch_seconds(moment: dt.datetime | None, now: dt.datetime) -> int:
    """A note's mtime: its last change (text or image), never later than now."""
    if moment is None or moment > now:
        moment = now
    return int(moment.timestamp())


class _CollectionWriter:
    """Fills one `collection.anki2` with notes, cards and revlog rows."""

    def __init__(
        self,
        db_path: Path,
        decks: Sequence[DeckRow],
        *,
        now: dt.datetime,
        progress: ProgressSettings | None,
    ) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.now = now
        self.now_ms = int(now.timestamp() * 1000)
        self.progress = progress
        self.decks = list(decks)
        self.deck_ids = _deck_ids(self.decks)
        self._by_slug = {deck.slug: deck for deck in self.decks}
        self.renderer = FieldRenderer(self.decks)
        self.stats = ExportStats(decks=len(self.decks))
        self.used_note_types: dict[int, NoteType] = {}
        # our card id -> package card id (filled with progress only)
        self.card_ids: dict[int, int] = {}
        self._guids: set[str] = set()
        self._note_ids = _Ids()
        self._card_ids = _Ids()
        self._position = 0
        # (deck, note tags, leech) -> the notes.tags column; few distinct per deck
        self._tag_columns: dict[tuple[str, tuple[str, ...], bool], str] = {}
        self._notes: list[tuple[Any, ...]] = []
        self._cards: list[tuple[Any, ...]] = []
        self.conn = sqlite3.connect(db_path)
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.executescript(APKG_SCHEMA)
        self.conn.executescript(APKG_COL)

    # --- notes and cards ---------------------------------------------------------

    def add_note(self, note: NoteRow) -> None:
        if not note.cards:
            return
        deck = self._by_slug.get(note.deck_slug)
        if deck is None:
            raise PackageError(f"note '{note.key}' belongs to no exported deck")
        guid = identity.note_guid(note.deck_slug, note.key)
        if guid in self._guids:
            raise PackageError(
                f"deck '{note.deck_slug}' has card id '{note.key}' twice in this export"
            )
        self._guids.add(guid)
        rendered = self.renderer.fields(note)
        note_type, fields = rendered.note_type, rendered.fields
        self.used_note_types[note_type.id] = note_type
        did = self.deck_ids[deck.slug]
        leech = self.progress is not None and any(
            card.progress is not None and card.progress.is_leech for card in note.cards
        )
        tags = self._tags(deck, note.tags, leech)
        changed_at = note.content_updated_at
        if rendered.images_changed_at is not None:
            images = dt.datetime.fromtimestamp(rendered.images_changed_at, dt.UTC)
            if changed_at is None or images > changed_at:
                changed_at = images
        mod = _epoch_seconds(changed_at, self.now)
        created_ms = self.now_ms
        if note.created_at is not None and note.created_at <= self.now:
            created_ms = int(note.created_at.timestamp() * 1000)
        note_id = self._note_ids.next(created_ms)
        self._notes.append(
            (
                note_id,
                guid,
                note_type.id,
                mod,
                -1,
                tags,
                "\x1f".join(fields),
                fields[0],
                0,
                0,
                "",
            )
        )
        for card in note.cards:
            ord_ = notetypes.card_ord(card.slot)
            if not note_type.cloze and ord_ == 1 and not note.reverse:
                continue  # a reverse card the entry no longer asks for
            self._add_card(card_ord=ord_, note_id=note_id, did=did, mod=mod, card=card)
        self.stats.notes += 1
        if len(self._notes) >= _BATCH:
            self._flush()

    def _tags(self, deck: DeckRow, note_tags: tuple[str, ...], leech: bool) -> str:
        """The notes.tags column: Anki's tags with a space before and after each."""
        key = (deck.slug, note_tags, leech)
        column = self._tag_columns.get(key)
        if column is None:
            tags = anki_tags(deck.tags, note_tags, [_LEECH_TAG] if leech else [])
            column = f" {' '.join(tags)} " if tags else ""
            self._tag_columns[key] = column
        return column

    def _add_card(
        self, *, card_ord: int, note_id: int, did: int, mod: int, card: CardRow
    ) -> None:
        position = self._position
        self._position += 1
        if self.progress is None or card.progress is None:
            columns = anki_progress.new_card_columns(position)
        else:
            columns = anki_progress.card_columns(
                card.progress,
                position=position,
                clock=self.progress.clock,
                now=self.now,
            )
            mod = int(self.now.timestamp())
        card_id = self._card_ids.next(note_id)
        if self.progress is not None:
            self.card_ids[card.card_id] = card_id  # for the review log
        self._cards.append(
            (
                card_id,
                note_id,
                did,
                card_ord,
                mod,
                -1,
                columns.type,
                columns.queue,
                columns.due,
                columns.ivl,
                columns.factor,
                columns.reps,
                columns.lapses,
                columns.left,
                0,
                0,
                0,
                columns.data,
            )
        )
        self.stats.cards += 1

    def _flush(self) -> None:
        if self._notes:
            self.conn.executemany(
                "INSERT INTO notes VALUES(?,?,?,?,?,?,?,?,?,?,?)", self._notes
            )
            self._notes.clear()
        if self._cards:
            self.conn.executemany(
                "INSERT INTO cards VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                self._cards,
            )
            self._cards.clear()

    # --- review log ----------------------------------------------------------------

    def add_reviews(self, reviews: Iterable[ReviewRow]) -> None:
        """Revlog rows for reviews of exported cards, in (reviewed_at, id) order."""
        builder = anki_progress.RevlogBuilder()
        batch: list[anki_progress.RevlogRow] = []
        for review in reviews:
            anki_card = self.card_ids.get(review.card_id)
            if anki_card is None:
                continue  # a card that is not in the package (retired)
            batch.append(builder.row(review, anki_card_id=anki_card))
            if len(batch) >= _BATCH:
                self._insert_revlog(batch)
        self._insert_revlog(batch)

    def _insert_revlog(self, rows: list[anki_progress.RevlogRow]) -> None:
        if rows:
            self.conn.executemany("INSERT INTO revlog VALUES(?,?,?,?,?,?,?,?,?)", rows)
            self.stats.reviews += len(rows)
            rows.clear()

    # --- collection row ---------------------------------------------------------

    def finish(self) -> None:
        self._flush()
        first_deck = self.deck_ids[self.decks[0].slug] if self.decks else 1
        (conf_json, decks_json) = self.conn.execute(
            "SELECT conf, decks FROM col"
        ).fetchone()
        conf = json.loads(conf_json)
        conf.update(
            anki_progress.collection_config(
                rollover_hour=self.progress.clock.rollover_hour if self.progress else 4,
                next_position=self._position + 1,
            )
        )
        conf.update(curDeck=first_deck, activeDecks=[first_deck])
        anki_decks = json.loads(decks_json)
        for deck in self.decks:
            anki_decks[str(self.deck_ids[deck.slug])] = genanki.Deck(
                self.deck_ids[deck.slug],
                deck.name,
                self.renderer.deck_description(deck),
            ).to_json()
        models = {
            str(nt.id): notetypes.genanki_model(nt).to_json(
                notetypes.STYLE_MOD, first_deck
            )
            for nt in self.used_note_types.values()
        }
        self.conn.execute(
            "UPDATE col SET crt = ?, mod = ?, conf = ?, models = ?, decks = ?",
            (
                anki_progress.COLLECTION_CREATED,
                self.now_ms,
                json.dumps(conf),
                json.dumps(models),
                json.dumps(anki_decks),
            ),
        )
        self.conn.commit()
        self.conn.close()
        self.stats.media = len(self.renderer.media)
        self.stats.warnings = list(self.renderer.warnings)
        self.stats.rendered = self.renderer.rendered


def _deck_ids(decks: Sequence[DeckRow]) -> dict[str, int]:
    ids: dict[str, int] = {}
    taken: dict[int, str] = {}
    for deck in decks:
        if deck.slug in ids:
            raise PackageError(f"deck '{deck.slug}' is in this export twice")
        deck_id = identity.deck_id(deck.slug)
        if deck_id in taken:  # pragma: no cover - a 1 in 2^30 hash collision
            raise PackageError(
                f"decks '{taken[deck_id]}' and '{deck.slug}' hash to the same Anki "
                "deck id; export them separately"
            )
        ids[deck.slug] = deck_id
        taken[deck_id] = deck.slug
    return ids


def write_apkg(
    out: IO[bytes],
    *,
    decks: Sequence[DeckRow],
    notes: Iterable[NoteRow],
    reviews: Iterable[ReviewRow] = (),
    now: dt.datetime,
    progress: ProgressSettings | None = None,
    compress: bool = True,
) -> ExportStats:
    """Write a package of `decks` holding `notes` (and `reviews`) to `out`.

    `notes` and `reviews` are consumed once, in that order, so both may be lazy
    database streams. `now` is the export time: no mtime lies after it, and with
    `progress` it is the "today" that due dates are counted from.

    Raises PackageError for a selection that cannot be packaged (a card id twice,
    a note of a deck that is not exported).
    """
    with tempfile.TemporaryDirectory(prefix="flashcards-apkg-") as work:
        db_path = Path(work) / COLLECTION_NAME
        writer = _CollectionWriter(db_path, decks, now=now, progress=progress)
        try:
            for note in notes:
                writer.add_note(note)
            writer._flush()
            if progress is not None:
                writer.add_reviews(reviews)
            writer.finish()
        except BaseException:
            writer.conn.close()
            raise
        media = list(writer.renderer.media.items())
        with zipfile.ZipFile(out, "w") as archive:
            archive.write(
                db_path,
                COLLECTION_NAME,
                compress_type=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED,
                compresslevel=1 if compress else None,
            )
            archive.writestr(
                "media",
                json.dumps({str(i): name for i, (name, _) in enumerate(media)}),
                compress_type=zipfile.ZIP_DEFLATED,
            )
            for i, (name, path) in enumerate(media):
                try:
                    archive.write(path, str(i), compress_type=zipfile.ZIP_STORED)
                except OSError as error:
                    raise PackageError(
                        f"cannot read image {path} ({name}): {error.strerror}"
                    ) from error
        return writer.stats

"""Export use cases: choose decks, stream them out of the database, write .apkg files.

Place in the data flow: the CLI (`export.commands`) and the web's Download
buttons call `write_package` / `build_package`; this module checks the selection
(visible decks, at least one card), reads decks, live notes with their live cards
and, with progress, one user's card states and review log as plain rows
(`export.rows`) in streaming queries, and hands them to `export.apkg`. Retired
entries and cards stay out. Fields the export had to render (notes whose stored
Anki fields were missing or stale) are written back to their notes afterwards, in
the caller's transaction: a caller that commits keeps them for the next export.
Services never commit; the caller owns the session.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import (
    DateTime,
    Table,
    and_,
    bindparam,
    func,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from flashcards.db.models import Card, CardProgress, Deck, Note, Review, User
from flashcards.export.apkg import (
    ExportStats,
    PackageError,
    ProgressSettings,
    write_apkg,
)
from flashcards.export.errors import (
    EmptySelectionError,
    ExportError,
    OutputError,
    UnknownDeckError,
)
from flashcards.export.fields import FreshFields
from flashcards.export.files import atomic_output
from flashcards.export.rows import CardRow, DeckRow, NoteRow, ProgressRow, ReviewRow
from flashcards.services.decks import visible_decks_clause
from flashcards.services.presets import user_clock

_STREAM_ROWS = 1000
_NOTES = cast(Table, Note.__table__)


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote (for the CLI's summary and the web's flash message)."""

    path: Path | None
    decks: int
    notes: int
    cards: int
    media: int
    reviews: int
    warnings: tuple[str, ...]


def find_decks_by_slug(
    session: Session, slugs: Sequence[str], *, user_id: int | None
) -> list[int]:
    """Database ids of the decks with these ids (slugs) that the user can see.

    Raises UnknownDeckError naming every unknown id, or when an id is both a
    shared deck and one of the user's own (export them one at a time).
    """
    found: dict[str, list[int]] = {}
    if slugs:
        for deck_id, slug in session.execute(
            select(Deck.id, Deck.slug).where(
                visible_decks_clause(user_id), Deck.slug.in_(list(slugs))
            )
        ):
            found.setdefault(slug, []).append(deck_id)
    unknown = [slug for slug in slugs if slug not in found]
    if unknown:
        raise UnknownDeckError(
            "no deck with id " + ", ".join(f"'{slug}'" for slug in unknown)
        )
    ambiguous = [slug for slug in slugs if len(found[slug]) > 1]
    if ambiguous:
        raise UnknownDeckError(
            f"deck id '{ambiguous[0]}' is both a shared deck and one of your own"
        )
    ids: list[int] = []
    for slug in slugs:
        if found[slug][0] not in ids:
            ids.append(found[slug][0])
    return ids


def select_decks(
    session: Session, *, deck_ids: Sequence[int] | None, user_id: int | None
) -> list[Deck]:
    """The decks to export, by name: the given ones, or every deck the user sees.

    Without a user only shared decks are visible. Raises UnknownDeckError for ids
    that do not exist or are not visible, EmptySelectionError when no deck or no
    live card is selected, ExportError when two selected decks share a deck id.
    """
    query = (
        select(Deck).where(visible_decks_clause(user_id)).order_by(Deck.name, Deck.id)
    )
    if deck_ids is not None:
        query = query.where(Deck.id.in_(list(deck_ids)))
    decks = list(session.scalars(query))
    if deck_ids is not None:
        missing = sorted(set(deck_ids) - {deck.id for deck in decks})
        if missing:
            raise UnknownDeckError(
                "no deck with number " + ", ".join(str(i) for i in missing)
            )
    if not decks:
        raise EmptySelectionError("there is no deck to export")
    slugs: dict[str, Deck] = {}
    for deck in decks:
        if deck.slug in slugs:
            raise ExportError(
                f"deck id '{deck.slug}' is both a shared deck and one of your own; "
                "export them one at a time"
            )
        slugs[deck.slug] = deck
    cards = session.scalar(
        select(func.count())
        .select_from(Card)
        .join(Note, Note.id == Card.note_id)
        .where(
            Card.deck_id.in_([deck.id for deck in decks]),
            Card.retired_at.is_(None),
            Note.retired_at.is_(None),
        )
    )
    if not cards:
        names = ", ".join(f"'{deck.slug}'" for deck in decks)
        raise EmptySelectionError(f"no cards to export in {names}")
    return decks


def write_package(
    session: Session,
    path: Path,
    *,
    deck_ids: Sequence[int] | None,
    user_id: int | None,
    with_progress: bool,
    now: dt.datetime,
) -> ExportResult:
    """Write an .apkg to `path` atomically (temporary file beside it, then rename).

    Raises ExportError (or a subclass) for a bad selection, OutputError when the
    file cannot be written; in both cases nothing is left at `path`.
    """
    decks, user = _prepare(session, deck_ids, user_id, with_progress)
    try:
        with atomic_output(path) as out:
            stats = _write(session, out, decks, user, now)
    except PackageError as error:
        raise ExportError(str(error)) from error
    return _result(Path(path), stats)


def build_package(
    session: Session,
    *,
    deck_ids: list[int] | None,
    user_id: int | None,
    with_progress: bool,
    now: dt.datetime,
) -> bytes:
    """The .apkg file's bytes, for a download.

    `deck_ids` are database ids (None: every deck the user sees); `user_id` says
    whose private decks are visible and, with `with_progress`, whose card states
    and review log go in. Raises ExportError (UnknownDeckError,
    EmptySelectionError) with a message for the user.
    """
    decks, user = _prepare(session, deck_ids, user_id, with_progress)
    buffer = io.BytesIO()
    try:
        _write(session, buffer, decks, user, now)
    except PackageError as error:
        raise ExportError(str(error)) from error
    return buffer.getvalue()


def _prepare(
    session: Session,
    deck_ids: Sequence[int] | None,
    user_id: int | None,
    with_progress: bool,
) -> tuple[list[Deck], User | None]:
    user = None
    if with_progress:
        if user_id is None:
            raise ExportError("progress belongs to a user: say whose to include")
        user = session.get(User, user_id)
        if user is None:
            raise ExportError(f"there is no user {user_id}")
    return select_decks(session, deck_ids=deck_ids, user_id=user_id), user


def _write(
    session: Session,
    out: IO[bytes],
    decks: list[Deck],
    user: User | None,
    now: dt.datetime,
) -> ExportStats:
    deck_rows = [
        DeckRow(
            slug=deck.slug,
            name=deck.name,
            description=deck.description,
            tags=tuple(deck.tags or ()),
            base_dir=Path(deck.source_path).parent if deck.source_path else None,
        )
        for deck in decks
    ]
    stats = write_apkg(
        out,
        decks=deck_rows,
        notes=_notes(session, decks, user),
        reviews=_reviews(session, decks, user) if user is not None else (),
        now=now,
        progress=ProgressSettings(clock=user_clock(user)) if user is not None else None,
    )
    _store_rendered(session, stats.rendered)
    return stats


def _store_rendered(session: Session, rendered: list[FreshFields]) -> None:
    """Store the fields this export rendered, so that later exports need not.

    Written after the package, when no query streams any more, in the caller's
    transaction: a caller that commits keeps them, a read-only one drops them.
    They are only a cache, so a database too busy to take the write (SQLite with
    another writer past the busy timeout, PostgreSQL rows locked by an import for
    more than a few seconds) costs the next export time, not this export its
    package.
    """
    if not rendered:
        return
    # (Bind names differ from the column names, which SQLAlchemy reserves.)
    statement = (
        update(_NOTES)
        .where(_NOTES.c.id == bindparam("b_id"))
        .values(
            anki_key=bindparam("b_key"),
            anki_fields=bindparam("b_fields"),
            anki_images=bindparam("b_images"),
        )
    )
    connection = session.connection()
    try:
        if connection.dialect.name != "postgresql":
            # SQLite's transaction stays usable after a failed statement (and a
            # savepoint opened outside a pysqlite transaction would commit).
            _write_rendered(connection, statement, rendered)
            return
        # PostgreSQL aborts the whole transaction on an error: a savepoint keeps
        # the caller's usable. Wait a little for rows an import holds, not until
        # it commits.
        with session.begin_nested():
            # Asked for inside the block: that is when the SAVEPOINT is sent.
            in_savepoint = session.connection()
            in_savepoint.exec_driver_sql("SET LOCAL lock_timeout = '3s'")
            _write_rendered(in_savepoint, statement, rendered)
            # SET LOCAL outlives the savepoint: give the caller its own back.
            in_savepoint.exec_driver_sql("SET LOCAL lock_timeout = DEFAULT")
    except OperationalError:
        pass


def _write_rendered(
    connection: Connection, statement: Any, rendered: list[FreshFields]
) -> None:
    for start in range(0, len(rendered), _STREAM_ROWS):
        connection.execute(
            statement,
            [
                {
                    "b_id": fresh.note_id,
                    "b_key": fresh.key,
                    "b_fields": fresh.fields.stored(),
                    "b_images": list(fresh.fields.images) or None,
                }
                for fresh in rendered[start : start + _STREAM_ROWS]
            ],
        )


def _result(path: Path | None, stats: ExportStats) -> ExportResult:
    return ExportResult(
        path=path,
        decks=stats.decks,
        notes=stats.notes,
        cards=stats.cards,
        media=stats.media,
        reviews=stats.reviews,
        warnings=tuple(stats.warnings),
    )


_NOTE_COLUMNS = (
    Note.id,
    Note.key,
    Note.kind,
    Note.front,
    Note.back,
    Note.cloze,
    Note.reverse,
    Note.extra,
    Note.tags,
    # As plain datetimes (naive, in UTC; `_utc` says so): the UtcDateTime type's
    # per-value conversion costs more than all the rest of a note's row.
    type_coerce(Note.created_at, DateTime),
    type_coerce(Note.content_updated_at, DateTime),
    Note.anki_key,
    Note.anki_fields,
    Note.anki_images,
)
_CARD_COLUMNS = (Card.note_id, Card.id, Card.slot, Card.position)
_PROGRESS_COLUMNS = (
    CardProgress.card_id,
    CardProgress.phase,
    CardProgress.queue,
    CardProgress.due_at,
    CardProgress.due_day,
    CardProgress.interval_days,
    CardProgress.ease,
    CardProgress.remaining_steps,
    CardProgress.reps,
    CardProgress.lapses,
    CardProgress.last_reviewed_at,
    CardProgress.suspended,
    CardProgress.buried_until_day,
    CardProgress.is_leech,
)
_N = len(_CARD_COLUMNS)


def _notes(session: Session, decks: list[Deck], user: User | None) -> Iterator[NoteRow]:
    """Live notes with their live cards (and states), deck by deck, in file order.

    Two streams in the same order, merged here: notes, and cards (with their
    states) by note. A join would repeat every note's text and tags per card.
    Core execution skips ORM row handling; both results stream.
    """
    connection = session.connection()
    for deck in decks:
        live_notes = (Note.deck_id == deck.id, Note.retired_at.is_(None))
        notes = (
            select(*_NOTE_COLUMNS).where(*live_notes).order_by(Note.position, Note.id)
        )
        cards = (
            select(*_CARD_COLUMNS, *(_PROGRESS_COLUMNS if user else ()))
            .join(Note, Note.id == Card.note_id)
            .where(*live_notes, Card.retired_at.is_(None))
            .order_by(Note.position, Note.id, Card.position, Card.id)
        )
        if user is not None:
            cards = cards.outerjoin(
                CardProgress,
                and_(CardProgress.card_id == Card.id, CardProgress.user_id == user.id),
            )
        card_rows = connection.execute(cards.execution_options(yield_per=_STREAM_ROWS))
        note_rows = connection.execute(notes.execution_options(yield_per=_STREAM_ROWS))
        pending = next(card_rows, None)
        for note in note_rows:
            note_cards: list[CardRow] = []
            while pending is not None and pending[0] == note[0]:
                progress = _progress_row(pending) if user is not None else None
                note_cards.append(CardRow(pending[1], pending[2], pending[3], progress))
                pending = next(card_rows, None)
            if note_cards:
                yield _note_row(deck.slug, note, note_cards)
        card_rows.close()


def _note_row(slug: str, row: Any, cards: list[CardRow]) -> NoteRow:
    return NoteRow(
        deck_slug=slug,
        key=row[1],
        kind=row[2],
        front=row[3],
        back=row[4],
        cloze=row[5],
        reverse=bool(row[6]),
        extra=row[7],
        tags=tuple(row[8] or ()),
        created_at=_utc(row[9]),
        content_updated_at=_utc(row[10]),
        cards=tuple(cards),
        note_id=row[0],
        anki_key=row[11],
        anki_fields=row[12],
        anki_images=tuple(row[13] or ()),
    )


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else moment.replace(tzinfo=dt.UTC)


def _progress_row(row: Any) -> ProgressRow | None:
    if len(row) <= _N or row[_N] is None:
        return None
    return ProgressRow(*row[_N + 1 :])


def _reviews(session: Session, decks: list[Deck], user: User) -> Iterator[ReviewRow]:
    """The user's whole review log of these decks, oldest first."""
    query = (
        select(
            Review.card_id,
            Review.reviewed_at,
            Review.rating,
            Review.phase,
            Review.interval_before,
            Review.interval_after,
            Review.step_seconds_after,
            Review.ease_after,
            Review.duration_ms,
        )
        .where(Review.user_id == user.id, Review.deck_id.in_([d.id for d in decks]))
        .order_by(Review.reviewed_at, Review.id)
    )
    rows = session.connection().execute(query.execution_options(yield_per=_STREAM_ROWS))
    for row in rows:
        yield ReviewRow(*row)


__all__ = [
    "EmptySelectionError",
    "ExportError",
    "ExportResult",
    "OutputError",
    "UnknownDeckError",
    "build_package",
    "find_decks_by_slug",
    "select_decks",
    "write_package",
]

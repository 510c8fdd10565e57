"""Read-side queries for the web UI: the card browser, a card's page, day summaries.

database -> browse: search cards by text, deck, tag, state, due date and lapses,
sorted, one page at a time. Pages use keyset pagination (a cursor holding the last
row's sort keys), so page 2,000 costs what page 1 costs, even at 100k cards.
Text search goes through the trigram index of migration 0003 (an FTS5 table on
SQLite, pg_trgm on PostgreSQL); sorting by due date or last review reads pages in
the order of card_progress indexes. Nothing here writes; the caller owns the session.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Integer,
    Row,
    Select,
    Text,
    and_,
    case,
    cast,
    column,
    exists,
    false,
    func,
    inspect,
    literal,
    or_,
    select,
    table,
    tuple_,
)
from sqlalchemy.orm import Session, aliased

from flashcards.db.models import (
    NOTE_SEARCH,
    Card,
    CardProgress,
    Deck,
    Note,
    Review,
    User,
    UtcDateTime,
)
from flashcards.deckfile import CardSpec as CardSpec
from flashcards.deckfile.render import ImageUrl, render_card, render_markdown
from flashcards.deckfile.render import RenderedCard as RenderedCard
from flashcards.deckfile.spec import CardKind
from flashcards.services.decks import visible_decks_clause
from flashcards.services.presets import user_clock

PAGE_SIZE = 50
COUNT_LIMIT = 10_000
# A text search the trigram index narrows to at most this many notes starts from
# them (see _text_search).
FEW_NOTES = 1_000
# Sort name -> label, in the order the browser offers them.
SORTS = {
    "added": "Order added",
    "deck": "Deck",
    "due": "Due date",
    "interval": "Interval",
    "ease": "Ease",
    "lapses": "Lapses",
    "reps": "Reviews",
    "reviewed": "Last reviewed",
}
STATES = {
    "": "Any state",
    "new": "New",
    "learning": "Learning",
    "review": "Review",
    "due": "Due now",
    "suspended": "Suspended",
    "buried": "Buried",
    "leech": "Leeches",
    "retired": "Removed from file",
}
DUE_FILTERS = {
    "": "Any time",
    "overdue": "Overdue",
    "today": "Due today",
    "tomorrow": "Due by tomorrow",
    "week": "Due within 7 days",
    "month": "Due within 30 days",
    "later": "Due after 30 days",
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Sorts on a progress column that many cards have no value in (no progress row yet,
# never reviewed). Cards with a value come first, read in the order of the
# (user_id, column, card_id) index; the others follow by card id. See _split_rows.
_SPLIT_SORTS = {"due": "due_at", "reviewed": "last_reviewed_at"}
# The SQLite trigram index of migration 0003, as far as queries here use it: the
# column named like the table is FTS5's handle for MATCH.
_NOTE_SEARCH = table(NOTE_SEARCH, column("rowid", Integer), column(NOTE_SEARCH, Text))
# Trigram indexes can look up words of at least this many characters.
_TRIGRAM = 3
# Note fields the text search looks in.
_SEARCHED = (Note.front, Note.back, Note.cloze, Note.extra, Note.key)
# {{c1::answer}} or {{c1::answer::hint}} -> answer, for one-line previews.
_CLOZE_MARKER = re.compile(r"\{\{c\d+::(.*?)(?:::[^}]*)?\}\}", re.DOTALL)


class BrowseError(ValueError):
    """A search the browser cannot run; the message says which part is wrong."""


@dataclass(frozen=True)
class BrowseQuery:
    """One browser search: filters, sort and the page cursor."""

    text: str = ""
    deck_id: int | None = None
    tag: str = ""
    state: str = ""
    due: str = ""
    min_lapses: int | None = None
    sort: str = "added"
    descending: bool = False
    after: str | None = None
    before: str | None = None
    page_size: int = PAGE_SIZE


@dataclass(frozen=True)
class BrowseRow:
    card_id: int
    deck_id: int
    deck_name: str
    note_key: str
    slot: str
    kind: str
    question: str
    tags: list[str]
    queue: str
    due_at: dt.datetime | None
    interval_days: int
    ease: float
    reps: int
    lapses: int
    suspended: bool
    buried: bool
    is_leech: bool
    retired: bool
    last_reviewed_at: dt.datetime | None

    @property
    def state(self) -> str:
        """One word for the card's state, as the browser shows it."""
        if self.retired:
            return "removed"
        if self.suspended:
            return "suspended"
        if self.buried:
            return "buried"
        return self.queue


@dataclass(frozen=True)
class BrowsePage:
    rows: list[BrowseRow]
    total: int  # at most COUNT_LIMIT + 1: "more than COUNT_LIMIT"
    next_cursor: str | None
    previous_cursor: str | None


@dataclass(frozen=True)
class CardDetails:
    """Everything a card's page shows."""

    card: Card
    note: Note
    deck: Deck
    progress: CardProgress | None
    reviews: list[Review]
    today: int

    @property
    def state(self) -> str:
        p = self.progress
        if self.card.retired_at is not None:
            return "removed"
        if p is None:
            return "new"
        if p.suspended:
            return "suspended"
        if p.buried_until_day is not None and p.buried_until_day > self.today:
            return "buried"
        return p.queue


@dataclass(frozen=True)
class DaySummary:
    """What the end-of-session page says about today and tomorrow."""

    answers: int
    cards: int
    milliseconds: int
    due_tomorrow: int


# --- the browser -----------------------------------------------------------------------


def _sort_keys(sort: str) -> list[ColumnElement[Any]]:
    """Sort expressions ending in Card.id, so every row has a unique position."""
    p = CardProgress
    when_missing = literal(_EPOCH, UtcDateTime())
    keys: dict[str, list[Any]] = {
        "added": [],
        "deck": [Deck.name, Card.position],
        "due": [
            case((p.due_at.is_(None), 1), else_=0),
            func.coalesce(p.due_at, when_missing),
        ],
        "interval": [func.coalesce(p.interval_days, 0)],
        "ease": [func.coalesce(p.ease, 0.0)],
        "lapses": [func.coalesce(p.lapses, 0)],
        "reps": [func.coalesce(p.reps, 0)],
        "reviewed": [
            case((p.last_reviewed_at.is_(None), 1), else_=0),
            func.coalesce(p.last_reviewed_at, when_missing),
        ],
    }
    if sort not in keys:
        raise BrowseError(f"Unknown sort {sort!r}; choose one of {', '.join(SORTS)}.")
    return [*keys[sort], Card.id]


def _encode_cursor(values: Sequence[Any]) -> str:
    plain = [
        {"t": v.isoformat()} if isinstance(v, dt.datetime) else v for v in values
    ]
    raw = json.dumps(plain, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, length: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        plain = json.loads(raw)
        if not isinstance(plain, list) or len(plain) != length:
            raise ValueError
        values = [
            dt.datetime.fromisoformat(v["t"]) if isinstance(v, dict) else v
            for v in plain
        ]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BrowseError(
            "That page link is no longer valid; start from the first page."
        ) from None
    return values


def _beyond(
    keys: Sequence[ColumnElement[Any]], values: Sequence[Any], *, forward: bool
) -> ColumnElement[bool]:
    """Rows strictly after (or before) the row with these key values."""
    clauses: list[ColumnElement[bool]] = []
    for i, key in enumerate(keys):
        equal = [keys[j] == values[j] for j in range(i)]
        step = key > values[i] if forward else key < values[i]
        clauses.append(and_(*equal, step))
    return or_(*clauses)


def _filters(
    session: Session, query: BrowseQuery, *, user: User, today: int, now: dt.datetime
) -> tuple[list[ColumnElement[bool]], bool, bool, str | None]:
    """Where-clauses, whether they need the note and progress joins, and the query
    for the SQLite trigram index, which the count reads matching notes from."""
    p = CardProgress
    where: list[ColumnElement[bool]] = []
    needs_note = False
    needs_progress = False
    visible = list(
        session.scalars(select(Deck.id).where(visible_decks_clause(user.id)))
    )
    if query.deck_id is not None:
        from flashcards.services.study import deck_tree_ids

        deck = session.get(Deck, query.deck_id)
        if deck is None or deck.id not in visible:
            raise BrowseError("There is no such deck.")
        visible = deck_tree_ids(session, deck, user_id=user.id)
    where.append(Card.deck_id.in_(visible))
    if query.state == "retired":
        where.append(Card.retired_at.is_not(None))
    else:
        where.append(Card.retired_at.is_(None))
    # A NUL cannot be in card text, and SQLite's full-text query syntax and
    # PostgreSQL both refuse it; repeated words add nothing to the search.
    words = list(dict.fromkeys(query.text.replace("\x00", " ").split()))
    indexed = None
    if words:
        needs_note = True
        text_clauses, indexed = _text_search(session, words)
        where += text_clauses
    tag = query.tag.strip()
    if tag:
        needs_note = True
        needle = json.dumps(tag)
        tagged_decks = [
            deck_id
            for deck_id, tags in session.execute(
                select(Deck.id, Deck.tags).where(Deck.id.in_(visible))
            )
            if tag in (tags or [])
        ]
        where.append(
            or_(
                cast(Note.tags, Text).contains(needle, autoescape=True),
                Card.deck_id.in_(tagged_decks) if tagged_decks else false(),
            )
        )
    available = and_(
        p.suspended.is_(False),
        or_(p.buried_until_day.is_(None), p.buried_until_day <= today),
    )
    state = query.state
    if state not in STATES:
        raise BrowseError(f"Unknown state {state!r}.")
    if state:
        needs_progress = True
    if state == "new":
        where.append(or_(p.card_id.is_(None), p.queue == "new"))
    elif state in ("learning", "review"):
        where.append(p.queue == state)
    elif state == "due":
        where.append(
            and_(
                available,
                or_(
                    and_(p.queue == "review", p.due_day <= today),
                    and_(p.queue == "learning", p.due_at <= now),
                ),
            )
        )
    elif state == "suspended":
        where.append(p.suspended.is_(True))
    elif state == "buried":
        where.append(p.buried_until_day > today)
    elif state == "leech":
        where.append(p.is_leech.is_(True))
    due = query.due
    if due not in DUE_FILTERS:
        raise BrowseError(f"Unknown due filter {due!r}.")
    if due:
        needs_progress = True
        scheduled = p.queue.in_(("learning", "review"))
        if due == "overdue":
            where.append(
                or_(
                    and_(p.queue == "review", p.due_day < today),
                    and_(p.queue == "learning", p.due_at < now),
                )
            )
        elif due == "later":
            where.append(and_(scheduled, p.due_day > today + 30))
        else:
            days = {"today": 0, "tomorrow": 1, "week": 7, "month": 30}[due]
            clock = user_clock(user)
            where.append(
                or_(
                    and_(p.queue == "review", p.due_day <= today + days),
                    and_(
                        p.queue == "learning",
                        p.due_at < clock.day_start(today + days + 1),
                    ),
                )
            )
    if query.min_lapses is not None:
        if query.min_lapses < 0:
            raise BrowseError("Lapses must be zero or more.")
        if query.min_lapses > 0:
            needs_progress = True
            where.append(p.lapses >= query.min_lapses)
    return where, needs_note, needs_progress, indexed


def _text_search(
    session: Session, words: list[str]
) -> tuple[list[ColumnElement[bool]], str | None]:
    """Where-clauses for cards whose note has every word in one of its fields
    (ignoring case; wildcards are literal), and the query for the SQLite trigram
    index when there is one (see _index_search).

    When the trigram index says at most FEW_NOTES notes can match, the search
    starts from those notes, and the planner knows how few they are (PostgreSQL
    misjudges ILIKE and would read cards in page order, hoping to meet matches
    early). When more can match, reading cards in page order does meet enough
    of them early, where reading them all first from the index would cost more.
    """
    clauses = _text_clauses(session, words)
    if session.get_bind().dialect.name == "sqlite":
        indexed = _index_search(session, words)
        if indexed is None:
            return clauses, None
        # The index's candidates: the LIKE clauses still decide.
        found = select(_NOTE_SEARCH.c.rowid).where(
            _NOTE_SEARCH.c[NOTE_SEARCH].op("MATCH")(indexed)
        )
        keep = clauses
    else:
        # The GIN trigram index serves ILIKE; these notes are the matches.
        indexed = None
        found = select(Note.id).where(*clauses)
        keep = []
    candidates = list(session.scalars(found.limit(FEW_NOTES + 1)))
    if len(candidates) > FEW_NOTES:
        return clauses, indexed
    return [*keep, Card.note_id.in_(candidates)], indexed


def _text_clauses(session: Session, words: list[str]) -> list[ColumnElement[bool]]:
    """Each word in one of the note's fields, ignoring case; wildcards are literal."""
    # SQLite's LIKE already ignores ASCII case, and lower() on every row would
    # double the scan; PostgreSQL needs ILIKE (which its trigram index serves).
    insensitive = session.get_bind().dialect.name != "sqlite"
    return [
        or_(
            *(
                field.icontains(word, autoescape=True)
                if insensitive
                else field.contains(word, autoescape=True)
                for field in _SEARCHED
            )
        )
        for word in words
    ]


def _index_search(session: Session, words: list[str]) -> str | None:
    """The FTS5 query for the SQLite trigram index, or None where there is none.

    The index keeps which trigrams (3-character pieces, case folded) each note
    has, not where (detail=none, for size). So it finds the notes that have every
    trigram of every word of 3+ characters: a superset of what the LIKE clauses
    find (they need the trigrams in a row, in one field; LIKE folds ASCII letters
    only; shorter words are not looked up).
    """
    if not _has_search_index(session):
        return None
    trigrams = dict.fromkeys(
        word[i : i + _TRIGRAM]
        for word in words
        for i in range(len(word) - _TRIGRAM + 1)
    )
    if not trigrams:
        return None
    # FTS5 strings, all required; "" escapes a quote.
    return " ".join('"' + trigram.replace('"', '""') + '"' for trigram in trigrams)


def _through_index(query: Select[*tuple[Any, ...]], search: str) -> Select[*tuple[Any, ...]]:
    """`query` (which joins Note) limited to the notes the trigram index finds."""
    return query.join(_NOTE_SEARCH, _NOTE_SEARCH.c.rowid == Note.id).where(
        _NOTE_SEARCH.c[NOTE_SEARCH].op("MATCH")(search)
    )


def _has_search_index(session: Session) -> bool:
    """Does this SQLite database have the trigram index? Asked once per engine.

    Migration 0003 creates it where SQLite has FTS5 with trigrams (3.34 and newer);
    without it text search scans, as before.
    """
    connection = session.connection()
    engine = connection.engine
    if engine not in _SEARCH_INDEX:
        _SEARCH_INDEX[engine] = inspect(connection).has_table(NOTE_SEARCH)
    return _SEARCH_INDEX[engine]


_SEARCH_INDEX: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def browse_cards(
    session: Session, query: BrowseQuery, *, user: User, now: dt.datetime
) -> BrowsePage:
    """One page of cards matching `query`, with cursors to the pages around it.

    Raises BrowseError for an unknown sort, state or due filter, or a bad cursor.
    """
    today = user_clock(user).day_number(now)
    keys = _sort_keys(query.sort)
    where, needs_note, needs_progress, indexed = _filters(
        session, query, user=user, today=today, now=now
    )
    p = CardProgress
    progress_join = and_(p.card_id == Card.id, p.user_id == user.id)

    count_query = select(func.count()).select_from(Card)
    if needs_note:
        count_query = count_query.join(Note, Note.id == Card.note_id)
    if needs_progress:
        count_query = count_query.outerjoin(p, progress_join)
    if indexed is not None:
        # The index feeds matching notes in turn, so the count stops at the limit
        # without looking at the others.
        count_query = _through_index(count_query, indexed)
    # Counting stops at COUNT_LIMIT: an exact count of a broad search would cost a
    # full scan on every page.
    total = session.scalar(
        select(func.count()).select_from(
            count_query.with_only_columns(Card.id)
            .where(*where)
            .limit(COUNT_LIMIT + 1)
            .subquery()
        )
    ) or 0

    forward = query.before is None
    cursor = query.after if forward else query.before
    values = _decode_cursor(cursor, len(keys)) if cursor else None
    # Towards the end of the sort order: the next page of an ascending sort, or
    # the previous page of a descending one.
    ascending = forward != query.descending
    rows_query = (
        select(
            Card.id,
            Card.deck_id,
            Card.slot,
            Card.retired_at,
            Deck.name,
            Note.key,
            Note.kind,
            Note.front,
            Note.back,
            Note.cloze,
            Note.tags,
            p.queue,
            p.due_at,
            p.interval_days,
            p.ease,
            p.reps,
            p.lapses,
            p.suspended,
            p.buried_until_day,
            p.is_leech,
            p.last_reviewed_at,
            *keys,
        )
        .select_from(Card)
        .join(Note, Note.id == Card.note_id)
        .join(Deck, Deck.id == Card.deck_id)
        .where(*where)
    )
    split = _SPLIT_SORTS.get(query.sort)
    if split is not None:
        fetched = _split_rows(
            session,
            rows_query,
            split,
            values,
            user_id=user.id,
            ascending=ascending,
            limit=query.page_size + 1,
        )
    else:
        # These sorts have no index: every matching card is sorted. Sorting narrow
        # rows (id and sort keys) and fetching the page's columns after, for its
        # few cards, costs a fraction of sorting the whole rows with their text.
        page_query = select(Card.id, *keys).select_from(Card)
        if needs_note:
            page_query = page_query.join(Note, Note.id == Card.note_id)
        if query.sort == "deck":
            page_query = page_query.join(Deck, Deck.id == Card.deck_id)
        page_query = page_query.outerjoin(p, progress_join).where(*where)
        if values is not None:
            page_query = page_query.where(_beyond(keys, values, forward=ascending))
        page_ids = list(
            session.scalars(
                page_query.order_by(
                    *(key.asc() if ascending else key.desc() for key in keys)
                ).limit(query.page_size + 1)
            )
        )
        by_id = {
            row.id: row
            for row in session.execute(
                rows_query.outerjoin(p, progress_join).where(Card.id.in_(page_ids))
            )
        }
        # A card retired between the two reads is left out of this page.
        fetched = [by_id[card_id] for card_id in page_ids if card_id in by_id]
    more = len(fetched) > query.page_size
    fetched = fetched[: query.page_size]
    if not forward:
        fetched.reverse()
    rows = [_row(r, today) for r in fetched]
    first_keys = list(fetched[0][-len(keys):]) if fetched else None
    last_keys = list(fetched[-1][-len(keys):]) if fetched else None
    if forward:
        next_cursor = _encode_cursor(last_keys) if more and last_keys else None
        previous_cursor = (
            _encode_cursor(first_keys) if query.after and first_keys else None
        )
    else:
        next_cursor = _encode_cursor(last_keys) if last_keys else None
        previous_cursor = _encode_cursor(first_keys) if more and first_keys else None
    return BrowsePage(
        rows=rows,
        total=total,
        next_cursor=next_cursor,
        previous_cursor=previous_cursor,
    )


# One alias for every call: a fresh aliased() per call would defeat SQLAlchemy's
# cache of compiled statements.
_DATED = aliased(CardProgress, name="dated")


def _split_rows(
    session: Session,
    rows_query: Select[*tuple[Any, ...]],
    field: str,
    cursor: list[Any] | None,
    *,
    user_id: int,
    ascending: bool,
    limit: int,
) -> list[Row[*tuple[Any, ...]]]:
    """Up to `limit` rows of a due-date or last-review sort, from index reads.

    One ORDER BY over the progress outer join would sort every card for each page.
    The sort order is two runs instead: cards with a value, by (value, card id),
    read straight from the (user_id, value, card_id) index through an inner join;
    then cards without one (no progress row, or no value), by card id. A page
    starts in the cursor's run and carries on into the next when that one ends.
    The key columns stay those of _sort_keys ([no value?, value or epoch, card id]),
    so the cursor's first key says which run it is in.
    """
    p = CardProgress
    value = getattr(p, field)
    joined = and_(p.card_id == Card.id, p.user_id == user_id)
    # NOT EXISTS rather than "value IS NULL" over the outer join: PostgreSQL
    # estimates that as almost no rows and then picks a plan that reads them all.
    dated = _DATED
    has_value = exists().where(
        dated.card_id == Card.id,
        dated.user_id == user_id,
        getattr(dated, field).is_not(None),
    )
    # (no value?, its rows, their order), in ascending order.
    runs: list[tuple[int, Select[*tuple[Any, ...]], tuple[Any, ...]]] = [
        (0, rows_query.join(p, joined).where(value.is_not(None)), (value, p.card_id)),
        (1, rows_query.outerjoin(p, joined).where(~has_value), (Card.id,)),
    ]
    if not ascending:
        runs.reverse()
    start: tuple[Any, ...] | None = None  # the cursor's place in its run
    if cursor is not None:
        missing, at, card_id = cursor
        if (
            missing not in (0, 1)
            or type(card_id) is not int
            or (missing == 0 and not (isinstance(at, dt.datetime) and at.tzinfo))
        ):
            raise BrowseError(
                "That page link is no longer valid; start from the first page."
            )
        start = (at, card_id) if missing == 0 else (card_id,)
        runs = runs[[run[0] for run in runs].index(missing) :]
    fetched: list[Row[*tuple[Any, ...]]] = []
    for number, (_, part, order) in enumerate(runs):
        if number == 0 and start is not None:
            position = tuple_(*order)
            part = part.where(position > start if ascending else position < start)
        part = part.order_by(
            *(key.asc() if ascending else key.desc() for key in order)
        ).limit(limit - len(fetched))
        fetched += session.execute(part)
        if len(fetched) >= limit:
            break
    return fetched


def _row(r: Any, today: int) -> BrowseRow:
    if r.kind == "cloze":
        question = r.cloze or ""
    elif r.slot == "reverse":
        question = r.back or ""
    else:
        question = r.front or ""
    question = " ".join(_CLOZE_MARKER.sub(r"\1", question).split())
    if len(question) > 140:
        question = question[:139] + "…"
    return BrowseRow(
        card_id=r.id,
        deck_id=r.deck_id,
        deck_name=r.name,
        note_key=r.key,
        slot=r.slot,
        kind=r.kind,
        question=question,
        tags=list(r.tags or []),
        queue=r.queue or "new",
        due_at=r.due_at,
        interval_days=r.interval_days or 0,
        ease=r.ease or 0.0,
        reps=r.reps or 0,
        lapses=r.lapses or 0,
        suspended=bool(r.suspended),
        buried=r.buried_until_day is not None and r.buried_until_day > today,
        is_leech=bool(r.is_leech),
        retired=r.retired_at is not None,
        last_reviewed_at=r.last_reviewed_at,
    )


# --- one card ---------------------------------------------------------------------------


def card_details(
    session: Session, *, user: User, card_id: int, now: dt.datetime
) -> CardDetails | None:
    """A card with its note, deck, the user's progress and whole review log, or None."""
    row = session.execute(
        select(Card, Note, Deck)
        .join(Note, Note.id == Card.note_id)
        .join(Deck, Deck.id == Card.deck_id)
        .where(Card.id == card_id, visible_decks_clause(user.id))
    ).first()
    if row is None:
        return None
    card, note, deck = row
    progress = session.get(CardProgress, (user.id, card_id))
    reviews = list(
        session.scalars(
            select(Review)
            .where(Review.user_id == user.id, Review.card_id == card_id)
            .order_by(Review.reviewed_at, Review.id)
        )
    )
    return CardDetails(
        card=card,
        note=note,
        deck=deck,
        progress=progress,
        reviews=reviews,
        today=user_clock(user).day_number(now),
    )


def note_cards(session: Session, note_id: int) -> list[Card]:
    """The cards (slots) of one note, in slot order."""
    return list(
        session.scalars(select(Card).where(Card.note_id == note_id).order_by(Card.position))
    )


# --- summaries -------------------------------------------------------------------------------


def day_summary(
    session: Session, *, user: User, deck_ids: Sequence[int], now: dt.datetime
) -> DaySummary:
    """Today's answers in these decks, and how many cards are due by tomorrow's end."""
    clock = user_clock(user)
    today = clock.day_number(now)
    answers, cards, milliseconds = session.execute(
        select(
            func.count(),
            func.count(func.distinct(Review.card_id)),
            func.coalesce(func.sum(Review.duration_ms), 0),
        ).where(
            Review.user_id == user.id,
            Review.reviewed_at >= clock.day_start(today),
            Review.review_day == today,
            Review.deck_id.in_(deck_ids),
        )
    ).one()
    p = CardProgress
    due_tomorrow = session.scalar(
        select(func.count())
        .select_from(p)
        .join(Card, Card.id == p.card_id)
        .where(
            p.user_id == user.id,
            p.deck_id.in_(deck_ids),
            Card.retired_at.is_(None),
            p.suspended.is_(False),
            or_(
                and_(p.queue == "review", p.due_day <= today + 1),
                and_(p.queue == "learning", p.due_at < clock.day_start(today + 2)),
            ),
        )
    ) or 0
    return DaySummary(
        answers=answers, cards=cards, milliseconds=int(milliseconds),
        due_tomorrow=due_tomorrow,
    )


def last_studied(session: Session, *, user: User) -> dict[int, dt.datetime]:
    """When the user last answered a card of each deck."""
    # One index probe per deck (ix_reviews_user_deck_time) instead of grouping
    # every progress row or every review.
    latest = (
        select(func.max(Review.reviewed_at))
        .where(Review.user_id == user.id, Review.deck_id == Deck.id)
        .scalar_subquery()
    )
    rows = session.execute(select(Deck.id, latest).where(visible_decks_clause(user.id)))
    return {deck_id: when for deck_id, when in rows if when is not None}


# --- card text ------------------------------------------------------------------------------


def note_card_spec(note: Note) -> CardSpec:
    """The deck-file entry a stored note came from, for rendering."""
    kind: CardKind = "cloze" if note.kind == "cloze" else "basic"
    return CardSpec(
        id=note.key,
        kind=kind,
        front=note.front,
        back=note.back,
        cloze=note.cloze,
        reverse=note.reverse,
        extra=note.extra,
        tags=tuple(note.tags or ()),
        line=note.line,
    )


def render_note(
    note: Note, slot: str, *, image_url: ImageUrl | None = None
) -> RenderedCard:
    """Question, answer and extra of one card of a note, as sanitised HTML."""
    return render_card(note_card_spec(note), slot, image_url=image_url)


def render_text(text: str, *, image_url: ImageUrl | None = None) -> str:
    """A Markdown field (a deck description, say) as sanitised HTML."""
    return render_markdown(text, image_url=image_url)


def render_entry(
    entry: CardSpec, slot: str, *, image_url: ImageUrl | None = None
) -> RenderedCard:
    """Question, answer and extra of one card of a deck-file entry."""
    return render_card(entry, slot, image_url=image_url)

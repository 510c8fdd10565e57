"""The card browser on a real database: sorts read in index order and text search
through the trigram index (migration 0003) give exactly what one full sort or scan
gives, and the index stays in step with notes through import, edit, retirement and
deletion."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, delete, event, select, text
from sqlalchemy.orm import Session, sessionmaker

from flashcards.db.engine import make_engine, make_session_factory
from flashcards.db.migrate import alembic_config
from flashcards.db.models import (
    NOTE_SEARCH,
    Base,
    Card,
    CardProgress,
    Deck,
    Note,
    User,
)
from flashcards.deckfile import CardSpec, DeckSpec
from flashcards.services import browse
from flashcards.services.browse import BrowseError, BrowseQuery, browse_cards
from flashcards.services.importing import import_deck, import_paths
from flashcards.services.users import ensure_local_user

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def basic(key: str, front: str, back: str = "", **more: Any) -> CardSpec:
    return CardSpec(id=key, kind="basic", front=front, back=back, **more)


def is_sqlite(sessions: sessionmaker[Session]) -> bool:
    return bool(sessions.kw["bind"].dialect.name == "sqlite")


def user(session: Session) -> User:
    return session.scalars(select(User).where(User.name == "local")).one()


def every_page(
    sessions: sessionmaker[Session], query: BrowseQuery, now: dt.datetime
) -> list[int]:
    """Card ids of all pages, walked forwards; walking back must give them again."""
    forward: list[list[int]] = []
    cursor = None
    with sessions() as session:
        while True:
            page = browse_cards(
                session, replace(query, after=cursor), user=user(session), now=now
            )
            forward.append([row.card_id for row in page.rows])
            cursor = page.next_cursor
            if cursor is None:
                break
        backward: list[list[int]] = []
        cursor = page.previous_cursor
        while cursor is not None:
            page = browse_cards(
                session, replace(query, before=cursor), user=user(session), now=now
            )
            backward.insert(0, [row.card_id for row in page.rows])
            cursor = page.previous_cursor
    assert backward == forward[:-1]
    return [card for page_ids in forward for card in page_ids]


# --- sorting by due date and last review --------------------------------------------


@pytest.fixture
def scheduled(sessions: sessionmaker[Session], now: dt.datetime) -> sessionmaker[Session]:
    """24 cards: due / reviewed at shared instants (ties), progress rows without
    either, cards without progress; another user's progress on every card."""
    with sessions.begin() as session:
        me = ensure_local_user(session, now=now)
        other = User(name="other", created_at=now)
        session.add(other)
        import_deck(
            session,
            DeckSpec(
                id="main",
                name="Main",
                cards=tuple(
                    basic(f"n{i}", f"Question {i} {'odd' if i % 2 else 'even'}")
                    for i in range(24)
                ),
            ),
            now=now,
        )
        session.flush()
        cards = session.scalars(select(Card).order_by(Card.id)).all()
        for i, card in enumerate(cards):
            session.add(
                CardProgress(
                    user_id=other.id,
                    card_id=card.id,
                    deck_id=card.deck_id,
                    queue="review",
                    due_at=now - dt.timedelta(days=i),
                    last_reviewed_at=now - dt.timedelta(days=i),
                )
            )
            if i % 6 == 5:
                continue  # new: no progress row
            queue = "new" if i % 6 == 4 else "review"  # a row without dates
            when = now + dt.timedelta(days=(i * 7) % 5) if queue == "review" else None
            session.add(
                CardProgress(
                    user_id=me.id,
                    card_id=card.id,
                    deck_id=card.deck_id,
                    queue=queue,
                    phase=queue,
                    due_at=when,
                    last_reviewed_at=when and when - dt.timedelta(days=30),
                    suspended=i % 3 == 0,
                )
            )
    return sessions


def reference_order(
    session: Session, field: str, card_ids: set[int], *, descending: bool
) -> list[int]:
    """One full sort, as the browser did it before: no value last, then card id."""
    me = user(session)
    values: dict[int, dt.datetime | None] = {
        card_id: value
        for card_id, value in session.execute(
            select(CardProgress.card_id, getattr(CardProgress, field)).where(
                CardProgress.user_id == me.id
            )
        )
    }

    def key(card_id: int) -> tuple[int, dt.datetime, int]:
        value = values.get(card_id)
        return (value is None, value or EPOCH, card_id)

    return sorted(card_ids, key=key, reverse=descending)


@pytest.mark.parametrize("sort", ["due", "reviewed"])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize(
    "filters",
    [{}, {"state": "new"}, {"state": "suspended"}, {"text": "odd"}],
    ids=["all", "new", "suspended", "text"],
)
def test_date_sorts_page_like_one_full_sort(
    scheduled: sessionmaker[Session],
    now: dt.datetime,
    sort: str,
    descending: bool,
    filters: dict[str, str],
) -> None:
    field = {"due": "due_at", "reviewed": "last_reviewed_at"}[sort]
    matching = set(every_page(scheduled, BrowseQuery(**filters, page_size=50), now))
    assert matching
    pages = every_page(
        scheduled,
        BrowseQuery(**filters, sort=sort, descending=descending, page_size=4),
        now,
    )
    with scheduled() as session:
        expected = reference_order(session, field, matching, descending=descending)
    assert pages == expected


@pytest.mark.parametrize("sort", ["interval", "ease", "lapses", "reps", "deck"])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize(
    "filters", [{}, {"state": "suspended"}, {"text": "odd"}], ids=["all", "susp", "text"]
)
def test_other_sorts_page_like_one_full_sort(
    scheduled: sessionmaker[Session],
    now: dt.datetime,
    sort: str,
    descending: bool,
    filters: dict[str, str],
) -> None:
    """The page is sorted on narrow rows and filled in after: same cards, same
    order, ties broken by card id, as one sort of the whole rows."""
    with scheduled.begin() as session:
        me = user(session)
        for i, row in enumerate(
            session.scalars(
                select(CardProgress)
                .where(CardProgress.user_id == me.id)
                .order_by(CardProgress.card_id)
            )
        ):
            row.interval_days, row.ease = i % 4, 2.5 - (i % 3) / 10
            row.lapses, row.reps = i % 2, i % 5
    matching = set(every_page(scheduled, BrowseQuery(**filters, page_size=50), now))
    assert matching
    pages = every_page(
        scheduled,
        BrowseQuery(**filters, sort=sort, descending=descending, page_size=4),
        now,
    )
    with scheduled() as session:
        me = user(session)
        progress = {
            row.card_id: row
            for row in session.scalars(
                select(CardProgress).where(CardProgress.user_id == me.id)
            )
        }
        cards = {card.id: card for card in session.scalars(select(Card))}

        def key(card_id: int) -> tuple[Any, ...]:
            found = progress.get(card_id)
            if sort == "deck":
                return (0, cards[card_id].position, card_id)  # one deck
            value = getattr(found, {"interval": "interval_days"}.get(sort, sort), 0)
            return (value or 0, card_id)

        expected = sorted(matching, key=key, reverse=descending)
    assert pages == expected


def test_date_sort_reads_the_progress_index(
    scheduled: sessionmaker[Session], now: dt.datetime
) -> None:
    """The first page of cards with a due date comes from the index, unsorted."""
    if not is_sqlite(scheduled):
        pytest.skip("SQLite's plans are checked; PostgreSQL picks by table size")
    with scheduled() as session, statements(session) as seen:
        browse_cards(session, BrowseQuery(sort="due"), user=user(session), now=now)
        page = next(s for s in seen if "ORDER BY card_progress.due_at" in s[0])
        plan = " | ".join(
            row[-1]
            for row in session.connection().exec_driver_sql(
                "EXPLAIN QUERY PLAN " + page[0], page[1]
            )
        )
    assert "ix_card_progress_user_due_at" in plan
    assert "TEMP B-TREE" not in plan


def encode(values: list[Any]) -> str:
    raw = json.dumps(values).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "values", [[5, {"t": "2026-01-01T00:00:00+00:00"}, 1], [0, 3, 1], [1, 0, "x"]]
)
def test_tampered_date_cursor_is_refused(
    scheduled: sessionmaker[Session], now: dt.datetime, values: list[Any]
) -> None:
    with scheduled() as session, pytest.raises(BrowseError, match="no longer valid"):
        browse_cards(
            session,
            BrowseQuery(sort="due", after=encode(values)),
            user=user(session),
            now=now,
        )


# --- text search ------------------------------------------------------------------------

TRICKY = (
    basic("capital", "What is the capital of France?", "Paris", extra="City of light"),
    basic("accents", "Éclair au café", "ÉCLAIR", tags=("food",)),
    basic("sharp-s", "Die Straße", "STRASSE"),
    basic("wild", "100% sure_thing", "a_b"),
    basic("quote", 'He said "hello"', "it's"),
    basic("kelvin", "Temperature in \u212a", "kelvin"),
    basic("short", "ab", "x"),
    CardSpec(id="cloze-card", kind="cloze", cloze="The {{c1::mitochondria}} is {{c2::key}}"),
    basic("reversed", "Hund", "dog", reverse=True),
)
SEARCHES = [
    "capital",
    "CAPITAL paris",
    "light",  # extra
    "sharp",  # the note's key
    "éclair",  # SQLite's LIKE folds ASCII only: finds "Éclair" on PostgreSQL only
    "ÉCLAIR",
    "café",
    "straße",
    "strasse",
    "100%",
    "%",
    "sure_thing",
    "a_b",
    "_",
    '"hello"',
    '"',
    "it's",
    "kelvin",  # the Kelvin sign folds to k in the index, not in LIKE
    "mitochondria key",
    "ab",
    "hund dog",
    "nothing-like-this",
    "capital nothing-like-this",
]


@pytest.fixture
def tricky(sessions: sessionmaker[Session], now: dt.datetime) -> sessionmaker[Session]:
    with sessions.begin() as session:
        ensure_local_user(session, now=now)
        import_deck(session, DeckSpec(id="tricky", name="Tricky", cards=TRICKY), now=now)
    return sessions


def found(sessions: sessionmaker[Session], words: str, now: dt.datetime) -> list[int]:
    return every_page(sessions, BrowseQuery(text=words, page_size=3), now)


@pytest.fixture
def reopen(database_url: str) -> Iterator[Callable[[], sessionmaker[Session]]]:
    """Sessions through a new engine, as after a restart (whether the database has
    the index is looked up once per engine)."""
    engines: list[Engine] = []

    def open_again() -> sessionmaker[Session]:
        engines.append(make_engine(database_url))
        return make_session_factory(engines[-1])

    yield open_again
    for engine in engines:
        engine.dispose()


def drop_search_index(
    sessions: sessionmaker[Session], reopen: Callable[[], sessionmaker[Session]]
) -> sessionmaker[Session]:
    """The same database without the text-search index."""
    with sessions.begin() as session:
        if is_sqlite(sessions):
            session.execute(text(f"DROP TABLE {NOTE_SEARCH}"))
        else:
            session.execute(text(f"DROP INDEX {NOTE_SEARCH}_trgm"))
    return reopen()


@contextmanager
def statements(session: Session) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements the session runs inside the block, with their parameters."""
    seen: list[tuple[str, Any]] = []
    engine = session.get_bind()

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize("words", SEARCHES)
def test_text_search_finds_what_a_scan_finds(
    tricky: sessionmaker[Session],
    reopen: Callable[[], sessionmaker[Session]],
    now: dt.datetime,
    words: str,
) -> None:
    with_index = found(tricky, words, now)
    without = found(drop_search_index(tricky, reopen), words, now)
    assert with_index == without


def test_text_search_results(tricky: sessionmaker[Session], now: dt.datetime) -> None:
    def keys(words: str) -> list[str]:
        with tricky() as session:
            return [
                row.note_key + "/" + row.slot
                for row in browse_cards(
                    session, BrowseQuery(text=words), user=user(session), now=now
                ).rows
            ]

    assert keys("CAPITAL paris") == ["capital/front"]
    assert keys("light") == ["capital/front"]
    assert keys("sure_thing") == ["wild/front"]
    assert keys("_") == ["wild/front"]
    assert keys('"hello"') == ["quote/front"]
    assert keys("hund dog") == ["reversed/front", "reversed/reverse"]
    assert keys("mitochondria key") == ["cloze-card/c1", "cloze-card/c2"]
    assert keys("capital nothing-like-this") == []


def page_query(seen: list[tuple[str, Any]]) -> str:
    return next(s for s, _ in seen if s.lstrip().startswith("SELECT cards.id, "))


def test_few_matches_are_read_from_the_index(
    tricky: sessionmaker[Session], now: dt.datetime
) -> None:
    """Words of 3+ characters are looked up in the index, and the page starts from
    the notes it finds; shorter words scan."""
    with tricky() as session:
        me = user(session)
        with statements(session) as seen:
            browse_cards(session, BrowseQuery(text="capital"), user=me, now=now)
        assert "cards.note_id IN" in page_query(seen)
        if is_sqlite(tricky):
            # The candidates, and the count (which streams matches from the index).
            assert sum(f"{NOTE_SEARCH} MATCH" in s for s, _ in seen) == 2
            with statements(session) as seen:
                browse_cards(session, BrowseQuery(text="ab"), user=me, now=now)
            assert not any(NOTE_SEARCH in s for s, _ in seen)
            assert "cards.note_id IN" not in page_query(seen)
        else:
            # Too few rows for the planner to prefer the index; it must be able to
            # use it for the browser's very clauses.
            notes = select(Note.id).where(*browse._text_clauses(session, ["capital"]))
            compiled = notes.compile(session.get_bind())
            session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(
                row[0]
                for row in session.connection().exec_driver_sql(
                    f"EXPLAIN {compiled}", compiled.params
                )
            )
            assert f"{NOTE_SEARCH}_trgm" in plan


def test_common_words_are_read_in_page_order(
    tricky: sessionmaker[Session],
    reopen: Callable[[], sessionmaker[Session]],
    now: dt.datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the index finds more than FEW_NOTES notes, pages are read in page
    order instead, to the same cards."""
    monkeypatch.setattr(browse, "FEW_NOTES", 1)  # "the" is in 2 notes
    with tricky() as session, statements(session) as seen:
        browse_cards(session, BrowseQuery(text="the"), user=user(session), now=now)
    assert "cards.note_id IN" not in page_query(seen)
    with_index = found(tricky, "the", now)
    assert len(with_index) == 3
    assert with_index == found(drop_search_index(tricky, reopen), "the", now)


# --- the index follows the notes --------------------------------------------------------

DECK = """\
deck: Animals
id: animals
cards:
  - id: cat
    front: What does the cat say?
    back: Meow
  - id: dog
    front: What does the dog say?
    back: Woof
"""


def assert_in_step(sessions: sessionmaker[Session]) -> None:
    """SQLite: the FTS index holds exactly the notes' text (FTS5 compares it with
    the notes table when asked with rank 1)."""
    if not is_sqlite(sessions):
        return
    with sessions.begin() as session:
        session.execute(
            text(
                f"INSERT INTO {NOTE_SEARCH}({NOTE_SEARCH}, rank) "
                "VALUES ('integrity-check', 1)"
            )
        )


def indexed(sessions: sessionmaker[Session], word: str) -> set[str]:
    """Keys of the notes the SQLite index itself finds (no LIKE check after it)."""
    with sessions() as session:
        return set(
            session.scalars(
                text(
                    f"SELECT notes.key FROM {NOTE_SEARCH} JOIN notes "
                    f"ON notes.id = {NOTE_SEARCH}.rowid WHERE {NOTE_SEARCH} MATCH :q"
                ),
                {"q": browse._index_search(session, [word])},
            )
        )


def search(
    sessions: sessionmaker[Session], words: str, now: dt.datetime, state: str = ""
) -> set[str]:
    with sessions() as session:
        page = browse_cards(
            session, BrowseQuery(text=words, state=state), user=user(session), now=now
        )
        return {row.note_key for row in page.rows}


def test_index_follows_import_edit_retirement_and_deletion(
    sessions: sessionmaker[Session], now: dt.datetime, tmp_path: Path
) -> None:
    deck_file = tmp_path / "animals.yaml"
    deck_file.write_text(DECK)
    with sessions.begin() as session:
        ensure_local_user(session, now=now)
        assert import_paths(session, [deck_file], now=now).ok
    assert_in_step(sessions)
    assert search(sessions, "meow", now) == {"cat"}
    assert search(sessions, "what say", now) == {"cat", "dog"}
    if is_sqlite(sessions):
        assert indexed(sessions, "meow") == {"cat"}

    # An edit: the old text is gone from the index, the new one is in.
    deck_file.write_text(DECK.replace("Meow", "Purr"))
    with sessions.begin() as session:
        assert import_paths(session, [deck_file], now=now).ok
    assert_in_step(sessions)
    assert search(sessions, "meow", now) == set()
    assert search(sessions, "purr", now) == {"cat"}
    if is_sqlite(sessions):
        assert indexed(sessions, "meow") == set()
        assert indexed(sessions, "purr") == {"cat"}

    # A retired entry keeps its note (and its place in the index): the browser
    # finds it among removed cards only.
    deck_file.write_text(DECK.split("  - id: dog")[0])
    with sessions.begin() as session:
        assert import_paths(session, [deck_file], now=now).ok
    assert_in_step(sessions)
    assert search(sessions, "woof", now) == set()
    assert search(sessions, "woof", now, state="retired") == {"dog"}

    # Deleting the deck deletes its notes (a foreign-key cascade) and their entries.
    with sessions.begin() as session:
        session.execute(delete(Deck).where(Deck.slug == "animals"))
        assert session.scalar(select(Note.id).limit(1)) is None
    assert_in_step(sessions)
    if is_sqlite(sessions):
        assert indexed(sessions, "purr") == set()
        assert indexed(sessions, "what") == set()


# --- the migration ----------------------------------------------------------------------


def test_downgrade_drops_and_upgrade_rebuilds_the_index(
    engine: Engine,
    tricky: sessionmaker[Session],
    reopen: Callable[[], sessionmaker[Session]],
    now: dt.datetime,
) -> None:
    """Upgrading a database that has notes indexes them all.

    (The code always runs at the newest revision, so the browser is not used at
    the one before; only the index's absence is checked there.)
    """
    expected = {words: found(tricky, words, now) for words in ("capital", "café", "ab")}
    config = alembic_config(engine)
    command.downgrade(config, "0002")  # the revision before the search index
    before = reopen()
    if is_sqlite(tricky):
        with before() as session:
            assert session.scalar(
                text("SELECT count(*) FROM sqlite_master WHERE name LIKE 'notes_search%'")
            ) == 0
    command.upgrade(config, "head")
    after = reopen()
    assert_in_step(after)
    assert {words: found(after, words, now) for words in expected} == expected
    if is_sqlite(after):
        assert indexed(after, "capital") == {"capital"}


def test_models_match_the_migrated_schema(engine: Engine) -> None:
    """What autogenerate would see: nothing to change (the text-search objects,
    different per dialect, are left to the migrations)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_object": lambda _o, name, *_: not (name or "").startswith(
                    NOTE_SEARCH
                )
            },
        )
        assert compare_metadata(context, Base.metadata) == []

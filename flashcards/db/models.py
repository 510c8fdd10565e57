"""SQLAlchemy 2.0 models: users, presets, decks, notes (card entries), cards, states, reviews.

Deck content (decks, notes, cards) is shared or belongs to the user who uploaded it;
scheduling state and the review log always belong to one user. Identity follows the
design: a deck is (scope, slug), a note is (deck, key), a card is (note, slot); none of
them is ever derived from content, so editing text keeps the history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, NewType

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

UserId = NewType("UserId", int)
DeckId = NewType("DeckId", int)
NoteId = NewType("NoteId", int)
CardId = NewType("CardId", int)

SHARED_SCOPE = "shared"

# The browser's text-search index over notes (migration 0003): an FTS5 table of this
# name on SQLite, a pg_trgm GIN index `notes_search_trgm` on PostgreSQL. It differs
# per dialect, so it is not modelled here; autogenerate skips names starting with it.
NOTE_SEARCH = "notes_search"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike.

    SQLite has no time zones, so values are stored naive in UTC and tagged on the way out.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC one is needed")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UtcDateTime,
        dict[str, Any]: JSON,
    }


class User(Base):
    """A person who studies. Local mode has exactly one, named 'local'."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    rollover_hour: Mapped[int] = mapped_column(Integer, default=4)
    created_at: Mapped[dt.datetime]
    # Bumped by every change to what this user can study today (answers, bury,
    # suspend, undo, imports, presets, settings): a study queue kept in memory is
    # only used while the stamp it was built at is still the current one.
    queue_stamp: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Preset(Base):
    """Deck options: daily limits and the SM-2 settings (Anki's option presets)."""

    __tablename__ = "presets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    new_per_day: Mapped[int] = mapped_column(Integer, default=20)
    reviews_per_day: Mapped[int] = mapped_column(Integer, default=200)
    learning_steps: Mapped[str] = mapped_column(String(200), default="1 10")
    relearning_steps: Mapped[str] = mapped_column(String(200), default="10")
    graduating_interval: Mapped[int] = mapped_column(Integer, default=1)
    easy_interval: Mapped[int] = mapped_column(Integer, default=4)
    starting_ease: Mapped[float] = mapped_column(Float, default=2.5)
    easy_bonus: Mapped[float] = mapped_column(Float, default=1.3)
    hard_interval: Mapped[float] = mapped_column(Float, default=1.2)
    interval_modifier: Mapped[float] = mapped_column(Float, default=1.0)
    lapse_multiplier: Mapped[float] = mapped_column(Float, default=0.0)
    minimum_interval: Mapped[int] = mapped_column(Integer, default=1)
    leech_threshold: Mapped[int] = mapped_column(Integer, default=8)
    leech_action: Mapped[str] = mapped_column(String(16), default="tag")
    maximum_interval: Mapped[int] = mapped_column(Integer, default=36500)
    bury_siblings: Mapped[bool] = mapped_column(Boolean, default=True)


class Deck(Base):
    """One deck file (or uploaded deck). `scope` is 'shared' or 'user:<id>'."""

    __tablename__ = "decks"
    __table_args__ = (UniqueConstraint("scope", "slug", name="uq_decks_scope_slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(40), default=SHARED_SCOPE)
    slug: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    source_path: Mapped[str | None] = mapped_column(String(1000))
    source_text: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    preset_id: Mapped[int | None] = mapped_column(ForeignKey("presets.id"))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    notes: Mapped[list[Note]] = relationship(back_populates="deck")
    preset: Mapped[Preset | None] = relationship()


class Note(Base):
    """A card entry of a deck file; it makes one card per slot."""

    __tablename__ = "notes"
    __table_args__ = (UniqueConstraint("deck_id", "key", name="uq_notes_deck_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deck_id: Mapped[int] = mapped_column(ForeignKey("decks.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))
    front: Mapped[str | None] = mapped_column(Text)
    back: Mapped[str | None] = mapped_column(Text)
    cloze: Mapped[str | None] = mapped_column(Text)
    reverse: Mapped[bool] = mapped_column(Boolean, default=False)
    extra: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    line: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)
    retired_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    content_updated_at: Mapped[dt.datetime]
    # The entry's fields as Anki HTML (deckfile.render_anki), so that exports need
    # not render Markdown and math again: valid while anki_key equals the key of the
    # content above. NULL until first rendered (rows from before they were stored).
    anki_key: Mapped[str | None] = mapped_column(String(64))
    anki_fields: Mapped[str | None] = mapped_column(Text)
    # The paths of the images the fields show; NULL (not a JSON null) for none.
    anki_images: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))

    deck: Mapped[Deck] = relationship(back_populates="notes")
    cards: Mapped[list[Card]] = relationship(back_populates="note")


class Card(Base):
    """A reviewable card: (note, slot) where slot is front, reverse or c1, c2, ..."""

    __tablename__ = "cards"
    __table_args__ = (
        UniqueConstraint("note_id", "slot", name="uq_cards_note_slot"),
        Index("ix_cards_deck_active", "deck_id", "retired_at", "position"),
        # Retired cards are few; counts find their progress rows through this.
        Index(
            "ix_cards_retired",
            "retired_at",
            sqlite_where=text("retired_at IS NOT NULL"),
            postgresql_where=text("retired_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id", ondelete="CASCADE"))
    # Denormalised from the note so queue and count queries need no join.
    deck_id: Mapped[int] = mapped_column(ForeignKey("decks.id", ondelete="CASCADE"))
    slot: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(Integer, default=0)
    retired_at: Mapped[dt.datetime | None]

    note: Mapped[Note] = relationship(back_populates="cards")


class CardProgress(Base):
    """One user's scheduling state of one card. No row means the card is new."""

    __tablename__ = "card_progress"
    __table_args__ = (
        Index("ix_card_progress_learning", "user_id", "queue", "due_at"),
        Index("ix_card_progress_deck_queue", "user_id", "deck_id", "queue", "due_day"),
        # Suspended and buried rows are few: counts take them off the totals.
        Index(
            "ix_card_progress_suspended",
            "user_id",
            sqlite_where=text("suspended = 1"),
            postgresql_where=text("suspended"),
        ),
        # Statistics: interval/ease distributions, the forecast, the hardest cards.
        Index(
            "ix_card_progress_user_interval",
            "user_id",
            "phase",
            "interval_days",
            "ease",
            "deck_id",
            "card_id",
        ),
        Index(
            "ix_card_progress_user_due",
            "user_id",
            "queue",
            "due_day",
            "suspended",
            "interval_days",
            "deck_id",
            "card_id",
        ),
        Index("ix_card_progress_user_lapses", "user_id", "lapses", "reps"),
        # The card browser sorted by due date or last review reads pages in this
        # order (services.browse); card_id makes each position unique.
        Index("ix_card_progress_user_due_at", "user_id", "due_at", "card_id"),
        Index(
            "ix_card_progress_user_reviewed_at", "user_id", "last_reviewed_at", "card_id"
        ),
        Index(
            "ix_card_progress_buried",
            "user_id",
            "buried_until_day",
            sqlite_where=text("buried_until_day IS NOT NULL"),
            postgresql_where=text("buried_until_day IS NOT NULL"),
        ),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    card_id: Mapped[int] = mapped_column(
        ForeignKey("cards.id", ondelete="CASCADE"), primary_key=True
    )
    deck_id: Mapped[int] = mapped_column(ForeignKey("decks.id", ondelete="CASCADE"))
    # srs.Phase: new, learning, review, relearning.
    phase: Mapped[str] = mapped_column(String(12), default="new")
    # The list the study queue takes the card from: 'new', 'learning' (learning and
    # relearning, due at an instant) or 'review' (due on a day).
    queue: Mapped[str] = mapped_column(String(12), default="new")
    due_at: Mapped[dt.datetime | None]
    # For review cards, the user's scheduling-day number of due_at (day counts are
    # what Anki compares; storing it keeps the queue query a plain index range).
    due_day: Mapped[int | None] = mapped_column(Integer)
    interval_days: Mapped[int] = mapped_column(Integer, default=0)
    ease: Mapped[float] = mapped_column(Float, default=0.0)
    remaining_steps: Mapped[int] = mapped_column(Integer, default=0)
    reps: Mapped[int] = mapped_column(Integer, default=0)
    lapses: Mapped[int] = mapped_column(Integer, default=0)
    last_reviewed_at: Mapped[dt.datetime | None]
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    # Hidden from the queue while the user's day number is below this.
    buried_until_day: Mapped[int | None] = mapped_column(Integer)
    is_leech: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped on every change; a study page carries it so a stale answer is refused.
    version: Mapped[int] = mapped_column(Integer, default=0)


class Review(Base):
    """One logged answer, with the state before it (for exact undo and statistics)."""

    __tablename__ = "reviews"
    __table_args__ = (
        Index("ix_reviews_user_time", "user_id", "reviewed_at"),
        Index("ix_reviews_card", "card_id", "reviewed_at"),
        # "Last studied" per deck on the deck list: one probe per deck.
        Index("ix_reviews_user_deck_time", "user_id", "deck_id", "reviewed_at"),
        # Statistics (services.stats.STATS_INDEXES): covering, so a year of answers
        # is grouped by day, phase and rating without touching the table.
        Index(
            "ix_reviews_user_day",
            "user_id",
            "review_day",
            "phase",
            "rating",
            "interval_before",
            "duration_ms",
            "deck_id",
        ),
        Index(
            "ix_reviews_user_phase_day",
            "user_id",
            "phase",
            "review_day",
            "card_id",
            "interval_before",
            "deck_id",
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id", ondelete="CASCADE"))
    deck_id: Mapped[int] = mapped_column(ForeignKey("decks.id", ondelete="CASCADE"))
    reviewed_at: Mapped[dt.datetime]
    # The user's scheduling day of reviewed_at, so statistics group by day in SQL.
    review_day: Mapped[int] = mapped_column(Integer)
    rating: Mapped[int] = mapped_column(Integer)
    phase: Mapped[str] = mapped_column(String(12))
    interval_before: Mapped[int] = mapped_column(Integer)
    interval_after: Mapped[int] = mapped_column(Integer)
    # Seconds for learning steps, so exports can write Anki's negative-seconds ivl.
    step_seconds_after: Mapped[int] = mapped_column(Integer, default=0)
    ease_before: Mapped[float] = mapped_column(Float)
    ease_after: Mapped[float] = mapped_column(Float)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    state_before: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class DeckFileProblem(Base):
    """The problems of a deck file that failed its last import (shown as a banner)."""

    __tablename__ = "deck_file_problems"

    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    problems: Mapped[list[str]] = mapped_column(JSON, default=list)
    seen_at: Mapped[dt.datetime]


class JobRun(Base):
    """One run of a background job: shown on the jobs page; detects missed runs at start."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started", "job_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    # 'running', then 'ok' or 'failed'; 'interrupted' when its scheduler died.
    outcome: Mapped[str] = mapped_column(String(12), default="running")
    message: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class ApiToken(Base):
    """A personal API token: the JSON API's credential for one user.

    Only the SHA-256 of the token is stored; the token itself is shown once, when it
    is created. A revoked token stays listed (with when it was revoked) and never
    works again.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(80))
    # Hex SHA-256 of the whole token (prefix included); looked up on every API call.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


# --- accounts (issue 8): login sessions, invitations, failed-login log -----------------


class LoginSession(Base):
    """One logged-in browser. The cookie holds a random token; only its SHA-256 is here.

    Logging out deletes the row, so a copied cookie stops working; a password
    change deletes the user's other rows.
    """

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime]
    # Refreshed at most hourly; a session unused for the idle lifetime ends.
    last_seen_at: Mapped[dt.datetime]


class Invitation(Base):
    """A one-time link that lets its holder create the account `user_name`."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_name: Mapped[str] = mapped_column(String(80), index=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class LoginAttempt(Base):
    """A failed login (or registration), keyed by user name or client address.

    Rate limits count recent rows in the database, so they hold across workers.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(index=True)

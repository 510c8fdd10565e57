"""The daily study queue, answering, undo, bury and suspend, for one user.

database -> today's queue (Anki v3 order) -> srs.answer for the chosen rating ->
database (card progress + review log), all inside the caller's transaction.

Queue order follows Anki's v3 scheduler: learning cards that are due now, then
reviews due today, then new cards within the daily limits; learning cards due within
the 20-minute learn-ahead window come once nothing else is left. A deck's queue
includes its subdecks ("A::B" under "A").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast, overload

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from flashcards.db.models import Card, CardProgress, Deck, Note, Preset, Review, User
from flashcards.services import queue_cache
from flashcards.services.decks import visible_decks_clause
from flashcards.services.presets import (
    DeckSettings,
    deck_settings,
    preset_settings,
    presets_by_id,
    user_clock,
)
from flashcards.srs import CardState, Phase, Rating, answer, button_labels, preview

LEARN_AHEAD = dt.timedelta(minutes=20)
# How far back undo reaches: answers older than this are history, not undo steps.
UNDO_WINDOW = dt.timedelta(days=1)


class StudyError(Exception):
    """A study action that cannot be carried out; the message says why."""


class StaleAnswerError(StudyError):
    """The page that sent the answer no longer shows the card's current state."""


ALREADY_ANSWERED = (
    "This card was already answered (perhaps in another tab); "
    "nothing was recorded twice. Here is the next card."
)


class NotDueError(StudyError):
    """The card is not one the queue would show now."""


@dataclass(frozen=True)
class QueueCounts:
    new: int = 0
    learning: int = 0
    review: int = 0

    @property
    def total(self) -> int:
        return self.new + self.learning + self.review


@dataclass(frozen=True)
class StudyCard:
    """The card to show next, with what the page needs to answer it."""

    card_id: int
    note_id: int
    deck_id: int
    slot: str
    version: int
    state: CardState
    queue: str  # 'new', 'learning' or 'review'


@dataclass(frozen=True)
class StudyQueue:
    counts: QueueCounts
    card: StudyCard | None
    # When nothing is due now: when the next learning card comes back, if today.
    next_learning_at: dt.datetime | None


@dataclass(frozen=True)
class AnswerResult:
    review_id: int
    state: CardState
    is_leech: bool


@dataclass(frozen=True)
class UndoResult:
    card_id: int
    review_id: int


# --- deck trees -----------------------------------------------------------------


def _tree_clause(deck: Deck, user_id: int) -> Any:
    """The deck and its subdecks (by "::" name nesting) the user can see."""
    return and_(
        visible_decks_clause(user_id),
        or_(Deck.id == deck.id, Deck.name.startswith(deck.name + "::")),
    )


def deck_tree_ids(session: Session, deck: Deck, *, user_id: int) -> list[int]:
    """The deck and its subdecks (by "::" name nesting) the user can see."""
    return list(session.scalars(select(Deck.id).where(_tree_clause(deck, user_id))))


# --- converting between stored progress and srs state ----------------------------


def progress_to_state(progress: CardProgress | None) -> CardState:
    if progress is None:
        return CardState.new()
    return CardState(
        phase=Phase(progress.phase),
        due=progress.due_at,
        interval_days=progress.interval_days,
        ease=progress.ease,
        remaining_steps=progress.remaining_steps,
        reps=progress.reps,
        lapses=progress.lapses,
        last_reviewed_at=progress.last_reviewed_at,
    )


def _queue_for(phase: Phase) -> str:
    if phase in (Phase.LEARNING, Phase.RELEARNING):
        return "learning"
    if phase is Phase.REVIEW:
        return "review"
    return "new"


def _snapshot(progress: CardProgress | None) -> dict[str, Any] | None:
    """The columns undo needs to put a progress row back exactly."""
    if progress is None:
        return None
    return {
        "phase": progress.phase,
        "queue": progress.queue,
        "due_at": progress.due_at.isoformat() if progress.due_at else None,
        "due_day": progress.due_day,
        "interval_days": progress.interval_days,
        "ease": progress.ease,
        "remaining_steps": progress.remaining_steps,
        "reps": progress.reps,
        "lapses": progress.lapses,
        "last_reviewed_at": (
            progress.last_reviewed_at.isoformat() if progress.last_reviewed_at else None
        ),
        "suspended": progress.suspended,
        "buried_until_day": progress.buried_until_day,
        "is_leech": progress.is_leech,
    }


def _restore(progress: CardProgress, snapshot: dict[str, Any]) -> None:
    for key, value in snapshot.items():
        if key in ("due_at", "last_reviewed_at") and value is not None:
            value = dt.datetime.fromisoformat(value)
        setattr(progress, key, value)


# --- the queue ---------------------------------------------------------------------


def _available(today: int) -> ColumnElement[bool]:
    return and_(
        CardProgress.suspended.is_(False),
        or_(
            CardProgress.buried_until_day.is_(None),
            CardProgress.buried_until_day <= today,
        ),
    )


def _new_cards_query(user_id: int, deck_ids: Sequence[int], today: int) -> Any:
    return (
        select(Card.id)
        .outerjoin(
            CardProgress,
            and_(CardProgress.card_id == Card.id, CardProgress.user_id == user_id),
        )
        .where(
            Card.deck_id.in_(deck_ids),
            Card.retired_at.is_(None),
            or_(
                CardProgress.card_id.is_(None),
                and_(CardProgress.queue == "new", _available(today)),
            ),
        )
    )


def _live_progress(user_id: int, deck_ids: Sequence[int], today: int) -> Any:
    """Progress rows of live cards the user may study in these decks today."""
    return (
        select(CardProgress.card_id)
        .join(Card, Card.id == CardProgress.card_id)
        .where(
            CardProgress.user_id == user_id,
            CardProgress.deck_id.in_(deck_ids),
            Card.retired_at.is_(None),
            _available(today),
        )
    )


def study_queue(
    session: Session,
    *,
    user: User,
    deck: Deck,
    now: dt.datetime,
    ahead_days: int = 0,
) -> StudyQueue:
    """Today's counts for a deck tree and the card to show next.

    With `ahead_days`, reviews due within that many days come once today's work is
    done: Anki's "study ahead", answered with the early-review rules.

    Today's queue is built once and kept in memory (`queue_cache`); answers update
    it in place, and any other change makes it be built again. Study ahead always
    asks the database.
    """
    if ahead_days == 0:
        today = user_clock(user).day_number(now)
        for _attempt in range(2):
            kept = queue_cache.kept_queue(session, user, deck.id, today)
            if kept is None:
                kept = _build_kept_queue(session, user=user, deck=deck, now=now)
                queue_cache.keep_queue(session, user, deck.id, kept)
            shown = _from_kept_queue(session, user.id, kept, now)
            if shown is not None:
                return shown
            # The kept queue named a card that can no longer be studied: something
            # changed it without bumping the stamp. Build it again, once.
            queue_cache.forget_queue(session, user, deck.id, today)
    return _queue_from_database(
        session, user=user, deck=deck, now=now, ahead_days=ahead_days
    )


def _build_kept_queue(
    session: Session, *, user: User, deck: Deck, now: dt.datetime
) -> queue_cache.KeptQueue:
    """Today's whole queue for the deck tree, in the order the cards will come.

    The same choices `_queue_from_database` makes one card at a time: each deck
    gives at most its own limits allow, the studied deck's limits cap the tree,
    reviews come by due day, new cards deck by deck in file order.
    """
    clock = user_clock(user)
    today = clock.day_number(now)
    tomorrow_starts = clock.day_start(today + 1)
    tree = _deck_refs(session, _tree_clause(deck, user.id))
    deck_ids = [d.id for d in tree]
    own, done = _limited_counts(session, user=user, decks=tree, now=now)
    counts = _roll_up(tree, own, done, presets_by_id(session))[deck.id]
    live = _live_progress(user.id, deck_ids, today)

    # Learning cards due today, and those due in the first minutes of tomorrow:
    # not counted today, but the learn-ahead at the very end of the day shows them.
    learning_rows = [
        (due_at, card_id)
        for due_at, card_id in session.execute(
            live.with_only_columns(CardProgress.due_at, CardProgress.card_id)
            .where(
                CardProgress.queue == "learning",
                CardProgress.due_at < tomorrow_starts + LEARN_AHEAD,
            )
            .order_by(CardProgress.due_at, CardProgress.card_id)
        )
    ]
    learning = tuple(row for row in learning_rows if row[0] < tomorrow_starts)
    learning_later = tuple(row for row in learning_rows if row[0] >= tomorrow_starts)
    reviews: list[int] = []
    review_left = {d.id: own[d.id].review for d in tree if own[d.id].review > 0}
    if counts.review and review_left:
        rows = session.execute(
            _live_progress(user.id, list(review_left), today)
            .with_only_columns(CardProgress.card_id, CardProgress.deck_id)
            .where(CardProgress.queue == "review", CardProgress.due_day <= today)
            .order_by(CardProgress.due_day, CardProgress.card_id)
        )
        for card_id, deck_id in rows:
            if review_left[deck_id] > 0:
                reviews.append(card_id)
                review_left[deck_id] -= 1
                if len(reviews) >= counts.review:
                    break
        rows.close()
    new: list[int] = []
    for source in sorted(tree, key=lambda d: d.name):
        wanted = min(own[source.id].new, counts.new - len(new))
        if wanted > 0:
            new.extend(
                session.scalars(
                    _new_cards_query(user.id, [source.id], today)
                    .order_by(Card.position, Card.id)
                    .limit(wanted)
                )
            )
    return queue_cache.KeptQueue(
        stamp=user.queue_stamp,
        today=today,
        tomorrow_starts=tomorrow_starts,
        learning=learning,
        learning_later=learning_later,
        reviews=tuple(reviews),
        new=tuple(new),
        settings=tuple(
            (preset_id, preset_settings(session, preset_id, user))
            for preset_id in {d.preset_id for d in tree}
        ),
    )


def _from_kept_queue(
    session: Session, user_id: int, kept: queue_cache.KeptQueue, now: dt.datetime
) -> StudyQueue | None:
    """The next card from a kept queue, or None if that card is not studyable."""
    counts = QueueCounts(
        new=len(kept.new), learning=len(kept.learning), review=len(kept.reviews)
    )
    first_learning = kept.learning[0] if kept.learning else None
    soonest = first_learning or (kept.learning_later[0] if kept.learning_later else None)
    picked: tuple[int, str] | None = None
    if first_learning is not None and first_learning[0] <= now:
        picked = (first_learning[1], "learning")
    elif kept.reviews:
        picked = (kept.reviews[0], "review")
    elif kept.new:
        picked = (kept.new[0], "new")
    elif soonest is not None and soonest[0] <= now + LEARN_AHEAD:
        picked = (soonest[1], "learning")
    if picked is None:
        next_at = first_learning[0] if first_learning is not None else None
        return StudyQueue(counts=counts, card=None, next_learning_at=next_at)
    card = _study_card(session, user_id, *picked, today=kept.today)
    if card is None:
        return None
    return StudyQueue(counts=counts, card=card, next_learning_at=None)


def _queue_from_database(
    session: Session,
    *,
    user: User,
    deck: Deck,
    now: dt.datetime,
    ahead_days: int = 0,
) -> StudyQueue:
    """The queue worked out afresh: counts, then one query per kind of card."""
    clock = user_clock(user)
    today = clock.day_number(now)
    tomorrow_starts = clock.day_start(today + 1)
    tree = _deck_refs(session, _tree_clause(deck, user.id))
    deck_ids = [d.id for d in tree]
    own, done = _limited_counts(session, user=user, decks=tree, now=now)
    counts = _roll_up(tree, own, done, presets_by_id(session))[deck.id]

    learning = _live_progress(user.id, deck_ids, today).where(
        CardProgress.queue == "learning"
    )
    picked: tuple[int, str] | None = None
    learning_due_now = session.scalars(
        learning.where(CardProgress.due_at <= now)
        .order_by(CardProgress.due_at, CardProgress.card_id)
        .limit(1)
    ).first()
    if learning_due_now is not None:
        picked = (learning_due_now, "learning")
    if picked is None and counts.review:
        with_reviews = [d.id for d in tree if own[d.id].review > 0]
        card_id = session.scalars(
            _live_progress(user.id, with_reviews, today)
            .where(CardProgress.queue == "review", CardProgress.due_day <= today)
            .order_by(CardProgress.due_day, CardProgress.card_id)
            .limit(1)
        ).first()
        picked = (card_id, "review") if card_id is not None else None
    if picked is None and counts.new:
        # Anki's default gather order: deck by deck (parents before their
        # subdecks), and in each deck the order of the file; a subdeck whose
        # own limit is used up gives no more.
        for source in sorted(tree, key=lambda d: d.name):
            if own[source.id].new <= 0:
                continue
            card_id = session.scalars(
                _new_cards_query(user.id, [source.id], today)
                .order_by(Card.position, Card.id)
                .limit(1)
            ).first()
            if card_id is not None:
                picked = (card_id, "new")
                break
    if picked is None:
        card_id = session.scalars(
            learning.where(CardProgress.due_at <= now + LEARN_AHEAD)
            .order_by(CardProgress.due_at, CardProgress.card_id)
            .limit(1)
        ).first()
        picked = (card_id, "learning") if card_id is not None else None
    if picked is None and ahead_days > 0:
        card_id = session.scalars(
            _live_progress(user.id, deck_ids, today)
            .where(
                CardProgress.queue == "review",
                CardProgress.due_day <= today + ahead_days,
            )
            .order_by(CardProgress.due_day, CardProgress.card_id)
            .limit(1)
        ).first()
        picked = (card_id, "review") if card_id is not None else None

    next_learning_at = None
    if picked is None:
        next_learning_at = session.scalar(
            learning.where(CardProgress.due_at < tomorrow_starts).with_only_columns(
                func.min(CardProgress.due_at)
            )
        )
    card = _study_card(session, user.id, *picked) if picked is not None else None
    return StudyQueue(counts=counts, card=card, next_learning_at=next_learning_at)


@overload
def _study_card(
    session: Session, user_id: int, card_id: int, queue: str
) -> StudyCard: ...
@overload
def _study_card(
    session: Session, user_id: int, card_id: int, queue: str, *, today: int
) -> StudyCard | None: ...
def _study_card(
    session: Session,
    user_id: int,
    card_id: int,
    queue: str,
    *,
    today: int | None = None,
) -> StudyCard | None:
    """The card as the study page needs it.

    With `today`, None when the card is not in `queue` or cannot be studied today
    (retired, suspended, buried): a kept queue's pick is checked this way.
    """
    # The note comes along so the page's `study_card_note` finds it loaded.
    card, progress, _note = session.execute(
        select(Card, CardProgress, Note)
        .join(Note, Note.id == Card.note_id)
        .outerjoin(
            CardProgress,
            and_(CardProgress.card_id == Card.id, CardProgress.user_id == user_id),
        )
        .where(Card.id == card_id)
    ).one()
    if today is not None and not _studyable(card, progress, queue, today):
        return None
    return StudyCard(
        card_id=card.id,
        note_id=card.note_id,
        deck_id=card.deck_id,
        slot=card.slot,
        version=progress.version if progress else 0,
        state=progress_to_state(progress),
        queue=queue,
    )


def _studyable(
    card: Card, progress: CardProgress | None, queue: str, today: int
) -> bool:
    if card.retired_at is not None:
        return False
    if progress is None:
        return queue == "new"
    hidden = progress.suspended or (progress.buried_until_day or 0) > today
    return not hidden and progress.queue == queue


def _settings(session: Session, deck: Deck, user: User) -> DeckSettings:
    """`deck_settings`, from a current kept queue when one holds them (answering
    reads them every time, and presets rarely change)."""
    kept = queue_cache.kept_settings(session, user, deck.preset_id)
    if isinstance(kept, DeckSettings):
        return kept
    return deck_settings(session, deck, user)


def button_previews(
    session: Session, *, user: User, deck: Deck, card: StudyCard, now: dt.datetime
) -> dict[Rating, CardState]:
    """The next state for each rating, for the labels on the four buttons."""
    settings = _settings(session, deck, user)
    return preview(
        card.state,
        now=now,
        options=settings.options,
        clock=settings.clock,
        seed=card.card_id + card.state.reps,
    )


def answer_labels(
    session: Session, *, user: User, deck: Deck, card: StudyCard, now: dt.datetime
) -> dict[int, str]:
    """The text on the four rating buttons ("1m", "10m", "4d"), as Anki labels them.

    Uses the seed `answer_card` will use, so the labels show the intervals it picks.
    """
    settings = _settings(session, deck, user)
    labels = button_labels(
        card.state,
        now=now,
        options=settings.options,
        clock=settings.clock,
        seed=card.card_id + card.state.reps,
    )
    return {int(rating): label for rating, label in labels.items()}


# --- answering and undo ----------------------------------------------------------------


def _visible_card(user: User, card_id: int, *more: Any) -> Any:
    """Select the card and its deck (and `more`), if the user can see the deck."""
    return (
        select(Card, Deck, *more)
        .join(Deck, Deck.id == Card.deck_id)
        .where(Card.id == card_id, visible_decks_clause(user.id))
    )


def _live(row: Any, card_id: int) -> Any:
    """The row of `_visible_card`, or the error for a card the user cannot study."""
    if row is None:
        raise StudyError(f"There is no card {card_id}.")
    if row[0].retired_at is not None:
        raise StudyError("This card was removed from its deck file.")
    return row


def _load_card_for_user(
    session: Session, user: User, card_id: int
) -> tuple[Card, Deck]:
    card, deck = _live(session.execute(_visible_card(user, card_id)).first(), card_id)
    return card, deck


# The answer's writes go straight to the tables (Core), without the ORM's
# bookkeeping: they are the hot path of studying.
_PROGRESS = cast(Table, CardProgress.__table__)
_REVIEWS = cast(Table, Review.__table__)
# One alias for every call: a fresh aliased() per call would defeat SQLAlchemy's
# cache of compiled statements (and cost more than the query itself).
_SIBLING = aliased(Card, name="sibling")


def _card_deck_and_progress(
    session: Session, user: User, card_id: int
) -> tuple[Card, Deck, CardProgress | None, bool]:
    """The card, its deck, the user's progress on it and whether its note has
    other cards, in one query.

    No row lock: `_write_progress` makes a racing second answer fail instead.
    """
    has_siblings = (
        select(_SIBLING.id)
        .where(_SIBLING.note_id == Card.note_id, _SIBLING.id != Card.id)
        .exists()
    )
    row = session.execute(
        _visible_card(user, card_id, CardProgress, has_siblings).outerjoin(
            CardProgress,
            and_(CardProgress.card_id == Card.id, CardProgress.user_id == user.id),
        )
    ).first()
    card, deck, progress, siblings = _live(row, card_id)
    return card, deck, progress, bool(siblings)


def _progress_for_update(
    session: Session, user_id: int, card_id: int
) -> CardProgress | None:
    return session.scalars(
        select(CardProgress)
        .where(CardProgress.user_id == user_id, CardProgress.card_id == card_id)
        .with_for_update()
    ).one_or_none()


def answer_card(
    session: Session,
    *,
    user: User,
    card_id: int,
    rating: int,
    now: dt.datetime,
    expected_version: int,
    duration_ms: int = 0,
    ahead_days: int = 0,
) -> AnswerResult:
    """Apply a rating: new progress and a review-log row, in the caller's transaction.

    Raises StaleAnswerError when the card changed since the page was shown (answered
    in another tab), NotDueError when the queue would not show it now, and
    StudyError for anything else that is wrong (unknown card, bad rating).
    """
    try:
        chosen = Rating(rating)
    except ValueError:
        raise StudyError(f"{rating!r} is not a rating; use 1 to 4.") from None
    card, deck, progress, has_siblings = _card_deck_and_progress(
        session, user, card_id
    )
    current_version = progress.version if progress else 0
    if current_version != expected_version:
        raise StaleAnswerError(ALREADY_ANSWERED)
    settings = _settings(session, deck, user)
    today = settings.clock.day_number(now)
    _check_due(progress, settings, now=now, today=today, ahead_days=ahead_days)

    state = progress_to_state(progress)
    outcome = answer(
        state,
        chosen,
        now=now,
        options=settings.options,
        clock=settings.clock,
        seed=card.id + state.reps,
    )
    new_state = outcome.state
    before = _snapshot(progress)
    written: dict[str, Any] = {
        "phase": new_state.phase.value,
        "queue": _queue_for(new_state.phase),
        "due_at": new_state.due,
        "due_day": (
            settings.clock.day_number(new_state.due)
            if new_state.phase is Phase.REVIEW and new_state.due is not None
            else None
        ),
        "interval_days": new_state.interval_days,
        "ease": new_state.ease,
        "remaining_steps": new_state.remaining_steps,
        "reps": new_state.reps,
        "lapses": new_state.lapses,
        "last_reviewed_at": new_state.last_reviewed_at,
        "buried_until_day": None,
        "version": current_version + 1,
    }
    if outcome.is_leech:
        written["is_leech"] = True
        if settings.leech_action == "suspend":
            written["suspended"] = True
    _write_progress(session, user.id, card, progress, expected_version, written)

    buried = (
        _bury_siblings(session, user.id, card, today)
        if settings.bury_siblings and has_siblings
        else []
    )
    step_seconds = 0
    if new_state.phase in (Phase.LEARNING, Phase.RELEARNING) and new_state.due:
        step_seconds = int((new_state.due - now).total_seconds())
    review_id = session.execute(
        insert(_REVIEWS)
        .values(
            user_id=user.id,
            card_id=card.id,
            deck_id=card.deck_id,
            reviewed_at=now,
            review_day=today,
            rating=int(chosen),
            phase=state.phase.value,
            interval_before=state.interval_days,
            interval_after=new_state.interval_days,
            step_seconds_after=step_seconds,
            ease_before=state.ease,
            ease_after=new_state.ease,
            duration_ms=max(0, min(duration_ms, 3_600_000)),
            state_before={
                "progress": before,
                "version": current_version,
                "buried": buried,
            },
        )
        .returning(_REVIEWS.c.id)
    ).scalar_one()
    learning_due = (
        new_state.due
        if new_state.phase in (Phase.LEARNING, Phase.RELEARNING)
        and not written.get("suspended")
        else None
    )
    queue_cache.card_answered(
        session,
        user,
        card_id=card.id,
        learning_due=learning_due,
        hidden_card_ids=[sibling[0] for sibling in buried],
    )
    return AnswerResult(review_id=review_id, state=new_state, is_leech=outcome.is_leech)


def _write_progress(
    session: Session,
    user_id: int,
    card: Card,
    progress: CardProgress | None,
    expected_version: int,
    values: dict[str, Any],
) -> None:
    """Write the answer's progress, only if the card is still at `expected_version`.

    The check above read the version; this write makes it stick even when two
    requests race (a double click, two tabs, several workers). SQLite has no row
    locks and pysqlite reads outside the write transaction, so the progress is
    written with a conditional UPDATE, or for a card answered for the first time an
    INSERT that the primary key lets only one request make (the other inserts
    nothing), and a write that changed no row means the answer came too late.
    """
    if progress is None:
        values = {"user_id": user_id, "card_id": card.id, "deck_id": card.deck_id,
                  **values}
        # RETURNING tells whether a row went in (rowcount is not reliable for
        # INSERT … ON CONFLICT on every driver).
        inserted = session.execute(_insert_unless_present(session, values)).first()
        written_rows = 0 if inserted is None else 1
    else:
        written = session.execute(
            update(_PROGRESS)
            .where(
                _PROGRESS.c.user_id == user_id,
                _PROGRESS.c.card_id == card.id,
                _PROGRESS.c.version == expected_version,
            )
            .values(values)
        )
        written_rows = written.rowcount  # type: ignore[attr-defined]
    if written_rows != 1:
        raise StaleAnswerError(ALREADY_ANSWERED)
    if progress is not None:
        for key, value in values.items():
            set_committed_value(progress, key, value)


def _insert_unless_present(session: Session, values: dict[str, Any]) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, in the database's own dialect."""
    if session.get_bind().dialect.name == "postgresql":
        statement: Any = postgresql.insert(_PROGRESS)
    else:
        statement = sqlite.insert(_PROGRESS)
    return (
        statement.values(values)
        .on_conflict_do_nothing()
        .returning(_PROGRESS.c.card_id)
    )


def _check_due(
    progress: CardProgress | None,
    settings: DeckSettings,
    *,
    now: dt.datetime,
    today: int,
    ahead_days: int,
) -> None:
    if progress is None:
        return
    if progress.suspended:
        raise NotDueError("This card is suspended; unsuspend it to study it.")
    if progress.buried_until_day is not None and progress.buried_until_day > today:
        raise NotDueError("This card is buried until tomorrow.")
    learning_not_due = (
        progress.queue == "learning"
        and progress.due_at is not None
        and progress.due_at > now + LEARN_AHEAD
    )
    review_not_due = (
        progress.queue == "review"
        and progress.due_day is not None
        and progress.due_day > today + ahead_days
    )
    if learning_not_due or review_not_due:
        raise NotDueError("This card is not due yet.")


def _bury_siblings(
    session: Session, user_id: int, card: Card, today: int
) -> list[list[Any]]:
    """Hide the other cards of the same note until tomorrow (new and review ones).

    Returns what undo needs: [card_id, had_row, previous buried_until_day].
    """
    siblings = session.execute(
        select(Card.id, Card.deck_id, CardProgress)
        .outerjoin(
            CardProgress,
            and_(CardProgress.card_id == Card.id, CardProgress.user_id == user_id),
        )
        .where(
            Card.note_id == card.note_id, Card.id != card.id, Card.retired_at.is_(None)
        )
    ).all()
    changed: list[list[Any]] = []
    for sibling_id, deck_id, found in siblings:
        # An outer join: no progress row means the sibling is still new.
        progress: CardProgress | None = found
        if progress is None:
            session.add(
                CardProgress(
                    user_id=user_id,
                    card_id=sibling_id,
                    deck_id=deck_id,
                    buried_until_day=today + 1,
                )
            )
            changed.append([sibling_id, False, None])
        elif progress.queue in ("new", "review") and (
            progress.buried_until_day is None or progress.buried_until_day <= today
        ):
            changed.append([sibling_id, True, progress.buried_until_day])
            progress.buried_until_day = today + 1
            progress.version += 1
    return changed


def undo_last_answer(
    session: Session,
    *,
    user: User,
    now: dt.datetime,
    expected_review_id: int | None = None,
) -> UndoResult:
    """Take back the user's latest answer: previous progress restored, log row removed.

    Several calls go back several answers. `expected_review_id` (from the page)
    guards against undoing something other than what the user saw.
    """
    review = session.scalars(
        select(Review)
        .where(
            Review.user_id == user.id,
            Review.state_before.is_not(None),
            Review.reviewed_at >= now - UNDO_WINDOW,
        )
        .order_by(Review.id.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if review is None:
        raise StudyError("There is nothing to undo.")
    if expected_review_id is not None and review.id != expected_review_id:
        raise StaleAnswerError(
            "That answer was already undone or is no longer the latest one; "
            "nothing was changed."
        )
    saved = review.state_before or {}
    progress = _progress_for_update(session, user.id, review.card_id)
    before = saved.get("progress")
    if before is None:
        if progress is not None:
            session.delete(progress)
    else:
        if progress is None:
            progress = CardProgress(
                user_id=user.id, card_id=review.card_id, deck_id=review.deck_id
            )
            session.add(progress)
        _restore(progress, before)
        progress.version = int(saved.get("version", 0)) + 2
    for sibling_id, had_row, previous in saved.get("buried", []):
        sibling = session.get(CardProgress, (user.id, sibling_id))
        if sibling is None:
            continue
        if had_row:
            sibling.buried_until_day = previous
            sibling.version += 1
        elif sibling.reps == 0:
            session.delete(sibling)
    card_id, review_id = review.card_id, review.id
    session.delete(review)
    session.flush()
    queue_cache.queues_changed(session, user.id)
    return UndoResult(card_id=card_id, review_id=review_id)


def latest_undoable_review(
    session: Session, *, user: User, now: dt.datetime
) -> int | None:
    return session.scalar(
        select(func.max(Review.id)).where(
            Review.user_id == user.id,
            Review.state_before.is_not(None),
            Review.reviewed_at >= now - UNDO_WINDOW,
        )
    )


# --- bury, suspend, reset, set due ----------------------------------------------------


def _progress_row(session: Session, user: User, card_id: int) -> CardProgress:
    card, _deck = _load_card_for_user(session, user, card_id)
    progress = _progress_for_update(session, user.id, card_id)
    if progress is None:
        progress = CardProgress(user_id=user.id, card_id=card.id, deck_id=card.deck_id)
        session.add(progress)
        progress.version = 0
    return progress


def bury_card(session: Session, *, user: User, card_id: int, today: int) -> None:
    """Hide a card until the next day starts."""
    progress = _progress_row(session, user, card_id)
    progress.buried_until_day = today + 1
    progress.version = (progress.version or 0) + 1
    queue_cache.queues_changed(session, user.id)


def unbury_card(session: Session, *, user: User, card_id: int) -> None:
    progress = _progress_row(session, user, card_id)
    progress.buried_until_day = None
    progress.version = (progress.version or 0) + 1
    queue_cache.queues_changed(session, user.id)


def set_suspended(
    session: Session, *, user: User, card_id: int, suspended: bool
) -> None:
    """Suspend (out of every queue until unsuspended) or unsuspend a card."""
    progress = _progress_row(session, user, card_id)
    progress.suspended = suspended
    progress.version = (progress.version or 0) + 1
    queue_cache.queues_changed(session, user.id)


def reset_progress(session: Session, *, user: User, card_id: int) -> None:
    """Make the card new again ("Forget"); its review log stays."""
    _load_card_for_user(session, user, card_id)
    session.execute(
        delete(CardProgress).where(
            CardProgress.user_id == user.id, CardProgress.card_id == card_id
        )
    )
    queue_cache.queues_changed(session, user.id)


def set_due_in_days(
    session: Session, *, user: User, card_id: int, days: int, now: dt.datetime
) -> None:
    """Anki's "Set due date": the card becomes a review due `days` from today."""
    if not 0 <= days <= 36500:
        raise StudyError("The due date must be between 0 and 36500 days from today.")
    _card, deck = _load_card_for_user(session, user, card_id)
    settings = deck_settings(session, deck, user)
    today = settings.clock.day_number(now)
    progress = _progress_row(session, user, card_id)
    if progress.phase != Phase.REVIEW.value:
        progress.interval_days = max(days, 1)
        progress.ease = progress.ease or settings.options.starting_ease
    progress.phase = Phase.REVIEW.value
    progress.queue = "review"
    progress.remaining_steps = 0
    progress.due_day = today + days
    progress.due_at = settings.clock.day_start(today + days)
    progress.version = (progress.version or 0) + 1
    queue_cache.queues_changed(session, user.id)


def study_card_note(session: Session, card: StudyCard) -> Note:
    return session.get_one(Note, card.note_id)


# --- counts ------------------------------------------------------------------------------


@dataclass
class _DeckTally:
    """Raw per-deck figures for one user and one day, before daily limits."""

    live_cards: int = 0
    rows: int = 0  # progress rows of live cards
    new_rows: int = 0  # ... of them still new and not hidden today
    learning_today: int = 0
    review_due: int = 0

    @property
    def new_available(self) -> int:
        return self.live_cards - self.rows + self.new_rows


def _tallies(
    session: Session,
    user_id: int,
    deck_ids: Sequence[int] | None,
    today: int,
    tomorrow_starts: dt.datetime,
) -> dict[int, _DeckTally]:
    """Per-deck tallies in a few index-only queries, for every deck or the given ones.

    The common case (live, unsuspended, unburied cards) is counted from covering
    indexes without touching the cards table; the rare hidden rows (suspended,
    buried, or of a retired card) are then fetched one by one and taken off.
    """
    tallies: dict[int, _DeckTally] = {}
    wanted = set(deck_ids or ())

    def tally(deck_id: int) -> _DeckTally:
        return tallies.setdefault(deck_id, _DeckTally())

    def in_decks(column: Any) -> Any:
        return column.in_(deck_ids) if deck_ids is not None else True

    for deck_id, live in session.execute(
        select(Card.deck_id, func.count())
        .where(Card.retired_at.is_(None), in_decks(Card.deck_id))
        .group_by(Card.deck_id)
    ):
        tally(deck_id).live_cards = live
    due_today = case((CardProgress.due_day <= today, 1), else_=0)
    for deck_id, queue, rows, due in session.execute(
        select(
            CardProgress.deck_id,
            CardProgress.queue,
            func.count(),
            func.coalesce(func.sum(due_today), 0),
        )
        .where(CardProgress.user_id == user_id, in_decks(CardProgress.deck_id))
        .group_by(CardProgress.deck_id, CardProgress.queue)
    ):
        t = tally(deck_id)
        t.rows += rows
        if queue == "new":
            t.new_rows += rows
        elif queue == "review":
            t.review_due += due
    for deck_id, learning in session.execute(
        select(CardProgress.deck_id, func.count())
        .where(
            CardProgress.user_id == user_id,
            CardProgress.queue == "learning",
            CardProgress.due_at < tomorrow_starts,
            in_decks(CardProgress.deck_id),
        )
        .group_by(CardProgress.deck_id)
    ):
        tally(deck_id).learning_today = learning

    columns = (
        CardProgress.card_id,
        CardProgress.deck_id,
        CardProgress.queue,
        CardProgress.due_day,
        CardProgress.due_at,
    )
    hidden: dict[int, tuple[Any, bool]] = {}
    # Three small queries, each shaped so it runs on its partial index; no deck
    # filter in SQL (it would pull the planner to the big deck index).
    retired_cards = select(Card.id).where(Card.retired_at.is_not(None))
    parts = [
        select(*columns, literal(retired).label("retired")).where(
            CardProgress.user_id == user_id, condition
        )
        for condition, retired in (
            (CardProgress.suspended == true(), False),
            (CardProgress.buried_until_day > today, False),
            (CardProgress.card_id.in_(retired_cards), True),
        )
    ]
    for row in session.execute(union_all(*parts)):
        if deck_ids is None or row.deck_id in wanted:
            seen_retired = row.card_id in hidden and hidden[row.card_id][1]
            hidden[row.card_id] = (row, bool(row.retired) or seen_retired)
    for row, retired in hidden.values():
        t = tally(row.deck_id)
        if retired:
            t.rows -= 1
        if row.queue == "new":
            t.new_rows -= 1
        elif row.queue == "learning" and row.due_at < tomorrow_starts:
            t.learning_today -= 1
        elif row.queue == "review" and row.due_day <= today:
            t.review_due -= 1
    return tallies


def _done_by_deck(
    session: Session, user_id: int, today: int, day_start: dt.datetime
) -> dict[tuple[int, str], int]:
    """New cards introduced and reviews answered today, per deck and phase before."""
    return {
        (deck_id, phase): count
        for deck_id, phase, count in session.execute(
            select(
                Review.deck_id, Review.phase, func.count(func.distinct(Review.card_id))
            )
            .where(
                Review.user_id == user_id,
                # The time bound lets ix_reviews_user_time find today's rows directly.
                Review.reviewed_at >= day_start,
                Review.review_day == today,
                Review.phase.in_(("new", "review")),
            )
            .group_by(Review.deck_id, Review.phase)
        )
    }


@dataclass(frozen=True)
class _DeckRef:
    """The few deck columns counting needs (no descriptions or sources loaded)."""

    id: int
    name: str
    preset_id: int | None


def _deck_refs(session: Session, *conditions: Any) -> list[_DeckRef]:
    return [
        _DeckRef(*row)
        for row in session.execute(
            select(Deck.id, Deck.name, Deck.preset_id).where(*conditions)
        )
    ]


def _limited_counts(
    session: Session,
    *,
    user: User,
    decks: Sequence[_DeckRef],
    now: dt.datetime,
) -> tuple[dict[int, QueueCounts], dict[tuple[int, str], int]]:
    """Each deck's own counts, capped by its own preset's daily limits."""
    clock = user_clock(user)
    today = clock.day_number(now)
    tallies = _tallies(
        session,
        user.id,
        [d.id for d in decks] if len(decks) < 500 else None,
        today,
        clock.day_start(today + 1),
    )
    done = _done_by_deck(session, user.id, today, clock.day_start(today))
    presets, fallback = presets_by_id(session)
    counts: dict[int, QueueCounts] = {}
    for deck in decks:
        preset = presets.get(deck.preset_id or -1, fallback)
        t = tallies.get(deck.id, _DeckTally())
        new_left = max(0, preset.new_per_day - done.get((deck.id, "new"), 0))
        review_left = max(0, preset.reviews_per_day - done.get((deck.id, "review"), 0))
        counts[deck.id] = QueueCounts(
            new=max(0, min(new_left, t.new_available)),
            learning=max(0, t.learning_today),
            review=max(0, min(review_left, t.review_due)),
        )
    return counts, done


def _roll_up(
    decks: Sequence[_DeckRef],
    own: dict[int, QueueCounts],
    done: dict[tuple[int, str], int],
    presets: tuple[dict[int, Preset], Preset],
) -> dict[int, QueueCounts]:
    """Each deck's counts with its subdecks, the subtree capped by the deck's limits.

    As in Anki's v3 scheduler, a subdeck never gives more than its own limits
    allow, and the parent's limits cap everything studied from the parent.
    """
    by_id, fallback = presets
    by_name = {d.name: d.id for d in decks}
    # Sums over each subtree: every deck adds into itself and each ancestor.
    sums: dict[int, list[int]] = {d.id: [0, 0, 0, 0, 0] for d in decks}
    for deck in decks:
        parts = deck.name.split("::")
        c = own[deck.id]
        figures = (
            c.new,
            c.learning,
            c.review,
            done.get((deck.id, "new"), 0),
            done.get((deck.id, "review"), 0),
        )
        for depth in range(1, len(parts) + 1):
            ancestor = by_name.get("::".join(parts[:depth]))
            if ancestor is not None:
                total = sums[ancestor]
                for k, value in enumerate(figures):
                    total[k] += value
    totals: dict[int, QueueCounts] = {}
    for deck in decks:
        new, learning, review, new_done, review_done = sums[deck.id]
        preset = by_id.get(deck.preset_id or -1, fallback)
        totals[deck.id] = QueueCounts(
            new=min(max(0, preset.new_per_day - new_done), new),
            learning=learning,
            review=min(max(0, preset.reviews_per_day - review_done), review),
        )
    return totals


def deck_list_counts(
    session: Session, *, user: User, now: dt.datetime
) -> dict[int, QueueCounts]:
    """New, learning and review counts due today for every visible deck, own cards only."""
    decks = _deck_refs(session, visible_decks_clause(user.id))
    counts, _done = _limited_counts(session, user=user, decks=decks, now=now)
    return counts


def deck_tree_counts(
    session: Session, *, user: User, now: dt.datetime
) -> dict[int, QueueCounts]:
    """What the deck list shows: each deck's counts including its subdecks.

    The same figures the deck's study page starts with.
    """
    decks = _deck_refs(session, visible_decks_clause(user.id))
    own, done = _limited_counts(session, user=user, decks=decks, now=now)
    return _roll_up(decks, own, done, presets_by_id(session))

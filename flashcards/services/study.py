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
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from flashcards.db.models import Card, CardProgress, Deck, Note, Preset, Review, User
from flashcards.services.decks import visible_decks_clause
from flashcards.services.presets import (
    DeckSettings,
    deck_settings,
    default_preset,
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


def deck_tree_ids(session: Session, deck: Deck, *, user_id: int) -> list[int]:
    """The deck and its subdecks (by "::" name nesting) the user can see."""
    rows = session.execute(
        select(Deck.id).where(
            visible_decks_clause(user_id),
            or_(Deck.id == deck.id, Deck.name.startswith(deck.name + "::")),
        )
    )
    return [row[0] for row in rows]


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


def _done_today(
    session: Session,
    user_id: int,
    deck_ids: Sequence[int],
    today: int,
    day_start: dt.datetime,
) -> dict[str, int]:
    """New cards introduced and reviews answered today, by the phase before answering."""
    rows = session.execute(
        select(Review.phase, func.count(func.distinct(Review.card_id)))
        .where(
            Review.user_id == user_id,
            # The time bound lets ix_reviews_user_time find today's rows directly.
            Review.reviewed_at >= day_start,
            Review.deck_id.in_(deck_ids),
            Review.review_day == today,
            Review.phase.in_(("new", "review")),
        )
        .group_by(Review.phase)
    )
    return {phase: count for phase, count in rows}


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
    """
    settings = deck_settings(session, deck, user)
    today = settings.clock.day_number(now)
    tomorrow_starts = settings.clock.day_start(today + 1)
    deck_ids = deck_tree_ids(session, deck, user_id=user.id)
    done = _done_today(
        session, user.id, deck_ids, today, settings.clock.day_start(today)
    )
    new_left = max(0, settings.new_per_day - done.get("new", 0))
    review_left = max(0, settings.reviews_per_day - done.get("review", 0))

    learning = _live_progress(user.id, deck_ids, today).where(
        CardProgress.queue == "learning"
    )
    learning_due_now = session.scalars(
        learning.where(CardProgress.due_at <= now)
        .order_by(CardProgress.due_at, CardProgress.card_id)
        .limit(1)
    ).first()
    learning_today = (
        session.scalar(
            select(func.count()).select_from(
                learning.where(CardProgress.due_at < tomorrow_starts).subquery()
            )
        )
        or 0
    )
    reviews = _live_progress(user.id, deck_ids, today).where(
        CardProgress.queue == "review", CardProgress.due_day <= today
    )
    review_count = min(
        review_left,
        session.scalar(select(func.count()).select_from(reviews.subquery())) or 0,
    )
    new_count = 0
    if new_left:
        new_count = (
            session.scalar(
                select(func.count()).select_from(
                    _new_cards_query(user.id, deck_ids, today)
                    .limit(new_left)
                    .subquery()
                )
            )
            or 0
        )
    counts = QueueCounts(new=new_count, learning=learning_today, review=review_count)

    picked: tuple[int, str] | None = None
    if learning_due_now is not None:
        picked = (learning_due_now, "learning")
    elif review_count:
        card_id = session.scalars(
            reviews.order_by(CardProgress.due_day, CardProgress.card_id).limit(1)
        ).first()
        picked = (card_id, "review") if card_id is not None else None
    if picked is None and new_count:
        # Anki's default gather order: deck by deck (parents before their
        # subdecks), and in each deck the order of the file.
        card_id = session.scalars(
            _new_cards_query(user.id, deck_ids, today)
            .join(Deck, Deck.id == Card.deck_id)
            .order_by(Deck.name, Card.position, Card.id)
            .limit(1)
        ).first()
        picked = (card_id, "new") if card_id is not None else None
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
            select(func.min(CardProgress.due_at)).where(
                CardProgress.card_id.in_(
                    learning.where(CardProgress.due_at < tomorrow_starts)
                )
            )
        )
    card = _study_card(session, user.id, *picked) if picked is not None else None
    return StudyQueue(counts=counts, card=card, next_learning_at=next_learning_at)


def _study_card(session: Session, user_id: int, card_id: int, queue: str) -> StudyCard:
    card = session.get_one(Card, card_id)
    progress = session.get(CardProgress, (user_id, card_id))
    return StudyCard(
        card_id=card.id,
        note_id=card.note_id,
        deck_id=card.deck_id,
        slot=card.slot,
        version=progress.version if progress else 0,
        state=progress_to_state(progress),
        queue=queue,
    )


def button_previews(
    session: Session, *, user: User, deck: Deck, card: StudyCard, now: dt.datetime
) -> dict[Rating, CardState]:
    """The next state for each rating, for the labels on the four buttons."""
    settings = deck_settings(session, deck, user)
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
    settings = deck_settings(session, deck, user)
    labels = button_labels(
        card.state,
        now=now,
        options=settings.options,
        clock=settings.clock,
        seed=card.card_id + card.state.reps,
    )
    return {int(rating): label for rating, label in labels.items()}


# --- answering and undo ----------------------------------------------------------------


def _load_card_for_user(
    session: Session, user: User, card_id: int
) -> tuple[Card, Deck]:
    row = session.execute(
        select(Card, Deck)
        .join(Deck, Deck.id == Card.deck_id)
        .where(Card.id == card_id, visible_decks_clause(user.id))
    ).first()
    if row is None:
        raise StudyError(f"There is no card {card_id}.")
    card, deck = row
    if card.retired_at is not None:
        raise StudyError("This card was removed from its deck file.")
    return card, deck


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
    card, deck = _load_card_for_user(session, user, card_id)
    progress = _progress_for_update(session, user.id, card_id)
    current_version = progress.version if progress else 0
    if current_version != expected_version:
        raise StaleAnswerError(
            "This card was already answered (perhaps in another tab); "
            "nothing was recorded twice. Here is the next card."
        )
    settings = deck_settings(session, deck, user)
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
    if progress is None:
        progress = CardProgress(user_id=user.id, card_id=card.id, deck_id=card.deck_id)
        session.add(progress)
    progress.phase = new_state.phase.value
    progress.queue = _queue_for(new_state.phase)
    progress.due_at = new_state.due
    progress.due_day = (
        settings.clock.day_number(new_state.due)
        if new_state.phase is Phase.REVIEW and new_state.due is not None
        else None
    )
    progress.interval_days = new_state.interval_days
    progress.ease = new_state.ease
    progress.remaining_steps = new_state.remaining_steps
    progress.reps = new_state.reps
    progress.lapses = new_state.lapses
    progress.last_reviewed_at = new_state.last_reviewed_at
    progress.buried_until_day = None
    progress.version = current_version + 1
    if outcome.is_leech:
        progress.is_leech = True
        if settings.leech_action == "suspend":
            progress.suspended = True

    buried = (
        _bury_siblings(session, user.id, card, today) if settings.bury_siblings else []
    )
    step_seconds = 0
    if new_state.phase in (Phase.LEARNING, Phase.RELEARNING) and new_state.due:
        step_seconds = int((new_state.due - now).total_seconds())
    review = Review(
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
        state_before={"progress": before, "version": current_version, "buried": buried},
    )
    session.add(review)
    session.flush()
    return AnswerResult(review_id=review.id, state=new_state, is_leech=outcome.is_leech)


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
        select(Card.id, Card.deck_id).where(
            Card.note_id == card.note_id, Card.id != card.id, Card.retired_at.is_(None)
        )
    ).all()
    changed: list[list[Any]] = []
    for sibling_id, deck_id in siblings:
        progress = session.get(CardProgress, (user_id, sibling_id))
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


def unbury_card(session: Session, *, user: User, card_id: int) -> None:
    progress = _progress_row(session, user, card_id)
    progress.buried_until_day = None
    progress.version = (progress.version or 0) + 1


def set_suspended(
    session: Session, *, user: User, card_id: int, suspended: bool
) -> None:
    """Suspend (out of every queue until unsuspended) or unsuspend a card."""
    progress = _progress_row(session, user, card_id)
    progress.suspended = suspended
    progress.version = (progress.version or 0) + 1


def reset_progress(session: Session, *, user: User, card_id: int) -> None:
    """Make the card new again ("Forget"); its review log stays."""
    _load_card_for_user(session, user, card_id)
    session.execute(
        delete(CardProgress).where(
            CardProgress.user_id == user.id, CardProgress.card_id == card_id
        )
    )


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


def study_card_note(session: Session, card: StudyCard) -> Note:
    return session.get_one(Note, card.note_id)


# --- counts for the deck list -------------------------------------------------------------


def deck_list_counts(
    session: Session, *, user: User, now: dt.datetime
) -> dict[int, QueueCounts]:
    """New, learning and review counts due today for every visible deck, own cards only.

    A handful of grouped queries for all decks at once; each deck's daily limits
    (from its preset) cap its new and review counts. Parents add up their subdecks
    in the view (see `roll_up_counts`).
    """
    decks = session.scalars(select(Deck).where(visible_decks_clause(user.id))).all()
    if not decks:
        return {}
    clock = user_clock(user)
    today = clock.day_number(now)
    tomorrow_starts = clock.day_start(today + 1)
    live = Card.retired_at.is_(None)

    def grouped(query: Any) -> dict[int, int]:
        return {deck_id: count for deck_id, count in session.execute(query)}

    progress_of_live = (
        select(CardProgress.deck_id, func.count())
        .join(Card, Card.id == CardProgress.card_id)
        .where(CardProgress.user_id == user.id, live)
        .group_by(CardProgress.deck_id)
    )
    learning = grouped(
        progress_of_live.where(
            CardProgress.queue == "learning",
            _available(today),
            CardProgress.due_at < tomorrow_starts,
        )
    )
    reviews = grouped(
        progress_of_live.where(
            CardProgress.queue == "review",
            _available(today),
            CardProgress.due_day <= today,
        )
    )
    not_new = grouped(
        progress_of_live.where(or_(CardProgress.queue != "new", ~_available(today)))
    )
    live_cards = grouped(
        select(Card.deck_id, func.count()).where(live).group_by(Card.deck_id)
    )
    done: dict[tuple[int, str], int] = {
        (deck_id, phase): count
        for deck_id, phase, count in session.execute(
            select(
                Review.deck_id, Review.phase, func.count(func.distinct(Review.card_id))
            )
            .where(
                Review.user_id == user.id,
                Review.reviewed_at >= clock.day_start(today),
                Review.review_day == today,
                Review.phase.in_(("new", "review")),
            )
            .group_by(Review.deck_id, Review.phase)
        )
    }
    presets = {p.id: p for p in session.scalars(select(Preset))}
    fallback = default_preset(session)
    counts: dict[int, QueueCounts] = {}
    for deck in decks:
        preset = presets.get(deck.preset_id or -1, fallback)
        new_left = max(0, preset.new_per_day - done.get((deck.id, "new"), 0))
        review_left = max(0, preset.reviews_per_day - done.get((deck.id, "review"), 0))
        counts[deck.id] = QueueCounts(
            new=min(new_left, live_cards.get(deck.id, 0) - not_new.get(deck.id, 0)),
            learning=learning.get(deck.id, 0),
            review=min(review_left, reviews.get(deck.id, 0)),
        )
    return counts


def roll_up_counts(
    names: dict[int, str], counts: dict[int, QueueCounts]
) -> dict[int, QueueCounts]:
    """Add each deck's subdecks ("A::B" under "A") into its counts."""
    totals: dict[int, QueueCounts] = {}
    for deck_id, name in names.items():
        prefix = name + "::"
        members = [
            other
            for other, other_name in names.items()
            if other == deck_id or other_name.startswith(prefix)
        ]
        totals[deck_id] = QueueCounts(
            new=sum(counts[m].new for m in members if m in counts),
            learning=sum(counts[m].learning for m in members if m in counts),
            review=sum(counts[m].review for m in members if m in counts),
        )
    return totals

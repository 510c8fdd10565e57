"""The study service on a real database: queue order, limits, answer, undo, bury, suspend."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from flashcards.db.models import Card, CardProgress, Deck, Note, Preset, Review, User
from flashcards.deckfile import CardSpec, DeckSpec
from flashcards.services import study
from flashcards.services.importing import import_deck
from flashcards.services.presets import default_preset
from flashcards.services.users import ensure_local_user

MINUTE = dt.timedelta(minutes=1)


def basic(key: str, reverse: bool = False) -> CardSpec:
    return CardSpec(
        id=key, kind="basic", front=f"Q {key}?", back=f"A {key}", reverse=reverse
    )


def make_deck(
    session: Session, now: dt.datetime, slug: str, name: str, cards: list[CardSpec]
) -> Deck:
    import_deck(session, DeckSpec(id=slug, name=name, cards=tuple(cards)), now=now)
    return session.scalars(select(Deck).where(Deck.slug == slug)).one()


@pytest.fixture
def setup(sessions: sessionmaker[Session], now: dt.datetime):  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        ensure_local_user(session, now=now)
        make_deck(
            session,
            now,
            "main",
            "Main",
            [basic("a"), basic("b", reverse=True), basic("c"), basic("d")],
        )
        make_deck(session, now, "sub", "Main::Sub", [basic("s1"), basic("s2")])
    return sessions


def user_and_deck(session: Session, slug: str = "main") -> tuple[User, Deck]:
    user = session.scalars(select(User)).one()
    deck = session.scalars(select(Deck).where(Deck.slug == slug)).one()
    return user, deck


def queue(session: Session, now: dt.datetime, slug: str = "main") -> study.StudyQueue:
    user, deck = user_and_deck(session, slug)
    return study.study_queue(session, user=user, deck=deck, now=now)


def key_of(session: Session, card: study.StudyCard | None) -> str:
    assert card is not None
    note = session.get_one(Note, card.note_id)
    return f"{note.key}/{card.slot}"


def answer(
    session: Session, card: study.StudyCard, rating: int, now: dt.datetime
) -> study.AnswerResult:
    user, _ = user_and_deck(session)
    return study.answer_card(
        session,
        user=user,
        card_id=card.card_id,
        rating=rating,
        now=now,
        expected_version=card.version,
        duration_ms=4000,
    )


def test_new_cards_come_in_file_order_with_subdecks(setup, now):  # type: ignore[no-untyped-def]
    with setup() as session:
        q = queue(session, now)
        # 5 cards in Main (b has a reverse) + 2 in Main::Sub, all within 20 new.
        assert q.counts == study.QueueCounts(new=7, learning=0, review=0)
        assert key_of(session, q.card) == "a/front"


def test_learning_card_returns_first_when_due(setup, now):  # type: ignore[no-untyped-def]
    with setup.begin() as session:
        q = queue(session, now)
        result = answer(session, q.card, 3, now)  # Good on a new card: the 10m step
        assert result.state.phase.value == "learning"
    with setup.begin() as session:
        q = queue(session, now + MINUTE)
        assert key_of(session, q.card) == "b/front"
        assert q.counts.learning == 1 and q.counts.new == 6
        later = queue(session, now + 13 * MINUTE)
        assert key_of(session, later.card) == "a/front"
        assert later.card is not None and later.card.queue == "learning"


def test_answer_writes_progress_and_review_row(setup, now):  # type: ignore[no-untyped-def]
    with setup.begin() as session:
        card = queue(session, now).card
        answer(session, card, 4, now)  # Easy on new: graduates to review
    with setup() as session:
        review = session.scalars(select(Review)).one()
        assert (review.rating, review.phase, review.duration_ms) == (4, "new", 4000)
        assert review.interval_after in (3, 4, 5)
        progress = session.scalars(
            select(CardProgress).where(CardProgress.reps == 1)
        ).one()
        assert progress.phase == "review" and progress.ease == 2.5
        assert progress.due_day is not None


def test_stale_and_bad_answers_change_nothing(setup, now):  # type: ignore[no-untyped-def]
    with setup.begin() as session:
        card = queue(session, now).card
        answer(session, card, 3, now)
    with setup() as session:
        user, _ = user_and_deck(session)
        with pytest.raises(study.StaleAnswerError):
            study.answer_card(
                session,
                user=user,
                card_id=card.card_id,
                rating=3,
                now=now,
                expected_version=card.version,
            )
        with pytest.raises(study.StudyError, match="not a rating"):
            study.answer_card(
                session,
                user=user,
                card_id=card.card_id,
                rating=7,
                now=now,
                expected_version=1,
            )
        with pytest.raises(study.StudyError, match="no card"):
            study.answer_card(
                session,
                user=user,
                card_id=999999,
                rating=3,
                now=now,
                expected_version=0,
            )
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Review)) == 1


def test_undo_goes_back_several_answers_exactly(setup, now):  # type: ignore[no-untyped-def]
    with setup.begin() as session:
        first = queue(session, now).card
        answer(session, first, 3, now)
    with setup.begin() as session:
        before_second = session.get_one(CardProgress, (1, first.card_id))
        snapshot = (
            before_second.phase,
            before_second.due_at,
            before_second.remaining_steps,
        )
        again = queue(session, now + 13 * MINUTE).card
        assert again is not None and again.card_id == first.card_id
        answer(session, again, 3, now + 13 * MINUTE)
    with setup.begin() as session:
        user, _ = user_and_deck(session)
        latest = study.latest_undoable_review(session, user=user, now=now + 14 * MINUTE)
        study.undo_last_answer(
            session, user=user, now=now + 14 * MINUTE, expected_review_id=latest
        )
    with setup.begin() as session:
        restored = session.get_one(CardProgress, (1, first.card_id))
        assert (restored.phase, restored.due_at, restored.remaining_steps) == snapshot
        user, _ = user_and_deck(session)
        with pytest.raises(study.StaleAnswerError):
            study.undo_last_answer(
                session, user=user, now=now, expected_review_id=latest
            )
    with setup.begin() as session:
        user, _ = user_and_deck(session)
        study.undo_last_answer(session, user=user, now=now + 14 * MINUTE)
    with setup() as session:
        assert session.get(CardProgress, (1, first.card_id)) is None
        assert session.scalar(select(func.count()).select_from(Review)) == 0
        assert key_of(session, queue(session, now).card) == "a/front"


def test_siblings_are_buried_until_tomorrow(setup, now):  # type: ignore[no-untyped-def]
    with setup.begin() as session:
        user, deck = user_and_deck(session)
        b_front = session.scalars(
            select(Card).join(Note).where(Note.key == "b", Card.slot == "front")
        ).one()
        b_reverse = session.scalars(
            select(Card).join(Note).where(Note.key == "b", Card.slot == "reverse")
        ).one()
        study.answer_card(
            session,
            user=user,
            card_id=b_front.id,
            rating=3,
            now=now,
            expected_version=0,
        )
    with setup() as session:
        user, deck = user_and_deck(session)
        progress = session.get_one(CardProgress, (user.id, b_reverse.id))
        today = 0
        assert progress.buried_until_day is not None
        seen = set()
        q = queue(session, now)
        assert q.counts.new == 5  # 7 minus the answered card and its buried sibling
        tomorrow = now + dt.timedelta(days=1)
        new_ids = session.scalars(
            study._new_cards_query(user.id, [deck.id], progress.buried_until_day)
        ).all()
        seen.update(new_ids)
        assert b_reverse.id in seen and today == 0
        assert queue(session, tomorrow).counts.new == 6


def test_daily_new_limit_and_suspend(setup, now):  # type: ignore[no-untyped-def]
    with setup.begin() as session:
        default_preset(session).new_per_day = 2
    with setup.begin() as session:
        q = queue(session, now)
        assert q.counts.new == 2
        answer(session, q.card, 4, now)
    with setup.begin() as session:
        assert queue(session, now).counts.new == 1
        user, _ = user_and_deck(session)
        card = queue(session, now).card
        study.set_suspended(session, user=user, card_id=card.card_id, suspended=True)
    with setup.begin() as session:
        q = queue(session, now)
        assert q.card is not None and q.card.card_id != card.card_id
        user, _ = user_and_deck(session)
        study.set_suspended(session, user=user, card_id=card.card_id, suspended=False)
    with setup() as session:
        assert queue(session, now).card.card_id == card.card_id


def test_review_not_due_is_refused_unless_studying_ahead(setup, now):  # type: ignore[no-untyped-def]
    with setup.begin() as session:
        card = queue(session, now).card
        result = answer(session, card, 4, now)  # Easy: review in ~4 days
        assert result.state.interval_days >= 3
    with setup() as session:
        user, _ = user_and_deck(session)
        with pytest.raises(study.NotDueError):
            study.answer_card(
                session,
                user=user,
                card_id=card.card_id,
                rating=3,
                now=now + dt.timedelta(days=1),
                expected_version=1,
            )
    with setup.begin() as session:
        user, _ = user_and_deck(session)
        done = study.answer_card(
            session,
            user=user,
            card_id=card.card_id,
            rating=3,
            now=now + dt.timedelta(days=1),
            expected_version=1,
            ahead_days=10,
        )
        assert done.state.phase.value == "review"


def test_leech_is_flagged_at_the_eighth_lapse(setup, now):  # type: ignore[no-untyped-def]
    with setup.begin() as session:
        user, deck = user_and_deck(session)
        card = session.scalars(select(Card).where(Card.deck_id == deck.id)).first()
        session.add(
            CardProgress(
                user_id=user.id,
                card_id=card.id,
                deck_id=deck.id,
                phase="review",
                queue="review",
                due_at=now - dt.timedelta(days=1),
                due_day=0,
                interval_days=10,
                ease=2.5,
                reps=20,
                lapses=7,
                version=5,
            )
        )
    with setup.begin() as session:
        user, _ = user_and_deck(session)
        result = study.answer_card(
            session, user=user, card_id=card.id, rating=1, now=now, expected_version=5
        )
        assert result.is_leech
        assert session.get_one(CardProgress, (user.id, card.id)).is_leech


def test_deck_list_counts_agree_with_the_queue(setup, now):  # type: ignore[no-untyped-def]
    with setup.begin() as session:
        answer(session, queue(session, now).card, 3, now)
    with setup() as session:
        user, main = user_and_deck(session)
        _, sub = user_and_deck(session, "sub")
        counts = study.deck_list_counts(session, user=user, now=now)
        assert counts[main.id] == study.QueueCounts(new=4, learning=1, review=0)
        assert counts[sub.id] == study.QueueCounts(new=2, learning=0, review=0)
        rolled = study.deck_tree_counts(session, user=user, now=now)
        assert rolled[main.id] == queue(session, now).counts
        assert rolled[main.id] == study.QueueCounts(new=6, learning=1, review=0)


def test_parent_limit_caps_the_tree_and_subdeck_limits_hold(setup, now):  # type: ignore[no-untyped-def]
    with setup.begin() as session:
        user, main = user_and_deck(session)
        _, sub = user_and_deck(session, "sub")
        tight = Preset(name="Tight", new_per_day=1)
        session.add(tight)
        session.flush()
        sub.preset_id = tight.id
        default_preset(session).new_per_day = 3
    with setup.begin() as session:
        user, main = user_and_deck(session)
        _, sub = user_and_deck(session, "sub")
        rolled = study.deck_tree_counts(session, user=user, now=now)
        assert rolled[sub.id].new == 1
        assert rolled[main.id].new == 3  # min(3, 5 own + 1 from the subdeck)
        assert queue(session, now).counts == rolled[main.id]
        for _ in range(3):
            answer(session, queue(session, now).card, 4, now)
        assert queue(session, now).counts.new == 0
        assert study.deck_tree_counts(session, user=user, now=now)[main.id].new == 0


def test_hidden_and_retired_cards_leave_the_counts(setup, now):  # type: ignore[no-untyped-def]
    with setup.begin() as session:
        user, main = user_and_deck(session)
        cards = session.scalars(
            select(Card).where(Card.deck_id == main.id).order_by(Card.position)).all()
        study.set_suspended(session, user=user, card_id=cards[0].id, suspended=True)
        study.bury_card(session, user=user, card_id=cards[1].id,
                        today=study.user_clock(user).day_number(now))
        cards[2].retired_at = now
    with setup() as session:
        user, main = user_and_deck(session)
        assert study.deck_list_counts(session, user=user, now=now)[main.id].new == 2
        assert queue(session, now).counts.new == 4  # plus the two in Main::Sub


def test_day_boundaries_follow_the_users_time_zone(setup, now):  # type: ignore[no-untyped-def]
    with setup.begin() as session:
        user, _ = user_and_deck(session)
        user.timezone = "America/New_York"
        card = queue(session, now).card
        answer(session, card, 4, now)
    with setup() as session:
        progress = session.scalars(
            select(CardProgress).where(CardProgress.reps == 1)
        ).one()
        assert progress.due_at is not None
        local = progress.due_at.astimezone(
            __import__("zoneinfo").ZoneInfo("America/New_York")
        )
        assert (local.hour, local.minute) == (4, 0)


def test_racing_answers_record_once(setup, now):  # type: ignore[no-untyped-def]
    """Two requests that both read version v: only the first to write wins."""
    with setup.begin() as session:
        card = queue(session, now).card
        answer(session, card, 3, now)  # version 1, a learning card
    later = now + 13 * MINUTE
    with setup() as slow:
        user, _ = user_and_deck(slow)
        seen = slow.get_one(CardProgress, (user.id, card.card_id))  # reads version 1
        assert seen.version == 1
        with setup.begin() as fast:
            fast_user, _ = user_and_deck(fast)
            study.answer_card(fast, user=fast_user, card_id=card.card_id, rating=3,
                              now=later, expected_version=1)
        # The slow request still holds version 1 in memory: its read check passes,
        # its conditional write does not.
        with pytest.raises(study.StaleAnswerError):
            study.answer_card(slow, user=user, card_id=card.card_id, rating=3,
                              now=later, expected_version=1)
        slow.rollback()
    with setup() as session:
        assert session.scalar(select(func.count()).select_from(Review)) == 2


def test_racing_first_answers_of_a_new_card_record_once(setup, now):  # type: ignore[no-untyped-def]
    with setup() as session:
        card = queue(session, now).card
    with setup.begin() as fast:
        user, _ = user_and_deck(fast)
        study.answer_card(fast, user=user, card_id=card.card_id, rating=3, now=now,
                          expected_version=0)
    with setup() as slow:
        user, _ = user_and_deck(slow)
        row = slow.get_one(Card, card.card_id)
        with pytest.raises(study.StaleAnswerError):
            # As if it had read "no progress yet" before the fast one wrote.
            study._write_progress(slow, user.id, row, None, 0, {"version": 1})
        slow.rollback()
    with setup() as session:
        assert session.scalar(select(func.count()).select_from(Review)) == 1

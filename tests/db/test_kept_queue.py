"""Kept study queues: the same cards and counts as a queue worked out afresh.

`study.study_queue` keeps a deck tree's queue in memory between answers
(`services.queue_cache`). These tests study long random sessions and compare,
after every step, what the kept queue offers with what the database says
(`_queue_from_database`), and check that every other change (bury, suspend,
undo, imports, presets, settings, another worker's answer, a rollback) makes the
kept queue be built again.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flashcards.db.engine import make_engine, make_session_factory
from flashcards.db.models import Deck, Preset, User
from flashcards.deckfile import CardSpec, DeckSpec
from flashcards.services import queue_cache, study
from flashcards.services.importing import import_deck
from flashcards.services.presets import default_preset, user_clock
from flashcards.services.users import ensure_local_user

MINUTE = dt.timedelta(minutes=1)


def basic(key: str, reverse: bool = False) -> CardSpec:
    return CardSpec(
        id=key, kind="basic", front=f"Q {key}?", back=f"A {key}", reverse=reverse
    )


def deck_spec(slug: str, name: str, count: int, reverse_every: int = 3) -> DeckSpec:
    cards = tuple(
        basic(f"{slug}-{i}", reverse=i % reverse_every == 0) for i in range(count)
    )
    return DeckSpec(id=slug, name=name, cards=cards)


@pytest.fixture
def tree(sessions: sessionmaker[Session], now: dt.datetime) -> sessionmaker[Session]:
    """A deck with two subdecks (one with a small limit of its own), siblings."""
    with sessions.begin() as session:
        ensure_local_user(session, now=now)
        default_preset(session).new_per_day = 12
        small = Preset(name="Small", new_per_day=3, reviews_per_day=4)
        session.add(small)
        for slug, name, count in (
            ("top", "Top", 9),
            ("left", "Top::Left", 8),
            ("right", "Top::Right", 7),
        ):
            import_deck(session, deck_spec(slug, name, count), now=now)
        session.flush()
        right = session.scalars(select(Deck).where(Deck.slug == "right")).one()
        right.preset_id = small.id
    return sessions


def user_and_deck(session: Session, slug: str = "top") -> tuple[User, Deck]:
    user = session.scalars(select(User)).one()
    deck = session.scalars(select(Deck).where(Deck.slug == slug)).one()
    return user, deck


def both_ways(
    session: Session, now: dt.datetime, slug: str = "top"
) -> tuple[study.StudyQueue, study.StudyQueue]:
    user, deck = user_and_deck(session, slug)
    kept = study.study_queue(session, user=user, deck=deck, now=now)
    fresh = study._queue_from_database(session, user=user, deck=deck, now=now)
    return kept, fresh


def assert_same(kept: study.StudyQueue, fresh: study.StudyQueue) -> None:
    assert kept.counts == fresh.counts
    assert (kept.card and kept.card.card_id) == (fresh.card and fresh.card.card_id)
    assert (kept.card and kept.card.version) == (fresh.card and fresh.card.version)
    assert kept.next_learning_at == fresh.next_learning_at


@pytest.mark.parametrize("seed", range(6))
def test_random_study_days_match_a_fresh_queue(
    tree: sessionmaker[Session], now: dt.datetime, seed: int
) -> None:
    """Answers of every rating over three days, checked against the database."""
    rng = random.Random(seed)
    moment = now
    for day in range(3):
        for _step in range(70):
            with tree.begin() as session:
                kept, fresh = both_ways(session, moment)
                assert_same(kept, fresh)
                if kept.card is None:
                    break
                user, _deck = user_and_deck(session)
                study.answer_card(
                    session,
                    user=user,
                    card_id=kept.card.card_id,
                    rating=rng.choice((1, 1, 2, 3, 3, 3, 4)),
                    now=moment,
                    expected_version=kept.card.version,
                )
            moment += dt.timedelta(seconds=rng.choice((5, 40, 90, 300, 700)))
        with tree.begin() as session:
            kept, fresh = both_ways(session, moment, "left")
            assert_same(kept, fresh)
        moment = now + dt.timedelta(days=day + 1)


def count_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one each time a queue is built from the database."""
    builds: list[int] = []
    real_build = study._build_kept_queue

    def counting_build(*args, **kwargs):  # type: ignore[no-untyped-def]
        builds.append(1)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(study, "_build_kept_queue", counting_build)
    return builds


def test_answers_are_carried_over_without_rebuilding(
    tree: sessionmaker[Session], now: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tree.begin() as session:
        first = both_ways(session, now)[0]
    builds = count_builds(monkeypatch)
    card = first.card
    for i in range(5):
        assert card is not None
        with tree.begin() as session:
            user, deck = user_and_deck(session)
            study.answer_card(
                session, user=user, card_id=card.card_id, rating=3,
                now=now + i * MINUTE, expected_version=card.version,
            )
            card = study.study_queue(session, user=user, deck=deck, now=now).card
    # Five new cards of "top": 0, 1, 2, 3, 4. Notes 0 and 3 have a reverse card,
    # and burying a sibling that is in today's new list needs a rebuild; the
    # other three answers are carried over.
    assert len(builds) == 2


def rebuilt_after(
    sessions: sessionmaker[Session],
    now: dt.datetime,
    change,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> bool:
    with sessions.begin() as session:
        both_ways(session, now)
    with sessions.begin() as session:
        change(session)
    with monkeypatch.context() as patch:
        builds = count_builds(patch)
        with sessions.begin() as session:
            assert_same(*both_ways(session, now))
    return bool(builds)


def first_card(session: Session, now: dt.datetime) -> study.StudyCard:
    card = both_ways(session, now)[1].card
    assert card is not None
    return card


def test_every_other_change_rebuilds_the_queue(
    tree: sessionmaker[Session], now: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = 20_000  # any day: burying needs only a later day than today's

    def bury(session: Session) -> None:
        user, _ = user_and_deck(session)
        card = first_card(session, now)
        study.bury_card(session, user=user, card_id=card.card_id, today=today)

    def suspend(session: Session) -> None:
        user, _ = user_and_deck(session)
        card = first_card(session, now)
        study.set_suspended(session, user=user, card_id=card.card_id, suspended=True)

    def new_cards_in_the_file(session: Session) -> None:
        import_deck(session, deck_spec("top", "Top", 11), now=now)

    def tighter_limit(session: Session) -> None:
        default_preset(session).new_per_day = 2

    def another_time_zone(session: Session) -> None:
        user, _ = user_and_deck(session)
        user.timezone = "Pacific/Auckland"

    def nothing(session: Session) -> None:
        pass

    for change in (bury, suspend, new_cards_in_the_file, tighter_limit,
                   another_time_zone):
        assert rebuilt_after(tree, now, change, monkeypatch), change.__name__
    assert not rebuilt_after(tree, now, nothing, monkeypatch)


def test_undo_rebuilds_and_matches(tree: sessionmaker[Session], now: dt.datetime) -> None:
    for i in range(3):
        with tree.begin() as session:
            user, _ = user_and_deck(session)
            card = first_card(session, now)
            study.answer_card(
                session, user=user, card_id=card.card_id, rating=3,
                now=now + i * MINUTE, expected_version=card.version,
            )
    for _undo in range(3):
        with tree.begin() as session:
            user, _ = user_and_deck(session)
            study.undo_last_answer(session, user=user, now=now + 3 * MINUTE)
            assert_same(*both_ways(session, now + 3 * MINUTE))


def test_an_answer_through_another_worker_makes_this_queue_stale(
    tree: sessionmaker[Session], now: dt.datetime, database_url: str
) -> None:
    """Two engines on one database, as two web workers: each keeps its own queue."""
    other_engine = make_engine(database_url)
    other = make_session_factory(other_engine)
    try:
        with tree.begin() as session:
            mine = both_ways(session, now)[0]
        with other.begin() as session:
            theirs = both_ways(session, now)[0]
            assert theirs.card is not None
            user, _ = user_and_deck(session)
            study.answer_card(
                session, user=user, card_id=theirs.card.card_id, rating=3,
                now=now, expected_version=theirs.card.version,
            )
        with tree.begin() as session:
            kept, fresh = both_ways(session, now)
            assert_same(kept, fresh)
            assert mine.card is not None and kept.card is not None
            assert kept.card.card_id != mine.card.card_id
            assert kept.counts.new == mine.counts.new - 1
    finally:
        other_engine.dispose()


def test_a_rolled_back_answer_leaves_no_trace_in_the_queue(
    tree: sessionmaker[Session], now: dt.datetime
) -> None:
    with tree.begin() as session:
        before = both_ways(session, now)[0]
    assert before.card is not None
    with tree() as session:
        user, deck = user_and_deck(session)
        study.answer_card(
            session, user=user, card_id=before.card.card_id, rating=3, now=now,
            expected_version=before.card.version,
        )
        study.study_queue(session, user=user, deck=deck, now=now)
        session.rollback()  # the request failed after answering
    with tree.begin() as session:
        kept, fresh = both_ways(session, now)
        assert_same(kept, fresh)
        assert kept.card is not None and kept.card.card_id == before.card.card_id
        assert kept.counts == before.counts


def test_a_change_that_skips_the_stamp_is_caught_at_the_card(
    tree: sessionmaker[Session], now: dt.datetime
) -> None:
    """A kept queue whose next card was suspended behind its back is rebuilt."""
    from flashcards.db.models import CardProgress

    with tree.begin() as session:
        before = both_ways(session, now)[0]
    assert before.card is not None
    with tree.begin() as session:
        user, _ = user_and_deck(session)
        # Straight to the table, as no service would: no stamp bump.
        session.connection().execute(
            CardProgress.__table__.insert().values(
                user_id=user.id, card_id=before.card.card_id,
                deck_id=before.card.deck_id, suspended=True,
            )
        )
    with tree.begin() as session:
        kept, fresh = both_ways(session, now)
        assert_same(kept, fresh)
        assert kept.card is not None and kept.card.card_id != before.card.card_id


def test_kept_queues_can_be_switched_off(
    tree: sessionmaker[Session], now: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_cache, "enabled", False)
    with tree.begin() as session:
        assert_same(*both_ways(session, now))
        user, deck = user_and_deck(session)
        assert queue_cache.kept_queue(session, user, deck.id, 0) is None


def test_learn_ahead_reaches_into_the_first_minutes_of_tomorrow(
    sessions: sessionmaker[Session], now: dt.datetime
) -> None:
    """A learning step that crosses the rollover is due at tomorrow's start; in the
    last 20 minutes of the day the learn-ahead offers it, as the database says."""
    with sessions.begin() as session:
        ensure_local_user(session, now=now)
        import_deck(session, deck_spec("solo", "Solo", 1, reverse_every=99), now=now)
        user, _deck = user_and_deck(session, "solo")
        clock = user_clock(user)
        tomorrow_starts = clock.day_start(clock.day_number(now) + 1)
    late = tomorrow_starts - 8 * MINUTE
    with sessions.begin() as session:
        kept, fresh = both_ways(session, late, "solo")
        assert kept.card is not None
        user, _ = user_and_deck(session, "solo")
        # Again: the first step (1 min); then Good: 10 min, past the rollover.
        study.answer_card(session, user=user, card_id=kept.card.card_id, rating=1,
                          now=late, expected_version=kept.card.version)
    with sessions.begin() as session:
        kept, fresh = both_ways(session, late + 2 * MINUTE, "solo")
        assert_same(kept, fresh)
        assert kept.card is not None
        user, _ = user_and_deck(session, "solo")
        study.answer_card(session, user=user, card_id=kept.card.card_id, rating=3,
                          now=late + 2 * MINUTE, expected_version=kept.card.version)
    for minutes in (3, 5, 7):
        with sessions.begin() as session:
            assert_same(*both_ways(session, late + minutes * MINUTE, "solo"))
    with sessions.begin() as session:
        kept, fresh = both_ways(session, late + 7 * MINUTE, "solo")
        assert kept.card is not None  # offered by the learn-ahead, though not counted
        assert kept.counts.learning == 0


def assert_nothing_kept_from_the_rollback(
    tree: sessionmaker[Session], now: dt.datetime, first: study.StudyCard
) -> None:
    """Another change takes the rolled-back stamp number again: a queue left from
    the rolled-back transaction would now pass for current."""
    with tree.begin() as session:
        user, _ = user_and_deck(session)
        queue_cache.queues_changed(session, user.id)
    with tree.begin() as session:
        kept, fresh = both_ways(session, now)
        assert_same(kept, fresh)
        assert kept.card is not None and kept.card.card_id == first.card_id


def test_a_released_savepoint_then_a_rollback_publishes_nothing(
    tree: sessionmaker[Session], now: dt.datetime
) -> None:
    with tree.begin() as session:
        before = both_ways(session, now)[0]
    assert before.card is not None
    with tree() as session:
        user, deck = user_and_deck(session)
        study.answer_card(
            session, user=user, card_id=before.card.card_id, rating=3, now=now,
            expected_version=before.card.version,
        )
        with session.begin_nested():
            study.study_queue(session, user=user, deck=deck, now=now)
        session.rollback()
    assert_nothing_kept_from_the_rollback(tree, now, before.card)


def test_a_queue_built_after_a_bury_is_dropped_with_its_rollback(
    tree: sessionmaker[Session], now: dt.datetime
) -> None:
    with tree.begin() as session:
        before = both_ways(session, now)[0]
    assert before.card is not None
    with tree() as session:
        user, deck = user_and_deck(session)
        today = study.user_clock(user).day_number(now)
        study.bury_card(session, user=user, card_id=before.card.card_id, today=today)
        study.study_queue(session, user=user, deck=deck, now=now)
        session.rollback()
    assert_nothing_kept_from_the_rollback(tree, now, before.card)


def test_shared_changes_bump_the_stamps_once_at_commit(
    tree: sessionmaker[Session], now: dt.datetime
) -> None:
    """An import holds no user's row while it runs: the stamps move at commit."""
    with tree.begin() as session:
        stamp = user_and_deck(session)[0].queue_stamp
        both_ways(session, now)
    with tree.begin() as session:
        import_deck(session, deck_spec("top", "Top", 12), now=now)
        session.flush()
        raw = session.connection().execute(select(User.queue_stamp)).scalar_one()
        assert raw == stamp  # not yet
        # This transaction already sees new cards, so it keeps no queue.
        user, deck = user_and_deck(session)
        assert queue_cache.kept_queue(session, user, deck.id, 0) is None
        import_deck(session, deck_spec("left", "Top::Left", 9), now=now)
    with tree.begin() as session:
        assert user_and_deck(session)[0].queue_stamp == stamp + 1
        assert_same(*both_ways(session, now))


def test_answers_follow_a_preset_change_at_once(
    tree: sessionmaker[Session], now: dt.datetime
) -> None:
    """Answering reads the deck settings a kept queue holds; a preset change makes
    them stale together with the queue."""
    with tree.begin() as session:
        first = both_ways(session, now)[0]
    with tree.begin() as session:
        default_preset(session).learning_steps = "3 30"
    assert first.card is not None
    with tree.begin() as session:
        user, _ = user_and_deck(session)
        result = study.answer_card(
            session, user=user, card_id=first.card.card_id, rating=1, now=now,
            expected_version=first.card.version,
        )
    # The new first step, 3 minutes (plus Anki's small jitter); not the old 1.
    assert result.state.due is not None
    assert now + 3 * MINUTE <= result.state.due < now + 4 * MINUTE

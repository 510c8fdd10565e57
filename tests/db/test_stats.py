"""Statistics on a real database: a hand-built history whose every figure is known.

The user lives in New York (UTC-4 in March 2026, after the DST change on 8 March)
with the default 04:00 rollover, so a review at 03:30 local on 10 March belongs to
9 March. `now` is 10 March 2026 12:00 UTC = 08:00 local: today is 10 March.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from flashcards.db.models import (
    SHARED_SCOPE,
    Card,
    CardProgress,
    Deck,
    Note,
    Review,
    User,
)
from flashcards.deckfile import CardSpec, DeckSpec
from flashcards.services import study
from flashcards.services.importing import import_deck, user_scope
from flashcards.services.stats import Statistics, collect_statistics, day_date
from flashcards.services.users import ensure_local_user
from flashcards.srs import DayClock

ZONE = "America/New_York"
NY = ZoneInfo(ZONE)
CLOCK = DayClock(ZONE, 4)
TODAY = dt.date(2026, 3, 10)


def local(text: str) -> dt.datetime:
    """'2026-03-10 05:00' in New York, as an aware UTC instant."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=NY).astimezone(dt.UTC)


def day_of(date: dt.date) -> int:
    return (date - dt.date(1970, 1, 1)).days


T = day_of(TODAY)


def basic(key: str, reverse: bool = False) -> CardSpec:
    return CardSpec(
        id=key, kind="basic", front=f"Front {key}?", back=f"Back {key}", reverse=reverse
    )


MAIN = [basic(k) for k in "abcdefghij"] + [basic("rev", reverse=True)]


@dataclass
class History:
    sessions: sessionmaker[Session]
    cards: dict[str, int]  # "key" or "key/slot" -> card id
    main_id: int
    sub_id: int
    other_id: int


def _deck(
    session: Session,
    now: dt.datetime,
    slug: str,
    name: str,
    cards: list[CardSpec],
    scope: str = SHARED_SCOPE,
    owner_id: int | None = None,
) -> Deck:
    spec = DeckSpec(id=slug, name=name, cards=tuple(cards))
    import_deck(session, spec, now=now, scope=scope, owner_id=owner_id)
    return session.scalars(select(Deck).where(Deck.slug == slug)).one()


def _answer(
    session: Session,
    user: User,
    card_id: int,
    when: dt.datetime,
    rating: int,
    phase: str,
    interval: int,
    ms: int = 1000,
) -> None:
    card = session.get_one(Card, card_id)
    session.add(
        Review(
            user_id=user.id,
            card_id=card_id,
            deck_id=card.deck_id,
            reviewed_at=when,
            review_day=CLOCK.day_number(when),
            rating=rating,
            phase=phase,
            interval_before=interval,
            interval_after=interval,
            ease_before=2.5,
            ease_after=2.5,
            duration_ms=ms,
        )
    )


def _progress(session: Session, user: User, card_id: int, **values: object) -> None:
    card = session.get_one(Card, card_id)
    defaults: dict[str, object] = {
        "phase": "review",
        "queue": "review",
        "interval_days": 1,
        "ease": 2.5,
        "reps": 1,
        "lapses": 0,
    }
    defaults.update(values)
    if defaults["queue"] == "review" and "due_day" in defaults:
        defaults["due_at"] = CLOCK.day_start(int(defaults["due_day"]))  # type: ignore[call-overload]
    session.add(
        CardProgress(user_id=user.id, card_id=card_id, deck_id=card.deck_id, **defaults)
    )


@pytest.fixture
def history(sessions: sessionmaker[Session], now: dt.datetime) -> History:
    with sessions.begin() as session:
        user = ensure_local_user(session, now=now)
        user.timezone = ZONE
        main = _deck(session, now, "main", "Main", MAIN)
        sub = _deck(session, now, "sub", "Main::Sub", [basic("s1"), basic("s2")])
        other = _deck(session, now, "other", "Other", [basic("o1")])
        session.flush()
        cards: dict[str, int] = {}
        for card, note in session.execute(select(Card, Note).join(Note)):
            key = note.key if card.slot == "front" else f"{note.key}/{card.slot}"
            cards[key] = card.id
        c = cards

        # --- the review log (local New York times) ---
        _answer(session, user, c["c"], local("2026-03-10 04:10"), 3, "new", 0, 8000)
        _answer(session, user, c["a"], local("2026-03-10 05:00"), 3, "review", 5, 5000)
        _answer(
            session, user, c["b"], local("2026-03-10 05:30"), 1, "review", 30, 12000
        )
        _answer(
            session, user, c["b"], local("2026-03-10 05:40"), 3, "relearning", 1, 4000
        )
        # Studied ahead: a second review-phase answer of `a` today (not retention).
        _answer(session, user, c["a"], local("2026-03-10 06:00"), 1, "review", 12, 6000)
        _answer(
            session, user, c["o1"], local("2026-03-10 07:00"), 1, "review", 50, 3000
        )
        # 03:30 on 10 March is before the 04:00 rollover: it counts for 9 March.
        _answer(session, user, c["e"], local("2026-03-10 03:30"), 3, "review", 40, 7000)
        _answer(session, user, c["f"], local("2026-03-09 20:00"), 2, "review", 3, 9000)
        _answer(session, user, c["f"], local("2026-03-09 21:00"), 1, "review", 3, 3000)
        _answer(
            session, user, c["s1"], local("2026-03-09 04:05"), 1, "learning", 0, 2000
        )
        _answer(
            session, user, c["g"], local("2026-03-05 12:00"), 1, "review", 25, 10000
        )
        _answer(session, user, c["h"], local("2026-02-20 10:00"), 4, "review", 10, 5000)
        for n, phase in enumerate(("new", "learning", "learning", "learning")):
            _answer(
                session, user, c["i"], local(f"2025-06-0{n + 1} 09:00"), 3, phase, 0
            )
        _answer(session, user, c["j"], local("2025-06-02 10:00"), 3, "review", 100)
        _answer(session, user, c["j"], local("2024-12-01 10:00"), 1, "review", 8)

        # --- today's card states ---
        _progress(
            session,
            user,
            c["a"],
            interval_days=12,
            ease=2.3,
            due_day=T + 5,
            lapses=1,
            reps=5,
        )
        _progress(
            session,
            user,
            c["b"],
            phase="relearning",
            queue="learning",
            interval_days=1,
            ease=2.3,
            due_at=local("2026-03-10 08:10"),
            lapses=3,
            reps=8,
            is_leech=True,
        )
        _progress(
            session,
            user,
            c["c"],
            phase="learning",
            queue="learning",
            interval_days=0,
            ease=0.0,
            due_at=local("2026-03-11 05:00"),
        )
        _progress(session, user, c["e"], interval_days=40, due_day=T)
        _progress(
            session, user, c["f"], interval_days=3, due_day=T - 2, lapses=2, reps=6
        )
        _progress(
            session,
            user,
            c["g"],
            interval_days=25,
            ease=2.1,
            due_day=T + 1,
            lapses=4,
            reps=9,
            suspended=True,
        )
        _progress(session, user, c["h"], interval_days=10, ease=2.65, due_day=T + 29)
        _progress(session, user, c["i"], interval_days=21, due_day=T + 30)
        _progress(
            session, user, c["j"], interval_days=100, due_day=T + 90, lapses=1, reps=4
        )
        _progress(session, user, c["d"], interval_days=5, due_day=T + 1, lapses=9)
        # Siblings buried by an answer: one until tomorrow, one whose day has passed.
        _progress(
            session,
            user,
            c["rev"],
            phase="new",
            queue="new",
            ease=0.0,
            interval_days=0,
            buried_until_day=T + 1,
        )
        _progress(
            session,
            user,
            c["rev/reverse"],
            phase="new",
            queue="new",
            ease=0.0,
            interval_days=0,
            buried_until_day=T,
        )
        _progress(
            session,
            user,
            c["s1"],
            phase="learning",
            queue="learning",
            interval_days=0,
            ease=0.0,
            due_at=local("2026-03-13 10:00"),
        )
        _progress(
            session, user, c["o1"], interval_days=50, due_day=T + 1, lapses=5, reps=7
        )

        # Someone else: a private deck and answers that must never show up.
        bob = User(name="bob", created_at=now, timezone=ZONE)
        session.add(bob)
        session.flush()
        _deck(
            session,
            now,
            "bobs",
            "Bob's",
            [basic("x"), basic("y")],
            scope=user_scope(bob.id),
            owner_id=bob.id,
        )
        _answer(session, bob, c["a"], local("2026-03-10 05:00"), 1, "review", 30)
        main_id, sub_id, other_id = main.id, sub.id, other.id

    with sessions.begin() as session:
        # `d` leaves its file: retired, its progress and lapses no longer count.
        import_deck(
            session,
            DeckSpec(
                id="main", name="Main", cards=tuple(s for s in MAIN if s.id != "d")
            ),
            now=now,
        )
    return History(sessions, cards, main_id, sub_id, other_id)


def stats_for(
    history: History, now: dt.datetime, deck_id: int | None = None, period: int = 30
) -> Statistics:
    with history.sessions() as session:
        user = session.scalars(select(User).where(User.name == "local")).one()
        deck = session.get(Deck, deck_id) if deck_id else None
        return collect_statistics(
            session, user=user, now=now, deck=deck, period_days=period
        )


def retention(stats: Statistics) -> dict[str, tuple[int, int, int, int]]:
    """period -> (young passed, young total, mature passed, mature total)."""
    return {
        row.key: (
            row.young.passed,
            row.young.total,
            row.mature.passed,
            row.mature.total,
        )
        for row in stats.retention
    }


# --- days ------------------------------------------------------------------------------


def test_today_is_the_local_scheduling_day(history: History, now: dt.datetime) -> None:
    stats = stats_for(history, now)
    assert stats.today == T
    assert stats.today_date == TODAY == day_date(T)
    assert stats.timezone == ZONE


def test_a_review_before_the_rollover_counts_for_the_previous_day(
    history: History, now: dt.datetime
) -> None:
    days = {d.date: d for d in stats_for(history, now).calendar.days}
    # e at 03:30 on 10 March, f twice and s1 on 9 March.
    assert days[dt.date(2026, 3, 9)].reviews == 4
    assert days[dt.date(2026, 3, 9)].milliseconds == 7000 + 9000 + 3000 + 2000
    assert days[TODAY].reviews == 6
    assert days[TODAY].milliseconds == 8000 + 5000 + 12000 + 4000 + 6000 + 3000


def test_answering_at_0330_local_through_the_study_service(
    sessions: sessionmaker[Session], now: dt.datetime
) -> None:
    with sessions.begin() as session:
        user = ensure_local_user(session, now=now)
        user.timezone = ZONE
        deck = _deck(session, now, "solo", "Solo", [basic("q")])
        card_id = session.scalars(select(Card.id)).one()
        study.answer_card(
            session,
            user=user,
            card_id=card_id,
            rating=3,
            now=local("2026-03-10 03:30"),
            expected_version=0,
            duration_ms=4000,
        )
    with sessions() as session:
        user = session.scalars(select(User)).one()
        deck = session.scalars(select(Deck)).one()
        stats = collect_statistics(session, user=user, now=now, deck=deck)
    days = {d.date: d.reviews for d in stats.calendar.days}
    assert days[dt.date(2026, 3, 9)] == 1
    assert days[TODAY] == 0
    assert stats.today_summary.answers == 0
    assert stats.calendar.streaks.current == 1  # yesterday, nothing yet today


# --- calendar and streaks ---------------------------------------------------------------------


def test_calendar_covers_whole_weeks_of_the_past_year(
    history: History, now: dt.datetime
) -> None:
    calendar = stats_for(history, now).calendar
    assert calendar.days[0].date.weekday() == 0  # a Monday
    assert calendar.days[-1].date == TODAY
    assert len(calendar.days) == 52 * 7 + TODAY.weekday() + 1
    assert calendar.days_studied == 8  # 1 Dec 2024 is more than a year ago
    assert calendar.reviews == 6 + 4 + 1 + 1 + 5 + 1 - 1  # without 1 Dec 2024
    assert calendar.max_reviews == 6


def test_streaks(history: History, now: dt.datetime) -> None:
    streaks = stats_for(history, now).calendar.streaks
    assert streaks.current == 2  # 9 and 10 March
    assert streaks.longest == 4  # 1-4 June 2025
    assert streaks.longest_start == dt.date(2025, 6, 1)
    assert streaks.longest_end == dt.date(2025, 6, 4)
    assert streaks.days_studied == 9


def test_streak_ends_yesterday_until_today_has_an_answer(
    history: History,
) -> None:
    # 03:00 on 11 March is still the scheduling day 10 March.
    assert stats_for(history, local("2026-03-11 03:00")).calendar.streaks.current == 2
    # Later on 11 March, nothing answered yet: the streak still counts.
    assert stats_for(history, local("2026-03-11 12:00")).calendar.streaks.current == 2
    # A whole day without answers ends it.
    assert stats_for(history, local("2026-03-12 12:00")).calendar.streaks.current == 0


# --- reviews, buttons, today --------------------------------------------------------------


def test_reviews_per_day_by_phase(history: History, now: dt.datetime) -> None:
    reviews = stats_for(history, now).reviews
    assert reviews.bucket_days == 1
    assert len(reviews.buckets) == 30
    today, yesterday = reviews.buckets[-1], reviews.buckets[-2]
    assert today.start == TODAY
    assert (today.learning, today.review, today.relearning) == (1, 4, 1)
    assert today.learning_ms == 8000
    assert today.review_ms == 5000 + 12000 + 6000 + 3000
    assert today.relearning_ms == 4000
    assert (yesterday.learning, yesterday.review, yesterday.relearning) == (1, 3, 0)
    assert reviews.total == 12  # 10, 9 and 5 March, 20 February
    assert reviews.days_studied == 4
    assert reviews.average_per_day == pytest.approx(12 / 30)


def test_year_view_is_weekly(history: History, now: dt.datetime) -> None:
    reviews = stats_for(history, now, period=365).reviews
    assert reviews.bucket_days == 7
    assert len(reviews.buckets) == 53
    assert reviews.buckets[-1].first_day == T - 6
    assert reviews.buckets[-1].total == 6 + 4 + 1  # 4 to 10 March
    assert reviews.buckets[0].first_day == T - 364  # cut at the period start
    assert reviews.total == 17


def test_answer_buttons_by_phase(history: History, now: dt.datetime) -> None:
    buttons = {row.group: row.counts for row in stats_for(history, now).buttons}
    assert buttons == {
        "learning": (1, 0, 1, 0),  # s1 Again, c Good
        "young": (2, 1, 1, 1),  # a Good + Again, f Hard + Again, h Easy
        "mature": (3, 0, 1, 0),  # b, g, o1 Again; e Good
        "relearning": (0, 0, 1, 0),
    }


def test_today_summary(history: History, now: dt.datetime) -> None:
    today = stats_for(history, now).today_summary
    assert (today.answers, today.learning, today.review, today.relearning) == (
        6,
        1,
        4,
        1,
    )
    assert today.again == 3
    assert today.correct == pytest.approx(0.5)
    assert today.milliseconds == 38000


# --- true retention -------------------------------------------------------------------------


def test_true_retention_counts_the_first_review_of_each_card_each_day(
    history: History, now: dt.datetime
) -> None:
    assert retention(stats_for(history, now)) == {
        "today": (
            1,
            1,
            0,
            2,
        ),  # a passes (its study-ahead Again doesn't count); b, o1 fail
        "yesterday": (1, 1, 1, 1),  # f's first answer passes, e at 03:30 passes
        "week": (2, 2, 1, 4),  # + g failed on 5 March
        "month": (3, 3, 1, 4),  # + h on 20 February
        "year": (3, 3, 2, 5),  # + j in June 2025; not its answer of December 2024
    }
    rows = {row.key: row for row in stats_for(history, now).retention}
    assert rows["week"].all.rate == pytest.approx(3 / 6)
    assert rows["today"].mature.rate == 0
    assert rows["today"].mature.failed == 2


def test_retention_of_one_deck_tree(history: History, now: dt.datetime) -> None:
    assert retention(stats_for(history, now, history.main_id))["today"] == (1, 1, 0, 1)
    assert retention(stats_for(history, now, history.other_id))["today"] == (0, 0, 0, 1)


def test_retention_is_empty_without_reviews(history: History, now: dt.datetime) -> None:
    rows = stats_for(history, now, history.sub_id).retention
    assert all(row.all.total == 0 and row.all.rate is None for row in rows)


# --- card progress -----------------------------------------------------------------------------


def test_card_states_of_a_deck_tree(history: History, now: dt.datetime) -> None:
    states = stats_for(history, now, history.main_id).states
    assert states.items() == [
        ("new", "New", 2),  # s2 (no progress) and the sibling whose bury ended
        ("learning", "Learning", 3),  # b relearning, c, s1
        ("young", "Young", 3),  # a, f, h
        ("mature", "Mature", 3),  # e, i (21 days), j
        ("suspended", "Suspended", 1),  # g
        ("buried", "Buried", 1),
    ]
    assert states.total == 13  # d was removed from its file
    assert states.leeches == 1


def test_card_states_of_everything_leave_out_other_peoples_decks(
    history: History, now: dt.datetime
) -> None:
    states = stats_for(history, now).states
    assert states.total == 14
    assert states.mature == 4


def test_forecast(history: History, now: dt.datetime) -> None:
    forecast = stats_for(history, now, history.main_id).forecast
    days = {d.offset: (d.learning, d.young, d.mature) for d in forecast.days if d.total}
    assert days == {
        0: (1, 1, 1),  # b learning; f overdue (young), e due today (mature)
        1: (1, 0, 0),  # c tomorrow 05:00; g is suspended, d removed
        3: (1, 0, 0),  # s1's day-long step
        5: (0, 1, 0),
        29: (0, 1, 0),
        30: (0, 0, 1),  # i: within 90 days only; j (90 days) is beyond
    }
    assert len(forecast.days) == 90
    assert forecast.days[0].date == TODAY
    assert forecast.overdue == 1
    assert forecast.due_tomorrow == 1
    assert forecast.total(30) == 7
    assert forecast.total(90) == 8
    assert stats_for(history, now).forecast.due_tomorrow == 2  # o1 in Other


def test_intervals_and_ease(history: History, now: dt.datetime) -> None:
    stats = stats_for(history, now, history.main_id)
    intervals = {b.label: b.count for b in stats.intervals.buckets if b.count}
    assert intervals == {
        "1 d": 1,
        "3 d": 1,
        "7–13 d": 2,
        "21–30 d": 2,
        "1–2 mo": 1,
        "3–6 mo": 1,
    }
    assert stats.intervals.count == 8
    assert stats.intervals.average == pytest.approx(212 / 8)
    assert stats.intervals.median == pytest.approx(16.5)
    assert stats.intervals.maximum == 100
    assert all(b.mature == (b.low >= 21) for b in stats.intervals.buckets)
    ease = {b.label: b.count for b in stats.ease.buckets if b.count}
    assert ease == {"210%": 1, "230%": 2, "250%": 4, "260%": 1}
    assert stats.ease.average == pytest.approx(1935 / 8)
    labels = [b.label for b in stats.ease.buckets]
    assert labels[0] == "130%" and labels[-1] == "260%"


def test_hardest_cards(history: History, now: dt.datetime) -> None:
    hardest = stats_for(history, now, history.main_id).hardest
    assert [(c.note_key, c.lapses) for c in hardest] == [
        ("g", 4),
        ("b", 3),
        ("f", 2),
        ("a", 1),  # more reviews than j
        ("j", 1),
    ]
    first = hardest[0]
    assert first.card_id == history.cards["g"]
    assert first.deck_name == "Main"
    assert first.question == "Front g?"
    assert first.suspended
    assert hardest[1].is_leech
    everything = stats_for(history, now).hardest
    assert everything[0].note_key == "o1"
    assert "d" not in [c.note_key for c in everything]


def test_reverse_and_cloze_questions(
    sessions: sessionmaker[Session], now: dt.datetime
) -> None:
    with sessions.begin() as session:
        user = ensure_local_user(session, now=now)
        _deck(
            session,
            now,
            "q",
            "Q",
            [
                basic("r", reverse=True),
                CardSpec(id="z", kind="cloze", cloze="The {{c1::sun}} is a star."),
            ],
        )
        for card in session.scalars(select(Card)):
            _progress(session, user, card.id, lapses=1, due_day=T + 1)
    with sessions() as session:
        user = session.scalars(select(User)).one()
        hardest = collect_statistics(session, user=user, now=now).hardest
    assert {(c.note_key, c.slot): c.question for c in hardest} == {
        ("r", "front"): "Front r?",
        ("r", "reverse"): "Back r",
        ("z", "c1"): "The {{c1::sun}} is a star.",
    }


# --- scope, empty, JSON -----------------------------------------------------------------


def test_other_users_answers_never_count(history: History, now: dt.datetime) -> None:
    stats = stats_for(history, now)
    assert stats.today_summary.answers == 6  # bob's answer to `a` is not ours


def test_a_deck_includes_its_subdecks_only(history: History, now: dt.datetime) -> None:
    stats = stats_for(history, now, history.main_id)
    assert stats.deck_name == "Main"
    assert stats.today_summary.answers == 5  # not o1 in Other
    days = {d.date: d.reviews for d in stats.calendar.days}
    assert days[dt.date(2026, 3, 9)] == 4  # s1 is in Main::Sub
    sub = stats_for(history, now, history.sub_id)
    assert sub.calendar.reviews == 1
    assert sub.calendar.streaks.current == 1


def test_empty_collection(sessions: sessionmaker[Session], now: dt.datetime) -> None:
    with sessions.begin() as session:
        ensure_local_user(session, now=now)
    with sessions() as session:
        user = session.scalars(select(User)).one()
        stats = collect_statistics(session, user=user, now=now)
    assert stats.calendar.reviews == 0
    assert stats.calendar.streaks.longest == 0
    assert stats.reviews.total == 0
    assert stats.states.total == 0
    assert stats.intervals.average is None
    assert stats.ease.median is None
    assert stats.forecast.total(90) == 0
    assert stats.hardest == ()
    json.dumps(stats.to_dict())


def test_to_dict_is_json_with_derived_figures(
    history: History, now: dt.datetime
) -> None:
    data = json.loads(json.dumps(stats_for(history, now).to_dict()))
    assert data["today_date"] == "2026-03-10"
    assert data["calendar"]["streaks"]["current"] == 2
    assert data["forecast"]["total_30"] == 8
    assert data["retention"][0]["all"] == {
        "passed": 1,
        "total": 3,
        "failed": 2,
        "rate": pytest.approx(0.3333),
    }
    assert data["buttons"][1]["correct"] == pytest.approx(0.6)
    # Only days with answers are listed.
    assert [d["date"] for d in data["calendar"]["days"]][-2:] == [
        "2026-03-09",
        "2026-03-10",
    ]


def test_period_must_be_one_of_the_choices(history: History, now: dt.datetime) -> None:
    with pytest.raises(ValueError, match="period_days"):
        stats_for(history, now, period=7)


# --- the command -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _cli_clock(monkeypatch: pytest.MonkeyPatch, now: dt.datetime) -> None:
    monkeypatch.setattr("flashcards.stats_cli._now", lambda: now)


def _run_cli(database_url: str, tmp_path: Path, *args: str) -> Result:
    """`flashcards stats ...` on the test database, through a group like cli.main."""
    import click

    from flashcards.cli import Context
    from flashcards.config import Settings
    from flashcards.stats_cli import stats_command

    @click.group()
    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = Context(
            Settings(
                instance_dir=tmp_path / "instance",
                database_url=database_url,
                decks_dir=tmp_path / "decks",
            )
        )

    root.add_command(stats_command)
    return CliRunner().invoke(root, ["stats", *args])


def test_command_prints_the_figures(
    history: History, database_url: str, tmp_path: Path
) -> None:
    result = _run_cli(database_url, tmp_path)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Statistics of all decks" in out
    assert "America/New_York, days start at 04:00" in out
    assert "current streak 2 days, longest 4 days (2025-06-01 – 2025-06-04)" in out
    assert "Today\n  6 answers in 38 s, 50.0% correct" in out
    assert "Hardest cards" in out and "o1" in out
    lines = out.splitlines()
    today_row = next(line for line in lines if line.strip().startswith("Today  "))
    assert today_row.split() == [
        "Today",
        "1/1",
        "100.0%",
        "0/2",
        "0.0%",
        "1/3",
        "33.3%",
    ]


def test_command_json_for_one_deck(
    history: History, database_url: str, tmp_path: Path
) -> None:
    result = _run_cli(
        database_url, tmp_path, "--deck", "main", "--json", "--period", "90"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["deck_name"] == "Main"
    assert data["period_days"] == 90
    assert data["states"]["total"] == 13
    by_number = _run_cli(
        database_url, tmp_path, "--deck", str(history.main_id), "--json"
    )
    assert json.loads(by_number.output)["deck_id"] == history.main_id


def test_command_refuses_unknown_decks_and_users(
    history: History, database_url: str, tmp_path: Path
) -> None:
    result = _run_cli(database_url, tmp_path, "--deck", "nope")
    assert result.exit_code == 1
    assert "There is no deck “nope”" in result.output
    private = _run_cli(database_url, tmp_path, "--deck", "bobs")
    assert private.exit_code == 1  # bob's own deck is not the local user's to see
    assert (
        _run_cli(database_url, tmp_path, "--user", "bob", "--deck", "bobs").exit_code
        == 0
    )
    assert _run_cli(database_url, tmp_path, "--user", "carol").exit_code == 1


def test_same_figures_with_the_statistics_indexes(
    history: History, now: dt.datetime
) -> None:
    """With STATS_INDEXES (as migrated) the queries take other paths (loose index
    scan, covering indexes) than without them, to the very same figures."""
    from sqlalchemy import text

    from flashcards.services.stats import STATS_INDEXES

    with_indexes = [
        stats_for(history, now, deck).to_dict() for deck in (None, history.sub_id)
    ]
    with history.sessions.begin() as session:
        for name in STATS_INDEXES:
            session.execute(text(f"DROP INDEX {name}"))
    # A new engine, as after a restart: the indexes are looked up once per engine.
    bind = history.sessions.kw["bind"]
    fresh = sessionmaker(bind=create_engine(bind.url))
    history = History(
        fresh, history.cards, history.main_id, history.sub_id, history.other_id
    )
    without = [
        stats_for(history, now, deck).to_dict() for deck in (None, history.sub_id)
    ]
    assert without == with_indexes
    assert without[0]["calendar"]["streaks"]["longest"] == 4
    fresh.kw["bind"].dispose()

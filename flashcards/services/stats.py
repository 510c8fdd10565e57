"""Statistics of one user's study, overall or for one deck tree, as Anki shows them.

Place in the data flow: database (review log + card progress) -> this module ->
`web/stats.py` (SVG charts and tables) and `stats_cli.py` (terminal text / JSON).
Every figure is an aggregate computed by the database (GROUP BY review day, phase,
rating, due day, interval...); Python only folds the few aggregated rows into
periods, buckets and streaks. The review log is never loaded row by row.

Days are the user's scheduling days (`Review.review_day`, `srs.DayClock`): a review
at 03:30 before a 04:00 rollover belongs to the previous day, and day number `n` is
the local date 1970-01-01 + n days.

Definitions (Anki's):
- phases of an answer are the phase *before* it; "learning" answers include the
  first answer of a new card;
- young = interval < 21 days, mature = interval >= 21 days;
- true retention counts answers given in the review phase (interval_before >= 1),
  only the first such answer of each card each day; pass = rating > 1;
- a streak is consecutive days with at least one answer, ending today (or
  yesterday when nothing was answered yet today);
- card states are exclusive, in this order: suspended, buried, new, learning,
  young, mature; leeches are counted apart (a leech also has one of those states).
  Cards removed from their deck file are not counted.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    case,
    func,
    inspect,
    literal_column,
    or_,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased

from flashcards.db.models import Card, CardProgress, Deck, Note, Review, User
from flashcards.services.decks import visible_decks_clause
from flashcards.services.presets import user_clock
from flashcards.services.study import deck_tree_ids
from flashcards.srs import DayClock

MATURE_DAYS = 21
PERIODS = (30, 90, 365)
FORECAST_DAYS = 90
HEATMAP_WEEKS = 53
HARDEST_LIMIT = 10
RATINGS = (1, 2, 3, 4)
RATING_NAMES = {1: "Again", 2: "Hard", 3: "Good", 4: "Easy"}
_EPOCH = dt.date(1970, 1, 1)

# Interval buckets (days, inclusive); young buckets end before 21, mature start at it.
INTERVAL_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1 d", 1, 1),
    ("2 d", 2, 2),
    ("3 d", 3, 3),
    ("4–6 d", 4, 6),
    ("7–13 d", 7, 13),
    ("14–20 d", 14, 20),
    ("21–30 d", 21, 30),
    ("1–2 mo", 31, 60),
    ("2–3 mo", 61, 90),
    ("3–6 mo", 91, 182),
    ("6–12 mo", 183, 365),
    ("1–2 y", 366, 730),
    ("2 y+", 731, None),
)
EASE_LOW = 130
EASE_HIGH = 300
EASE_STEP = 10


# The indexes the statistics are fastest with (the migrations create them); each
# query still works, only slower, without them. Name -> (table, columns).
STATS_INDEXES: dict[str, tuple[str, tuple[str, ...]]] = {
    # Answers per day, phase and rating stream from it without sorting (calendar,
    # reviews, buttons, retention totals); study days by a loose index scan.
    "ix_reviews_user_day": (
        "reviews",
        (
            "user_id",
            "review_day",
            "phase",
            "rating",
            "interval_before",
            "duration_ms",
            "deck_id",
        ),
    ),
    # Cards answered twice in the review phase on one day (true retention).
    "ix_reviews_user_phase_day": (
        "reviews",
        ("user_id", "phase", "review_day", "card_id", "interval_before", "deck_id"),
    ),
    # Intervals and ease, grouped in index order (deck and card: still covering
    # for one deck and with removed cards left out).
    "ix_card_progress_user_interval": (
        "card_progress",
        ("user_id", "phase", "interval_days", "ease", "deck_id", "card_id"),
    ),
    # The forecast: due reviews by day.
    "ix_card_progress_user_due": (
        "card_progress",
        (
            "user_id",
            "queue",
            "due_day",
            "suspended",
            "interval_days",
            "deck_id",
            "card_id",
        ),
    ),
    # The hardest cards: the top of the lapses.
    "ix_card_progress_user_lapses": ("card_progress", ("user_id", "lapses", "reps")),
}


def day_date(day: int) -> dt.date:
    """The local date of scheduling day `day` (day 0 is 1970-01-01)."""
    return _EPOCH + dt.timedelta(days=day)


# --- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class Streaks:
    current: int
    longest: int
    longest_start: dt.date | None
    longest_end: dt.date | None
    days_studied: int  # all time


@dataclass(frozen=True)
class CalendarDay:
    day: int
    date: dt.date
    reviews: int
    milliseconds: int


@dataclass(frozen=True)
class Calendar:
    """The heatmap: whole weeks (Monday first) ending with the week of today."""

    first_day: int
    today: int
    days: tuple[CalendarDay, ...]  # every day of the grid up to today, in order
    streaks: Streaks
    days_studied: int  # days with answers in the past 365 days
    reviews: int  # answers in the past 365 days

    @property
    def max_reviews(self) -> int:
        return max((d.reviews for d in self.days), default=0)


@dataclass(frozen=True)
class ReviewBucket:
    """Answers of one day (or one week in the year view), by the phase before them."""

    first_day: int
    last_day: int
    start: dt.date
    end: dt.date
    learning: int = 0
    review: int = 0
    relearning: int = 0
    learning_ms: int = 0
    review_ms: int = 0
    relearning_ms: int = 0

    @property
    def total(self) -> int:
        return self.learning + self.review + self.relearning

    @property
    def milliseconds(self) -> int:
        return self.learning_ms + self.review_ms + self.relearning_ms


@dataclass(frozen=True)
class ReviewHistory:
    period_days: int
    bucket_days: int  # 1 (per day) or 7 (per week)
    buckets: tuple[ReviewBucket, ...]
    days_studied: int

    @property
    def total(self) -> int:
        return sum(b.total for b in self.buckets)

    @property
    def milliseconds(self) -> int:
        return sum(b.milliseconds for b in self.buckets)

    @property
    def average_per_day(self) -> float:
        return self.total / self.period_days

    @property
    def seconds_per_answer(self) -> float:
        return self.milliseconds / 1000 / self.total if self.total else 0.0


@dataclass(frozen=True)
class TodaySummary:
    """Today's answers: how many, how long, and how many were Again."""

    answers: int
    milliseconds: int
    learning: int
    review: int
    relearning: int
    again: int

    @property
    def correct(self) -> float | None:
        return (self.answers - self.again) / self.answers if self.answers else None


@dataclass(frozen=True)
class ForecastDay:
    offset: int  # 0 = today
    day: int
    date: dt.date
    learning: int
    young: int
    mature: int

    @property
    def total(self) -> int:
        return self.learning + self.young + self.mature


@dataclass(frozen=True)
class Forecast:
    """Cards due on each of the next days; overdue reviews count on day 0."""

    days: tuple[ForecastDay, ...]
    overdue: int

    def total(self, days: int) -> int:
        return sum(d.total for d in self.days[:days])

    def average(self, days: int) -> float:
        return self.total(days) / days

    @property
    def due_tomorrow(self) -> int:
        return self.days[1].total if len(self.days) > 1 else 0


@dataclass(frozen=True)
class Bucket:
    label: str
    low: int
    high: int | None
    count: int
    mature: bool = False


@dataclass(frozen=True)
class Distribution:
    buckets: tuple[Bucket, ...]
    count: int
    average: float | None
    median: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class ButtonRow:
    """Answers given in one phase group, by the button pressed."""

    group: str  # learning, young, mature, relearning
    label: str
    counts: tuple[int, int, int, int]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def correct(self) -> float | None:
        return (self.total - self.counts[0]) / self.total if self.total else None


@dataclass(frozen=True)
class Pass:
    passed: int
    total: int

    @property
    def failed(self) -> int:
        return self.total - self.passed

    @property
    def rate(self) -> float | None:
        return self.passed / self.total if self.total else None


@dataclass(frozen=True)
class RetentionRow:
    key: str  # today, yesterday, week, month, year
    label: str
    first_day: int
    last_day: int
    young: Pass
    mature: Pass

    @property
    def all(self) -> Pass:
        return Pass(
            self.young.passed + self.mature.passed, self.young.total + self.mature.total
        )


@dataclass(frozen=True)
class CardStates:
    new: int = 0
    learning: int = 0
    young: int = 0
    mature: int = 0
    suspended: int = 0
    buried: int = 0
    leeches: int = 0

    @property
    def total(self) -> int:
        return (
            self.new
            + self.learning
            + self.young
            + self.mature
            + self.suspended
            + self.buried
        )

    def items(self) -> list[tuple[str, str, int]]:
        """(key, label, count) for the exclusive states, in display order."""
        return [
            ("new", "New", self.new),
            ("learning", "Learning", self.learning),
            ("young", "Young", self.young),
            ("mature", "Mature", self.mature),
            ("suspended", "Suspended", self.suspended),
            ("buried", "Buried", self.buried),
        ]


@dataclass(frozen=True)
class HardCard:
    card_id: int
    deck_id: int
    deck_name: str
    note_key: str
    slot: str
    question: str
    lapses: int
    reps: int
    ease: float
    interval_days: int
    is_leech: bool
    suspended: bool


@dataclass(frozen=True)
class Statistics:
    """Everything the statistics page and `flashcards stats` show."""

    today: int
    today_date: dt.date
    timezone: str
    rollover_hour: int
    deck_id: int | None
    deck_name: str | None
    period_days: int
    today_summary: TodaySummary
    calendar: Calendar
    reviews: ReviewHistory
    buttons: tuple[ButtonRow, ...]
    retention: tuple[RetentionRow, ...]
    forecast: Forecast
    intervals: Distribution
    ease: Distribution
    states: CardStates
    hardest: tuple[HardCard, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (dates as ISO strings), derived figures included."""
        data: dict[str, Any] = _jsonable(self)
        return data


# --- the service ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    """Whose figures, which decks, and which day is today."""

    user_id: int
    today: int
    deck_ids: tuple[int, ...]  # the decks whose cards count
    whole_collection: bool  # then the review log is filtered by user only
    # SQLite keeps no statistics (no ANALYZE), so for "all of this user's progress"
    # it would walk the primary key and fetch each row at random; reading the
    # table in order is several times faster there.
    scan_progress: bool = False
    has_retired: bool = True  # any removed cards in these decks?

    def reviews(self, *, by_user: bool = True) -> list[ColumnElement[bool]]:
        """This user's answers to cards of the decks in scope.

        `by_user=False` writes the user condition as `user_id + 0`, which keeps
        the database from choosing an index that starts with user_id.
        """
        user = Review.user_id if by_user else Review.user_id + 0
        where: list[ColumnElement[bool]] = [user == self.user_id]
        if not self.whole_collection:
            where.append(Review.deck_id.in_(self.deck_ids))
        return where

    def _user(self, index: bool) -> ColumnElement[bool]:
        # For the whole collection on SQLite, which keeps no statistics, the user
        # condition is written `user_id + 0` unless `index` says a covering index
        # serves the query: otherwise SQLite walks the primary key and reads each
        # row at random, several times slower than reading the table in order.
        scan = self.scan_progress and not index
        user = CardProgress.user_id + 0 if scan else CardProgress.user_id
        return user == self.user_id

    def _retired(self) -> Any:
        return select(Card.id).where(
            Card.retired_at.is_not(None), Card.deck_id.in_(self.deck_ids)
        )

    def progress(self, *, index: bool = False) -> list[ColumnElement[bool]]:
        """This user's progress rows on the live cards of the decks in scope."""
        where = [self._user(index)]
        if self.has_retired:
            where.append(CardProgress.card_id.not_in(self._retired()))
        if not self.whole_collection:
            where.append(CardProgress.deck_id.in_(self.deck_ids))
        return where

    def progress_terms(
        self, *, index: bool = False
    ) -> list[tuple[int, list[ColumnElement[bool]]]]:
        """The same rows for counting, as (sign, conditions) terms to add up.

        Cards removed from their deck files are few: counting all rows and
        subtracting theirs (found from the cards index) is cheaper than testing
        every row with NOT IN.
        """
        decks = (
            [] if self.whole_collection else [CardProgress.deck_id.in_(self.deck_ids)]
        )
        terms = [(1, [self._user(index), *decks])]
        if self.has_retired:
            terms.append(
                (
                    -1,
                    [
                        CardProgress.user_id == self.user_id,
                        CardProgress.card_id.in_(self._retired()),
                        *decks,
                    ],
                )
            )
        return terms


def collect_statistics(
    session: Session,
    *,
    user: User,
    now: dt.datetime,
    deck: Deck | None = None,
    period_days: int = 30,
) -> Statistics:
    """The statistics of `user` at `now`, for `deck` and its subdecks or everything.

    `period_days` (30, 90 or 365) is the span of the reviews chart and the answer
    buttons; the calendar and true retention cover the past year, the forecast
    the next 90 days.
    """
    if period_days not in PERIODS:
        raise ValueError(f"period_days must be one of {PERIODS}, got {period_days}")
    clock = user_clock(user)
    today = clock.day_number(now)
    if deck is None:
        deck_ids = tuple(
            _db(session).scalars(select(Deck.id).where(visible_decks_clause(user.id)))
        )
    else:
        deck_ids = tuple(deck_tree_ids(session, deck, user_id=user.id))
    scope = _Scope(
        user_id=user.id,
        today=today,
        deck_ids=deck_ids,
        whole_collection=deck is None,
        scan_progress=deck is None and session.get_bind().dialect.name == "sqlite",
        has_retired=_db(session).scalar(
            select(Card.id)
            .where(Card.deck_id.in_(deck_ids), Card.retired_at.is_not(None))
            .limit(1)
        )
        is not None,
    )
    first_day = _calendar_first_day(today)
    daily = _daily_rows(session, scope, min(first_day, today - 364))
    states, intervals, ease = _progress_figures(session, scope)
    return Statistics(
        today=today,
        today_date=day_date(today),
        timezone=user.timezone,
        rollover_hour=user.rollover_hour,
        deck_id=deck.id if deck else None,
        deck_name=deck.name if deck else None,
        period_days=period_days,
        today_summary=_today(daily, today),
        calendar=_calendar(daily, first_day, today, _streaks(session, scope)),
        reviews=_review_history(daily, today, period_days),
        buttons=_buttons(daily, today - period_days + 1),
        retention=_retention(session, scope, daily),
        forecast=_forecast(session, scope, clock),
        intervals=intervals,
        ease=ease,
        states=states,
        hardest=_hardest(session, scope),
    )


# --- the review log ----------------------------------------------------------------------


@dataclass(frozen=True)
class _DailyRow:
    """Answers of one day with one phase and rating (an aggregated row)."""

    day: int
    phase: str
    rating: int
    count: int
    milliseconds: int
    mature: int  # of `count`, answered with interval_before >= 21
    no_interval: int  # of `count`, answered with interval_before < 1

    @property
    def young(self) -> int:
        """Answered with 1 <= interval_before < 21."""
        return self.count - self.mature - self.no_interval


def _literal(value: int) -> Any:
    # Literal SQL rather than bound parameters: PostgreSQL must see the very same
    # expression in SELECT and GROUP BY.
    return literal_column(str(value))


def _flag(condition: ColumnElement[bool]) -> Any:
    """1 where `condition` holds, else 0 (literal SQL, safe to GROUP BY)."""
    return case((condition, _literal(1)), else_=_literal(0))


def _daily_rows(session: Session, scope: _Scope, since: int) -> list[_DailyRow]:
    """Answers per (day, phase, rating) since day `since`: one pass over the log.

    Grouped in the order of the index (user_id, review_day, phase, rating, ...),
    the database streams the groups without sorting. Calendar, reviews chart,
    answer buttons and the retention totals all fold these few thousand rows.
    """
    interval = Review.interval_before
    rows = _db(session).execute(
        select(
            Review.review_day,
            Review.phase,
            Review.rating,
            func.count(),
            func.coalesce(func.sum(Review.duration_ms), 0),
            func.sum(_flag(interval >= _literal(MATURE_DAYS))),
            func.sum(_flag(interval < _literal(1))),
        )
        .where(
            *scope.reviews(),
            Review.review_day >= since,
            Review.review_day <= scope.today,
        )
        .group_by(Review.review_day, Review.phase, Review.rating)
    )
    return [
        _DailyRow(day, phase, rating, count, int(ms), int(mature), int(low))
        for day, phase, rating, count, ms, mature, low in rows
    ]


def _db(session: Session) -> Connection:
    """The session's connection: plain Core rows, no ORM bookkeeping per row."""
    return session.connection()


def _has_index(session: Session, table: str, *columns: str) -> bool:
    """Does an index of `table` start with `columns`? Asked once per engine.

    The statistics read the log and the progress rows through covering indexes
    when the schema has them (see `STATS_INDEXES`), and fall back to plain
    scans when it has not.
    """
    connection = session.connection()
    key = (table, columns)
    known = _INDEXES.setdefault(connection.engine, {})
    if key not in known:
        known[key] = any(
            tuple(index["column_names"][: len(columns)]) == columns
            for index in inspect(connection).get_indexes(table)
        )
    return known[key]


_INDEXES: weakref.WeakKeyDictionary[Engine, dict[tuple[str, tuple[str, ...]], bool]] = (
    weakref.WeakKeyDictionary()
)


def _streaks(session: Session, scope: _Scope) -> Streaks:
    """Runs of consecutive study days over all history (gaps and islands, in SQL).

    With an index on (user_id, review_day) the study days are read by a loose
    index scan: a recursive query that seeks the next day with answers, one
    seek per day instead of one row per answer. Without that index the seeks
    would each scan the log, so one DISTINCT scan it is. A day minus its rank
    is constant within a run of consecutive days.
    """
    in_scope = (*scope.reviews(), Review.review_day <= scope.today)
    if _has_index(session, "reviews", "user_id", "review_day"):
        first = (
            select(func.min(Review.review_day).label("day"))
            .where(*in_scope)
            .cte("study_days", recursive=True)
        )
        following = (
            select(func.min(Review.review_day))
            .where(*in_scope, Review.review_day > first.c.day)
            .scalar_subquery()
        )
        days: Any = first.union_all(select(following).where(first.c.day.is_not(None)))
    else:
        days = (
            select(Review.review_day.label("day"))
            .where(*in_scope)
            .group_by(Review.review_day)
            .subquery()
        )
    island = (
        select(
            days.c.day,
            (days.c.day - func.row_number().over(order_by=days.c.day)).label("island"),
        ).where(days.c.day.is_not(None))
    ).subquery()
    runs = (
        _db(session)
        .execute(
            select(func.min(island.c.day), func.max(island.c.day), func.count())
            .group_by(island.c.island)
            .order_by(func.max(island.c.day))
        )
        .all()
    )
    if not runs:
        return Streaks(0, 0, None, None, 0)
    longest = max(runs, key=lambda r: (r[2], r[1]))
    _, last_end, last_length = runs[-1]
    current = last_length if last_end >= scope.today - 1 else 0
    return Streaks(
        current=current,
        longest=longest[2],
        longest_start=day_date(longest[0]),
        longest_end=day_date(longest[1]),
        days_studied=sum(r[2] for r in runs),
    )


def _calendar_first_day(today: int) -> int:
    """The Monday that starts the heatmap: 53 weeks with today in the last column."""
    monday_this_week = today - day_date(today).weekday()
    return monday_this_week - 7 * (HEATMAP_WEEKS - 1)


def _calendar(
    daily: Sequence[_DailyRow], first_day: int, today: int, streaks: Streaks
) -> Calendar:
    counts: dict[int, list[int]] = {}
    for row in daily:
        if row.day >= first_day:
            entry = counts.setdefault(row.day, [0, 0])
            entry[0] += row.count
            entry[1] += row.milliseconds
    days = tuple(
        CalendarDay(day, day_date(day), *counts.get(day, (0, 0)))
        for day in range(first_day, today + 1)
    )
    year = [d for d in days if d.day > today - 365]
    return Calendar(
        first_day=first_day,
        today=today,
        days=days,
        streaks=streaks,
        days_studied=sum(1 for d in year if d.reviews),
        reviews=sum(d.reviews for d in year),
    )


def _today(daily: Sequence[_DailyRow], today: int) -> TodaySummary:
    groups = {"learning": 0, "review": 0, "relearning": 0}
    milliseconds = again = 0
    for row in daily:
        if row.day == today:
            groups[_phase_group(row.phase)] += row.count
            milliseconds += row.milliseconds
            again += row.count if row.rating == 1 else 0
    return TodaySummary(
        answers=sum(groups.values()),
        milliseconds=milliseconds,
        again=again,
        **groups,
    )


def _phase_group(phase: str) -> str:
    return "learning" if phase in ("new", "learning") else phase


_BUCKET_FIELDS = (
    "learning",
    "review",
    "relearning",
    "learning_ms",
    "review_ms",
    "relearning_ms",
)


def _review_history(
    daily: Sequence[_DailyRow], today: int, period_days: int
) -> ReviewHistory:
    """Answers per day (per week in the year view) by phase, ending today."""
    bucket_days = 7 if period_days > 90 else 1
    first = today - period_days + 1
    sums: dict[int, dict[str, int]] = {}
    studied: set[int] = set()
    for row in daily:
        if row.day < first:
            continue
        studied.add(row.day)
        index = (today - row.day) // bucket_days
        entry = sums.setdefault(index, {})
        group = _phase_group(row.phase)
        entry[group] = entry.get(group, 0) + row.count
        entry[group + "_ms"] = entry.get(group + "_ms", 0) + row.milliseconds
    buckets = []
    for index in reversed(range(-(-period_days // bucket_days))):
        last = today - index * bucket_days
        start = max(first, last - bucket_days + 1)
        values = sums.get(index, {})
        buckets.append(
            ReviewBucket(
                first_day=start,
                last_day=last,
                start=day_date(start),
                end=day_date(last),
                **{name: values.get(name, 0) for name in _BUCKET_FIELDS},
            )
        )
    return ReviewHistory(
        period_days=period_days,
        bucket_days=bucket_days,
        buckets=tuple(buckets),
        days_studied=len(studied),
    )


BUTTON_GROUPS = (
    ("learning", "Learning"),
    ("young", "Young"),
    ("mature", "Mature"),
    ("relearning", "Relearning"),
)


def _buttons(daily: Sequence[_DailyRow], since: int) -> tuple[ButtonRow, ...]:
    """Answers by button, for learning, young and mature reviews, and relearning."""
    counts = {group: [0, 0, 0, 0] for group, _ in BUTTON_GROUPS}
    for row in daily:
        if row.day < since or row.rating not in RATINGS:
            continue
        group = _phase_group(row.phase)
        if group == "review":
            counts["mature"][row.rating - 1] += row.mature
            counts["young"][row.rating - 1] += row.count - row.mature
        else:
            counts[group][row.rating - 1] += row.count
    return tuple(
        ButtonRow(group, label, (c[0], c[1], c[2], c[3]))
        for group, label in BUTTON_GROUPS
        for c in [counts[group]]
    )


def _retention_periods(today: int) -> list[tuple[str, str, int, int]]:
    return [
        ("today", "Today", today, today),
        ("yesterday", "Yesterday", today - 1, today - 1),
        ("week", "Last week", today - 6, today),
        ("month", "Last month", today - 29, today),
        ("year", "Last year", today - 364, today),
    ]


def _retention(
    session: Session, scope: _Scope, daily: Sequence[_DailyRow]
) -> tuple[RetentionRow, ...]:
    """True retention: the first review-phase answer of each card each day.

    The totals of all review-phase answers come from the daily rows. A card
    answered more than once in the review phase on one day (studying ahead, a
    due date set to today) is rare, so the answers after its first are found
    and subtracted by a second query instead of ranking the whole year's log.
    """
    # (day, passed, mature) -> answers
    tally: dict[tuple[int, bool, bool], int] = {}
    for row in daily:
        if row.phase != "review":
            continue
        for mature, count in ((False, row.young), (True, row.mature)):
            slot = (row.day, row.rating > 1, mature)
            tally[slot] = tally.get(slot, 0) + count
    for day, ok, is_mature, count in _repeat_answers(session, scope):
        slot = (day, bool(ok), bool(is_mature))
        tally[slot] = tally.get(slot, 0) - count

    def figures(first: int, last: int, mature: bool) -> Pass:
        passed = total = 0
        for (day, ok, is_mature), count in tally.items():
            if is_mature == mature and first <= day <= last:
                total += count
                passed += count if ok else 0
        return Pass(passed, total)

    rows = [
        RetentionRow(
            key=key,
            label=label,
            first_day=first,
            last_day=last,
            young=figures(first, last, False),
            mature=figures(first, last, True),
        )
        for key, label, first, last in _retention_periods(scope.today)
    ]
    return tuple(rows)


def _repeat_answers(session: Session, scope: _Scope) -> list[tuple[int, int, int, int]]:
    """Review-phase answers after a card's first one that day, in the past year.

    Rows of (day, passed 0/1, mature 0/1, answers). The card-days with several
    review-phase answers come from a grouped scan of the (user_id, phase,
    review_day, card_id) index (usually there are none); only their answers are
    looked up and ranked by time.
    """
    counted = (Review.phase == "review", Review.interval_before >= 1)
    repeated = (
        select(Review.review_day.label("day"), Review.card_id.label("card"))
        .where(
            *scope.reviews(),
            *counted,
            Review.review_day >= scope.today - 364,
            Review.review_day <= scope.today,
        )
        .group_by(Review.review_day, Review.card_id)
        .having(func.count() > 1)
        .cte("repeated")
    )
    # Every repeated card-day has its answers, so the outer join is an inner one;
    # written as LEFT JOIN it makes SQLite walk the few pairs and seek their
    # answers (no day range here, or SQLite scans the range), instead of
    # scanning the year again and probing the pairs.
    answers = (
        select(
            Review.review_day.label("day"),
            _flag(Review.rating > _literal(1)).label("passed"),
            _flag(Review.interval_before >= _literal(MATURE_DAYS)).label("mature"),
            func.row_number()
            .over(
                partition_by=(Review.review_day, Review.card_id),
                order_by=(Review.reviewed_at, Review.id),
            )
            .label("nth"),
        )
        .select_from(repeated)
        .outerjoin(
            Review,
            and_(
                Review.card_id == repeated.c.card,
                Review.review_day == repeated.c.day,
                # Seek by card (a card has few answers), not through all of
                # the user's answers.
                *scope.reviews(by_user=False),
                *counted,
            ),
        )
        .subquery()
    )
    rows = _db(session).execute(
        select(answers.c.day, answers.c.passed, answers.c.mature, func.count())
        .where(answers.c.nth > 1)
        .group_by(answers.c.day, answers.c.passed, answers.c.mature)
    )
    return [(day, passed, mature, count) for day, passed, mature, count in rows]


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


# --- card progress ----------------------------------------------------------------------------


def _progress_figures(
    session: Session, scope: _Scope
) -> tuple[CardStates, Distribution, Distribution]:
    """Card states, intervals and ease of the live cards in scope: three queries.

    States are conditional counts in one row (exclusive, in the order suspended,
    buried, learning, young, mature; the rest of the progress rows and the cards
    without one are new: new = live cards - counted progress rows). Intervals
    and ease come from one scan grouped by both.
    """
    p = CardProgress
    active = and_(
        p.suspended.is_(False),
        or_(p.buried_until_day.is_(None), p.buried_until_day <= scope.today),
    )
    review = and_(active, p.phase == "review")
    counts = [0] * 6
    for sign, where in scope.progress_terms():
        row = (
            _db(session)
            .execute(
                select(
                    _count_if(p.suspended.is_(True)),
                    _count_if(
                        and_(p.suspended.is_(False), p.buried_until_day > scope.today)
                    ),
                    _count_if(and_(active, p.phase.in_(("learning", "relearning")))),
                    _count_if(and_(review, p.interval_days < MATURE_DAYS)),
                    _count_if(and_(review, p.interval_days >= MATURE_DAYS)),
                    _count_if(p.is_leech.is_(True)),
                ).where(*where)
            )
            .one()
        )
        counts = [
            total + sign * int(v or 0) for total, v in zip(counts, row, strict=True)
        ]
    suspended, buried, learning, young, mature, leeches = counts
    live = (
        _db(session).scalar(
            select(func.count())
            .select_from(Card)
            .where(Card.deck_id.in_(scope.deck_ids), Card.retired_at.is_(None))
        )
        or 0
    )
    states = CardStates(
        new=live - (suspended + buried + learning + young + mature),
        learning=learning,
        young=young,
        mature=mature,
        suspended=suspended,
        buried=buried,
        leeches=leeches,
    )

    intervals: dict[int, int] = {}
    eases: dict[int, int] = {}
    covered = _has_index(
        session, "card_progress", "user_id", "phase", "interval_days", "ease"
    )
    for sign, where in scope.progress_terms(index=covered):
        # Grouped in the order of that index, so that it streams without sorting.
        for interval, ease, count in _db(session).execute(
            select(p.interval_days, p.ease, func.count())
            .where(*where, p.phase.in_(("review", "relearning")))
            .group_by(p.phase, p.interval_days, p.ease)
        ):
            if interval >= 1:
                intervals[interval] = intervals.get(interval, 0) + sign * count
            if ease > 0:
                percent = round(float(ease) * 100)
                eases[percent] = eases.get(percent, 0) + sign * count
    return (
        states,
        _intervals(sorted((k, n) for k, n in intervals.items() if n)),
        _ease(sorted((k, n) for k, n in eases.items() if n)),
    )


def _forecast(session: Session, scope: _Scope, clock: DayClock) -> Forecast:
    """Reviews due on each of the next 90 days (by due day), plus learning cards.

    Overdue reviews are folded into today. Learning cards are due at an instant:
    those due before tomorrow count today, those due tomorrow tomorrow (two
    conditional counts); the rare ones with day-long steps due later are grouped
    by instant and placed with the clock.
    """
    today = scope.today
    horizon = today + FORECAST_DAYS - 1
    young: dict[int, int] = {}
    mature: dict[int, int] = {}
    overdue = 0
    covered = _has_index(session, "card_progress", "user_id", "queue", "due_day")
    for sign, where in scope.progress_terms(index=covered):
        rows = _db(session).execute(
            select(
                CardProgress.due_day,
                func.count(),
                func.sum(_flag(CardProgress.interval_days >= _literal(MATURE_DAYS))),
            )
            .where(
                *where,
                CardProgress.queue == "review",
                CardProgress.suspended.is_(False),
                CardProgress.due_day <= horizon,
            )
            .group_by(CardProgress.due_day)
        )
        for due_day, count, mature_count in rows:
            if due_day < today:
                overdue += sign * count
            day = max(due_day, today)
            mature[day] = mature.get(day, 0) + sign * int(mature_count)
            young[day] = young.get(day, 0) + sign * (count - int(mature_count))

    tomorrow_starts = clock.day_start(today + 1)
    later_starts = clock.day_start(today + 2)
    learning_where = (
        *scope.progress(index=True),
        CardProgress.queue == "learning",
        CardProgress.suspended.is_(False),
    )
    due_today, due_tomorrow = (
        _db(session)
        .execute(
            select(
                _count_if(CardProgress.due_at < tomorrow_starts),
                _count_if(CardProgress.due_at >= tomorrow_starts),
            ).where(*learning_where, CardProgress.due_at < later_starts)
        )
        .one()
    )
    learning = {today: int(due_today or 0), today + 1: int(due_tomorrow or 0)}
    later = _db(session).execute(
        select(CardProgress.due_at, func.count())
        .where(
            *learning_where,
            CardProgress.due_at >= later_starts,
            CardProgress.due_at < clock.day_start(horizon + 1),
        )
        .group_by(CardProgress.due_at)
    )
    for due_at, count in later:
        assert due_at is not None  # excluded by the range above
        day = clock.day_number(due_at)
        learning[day] = learning.get(day, 0) + count
    days = tuple(
        ForecastDay(
            offset=day - today,
            day=day,
            date=day_date(day),
            learning=learning.get(day, 0),
            young=young.get(day, 0),
            mature=mature.get(day, 0),
        )
        for day in range(today, horizon + 1)
    )
    return Forecast(days=days, overdue=overdue)


def _median(pairs: Sequence[tuple[float, int]]) -> float | None:
    """The median of the values given as (value, count) pairs sorted by value."""
    total = sum(count for _, count in pairs)
    if not total:
        return None

    def nth(index: int) -> float:
        seen = 0
        for value, count in pairs:
            seen += count
            if index < seen:
                return value
        raise AssertionError("index beyond the counts")

    if total % 2:
        return float(nth(total // 2))
    return (nth(total // 2 - 1) + nth(total // 2)) / 2


def _distribution(
    buckets: tuple[Bucket, ...], pairs: Sequence[tuple[float, int]]
) -> Distribution:
    total = sum(count for _, count in pairs)
    return Distribution(
        buckets=buckets,
        count=total,
        average=sum(v * c for v, c in pairs) / total if total else None,
        median=_median(pairs),
        maximum=max((v for v, _ in pairs), default=None),
    )


def _bucketed(
    spec: Sequence[tuple[str, int, int | None]], pairs: Sequence[tuple[float, int]]
) -> tuple[Bucket, ...]:
    return tuple(
        Bucket(
            label=label,
            low=low,
            high=high,
            count=sum(c for v, c in pairs if v >= low and (high is None or v <= high)),
            mature=low >= MATURE_DAYS,
        )
        for label, low, high in spec
    )


def _intervals(pairs: Sequence[tuple[int, int]]) -> Distribution:
    """Intervals (days) of cards in review and relearning, which keep theirs."""
    return _distribution(_bucketed(INTERVAL_BUCKETS, pairs), pairs)


def _ease(pairs: Sequence[tuple[int, int]]) -> Distribution:
    """Ease factors (in %) of cards in review and relearning, in 10 % buckets."""
    spec: list[tuple[str, int, int | None]] = [(f"<{EASE_LOW}%", 0, EASE_LOW - 1)]
    spec += [
        (f"{low}%", low, low + EASE_STEP - 1)
        for low in range(EASE_LOW, EASE_HIGH, EASE_STEP)
    ]
    spec.append((f"{EASE_HIGH}%+", EASE_HIGH, None))
    buckets = tuple(replace(bucket, mature=False) for bucket in _bucketed(spec, pairs))
    # From the lowest to the highest ease in use, and always the common 130-250 %,
    # so that charts of different decks compare.
    used = [b.low for b in buckets if b.count]
    low = min([EASE_LOW, *used])
    high = max([250 - EASE_STEP, *used])
    kept = tuple(b for b in buckets if low <= b.low <= high)
    return _distribution(kept, pairs)


def _question(front: str | None, back: str | None, cloze: str | None, slot: str) -> str:
    if slot.startswith("c"):
        text = cloze or ""
    elif slot == "reverse":
        text = back or ""
    else:
        text = front or ""
    text = " ".join(text.split())
    return text if len(text) <= 100 else text[:99] + "…"


def _hardest(session: Session, scope: _Scope) -> tuple[HardCard, ...]:
    """The live cards with the most lapses (ties: more reviews first).

    The top ten come from the progress rows alone; only they are joined to their
    card, note and deck.
    """
    order = (
        CardProgress.lapses.desc(),
        CardProgress.reps.desc(),
        CardProgress.card_id,
    )
    top = (
        select(CardProgress)
        .where(
            *scope.progress(
                index=_has_index(session, "card_progress", "user_id", "lapses")
            ),
            CardProgress.lapses > 0,
        )
        .order_by(*order)
        .limit(HARDEST_LIMIT)
        .subquery()
    )
    progress = aliased(CardProgress, top)
    rows = _db(session).execute(
        select(
            progress.card_id,
            Card.deck_id,
            Deck.name,
            Note.key,
            Card.slot,
            Note.front,
            Note.back,
            Note.cloze,
            progress.lapses,
            progress.reps,
            progress.ease,
            progress.interval_days,
            progress.is_leech,
            progress.suspended,
        )
        .join(Card, Card.id == progress.card_id)
        .join(Note, Note.id == Card.note_id)
        .join(Deck, Deck.id == Card.deck_id)
        .order_by(progress.lapses.desc(), progress.reps.desc(), progress.card_id)
    )
    return tuple(
        HardCard(
            card_id=r.card_id,
            deck_id=r.deck_id,
            deck_name=r.name,
            note_key=r.key,
            slot=r.slot,
            question=_question(r.front, r.back, r.cloze, r.slot),
            lapses=r.lapses,
            reps=r.reps,
            ease=r.ease,
            interval_days=r.interval_days,
            is_leech=bool(r.is_leech),
            suspended=bool(r.suspended),
        )
        for r in rows
    )


# --- JSON -------------------------------------------------------------------------------------


_DERIVED: dict[type, tuple[str, ...]] = {
    Calendar: ("max_reviews",),
    ReviewBucket: ("total", "milliseconds"),
    ReviewHistory: ("total", "milliseconds", "average_per_day", "seconds_per_answer"),
    ForecastDay: ("total",),
    ButtonRow: ("total", "correct"),
    TodaySummary: ("correct",),
    Pass: ("failed", "rate"),
    RetentionRow: ("all",),
    CardStates: ("total",),
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Forecast):
        data = {"days": _jsonable(value.days), "overdue": value.overdue}
        data["due_tomorrow"] = value.due_tomorrow
        for days in (30, 90):
            data[f"total_{days}"] = value.total(days)
            data[f"average_{days}"] = round(value.average(days), 2)
        return data
    if hasattr(value, "__dataclass_fields__"):
        data = {
            name: _jsonable(getattr(value, name)) for name in value.__dataclass_fields__
        }
        for name in _DERIVED.get(type(value), ()):
            data[name] = _jsonable(getattr(value, name))
        if isinstance(value, Calendar):
            data["days"] = [d for d in data["days"] if d["reviews"]]
        return data
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return round(value, 4)
    return value

"""Statistics blueprint: GET /stats (all decks) and /stats?deck=<id>&period=<days>.

Place in the data flow: database -> services.stats.collect_statistics (grouped
SQL) -> this view turns the figures into SVG charts (web.charts) and tables ->
templates/stats/index.html. The view only arranges; every number comes from the
service.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, abort, render_template, request
from markupsafe import Markup
from sqlalchemy import select

from flashcards.db.models import Deck
from flashcards.services.decks import visible_decks_clause
from flashcards.services.stats import (
    PERIODS,
    RATING_NAMES,
    ButtonRow,
    Statistics,
    collect_statistics,
)
from flashcards.web.app import app_state, now
from flashcards.web.auth import current_user
from flashcards.web.charts import (
    HeatDay,
    Segment,
    Series,
    bar_chart,
    heatmap,
    stacked_rows,
)
from flashcards.web.decks import visible_deck

bp = Blueprint("stats", __name__)

PERIOD_LABELS = {30: "month", 90: "3 months", 365: "year"}  # "the past ..."
PERIOD_CHOICES = {30: "1 month", 90: "3 months", 365: "1 year"}


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        abort(400, description=f"“{name}” must be a number.")


@bp.get("/stats")
def index() -> str:
    """The statistics of all decks, or of one deck and its subdecks."""
    deck_id = _int_arg("deck")
    period = _int_arg("period")
    if period is None:
        period = 30
    if period not in PERIODS:
        abort(400, description="Choose a period of 30, 90 or 365 days.")
    with app_state().sessions.begin() as session:
        user = current_user(session)
        deck = visible_deck(session, user, deck_id) if deck_id is not None else None
        stats = collect_statistics(
            session, user=user, now=now(), deck=deck, period_days=period
        )
        decks = list(
            session.execute(
                select(Deck.id, Deck.name)
                .where(visible_decks_clause(user.id))
                .order_by(Deck.name)
            )
        )
    return render_template(
        "stats/index.html",
        stats=stats,
        charts=build_charts(stats),
        decks=decks,
        periods=PERIOD_LABELS,
        period_choices=PERIOD_CHOICES,
        rating_names=RATING_NAMES,
        state_filters=STATE_FILTERS,
        pct=percent,
        date_range=date_range,
        duration=duration_text,
        number=number,
    )


# Where each card state leads in the browser (its `state` filter).
STATE_FILTERS = {
    "new": "new",
    "learning": "learning",
    "young": "review",
    "mature": "review",
    "suspended": "suspended",
    "buried": "buried",
}


def percent(value: float | None) -> str:
    """0.874 -> '87.4%'; None (nothing to divide) -> an em dash."""
    if value is None:
        return "—"
    return f"{value * 100:.1f}%"


def date_range(start: dt.date | None, end: dt.date | None) -> str:
    """'26 Mar – 2 May 2022', '30 Dec 2025 – 3 Jan 2026', or '' without dates."""
    if start is None or end is None:
        return ""
    last = f"{end.day} {end:%b %Y}"
    if start == end:
        return last
    first = (
        f"{start.day} {start:%b}"
        if start.year == end.year
        else f"{start.day} {start:%b %Y}"
    )
    return f"{first} – {last}"


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def duration_text(milliseconds: int) -> str:
    """A study time: '45 s', '12 min', '2 h 5 min'."""
    seconds = round(milliseconds / 1000)
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


# --- charts ------------------------------------------------------------------------------


def _plural(count: float, word: str) -> str:
    value = f"{count:,.0f}" if count == int(count) else f"{count:,.1f}"
    return f"{value} {word}{'' if count == 1 else 's'}"


def _minutes(milliseconds: int) -> float:
    return round(milliseconds / 60000, 1)


def _axis_labels(dates: Sequence[Any], every: int, fmt: str) -> dict[int, str]:
    """A label under every `every`-th bar, counted back from the last one."""
    last = len(dates) - 1
    return {i: dates[i].strftime(fmt) for i in range(last, -1, -every)}


def build_charts(stats: Statistics) -> dict[str, Markup]:
    """Every chart of the page as inline SVG, keyed by name."""
    charts: dict[str, Markup] = {}
    calendar = stats.calendar
    charts["calendar"] = heatmap(
        chart_id="chart-calendar",
        title="Answers per day over the past year",
        desc=(
            f"{_plural(calendar.reviews, 'answer')} on "
            f"{_plural(calendar.days_studied, 'day')} of the past 365; "
            f"current streak {_plural(calendar.streaks.current, 'day')}, "
            f"longest {_plural(calendar.streaks.longest, 'day')}."
        ),
        days=[
            HeatDay(
                d.date,
                d.reviews,
                f"{d.date:%a %d %b %Y}: {_plural(d.reviews, 'answer')}",
            )
            for d in calendar.days
        ],
    )

    history = stats.reviews
    buckets = history.buckets
    weekly = history.bucket_days > 1
    names = [
        f"{b.start:%d %b}–{b.end:%d %b}" if weekly else f"{b.start:%a %d %b}"
        for b in buckets
    ]
    every = {30: 7, 90: 14}.get(history.period_days, 8)
    axis = _axis_labels([b.end for b in buckets], every, "%d %b")
    span = PERIOD_LABELS[history.period_days]
    per = "week" if weekly else "day"
    charts["reviews"] = bar_chart(
        chart_id="chart-reviews",
        title=f"Answers per {per}, past {span}",
        desc=(
            f"{_plural(history.total, 'answer')} in the past {span}: "
            f"{sum(b.learning for b in buckets):,} learning, "
            f"{sum(b.review for b in buckets):,} review, "
            f"{sum(b.relearning for b in buckets):,} relearning."
        ),
        categories=names,
        series=[
            Series("learning", "Learning", [b.learning for b in buckets]),
            Series("review", "Review", [b.review for b in buckets]),
            Series("relearning", "Relearning", [b.relearning for b in buckets]),
        ],
        axis_labels=axis,
        unit="answers",
    )
    charts["time"] = bar_chart(
        chart_id="chart-time",
        title=f"Minutes spent per {per}, past {span}",
        desc=(
            f"{_plural(_minutes(history.milliseconds), 'minute')} in the past {span}, "
            f"{history.seconds_per_answer:.1f} seconds per answer."
        ),
        categories=names,
        series=[
            Series("time", "Minutes", [_minutes(b.milliseconds) for b in buckets]),
        ],
        axis_labels=axis,
        unit="minutes",
        height=150,
    )

    forecast = stats.forecast
    for days, chart_every in ((30, 7), (90, 14)):
        window = forecast.days[:days]
        charts[f"forecast{days}"] = bar_chart(
            chart_id=f"chart-forecast-{days}",
            title=f"Cards due in the next {days} days",
            desc=(
                f"{_plural(forecast.total(days), 'card')} due in the next {days} days "
                f"({forecast.average(days):.1f} a day), "
                f"{_plural(forecast.due_tomorrow, 'card')} tomorrow"
                + (
                    f", {forecast.overdue:,} overdue today."
                    if forecast.overdue
                    else "."
                )
            ),
            categories=[
                "Today" if d.offset == 0 else f"{d.date:%a %d %b}" for d in window
            ],
            series=[
                Series("learning", "Learning", [d.learning for d in window]),
                Series("young", "Young", [d.young for d in window]),
                Series("mature", "Mature", [d.mature for d in window]),
            ],
            axis_labels=_axis_labels([d.date for d in window], chart_every, "%d %b")
            | {0: "Today"},
            unit="cards",
        )

    intervals = stats.intervals
    charts["intervals"] = bar_chart(
        chart_id="chart-intervals",
        title="Review intervals",
        desc=(
            f"{_plural(intervals.count, 'card')} in review"
            + (
                f"; average interval {intervals.average:.1f} days, "
                f"longest {intervals.maximum:.0f} days."
                if intervals.average is not None and intervals.maximum is not None
                else "."
            )
        ),
        categories=[b.label for b in intervals.buckets],
        series=[
            Series(
                "young",
                "Young",
                [0 if b.mature else b.count for b in intervals.buckets],
            ),
            Series(
                "mature",
                "Mature",
                [b.count if b.mature else 0 for b in intervals.buckets],
            ),
        ],
        axis_labels={
            i: b.label.replace(" d", "d")
            for i, b in enumerate(intervals.buckets)
            if i % 3 == 0
        },
        unit="cards",
    )
    ease = stats.ease
    charts["ease"] = bar_chart(
        chart_id="chart-ease",
        title="Ease factors",
        desc=(
            f"{_plural(ease.count, 'card')} in review"
            + (f"; average ease {ease.average:.0f}%." if ease.average else ".")
        ),
        categories=[b.label for b in ease.buckets],
        series=[Series("ease", "Cards", [b.count for b in ease.buckets])],
        axis_labels={i: b.label for i, b in enumerate(ease.buckets) if i % 4 == 0},
        unit="cards",
    )

    charts["buttons"] = stacked_rows(
        chart_id="chart-buttons",
        title=f"Answer buttons by phase, past {span}",
        desc="; ".join(_buttons_text(row) for row in stats.buttons) + ".",
        rows=[
            (
                row.label,
                [
                    Segment(f"rating-{n}", RATING_NAMES[n], row.counts[n - 1])
                    for n in RATING_NAMES
                ],
            )
            for row in stats.buttons
        ],
        note=_correct_note,
        label_width=96,
    )
    states = stats.states
    charts["states"] = stacked_rows(
        chart_id="chart-states",
        title="Cards by state",
        desc=(
            f"{_plural(states.total, 'card')}: "
            + ", ".join(
                f"{count:,} {label.lower()}" for _, label, count in states.items()
            )
            + f"; {states.leeches:,} leeches."
        ),
        rows=[
            (
                "All cards",
                [
                    Segment(f"state-{key}", label, count)
                    for key, label, count in states.items()
                ],
            )
        ],
        row_height=30,
    )
    return charts


def _correct_note(segments: Sequence[Segment]) -> str:
    total = sum(s.value for s in segments)
    if not total:
        return "—"
    return f"{(total - segments[0].value) / total:.0%}"


def _buttons_text(row: ButtonRow) -> str:
    if not row.total:
        return f"{row.label}: no answers"
    counts = ", ".join(f"{RATING_NAMES[n]} {row.counts[n - 1]:,}" for n in RATING_NAMES)
    return f"{row.label}: {counts} ({row.correct:.0%} correct)"

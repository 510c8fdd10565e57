"""`flashcards stats [--deck ID] [--period DAYS] [--user NAME] [--json]`.

Place in the data flow: database -> services.stats.collect_statistics (the same
figures as the Statistics page) -> this command -> plain-text tables or JSON on
stdout. A click command that cli.py registers on its `main` group; it reads the
group's context object (settings and a lazily opened database) and imports
nothing from cli.py.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import NoReturn, Protocol

import click
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from flashcards.config import Settings
from flashcards.db.models import Deck, User
from flashcards.services.decks import visible_decks_clause
from flashcards.services.stats import (
    PERIODS,
    RATING_NAMES,
    Statistics,
    collect_statistics,
)
from flashcards.services.users import ensure_local_user, find_user


class CliContext(Protocol):
    """What this command needs from cli.Context."""

    settings: Settings

    @property
    def sessions(self) -> sessionmaker[Session]: ...


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(1)


def _find_deck(session: Session, user: User, ref: str) -> Deck:
    """A visible deck by database id or by its deck-file id (slug)."""
    where = [Deck.slug == ref]
    if ref.isdigit():
        where.append(Deck.id == int(ref))
    found = session.scalars(
        select(Deck)
        .where(visible_decks_clause(user.id), or_(*where))
        .order_by(Deck.slug != ref, Deck.id)
    ).all()
    if not found:
        _fail(
            f"There is no deck “{ref}”. Give its number or its id from the deck file."
        )
    return found[0]


@click.command("stats")
@click.option(
    "--deck",
    "deck_ref",
    metavar="ID",
    help="A deck (number or deck-file id) and its subdecks.",
)
@click.option(
    "--period",
    type=click.Choice([str(p) for p in PERIODS]),
    default="30",
    show_default=True,
    help="Days covered by the reviews and answer buttons.",
)
@click.option(
    "--user",
    "user_name",
    metavar="NAME",
    help="Whose statistics (default: the local user).",
)
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.pass_obj
def stats_command(
    ctx: CliContext,
    deck_ref: str | None,
    period: str,
    user_name: str | None,
    as_json: bool,
) -> None:
    """Study statistics: calendar, reviews, forecast, retention, card states."""
    now = _now()
    with ctx.sessions.begin() as session:
        if user_name:
            user = find_user(session, user_name)
            if user is None:
                _fail(f"There is no user called “{user_name}”.")
        else:
            user = ensure_local_user(session, now=now)
        deck = _find_deck(session, user, deck_ref) if deck_ref else None
        stats = collect_statistics(
            session, user=user, now=now, deck=deck, period_days=int(period)
        )
    if as_json:
        click.echo(json.dumps(stats.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(render_text(stats))


# --- text ---------------------------------------------------------------------------------


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _duration(milliseconds: int) -> str:
    minutes = round(milliseconds / 60000)
    if milliseconds < 60000:
        return f"{round(milliseconds / 1000)} s"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    left: int = 1,
    indent: str = "  ",
) -> str:
    """Columns padded to width: the first `left` ones left-aligned, numbers right."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(width) if index < left else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return indent + "  ".join(padded).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])


def render_text(stats: Statistics) -> str:
    """The figures of the Statistics page as plain-text sections."""
    out: list[str] = []
    where = f"{stats.deck_name} and its subdecks" if stats.deck_name else "all decks"
    day = stats.today_date
    out.append(
        f"Statistics of {where} — today is {day:%a} {day.day} {day:%b %Y} "
        f"({stats.timezone}, days start at {stats.rollover_hour:02d}:00)"
    )

    today = stats.today_summary
    cal = stats.calendar
    streaks = cal.streaks
    out.append("\nToday")
    if today.answers:
        out.append(
            f"  {_n(today.answers)} answers in {_duration(today.milliseconds)}, "
            f"{_pct(today.correct)} correct ({_n(today.learning)} learning, "
            f"{_n(today.review)} review, {_n(today.relearning)} relearning)"
        )
    else:
        out.append("  no answers yet")
    out.append("\nCalendar")
    longest = f"{streaks.longest} days"
    if streaks.longest_start and streaks.longest_end:
        longest += f" ({streaks.longest_start} – {streaks.longest_end})"
    out.append(f"  current streak {streaks.current} days, longest {longest}")
    out.append(
        f"  past year: {_n(cal.reviews)} answers on {cal.days_studied} of 365 days "
        f"({_n(cal.reviews / 365, 1)} a day); {_n(streaks.days_studied)} study days in all"
    )

    history = stats.reviews
    weekly = history.bucket_days > 1
    out.append(f"\nReviews, past {history.period_days} days")
    out.append(
        f"  {_n(history.total)} answers ({_n(history.average_per_day, 1)} a day) on "
        f"{history.days_studied} of {history.period_days} days; "
        f"{_duration(history.milliseconds)}, {history.seconds_per_answer:.1f} s per answer"
    )
    out.append(
        table(
            [
                "week from" if weekly else "day",
                "learning",
                "review",
                "relearning",
                "total",
                "minutes",
            ],
            [
                [
                    str(b.start),
                    _n(b.learning),
                    _n(b.review),
                    _n(b.relearning),
                    _n(b.total),
                    _n(b.milliseconds / 60000, 1),
                ]
                for b in history.buckets
                if b.total
            ]
            or [["—", "", "", "", "", ""]],
        )
    )

    forecast = stats.forecast
    out.append("\nForecast")
    out.append(
        f"  due tomorrow {_n(forecast.due_tomorrow)}, overdue {_n(forecast.overdue)}; "
        f"next 30 days {_n(forecast.total(30))} ({_n(forecast.average(30), 1)} a day), "
        f"next 90 days {_n(forecast.total(90))} ({_n(forecast.average(90), 1)} a day)"
    )
    out.append("  the next 30 days (all 90 with --json):")
    out.append(
        table(
            ["day", "learning", "young", "mature", "total"],
            [
                [
                    "today" if d.offset == 0 else str(d.date),
                    _n(d.learning),
                    _n(d.young),
                    _n(d.mature),
                    _n(d.total),
                ]
                for d in forecast.days[:30]
                if d.total
            ]
            or [["—", "", "", "", ""]],
        )
    )

    for title, dist, unit in (
        ("Intervals", stats.intervals, " days"),
        ("Ease", stats.ease, "%"),
    ):
        out.append(f"\n{title} ({_n(dist.count)} cards in review)")
        if dist.average is not None:
            median = _n(dist.median or 0, 1)
            figures = f"  average {_n(dist.average, 1)}{unit}, median {median}{unit}"
            if title == "Intervals":
                figures += f", longest {_n(dist.maximum or 0)}{unit}"
            out.append(figures)
        out.append(
            table(["bucket", "cards"], [[b.label, _n(b.count)] for b in dist.buckets])
        )

    out.append(f"\nAnswer buttons, past {stats.period_days} days")
    out.append(
        table(
            ["phase", *RATING_NAMES.values(), "correct"],
            [
                [row.label, *(_n(c) for c in row.counts), _pct(row.correct)]
                for row in stats.buttons
            ],
        )
    )

    out.append("\nTrue retention (first review-phase answer of each card each day)")
    out.append(
        table(
            ["period", "young", "", "mature", "", "total", ""],
            [
                [
                    row.label,
                    f"{_n(row.young.passed)}/{_n(row.young.total)}",
                    _pct(row.young.rate),
                    f"{_n(row.mature.passed)}/{_n(row.mature.total)}",
                    _pct(row.mature.rate),
                    f"{_n(row.all.passed)}/{_n(row.all.total)}",
                    _pct(row.all.rate),
                ]
                for row in stats.retention
            ],
        )
    )

    states = stats.states
    out.append(f"\nCard states ({_n(states.total)} cards)")
    out.append(
        table(
            ["state", "cards", "share"],
            [
                [label, _n(count), _pct(count / states.total if states.total else None)]
                for _, label, count in states.items()
            ]
            + [["leeches", _n(states.leeches), ""]],
        )
    )

    out.append("\nHardest cards")
    if stats.hardest:
        out.append(
            table(
                ["card", "deck", "lapses", "reviews", "ease", "interval"],
                [
                    [
                        f"{c.card_id} {c.note_key}"
                        + ("" if c.slot == "front" else f" ({c.slot})")
                        + (" leech" if c.is_leech else ""),
                        c.deck_name,
                        _n(c.lapses),
                        _n(c.reps),
                        f"{c.ease * 100:.0f}%",
                        f"{c.interval_days} d",
                    ]
                    for c in stats.hardest
                ],
                left=2,
            )
        )
    else:
        out.append("  no card has lapsed yet")
    return "\n".join(out)

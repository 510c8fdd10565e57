"""Jinja helpers: times in the user's zone, relative times, durations, card text.

Filters only format; they never query. Times arrive as aware UTC datetimes and are
shown in the current user's time zone (set on `g` by web.auth.current_user).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, g, request

from flashcards.jobs.deck_sync import deck_file_problems
from flashcards.web.app import app_state, now
from flashcards.web.auth import is_admin

# Where to go in the header; (endpoint, label).
NAV = (
    ("decks.index", "Decks"),
    ("browse.index", "Browse"),
    ("stats.index", "Statistics"),
    ("decks.upload", "Upload"),
    ("downloads.index", "Download"),
    ("options.index", "Options"),
    ("jobs.index", "Jobs"),
)
# Header links only admins see when accounts are on.
ADMIN_NAV = frozenset({"jobs.index"})


def _zone() -> ZoneInfo:
    try:
        return ZoneInfo(g.get("user_zone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An instant as the user's wall-clock time."""
    if value is None:
        return "—"
    return value.astimezone(_zone()).strftime(fmt)


def relative_time(value: dt.datetime | None) -> str:
    """'in 10 minutes', '3 days ago', 'just now'."""
    if value is None:
        return "never"
    seconds = (value - now()).total_seconds()
    future = seconds > 0
    amount = abs(seconds)
    if amount < 45:
        return "now" if future else "just now"
    text = span_text(amount)
    return f"in {text}" if future else f"{text} ago"


def span_text(seconds: float) -> str:
    """A length of time in the largest sensible unit: '10 minutes', '3 days'."""
    units = (
        (365 * 86400, "year"),
        (30 * 86400, "month"),
        (86400, "day"),
        (3600, "hour"),
        (60, "minute"),
    )
    for size, name in units:
        if seconds >= size:
            count = round(seconds / size)
            return f"{count} {name}{'' if count == 1 else 's'}"
    count = max(1, round(seconds))
    return f"{count} second{'' if count == 1 else 's'}"


def duration_ms(value: int | None) -> str:
    """Milliseconds as '4.2 s' or '1 min 5 s'."""
    if not value:
        return "—"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else (words or word + 's')}"


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        local_time=local_time,
        relative_time=relative_time,
        duration_ms=duration_ms,
        span=span_text,
    )
    app.jinja_env.globals.update(plural=plural)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.context_processor
    def _current_endpoint() -> dict[str, object]:
        return {"endpoint": request.endpoint or ""}

    @app.context_processor
    def _nav() -> dict[str, object]:
        admin = is_admin()
        return {"nav": [item for item in NAV if admin or item[0] not in ADMIN_NAV]}

    @app.context_processor
    def _deck_file_problems() -> dict[str, object]:
        # A broken deck file keeps its last good version; every page says so
        # until the file is fixed (the deck sync job keeps these rows). With
        # accounts, only admins (who look after the decks folder) see it.
        # A function, so only whole pages (base.html) query for it, not the
        # study panel sent after each answer.
        def load() -> list[Any]:
            if not is_admin():
                return []
            with app_state().sessions() as session:
                return list(deck_file_problems(session))

        return {"deck_file_problems": load}

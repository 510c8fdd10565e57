"""Short human labels for delays, as on Anki's answer buttons ("10m", "3d", "1.2mo").

Place in the data flow: the study page shows `button_labels(state, now=...)`
above the four rating buttons. Pure; units follow Anki (a month is 30 days, a
year 365 days). Learning steps are labelled without their random jitter, and
review answers by their interval, as Anki labels them.
"""

from __future__ import annotations

import math
from datetime import datetime

from flashcards.srs.clock import DayClock
from flashcards.srs.sm2 import (
    DEFAULT_CLOCK,
    DEFAULT_OPTIONS,
    CardState,
    Outcome,
    Rating,
    Sm2Options,
    answer,
)

_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_MONTH_DAYS = 30
_YEAR_DAYS = 365


def _half_up(value: float) -> int:
    return math.floor(value + 0.5)


def _one_decimal(value: float) -> str:
    text = f"{math.floor(value * 10 + 0.5) / 10:.1f}"
    return text.removesuffix(".0")


def describe_seconds(seconds: float) -> str:
    """Label a duration: "45s", "6m", "1.5h", "3d", "1.2mo", "2.1y"."""
    seconds = max(seconds, 0.0)
    if seconds < _MINUTE:
        return f"{_half_up(seconds)}s"
    if _half_up(seconds / _MINUTE) < 60:
        return f"{_half_up(seconds / _MINUTE)}m"
    if seconds < _DAY:
        return f"{_one_decimal(seconds / _HOUR)}h"
    return describe_days(seconds / _DAY)


def describe_days(days: float) -> str:
    """Label a review interval in days: "1d", "25d", "1.2mo", "2.1y"."""
    if days < _MONTH_DAYS:
        return f"{max(_half_up(days), 1)}d"
    if days < _YEAR_DAYS:
        return f"{_one_decimal(days / _MONTH_DAYS)}mo"
    return f"{_one_decimal(days / _YEAR_DAYS)}y"


def describe_delay(now: datetime, due: datetime) -> str:
    """Label the time from `now` until `due` (both aware), e.g. "10m" or "4d"."""
    return describe_seconds((due - now).total_seconds())


def describe_outcome(outcome: Outcome) -> str:
    """The button label for one answer: its step (without jitter) or its interval."""
    if outcome.step_secs is not None:
        return describe_seconds(outcome.step_secs)
    return describe_days(outcome.state.interval_days)


def button_labels(
    state: CardState,
    *,
    now: datetime,
    options: Sm2Options = DEFAULT_OPTIONS,
    clock: DayClock = DEFAULT_CLOCK,
    seed: int = 0,
) -> dict[Rating, str]:
    """Labels for the four buttons, e.g. "1m", "6m", "10m", "4d" for a new card.

    Pass the same `seed` as the answer will use, so the labels show the very
    intervals the fuzz will pick.
    """
    return {
        rating: describe_outcome(
            answer(state, rating, now=now, options=options, clock=clock, seed=seed)
        )
        for rating in Rating
    }

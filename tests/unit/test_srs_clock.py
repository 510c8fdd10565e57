"""DayClock: scheduling days in a zone with a rollover hour (docs/anki-sm2.md §8)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flashcards.srs import CardState, DayClock, Phase, Rating, Sm2Options, answer

BERLIN = DayClock("Europe/Berlin")
NEW_YORK = DayClock("America/New_York", rollover_hour=4)
TINY = timedelta(microseconds=1)


def utc(year: int, month: int, dom: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, dom, hour, minute, tzinfo=UTC)


def day(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def test_epoch_and_utc_defaults() -> None:
    clock = DayClock()
    assert (clock.timezone, clock.rollover_hour) == ("UTC", 4)
    assert clock.day_number(utc(1970, 1, 1, 4)) == 0
    assert clock.day_number(utc(1970, 1, 1, 3, 59)) == -1
    assert clock.day_start(0) == utc(1970, 1, 1, 4)


@pytest.mark.parametrize(
    ("instant", "local_date"),
    [
        (utc(2026, 1, 15, 2, 59), date(2026, 1, 14)),  # 03:59 CET: yesterday
        (utc(2026, 1, 15, 3, 0), date(2026, 1, 15)),  # 04:00 CET
        (utc(2026, 7, 15, 1, 59), date(2026, 7, 14)),  # 03:59 CEST
        (utc(2026, 7, 15, 2, 0), date(2026, 7, 15)),  # 04:00 CEST
        (utc(2026, 7, 15, 22, 30), date(2026, 7, 15)),  # 00:30 CEST on the 16th
        (utc(2026, 7, 16, 1, 0), date(2026, 7, 15)),  # 03:00 CEST: still the 15th
    ],
)
def test_day_number_before_and_after_rollover(
    instant: datetime, local_date: date
) -> None:
    assert BERLIN.day_number(instant) == day(local_date)


def test_day_number_accepts_any_aware_zone() -> None:
    instant = utc(2026, 7, 15, 2, 0)
    tokyo = instant.astimezone(ZoneInfo("Asia/Tokyo"))
    assert BERLIN.day_number(tokyo) == BERLIN.day_number(instant)


@pytest.mark.parametrize(
    ("local_date", "start", "hours"),
    [
        (date(2026, 3, 28), utc(2026, 3, 28, 3), 23),  # spring forward: 23 h
        (date(2026, 3, 29), utc(2026, 3, 29, 2), 24),
        (date(2026, 10, 24), utc(2026, 10, 24, 2), 25),  # fall back: 25 h
        (date(2026, 10, 25), utc(2026, 10, 25, 3), 24),
    ],
)
def test_day_start_across_dst(local_date: date, start: datetime, hours: int) -> None:
    n = day(local_date)
    assert BERLIN.day_start(n) == start
    assert BERLIN.day_start(n).tzinfo is UTC
    assert BERLIN.day_start(n + 1) - BERLIN.day_start(n) == timedelta(hours=hours)
    assert BERLIN.day_number(start) == n
    assert BERLIN.day_number(start - TINY) == n - 1


def test_rollover_in_spring_forward_gap_starts_at_the_transition() -> None:
    # Berlin skips 02:00-03:00 on 2026-03-29; the transition is 01:00 UTC.
    clock = DayClock("Europe/Berlin", rollover_hour=2)
    n = day(date(2026, 3, 29))
    assert clock.day_start(n) == utc(2026, 3, 29, 1)
    assert clock.day_number(utc(2026, 3, 29, 1)) == n
    assert clock.day_number(utc(2026, 3, 29, 1) - TINY) == n - 1


def test_rollover_in_repeated_hour_starts_at_first_occurrence() -> None:
    # New York repeats 01:00-02:00 on 2026-11-01.
    clock = DayClock("America/New_York", rollover_hour=1)
    n = day(date(2026, 11, 1))
    assert clock.day_start(n) == utc(2026, 11, 1, 5)  # 01:00 EDT
    assert clock.day_number(utc(2026, 11, 1, 6, 30)) == n  # 01:30 EST, later
    assert clock.day_start(n + 1) - clock.day_start(n) == timedelta(hours=25)


def test_next_day_start_and_days_between() -> None:
    assert NEW_YORK.next_day_start(utc(2026, 3, 8, 7, 0)) == utc(2026, 3, 8, 8, 0)
    assert NEW_YORK.next_day_start(utc(2026, 3, 8, 8, 0)) == utc(2026, 3, 9, 8, 0)
    assert NEW_YORK.days_between(utc(2026, 3, 8, 7, 59), utc(2026, 3, 8, 8, 0)) == 1
    assert NEW_YORK.days_between(utc(2026, 3, 9, 8), utc(2026, 3, 1, 9)) == -8
    assert NEW_YORK.days_between(utc(2026, 3, 9, 8), utc(2026, 3, 1, 8)) == -9


def test_invalid_clock() -> None:
    with pytest.raises(ValueError, match="rollover_hour") as info:
        DayClock("Mars/Olympus_Mons", rollover_hour=24)
    assert "timezone" in str(info.value)
    with pytest.raises(ValueError, match="timezone-aware"):
        DayClock().day_number(datetime(2026, 1, 1))  # noqa: DTZ001


def test_review_due_dates_follow_the_local_day() -> None:
    # 03:30 Berlin time is still the previous scheduling day; a 1-day interval
    # is due at the next 04:00 local, only half an hour away.
    now = utc(2026, 7, 15, 1, 30)
    learning = CardState(phase=Phase.LEARNING, due=now, remaining_steps=1)
    after = answer(
        learning, Rating.GOOD, now=now, options=Sm2Options(fuzz=False), clock=BERLIN
    ).state
    assert after.interval_days == 1
    assert after.due == utc(2026, 7, 15, 2)


def test_late_review_counts_scheduling_days() -> None:
    due = BERLIN.day_start(day(date(2026, 3, 20)))
    state = CardState(phase=Phase.REVIEW, due=due, interval_days=10, ease=2.5)
    # 2026-03-31 02:30 CEST is still the 30th: 10 days late, across the DST change.
    now = utc(2026, 3, 31, 0, 30)
    assert BERLIN.days_between(due, now) == 10
    after = answer(
        state, Rating.GOOD, now=now, options=Sm2Options(fuzz=False), clock=BERLIN
    ).state
    assert after.interval_days == 38  # (10 + 10/2) * 2.5 = 37.5 -> 38


ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST shifts
    "America/Havana",  # DST changes at midnight
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Sao_Paulo",
    "Pacific/Apia",  # skipped 2011-12-30 entirely
]


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    hour=st.integers(0, 23),
    instant=st.datetimes(
        min_value=datetime(2005, 1, 1),  # noqa: DTZ001
        max_value=datetime(2035, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
)
def test_day_start_brackets_every_instant(
    zone: str, hour: int, instant: datetime
) -> None:
    clock = DayClock(zone, hour)
    n = clock.day_number(instant)
    assert clock.day_start(n) <= instant < clock.day_start(n + 1)
    # The next day starts right after this one ends. Usually it is day n + 1;
    # where a local date never happened (Apia, 2011-12-30, with the rollover at
    # midnight) it is n + 2.
    following = clock.next_day_start(instant)
    assert clock.day_number(following - timedelta(microseconds=1)) == n
    assert clock.day_number(following) in (n + 1, n + 2)


@pytest.mark.parametrize("hour", [0, 1, 4, 23])
def test_the_days_around_samoas_skipped_date_follow_day_number(hour: int) -> None:
    """Samoa skipped 30 December 2011; every day still starts where day_number
    says the day begins, and no instant is lost between days."""
    clock = DayClock("Pacific/Apia", hour)
    start = datetime(2011, 12, 28, tzinfo=UTC)
    for minutes in range(0, 4 * 24 * 60, 7):
        instant = start + timedelta(minutes=minutes)
        n = clock.day_number(instant)
        assert clock.day_start(n) <= instant < clock.day_start(n + 1)

"""Backup rotation: a pure function over backup times, checked table by table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from flashcards.services.backups import (
    RotationPolicy,
    backups_to_keep,
    list_backups,
    rotate_backups,
)


def at(day: str, time: str = "12:00") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}:00+00:00")


def half_hourly(first: dt.datetime, last: dt.datetime) -> list[dt.datetime]:
    times = []
    while first <= last:
        times.append(first)
        first += dt.timedelta(minutes=30)
    return times


SMALL = RotationPolicy(keep_last=2, keep_daily=3, keep_weekly=2)
# 2026-03-01 is a Sunday (ISO week 9); 03-02..03-08 is week 10; 03-09.. week 11.
TEN_DAYS = [at(f"2026-03-{d:02d}") for d in range(1, 11)]

CASES = [
    pytest.param([], SMALL, set(), id="nothing to keep"),
    pytest.param(
        [at("2026-03-10", "10:00"), at("2026-03-10", "11:00")],
        SMALL,
        {at("2026-03-10", "10:00"), at("2026-03-10", "11:00")},
        id="fewer than keep_last: all kept",
    ),
    pytest.param(
        half_hourly(at("2026-03-10", "00:00"), at("2026-03-10", "23:30")),
        SMALL,
        {at("2026-03-10", "23:00"), at("2026-03-10", "23:30")},
        id="one day: the last two (they are also the day's and week's newest)",
    ),
    pytest.param(
        TEN_DAYS,
        SMALL,
        {at("2026-03-10"), at("2026-03-09"), at("2026-03-08")},
        id="daily: newest three days; weekly adds nothing new",
    ),
    pytest.param(
        TEN_DAYS,
        RotationPolicy(keep_last=1, keep_daily=1, keep_weekly=3),
        {at("2026-03-10"), at("2026-03-08"), at("2026-03-01")},
        id="weekly: the newest of weeks 11, 10 and 9",
    ),
    pytest.param(
        [at("2026-01-01"), at("2026-02-01"), at("2026-03-01"), at("2026-03-10")],
        RotationPolicy(keep_last=1, keep_daily=2, keep_weekly=2),
        {at("2026-03-10"), at("2026-03-01")},
        id="after downtime: days and weeks that have backups count, not the calendar",
    ),
    pytest.param(
        [at("2026-03-10", "08:00"), at("2026-03-10", "20:00"), at("2026-03-09", "23:59")],
        RotationPolicy(keep_last=1, keep_daily=2, keep_weekly=0),
        {at("2026-03-10", "20:00"), at("2026-03-09", "23:59")},
        id="within a day the newest is kept",
    ),
    pytest.param(
        half_hourly(at("2026-01-01", "00:00"), at("2026-03-10", "23:30")),
        RotationPolicy(),
        set(half_hourly(at("2026-03-10", "00:00"), at("2026-03-10", "23:30")))
        | {at(f"2026-{d}", "23:30") for d in (
            "02-25", "02-26", "02-27", "02-28", "03-01", "03-02", "03-03",
            "03-04", "03-05", "03-06", "03-07", "03-08", "03-09")}
        | {at(f"2026-{d}", "23:30") for d in (
            "02-22", "02-15", "02-08", "02-01", "01-25")},
        id="default policy on 70 days of half-hourly backups: 48 + 13 daily + 5 weekly",
    ),
]


@pytest.mark.parametrize(("taken", "policy", "expected"), CASES)
def test_backups_to_keep(
    taken: list[dt.datetime], policy: RotationPolicy, expected: set[dt.datetime]
) -> None:
    assert backups_to_keep(taken, policy) == expected
    # Order of the input does not matter.
    assert backups_to_keep(reversed(taken), policy) == expected


def test_default_policy_bounds_the_folder() -> None:
    """A year of half-hourly backups leaves the same 66 as 70 days do."""
    taken = half_hourly(at("2025-01-01", "00:00"), at("2026-03-10", "23:30"))
    kept = backups_to_keep(taken)
    assert len(kept) == 48 + 13 + 5
    assert max(taken) in kept


@pytest.mark.parametrize(
    "policy",
    [
        {"keep_last": 0},
        {"keep_daily": -1},
        {"keep_weekly": -1},
    ],
)
def test_policy_refuses_nonsense(policy: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="keep_last must be at least 1"):
        RotationPolicy(**policy)


def test_rotate_backups_deletes_only_what_the_policy_drops(tmp_path: Path) -> None:
    names = [
        "flashcards-20260308T120000Z.sqlite3",
        "flashcards-20260309T120000Z.sqlite3",
        "flashcards-20260310T110000Z.sqlite3",
        "flashcards-20260310T120000Z.sqlite3",
        "flashcards-20260310T120000Z-2.sqlite3",  # a second one in the same second
        "flashcards-20260101T000000Z-before-restore.sqlite3",  # never rotated
        "notes.txt",  # not a backup
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    deleted = rotate_backups(
        tmp_path, RotationPolicy(keep_last=1, keep_daily=2, keep_weekly=0)
    )
    assert sorted(p.name for p in deleted) == [
        "flashcards-20260308T120000Z.sqlite3",
        "flashcards-20260310T110000Z.sqlite3",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        set(names) - {p.name for p in deleted}
    )
    listed = list_backups(tmp_path)
    assert [b.path.name for b in listed] == [
        "flashcards-20260101T000000Z-before-restore.sqlite3",
        "flashcards-20260309T120000Z.sqlite3",
        "flashcards-20260310T120000Z.sqlite3",
        "flashcards-20260310T120000Z-2.sqlite3",
    ]
    assert listed[0].label == "before-restore"

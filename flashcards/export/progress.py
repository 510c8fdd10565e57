"""One user's scheduling state and review log, as Anki's card and revlog columns.

Place in the data flow: `export.apkg` calls `card_columns` for every card it
writes when progress is included, and `RevlogBuilder` for every review; the
collection row gets `collection_config`. Pure: no database, no clock of its own
(`now` comes in).

What Anki needs (anki-apkg.md §2.2): scheduler v2 (`schedVer` 2, else the
importer runs its v1 → v2 upgrade and rewrites answers), a creation time `crt`
at 12:00 UTC of a fixed day 0 with `creationOffset` 0, and review due dates as
day numbers counted from that day. The importer keeps "due minus the package's
today", so a card due on our day N is due on the same date in Anki. Learning
due times are epoch seconds and survive exactly.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Final, NamedTuple

from flashcards.export.rows import ProgressRow, ReviewRow
from flashcards.srs import DayClock

# Day 0 of the package's collection; our day numbers count from 1970-01-01.
DAY_ZERO: Final = dt.date(2020, 1, 1)
DAY_ZERO_OFFSET: Final = (DAY_ZERO - dt.date(1970, 1, 1)).days
# 12:00 UTC of day 0: the same date in every time zone (creationOffset 0).
COLLECTION_CREATED: Final = int(
    dt.datetime.combine(DAY_ZERO, dt.time(12), tzinfo=dt.UTC).timestamp()
)

# Anki's card types and queues.
TYPE_NEW, TYPE_LEARNING, TYPE_REVIEW, TYPE_RELEARNING = 0, 1, 2, 3
QUEUE_SUSPENDED: Final = -1
QUEUE_BURIED: Final = -2  # buried by the scheduler (siblings), as ours are
QUEUE_NEW, QUEUE_LEARNING, QUEUE_REVIEW, QUEUE_DAY_LEARNING = 0, 1, 2, 3

# Anki's revlog types.
REVLOG_LEARN, REVLOG_REVIEW, REVLOG_RELEARN = 0, 1, 2
_REVLOG_TYPE = {
    "new": REVLOG_LEARN,
    "learning": REVLOG_LEARN,
    "review": REVLOG_REVIEW,
    "relearning": REVLOG_RELEARN,
}


def anki_day(day_number: int) -> int:
    """Our scheduling-day number (days since 1970-01-01) as the package's day number."""
    return day_number - DAY_ZERO_OFFSET


def collection_config(*, rollover_hour: int, next_position: int) -> dict[str, object]:
    """Keys added to the collection's `conf` JSON (scheduler v2, day boundaries)."""
    return {
        "schedVer": 2,
        "rollover": rollover_hour,
        "creationOffset": 0,
        "nextPos": next_position,
    }


class CardColumns(NamedTuple):
    """The scheduling columns of one row of Anki's `cards` table (one per card
    exported: a NamedTuple is quicker to build than a dataclass)."""

    type: int
    queue: int
    due: int
    ivl: int
    factor: int
    reps: int
    lapses: int
    left: int
    data: str


def new_card_columns(position: int) -> CardColumns:
    """A card never studied: new, at its position in the new-card order."""
    return CardColumns(TYPE_NEW, QUEUE_NEW, position, 0, 0, 0, 0, 0, "")


def card_columns(
    progress: ProgressRow | None, *, position: int, clock: DayClock, now: dt.datetime
) -> CardColumns:
    """Anki's columns for one card's state (the table in anki-apkg.md §2.2).

    `position` is the card's place in the new-card order; it is the due of a new
    card and, for a studied one, `data.pos`, so that an import *without* progress
    still keeps our order. Learning steps due before the next day starts are
    intraday (epoch seconds); later ones are day-learning (a day number).
    """
    if progress is None:
        return new_card_columns(position)
    today = clock.day_number(now)
    phase = progress.phase
    factor = round(progress.ease * 1000) if phase in ("review", "relearning") else 0
    data: dict[str, int] = {"pos": position}
    if progress.last_reviewed_at is not None:
        data["lrt"] = int(progress.last_reviewed_at.timestamp())
    if phase == "new":
        columns = CardColumns(
            TYPE_NEW, QUEUE_NEW, position, 0, 0, progress.reps, progress.lapses, 0, ""
        )
    elif phase in ("learning", "relearning"):
        queue, due = _learning_due(progress, clock=clock, today=today, now=now)
        columns = CardColumns(
            TYPE_LEARNING if phase == "learning" else TYPE_RELEARNING,
            queue,
            due,
            progress.interval_days if phase == "relearning" else 0,
            factor,
            progress.reps,
            progress.lapses,
            max(progress.remaining_steps, 0),
            json.dumps(data, separators=(",", ":")),
        )
    elif phase == "review":
        due_day = progress.due_day
        if due_day is None:
            due_day = clock.day_number(progress.due_at) if progress.due_at else today
        columns = CardColumns(
            TYPE_REVIEW,
            QUEUE_REVIEW,
            anki_day(due_day),
            max(progress.interval_days, 1),
            factor,
            progress.reps,
            progress.lapses,
            0,
            json.dumps(data, separators=(",", ":")),
        )
    else:
        raise ValueError(f"unknown card phase {phase!r}")
    if progress.suspended:
        return _with_queue(columns, QUEUE_SUSPENDED)
    if progress.buried_until_day is not None and progress.buried_until_day > today:
        return _with_queue(columns, QUEUE_BURIED)
    return columns


def _learning_due(
    progress: ProgressRow, *, clock: DayClock, today: int, now: dt.datetime
) -> tuple[int, int]:
    due_at = progress.due_at or now
    if due_at < clock.day_start(today + 1):
        return QUEUE_LEARNING, int(due_at.timestamp())
    return QUEUE_DAY_LEARNING, anki_day(clock.day_number(due_at))


def _with_queue(columns: CardColumns, queue: int) -> CardColumns:
    return CardColumns(
        columns.type,
        queue,
        columns.due,
        columns.ivl,
        columns.factor,
        columns.reps,
        columns.lapses,
        columns.left,
        columns.data,
    )


RevlogRow = tuple[int, int, int, int, int, int, int, int, int]


class RevlogBuilder:
    """Turns reviews into revlog rows; feed them in (reviewed_at, id) order.

    Revlog ids are answer times in epoch milliseconds and must be unique, so an
    answer in the same millisecond as the one before moves 1 ms later. Learning
    intervals are negative seconds, as Anki logs them: `ivl` from the step after
    the answer, `lastIvl` from the step before it (the card's previous answer).
    """

    def __init__(self) -> None:
        self._last_id = 0
        self._last_step: dict[int, int] = {}  # our card id -> its last step seconds

    def row(self, review: ReviewRow, *, anki_card_id: int) -> RevlogRow:
        revlog_id = max(int(review.reviewed_at.timestamp() * 1000), self._last_id + 1)
        self._last_id = revlog_id
        step_after = max(review.step_seconds_after, 0)
        ivl = -step_after if step_after else review.interval_after
        last_step = self._last_step.get(review.card_id, 0)
        if review.phase == "new":
            last_ivl = 0
        elif review.phase in ("learning", "relearning") and last_step:
            last_ivl = -last_step
        else:
            last_ivl = review.interval_before
        self._last_step[review.card_id] = step_after
        return (
            revlog_id,
            anki_card_id,
            -1,  # usn: the importer sets its own
            review.rating,
            ivl,
            last_ivl,
            round(review.ease_after * 1000),
            max(review.duration_ms, 0),
            _REVLOG_TYPE.get(review.phase, REVLOG_REVIEW),
        )

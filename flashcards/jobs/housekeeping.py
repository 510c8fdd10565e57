"""Housekeeping at each day rollover: unbury cards, drop expired undo data, prune logs.

Place: a background job. Users have their own time zone and rollover hour, so the
job runs every quarter of an hour (every time zone's offset is a whole number of
quarter hours) and each run does only what has come due by `now`:

- cards buried until a day that has begun are unburied (buried_until_day -> NULL);
- reviews older than the undo window lose their undo snapshot (state_before -> NULL),
  which is all undo needs them for;
- job run records beyond the kept history are deleted.

There are no server-side login sessions to expire: Flask keeps sessions in signed
cookies, which expire on their own.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import null, select, update
from sqlalchemy.orm import Session

from flashcards.db.models import CardProgress, Review, User
from flashcards.jobs.status import prune_runs, rows_changed
from flashcards.services.presets import user_clock
from flashcards.services.study import UNDO_WINDOW

log = logging.getLogger(__name__)


@dataclass
class HousekeepingResult:
    unburied: int = 0
    undo_dropped: int = 0
    runs_pruned: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{self.unburied} unburied, {self.undo_dropped} undo snapshots dropped, "
            f"{self.runs_pruned} old job runs pruned"
        )
        if self.problems:
            text += "; " + "; ".join(self.problems)
        return text


def run_housekeeping(session: Session, *, now: dt.datetime) -> HousekeepingResult:
    """Do the day-rollover chores that are due at `now`, in the caller's transaction."""
    result = HousekeepingResult()
    result.unburied = unbury_due_cards(session, now=now, problems=result.problems)
    result.undo_dropped = drop_expired_undo(session, now=now)
    result.runs_pruned = prune_runs(session)
    return result


def unbury_due_cards(
    session: Session, *, now: dt.datetime, problems: list[str] | None = None
) -> int:
    """Clear burials whose day has begun in each user's own day clock.

    The study queue already ignores such burials, so this changes nothing a user
    sees; the card's `version` stays, so a study page showing it stays answerable.
    """
    unburied = 0
    for user in session.scalars(select(User).order_by(User.id)):
        try:
            today = user_clock(user).day_number(now)
        except ValueError as error:  # a bad zone must not stop the other users
            message = f"user {user.name}: {error}"
            log.warning("housekeeping: %s", message)
            if problems is not None:
                problems.append(message)
            continue
        result = session.execute(
            update(CardProgress)
            .where(
                CardProgress.user_id == user.id,
                CardProgress.buried_until_day.is_not(None),
                CardProgress.buried_until_day <= today,
            )
            .values(buried_until_day=None)
        )
        unburied += rows_changed(result)
    return unburied


def drop_expired_undo(session: Session, *, now: dt.datetime) -> int:
    """Remove the undo snapshot of answers older than study.UNDO_WINDOW.

    Undo only reaches back that far, so the snapshots are dead weight after it.
    `null()` stores SQL NULL; a bare None would store JSON 'null' in a JSON column.
    """
    result = session.execute(
        update(Review)
        .where(
            Review.reviewed_at < now - UNDO_WINDOW,
            Review.state_before.is_not(None),
        )
        .values(state_before=null())
    )
    return rows_changed(result)

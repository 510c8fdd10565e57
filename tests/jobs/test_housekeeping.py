"""Housekeeping: unbury by each user's own day, drop expired undo data, prune runs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from flashcards.db.models import CardProgress, JobRun, Review, User
from flashcards.jobs.housekeeping import run_housekeeping
from flashcards.jobs.status import KEEP_RUNS_PER_JOB
from flashcards.services.presets import user_clock
from flashcards.services.study import UNDO_WINDOW
from flashcards.services.users import ensure_local_user
from tests.jobs.conftest import card_id

# 20:00 UTC: still 2026-03-10 in UTC, already 2026-03-11 10:00 in Kiritimati (+14).
EVENING = dt.datetime(2026, 3, 10, 20, 0, tzinfo=dt.UTC)


def _progress(session: Session, user: User, key: str, slot: str = "front") -> CardProgress:
    cid = card_id(session, key, slot)
    progress = session.get(CardProgress, (user.id, cid))
    if progress is None:
        progress = CardProgress(user_id=user.id, card_id=cid, deck_id=1, version=5)
        session.add(progress)
    return progress


def test_unbury_follows_each_users_day_rollover(
    sessions: sessionmaker[Session], studied: int
) -> None:
    with sessions.begin() as session:
        local = ensure_local_user(session, now=EVENING)
        islander = User(name="islander", timezone="Pacific/Kiritimati",
                        rollover_hour=4, created_at=EVENING)
        session.add(islander)
        session.flush()
        utc_today = user_clock(local).day_number(EVENING)
        island_today = user_clock(islander).day_number(EVENING)
        assert island_today == utc_today + 1
        # Buried yesterday "until today": due to come back.
        _progress(session, local, "france").buried_until_day = utc_today
        # Buried today: stays buried until tomorrow.
        _progress(session, local, "japan").buried_until_day = utc_today + 1
        # The same day number is already today on Kiritimati.
        _progress(session, islander, "japan").buried_until_day = utc_today + 1
        _progress(session, islander, "japan", "reverse").buried_until_day = utc_today + 2

    with sessions.begin() as session:
        result = run_housekeeping(session, now=EVENING)

    assert result.unburied == 2
    with sessions() as session:
        burials = {
            (p.user_id, p.card_id): p.buried_until_day
            for p in session.scalars(select(CardProgress))
        }
        local = ensure_local_user(session, now=EVENING)
        island = session.scalars(select(User).where(User.name == "islander")).one()
        assert burials == {
            (local.id, card_id(session, "france")): None,
            (local.id, card_id(session, "japan")): utc_today + 1,
            (island.id, card_id(session, "japan")): None,
            (island.id, card_id(session, "japan", "reverse")): utc_today + 2,
        }
        # Unburying changes nothing the study page shows: versions stay.
        assert session.get_one(CardProgress, (local.id, studied)).version == 2


def test_a_user_with_a_bad_time_zone_does_not_stop_the_others(
    sessions: sessionmaker[Session], studied: int
) -> None:
    with sessions.begin() as session:
        local = ensure_local_user(session, now=EVENING)
        _progress(session, local, "france").buried_until_day = 0
        session.add(User(name="martian", timezone="Mars/Olympus_Mons",
                         rollover_hour=4, created_at=EVENING))
    with sessions.begin() as session:
        result = run_housekeeping(session, now=EVENING)
    assert result.unburied == 1
    assert "user martian" in result.summary()
    assert "Mars/Olympus_Mons" in result.summary()


def test_undo_data_older_than_the_undo_window_is_dropped(
    sessions: sessionmaker[Session], studied: int, now: dt.datetime
) -> None:
    # The fixture's review is at `now`; add one just inside and one outside the window.
    with sessions.begin() as session:
        user = ensure_local_user(session, now=now)
        for age in (UNDO_WINDOW - dt.timedelta(minutes=1), UNDO_WINDOW + dt.timedelta(minutes=1)):
            session.add(
                Review(user_id=user.id, card_id=studied, deck_id=1,
                       reviewed_at=now - age, review_day=1, rating=3, phase="review",
                       interval_before=3, interval_after=8, ease_before=2.5,
                       ease_after=2.5, state_before={"progress": None})
            )

    with sessions.begin() as session:
        result = run_housekeeping(session, now=now)
        again = run_housekeeping(session, now=now)

    assert (result.undo_dropped, again.undo_dropped) == (1, 0)
    with sessions() as session:
        kept = session.execute(
            text(
                "SELECT reviewed_at, state_before IS NULL FROM reviews ORDER BY reviewed_at"
            )
        ).all()
        # SQL NULL, not JSON 'null': the history row itself stays.
        assert [is_null for _, is_null in kept] == [True, False, False]
        assert session.scalar(select(func.count()).select_from(Review)) == 3


def test_old_job_runs_are_pruned(
    sessions: sessionmaker[Session], now: dt.datetime
) -> None:
    with sessions.begin() as session:
        for minute in range(KEEP_RUNS_PER_JOB + 5):
            session.add(JobRun(job_id="deck-sync", outcome="ok",
                               started_at=now + dt.timedelta(minutes=minute)))
        session.add(JobRun(job_id="backup", outcome="ok", started_at=now))
    with sessions.begin() as session:
        result = run_housekeeping(session, now=now)
    assert result.runs_pruned == 5
    with sessions() as session:
        oldest = session.scalar(
            select(func.min(JobRun.started_at)).where(JobRun.job_id == "deck-sync")
        )
        assert oldest == now + dt.timedelta(minutes=5)
        assert session.scalar(
            select(func.count()).where(JobRun.job_id == "backup")
        ) == 1

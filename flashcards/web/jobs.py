"""Jobs blueprint: the /jobs page, and the query behind the deck-file problem banner.

The page shows each background job with its schedule, its last run (outcome and
duration) and its next run, and who runs the jobs: this process, another one, or
nobody, with the reason a refused scheduler gave. Data comes from
flashcards.jobs.overview, which `flashcards jobs --list` prints too.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from flashcards.jobs.deck_sync import deck_file_problems
from flashcards.jobs.overview import (
    describe_next_run,
    format_duration,
    format_time,
    jobs_overview,
    scheduler_overview,
)
from flashcards.web.app import app_state, now
from flashcards.web.auth import admin_required

__all__ = ["bp", "deck_file_problems", "index"]

bp = Blueprint("jobs", __name__)


@bp.get("/jobs")
@admin_required
def index() -> str:
    """Each background job: schedule, last run with outcome and duration, next run."""
    state = app_state()
    with state.sessions() as session:
        jobs = jobs_overview(session, state.settings, now=now())
        problems = deck_file_problems(session)
    return render_template(
        "jobs/index.html",
        scheduler=scheduler_overview(state.settings),
        jobs=jobs,
        problems=problems,
        format_time=format_time,
        format_duration=format_duration,
        describe_next_run=describe_next_run,
    )

"""The /jobs page: each job, its schedule, last and next run, and who runs them."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from flashcards.config import Settings
from flashcards.db.models import DeckFileProblem, JobRun
from flashcards.jobs import runner
from flashcards.web import jobs
from flashcards.web.app import create_app


@pytest.fixture
def app(settings: Settings, now: dt.datetime) -> Flask:
    app = create_app(settings, testing=True)
    app.config["NOW"] = lambda: now + dt.timedelta(minutes=1)
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_jobs_page_shows_schedules_last_and_next_runs(
    client: FlaskClient, sessions: sessionmaker[Session], now: dt.datetime
) -> None:
    with sessions.begin() as session:
        session.add(JobRun(job_id="deck-sync", started_at=now, outcome="failed",
                           finished_at=now, duration_ms=250,
                           message="OperationalError: database is locked"))
    page = client.get("/jobs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Background jobs</h1>" in html
    assert "Deck folder sync" in html and "Housekeeping" in html
    assert "every 5 minutes" in html
    assert "outcome-failed" in html and "in 250 ms" in html
    assert "OperationalError: database is locked" in html
    # Next sync: five minutes after the last run.
    assert "2026-03-10 12:05:00 UTC" in html
    assert "No job scheduler is running" in html


def test_jobs_page_says_why_this_process_runs_no_jobs(client: FlaskClient) -> None:
    runner._set_process(
        runner.ProcessJobs("refused", "Background jobs are not started here: pid 7 "
                           "on host \"web1\" (flashcards jobs) already runs them.")
    )
    html = client.get("/jobs").get_data(as_text=True)
    assert "jobs-refused" in html
    assert "pid 7 on host &#34;web1&#34; (flashcards jobs) already runs them" in html


def test_jobs_page_lists_deck_file_problems(
    client: FlaskClient, sessions: sessionmaker[Session], now: dt.datetime
) -> None:
    with sessions.begin() as session:
        session.add(DeckFileProblem(path="/decks/bad.yaml", seen_at=now,
                                    problems=["/decks/bad.yaml:3: 'back' is required"]))
        with_banner = jobs.deck_file_problems(session)
    assert [p.path for p in with_banner] == ["/decks/bad.yaml"]
    html = client.get("/jobs").get_data(as_text=True)
    assert "Deck files that did not import" in html
    assert "/decks/bad.yaml:3: &#39;back&#39; is required" in html

"""The WSGI entry point for production servers: `gunicorn 'flashcards.web.wsgi:app'`.

Place: the outermost edge of the web layer, imported once in each server worker.
Settings come from the environment (FLASHCARDS_DATABASE_URL, FLASHCARDS_INSTANCE,
...; see flashcards.config). Several workers share one database, so this module
starts no job scheduler: the background jobs run in their own `flashcards jobs`
process, and the jobs mode is 'separate' here whatever the environment says (the
jobs page then tells the truth about where jobs run). The decks folder is imported
by the jobs process's deck sync, or once with `flashcards import`.
"""

from __future__ import annotations

import logging

from flashcards.config import Settings
from flashcards.jobs.runner import SEPARATE
from flashcards.web.app import create_app

log = logging.getLogger(__name__)


def _settings() -> Settings:
    settings = Settings.from_env()
    if settings.jobs_mode != SEPARATE:
        log.info(
            "FLASHCARDS_JOBS_MODE=%s ignored under a WSGI server: web workers start no "
            "scheduler; run `flashcards jobs` once beside them.",
            settings.jobs_mode,
        )
        settings = settings.with_overrides(jobs_mode=SEPARATE)
    return settings


app = create_app(_settings())

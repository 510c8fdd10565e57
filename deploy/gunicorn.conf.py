"""Gunicorn settings for flashcards: several web workers over one PostgreSQL database.

Place: the production web server's configuration (deploy/), used as

    gunicorn -c deploy/gunicorn.conf.py 'flashcards.web.wsgi:app'

beside exactly one `flashcards jobs` process (see deploy/Procfile and
deploy/systemd/). Settings come from the environment: FLASHCARDS_BIND (default
127.0.0.1:8000), FLASHCARDS_WORKERS (default 2 per core, at least 2),
FLASHCARDS_THREADS (default 4), and the app's own FLASHCARDS_* variables.
Command-line flags (-w, -b, ...) override these.
"""

from __future__ import annotations

import os
from typing import Any

bind = os.environ.get("FLASHCARDS_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("FLASHCARDS_WORKERS", str(max(2, 2 * (os.cpu_count() or 1)))))
# Threads keep a worker busy on the database while another request runs Python;
# every thread takes at most one pooled database connection at a time.
worker_class = "gthread"
threads = int(os.environ.get("FLASHCARDS_THREADS", "4"))
# Exports of large decks take a few seconds; nothing legitimate takes a minute.
timeout = 60
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then (bounded memory growth, e.g. the render cache).
max_requests = 10_000
max_requests_jitter = 1_000
# Build the app once in the master: the schema upgrade (Alembic) runs once, not
# racing in every worker; `post_fork` gives each worker its own connection pool.
preload_app = True
accesslog = os.environ.get("FLASHCARDS_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("FLASHCARDS_LOG_LEVEL", "info")
# Behind a reverse proxy on this machine: trust its X-Forwarded-* headers (the app
# itself does so only with FLASHCARDS_BEHIND_PROXY=1).
forwarded_allow_ips = os.environ.get("FLASHCARDS_FORWARDED_ALLOW_IPS", "127.0.0.1")


def _engine() -> Any:
    from flashcards.web.wsgi import app

    return app.extensions["flashcards"].engine


def when_ready(server: Any) -> None:
    """Before the first fork: close the master's connections (the schema upgrade's)."""
    _engine().dispose()


def post_fork(server: Any, worker: Any) -> None:
    """A forked worker never uses a connection it inherited; it opens its own."""
    _engine().dispose(close=False)

"""The production entry point: `flashcards.web.wsgi:app` starts no job scheduler, and
the documented gunicorn command (deploy/gunicorn.conf.py, several workers) serves.
"""

from __future__ import annotations

import ast
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FLASHCARDS_DATABASE_URL": database_url,
        "FLASHCARDS_INSTANCE": str(tmp_path / "instance"),
        "FLASHCARDS_DECKS": str(tmp_path / "decks"),
        # Even when told to run jobs in-process, the WSGI app starts none.
        "FLASHCARDS_JOBS_MODE": "in-process",
    }


def test_wsgi_app_starts_no_scheduler(database_url: str, tmp_path: Path) -> None:
    code = (
        "from flashcards.web.wsgi import app\n"
        "from flashcards.jobs.runner import process_jobs\n"
        "import threading\n"
        "print(app.extensions['flashcards'].settings.jobs_mode)\n"
        "print(process_jobs().handle is None)\n"
        "print(sorted(t.name for t in threading.enumerate()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(database_url, tmp_path),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[:2] == ["separate", "True"]
    # Nothing but the main thread and SQLite's WAL checkpointer (db/engine.py).
    threads = [
        name for name in ast.literal_eval(lines[2]) if not name.startswith("wal-checkpoint")
    ]
    assert threads == ["MainThread"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_documented_gunicorn_command_serves(database_url: str, tmp_path: Path) -> None:
    port = _free_port()
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [
            str(gunicorn), "-c", "deploy/gunicorn.conf.py", "-w", "2",
            "-b", f"127.0.0.1:{port}", "flashcards.web.wsgi:app",
        ],
        env={**_env(database_url, tmp_path), "FLASHCARDS_ACCESS_LOG": "/dev/null"},
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        statuses: dict[str, int] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(statuses) < 2:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                for path in ("/api/v1/openapi.json", "/api/v1/decks"):
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request("GET", path)
                    statuses[path] = conn.getresponse().status
                    conn.close()
            except OSError:
                time.sleep(0.2)
        assert statuses == {"/api/v1/openapi.json": 200, "/api/v1/decks": 401}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

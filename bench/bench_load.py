"""Load test: simulated students answering cards over the JSON API, against gunicorn.

Two runs of the same test: PostgreSQL behind 4 gunicorn workers (the documented
production set-up, deploy/gunicorn.conf.py) and SQLite behind 1 worker. Each run:

1. a fresh database (PostgreSQL: the scratch database `flashcards_load`, dropped and
   made again; SQLite: a file in a temporary instance folder), migrated, with one
   shared deck big enough that nobody runs out, and a preset whose daily limits
   never stop anyone;
2. N users (default 50), each with a personal API token, made directly in the
   database;
3. gunicorn started with `-c deploy/gunicorn.conf.py` (jobs mode separate, so no
   scheduler), then N client threads, one per student, each looping
   GET /decks/{id}/next → POST /cards/{id}/answer for the duration (default 60 s),
   counting the answers that got a 2xx;
4. afterwards the review rows are counted per user in the database and compared with
   what that student's client was told was recorded: a row without a 2xx is
   "doubled", a 2xx without a row is "lost". Both must be 0, as must errors.

Prints a table: answers, answers/s, requests/s, p50/p95 latency of all requests and
of answers, errors, lost and doubled rows.

Traffic goes to 127.0.0.1 only; every loop is bounded by the duration.

Run: .venv/bin/python -m bench.bench_load [--duration 60] [--students 50]
     [--pg-workers 4] [--only pg|sqlite]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, func, make_url, select, text

from bench.common import deck_yaml
from flashcards.db.engine import make_engine, make_session_factory
from flashcards.db.migrate import upgrade_database
from flashcards.db.models import Base, CardProgress, Deck, Review, User
from flashcards.services.api_tokens import create_token
from flashcards.services.importing import import_paths
from flashcards.services.presets import default_preset

REPO = Path(__file__).resolve().parents[1]
GUNICORN = Path(sys.executable).parent / "gunicorn"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_DATABASE = "flashcards_load"
DECK_ID = "load"
# Ratings as students give them: mostly Good, some Again, a few Hard and Easy.
RATINGS = (1, 1, 2, 3, 3, 3, 3, 3, 3, 4)


@dataclass
class Client:
    """One simulated student: their token, and what the server told them."""

    user_id: int
    token: str
    answered: int = 0  # answers that got a 2xx: each must be exactly one review row
    errors: int = 0
    unclear: int = 0  # answers whose reply never came (could be recorded or not)
    latencies: list[float] = field(default_factory=list)
    answer_latencies: list[float] = field(default_factory=list)
    requests: int = 0
    ran_out: int = 0
    error_samples: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    name: str
    seconds: float
    clients: list[Client]
    rows_by_user: dict[int, int]
    reps_by_user: dict[int, int]

    @property
    def answered(self) -> int:
        return sum(c.answered for c in self.clients)

    @property
    def errors(self) -> int:
        return sum(c.errors for c in self.clients)

    @property
    def lost(self) -> int:
        return sum(
            max(0, c.answered - self.rows_by_user.get(c.user_id, 0)) for c in self.clients
        )

    @property
    def doubled(self) -> int:
        return sum(
            max(0, self.rows_by_user.get(c.user_id, 0) - c.answered - c.unclear)
            for c in self.clients
        )

    @property
    def state_mismatches(self) -> int:
        """Users whose card states count a different number of answers than the log."""
        return sum(
            1
            for c in self.clients
            if self.reps_by_user.get(c.user_id, 0) != self.rows_by_user.get(c.user_id, 0)
        )


# --- set-up ---------------------------------------------------------------------------------


def fresh_postgres() -> str:
    """Drop and re-create the scratch database; return its URL."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": PG_DATABASE},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DATABASE}"'))
        conn.execute(text(f'CREATE DATABASE "{PG_DATABASE}"'))
    admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=PG_DATABASE).render_as_string(
        hide_password=False
    )


def prepare(
    database_url: str, decks_dir: Path, students: int, cards: int
) -> tuple[int, list[Client]]:
    """Schema, the shared deck, unlimited daily limits, students with tokens."""
    decks_dir.mkdir(parents=True, exist_ok=True)
    (decks_dir / f"{DECK_ID}.yaml").write_text(deck_yaml(DECK_ID, cards, seed=7))
    engine = make_engine(database_url)
    upgrade_database(engine)
    # Tables not yet in a migration (while a change is in review) come from the models.
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    clients: list[Client] = []
    with sessions.begin() as session:
        report = import_paths(session, [decks_dir], now=now)
        assert report.ok, report.failures
        preset = default_preset(session)
        preset.new_per_day = 100_000
        preset.reviews_per_day = 100_000
        deck_id = session.scalars(select(Deck.id).where(Deck.slug == DECK_ID)).one()
        for number in range(students):
            user = User(name=f"student{number:03d}", created_at=now)
            session.add(user)
            session.flush()
            secret = create_token(session, user=user, name="load test", now=now).secret
            clients.append(Client(user_id=user.id, token=secret))
    engine.dispose()
    return deck_id, clients


def count_rows(database_url: str) -> tuple[dict[int, int], dict[int, int]]:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = {
            user_id: count
            for user_id, count in conn.execute(
                select(Review.user_id, func.count()).group_by(Review.user_id)
            )
        }
        reps = {
            user_id: int(total or 0)
            for user_id, total in conn.execute(
                select(CardProgress.user_id, func.sum(CardProgress.reps)).group_by(
                    CardProgress.user_id
                )
            )
        }
    engine.dispose()
    return rows, reps


# --- the server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(
    database_url: str, instance: Path, decks_dir: Path, workers: int, log: Path,
    extra: list[str],
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "FLASHCARDS_DATABASE_URL": database_url,
        "FLASHCARDS_INSTANCE": str(instance),
        "FLASHCARDS_DECKS": str(decks_dir),
        "FLASHCARDS_JOBS_MODE": "separate",
        "FLASHCARDS_ACCESS_LOG": "/dev/null",
        "FLASHCARDS_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [
            str(GUNICORN),
            "-c", str(REPO / "deploy" / "gunicorn.conf.py"),
            "-w", str(workers),
            "-b", f"127.0.0.1:{port}",
            *extra,
            "flashcards.web.wsgi:app",
        ],
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/openapi.json")
            if conn.getresponse().status == 200:
                conn.close()
                return process, port
        except OSError:
            pass
        time.sleep(0.2)
    stop(process)
    raise RuntimeError("gunicorn did not answer within 60 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the students -----------------------------------------------------------------------------


def student(
    client: Client,
    port: int,
    deck_id: int,
    start: threading.Barrier,
    until: list[float],
    keep_alive: bool,
) -> None:
    rng = random.Random(client.user_id)
    headers = {
        "Authorization": f"Bearer {client.token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    if not keep_alive:
        headers["Connection"] = "close"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, float]:
        nonlocal conn
        began = time.perf_counter()
        try:
            conn.request(method, "/api/v1" + path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            raise
        elapsed = time.perf_counter() - began
        if not keep_alive:
            # A new connection per request, as from many separate browsers: a
            # kept-alive connection stays with one worker and skews the shares.
            conn.close()
        client.requests += 1
        client.latencies.append(elapsed)
        return response.status, data, elapsed

    def error(what: str) -> None:
        client.errors += 1
        if len(client.error_samples) < 3:
            client.error_samples.append(what[:300])

    start.wait()
    while time.monotonic() < until[0]:
        try:
            status, data, _ = call("GET", f"/decks/{deck_id}/next")
        except (OSError, http.client.HTTPException) as failure:
            error(f"next: {failure!r}")
            continue
        if status != 200:
            error(f"next: {status} {data[:200]!r}")
            continue
        card = json.loads(data)["card"]
        if card is None:
            client.ran_out += 1
            time.sleep(0.5)
            continue
        body = json.dumps(
            {
                "rating": rng.choice(RATINGS),
                "version": card["version"],
                "duration_ms": rng.randint(800, 9000),
                "deck_id": deck_id,
            }
        ).encode()
        try:
            status, data, elapsed = call("POST", f"/cards/{card['id']}/answer", body)
        except (OSError, http.client.HTTPException) as failure:
            client.unclear += 1
            error(f"answer: {failure!r}")
            continue
        if 200 <= status < 300:
            client.answered += 1
            client.answer_latencies.append(elapsed)
        else:
            error(f"answer: {status} {data[:200]!r}")


def run(
    name: str, database_url: str, workers: int, students: int, cards: int,
    duration: float, workdir: Path, extra: list[str], keep_alive: bool = False,
) -> RunResult:
    key = name.split()[0].lower()
    instance = workdir / f"instance-{key}"
    decks_dir = workdir / f"decks-{key}"
    print(f"[{name}] preparing {students} students and a {cards}-entry deck ...", flush=True)
    deck_id, clients = prepare(database_url, decks_dir, students, cards)
    log = workdir / f"gunicorn-{key}.log"
    process, port = start_gunicorn(
        database_url, instance, decks_dir, workers, log, extra
    )
    print(f"[{name}] gunicorn with {workers} worker(s) on port {port}; running {duration:g} s",
          flush=True)
    try:
        until = [float("inf")]
        barrier = threading.Barrier(students + 1)
        threads = [
            threading.Thread(
                target=student,
                args=(c, port, deck_id, barrier, until, keep_alive),
                daemon=True,
            )
            for c in clients
        ]
        for thread in threads:
            thread.start()
        until[0] = time.monotonic() + duration
        began = time.monotonic()
        barrier.wait()
        for thread in threads:
            thread.join(timeout=duration + 60)
        seconds = time.monotonic() - began
    finally:
        stop(process)
    rows, reps = count_rows(database_url)
    samples = [s for c in clients for s in c.error_samples][:5]
    for sample in samples:
        print(f"[{name}] error sample: {sample}")
    if any(c.ran_out for c in clients):
        ran_out = sum(c.ran_out for c in clients)
        print(f"[{name}] warning: students ran out of cards {ran_out} times")
    return RunResult(name, seconds, clients, rows, reps)


# --- report ----------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(results: list[RunResult], students: int) -> None:
    header = (
        "run", "answers", "answers/s", "requests/s", "p50 all", "p95 all",
        "p50 answer", "p95 answer", "errors", "lost", "doubled", "state ≠ log",
    )
    rows = []
    for r in results:
        latencies = [x for c in r.clients for x in c.latencies]
        answers = [x for c in r.clients for x in c.answer_latencies]
        requests = sum(c.requests for c in r.clients)
        rows.append((
            r.name,
            str(r.answered),
            f"{r.answered / r.seconds:.1f}",
            f"{requests / r.seconds:.1f}",
            f"{percentile(latencies, 0.50) * 1000:.0f} ms",
            f"{percentile(latencies, 0.95) * 1000:.0f} ms",
            f"{percentile(answers, 0.50) * 1000:.0f} ms",
            f"{percentile(answers, 0.95) * 1000:.0f} ms",
            str(r.errors),
            str(r.lost),
            str(r.doubled),
            str(r.state_mismatches),
        ))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print(f"\n## Load: {students} students answering over HTTP (next → answer)\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    print()
    for r in results:
        per_student = [c.answered for c in r.clients]
        print(
            f"{r.name}: {r.seconds:.1f} s, answers per student min/median/max "
            f"{min(per_student)}/{statistics.median(per_student):g}/{max(per_student)}, "
            f"review rows {sum(r.rows_by_user.values())}, "
            f"unclear {sum(c.unclear for c in r.clients)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--pg-workers", type=int, default=4)
    parser.add_argument("--sqlite-workers", type=int, default=1)
    parser.add_argument("--cards", type=int, default=1500, help="entries in the deck")
    parser.add_argument("--only", choices=("pg", "sqlite"))
    parser.add_argument(
        "--keep-alive", action="store_true",
        help="one kept-alive connection per student (default: a connection per request)",
    )
    parser.add_argument(
        "--gunicorn", default="", help="extra gunicorn flags, e.g. '-k sync' or '--threads 8'"
    )
    args = parser.parse_args()
    extra = args.gunicorn.split()
    keep = args.keep_alive
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="flashcards-load-") as tmp:
        workdir = Path(tmp)
        if args.only in (None, "pg"):
            results.append(run(
                f"PostgreSQL × {args.pg_workers}", fresh_postgres(), args.pg_workers,
                args.students, args.cards, args.duration, workdir, extra, keep,
            ))
        if args.only in (None, "sqlite"):
            sqlite_url = f"sqlite:///{workdir / 'load.sqlite3'}"
            results.append(run(
                f"SQLite × {args.sqlite_workers}", sqlite_url, args.sqlite_workers,
                args.students, args.cards, args.duration, workdir, extra, keep,
            ))
    report(results, args.students)
    failed = [r.name for r in results if r.errors or r.lost or r.doubled or r.state_mismatches]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

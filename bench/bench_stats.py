"""Benchmark the statistics: the page and the service on 100k cards and 1M answers.

Place in the data flow: a bulk-inserted SQLite database (migrated schema, 10 decks
of 10k cards, 1% of them removed from their files, 80k progress rows, 1M review rows
over five years, three times as many lately, with realistic undo snapshots) ->
services.stats.collect_statistics and GET /stats through the Flask test client ->
a table against the 300 ms target.

The raw floor is the same SQL the service sends (recorded from the engine, with
its parameters) replayed through the plain sqlite3 module: what the database alone
needs. Each measure is the median of several warm runs.

The benchmark runs twice: without the statistics indexes (one run: it is slow;
this shows what they are for), and on the schema as migrated, which has them
(services.stats.STATS_INDEXES).

Run: .venv/bin/python -m bench.bench_stats [--runs 5] [--keep DB]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import print_table

CARDS = 100_000
DECKS = 10
STUDIED = 80_000
REVIEWS = 1_000_000
HISTORY_DAYS = 5 * 365
TARGET_MS = 300.0
TIMEZONE = "Europe/Berlin"
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def _proposed_indexes() -> dict[str, str]:
    """CREATE INDEX statements for services.stats.STATS_INDEXES."""
    from flashcards.services.stats import STATS_INDEXES

    return {
        name: f"CREATE INDEX {name} ON {table} ({', '.join(columns)})"
        for name, (table, columns) in STATS_INDEXES.items()
    }


PROPOSED_INDEXES = _proposed_indexes()


def _snapshot(rng: random.Random) -> str:
    """An undo snapshot the size of the ones study.answer_card stores."""
    return json.dumps(
        {
            "progress": {
                "phase": "review",
                "queue": "review",
                "due_at": "2025-11-02T03:00:00+00:00",
                "due_day": 20393,
                "interval_days": rng.randint(1, 400),
                "ease": 2.5,
                "remaining_steps": 0,
                "reps": rng.randint(1, 40),
                "lapses": rng.randint(0, 5),
                "last_reviewed_at": "2025-10-20T18:31:12.402113+00:00",
                "suspended": False,
                "buried_until_day": None,
                "is_leech": False,
            },
            "version": rng.randint(1, 60),
            "buried": [],
        }
    )


def build_database(path: Path, seed: int = 7) -> dict[str, Any]:
    """Create the schema with the app's migrations, then bulk-insert the data."""
    from flashcards.db.engine import make_engine
    from flashcards.db.migrate import upgrade_database
    from flashcards.srs import DayClock

    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    engine.dispose()

    rng = random.Random(seed)
    clock = DayClock(TIMEZONE, 4)
    today = clock.day_number(NOW)
    stamp = NOW.replace(tzinfo=None).isoformat(sep=" ")
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    with db:
        db.execute(
            "INSERT INTO users (id, name, is_admin, timezone, rollover_hour, created_at)"
            " VALUES (1, 'local', 1, ?, 4, ?)",
            (TIMEZONE, stamp),
        )
        db.executemany(
            "INSERT INTO decks (id, scope, slug, name, tags, content_hash, created_at,"
            " updated_at) VALUES (?, 'shared', ?, ?, '[]', '', ?, ?)",
            [(d + 1, f"d{d}", f"Bench::Deck {d}", stamp, stamp) for d in range(DECKS)],
        )
        per_deck = CARDS // DECKS
        db.executemany(
            "INSERT INTO notes (id, deck_id, key, kind, front, back, reverse, tags,"
            " position, created_at, content_updated_at)"
            " VALUES (?, ?, ?, 'basic', ?, ?, 0, '[]', ?, ?, ?)",
            (
                (
                    i + 1,
                    i // per_deck + 1,
                    f"c{i}",
                    f"What is item {i}?",
                    f"Item {i}.",
                    i % per_deck,
                    stamp,
                    stamp,
                )
                for i in range(CARDS)
            ),
        )
        db.executemany(
            "INSERT INTO cards (id, note_id, deck_id, slot, position)"
            " VALUES (?, ?, ?, 'front', ?)",
            ((i + 1, i + 1, i // per_deck + 1, i % per_deck) for i in range(CARDS)),
        )
        # 1% of the cards left their deck files: their progress must not count.
        db.executemany(
            "UPDATE cards SET retired_at = ? WHERE id = ?",
            ((stamp, card_id) for card_id in range(1, CARDS + 1, 100)),
        )
        progress = []
        studied = rng.sample(range(1, CARDS + 1), STUDIED)
        for card_id in studied:
            roll = rng.random()
            lapses = min(int(rng.expovariate(0.8)), 12)
            interval = max(1, int(rng.lognormvariate(2.8, 1.2)))
            ease = round(max(1.3, min(3.5, rng.gauss(2.45, 0.25))) / 0.05) * 0.05
            phase, queue, due_day, due_at = "review", "review", None, None
            if roll < 0.04:
                phase, queue, interval = "learning", "learning", 0
            elif roll < 0.06:
                phase, queue = "relearning", "learning"
            if queue == "learning":
                due_at = NOW + dt.timedelta(minutes=rng.randint(-30, 600))
            else:
                due_day = today + rng.randint(-3, interval)
                due_at = clock.day_start(due_day)
            progress.append(
                (
                    1,
                    card_id,
                    (card_id - 1) // per_deck + 1,
                    phase,
                    queue,
                    due_at.replace(tzinfo=None).isoformat(sep=" "),
                    due_day,
                    interval,
                    ease,
                    rng.randint(1, 50),
                    lapses,
                    rng.random() < 0.01,
                    today + 1 if rng.random() < 0.005 else None,
                    lapses >= 8,
                )
            )
        db.executemany(
            "INSERT INTO card_progress (user_id, card_id, deck_id, phase, queue,"
            " due_at, due_day, interval_days, ease, remaining_steps, reps, lapses,"
            " suspended, buried_until_day, is_leech, version)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, 1)",
            progress,
        )
        first_day = today - HISTORY_DAYS + 1
        # Study on about 85% of days, three times as much lately as at the start.
        days = [d for d in range(first_day, today + 1) if rng.random() < 0.85]
        weights = [1.0 + 2.0 * (d - first_day) / HISTORY_DAYS for d in days]
        chosen = rng.choices(days, weights, k=REVIEWS)
        chosen.sort()
        phases = ("new", "learning", "review", "relearning")
        snapshots = [_snapshot(rng) for _ in range(50)]
        starts = {d: clock.day_start(d) for d in set(chosen)}

        def review_rows() -> Any:
            for n, day in enumerate(chosen):
                phase = rng.choices(phases, (8, 10, 72, 10))[0]
                interval = (
                    max(1, int(rng.lognormvariate(2.8, 1.2)))
                    if phase in ("review", "relearning")
                    else 0
                )
                rating = rng.choices((1, 2, 3, 4), (12, 8, 70, 10))[0]
                at = starts[day] + dt.timedelta(seconds=n % 80000 + 60)
                yield (
                    n + 1,
                    1,
                    rng.choice(studied),
                    rng.randint(1, DECKS),
                    at.replace(tzinfo=None).isoformat(sep=" "),
                    day,
                    rating,
                    phase,
                    interval,
                    interval * 2 if rating > 1 else 0,
                    2.5,
                    2.5,
                    rng.randint(1500, 20000),
                    snapshots[n % len(snapshots)],
                )

        db.executemany(
            "INSERT INTO reviews (id, user_id, card_id, deck_id, reviewed_at,"
            " review_day, rating, phase, interval_before, interval_after,"
            " step_seconds_after, ease_before, ease_after, duration_ms, state_before)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
            review_rows(),
        )
    # No ANALYZE: the app never runs it, so the planner works without statistics.
    db.close()
    return {"today": today, "deck_id": 3}


# --- measuring --------------------------------------------------------------------------


def median_ms(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """Median wall-clock and CPU milliseconds of `runs` warm calls.

    CPU time (this process) is shown too: on a busy machine wall time also
    counts the waits for a core.
    """
    fn()  # warm: caches, compiled statements, templates
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def measure(path: Path, runs: int, deck_id: int) -> dict[str, Any]:
    from sqlalchemy import event, select

    from flashcards.config import Settings
    from flashcards.db.models import Deck, User
    from flashcards.services.stats import collect_statistics
    from flashcards.web import stats as stats_web
    from flashcards.web.app import app_state, create_app

    settings = Settings(
        instance_dir=path.parent / "instance",
        database_url=f"sqlite:///{path}",
        decks_dir=path.parent / "no-decks",
    )
    app = create_app(settings, testing=True)
    app.config["NOW"] = lambda: NOW
    if "stats" not in app.blueprints:
        app.register_blueprint(stats_web.bp)
    client = app.test_client()
    results: dict[str, Any] = {}
    recorded: list[tuple[str, Any]] = []

    with app.app_context():
        state = app_state()

        def service(deck: int | None) -> Callable[[], Any]:
            def run() -> Any:
                with state.sessions() as session:
                    user = session.scalars(select(User)).one()
                    found = session.get(Deck, deck) if deck else None
                    return collect_statistics(session, user=user, now=NOW, deck=found)

            return run

        def record(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
            recorded.append((statement, params))

        for label, deck in (("overall", None), ("one deck", deck_id)):
            url = "/stats" if deck is None else f"/stats?deck={deck}"
            response = client.get(url)
            assert response.status_code == 200, response.status_code
            results[f"page {label}"] = median_ms(partial(client.get, url), runs)
            results[f"service {label}"] = median_ms(service(deck), runs)
            recorded.clear()
            event.listen(state.engine, "before_cursor_execute", record)
            service(deck)()
            event.remove(state.engine, "before_cursor_execute", record)
            statements = list(recorded)
            raw = sqlite3.connect(path)

            def replay(
                statements: list[tuple[str, Any]] = statements,
                raw: sqlite3.Connection = raw,
            ) -> None:
                for statement, params in statements:
                    raw.execute(statement, params).fetchall()

            results[f"raw floor {label}"] = median_ms(replay, runs)
            results[f"queries {label}"] = len(statements)
            raw.close()
        state.engine.dispose()
    return results


def _ms(pair: tuple[float, float]) -> str:
    wall, cpu = pair
    return f"{wall:.0f} ms (cpu {cpu:.0f})"


def report(title: str, results: dict[str, Any]) -> None:
    rows = []
    for label in ("overall", "one deck"):
        floor = _ms(results[f"raw floor {label}"])
        queries = results[f"queries {label}"]
        target = f"≤ {TARGET_MS:.0f} ms"
        rows.append(
            (f"GET /stats ({label})", _ms(results[f"page {label}"]), target, floor)
        )
        rows.append(
            (
                f"collect_statistics ({label}, {queries} queries)",
                _ms(results[f"service {label}"]),
                target,
                floor,
            )
        )
    print_table(title, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the database here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench.sqlite3"
        if not path.exists():
            start = time.perf_counter()
            info = build_database(path)
            print(
                f"Built {CARDS:,} cards, {STUDIED:,} progress rows and {REVIEWS:,} "
                f"reviews over {HISTORY_DAYS} days in {time.perf_counter() - start:.1f} s"
            )
        else:
            info = {"deck_id": 3}
        db = sqlite3.connect(path)
        today = (
            info.get("today")
            or db.execute("SELECT max(review_day) FROM reviews").fetchone()[0]
        )
        total, recent = db.execute(
            "SELECT count(*), sum(review_day > ?) FROM reviews", (today - 365,)
        ).fetchone()
        print(f"{total:,} reviews, {recent:,} of them in the past 365 days")
        for name in PROPOSED_INDEXES:
            db.execute(f"DROP INDEX IF EXISTS {name}")
        db.commit()
        # Without the indexes every run reads the log through the table: one run.
        report(
            "Statistics, without the statistics indexes (1 run)",
            measure(path, 1, info["deck_id"]),
        )
        for sql in PROPOSED_INDEXES.values():
            db.execute(sql)
        db.commit()
        db.close()
        report(
            "Statistics, schema as migrated (with " + ", ".join(PROPOSED_INDEXES) + ")",
            measure(path, args.runs, info["deck_id"]),
        )


if __name__ == "__main__":
    main()

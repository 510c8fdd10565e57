"""Benchmark the study service in-process: queue building, answer-and-next, deck counts.

One user with 100k cards in 200 decks and 1M review-log rows in SQLite. Beside each
figure: the target from the issue and the raw floor, raw sqlite3 doing the same kind
of SELECT/UPDATE/INSERT work in the same run.

Run: .venv/bin/python -m bench.bench_study [--cards 100000] [--reviews 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from bench.bench_web import build_database
from bench.common import print_table
from flashcards.db.engine import make_engine, make_session_factory
from flashcards.db.migrate import upgrade_database
from flashcards.db.models import Deck, User
from flashcards.services import queue_cache, study


def add_review_history(path: Path, total: int, seed: int = 2) -> None:
    """Pad the review log to `total` rows, spread over the past year."""
    conn = sqlite3.connect(path)
    have = conn.execute("SELECT count(*), max(id) FROM reviews").fetchone()
    cards = conn.execute("SELECT id, deck_id FROM cards").fetchall()
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    day0 = (now - dt.timedelta(hours=4)).date()
    day0_number = (day0 - dt.date(1970, 1, 1)).days
    rows = []
    next_id = (have[1] or 0) + 1
    for i in range(total - have[0]):
        card_id, deck_id = cards[rng.randrange(len(cards))]
        back = rng.randint(1, 365)
        when = now - dt.timedelta(days=back, seconds=rng.randint(0, 86000))
        rows.append((
            next_id + i, 1, card_id, deck_id, when.strftime("%Y-%m-%d %H:%M:%S.%f"),
            day0_number - back, rng.choice((1, 3, 3, 3, 4)), "review", 10, 20, 0,
            2.5, 2.5, 6000,
        ))
        if len(rows) >= 100_000:
            _insert_reviews(conn, rows)
            rows = []
    _insert_reviews(conn, rows)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def _insert_reviews(conn: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    conn.executemany(
        "INSERT INTO reviews (id, user_id, card_id, deck_id, reviewed_at, review_day,"
        " rating, phase, interval_before, interval_after, step_seconds_after,"
        " ease_before, ease_after, duration_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def measure(path: Path, answers: int) -> dict[str, float]:
    engine = make_engine(f"sqlite:///{path}")
    sessions = make_session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    with sessions() as session:
        user = session.scalars(select(User)).one()
        top = session.scalars(select(Deck).where(Deck.name == "Subject 00")).one()
        top_id, user_id = top.id, user.id
        # When one deck's queue is done, the answer loop moves to the next one.
        spare_decks = list(session.scalars(
            select(Deck.id).where(Deck.name.not_like("%::%"), Deck.id != top_id)))

    queue_times = []
    for _ in range(30):
        with sessions() as session:
            user = session.get_one(User, user_id)
            deck = session.get_one(Deck, top_id)
            queue_cache.forget_all()  # a cold build, as on the first visit of the day
            start = time.perf_counter()
            study.study_queue(session, user=user, deck=deck, now=now)
            queue_times.append(time.perf_counter() - start)

    count_times = []
    for _ in range(20):
        with sessions() as session:
            user = session.get_one(User, user_id)
            start = time.perf_counter()
            study.deck_list_counts(session, user=user, now=now)
            count_times.append(time.perf_counter() - start)

    answer_times = []
    with sessions() as session:
        user = session.get_one(User, user_id)
        deck = session.get_one(Deck, top_id)
        card = study.study_queue(session, user=user, deck=deck, now=now).card
    for i in range(answers):
        while card is None:
            top_id = spare_decks.pop(0)
            with sessions() as session:
                user = session.get_one(User, user_id)
                deck = session.get_one(Deck, top_id)
                card = study.study_queue(session, user=user, deck=deck, now=now).card
        moment = now + dt.timedelta(seconds=i)
        start = time.perf_counter()
        with sessions.begin() as session:
            user = session.get_one(User, user_id)
            deck = session.get_one(Deck, top_id)
            study.answer_card(
                session, user=user, card_id=card.card_id, rating=3, now=moment,
                expected_version=card.version, duration_ms=3000,
            )
            card = study.study_queue(session, user=user, deck=deck, now=moment).card
        answer_times.append(time.perf_counter() - start)
    return {
        "queue": statistics.median(queue_times),
        "counts": statistics.median(count_times),
        "answer_median": statistics.median(answer_times),
        "answer_p99": percentile(answer_times, 0.99),
    }


def raw_floor(path: Path, answers: int) -> dict[str, float]:
    """The same kind of work in raw sqlite3: count, pick, update, insert, pick."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # as our engine runs it
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    deck_ids = [r[0] for r in conn.execute(
        "SELECT id FROM decks WHERE name = 'Subject 00' OR name LIKE 'Subject 00::%'")]
    marks = ",".join("?" * len(deck_ids))

    def queue() -> None:
        conn.execute(
            f"SELECT count(*) FROM card_progress p JOIN cards c ON c.id = p.card_id "
            f"WHERE p.user_id = 1 AND p.deck_id IN ({marks}) AND p.queue = 'review' "
            f"AND p.due_day <= 99999 AND c.retired_at IS NULL", deck_ids).fetchone()
        conn.execute(
            f"SELECT c.id FROM cards c LEFT JOIN card_progress p ON p.card_id = c.id "
            f"AND p.user_id = 1 WHERE c.deck_id IN ({marks}) AND c.retired_at IS NULL "
            f"AND p.card_id IS NULL ORDER BY c.position LIMIT 1", deck_ids).fetchone()

    times = []
    for _ in range(30):
        start = time.perf_counter()
        queue()
        times.append(time.perf_counter() - start)
    queue_floor = statistics.median(times)

    times = []
    for _ in range(20):
        start = time.perf_counter()
        conn.execute(
            "SELECT deck_id, queue, count(*) FROM card_progress WHERE user_id = 1 "
            "GROUP BY deck_id, queue").fetchall()
        conn.execute(
            "SELECT deck_id, count(*) FROM cards WHERE retired_at IS NULL "
            "GROUP BY deck_id").fetchall()
        times.append(time.perf_counter() - start)
    count_floor = statistics.median(times)

    card_ids = [r[0] for r in conn.execute(
        f"SELECT id FROM cards WHERE deck_id IN ({marks}) LIMIT ?", [*deck_ids, answers])]
    # What an answer and the next card cost once the day's queue is known (ours
    # keeps it in memory): read the card and its progress, write the progress,
    # log the review, bump the user's queue stamp, read the next card.
    times = []
    for card_id, next_id in itertools.pairwise(card_ids):
        start = time.perf_counter()
        conn.execute(
            "SELECT * FROM cards c JOIN decks d ON d.id = c.deck_id LEFT JOIN"
            " card_progress p ON p.card_id = c.id AND p.user_id = 1 WHERE c.id = ?",
            (card_id,)).fetchone()
        conn.execute("UPDATE card_progress SET reps = reps + 1, version = version + 1 "
                     "WHERE user_id = 1 AND card_id = ?", (card_id,))
        conn.execute(
            "INSERT INTO reviews (user_id, card_id, deck_id, reviewed_at, review_day,"
            " rating, phase, interval_before, interval_after, step_seconds_after,"
            " ease_before, ease_after, duration_ms) VALUES (1,?,?,?,0,3,'review',1,3,0,"
            "2.5,2.5,3000)", (card_id, deck_ids[0], now))
        conn.execute("UPDATE users SET queue_stamp = queue_stamp + 1 WHERE id = 1")
        conn.commit()
        conn.execute(
            "SELECT * FROM cards c LEFT JOIN card_progress p ON p.card_id = c.id"
            " AND p.user_id = 1 WHERE c.id = ?", (next_id,)).fetchone()
        times.append(time.perf_counter() - start)
    conn.close()
    return {
        "queue": queue_floor,
        "counts": count_floor,
        "answer_median": statistics.median(times),
        "answer_p99": percentile(times, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--decks", type=int, default=200)
    parser.add_argument("--reviews", type=int, default=1_000_000)
    parser.add_argument("--answers", type=int, default=300)
    parser.add_argument("--copy-of", type=Path, help="reuse a database built before")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        if args.copy_of:
            shutil.copy(args.copy_of, path)
            engine = make_engine(f"sqlite:///{path}")
            upgrade_database(engine)  # a database built before a newer migration
            engine.dispose()
        else:
            build_database(path, cards=args.cards, decks=args.decks)
            add_review_history(path, args.reviews)
        ours = measure(path, args.answers)
        raw = raw_floor(path, args.answers)
    print_table(
        f"Study service, {args.cards:,} cards, {args.reviews:,} reviews, "
        f"{args.decks} decks (in-process, SQLite)",
        [
            ("build today's queue", ms(ours["queue"]), "<= 50 ms", ms(raw["queue"])),
            ("answer + next card, median", ms(ours["answer_median"]), "<= 2 ms",
             ms(raw["answer_median"])),
            ("answer + next card, p99", ms(ours["answer_p99"]), "<= 10 ms",
             ms(raw["answer_p99"])),
            (f"deck-list counts, {args.decks} decks", ms(ours["counts"]), "<= 30 ms",
             ms(raw["counts"])),
        ],
    )


if __name__ == "__main__":
    main()

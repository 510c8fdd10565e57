"""Web benchmark: answer-and-next, the home page and browse pages over HTTP against a
real `flashcards serve` process on SQLite, at 100k cards in 200 decks.

The data is written with bulk inserts (not through YAML) so setup takes seconds.
Each row prints our median, the target, and a raw floor: the same kind of work done
with raw sqlite3 in this process (no HTTP, no ORM, no templates), plus the cost of
one HTTP round trip for a static file.

Run: .venv/bin/python -m bench.bench_web [--cards 100000] [--decks 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from bench.common import print_table
from flashcards.db.engine import make_engine
from flashcards.db.migrate import upgrade_database

DAY = 86400


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def build_database(path: Path, *, cards: int, decks: int, seed: int = 1) -> None:
    """Users, presets, decks, notes, cards, progress and a review log, in bulk."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    engine.dispose()
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    today = (now - dt.timedelta(hours=4)).date()
    today_number = (today - dt.date(1970, 1, 1)).days
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "INSERT INTO users (id, name, is_admin, timezone, rollover_hour, created_at)"
        " VALUES (1, 'local', 1, 'UTC', 4, ?)", (stamp,),
    )
    conn.execute(
        "INSERT INTO presets (id, name, new_per_day, reviews_per_day, learning_steps,"
        " relearning_steps, graduating_interval, easy_interval, starting_ease,"
        " easy_bonus, hard_interval, interval_modifier, lapse_multiplier,"
        " minimum_interval, leech_threshold, leech_action, maximum_interval,"
        " bury_siblings) VALUES (1, 'Default', 20, 9999, '1 10', '10', 1, 4, 2.5,"
        " 1.3, 1.2, 1.0, 0.0, 1, 8, 'tag', 36500, 1)"
    )
    per_deck = cards // decks
    deck_rows = []
    for d in range(decks):
        parent, child = divmod(d, 10)
        name = f"Subject {parent:02d}" if child == 0 else f"Subject {parent:02d}::Topic {child}"
        deck_rows.append((d + 1, "shared", f"deck-{d}", name, "[]", "", stamp, stamp))
    conn.executemany(
        "INSERT INTO decks (id, scope, slug, name, tags, content_hash, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", deck_rows,
    )
    notes, card_rows, progress, reviews = [], [], [], []
    review_id = 0
    for i in range(cards):
        deck = i // per_deck % decks + 1
        position = i % per_deck
        notes.append((
            i + 1, deck, f"n{i}", "basic", f"What is {rng.random():.6f} number {i}?",
            f"The answer to **{i}** is $x^{2}$ and more.", None, 0, None,
            '["bench"]', position + 1, position, stamp, stamp,
        ))
        card_rows.append((i + 1, i + 1, deck, "front", position * 100))
        if position < per_deck * 0.6:
            # Studied cards: reviews spread around today, a few in learning.
            learning = rng.random() < 0.02
            due_day = today_number + rng.randint(-3, 60)
            due_at = dt.datetime.combine(
                dt.date(1970, 1, 1) + dt.timedelta(days=due_day), dt.time(4)
            )
            if learning:
                due_at = now + dt.timedelta(minutes=rng.randint(-30, 600))
            progress.append((
                1, i + 1, deck, "learning" if learning else "review",
                "learning" if learning else "review",
                due_at.strftime("%Y-%m-%d %H:%M:%S.%f"),
                None if learning else due_day, rng.randint(1, 120), 2.5, 1 if learning else 0,
                rng.randint(1, 20), rng.randint(0, 4),
                (now - dt.timedelta(days=rng.randint(1, 90))).strftime("%Y-%m-%d %H:%M:%S.%f"),
                0, None, 0, 1,
            ))
            review_id += 1
            reviewed = now - dt.timedelta(days=rng.randint(1, 90))
            reviews.append((
                review_id, 1, i + 1, deck, reviewed.strftime("%Y-%m-%d %H:%M:%S.%f"),
                today_number - 5, 3, "review", 10, 12, 0, 2.5, 2.5, 5000,
            ))
    conn.executemany("INSERT INTO notes (id, deck_id, key, kind, front, back, cloze,"
                     " reverse, extra, tags, line, position, created_at,"
                     " content_updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", notes)
    conn.executemany("INSERT INTO cards (id, note_id, deck_id, slot, position)"
                     " VALUES (?,?,?,?,?)", card_rows)
    conn.executemany(
        "INSERT INTO card_progress (user_id, card_id, deck_id, phase, queue, due_at,"
        " due_day, interval_days, ease, remaining_steps, reps, lapses,"
        " last_reviewed_at, suspended, buried_until_day, is_leech, version)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", progress,
    )
    conn.executemany(
        "INSERT INTO reviews (id, user_id, card_id, deck_id, reviewed_at, review_day,"
        " rating, phase, interval_before, interval_after, step_seconds_after,"
        " ease_before, ease_after, duration_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        reviews,
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


class Client:
    """One browser: a cookie jar and the CSRF token, over plain http.client."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""
        self.token = ""

    def request(
        self, method: str, path: str, body: dict[str, str] | None = None,
        accept: str = "text/html",
    ) -> tuple[int, bytes, float]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Accept": accept}
        if self.cookie:
            headers["Cookie"] = self.cookie
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        start = time.perf_counter()
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        elapsed = time.perf_counter() - start
        conn.close()
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        match = re.search(rb'name="csrf-token" content="([^"]+)"', payload)
        if match:
            self.token = match.group(1).decode()
        return response.status, payload, elapsed


def median_of(fn: Callable[[], float], runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    return statistics.median(fn() for _ in range(runs))


def raw_floor(fn: Callable[[], object], runs: int = 50) -> float:
    def once() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return median_of(once, runs)


def start_server(instance: Path, decks: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {**os.environ, "FLASHCARDS_INSTANCE": str(instance),
           "FLASHCARDS_DECKS": str(decks)}
    env.pop("FLASHCARDS_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "flashcards.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--decks", type=int, default=200)
    parser.add_argument("--answers", type=int, default=300)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        instance, decks = root / "instance", root / "decks"
        instance.mkdir()
        decks.mkdir()
        database = instance / "flashcards.sqlite3"
        start = time.perf_counter()
        build_database(database, cards=args.cards, decks=args.decks)
        print(f"built {args.cards:,} cards in {args.decks} decks in "
              f"{time.perf_counter() - start:.1f} s")
        process, port = start_server(instance, decks)
        try:
            rows = run(port, database, args)
        finally:
            process.terminate()
            process.wait(timeout=10)
    print_table(
        f"web at {args.cards:,} cards, {args.decks} decks (median, HTTP to a real "
        "server process)",
        rows,
    )


def run(port: int, database: Path, args: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    client = Client(port)
    client.request("GET", "/")
    raw = sqlite3.connect(database)
    rows: list[tuple[str, str, str, str]] = []

    http_floor = median_of(lambda: client.request("GET", "/static/icon.svg")[2], 50)

    # --- answer and next --------------------------------------------------------
    deck = 1  # "Subject 00" and its 9 subdecks: reviews due today, new cards
    status, page, _ = client.request("GET", f"/study/{deck}")
    assert status == 200, status
    html = page.decode()
    timings: list[float] = []
    for _ in range(args.answers):
        card = re.search(r'name="card_id" value="(\d+)"', html)
        version = re.search(r'name="version" value="(\d+)"', html)
        if not card or not version:
            break
        status, payload, elapsed = client.request(
            "POST", f"/study/{deck}/answer",
            {"csrf_token": client.token, "card_id": card.group(1),
             "version": version.group(1), "rating": "3", "duration_ms": "3000"},
            accept="application/json",
        )
        assert status == 200, (status, payload[:300])
        timings.append(elapsed)
        html = json.loads(payload)["html"]
    answer_median = statistics.median(timings[5:]) if len(timings) > 5 else float("nan")

    def raw_answer() -> None:
        # The same database work without a web framework or ORM: read the card,
        # its deck and progress, write progress + log + the user's queue stamp,
        # read the next card with its note (today's queue order is kept in memory,
        # so nothing is recounted).
        card_id = raw.execute(
            "SELECT card_id FROM card_progress WHERE user_id=1 AND deck_id=3 AND "
            "queue='review' ORDER BY due_day, card_id LIMIT 1").fetchone()[0]
        raw.execute(
            "SELECT * FROM cards c JOIN decks d ON d.id = c.deck_id LEFT JOIN"
            " card_progress p ON p.card_id = c.id AND p.user_id = 1 WHERE c.id = ?",
            (card_id,)).fetchone()
        raw.execute("UPDATE card_progress SET reps=reps+1, version=version+1 "
                    "WHERE user_id=1 AND card_id=?", (card_id,))
        raw.execute("INSERT INTO reviews (user_id, card_id, deck_id, reviewed_at,"
                    " review_day, rating, phase, interval_before, interval_after,"
                    " step_seconds_after, ease_before, ease_after, duration_ms)"
                    " VALUES (1, ?, 3, '2030-01-01', 1, 3, 'review', 1, 2, 0, 2.5,"
                    " 2.5, 1)", (card_id,))
        raw.execute("UPDATE users SET queue_stamp = queue_stamp + 1 WHERE id = 1")
        raw.execute(
            "SELECT * FROM cards c JOIN notes n ON n.id = c.note_id LEFT JOIN"
            " card_progress p ON p.card_id = c.id AND p.user_id = 1 WHERE c.id = ?",
            (card_id + 1,)).fetchone()
        raw.rollback()

    rows.append(("answer + next card (JSON)", _ms(answer_median), "≤ 5 ms",
                 f"{_ms(raw_floor(raw_answer))} sqlite; {_ms(http_floor)} HTTP"))

    # --- home page --------------------------------------------------------------
    home = median_of(lambda: client.request("GET", "/")[2], 30)

    def raw_home() -> None:
        raw.execute("SELECT id, name, preset_id FROM decks").fetchall()
        raw.execute("SELECT deck_id, count(*) FROM cards WHERE retired_at IS NULL "
                    "GROUP BY deck_id").fetchall()
        raw.execute(
            "SELECT p.deck_id, sum(p.queue='review' AND p.due_day <= 99999),"
            " sum(p.queue='learning'), count(*), max(p.last_reviewed_at)"
            " FROM card_progress p JOIN cards c ON c.id = p.card_id"
            " WHERE p.user_id=1 AND c.retired_at IS NULL GROUP BY p.deck_id").fetchall()

    rows.append((f"home page, {args.decks} decks", _ms(home), "≤ 60 ms",
                 _ms(raw_floor(raw_home, 20))))

    # --- browse -----------------------------------------------------------------
    first = median_of(lambda: client.request("GET", "/browse")[2], 30)
    status, page, _ = client.request("GET", "/browse")
    cursor = re.search(rb'href="(/browse\?after=[^"]+)"', page)
    deep = None
    if cursor:
        next_url = cursor.group(1).decode().replace("&amp;", "&")
        deep = median_of(lambda: client.request("GET", next_url)[2], 30)
    by_due = median_of(lambda: client.request("GET", "/browse?sort=due")[2], 10)
    search = median_of(lambda: client.request("GET", "/browse?q=number+4242")[2], 10)
    deck_filter = median_of(
        lambda: client.request("GET", "/browse?deck=5&state=review")[2], 10
    )
    # The other sorts read every live card and sort them (no index serves them).
    other_sorts = {
        "interval": "coalesce(p.interval_days, 0)",
        "ease": "coalesce(p.ease, 0)",
        "lapses": "coalesce(p.lapses, 0)",
        "reps": "coalesce(p.reps, 0)",
        "deck": "d.name",
    }
    by_other = {
        sort: median_of(
            lambda sort=sort: client.request("GET", f"/browse?sort={sort}")[2], 5
        )
        for sort in other_sorts
    }

    def raw_browse() -> None:
        raw.execute("SELECT count(*) FROM cards WHERE retired_at IS NULL").fetchone()
        raw.execute(
            "SELECT c.id, n.front, d.name, p.queue, p.due_at FROM cards c"
            " JOIN notes n ON n.id = c.note_id JOIN decks d ON d.id = c.deck_id"
            " LEFT JOIN card_progress p ON p.card_id = c.id AND p.user_id = 1"
            " WHERE c.retired_at IS NULL ORDER BY c.id LIMIT 51").fetchall()

    def raw_due() -> None:
        # Our query shape: cards with a due date straight from
        # ix_card_progress_user_due_at (no sort); cards without one follow by id.
        raw.execute("SELECT count(*) FROM cards WHERE retired_at IS NULL").fetchone()
        raw.execute(
            "SELECT c.id, n.front, d.name, p.queue, p.due_at FROM card_progress p"
            " JOIN cards c ON c.id = p.card_id JOIN notes n ON n.id = c.note_id"
            " JOIN decks d ON d.id = c.deck_id"
            " WHERE p.user_id = 1 AND p.due_at IS NOT NULL AND c.retired_at IS NULL"
            " ORDER BY p.due_at, p.card_id LIMIT 51").fetchall()

    words = ("number", "4242")
    fields = ("front", "back", "cloze", "extra", "key")
    each_word = " AND ".join(
        "(" + " OR ".join(f'n."{f}" LIKE ?' for f in fields) + ")" for _ in words
    )
    likes = [f"%{word}%" for word in words for _ in fields]
    match = " ".join(f'"{w[i:i + 3]}"' for w in words for i in range(len(w) - 2))

    def raw_search() -> None:
        # Our query shape: the notes the trigram index finds (they have all the
        # words' trigrams), then the capped count (streamed from the index) and the
        # page from those notes, LIKE checking each word.
        notes = [row[0] for row in raw.execute(
            "SELECT rowid FROM notes_search WHERE notes_search MATCH ? LIMIT 1001",
            (match,))]
        among = f"c.note_id IN ({', '.join('?' * len(notes))})"
        raw.execute(
            "SELECT count(*) FROM (SELECT c.id FROM notes_search s"
            " JOIN notes n ON n.id = s.rowid JOIN cards c ON c.note_id = n.id"
            f" WHERE notes_search MATCH ? AND c.retired_at IS NULL AND {each_word}"
            f" AND {among} LIMIT 10001)", (match, *likes, *notes)).fetchone()
        raw.execute(
            "SELECT c.id, n.front, d.name, p.queue, p.due_at FROM cards c"
            " JOIN notes n ON n.id = c.note_id JOIN decks d ON d.id = c.deck_id"
            " LEFT JOIN card_progress p ON p.card_id = c.id AND p.user_id = 1"
            f" WHERE c.retired_at IS NULL AND {each_word} AND {among}"
            " ORDER BY c.id LIMIT 51", (*likes, *notes)).fetchall()

    browse_floor = _ms(raw_floor(raw_browse, 20))
    rows.append(("browse, first page", _ms(first), "≤ 50 ms", browse_floor))
    if deep is not None:
        rows.append(("browse, next page (cursor)", _ms(deep), "≤ 50 ms", browse_floor))
    rows.append(("browse, sorted by due", _ms(by_due), "≤ 50 ms",
                 _ms(raw_floor(raw_due, 20))))
    rows.append(("browse, text search", _ms(search), "≤ 50 ms",
                 _ms(raw_floor(raw_search, 20))))
    rows.append(("browse, deck + state filter", _ms(deck_filter), "≤ 50 ms", "—"))
    for sort, key in other_sorts.items():

        def raw_sorted(key: str = key) -> None:
            # Our query shape: sort narrow rows (id and key), then read the page.
            raw.execute("SELECT count(*) FROM cards WHERE retired_at IS NULL").fetchone()
            ids = [row[0] for row in raw.execute(
                "SELECT c.id FROM cards c JOIN decks d ON d.id = c.deck_id"
                " LEFT JOIN card_progress p ON p.card_id = c.id AND p.user_id = 1"
                f" WHERE c.retired_at IS NULL ORDER BY {key}, c.id LIMIT 51")]
            raw.execute(
                "SELECT c.id, n.front, d.name, p.queue, p.due_at FROM cards c"
                " JOIN notes n ON n.id = c.note_id JOIN decks d ON d.id = c.deck_id"
                " LEFT JOIN card_progress p ON p.card_id = c.id AND p.user_id = 1"
                f" WHERE c.id IN ({', '.join('?' * len(ids))})", ids
            ).fetchall()

        rows.append((f"browse, sorted by {sort}", _ms(by_other[sort]), "≤ 50 ms",
                     _ms(raw_floor(raw_sorted, 5))))
    raw.close()
    return rows


if __name__ == "__main__":
    main()

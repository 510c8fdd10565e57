"""Benchmark the Anki export against raw genanki writing the same notes, in one run.

Setup (not timed): deck files from bench.common are imported into a SQLite
database (the importer stores every note's fields rendered for Anki), a copy of
it gets those stored fields cleared (a database from before they were stored),
and every field is rendered once (deckfile.render) so raw genanki can be handed
exactly the HTML we write. Each measured step then runs in its own process, so
its peak memory is its own:

- ours, end to end: `write_package` from the database to a file (query, check
  the stored fields against the text, write, zip);
- ours with nothing stored: the same from the copy, so every note is rendered
  (Markdown and math) and the result written back to its row;
- rendering alone: `to_anki_html`/`to_anki_cloze` over every field;
- raw genanki: build `genanki.Note`s from the same HTML, GUIDs and tags with the
  same note types, and `Package.write_to_file`.

Targets (issue 6): 10k notes in <= 1.5 x raw genanki's time; 100k notes within
300 MB of memory (raw genanki needs about 110 MB).

Run: .venv/bin/python -m bench.bench_export [--skip-100k]
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import deck_yaml, peak_rss_mb, print_table, timed

TIME_FACTOR = 1.5
MEMORY_MB = 300.0


# --- setup ---------------------------------------------------------------------------


def setup(folder: Path, files: int, per_file: int, *, progress: bool = False) -> None:
    """Deck files, the database (and a copy without stored fields), and the
    rendered fields of every note (JSON lines)."""
    from sqlalchemy import select, update

    from flashcards.db.engine import make_engine, make_session_factory
    from flashcards.db.migrate import upgrade_database
    from flashcards.db.models import Deck, Note
    from flashcards.deckfile.render import to_anki_cloze, to_anki_html
    from flashcards.export import identity
    from flashcards.export.fields import anki_tags
    from flashcards.export.notetypes import REVERSE_ON
    from flashcards.services.importing import import_paths
    from flashcards.services.users import ensure_local_user

    paths = []
    for i in range(files):
        path = folder / f"deck{i:03}.yaml"
        path.write_text(deck_yaml(f"b{i}", per_file, seed=i))
        paths.append(path)
    engine = make_engine(f"sqlite:///{folder / 'db.sqlite3'}")
    upgrade_database(engine)
    sessions = make_session_factory(engine)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=60)
    with sessions.begin() as session:
        report = import_paths(session, paths, now=now, max_bytes=10**9)
        assert report.ok, report.failures[:1]
        user = ensure_local_user(session, now=now)
        if progress:
            _add_progress(session, user.id, now)
    rendered: dict[str, str] = {}
    with sessions() as session, (folder / "notes.jsonl").open("w") as out:
        rows = session.execute(
            select(Deck.slug, Deck.name, Deck.tags, Note)
            .join(Note, Note.deck_id == Deck.id)
            .order_by(Deck.name, Note.position)
        )
        for slug, name, deck_tags, note in rows.tuples():
            if note.kind == "cloze":
                fields = [to_anki_cloze(note.cloze), _html(note.extra, to_anki_html)]
                rendered[f"c\x00{note.cloze}"] = fields[0]
            else:
                fields = [
                    _html(note.front, to_anki_html),
                    _html(note.back, to_anki_html),
                    _html(note.extra, to_anki_html),
                    REVERSE_ON if note.reverse else "",
                ]
            for text in (note.front, note.back, note.extra):
                if text:
                    rendered[f"h\x00{text}"] = to_anki_html(text)
            record = {
                "deck": name,
                "deck_id": identity.deck_id(slug),
                "cloze": note.kind == "cloze",
                "guid": identity.note_guid(slug, note.key),
                "tags": anki_tags(deck_tags, note.tags),
                "fields": fields,
            }
            out.write(json.dumps(record) + "\n")
    (folder / "rendered.json").write_text(json.dumps(rendered))
    engine.dispose()
    shutil.copyfile(folder / "db.sqlite3", folder / "db-unstored.sqlite3")
    unstored = make_engine(f"sqlite:///{folder / 'db-unstored.sqlite3'}")
    with unstored.begin() as connection:
        connection.execute(
            update(Note).values(anki_key=None, anki_fields=None, anki_images=None)
        )
    unstored.dispose()


def _html(text: str | None, render: Any) -> str:
    return render(text) if text and text.strip() else ""


def _add_progress(session: Any, user_id: int, now: dt.datetime) -> None:
    """Every card in review with five logged answers (raw inserts: setup only)."""
    from sqlalchemy import insert, select

    from flashcards.db.models import Card, CardProgress, Review

    cards = session.execute(select(Card.id, Card.deck_id)).all()
    progress, reviews = [], []
    for i, (card_id, deck_id) in enumerate(cards):
        progress.append(
            {
                "user_id": user_id,
                "card_id": card_id,
                "deck_id": deck_id,
                "phase": "review",
                "queue": "review",
                "interval_days": 10 + i % 30,
                "due_day": 20_000 + i % 40,
                "ease": 2.5,
                "reps": 5,
                "last_reviewed_at": now,
            }
        )
        for r in range(5):
            reviews.append(
                {
                    "user_id": user_id,
                    "card_id": card_id,
                    "deck_id": deck_id,
                    "reviewed_at": now - dt.timedelta(days=5 - r, seconds=i),
                    "review_day": 20_000,
                    "rating": 3,
                    "phase": "review",
                    "interval_before": r,
                    "interval_after": r + 1,
                    "ease_before": 2.5,
                    "ease_after": 2.5,
                }
            )
    session.execute(insert(CardProgress), progress)
    session.execute(insert(Review), reviews)


# --- measured steps (each in its own process) -----------------------------------------


def ours(folder: str, mode: str) -> dict[str, float]:
    """Export every deck; mode: 'full', 'unstored' or 'progress'.

    The session is never committed, so 'unstored' finds nothing stored each time.
    """
    from flashcards.db.engine import make_engine, make_session_factory
    from flashcards.export import write_package

    database = "db-unstored.sqlite3" if mode == "unstored" else "db.sqlite3"
    sessions = make_session_factory(make_engine(f"sqlite:///{folder}/{database}"))
    now = dt.datetime.now(dt.UTC)
    user_id = 1 if mode == "progress" else None

    def run() -> Any:
        with sessions() as session:
            return write_package(
                session,
                Path(folder) / f"ours-{mode}.apkg",
                deck_ids=None,
                user_id=user_id,
                with_progress=mode == "progress",
                now=now,
            )

    result, seconds = timed(run)
    return {"seconds": seconds, "peak_mb": peak_rss_mb(), "notes": result.notes}


def render_only(folder: str) -> dict[str, float]:
    from flashcards.deckfile.render import to_anki_cloze, to_anki_html

    rendered = json.loads((Path(folder) / "rendered.json").read_text())

    def run() -> None:
        for key in rendered:
            kind, text = key.split("\x00", 1)
            (to_anki_cloze if kind == "c" else to_anki_html)(text)

    _, seconds = timed(run)
    return {"seconds": seconds, "peak_mb": peak_rss_mb()}


def raw_genanki(folder: str) -> dict[str, float]:
    """genanki alone writing the same notes (HTML, GUIDs, tags, note types, decks)."""
    import genanki

    from flashcards.export import notetypes

    # Plain tuples whose strings and lists the Notes then share: what stays in
    # memory is what genanki itself holds.
    records = []
    with (Path(folder) / "notes.jsonl").open() as lines:
        for line in lines:
            r = json.loads(line)
            records.append(
                (r["deck_id"], r["deck"], r["cloze"], r["guid"], r["tags"], r["fields"])
            )

    def run() -> int:
        basic = notetypes.genanki_model(notetypes.BASIC)
        cloze = notetypes.genanki_model(notetypes.CLOZE)
        decks: dict[int, genanki.Deck] = {}
        for deck_id, name, is_cloze, guid, tags, fields in records:
            deck = decks.get(deck_id)
            if deck is None:
                deck = decks[deck_id] = genanki.Deck(deck_id, name)
            deck.add_note(
                genanki.Note(
                    model=cloze if is_cloze else basic,
                    fields=fields,
                    tags=tags,
                    guid=guid,
                )
            )
        genanki.Package(list(decks.values())).write_to_file(
            str(Path(folder) / "raw.apkg")
        )
        return len(records)

    notes, seconds = timed(run)
    return {"seconds": seconds, "peak_mb": peak_rss_mb(), "notes": notes}


def _in_subprocess(function: str, *args: str) -> dict[str, float]:
    code = (
        "import json, sys; from bench import bench_export as b; "
        f"print(json.dumps(b.{function}(*sys.argv[1:])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise RuntimeError(out.stderr)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _setup_in_subprocess(
    folder: Path, files: int, per_file: int, progress: bool
) -> None:
    code = (
        "import sys; from pathlib import Path; from bench import bench_export as b; "
        "b.setup(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), "
        "progress=sys.argv[4] == '1')"
    )
    subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(folder),
            str(files),
            str(per_file),
            "1" if progress else "0",
        ],
        check=True,
    )


def _best_of(
    steps: dict[str, tuple[str, ...]], folder: Path, rounds: int = 3
) -> dict[str, dict[str, float]]:
    """The fastest of a few runs of each step (the machine is shared), with that
    run's memory. Rounds interleave the steps, so load changes hit all alike."""
    best: dict[str, dict[str, float]] = {}
    for _ in range(rounds):
        for name, (function, *args) in steps.items():
            result = _in_subprocess(function, str(folder), *args)
            if name not in best or result["seconds"] < best[name]["seconds"]:
                best[name] = result
    return best


def main() -> None:
    skip_100k = "--skip-100k" in sys.argv
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        small = tmp / "10k"
        small.mkdir()
        _setup_in_subprocess(small, 1, 10_000, progress=True)
        best = _best_of(
            {
                "raw": ("raw_genanki",),
                "full": ("ours", "full"),
                "unstored": ("ours", "unstored"),
                "prog": ("ours", "progress"),
                "render": ("render_only",),
            },
            small,
        )
        raw, full, unstored = best["raw"], best["full"], best["unstored"]
        prog, render = best["prog"], best["render"]
        limit = TIME_FACTOR * raw["seconds"]
        floor = f"{raw['seconds']:.2f} s"
        rows = [
            (
                f"10k notes, end to end ({full['notes']:.0f} notes)",
                f"{full['seconds']:.2f} s",
                f"<= {limit:.2f} s",
                floor,
            ),
            (
                "10k notes, nothing stored yet (renders and stores)",
                f"{unstored['seconds']:.2f} s",
                "-",
                floor,
            ),
            (
                "10k notes, with progress (5 reviews per card)",
                f"{prog['seconds']:.2f} s",
                "-",
                floor,
            ),
            (
                "10k notes, rendering alone (deckfile.render)",
                f"{render['seconds']:.2f} s",
                "-",
                "-",
            ),
            (
                "10k notes, end to end / raw genanki",
                f"{full['seconds'] / raw['seconds']:.2f} x",
                f"<= {TIME_FACTOR:.2f} x",
                "1.00 x",
            ),
        ]
        print_table("Export to .apkg, 10k notes (best of 3 runs)", rows)
        if skip_100k:
            return
        big = tmp / "100k"
        big.mkdir()
        _setup_in_subprocess(big, 10, 10_000, progress=False)
        raw_big = _in_subprocess("raw_genanki", str(big))
        ours_big = _in_subprocess("ours", str(big), "full")
        unstored_big = _in_subprocess("ours", str(big), "unstored")
        rows = [
            (
                "100k notes, peak memory (whole process)",
                f"{ours_big['peak_mb']:.0f} MB",
                f"<= {MEMORY_MB:.0f} MB",
                f"{raw_big['peak_mb']:.0f} MB",
            ),
            (
                "100k notes, peak memory, nothing stored yet",
                f"{unstored_big['peak_mb']:.0f} MB",
                f"<= {MEMORY_MB:.0f} MB",
                f"{raw_big['peak_mb']:.0f} MB",
            ),
            (
                "100k notes, time end to end",
                f"{ours_big['seconds']:.1f} s",
                "-",
                f"{raw_big['seconds']:.1f} s",
            ),
            (
                "100k notes, time end to end, nothing stored yet",
                f"{unstored_big['seconds']:.1f} s",
                "-",
                f"{raw_big['seconds']:.1f} s",
            ),
        ]
        print_table("Export to .apkg, 100k notes in 10 decks", rows)
        print(
            "\nraw floor = genanki building Notes from the same HTML, GUIDs and tags, "
            "then Package.write_to_file; measured in this run"
        )


if __name__ == "__main__":
    main()

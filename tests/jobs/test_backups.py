"""Backups and restores on a real SQLite file: consistent copies, checked restores."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from flashcards.config import Settings
from flashcards.db.models import Card, CardProgress, Note, Review
from flashcards.services.backups import (
    BackupError,
    backups_dir,
    check_backup,
    known_revisions,
    list_backups,
    make_backup,
    restore_backup,
    sqlite_database_path,
)

pytestmark = pytest.mark.usefixtures("on_sqlite")

TABLES = ("users", "decks", "notes", "cards", "card_progress", "reviews")


def rows(database: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the flashcards tables, in a stable order."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return {
            table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in TABLES
        }


@pytest.fixture
def database(settings: Settings) -> Path:
    return sqlite_database_path(settings.database_url)


@pytest.fixture
def backups(settings: Settings) -> Path:
    return backups_dir(settings.instance_dir)


def test_backup_opens_and_holds_the_same_rows(
    database: Path, backups: Path, studied: int, now: dt.datetime
) -> None:
    made = make_backup(database, backups, now=now)
    assert made.path == backups / "flashcards-20260310T120000Z.sqlite3"
    assert made.taken_at == now
    assert rows(made.path) == rows(database)
    assert rows(made.path)["reviews"]  # the history is in it
    assert check_backup(made.path) in known_revisions()
    with contextlib.closing(sqlite3.connect(made.path)) as conn:
        # One self-contained file: no -wal beside it is needed to read it.
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert [b.path for b in list_backups(backups)] == [made.path]
    assert not list(backups.glob(".partial-*"))


def test_backup_in_the_same_second_gets_its_own_name(
    database: Path, backups: Path, studied: int, now: dt.datetime
) -> None:
    first = make_backup(database, backups, now=now)
    second = make_backup(database, backups, now=now)
    assert second.path.name == "flashcards-20260310T120000Z-2.sqlite3"
    assert first.path.exists()


def test_backup_is_a_consistent_snapshot_while_the_app_writes(
    database: Path, backups: Path, studied: int, now: dt.datetime
) -> None:
    before = rows(database)
    with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE card_progress SET reps = 99")
        writer.execute("DELETE FROM reviews")
        # The writer holds SQLite's write lock; the backup neither waits nor sees
        # the half-done transaction.
        made = make_backup(database, backups, now=now)
        writer.execute("COMMIT")
    assert rows(made.path) == before
    assert rows(database)["reviews"] == []


def test_backup_without_a_database_says_so(tmp_path: Path, now: dt.datetime) -> None:
    with pytest.raises(BackupError, match="no database file to back up"):
        make_backup(tmp_path / "missing.sqlite3", tmp_path / "backups", now=now)
    assert not (tmp_path / "backups").exists()


def test_postgresql_is_backed_up_with_pg_dump() -> None:
    with pytest.raises(BackupError, match="pg_dump"):
        sqlite_database_path("postgresql+psycopg://flashcards@db/flashcards")


def test_restore_brings_back_a_card_and_its_history(
    database: Path,
    backups: Path,
    sessions: sessionmaker[Session],
    studied: int,
    now: dt.datetime,
) -> None:
    made = make_backup(database, backups, now=now)
    with sessions.begin() as session:
        # The card goes, and with it (ON DELETE CASCADE) its progress and reviews.
        session.execute(delete(Note).where(Note.key == "france"))
    with sessions() as session:
        assert session.get(Card, studied) is None
        assert not session.scalars(select(Review).where(Review.card_id == studied)).all()
    later = now + dt.timedelta(hours=1)

    result = restore_backup(made.path, database, backups, now=later)

    assert result.revision in known_revisions()
    with sessions() as session:
        card = session.get(Card, studied)
        assert card is not None and card.retired_at is None
        reviews = session.scalars(select(Review).where(Review.card_id == studied)).all()
        assert [(r.rating, r.interval_after) for r in reviews] == [(3, 3)]
        progress = session.scalars(
            select(CardProgress).where(CardProgress.card_id == studied)
        ).one()
        assert (progress.reps, progress.interval_days) == (2, 3)
    # The database as it was before the restore was saved first, out of rotation.
    safety = result.safety_backup
    assert safety is not None
    assert safety.path.name == "flashcards-20260310T130000Z-before-restore.sqlite3"
    assert safety.label == "before-restore"
    assert rows(safety.path)["reviews"] == []
    assert not list(database.parent.glob(".restore-*"))


def _text_file(path: Path, good: Path) -> None:
    path.write_text("deck: not a database\n", encoding="utf-8")


def _empty_file(path: Path, good: Path) -> None:
    path.write_bytes(b"")


def _truncated_mid_page(path: Path, good: Path) -> None:
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])


def _truncated_at_a_page(path: Path, good: Path) -> None:
    data = good.read_bytes()
    path.write_bytes(data[: 4096 * 2])


def _other_sqlite_database(path: Path, good: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('shopping list')")
        conn.commit()


def _newer_flashcards(path: Path, good: Path) -> None:
    shutil.copyfile(good, path)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
        conn.commit()


def _damaged_page(path: Path, good: Path) -> None:
    data = bytearray(good.read_bytes())
    # Scribble over the second page (a b-tree page): same size, broken content.
    data[4096 : 4096 * 2] = b"\xff" * 4096
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("make_bad", "message"),
    [
        pytest.param(_text_file, "is not an SQLite database", id="text file"),
        pytest.param(_empty_file, "is empty, not a database", id="empty file"),
        pytest.param(_truncated_mid_page, "is truncated", id="truncated mid-page"),
        pytest.param(_truncated_at_a_page, "is truncated", id="truncated at a page"),
        pytest.param(_damaged_page, "is damaged", id="damaged page"),
        pytest.param(
            _other_sqlite_database,
            "is an SQLite database but not a flashcards database",
            id="another SQLite database",
        ),
        pytest.param(
            _newer_flashcards, "made by a newer version of flashcards", id="newer schema"
        ),
    ],
)
def test_restore_refuses_a_bad_file_and_leaves_the_database_alone(
    make_bad: object,
    message: str,
    database: Path,
    backups: Path,
    studied: int,
    now: dt.datetime,
    tmp_path: Path,
) -> None:
    good = make_backup(database, backups, now=now - dt.timedelta(days=1)).path
    bad = tmp_path / "bad.sqlite3"
    assert callable(make_bad)
    make_bad(bad, good)
    before = rows(database)
    backups_before = sorted(backups.iterdir())

    with pytest.raises(BackupError, match=message) as caught:
        restore_backup(bad, database, backups, now=now)

    assert str(bad.name) in str(caught.value)
    assert rows(database) == before
    assert sorted(backups.iterdir()) == backups_before  # no safety copy was needed
    assert not list(database.parent.glob(".restore-*"))


def test_restore_of_a_missing_file(
    database: Path, backups: Path, studied: int, now: dt.datetime, tmp_path: Path
) -> None:
    before = rows(database)
    with pytest.raises(BackupError, match="no such file"):
        restore_backup(tmp_path / "nope.sqlite3", database, backups, now=now)
    assert rows(database) == before

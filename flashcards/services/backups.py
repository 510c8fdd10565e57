"""SQLite backups: consistent online copies, their rotation, and checked restores.

Place in the data flow: the backup job (flashcards.jobs) and the `flashcards backup`
and `flashcards restore` commands call this module. It works on database files
through the sqlite3 backup API, which copies a consistent snapshot while the app
keeps writing (WAL readers never block the writer), not on a Session. PostgreSQL
deployments back up with pg_dump instead (see the README).

Backups live in `instance/backups/` as `flashcards-YYYYMMDDTHHMMSSZ.sqlite3`, named by
the `now` they were taken at. The safety copy made before a restore carries the
label `before-restore` and is left out of rotation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import make_url

from flashcards.db.migrate import MIGRATIONS_DIR

BACKUP_DIRNAME = "backups"
BEFORE_RESTORE_LABEL = "before-restore"
SQLITE_HEADER = b"SQLite format 3\x00"
# Tables every flashcards database has had since the first migration.
FLASHCARDS_TABLES = frozenset(
    {"alembic_version", "users", "decks", "notes", "cards", "card_progress", "reviews"}
)

_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(
    r"^flashcards-(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?(?:-(?P<label>[a-z][a-z-]*))?"
    r"\.sqlite3$"
)
PG_DUMP_HINT = (
    "Backups by flashcards are for SQLite only; on PostgreSQL use pg_dump "
    "(see the README, 'Backups')."
)


class BackupError(Exception):
    """A backup or restore that could not be done; the message says why."""


@dataclass(frozen=True)
class RotationPolicy:
    """How many backups rotation keeps (restic's keep-last / keep-daily / keep-weekly).

    Args:
        keep_last: the newest backups, whatever their age (at least 1).
        keep_daily: the newest backup of each of this many most recent UTC days
            that have a backup.
        keep_weekly: the newest backup of each of this many most recent ISO weeks
            that have a backup.

    Counting only days and weeks that have backups means a long downtime never
    thins out the history that came before it.
    """

    keep_last: int = 48
    keep_daily: int = 14
    keep_weekly: int = 8

    def __post_init__(self) -> None:
        if self.keep_last < 1 or self.keep_daily < 0 or self.keep_weekly < 0:
            raise ValueError(
                "RotationPolicy: keep_last must be at least 1 and the others at least 0"
            )


DEFAULT_ROTATION = RotationPolicy()


@dataclass(frozen=True)
class BackupFile:
    """A backup in the backups folder, with the time it was taken (from its name)."""

    path: Path
    taken_at: dt.datetime
    label: str | None = None

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did: the restored schema revision and the safety copy it made."""

    revision: str
    safety_backup: BackupFile | None


def sqlite_database_path(database_url: str) -> Path:
    """The database file of a SQLite URL.

    Raises:
        BackupError: on PostgreSQL (with the pg_dump hint) or an in-memory database.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(PG_DUMP_HINT)
    if not url.database or url.database == ":memory:":
        raise BackupError("An in-memory database cannot be backed up.")
    return Path(url.database).resolve()


def backups_dir(instance_dir: Path) -> Path:
    """Where backups go: `backups/` in the instance folder."""
    return instance_dir / BACKUP_DIRNAME


# --- taking a backup ---------------------------------------------------------------


def make_backup(
    database: Path, backups: Path, *, now: dt.datetime, label: str | None = None
) -> BackupFile:
    """Copy the live database into `backups`, consistent even while the app writes.

    The copy is made under a temporary name, checked (`quick_check`), switched to a
    rollback journal so it is one self-contained file, and only then given its final
    name, so a half-written backup never looks like a backup.

    Raises:
        BackupError: no database file, or the copy failed its check.
    """
    if not database.is_file():
        raise BackupError(f"{database}: there is no database file to back up.")
    backups.mkdir(parents=True, exist_ok=True)
    fd, partial_name = tempfile.mkstemp(
        dir=backups, prefix=".partial-", suffix=".sqlite3"
    )
    os.close(fd)
    partial = Path(partial_name)
    try:
        _copy_database(database, partial)
        with contextlib.closing(sqlite3.connect(partial)) as conn:
            conn.execute("PRAGMA journal_mode=DELETE")
            result = conn.execute("PRAGMA quick_check").fetchall()
        if result != [("ok",)]:
            raise BackupError(
                f"The backup of {database} failed its check: {_first_problems(result)}"
            )
        return _claim_name(partial, backups, now=now, label=label)
    except sqlite3.Error as error:
        raise BackupError(f"Could not back up {database}: {error}") from error
    finally:
        partial.unlink(missing_ok=True)


def _copy_database(source: Path, target: Path) -> None:
    """Copy every page of `source` into `target` with the sqlite3 backup API.

    The source is read inside one read transaction, so the copy is a snapshot; in WAL
    mode the app's writers carry on meanwhile. Opening with mode=rw never creates an
    empty database where the source has gone missing.
    """
    source_uri = f"{source.resolve().as_uri()}?mode=rw"
    with (
        contextlib.closing(sqlite3.connect(source_uri, uri=True)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.execute("PRAGMA busy_timeout=10000")
        dst.execute("PRAGMA busy_timeout=10000")
        src.backup(dst)


def _claim_name(
    partial: Path, backups: Path, *, now: dt.datetime, label: str | None
) -> BackupFile:
    """Give the finished copy its name; a second backup in the same second gets -2."""
    stamp = now.astimezone(dt.UTC).strftime(_STAMP_FORMAT)
    taken_at = _parse_stamp(stamp)
    suffix = f"-{label}" if label else ""
    for n in range(1, 1000):
        counter = f"-{n}" if n > 1 else ""
        final = backups / f"flashcards-{stamp}{counter}{suffix}.sqlite3"
        try:
            # A hard link never replaces an existing file, even one another process
            # has just made; the partial name is removed by the caller.
            os.link(partial, final)
        except FileExistsError:
            continue
        return BackupFile(final, taken_at, label)
    raise BackupError(f"Too many backups named flashcards-{stamp}* in {backups}.")


def _parse_stamp(stamp: str) -> dt.datetime:
    return dt.datetime.strptime(stamp, _STAMP_FORMAT).replace(tzinfo=dt.UTC)


# --- listing and rotation ----------------------------------------------------------


def list_backups(backups: Path) -> list[BackupFile]:
    """The backups in the folder, oldest first (files with other names are ignored)."""
    if not backups.is_dir():
        return []
    found: list[tuple[dt.datetime, int, BackupFile]] = []
    for path in backups.iterdir():
        match = _NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        taken_at = _parse_stamp(match["stamp"])
        found.append(
            (taken_at, int(match["n"] or 1), BackupFile(path, taken_at, match["label"]))
        )
    found.sort(key=lambda item: (item[0], item[1], item[2].path.name))
    return [backup for _, _, backup in found]


def backups_to_keep(
    taken: Iterable[dt.datetime], policy: RotationPolicy = DEFAULT_ROTATION
) -> set[dt.datetime]:
    """The backup times rotation keeps under `policy`; every other one goes.

    Pure: the same times and policy always give the same answer. Within a day or a
    week the newest backup is the one kept.
    """
    newest_first = sorted(set(taken), reverse=True)
    keep = set(newest_first[: policy.keep_last])
    keep.update(_newest_per_bucket(newest_first, policy.keep_daily, _utc_day))
    keep.update(_newest_per_bucket(newest_first, policy.keep_weekly, _iso_week))
    return keep


def _utc_day(moment: dt.datetime) -> Hashable:
    return moment.astimezone(dt.UTC).date()


def _iso_week(moment: dt.datetime) -> Hashable:
    year, week, _ = moment.astimezone(dt.UTC).isocalendar()
    return (year, week)


def _newest_per_bucket(
    newest_first: list[dt.datetime],
    buckets: int,
    bucket_of: Callable[[dt.datetime], Hashable],
) -> list[dt.datetime]:
    seen: set[Hashable] = set()
    kept: list[dt.datetime] = []
    for moment in newest_first:
        bucket = bucket_of(moment)
        if bucket in seen:
            continue
        if len(seen) == buckets:
            break
        seen.add(bucket)
        kept.append(moment)
    return kept


def rotate_backups(
    backups: Path, policy: RotationPolicy = DEFAULT_ROTATION
) -> list[Path]:
    """Delete the regular backups the policy does not keep; return what was deleted.

    Labelled backups (the safety copies made before restores) are never deleted here.
    """
    regular = [b for b in list_backups(backups) if b.label is None]
    keep = backups_to_keep((b.taken_at for b in regular), policy)
    deleted = []
    for backup in regular:
        if backup.taken_at not in keep:
            backup.path.unlink(missing_ok=True)
            deleted.append(backup.path)
    return deleted


# --- checking and restoring --------------------------------------------------------


def known_revisions() -> set[str]:
    """Every schema revision this version of flashcards has a migration for."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return {revision.revision for revision in script.walk_revisions()}


def check_backup(path: Path, *, shown_as: Path | None = None) -> str:
    """Check that `path` is an intact flashcards database this version can use.

    Messages name `shown_as` (default: `path`), e.g. the file the user gave when
    `path` is a private copy of it.

    Returns:
        The file's schema revision.

    Raises:
        BackupError: naming the file and what is wrong with it: not there, not an
            SQLite database, truncated or damaged, another application's database,
            or a schema from a newer flashcards.
    """
    name = shown_as or path
    if not path.is_file():
        raise BackupError(f"{name}: no such file.")
    with path.open("rb") as file:
        header = file.read(100)
    if not header:
        raise BackupError(f"{name} is empty, not a database.")
    if not header.startswith(SQLITE_HEADER):
        raise BackupError(f"{name} is not an SQLite database (its header is wrong).")
    _check_size(path, header, name)
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchall()
            if result != [("ok",)]:
                raise BackupError(
                    f"{name} is damaged (integrity_check: {_first_problems(result)})."
                )
            tables = {
                row[0]
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                )
            }
            missing = FLASHCARDS_TABLES - tables
            if missing:
                raise BackupError(
                    f"{name} is an SQLite database but not a flashcards database "
                    f"(it lacks the tables {', '.join(sorted(missing))})."
                )
            rows = conn.execute("SELECT version_num FROM alembic_version")
            versions = [row[0] for row in rows]
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{name} is damaged: {error}.") from error
    if len(versions) != 1:
        raise BackupError(
            f"{name} is not a flashcards database: it records {len(versions)} schema "
            "versions instead of one."
        )
    (revision,) = versions
    if revision not in known_revisions():
        raise BackupError(
            f"{name} was made by a newer version of flashcards (schema revision "
            f"{revision} is unknown to this one); upgrade flashcards, then restore."
        )
    return str(revision)


def _check_size(path: Path, header: bytes, name: Path) -> None:
    """Catch truncated copies early, from the page size and page count in the header."""
    if len(header) < 100:
        raise BackupError(f"{name} is truncated: it is shorter than an SQLite header.")
    (page_size,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if page_size == 1 else page_size
    change_counter, page_count = struct.unpack(">II", header[24:32])
    (valid_for,) = struct.unpack(">I", header[92:96])
    size = path.stat().st_size
    if size % page_size:
        raise BackupError(
            f"{name} is truncated: its {size:,} bytes are not a whole number of "
            f"{page_size:,}-byte pages."
        )
    # The page count in the header is valid when it was written together with the
    # change counter (SQLite >= 3.7.0 records which one it belongs to).
    if valid_for == change_counter and size < page_size * page_count:
        raise BackupError(
            f"{name} is truncated: it has {size:,} bytes, but its header says "
            f"{page_count:,} pages of {page_size:,} bytes ({page_size * page_count:,})."
        )


def restore_backup(
    backup: Path, database: Path, backups: Path, *, now: dt.datetime
) -> RestoreResult:
    """Replace the database's content with a checked backup, saving the current first.

    The backup is copied to a private file next to the database and checked there
    (so it cannot change between the check and the restore). Then the current
    database is backed up with the label `before-restore`, and the checked copy is
    written into the live database file with the backup API, which takes SQLite's
    locks like any writer. The caller upgrades the schema afterwards (an older
    backup has an older revision).

    Raises:
        BackupError: the backup is unusable (see `check_backup`) or copying failed;
            the current database is then unchanged.
    """
    database.parent.mkdir(parents=True, exist_ok=True)
    fd, staging_name = tempfile.mkstemp(
        dir=database.parent, prefix=".restore-", suffix=".sqlite3"
    )
    os.close(fd)
    staging = Path(staging_name)
    try:
        try:
            shutil.copyfile(backup, staging)
        except FileNotFoundError:
            raise BackupError(f"{backup}: no such file.") from None
        except OSError as error:
            raise BackupError(f"{backup}: cannot read it: {error.strerror}.") from error
        revision = check_backup(staging, shown_as=backup)
        safety = None
        if database.is_file():
            safety = make_backup(database, backups, now=now, label=BEFORE_RESTORE_LABEL)
        try:
            with (
                contextlib.closing(sqlite3.connect(staging)) as src,
                contextlib.closing(sqlite3.connect(database)) as dst,
            ):
                dst.execute("PRAGMA busy_timeout=10000")
                src.backup(dst)
        except sqlite3.Error as error:
            raise BackupError(f"Could not restore into {database}: {error}.") from error
        return RestoreResult(revision=revision, safety_backup=safety)
    finally:
        for leftover in (staging, *_sidecars(staging)):
            leftover.unlink(missing_ok=True)


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + end) for end in ("-journal", "-wal", "-shm")]


def _first_problems(rows: list[tuple[object, ...]], limit: int = 3) -> str:
    problems = [str(row[0]) for row in rows[:limit]]
    more = f" (and {len(rows) - limit} more)" if len(rows) > limit else ""
    return "; ".join(problems) + more

"""Deck folder sync: re-import the deck files that changed, and keep the problem banner.

Place: a background job (every few minutes) over services.importing. Files are
matched by content hash, so unchanged files are not even parsed. A file that fails
changes nothing (the last good version keeps working); its problems go into
DeckFileProblem rows, which the web UI shows as a banner until the file imports or
disappears. The problems are written in their own small transaction after the
import's, so neither can undo the other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from flashcards.db.models import DeckFileProblem
from flashcards.services.importing import ImportReport, import_paths


@dataclass
class SyncResult:
    """What one sync did: the import report and the banner changes."""

    report: ImportReport = field(default_factory=ImportReport)
    folder_missing: bool = False
    problems_recorded: list[str] = field(default_factory=list)
    problems_cleared: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the job's run record."""
        if self.folder_missing:
            text = "no decks folder"
        else:
            decks = self.report.decks
            skipped = sum(1 for d in decks if d.skipped)
            changed = [d.deck for d in decks if not d.skipped]
            text = f"{skipped} unchanged"
            if changed:
                text += f", {len(changed)} imported ({', '.join(changed)})"
            if self.report.failures:
                failed = ", ".join(Path(f.path).name for f in self.report.failures)
                text += f", {len(self.report.failures)} failed ({failed})"
        if self.problems_cleared:
            text += f"; {len(self.problems_cleared)} fixed or gone"
        return text


def sync_deck_folder(
    sessions: sessionmaker[Session],
    decks_dir: Path,
    *,
    now: dt.datetime,
    max_bytes: int,
) -> SyncResult:
    """Import what changed in `decks_dir` and bring the problem rows up to date.

    Two transactions: the import (one savepoint per file, inside
    `import_paths`), then the problem rows.
    """
    result = SyncResult()
    folder = decks_dir.resolve()
    if folder.is_dir():
        with sessions.begin() as session:
            result.report = import_paths(session, [folder], now=now, max_bytes=max_bytes)
    else:
        result.folder_missing = True
    with sessions.begin() as session:
        record_deck_file_problems(session, result, folder=folder, now=now)
    return result


def record_deck_file_problems(
    session: Session, result: SyncResult, *, folder: Path, now: dt.datetime
) -> None:
    """Write the failures of a sync as problem rows; clear the ones that are over.

    A row is cleared when its file imported (or was unchanged) in this sync, or
    when the file no longer exists. Rows of files outside `folder` (problems
    another import recorded) are left alone unless the file is gone.
    """
    failures = {_key(Path(f.path)): f.problems for f in result.report.failures}
    imported = {_key(Path(d.source)) for d in result.report.decks}
    for row in session.scalars(select(DeckFileProblem)):
        gone = not Path(row.path).is_file()
        in_folder = Path(row.path).is_relative_to(folder)
        if gone or row.path in imported or (in_folder and row.path not in failures):
            result.problems_cleared.append(row.path)
    if result.problems_cleared:
        session.execute(
            delete(DeckFileProblem).where(
                DeckFileProblem.path.in_(result.problems_cleared)
            )
        )
    for key, problems in failures.items():
        existing = session.get(DeckFileProblem, key)
        if existing is None:
            session.add(DeckFileProblem(path=key, problems=problems, seen_at=now))
        elif existing.problems != problems:
            # seen_at says since when the banner shows these problems.
            existing.problems = problems
            existing.seen_at = now
        result.problems_recorded.append(key)


def deck_file_problems(session: Session) -> list[DeckFileProblem]:
    """The deck files whose last import failed, with their problems, by path.

    For the web UI's banner; every problem is a full sentence naming the file.
    """
    return list(session.scalars(select(DeckFileProblem).order_by(DeckFileProblem.path)))


def _key(path: Path) -> str:
    return str(path.resolve())

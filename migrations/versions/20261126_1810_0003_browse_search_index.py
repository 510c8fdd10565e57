"""browse search index: text search and the due / last-reviewed sorts without full scans

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 18:10:00

Where this sits: the card browser (services.browse) reads through these; the
import pipeline and editing need no change, as the database keeps them in step.

- Text search. SQLite: `notes_search`, an FTS5 table with the trigram tokenizer
  over the searched note fields, holding no copy of the text (content='notes')
  and no positions (detail=none: a fifth of the size; the browser looks words up
  as sets of trigrams and checks the candidates with LIKE). Triggers on `notes`
  keep it in step with every insert, edit and delete, whoever writes the row.
  PostgreSQL: a pg_trgm GIN index, so the browser's `ILIKE '%word%'` is an index
  search. Neither is in the models (they differ per dialect); migrations/env.py
  keeps autogenerate away from names starting with `notes_search`.
- Sorting by due date / last review: (user_id, <column>, card_id) indexes on
  card_progress give the page order straight from the index.

SQLite rebuilds a table when a batch migration alters it, and dropping the old
table drops its triggers: a later migration that rebuilds `notes` must create
the three `notes_search_*` triggers again (tests/db/test_browse.py checks that
the index is kept in step at the newest revision).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The note fields the browser's text search looks in (services.browse).
_FIELDS = '"key", front, back, cloze, extra'
_NEW = 'new.id, new."key", new.front, new.back, new.cloze, new.extra'
_OLD = 'old.id, old."key", old.front, old.back, old.cloze, old.extra'

_SQLITE_UP = [
    "CREATE VIRTUAL TABLE notes_search USING fts5("
    f"{_FIELDS}, content='notes', content_rowid='id', tokenize='trigram', "
    "detail=none)",
    "INSERT INTO notes_search(notes_search) VALUES ('rebuild')",
    "CREATE TRIGGER notes_search_insert AFTER INSERT ON notes BEGIN "
    f"INSERT INTO notes_search(rowid, {_FIELDS}) VALUES ({_NEW}); END",
    # An external-content FTS5 table forgets a row by being told its old values.
    "CREATE TRIGGER notes_search_delete AFTER DELETE ON notes BEGIN "
    f"INSERT INTO notes_search(notes_search, rowid, {_FIELDS}) "
    f"VALUES ('delete', {_OLD}); END",
    # Only edits of searched fields: retiring a note or moving it needs no work.
    f"CREATE TRIGGER notes_search_update AFTER UPDATE OF {_FIELDS} ON notes BEGIN "
    f"INSERT INTO notes_search(notes_search, rowid, {_FIELDS}) "
    f"VALUES ('delete', {_OLD}); "
    f"INSERT INTO notes_search(rowid, {_FIELDS}) VALUES ({_NEW}); END",
]
_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS notes_search_update",
    "DROP TRIGGER IF EXISTS notes_search_delete",
    "DROP TRIGGER IF EXISTS notes_search_insert",
    "DROP TABLE IF EXISTS notes_search",
]
_POSTGRESQL_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX notes_search_trgm ON notes USING gin ("
    '"key" gin_trgm_ops, front gin_trgm_ops, back gin_trgm_ops, '
    "cloze gin_trgm_ops, extra gin_trgm_ops)",
]


def _sqlite_has_trigram_fts() -> bool:
    """FTS5 with the trigram tokenizer: SQLite 3.34 or newer, built with FTS5."""
    if context.is_offline_mode():
        return True  # a script for today's SQLite builds
    bind = op.get_bind()
    version = bind.execute(sa.text("SELECT sqlite_version()")).scalar_one()
    fts5 = bind.execute(
        sa.text("SELECT sqlite_compileoption_used('ENABLE_FTS5')")
    ).scalar_one()
    return bool(fts5) and tuple(int(n) for n in version.split(".")[:2]) >= (3, 34)


def _sqlite_has_statistics() -> bool:
    if context.is_offline_mode():
        return False  # (writing SQL out for later: there is no file to look at)
    found = op.get_bind().exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
    )
    return found.first() is not None


def upgrade() -> None:
    op.create_index(
        "ix_card_progress_user_due_at",
        "card_progress",
        ["user_id", "due_at", "card_id"],
    )
    op.create_index(
        "ix_card_progress_user_reviewed_at",
        "card_progress",
        ["user_id", "last_reviewed_at", "card_id"],
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite" and _sqlite_has_statistics():
        # Someone ran ANALYZE on this file. With statistics for the old indexes and
        # none for these two, SQLite's planner takes them for the day's counts
        # (four times slower); statistics for all of them keep its old choices.
        op.execute("ANALYZE card_progress")
    if dialect == "sqlite" and _sqlite_has_trigram_fts():
        # Without it (an old SQLite) the browser searches by scanning, as before.
        for statement in _SQLITE_UP:
            op.execute(statement)
    elif dialect == "postgresql":
        for statement in _POSTGRESQL_UP:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_DOWN:
            op.execute(statement)
    elif dialect == "postgresql":
        # The pg_trgm extension stays: other objects of the database may use it.
        op.execute("DROP INDEX IF EXISTS notes_search_trgm")
    op.drop_index("ix_card_progress_user_reviewed_at", table_name="card_progress")
    op.drop_index("ix_card_progress_user_due_at", table_name="card_progress")

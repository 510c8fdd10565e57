"""store rendered anki fields: each note keeps its fields as Anki HTML

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 18:00:00

Where this sits: the import pipeline (services.importing) renders a note's fields
for Anki when the note is added or its content changes and stores them here; the
.apkg export (export.fields) uses them while `anki_key` matches the note's content
(deckfile.render_anki). Existing rows start with NULLs: the export renders those
and stores the result, so no data is converted here.

Adding nullable columns is a plain ALTER TABLE on SQLite too (batch mode does not
rebuild the table for it); the downgrade drops them, rebuilding `notes` on SQLite.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notes") as batch_op:
        batch_op.add_column(sa.Column("anki_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("anki_fields", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("anki_images", sa.JSON(none_as_null=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("notes") as batch_op:
        batch_op.drop_column("anki_images")
        batch_op.drop_column("anki_fields")
        batch_op.drop_column("anki_key")

"""Developer helper: autogenerate a migration from the models against a scratch SQLite.

Usage: python -m flashcards.db.revision "message"
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from flashcards.db.engine import make_engine
from flashcards.db.migrate import alembic_config, upgrade_database


def main() -> None:
    message = " ".join(sys.argv[1:]) or "schema change"
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'scratch.sqlite3'}")
        upgrade_database(engine)
        command.revision(alembic_config(engine), message=message, autogenerate=True)


if __name__ == "__main__":
    main()

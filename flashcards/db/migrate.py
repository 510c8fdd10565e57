"""Alembic glue: bring a database to the newest schema revision, never dropping data.

The app and the CLI call `upgrade_database` on start. The migration scripts live in
the repository's top-level `migrations/` folder.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(engine: Engine) -> Config:
    """An Alembic config bound to `engine`'s URL, without needing an alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False)
    )
    config.set_main_option(
        "file_template",
        "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s",
    )
    config.attributes["engine"] = engine
    return config


def upgrade_database(engine: Engine) -> None:
    """Apply every migration the database has not seen yet (idempotent)."""
    command.upgrade(alembic_config(engine), "head")

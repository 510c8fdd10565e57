"""Alembic environment: runs migrations on the engine the app hands over (or the URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, engine_from_config, pool

from flashcards.db.engine import make_engine
from flashcards.db.models import NOTE_SEARCH, Base

config = context.config
target_metadata = Base.metadata


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Leave the hand-written text-search objects (migration 0003) to migrations:
    the SQLite FTS5 table with its shadow tables, and the PostgreSQL GIN index."""
    return not (name or "").startswith(NOTE_SEARCH)


def run_migrations_online() -> None:
    engine: Engine | None = config.attributes.get("engine")
    if engine is None:
        url = config.get_main_option("sqlalchemy.url")
        engine = (
            make_engine(url)
            if url
            else engine_from_config(
                config.get_section(config.config_ini_section, {}),
                prefix="sqlalchemy.",
                poolclass=pool.NullPool,
            )
        )
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # Batch mode rebuilds a table by copying it and dropping the old one;
            # with foreign keys on, that drop would delete every row that refers
            # to it (ON DELETE CASCADE). SQLite ignores this pragma inside a
            # transaction, so it is set before the migration's transaction.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                context.configure(
                    connection=connection,
                    target_metadata=target_metadata,
                    include_object=include_object,
                    # SQLite cannot ALTER most things; batch mode rebuilds tables
                    # (a no-op on PostgreSQL).
                    render_as_batch=True,
                )
                context.run_migrations()
                if sqlite:
                    broken = connection.exec_driver_sql(
                        "PRAGMA foreign_key_check"
                    ).fetchall()
                    if broken:
                        raise RuntimeError(
                            f"the migration left {len(broken)} rows pointing at "
                            f"rows that are gone (first: {broken[0]}); nothing "
                            "was changed"
                        )
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        include_object=include_object,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()

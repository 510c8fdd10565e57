"""Settings: where the instance folder, database and decks are; read once from the environment.

Everything has a default that works on a laptop with zero set-up: SQLite in
./instance, decks from ./decks, one implicit local user. FLASHCARDS_ACCOUNTS=1
turns on logins (see flashcards.services.accounts).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from flashcards.db.engine import default_database_url
from flashcards.deckfile.parse import DEFAULT_MAX_BYTES

ENV_PREFIX = "FLASHCARDS_"
REGISTRATION_MODES = ("open", "invite", "closed")
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Build with `Settings.from_env()` and `with_overrides`."""

    instance_dir: Path
    database_url: str
    decks_dir: Path
    max_deck_bytes: int = DEFAULT_MAX_BYTES
    # "in-process": `serve` runs the background jobs itself; "separate": a
    # `flashcards jobs` process runs them and web processes start no scheduler.
    jobs_mode: str = "in-process"
    sync_minutes: int = 5
    backup_minutes: int = 30
    accounts: bool = False
    # With accounts on, who may create one: "open" (anyone, on /register),
    # "invite" (a one-time link from `flashcards users add NAME`) or "closed"
    # (only `flashcards users add NAME --password`).
    registration: str = "invite"
    # Behind a reverse proxy that terminates HTTPS: trust one hop of
    # X-Forwarded-For / X-Forwarded-Proto (client address for rate limits,
    # https for Secure cookies). Never turn on without such a proxy.
    behind_proxy: bool = False

    def __post_init__(self) -> None:
        if self.registration not in REGISTRATION_MODES:
            raise ValueError(
                f"FLASHCARDS_REGISTRATION must be one of "
                f"{', '.join(REGISTRATION_MODES)}, not {self.registration!r}"
            )

    @classmethod
    def from_env(
        cls, instance_dir: Path | None = None, environ: dict[str, str] | None = None
    ) -> Settings:
        env = dict(os.environ if environ is None else environ)
        instance = Path(
            instance_dir or env.get(f"{ENV_PREFIX}INSTANCE", "instance")
        ).resolve()
        return cls(
            instance_dir=instance,
            database_url=env.get(f"{ENV_PREFIX}DATABASE_URL")
            or default_database_url(instance),
            decks_dir=Path(env.get(f"{ENV_PREFIX}DECKS", "decks")).resolve(),
            max_deck_bytes=int(
                env.get(f"{ENV_PREFIX}MAX_DECK_BYTES", str(DEFAULT_MAX_BYTES))
            ),
            jobs_mode=env.get(f"{ENV_PREFIX}JOBS_MODE", "in-process"),
            sync_minutes=int(env.get(f"{ENV_PREFIX}SYNC_MINUTES", "5")),
            backup_minutes=int(env.get(f"{ENV_PREFIX}BACKUP_MINUTES", "30")),
            accounts=env.get(f"{ENV_PREFIX}ACCOUNTS", "").lower() in _TRUE,
            registration=env.get(f"{ENV_PREFIX}REGISTRATION", "invite").strip().lower()
            or "invite",
            behind_proxy=env.get(f"{ENV_PREFIX}BEHIND_PROXY", "").lower() in _TRUE,
        )

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

"""`flashcards export`: write decks to an Anki package, or one deck back to YAML.

Place in the data flow: the CLI group (flashcards.cli) registers `export_command`;
it resolves deck ids (slugs) and the user, then calls `export.service` (.apkg) or
`export.yaml_export` (format-1 YAML) inside one transaction, and prints what was
written. The transaction is committed: its only writes are the Anki fields the
export had to render (notes from before fields were stored), kept for next time.
Every failure is one clear line on stderr and exit status 1; the output file is
written atomically, so a failure never leaves half a file.

    flashcards export [--deck ID ...] [--user NAME] [--with-progress] -o FILE.apkg
    flashcards export --format yaml --deck ID -o FILE.yaml
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Protocol

import click
from sqlalchemy.orm import Session, sessionmaker

from flashcards.db.models import User
from flashcards.export.errors import ExportError
from flashcards.export.service import find_decks_by_slug, write_package
from flashcards.export.yaml_export import write_yaml
from flashcards.services.users import LOCAL_USER_NAME, find_user

_YAML_SUFFIXES = (".yaml", ".yml")


class _Settings(Protocol):
    @property
    def accounts(self) -> bool: ...


class _CliContext(Protocol):
    """What the CLI's context object (flashcards.cli.Context) offers."""

    @property
    def settings(self) -> _Settings: ...

    @property
    def sessions(self) -> sessionmaker[Session]: ...


def _pick_user(
    session: Session, name: str | None, *, needed: bool, accounts: bool
) -> User | None:
    if name is None and needed and not accounts:
        name = LOCAL_USER_NAME
    if name is None:
        if needed:
            raise ExportError("--with-progress needs --user NAME (whose progress?)")
        return None
    user = find_user(session, name)
    if user is None:
        if name == LOCAL_USER_NAME:
            raise ExportError("there is no study progress yet (no local user)")
        raise ExportError(f"there is no user '{name}'")
    return user


@click.command("export")
@click.option(
    "--deck",
    "decks",
    multiple=True,
    metavar="ID",
    help="A deck id (the deck file's `id`); repeat for more. Default: every deck.",
)
@click.option(
    "--user",
    "user_name",
    metavar="NAME",
    help="Whose private decks (and progress) to include.",
)
@click.option(
    "--with-progress",
    is_flag=True,
    help="Include card states and the review log "
    "(in Anki: 'Import any learning progress').",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["apkg", "yaml"]),
    default=None,
    help="apkg (Anki package) or yaml (one deck as a deck file); "
    "default: from the suffix of -o.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="The file to write (replaced atomically).",
)
@click.pass_obj
def export_command(
    ctx: _CliContext,
    decks: tuple[str, ...],
    user_name: str | None,
    with_progress: bool,
    fmt: str | None,
    output: Path,
) -> None:
    """Export decks to an Anki package, or one deck back to a YAML deck file."""
    if fmt is None:
        fmt = "yaml" if output.suffix.lower() in _YAML_SUFFIXES else "apkg"
    if fmt == "yaml" and with_progress:
        raise click.UsageError(
            "--with-progress is for Anki packages; deck files hold no progress"
        )
    if fmt == "yaml" and len(decks) != 1:
        raise click.UsageError(
            "--format yaml writes one deck: give exactly one --deck ID"
        )
    now = dt.datetime.now(dt.UTC)
    try:
        with ctx.sessions.begin() as session:
            user = _pick_user(
                session, user_name, needed=with_progress, accounts=ctx.settings.accounts
            )
            user_id = user.id if user is not None else None
            deck_ids = (
                find_decks_by_slug(session, decks, user_id=user_id) if decks else None
            )
            if fmt == "yaml":
                assert deck_ids is not None
                entries = write_yaml(
                    session, output, deck_id=deck_ids[0], user_id=user_id
                )
                click.echo(f"Wrote {output}: deck '{decks[0]}', {entries} entries")
                return
            result = write_package(
                session,
                output,
                deck_ids=deck_ids,
                user_id=user_id,
                with_progress=with_progress,
                now=now,
            )
    except ExportError as error:
        raise click.ClickException(str(error)) from error
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    summary = (
        f"Wrote {output}: {result.decks} decks, {result.notes} notes, "
        f"{result.cards} cards, {result.media} media files"
    )
    if with_progress and user is not None:
        summary += f", progress of '{user.name}' ({result.reviews} reviews)"
    click.echo(summary)

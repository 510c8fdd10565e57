"""The `flashcards` command: import, check, ids, serve (and more as the service grows).

Each command builds Settings, opens the database (upgrading its schema), calls
services inside one transaction it owns, and prints what happened.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import sys
from pathlib import Path

import click
from sqlalchemy import make_url
from sqlalchemy.orm import Session, sessionmaker

from flashcards.config import Settings
from flashcards.db.engine import make_engine, make_session_factory
from flashcards.db.migrate import upgrade_database
from flashcards.deckfile import DeckFileError
from flashcards.deckfile.parse import load_deck_file
from flashcards.deckfile.roundtrip import pin_missing_ids
from flashcards.export.commands import export_command
from flashcards.jobs.commands import backup_command, jobs_command, restore_command
from flashcards.jobs.deck_sync import sync_deck_folder
from flashcards.jobs.runner import process_jobs, start_in_process_jobs
from flashcards.services.importing import ImportReport, find_deck_files, import_paths
from flashcards.stats_cli import stats_command
from flashcards.users_cli import users_command


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Context:
    """Settings plus a lazily opened, migrated database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sessions: sessionmaker[Session] | None = None

    @property
    def sessions(self) -> sessionmaker[Session]:
        if self._sessions is None:
            self.settings.instance_dir.mkdir(parents=True, exist_ok=True)
            engine = make_engine(self.settings.database_url)
            upgrade_database(engine)
            self._sessions = make_session_factory(engine)
        return self._sessions


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.option(
    "--instance",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="FLASHCARDS_INSTANCE",
    default=None,
    help="Instance folder: database, secret key, backups (default ./instance).",
)
@click.pass_context
def main(ctx: click.Context, instance: Path | None) -> None:
    """Self-hosted spaced repetition over YAML deck files."""
    ctx.obj = Context(Settings.from_env(instance))


def print_import_report(report: ImportReport) -> None:
    for deck in report.decks:
        click.echo(deck.summary())
        for warning in deck.warnings:
            click.echo(f"  warning: {warning}")
    for failure in report.failures:
        click.echo(f"{failure.path}: not imported", err=True)
        for problem in failure.problems:
            click.echo(f"  {problem}", err=True)


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Re-read files even when unchanged.")
@pass_context
def import_command(ctx: Context, paths: tuple[Path, ...], force: bool) -> None:
    """Import deck files or folders; each file is all or nothing."""
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        click.echo(f"{path}: no such file or folder", err=True)
    with ctx.sessions.begin() as session:
        report = import_paths(
            session,
            [p for p in paths if p.exists()],
            now=_now(),
            max_bytes=ctx.settings.max_deck_bytes,
            force=force,
        )
    print_import_report(report)
    if report.failures or missing:
        sys.exit(1)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_context
def check(ctx: Context, paths: tuple[Path, ...]) -> None:
    """Validate deck files without touching the database (exit 1 on any problem)."""
    failed = False
    seen_ids: dict[str, Path] = {}
    for path in paths:
        if not path.exists():
            click.echo(f"{path}: no such file or folder", err=True)
            failed = True
    for path in find_deck_files(p for p in paths if p.exists()):
        try:
            spec = load_deck_file(path, max_bytes=ctx.settings.max_deck_bytes)
        except DeckFileError as error:
            failed = True
            for problem in error.problems:
                click.echo(str(problem), err=True)
            continue
        if spec.id in seen_ids:
            failed = True
            click.echo(
                f"{path}: deck id '{spec.id}' is also declared by {seen_ids[spec.id]}; "
                "each deck file needs its own id",
                err=True,
            )
            continue
        seen_ids[spec.id] = path
        for warning in spec.warnings:
            click.echo(f"warning: {warning}")
        click.echo(f"{path}: ok ({len(spec.cards)} cards)")
    if failed:
        sys.exit(1)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def ids(paths: tuple[Path, ...]) -> None:
    """Write derived ids into card entries that have none, keeping the layout."""
    failed = False
    for path in find_deck_files(paths):
        try:
            data = path.read_bytes()
            new_data, written = pin_missing_ids(data, source=str(path))
        except OSError as error:
            failed = True
            click.echo(f"{path}: cannot read the file: {error.strerror}", err=True)
            continue
        except DeckFileError as error:
            failed = True
            for problem in error.problems:
                click.echo(str(problem), err=True)
            continue
        if written:
            path.write_bytes(new_data)
            click.echo(f"{path}: pinned {len(written)} ids: {', '.join(written)}")
        else:
            click.echo(f"{path}: every card already has an id")
    if failed:
        sys.exit(1)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


LOCAL_ONLY_MESSAGE = (
    "Refusing to listen on {host}: without accounts anyone who can reach this "
    "machine could read and change everything, so local mode only serves "
    "127.0.0.1.\n"
    "To serve other machines, turn accounts on and create an admin first:\n"
    "  export FLASHCARDS_ACCOUNTS=1\n"
    "  flashcards users add NAME --admin   (prints a one-time link to set the password)\n"
    "and put it behind HTTPS (FLASHCARDS_BEHIND_PROXY=1 behind a reverse proxy)."
)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@pass_context
def serve(ctx: Context, host: str, port: int) -> None:
    """Run the web UI, after importing the decks folder."""
    settings = ctx.settings
    if not settings.accounts and not is_loopback(host):
        click.echo(LOCAL_ONLY_MESSAGE.format(host=host), err=True)
        sys.exit(2)

    from flashcards.web.app import create_app

    if settings.decks_dir.is_dir():
        # The same sync the background job runs, so a broken file at start-up
        # shows in the web banner too.
        result = sync_deck_folder(
            ctx.sessions,
            settings.decks_dir,
            now=_now(),
            max_bytes=settings.max_deck_bytes,
        )
        print_import_report(result.report)
    else:
        click.echo(f"No decks folder at {settings.decks_dir}; starting empty.")
    app = create_app(settings)
    handle = start_in_process_jobs(settings, sessions=ctx.sessions)
    click.echo(process_jobs().message)
    click.echo(f"flashcards is running at http://{host}:{port}/  (Ctrl+C stops it)")
    # Never print a database password into a terminal or a service log.
    click.echo(f"Data: {make_url(settings.database_url).render_as_string(hide_password=True)}")
    if settings.accounts:
        _print_accounts_hint(ctx)
        if not is_loopback(host) and not settings.behind_proxy:
            click.echo(
                "Warning: this serves plain HTTP, so passwords cross the network "
                "readable; put it behind an HTTPS reverse proxy and set "
                "FLASHCARDS_BEHIND_PROXY=1."
            )
    try:
        # No reloader: it would start a second process, and with it a second scheduler.
        app.run(host=host, port=port, debug=False, use_reloader=False)
    finally:
        if handle is not None:
            handle.shutdown()


def _print_accounts_hint(ctx: Context) -> None:
    from flashcards.services.accounts import has_admin_login

    with ctx.sessions() as session:
        ready = has_admin_login(session)
    click.echo(f"Accounts are on; registration is {ctx.settings.registration}.")
    if not ready:
        click.echo(
            "No admin can log in yet: run `flashcards users add NAME --admin` "
            "and open the link it prints."
        )


main.add_command(users_command)
main.add_command(stats_command, "stats")
main.add_command(export_command, "export")
main.add_command(jobs_command, "jobs")
main.add_command(backup_command, "backup")
main.add_command(restore_command, "restore")


if __name__ == "__main__":
    main()

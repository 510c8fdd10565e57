"""The `flashcards users` commands: add (prints a one-time invitation link), list,
set-admin, set-password, rename.

Place: a click group that cli.py registers on its `main` group. It reads the group's
context object (settings and a lazily opened database) and calls
flashcards.services.accounts; it imports nothing from cli.py, so cli.py can import
it at the top. Passwords are only ever read from a hidden prompt (or stdin with
--password-stdin), never from the command line, where `ps` and shell history
would show them.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import NoReturn, Protocol

import click
from sqlalchemy.orm import Session, sessionmaker

from flashcards.config import Settings
from flashcards.db.models import User
from flashcards.services.accounts import (
    AccountError,
    create_invitation,
    create_user,
    find_account,
    list_users,
    normalise_name,
    rename_user,
    set_admin,
    set_password,
)

DEFAULT_URL = "http://127.0.0.1:5000"


class CliContext(Protocol):
    """What these commands need from cli.Context."""

    settings: Settings

    @property
    def sessions(self) -> sessionmaker[Session]: ...


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(1)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt(
        "Password", hide_input=True, confirmation_prompt="Password again"
    )
    return value


def _user(session: Session, name: str) -> User:
    user = find_account(session, name)
    if user is None:
        _fail(f"There is no user called “{name}”. `flashcards users list` shows them.")
    return user


@click.group("users")
def users_command() -> None:
    """Manage accounts (for FLASHCARDS_ACCOUNTS=1)."""


@users_command.command("add")
@click.argument("name")
@click.option(
    "--admin", is_flag=True, help="An admin: manages shared decks, presets, jobs."
)
@click.option(
    "--password",
    "ask_password",
    is_flag=True,
    help="Set the password now (asked for, hidden) instead of printing a link.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="With --password: read it from the first line of stdin (for scripts).",
)
@click.option(
    "--days",
    default=7,
    show_default=True,
    type=click.IntRange(1, 90),
    help="How long the invitation link works.",
)
@click.option(
    "--url",
    envvar="FLASHCARDS_BASE_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="The address people open the app at (env FLASHCARDS_BASE_URL).",
)
@click.pass_obj
def add_command(
    ctx: CliContext,
    name: str,
    admin: bool,
    ask_password: bool,
    password_stdin: bool,
    days: int,
    url: str,
) -> None:
    """Add the account NAME: print a one-time link to set its password, or set it now.

    The link works once and for --days days; making a new link for the same name
    makes the older one stop working. With FLASHCARDS_REGISTRATION=closed links do
    not work: use --password.
    """
    settings = ctx.settings
    if not ask_password and settings.registration == "closed":
        _fail(
            "Registration is closed (FLASHCARDS_REGISTRATION=closed), so invitation "
            "links do not work. Use --password to set the password now."
        )
    try:
        if ask_password:
            password = _read_password(password_stdin)
            with ctx.sessions.begin() as session:
                user = create_user(
                    session, name=name, password=password, now=_now(), is_admin=admin
                )
                clean = user.name
            click.echo(
                f"Added {'admin ' if admin else ''}{clean}; they can log in now."
            )
        else:
            with ctx.sessions.begin() as session:
                token = create_invitation(
                    session,
                    name=name,
                    now=_now(),
                    is_admin=admin,
                    lifetime=dt.timedelta(days=days),
                )
                clean = normalise_name(name)
            link = f"{url.rstrip('/')}/invite/{token}"
            click.echo(
                f"Invitation for {'admin ' if admin else ''}{clean}; send them this "
                f"link (it works once, for {days} day{'s' * (days != 1)}):"
            )
            click.echo(link)
    except AccountError as error:
        _fail(str(error))
    if not settings.accounts:
        click.echo(
            "Note: accounts are off. Set FLASHCARDS_ACCOUNTS=1 before `flashcards serve`."
        )


@users_command.command("list")
@click.pass_obj
def list_command(ctx: CliContext) -> None:
    """Every account: name, role, whether it can log in, when it was made."""
    with ctx.sessions() as session:
        users = list_users(session)
        rows = [
            (
                u.name,
                "admin" if u.is_admin else "user",
                "password set" if u.password_hash else "no password",
                u.created_at.strftime("%Y-%m-%d"),
            )
            for u in users
        ]
    if not rows:
        click.echo("No users yet. Add one with `flashcards users add NAME --admin`.")
        return
    width = max(len(r[0]) for r in rows)
    for name, role, password, created in rows:
        click.echo(f"{name:<{width}}  {role:<5}  {password:<12}  since {created}")


@users_command.command("set-admin")
@click.argument("name")
@click.option("--revoke", is_flag=True, help="Take the admin role away instead.")
@click.pass_obj
def set_admin_command(ctx: CliContext, name: str, revoke: bool) -> None:
    """Make NAME an admin (or, with --revoke, a plain user)."""
    with ctx.sessions.begin() as session:
        user = _user(session, name)
        set_admin(session, user=user, is_admin=not revoke)
        clean = user.name
    click.echo(f"{clean} is {'no longer' if revoke else 'now'} an admin.")


@users_command.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read it from stdin's first line.")
@click.pass_obj
def set_password_command(ctx: CliContext, name: str, password_stdin: bool) -> None:
    """Set NAME's password (asked for, hidden); logs them out everywhere."""
    with ctx.sessions() as session:
        _user(session, name)
    password = _read_password(password_stdin)
    try:
        with ctx.sessions.begin() as session:
            user = _user(session, name)
            set_password(session, user=user, password=password)
            clean = user.name
    except AccountError as error:
        _fail(str(error))
    click.echo(f"Password set for {clean}; their other logins were ended.")


@users_command.command("rename")
@click.argument("old")
@click.argument("new")
@click.pass_obj
def rename_command(ctx: CliContext, old: str, new: str) -> None:
    """Rename an account. `rename local NAME` keeps local-mode progress under accounts."""
    try:
        with ctx.sessions.begin() as session:
            user = _user(session, old)
            rename_user(session, user=user, new_name=new)
            clean = user.name
    except AccountError as error:
        _fail(str(error))
    click.echo(f"Renamed {old} to {clean}.")
    with ctx.sessions() as session:
        if _user(session, clean).password_hash is None:
            click.echo(
                f"{clean} has no password yet: `flashcards users set-password {clean}`."
            )

"""Accounts: passwords, logins, invitations and rate limits, for FLASHCARDS_ACCOUNTS=1.

The services layer of the design: functions take a Session and never commit. The
web blueprint `flashcards.web.account` and the `flashcards users` command call them.

- Passwords are hashed with scrypt (memory-hard, in the standard library) and a
  random salt per password, stored as one self-describing string
  ``scrypt$n=32768,r=8,p=3$<salt>$<hash>`` so the cost can grow later: a login
  with an older cost rehashes the password.
- A login is a row in `login_sessions`; the browser's cookie holds a random token
  whose SHA-256 is the row's key. Logging out deletes the row; changing a password
  deletes the user's other rows.
- Invitations are one-time random tokens (again only their SHA-256 is stored) that
  expire; accepting one creates the account it names.
- Failed logins are rows in `login_attempts` keyed by user name and by client
  address, so limits hold across several web workers.

Nothing here logs a password, a hash or a token.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flashcards.db.models import Invitation, LoginAttempt, LoginSession, User
from flashcards.services.users import LOCAL_USER_NAME

log = logging.getLogger(__name__)

# --- passwords ---------------------------------------------------------------------------

# One of OWASP's equivalent scrypt settings (N=2^15, r=8, p=3): 32 MiB per hash.
# Tests lower it through `SCRYPT_COST`; stored hashes carry their own cost.
SCRYPT_COST: tuple[int, int, int] = (2**15, 8, 3)
_SCRYPT_MAXMEM = 256 * 1024 * 1024
_SALT_BYTES = 16
_KEY_BYTES = 32

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")
RESERVED_NAMES = frozenset({LOCAL_USER_NAME})

# --- sessions, invitations, limits -------------------------------------------------------

SESSION_IDLE = dt.timedelta(days=30)
SESSION_TOUCH = dt.timedelta(hours=1)
INVITATION_LIFETIME = dt.timedelta(days=7)

LOGIN_WINDOW = dt.timedelta(minutes=15)
# Per user name: stops guessing one account's password.
MAX_FAILURES_PER_NAME = 5
# Per client address: stops trying many names from one place, but leaves room for
# a few people behind one NAT who mistype.
MAX_FAILURES_PER_ADDRESS = 20
REGISTRATION_WINDOW = dt.timedelta(hours=1)
MAX_REGISTRATIONS_PER_ADDRESS = 10


class AccountError(Exception):
    """A refusal with a message for the person at the form."""


class RateLimitedError(AccountError):
    """Too many recent failures; `retry_after` is in whole seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=_SCRYPT_MAXMEM,
        dklen=_KEY_BYTES,
    )


def hash_password(password: str) -> str:
    """A new salted scrypt hash of `password`, as a self-describing string."""
    n, r, p = SCRYPT_COST
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, n, r, p)
    return f"scrypt$n={n},r={r},p={p}${_b64(salt)}${_b64(key)}"


def _parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    try:
        scheme, params, salt, key = stored.split("$")
        if scheme != "scrypt":
            return None
        values = dict(item.split("=", 1) for item in params.split(","))
        return (
            int(values["n"]),
            int(values["r"]),
            int(values["p"]),
            _unb64(salt),
            _unb64(key),
        )
    except (ValueError, KeyError):
        return None


def verify_password(stored: str | None, password: str) -> bool:
    """True if `password` matches the stored hash (compared in constant time)."""
    parsed = _parse_hash(stored) if stored else None
    if parsed is None:
        # Spend the same time as a real check, so a missing account or a user
        # without a password cannot be told apart by timing.
        _scrypt(password, _DUMMY_SALT, *SCRYPT_COST)
        return False
    n, r, p, salt, key = parsed
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), key)


_DUMMY_SALT = b"\x00" * _SALT_BYTES


def needs_rehash(stored: str | None) -> bool:
    parsed = _parse_hash(stored) if stored else None
    return parsed is None or parsed[:3] != SCRYPT_COST


def normalise_name(name: str) -> str:
    """User names are case-insensitive: 'Alice' logs in as 'alice'."""
    return name.strip().lower()


def check_new_name(session: Session, name: str) -> str:
    """The normalised name if it may be given to a new account; else AccountError."""
    clean = normalise_name(name)
    if not NAME_PATTERN.fullmatch(clean):
        raise AccountError(
            "A user name has 1 to 40 characters: letters a–z, digits, and . _ - "
            "(not first)."
        )
    if clean in RESERVED_NAMES:
        raise AccountError(f"The name “{clean}” is reserved; choose another one.")
    if find_account(session, clean) is not None:
        raise AccountError(f"There is already a user called “{clean}”.")
    return clean


def check_new_password(password: str, *, name: str) -> None:
    """Refuse passwords that are too short, too long or the user name itself."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(
            f"The password needs at least {MIN_PASSWORD} characters; "
            "a few unrelated words make a good one."
        )
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"The password may have at most {MAX_PASSWORD} characters.")
    if normalise_name(password) == normalise_name(name):
        raise AccountError("The password must not be the user name.")


def find_account(session: Session, name: str) -> User | None:
    return session.scalars(
        select(User).where(User.name == normalise_name(name))
    ).one_or_none()


def create_user(
    session: Session,
    *,
    name: str,
    password: str | None,
    now: dt.datetime,
    is_admin: bool = False,
) -> User:
    """A new account. Without a password nobody can log in to it until one is set."""
    clean = check_new_name(session, name)
    if password is not None:
        check_new_password(password, name=clean)
    user = User(
        name=clean,
        password_hash=hash_password(password) if password is not None else None,
        is_admin=is_admin,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        raise AccountError(f"There is already a user called “{clean}”.") from None
    log.info("account created: %s%s", clean, " (admin)" if is_admin else "")
    return user


def set_password(session: Session, *, user: User, password: str) -> None:
    """Give `user` a new password and end all of their login sessions."""
    check_new_password(password, name=user.name)
    user.password_hash = hash_password(password)
    session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    log.info("password set for %s; their sessions were ended", user.name)


def set_admin(session: Session, *, user: User, is_admin: bool) -> None:
    user.is_admin = is_admin
    log.info("%s is %s an admin", user.name, "now" if is_admin else "no longer")


def rename_user(session: Session, *, user: User, new_name: str) -> None:
    """Rename an account (e.g. 'local', to keep local-mode progress under accounts)."""
    old = user.name
    user.name = check_new_name(session, new_name)
    session.flush()
    log.info("account %s renamed to %s", old, user.name)


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def has_admin_login(session: Session) -> bool:
    """True if some admin can log in (has a password)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.is_admin.is_(True), User.password_hash.is_not(None))
        )
        or 0
    ) > 0


# --- rate limits -----------------------------------------------------------------------------


def address_key(address: str | None) -> str:
    """The rate-limit key of a client address; IPv6 counts per /64 network."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return f"addr:{(address or 'unknown')[:100]}"
    if ip.version == 6:
        mapped = ip.ipv4_mapped
        if mapped is not None:
            return f"addr:{mapped}"
        return f"addr:{ipaddress.ip_network((ip, 64), strict=False)}"
    return f"addr:{ip}"


def name_key(name: str) -> str:
    return f"name:{normalise_name(name)[:100]}"


def _check_limit(
    session: Session,
    key: str,
    *,
    limit: int,
    window: dt.timedelta,
    now: dt.datetime,
    message: str,
) -> None:
    since = now - window
    count, oldest = session.execute(
        select(func.count(), func.min(LoginAttempt.at)).where(
            LoginAttempt.key == key, LoginAttempt.at > since
        )
    ).one()
    if count >= limit:
        wait = max(1, int(((oldest or now) + window - now).total_seconds()) + 1)
        minutes = max(1, round(wait / 60))
        raise RateLimitedError(
            f"{message} Wait {minutes} minute{'s' * (minutes != 1)} and try again.",
            retry_after=wait,
        )


def _record(session: Session, keys: list[str], now: dt.datetime) -> None:
    # Old rows only ever matter inside the longest window; drop the rest as we go.
    session.execute(
        delete(LoginAttempt).where(
            LoginAttempt.at < now - max(LOGIN_WINDOW, REGISTRATION_WINDOW)
        )
    )
    session.add_all(LoginAttempt(key=key, at=now) for key in keys)
    session.flush()


def check_login_limits(
    session: Session, *, name: str, address: str | None, now: dt.datetime
) -> None:
    """RateLimitedError if this name or this address failed too often lately."""
    _check_limit(
        session,
        name_key(name),
        limit=MAX_FAILURES_PER_NAME,
        window=LOGIN_WINDOW,
        now=now,
        message="Too many failed logins for this name.",
    )
    _check_limit(
        session,
        address_key(address),
        limit=MAX_FAILURES_PER_ADDRESS,
        window=LOGIN_WINDOW,
        now=now,
        message="Too many failed logins from your network.",
    )


def check_registration_limit(
    session: Session, *, address: str | None, now: dt.datetime
) -> None:
    _check_limit(
        session,
        "register:" + address_key(address),
        limit=MAX_REGISTRATIONS_PER_ADDRESS,
        window=REGISTRATION_WINDOW,
        now=now,
        message="Too many new accounts from your network.",
    )


def record_registration(
    session: Session, *, address: str | None, now: dt.datetime
) -> None:
    _record(session, ["register:" + address_key(address)], now)


# --- logging in ------------------------------------------------------------------------------


def authenticate(
    session: Session,
    *,
    name: str,
    password: str,
    address: str | None,
    now: dt.datetime,
) -> User | None:
    """The user if name and password match; None (and a failure recorded) if not.

    Raises RateLimitedError, before looking at the password, when the name or the
    address failed too often in the last 15 minutes; the caller should commit
    either way so that failures count.
    """
    check_login_limits(session, name=name, address=address, now=now)
    user = find_account(session, name)
    if len(password) > MAX_PASSWORD:
        password = password[:MAX_PASSWORD]  # hash work stays bounded
    stored = user.password_hash if user is not None else None
    if user is None or not verify_password(stored, password):
        _record(session, [name_key(name), address_key(address)], now)
        log.warning(
            "failed login for name %r from %s",
            normalise_name(name)[:80],
            address or "unknown address",
        )
        return None
    if needs_rehash(stored):
        user.password_hash = hash_password(password)
    session.execute(delete(LoginAttempt).where(LoginAttempt.key == name_key(name)))
    log.info("login: %s from %s", user.name, address or "unknown address")
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_login_session(session: Session, *, user: User, now: dt.datetime) -> str:
    """A new login for `user`; returns the token for the cookie (never stored)."""
    session.execute(
        delete(LoginSession).where(LoginSession.last_seen_at < now - SESSION_IDLE)
    )
    token = secrets.token_urlsafe(32)
    session.add(
        LoginSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
        )
    )
    session.flush()
    return token


def session_user(session: Session, token: str, *, now: dt.datetime) -> User | None:
    """The user logged in with this cookie token, if the login is still valid."""
    if not token or len(token) > 200:
        return None
    row = session.execute(
        select(LoginSession, User)
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.token_hash == _token_hash(token))
    ).first()
    if row is None:
        return None
    login, user = row
    if login.last_seen_at < now - SESSION_IDLE or user.password_hash is None:
        session.delete(login)
        return None
    if login.last_seen_at < now - SESSION_TOUCH:
        login.last_seen_at = now
    return user


def end_login_session(session: Session, token: str) -> None:
    session.execute(
        delete(LoginSession).where(LoginSession.token_hash == _token_hash(token))
    )


def change_password(
    session: Session,
    *,
    user: User,
    current: str,
    new: str,
    keep_token: str | None,
    address: str | None,
    now: dt.datetime,
) -> None:
    """Check the current password, set the new one, end every other login.

    Raises AccountError (a wrong current password counts as a failed login) or
    RateLimitedError.
    """
    check_login_limits(session, name=user.name, address=address, now=now)
    if not verify_password(user.password_hash, current[:MAX_PASSWORD]):
        _record(session, [name_key(user.name), address_key(address)], now)
        log.warning("wrong current password in a password change for %s", user.name)
        raise AccountError("The current password is wrong; nothing was changed.")
    if hmac.compare_digest(current.encode(), new.encode()):
        raise AccountError("The new password is the same as the current one.")
    check_new_password(new, name=user.name)
    user.password_hash = hash_password(new)
    others = delete(LoginSession).where(LoginSession.user_id == user.id)
    if keep_token:
        others = others.where(LoginSession.token_hash != _token_hash(keep_token))
    session.execute(others)
    log.info("password changed for %s; their other sessions were ended", user.name)


# --- invitations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationInfo:
    user_name: str
    is_admin: bool
    expires_at: dt.datetime


def create_invitation(
    session: Session,
    *,
    name: str,
    now: dt.datetime,
    is_admin: bool = False,
    lifetime: dt.timedelta = INVITATION_LIFETIME,
) -> str:
    """A one-time token that creates the account `name`; older links for it stop working."""
    clean = check_new_name(session, name)
    session.execute(
        delete(Invitation).where(
            Invitation.user_name == clean, Invitation.used_at.is_(None)
        )
    )
    token = secrets.token_urlsafe(32)
    session.add(
        Invitation(
            token_hash=_token_hash(token),
            user_name=clean,
            is_admin=is_admin,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    log.info("invitation created for %s%s", clean, " (admin)" if is_admin else "")
    return token


def _open_invitation(
    session: Session, token: str, now: dt.datetime
) -> Invitation | None:
    if not token or len(token) > 200:
        return None
    invitation = session.scalars(
        select(Invitation)
        .where(Invitation.token_hash == _token_hash(token))
        .with_for_update()
    ).one_or_none()
    if (
        invitation is None
        or invitation.used_at is not None
        or invitation.expires_at <= now
    ):
        return None
    return invitation


def invitation_info(
    session: Session, token: str, *, now: dt.datetime
) -> InvitationInfo | None:
    """What an unused, unexpired invitation offers; None for any other token."""
    invitation = _open_invitation(session, token, now)
    if invitation is None:
        return None
    return InvitationInfo(
        invitation.user_name, invitation.is_admin, invitation.expires_at
    )


INVALID_INVITATION = (
    "This invitation link does not work: it was used already, it expired, or a newer "
    "link replaced it. Ask the admin for a new one."
)


def accept_invitation(
    session: Session, *, token: str, password: str, now: dt.datetime
) -> User:
    """Create the invited account with `password`; the link cannot be used again."""
    invitation = _open_invitation(session, token, now)
    if invitation is None:
        raise AccountError(INVALID_INVITATION)
    user = create_user(
        session,
        name=invitation.user_name,
        password=password,
        now=now,
        is_admin=invitation.is_admin,
    )
    invitation.used_at = now
    return user

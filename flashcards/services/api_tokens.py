"""Personal API tokens: create, list, revoke, and find the user a token belongs to.

Place: the JSON API (web.api) authenticates every call with `authenticate`; the
settings page (web.tokens) creates and revokes tokens. A token is "fc_" followed by
32 random bytes (URL-safe base64); only its SHA-256 is stored, so a leaked database
gives no working token. The token is shown once, when it is created. Services take
a Session and never commit; the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flashcards.db.models import ApiToken, User

TOKEN_PREFIX = "fc_"
TOKEN_BYTES = 32
NAME_MAX = 80
# More than anyone needs; stops a script from filling the table by mistake.
MAX_ACTIVE_TOKENS = 50
# Writing last_used_at on every call would turn every read into a write; once a
# minute is precise enough for "last used" on the settings page.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class TokenError(Exception):
    """A token action that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class NewToken:
    """A freshly created token: the stored row and the secret, shown only now."""

    token: ApiToken
    secret: str


def hash_token(secret: str) -> str:
    """The stored form of a token: the hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def generate_secret() -> str:
    """A new random token with the recognisable prefix (e.g. for secret scanners)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def clean_name(name: str) -> str:
    """The token's label, trimmed; raises TokenError when empty or too long."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise TokenError("Give the token a name, such as the device or script using it.")
    if len(cleaned) > NAME_MAX:
        raise TokenError(f"A token name may be at most {NAME_MAX} characters long.")
    return cleaned


def create_token(
    session: Session, *, user: User, name: str, now: dt.datetime
) -> NewToken:
    """A new token for `user`. The returned secret is never stored or shown again."""
    label = clean_name(name)
    active = session.scalar(
        select(func.count())
        .select_from(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    )
    if (active or 0) >= MAX_ACTIVE_TOKENS:
        raise TokenError(
            f"You already have {MAX_ACTIVE_TOKENS} active tokens; revoke one you no "
            "longer use first."
        )
    secret = generate_secret()
    token = ApiToken(
        user_id=user.id,
        name=label,
        token_hash=hash_token(secret),
        created_at=now,
    )
    session.add(token)
    session.flush()
    return NewToken(token=token, secret=secret)


def list_tokens(session: Session, *, user_id: int) -> list[ApiToken]:
    """The user's tokens, active ones first, newest first."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(
                ApiToken.revoked_at.is_not(None),
                ApiToken.created_at.desc(),
                ApiToken.id.desc(),
            )
        )
    )


def revoke_token(
    session: Session, *, user_id: int, token_id: int, now: dt.datetime
) -> ApiToken:
    """Revoke one of the user's tokens (idempotent). Another user's token is unknown."""
    token = session.scalars(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
    ).one_or_none()
    if token is None:
        raise TokenError("There is no such token.")
    if token.revoked_at is None:
        token.revoked_at = now
    return token


def authenticate(session: Session, secret: str, *, now: dt.datetime) -> User:
    """The user an active token belongs to; records when the token was last used.

    Raises TokenError (to answer with 401) for an unknown or revoked token.
    """
    token_hash = hash_token(secret) if len(secret) <= 200 else ""
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash)
    ).first()
    if row is None:
        raise TokenError(
            "That is not a valid API token. Create one on the /settings/tokens page; "
            "it is shown once, starting with " + TOKEN_PREFIX + "."
        )
    token, user = row
    if token.revoked_at is not None:
        raise TokenError(
            "This API token was revoked; create a new one on the /settings/tokens page."
        )
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
    return user

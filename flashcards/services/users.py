"""Users: the implicit local user of single-person mode, and lookups by name."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from flashcards.db.models import User

LOCAL_USER_NAME = "local"


def ensure_local_user(session: Session, *, now: dt.datetime) -> User:
    """The one user of local mode (no accounts), created on first use."""
    user = session.scalars(
        select(User).where(User.name == LOCAL_USER_NAME)
    ).one_or_none()
    if user is None:
        user = User(name=LOCAL_USER_NAME, created_at=now, is_admin=True)
        session.add(user)
        session.flush()
    return user


def find_user(session: Session, name: str) -> User | None:
    return session.scalars(select(User).where(User.name == name)).one_or_none()

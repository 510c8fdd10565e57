"""Who is asking: the one helper every view uses to get "the current user".

Local mode has one implicit user (services.users.ensure_local_user). When accounts
arrive, only this module changes: it will read the logged-in user from the session
and views keep calling `current_user(session)`.
"""

from __future__ import annotations

from flask import g
from sqlalchemy.orm import Session

from flashcards.db.models import User
from flashcards.services.users import ensure_local_user
from flashcards.web.app import now


def current_user(session: Session) -> User:
    """The user of this request, loaded into `session`."""
    user_id: int | None = g.get("user_id")
    if user_id is not None:
        user = session.get(User, user_id)
        if user is not None:
            g.user_zone = user.timezone
            return user
    user = ensure_local_user(session, now=now())
    g.user_id = user.id
    g.user_zone = user.timezone
    return user

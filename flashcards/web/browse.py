"""Browse blueprint: search and sort cards, and each card's page with its history.

A card's page shows its content, current state, whole review log and where it comes
from (file and line), with suspend / unsuspend, bury / unbury, reset progress and
set due date. Pages name a deck file relative to the decks folder (`deck_source`),
never by its path on the server.
"""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from werkzeug.wrappers import Response

from flashcards.db.models import Deck
from flashcards.services.browse import (
    COUNT_LIMIT,
    DUE_FILTERS,
    PAGE_SIZE,
    SORTS,
    STATES,
    BrowseError,
    BrowseQuery,
    browse_cards,
    card_details,
    note_cards,
)
from flashcards.services.decks import visible_decks_clause
from flashcards.services.importing import user_scope
from flashcards.services.presets import user_clock
from flashcards.services.study import (
    StudyError,
    bury_card,
    reset_progress,
    set_due_in_days,
    set_suspended,
    unbury_card,
)
from flashcards.web.app import app_state, now
from flashcards.web.auth import current_user
from flashcards.web.errors import error_response
from flashcards.web.rendering import card_html

bp = Blueprint("browse", __name__)

CARD_ACTIONS = {
    "suspend": "Suspended: it stays out of study until you unsuspend it.",
    "unsuspend": "Unsuspended: it is back in study.",
    "bury": "Buried until tomorrow.",
    "unbury": "Unburied: it is back in today's study.",
    "reset": "Progress reset: the card is new again (its review log stays).",
    "due": "Due date set.",
}


def _query_from_args() -> BrowseQuery:
    args = request.args
    lapses_raw = args.get("lapses", "").strip()
    try:
        min_lapses = int(lapses_raw) if lapses_raw else None
    except ValueError:
        raise BrowseError("Lapses must be a whole number.") from None
    deck_raw = args.get("deck", "").strip()
    try:
        deck_id = int(deck_raw) if deck_raw else None
    except ValueError:
        raise BrowseError("Pick a deck from the list.") from None
    return BrowseQuery(
        text=args.get("q", "")[:200],
        deck_id=deck_id,
        tag=args.get("tag", "")[:100],
        state=args.get("state", ""),
        due=args.get("due", ""),
        min_lapses=min_lapses,
        sort=args.get("sort", "added") or "added",
        descending=args.get("order") == "desc",
        after=args.get("after") or None,
        before=args.get("before") or None,
        page_size=current_app.config.get("BROWSE_PAGE_SIZE", PAGE_SIZE),
    )


@bp.app_template_global()
def deck_source(deck: Deck) -> str | None:
    """A deck's file as users see it, or None for an uploaded deck (no file).

    The path relative to the decks folder: where the server keeps its files is
    not the users' business. A file imported from elsewhere shows its name only.
    """
    if not deck.source_path:
        return None
    path = Path(deck.source_path)
    try:
        return path.relative_to(app_state().settings.decks_dir.resolve()).as_posix()
    except ValueError:
        return path.name


@bp.get("/browse")
def index() -> str | tuple[str, int]:
    """Search cards by text, deck, tag, state, due date and lapses; one page."""
    state = app_state()
    with state.sessions.begin() as session:
        user = current_user(session)
        decks = list(
            session.execute(
                select(Deck.id, Deck.name)
                .where(visible_decks_clause(user.id))
                .order_by(Deck.name)
            )
        )
        problem = None
        page = None
        query = BrowseQuery()
        try:
            query = _query_from_args()
            page = browse_cards(session, query, user=user, now=now())
        except BrowseError as error:
            problem = str(error)
    args = {k: v for k, v in request.args.items() if k not in ("after", "before")}
    return render_template(
        "browse/index.html",
        query=query,
        page=page,
        problem=problem,
        decks=decks,
        sorts=SORTS,
        states=STATES,
        due_filters=DUE_FILTERS,
        args=args,
        count_limit=COUNT_LIMIT,
    ), (400 if problem else 200)


@bp.get("/cards/<int:card_id>")
def card(card_id: int) -> str:
    """A card: its content, state, review history and source file and line."""
    state = app_state()
    with state.sessions.begin() as session:
        user = current_user(session)
        details = card_details(session, user=user, card_id=card_id, now=now())
        if details is None:
            abort(404, description=f"There is no card {card_id}.")
        html = card_html(details.note, details.card.slot, details.deck)
        siblings = [c for c in note_cards(session, details.note.id) if c.id != card_id]
        editable = details.deck.scope == user_scope(user.id) or (
            user.is_admin and details.note.retired_at is None
        )
    return render_template(
        "browse/card.html",
        details=details,
        html=html,
        siblings=siblings,
        editable=editable,
        actions=CARD_ACTIONS,
    )


@bp.post("/cards/<int:card_id>/<action>")
def card_action(card_id: int, action: str) -> Response | tuple[Response | str, int]:
    """Suspend, unsuspend, bury, unbury, reset or set the due date of a card."""
    if action not in CARD_ACTIONS:
        abort(404)
    days = None
    if action == "due":
        raw = request.form.get("days", "").strip()
        try:
            days = int(raw)
        except ValueError:
            return error_response(
                400,
                "The due date was not changed",
                "Give the number of days from today (0 = today).",
            )
    try:
        with app_state().sessions.begin() as session:
            user = current_user(session)
            moment = now()
            if action in ("suspend", "unsuspend"):
                set_suspended(
                    session, user=user, card_id=card_id, suspended=action == "suspend"
                )
            elif action == "bury":
                today = user_clock(user).day_number(moment)
                bury_card(session, user=user, card_id=card_id, today=today)
            elif action == "unbury":
                unbury_card(session, user=user, card_id=card_id)
            elif action == "reset":
                reset_progress(session, user=user, card_id=card_id)
            else:
                assert days is not None
                set_due_in_days(
                    session, user=user, card_id=card_id, days=days, now=moment
                )
    except StudyError as error:
        details_missing = "There is no card" in str(error)
        return error_response(
            404 if details_missing else 400, "Nothing was changed", str(error)
        )
    message = CARD_ACTIONS[action]
    if action == "due" and days is not None:
        message = "Due today." if days == 0 else f"Due in {days} day{'s' * (days != 1)}."
    flash(message, "success")
    return redirect(url_for("browse.card", card_id=card_id), code=303)

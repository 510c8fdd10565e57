"""Edit blueprint: fix a card's text where it lives, from study or from its page.

The form shows the entry as its source has it now. Saving writes it back into the
YAML file (comments and layout kept) or the uploaded deck's stored source; an edit
that `flashcards check` would reject is refused with the same messages.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from flashcards.services.editing import (
    EditConflictError,
    EditError,
    EditNotAllowedError,
    EditSource,
    edit_entry,
    edit_source,
)
from flashcards.web.app import app_state, now
from flashcards.web.auth import current_user, safe_path
from flashcards.web.errors import error_response
from flashcards.web.rendering import entry_html

bp = Blueprint("edit", __name__)

LABELS = {"front": "Front", "back": "Back", "cloze": "Cloze text", "extra": "Extra"}
HELP = {
    "front": "Markdown; math as $…$ or $$…$$.",
    "back": "Markdown; math as $…$ or $$…$$.",
    "cloze": "Mark each gap as {{c1::answer}} or {{c1::answer::hint}}.",
    "extra": "Shown after the answer; leave empty to remove it.",
}


def _refusal_status(error: EditError) -> int:
    """404 for a card this user cannot see, 403 for a shared card (admins only)."""
    if isinstance(error, EditNotAllowedError):
        return 403
    return 404 if "There is no card" in str(error) else 409


class _Refused(Exception):
    """The card's source cannot be opened for this user; carries the error page."""

    def __init__(self, page: tuple[Response | str, int]) -> None:
        self.page = page


def _open_source(card_id: int) -> EditSource:
    """The card's entry as its source has it now, or _Refused with the reason."""
    state = app_state()
    with state.sessions() as session:
        user = current_user(session)
        try:
            return edit_source(
                session, user=user, card_id=card_id,
                max_bytes=state.settings.max_deck_bytes,
            )
        except EditError as error:
            raise _Refused(
                error_response(
                    _refusal_status(error),
                    "This card cannot be edited",
                    " ".join(error.problems),
                )
            ) from None


def _safe_next(default: str) -> str:
    """Where to go after saving: a path on this site only."""
    return safe_path(request.values.get("next")) or default


def _render_form(
    source: EditSource,
    values: dict[str, str],
    *,
    problems: list[str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    slot = "front" if source.entry.kind == "basic" else (source.entry.slots or ("c1",))[0]
    try:
        preview = entry_html(source.entry, slot, source.deck)
    except ValueError:
        preview = None
    return render_template(
        "edit/card.html",
        source=source,
        values=values,
        labels=LABELS,
        help=HELP,
        problems=problems,
        preview=preview,
        next_url=_safe_next(url_for("browse.card", card_id=source.card_id)),
    ), status


@bp.get("/cards/<int:card_id>/edit")
def card(card_id: int) -> tuple[str, int] | tuple[Response | str, int]:
    """The edit form, filled from the card's source as it is now."""
    try:
        source = _open_source(card_id)
    except _Refused as refused:
        return refused.page
    values = {name: source.value(name) for name in source.fields}
    return _render_form(source, values)


@bp.post("/cards/<int:card_id>/edit")
def save(card_id: int) -> Response | tuple[str, int] | tuple[Response | str, int]:
    """Write the edit into the source and re-import it, or show why not."""
    state = app_state()
    base_hash = request.form.get("base_hash", "")
    submitted = {
        name: request.form[name]
        for name in ("front", "back", "cloze", "extra")
        if name in request.form
    }
    try:
        with state.sessions.begin() as session:
            user = current_user(session)
            result = edit_entry(
                session,
                user=user,
                card_id=card_id,
                values=submitted,
                base_hash=base_hash,
                now=now(),
                max_bytes=state.settings.max_deck_bytes,
            )
    except EditError as error:
        try:
            source = _open_source(card_id)
        except _Refused as refused:
            return refused.page
        if isinstance(error, EditConflictError):
            values = {name: source.value(name) for name in source.fields}
            return _render_form(source, values, problems=error.problems, status=409)
        values = {
            name: submitted.get(name, source.value(name)) for name in source.fields
        }
        return _render_form(source, values, problems=error.problems, status=400)
    if result.changed:
        flash(f"Saved to {result.report.source}.", "success")
    else:
        flash("Nothing changed.", "success")
    return redirect(_safe_next(url_for("browse.card", card_id=card_id)), code=303)

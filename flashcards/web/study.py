"""Study blueprint: one card at a time, answer, undo, bury, suspend; the day's summary.

Works with plain forms (each action posts and redirects back to the study page);
with JavaScript (static/app.js) the same forms are posted with
`Accept: application/json` and the reply carries the next card's HTML, so moving
on needs no page load. Every answer carries the card's version: a second post of
the same answer (a double click, a stale tab) is refused and nothing is recorded
twice.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from flashcards.db.models import Card, Deck, User
from flashcards.services.browse import day_summary
from flashcards.services.decks import visible_decks_clause
from flashcards.services.presets import user_clock
from flashcards.services.study import (
    NotDueError,
    StaleAnswerError,
    StudyError,
    answer_card,
    answer_labels,
    bury_card,
    deck_tree_ids,
    latest_undoable_review,
    set_suspended,
    study_card_note,
    study_queue,
    undo_last_answer,
)
from flashcards.web.app import app_state, now
from flashcards.web.auth import current_user
from flashcards.web.decks import visible_deck
from flashcards.web.errors import error_response, wants_json
from flashcards.web.rendering import card_html

bp = Blueprint("study", __name__)

RATINGS = ((1, "Again"), (2, "Hard"), (3, "Good"), (4, "Easy"))

Reply = BaseResponse | tuple[Response | str, int] | str


class BadForm(Exception):
    """A study form with a missing or malformed field."""


def _form_int(name: str, *, required: bool = True) -> int | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        if required:
            raise BadForm(f"The form is missing '{name}'; reload the page.")
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadForm(f"'{name}' must be a whole number, not {raw[:20]!r}.") from None


MAX_AHEAD_DAYS = 365


def _ahead_days(raw: str) -> int:
    """The study-ahead window from a form or query: 0 (off) to a year."""
    raw = raw.strip()
    if not raw:
        return 0
    try:
        days = int(raw)
    except ValueError:
        raise BadForm(f"'ahead' must be a number of days, not {raw[:20]!r}.") from None
    if not 0 <= days <= MAX_AHEAD_DAYS:
        raise BadForm(f"Study ahead works for 0 to {MAX_AHEAD_DAYS} days.")
    return days


def _now_ms() -> int:
    return int(now().timestamp() * 1000)


def _panel(
    session: Session,
    user: User,
    deck: Deck,
    *,
    reveal: int | None = None,
    shown_at: int | None = None,
    notice: str | None = None,
    ahead: int = 0,
    undo_id: int | None = None,
) -> dict[str, Any]:
    """What the study panel shows: the next card (or the summary) and the counts.

    `ahead` > 0 is Anki's "study ahead": once today's cards are done, reviews due
    within that many days, answered with the early-review rules. `undo_id` is the
    answer just recorded, when there is one (the latest answer, so no query).
    """
    moment = now()
    queue = study_queue(session, user=user, deck=deck, now=moment, ahead_days=ahead)
    context: dict[str, Any] = {
        "deck": deck,
        "ahead": ahead,
        "counts": queue.counts,
        "undo_id": undo_id or latest_undoable_review(session, user=user, now=moment),
        "notice": notice,
        "card": queue.card,
        "ratings": RATINGS,
    }
    if queue.card is None:
        context["summary"] = day_summary(
            session,
            user=user,
            deck_ids=deck_tree_ids(session, deck, user_id=user.id),
            now=moment,
        )
        context["next_learning_at"] = queue.next_learning_at
        return context
    card = queue.card
    note = study_card_note(session, card)
    card_deck = deck if card.deck_id == deck.id else session.get_one(Deck, card.deck_id)
    revealed = reveal == card.card_id
    context.update(
        note=note,
        card_deck=card_deck,
        html=card_html(note, card.slot, card_deck),
        labels=answer_labels(session, user=user, deck=card_deck, card=card, now=moment),
        revealed=revealed,
        shown_at=shown_at if revealed and shown_at else _now_ms(),
    )
    return context


def _reply(deck_id: int, context: dict[str, Any], *, status: int = 200) -> Reply:
    """JSON with the panel's HTML for the script; a redirect for a plain form."""
    notice = context.get("notice")
    if wants_json():
        html = render_template("study/_panel.html", **context)
        return jsonify(html=html, notice=notice, done=context["card"] is None), status
    if notice:
        flash(notice, "warning" if status >= 400 else "success")
    ahead = context.get("ahead") or None
    return redirect(url_for("study.study", deck_id=deck_id, ahead=ahead), code=303)


@bp.get("/study/<int:deck_id>")
def study(deck_id: int) -> Reply:
    """The next card's question (or its answer after Show answer), or the summary."""
    reveal = request.args.get("reveal", type=int)
    shown_at = request.args.get("shown", type=int)
    try:
        ahead = _ahead_days(request.args.get("ahead", ""))
    except BadForm as error:
        return error_response(400, "Nothing to study", str(error))
    with app_state().sessions.begin() as session:
        user = current_user(session)
        deck = visible_deck(session, user, deck_id)
        context = _panel(
            session, user, deck, reveal=reveal, shown_at=shown_at, ahead=ahead
        )
    if wants_json():
        return jsonify(
            html=render_template("study/_panel.html", **context),
            done=context["card"] is None,
        )
    return render_template("study/study.html", **context)


@bp.post("/study/<int:deck_id>/answer")
def answer(deck_id: int) -> Reply:
    """Record a rating for the shown card, then show the next one."""
    try:
        card_id = _form_int("card_id")
        version = _form_int("version")
        rating = _form_int("rating")
        duration = _form_int("duration_ms", required=False)
        shown_at = _form_int("shown_at", required=False)
        ahead = _ahead_days(request.form.get("ahead", ""))
    except BadForm as error:
        return error_response(400, "The answer was not recorded", str(error))
    assert card_id is not None
    assert version is not None
    assert rating is not None
    if duration is None:
        duration = _now_ms() - shown_at if shown_at is not None else 0
    notice = None
    status = 200
    try:
        with app_state().sessions.begin() as session:
            user = current_user(session)
            deck = visible_deck(session, user, deck_id)
            recorded = None
            try:
                recorded = answer_card(
                    session,
                    user=user,
                    card_id=card_id,
                    rating=rating,
                    now=now(),
                    expected_version=version,
                    duration_ms=max(0, duration),
                    ahead_days=ahead,
                )
            except (StaleAnswerError, NotDueError) as error:
                notice, status = str(error), 409
            context = _panel(
                session,
                user,
                deck,
                notice=notice,
                ahead=ahead,
                undo_id=recorded.review_id if recorded else None,
            )
    except StudyError as error:
        return _study_error(card_id, error, "The answer was not recorded")
    return _reply(deck_id, context, status=status)


@bp.post("/study/<int:deck_id>/undo")
def undo(deck_id: int) -> Reply:
    """Take back the latest answer (the one the page offered to undo)."""
    try:
        review_id = _form_int("review_id", required=False)
    except BadForm as error:
        return error_response(400, "Nothing was undone", str(error))
    status = 200
    with app_state().sessions.begin() as session:
        user = current_user(session)
        deck = visible_deck(session, user, deck_id)
        try:
            undo_last_answer(
                session, user=user, now=now(), expected_review_id=review_id
            )
            notice = "The last answer was taken back."
        except StudyError as error:
            notice, status = str(error), 409
        context = _panel(session, user, deck, notice=notice)
    return _reply(deck_id, context, status=status)


@bp.post("/study/<int:deck_id>/bury")
def bury(deck_id: int) -> Reply:
    """Hide the shown card until tomorrow."""
    return _card_action(deck_id, "bury")


@bp.post("/study/<int:deck_id>/suspend")
def suspend(deck_id: int) -> Reply:
    """Take the shown card out of study until it is unsuspended in Browse."""
    return _card_action(deck_id, "suspend")


def _card_action(deck_id: int, action: str) -> Reply:
    try:
        card_id = _form_int("card_id")
    except BadForm as error:
        return error_response(400, "Nothing was changed", str(error))
    assert card_id is not None
    try:
        with app_state().sessions.begin() as session:
            user = current_user(session)
            deck = visible_deck(session, user, deck_id)
            moment = now()
            if action == "bury":
                today = user_clock(user).day_number(moment)
                bury_card(session, user=user, card_id=card_id, today=today)
                notice = "Buried until tomorrow."
            else:
                set_suspended(session, user=user, card_id=card_id, suspended=True)
                notice = "Suspended. Unsuspend it from its page in Browse."
            context = _panel(session, user, deck, notice=notice)
    except StudyError as error:
        return _study_error(card_id, error, "Nothing was changed")
    return _reply(deck_id, context)


def _study_error(card_id: int, error: StudyError, title: str) -> Reply:
    """400 for a bad request, 404 when the card does not exist for this user.

    Another user's private card counts as not existing: same status, same words.
    """
    with app_state().sessions() as session:
        user = current_user(session)
        exists = session.scalar(
            select(Card.id)
            .join(Deck, Deck.id == Card.deck_id)
            .where(Card.id == card_id, visible_decks_clause(user.id))
        ) is not None
    return error_response(400 if exists else 404, title, str(error))

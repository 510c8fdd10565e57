"""The JSON API under /api/v1: decks with counts, next card, answer, undo, upload, export.

Place: a blueprint of the web layer beside the HTML pages, calling the same services
(study, uploads, export) inside one transaction per request. Callers authenticate
with a personal API token (`Authorization: Bearer fc_...`, see
services.api_tokens) in every mode, local mode included, where tokens belong to the
local user; cookies play no part, so the blueprint is exempt from CSRF. A token acts
as its user: every query goes through the same visibility rules as the pages, so it
never sees another user's progress or uploads.

Every error is JSON, `{"error": {"status": 409, "message": "..."}}`, with the right
status; `init_app` makes the app-wide 404/405/413/... handlers answer that way for
paths under /api/ too. The OpenAPI document (web.openapi) describes every route.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, default_exceptions

from flashcards.db.models import Card, CardProgress, Deck, User
from flashcards.deckfile import DeckFileError
from flashcards.export import (
    EmptySelectionError,
    ExportError,
    UnknownDeckError,
    build_package,
    export_yaml,
)
from flashcards.services.api_tokens import TokenError, authenticate
from flashcards.services.decks import list_decks, visible_decks_clause
from flashcards.services.importing import DeckConflictError, user_scope
from flashcards.services.study import (
    NotDueError,
    QueueCounts,
    StaleAnswerError,
    StudyError,
    answer_card,
    answer_labels,
    deck_tree_counts,
    deck_tree_ids,
    latest_undoable_review,
    study_card_note,
    study_queue,
    undo_last_answer,
)
from flashcards.services.uploads import upload_deck
from flashcards.web.app import app_state, now
from flashcards.web.openapi import API_PREFIX, MAX_ID, openapi_document
from flashcards.web.rendering import card_html

bp = Blueprint("api", __name__, url_prefix=API_PREFIX)

RATINGS = ((1, "Again"), (2, "Hard"), (3, "Good"), (4, "Easy"))
# JSON bodies are small; a larger one is refused before it is parsed.
MAX_JSON_BYTES = 64 * 1024
YAML_FILENAME = "upload.yaml"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
# Status codes whose app-wide handlers (HTML pages) `init_app` wraps for the API.
_WRAPPED_CODES = (400, 401, 403, 404, 405, 413, 415, 429, 500)


@dataclass(eq=False)
class ApiError(Exception):
    """A refusal with its HTTP status; extra fields go into the error object."""

    status: int
    message: str
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def error_response(
    status: int,
    message: str,
    *,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """`{"error": {"status": …, "message": …}}` with that status."""
    response = jsonify(error={"status": status, "message": message, **(extra or {})})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def is_api_request() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


_HTTP_MESSAGES = {
    400: "The request was not understood.",
    401: "This needs a valid API token: send `Authorization: Bearer fc_...`.",
    403: "That is not allowed with this token.",
    404: "There is nothing at this address; see /api/v1/openapi.json for the routes.",
    405: "This address does not accept that method; the Allow header lists those it does.",
    413: "The request is larger than this instance accepts.",
    415: "That content type is not accepted here.",
    429: "Too many requests; slow down and try again.",
    500: "Something went wrong on the server. Try again; if it keeps happening, "
    "tell whoever runs this instance (the server log has the details).",
}


def http_error_response(error: HTTPException) -> Response:
    """A Werkzeug HTTP error as the API's JSON error, keeping headers such as Allow."""
    status = error.code or 500
    description = error.description or ""
    generic = description == type(error).description or not description
    message = _HTTP_MESSAGES.get(status, description) if generic else description
    if status == 413:
        limit = app_state().settings.max_deck_bytes
        message = f"The request is larger than this instance accepts ({limit:,} bytes)."
    headers = {
        name: value
        for name, value in error.get_headers()
        if name.lower() not in ("content-type", "content-length")
    }
    return error_response(status, message, headers=headers)


# --- authentication ------------------------------------------------------------------


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise ApiError(
            401,
            "This needs a personal API token: create one on the /settings/tokens page "
            "and send it as `Authorization: Bearer fc_...`.",
        )
    return credentials.strip()


@bp.before_request
def _require_token() -> None:
    """No token, no work: 401 before anything else (the document itself is public)."""
    if request.endpoint == "api.openapi":
        return
    g.api_token = _bearer_token()


def _authenticate(session: Session) -> User:
    try:
        user = authenticate(session, g.api_token, now=now())
    except TokenError as error:
        raise ApiError(401, str(error)) from None
    # web.auth's login gate skips this blueprint; current_user reads g.user_id.
    g.api_user_id = g.user_id = user.id
    g.user_zone = user.timezone
    return user


@contextmanager
def _transaction() -> Iterator[tuple[Session, User]]:
    """The request's one transaction, opened by the token check (401 when it fails).

    Checking the token in the view's own transaction saves a connection checkout and
    a commit per call, which is most of a small request's database time.
    """
    with app_state().sessions.begin() as session:
        yield session, _authenticate(session)


# --- request bodies and parameters -------------------------------------------------


def _json_object(*, required: bool) -> dict[str, Any]:
    data = request.get_data(cache=True)
    if len(data) > MAX_JSON_BYTES:
        raise ApiError(413, f"A JSON body may be at most {MAX_JSON_BYTES:,} bytes.")
    if not data.strip():
        if required:
            raise ApiError(400, "Send a JSON object as the request body.")
        return {}
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        raise ApiError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def _int_field(
    body: dict[str, Any],
    name: str,
    *,
    required: bool = False,
    minimum: int = 0,
    maximum: int = MAX_ID,
) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(422, f"'{name}' is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(422, f"'{name}' must be a whole number, not {value!r:.40}.")
    if not minimum <= value <= maximum:
        raise ApiError(422, f"'{name}' must be between {minimum} and {maximum}.")
    return value


def _bool_arg(name: str) -> bool:
    raw = request.args.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ApiError(422, f"'{name}' must be true or false, not {raw!r:.40}.")


# --- shaping answers ---------------------------------------------------------------------


def _counts(counts: QueueCounts) -> dict[str, int]:
    return {"new": counts.new, "learning": counts.learning, "review": counts.review}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _visible_deck(session: Session, user: User, deck_id: int) -> Deck:
    deck = session.scalars(
        select(Deck).where(Deck.id == deck_id, visible_decks_clause(user.id))
    ).one_or_none()
    if deck is None:
        raise ApiError(404, f"There is no deck {deck_id} (or it is not yours to see).")
    return deck


def _next_payload(session: Session, user: User, deck: Deck) -> dict[str, Any]:
    """What GET /decks/{id}/next returns: the counts and the card to show, if any."""
    moment = now()
    queue = study_queue(session, user=user, deck=deck, now=moment)
    card: dict[str, Any] | None = None
    if queue.card is not None:
        chosen = queue.card
        note = study_card_note(session, chosen)
        card_deck = (
            deck if chosen.deck_id == deck.id else session.get_one(Deck, chosen.deck_id)
        )
        html = card_html(note, chosen.slot, card_deck)
        labels = answer_labels(
            session, user=user, deck=card_deck, card=chosen, now=moment
        )
        card = {
            "id": chosen.card_id,
            "deck_id": chosen.deck_id,
            "note_key": note.key,
            "slot": chosen.slot,
            "version": chosen.version,
            "queue": chosen.queue,
            "question_html": html.question_html,
            "answer_html": html.answer_html,
            "extra_html": html.extra_html,
            "buttons": [
                {"rating": rating, "name": name, "label": labels.get(rating, "")}
                for rating, name in RATINGS
            ],
        }
    return {
        "deck_id": deck.id,
        "counts": _counts(queue.counts),
        "card": card,
        "next_learning_at": _iso(queue.next_learning_at),
        "undo_review_id": latest_undoable_review(session, user=user, now=moment),
    }


def _deck_payload(deck: Deck, user: User, cards: int, counts: QueueCounts) -> dict[str, Any]:
    return {
        "id": deck.id,
        "slug": deck.slug,
        "name": deck.name,
        "description": deck.description,
        "cards": cards,
        "uploaded": deck.scope == user_scope(user.id),
        "counts": _counts(counts),
    }


# --- routes ---------------------------------------------------------------------------------


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of this API (no token needed)."""
    response = jsonify(openapi_document())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/decks")
def decks() -> Response:
    """Every deck the token's user can see, with today's counts (subdecks included)."""
    with _transaction() as (session, user):
        summaries = list_decks(session, user_id=user.id)
        counts = deck_tree_counts(session, user=user, now=now())
        scopes = {
            deck_id: scope
            for deck_id, scope in session.execute(
                select(Deck.id, Deck.scope).where(visible_decks_clause(user.id))
            )
        }
        uploaded_scope = user_scope(user.id)
        items = [
            {
                "id": summary.id,
                "slug": summary.slug,
                "name": summary.name,
                "description": summary.description,
                "cards": summary.card_count,
                "uploaded": scopes.get(summary.id) == uploaded_scope,
                "counts": _counts(counts.get(summary.id, QueueCounts())),
            }
            for summary in summaries
        ]
    return jsonify(decks=items)


@bp.get(f"/decks/<int(max={MAX_ID}):deck_id>/next")
def next_card(deck_id: int) -> Response:
    """The card to study next in the deck (and its subdecks), or `card: null`."""
    with _transaction() as (session, user):
        deck = _visible_deck(session, user, deck_id)
        payload = _next_payload(session, user, deck)
    return jsonify(payload)


@bp.post(f"/cards/<int(max={MAX_ID}):card_id>/answer")
def answer(card_id: int) -> Response:
    """Record a rating for a card shown with `version`; return its state and the next."""
    with _transaction() as (session, user):
        body = _json_object(required=True)
        rating = _int_field(body, "rating", required=True)
        version = _int_field(body, "version", required=True)
        duration = _int_field(body, "duration_ms") or 0
        study_deck_id = _int_field(body, "deck_id", minimum=1)
        assert rating is not None
        assert version is not None
        if rating not in (1, 2, 3, 4):
            raise ApiError(
                422, "'rating' must be 1 (Again), 2 (Hard), 3 (Good) or 4 (Easy)."
            )
        found = session.execute(
            select(Card, Deck)
            .join(Deck, Deck.id == Card.deck_id)
            .where(Card.id == card_id, visible_decks_clause(user.id))
        ).first()
        if found is None:
            raise ApiError(404, f"There is no card {card_id} (or it is not yours to see).")
        card, card_deck = found
        study_deck = card_deck
        if study_deck_id is not None:
            study_deck = _visible_deck(session, user, study_deck_id)
            if card.deck_id not in deck_tree_ids(session, study_deck, user_id=user.id):
                raise ApiError(
                    422, f"Card {card_id} is not in deck {study_deck_id} or its subdecks."
                )
        try:
            result = answer_card(
                session,
                user=user,
                card_id=card_id,
                rating=rating,
                now=now(),
                expected_version=version,
                duration_ms=duration,
            )
        except StaleAnswerError:
            current = session.get(CardProgress, (user.id, card_id))
            raise ApiError(
                409,
                "Not recorded: this card changed since it was shown (answered already, "
                "perhaps twice or elsewhere). Get the next card and answer that.",
                extra={"current_version": current.version if current else 0},
            ) from None
        except NotDueError as error:
            raise ApiError(409, f"Not recorded: {error}") from None
        except StudyError as error:
            raise ApiError(409, f"Not recorded: {error}") from None
        progress = session.get_one(CardProgress, (user.id, card_id))
        state = result.state
        payload = {
            "review_id": result.review_id,
            "card": {
                "id": card_id,
                "version": progress.version,
                "phase": state.phase.value,
                "due": _iso(state.due),
                "interval_days": state.interval_days,
                "ease": state.ease,
                "reps": state.reps,
                "lapses": state.lapses,
                "is_leech": progress.is_leech,
            },
            "next": _next_payload(session, user, study_deck),
        }
    return jsonify(payload)


@bp.post("/undo")
def undo() -> Response:
    """Take back the latest answer (optionally: only if it is `review_id`)."""
    with _transaction() as (session, user):
        body = _json_object(required=False)
        review_id = _int_field(body, "review_id", minimum=1)
        deck_id = _int_field(body, "deck_id", minimum=1)
        deck = _visible_deck(session, user, deck_id) if deck_id is not None else None
        try:
            result = undo_last_answer(
                session, user=user, now=now(), expected_review_id=review_id
            )
        except StudyError as error:
            raise ApiError(409, f"Nothing was undone: {error}") from None
        payload = {
            "undone": {"review_id": result.review_id, "card_id": result.card_id},
            "next": _next_payload(session, user, deck) if deck is not None else None,
        }
    return jsonify(payload)


def _uploaded_file() -> tuple[bytes, str]:
    limit = app_state().settings.max_deck_bytes
    if request.mimetype == "multipart/form-data":
        file = request.files.get("deck_file")
        if file is None:
            raise ApiError(400, "Send the deck file in the multipart field 'deck_file'.")
        data = file.read(limit + 1)
        filename = file.filename or YAML_FILENAME
    else:
        data = request.get_data(cache=False)
        filename = request.args.get("filename") or YAML_FILENAME
    if len(data) > limit:
        raise ApiError(
            413, f"A deck file may be at most {limit:,} bytes; nothing was changed."
        )
    if not data.strip():
        raise ApiError(400, "The deck file is empty: send its YAML as the request body.")
    return data, filename


@bp.post("/decks")
def upload() -> tuple[Response, int]:
    """Upload a YAML deck as the user's own deck; 422 with every problem otherwise."""
    state = app_state()
    # The token first (401 before the body is read), in a short transaction of its own.
    with state.sessions.begin() as session:
        _authenticate(session)
    data, filename = _uploaded_file()
    try:
        with _transaction() as (session, user):
            scope = user_scope(user.id)
            before = set(session.scalars(select(Deck.id).where(Deck.scope == scope)))
            result = upload_deck(
                session,
                user=user,
                data=data,
                filename=filename,
                now=now(),
                max_bytes=state.settings.max_deck_bytes,
            )
            deck = session.get_one(Deck, result.deck_id)
            counts = study_queue(session, user=user, deck=deck, now=now()).counts
            report = result.report
            payload = {
                "deck": _deck_payload(deck, user, result.card_count, counts),
                "created": result.deck_id not in before,
                "cards": result.card_count,
                "report": {
                    "added": report.added,
                    "updated": report.updated,
                    "retired": report.retired,
                    "revived": report.revived,
                    "unchanged": report.unchanged,
                },
                "warnings": list(report.warnings),
            }
    except DeckFileError as error:
        problems = [str(problem) for problem in error.problems]
        more = len(problems) - 1
        raise ApiError(
            422,
            "The deck file was not imported; nothing was changed. "
            + problems[0]
            + (f" (and {more} more, listed in 'problems')" if more else ""),
            extra={"problems": problems},
        ) from None
    except DeckConflictError as error:
        raise ApiError(409, f"The deck was not imported: {error}") from None
    return jsonify(payload), 201 if payload["created"] else 200


@bp.get(f"/decks/<int(max={MAX_ID}):deck_id>/export")
def export(deck_id: int) -> Response:
    """The deck as an .apkg (with subdecks, optionally progress) or as YAML."""
    kind = request.args.get("format", "apkg")
    if kind not in ("apkg", "yaml"):
        raise ApiError(422, f"'format' must be apkg or yaml, not {kind!r:.40}.")
    with_progress = _bool_arg("with_progress")
    if kind == "yaml" and with_progress:
        raise ApiError(
            422,
            "A YAML deck file carries no progress (by design); use format=apkg for "
            "progress, or leave out with_progress.",
        )
    with _transaction() as (session, user):
        deck = _visible_deck(session, user, deck_id)
        slug = deck.slug
        try:
            if kind == "yaml":
                text = export_yaml(session, deck_id=deck.id, user_id=user.id)
                data = text.encode("utf-8")
            else:
                data = build_package(
                    session,
                    deck_ids=deck_tree_ids(session, deck, user_id=user.id),
                    user_id=user.id,
                    with_progress=with_progress,
                    now=now(),
                )
        except UnknownDeckError as error:
            raise ApiError(404, f"Nothing was exported: {error}.") from None
        except EmptySelectionError as error:
            raise ApiError(409, f"Nothing was exported: {error}.") from None
        except ExportError as error:
            raise ApiError(409, f"Nothing was exported: {error}.") from None
    mimetype = "application/yaml" if kind == "yaml" else "application/octet-stream"
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{slug}.{kind}"'
    return response


# --- errors --------------------------------------------------------------------------------


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Response:
    headers = dict(error.headers)
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="flashcards"')
    return error_response(error.status, error.message, extra=error.extra, headers=headers)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    return http_error_response(error)


@bp.errorhandler(IntegrityError)
def _conflict(error: IntegrityError) -> Response:
    # Two requests of the same user changed the same rows at once (a double send
    # of one new card's answer, say); the transaction was rolled back.
    return error_response(
        409,
        "Another request changed the same data at the same moment; nothing was "
        "changed by this one. Fetch the current state and try again.",
    )


@bp.errorhandler(DataError)
def _does_not_fit(error: DataError) -> Response:
    # The database refused a value the checks before it let through (PostgreSQL
    # enforces column lengths, SQLite does not): the request's fault, not ours.
    return error_response(
        422,
        "A value does not fit the database (too long or out of range; a deck name "
        "may be at most 300 characters); nothing was changed.",
    )


@bp.errorhandler(OperationalError)
def _unavailable(error: OperationalError) -> Response:
    return error_response(
        503,
        "The database is busy or unavailable; nothing was changed. Try again shortly.",
        headers={"Retry-After": "1"},
    )


def _json_for_api(
    previous: Callable[[Any], Any] | None,
) -> Callable[[HTTPException], Any]:
    def handler(error: HTTPException) -> Any:
        if is_api_request():
            return http_error_response(error)
        if previous is not None:
            return previous(error)
        return error

    return handler


def init_app(app: Flask) -> None:
    """Answer errors under /api/ in JSON, including those no API view raised (an
    unknown path, a method not allowed, a body over the size limit).

    Call it after every other module registered its app-wide error handlers: the
    handlers found then are kept for the HTML pages.
    """
    app_handlers = app.error_handler_spec[None]
    for code in _WRAPPED_CODES:
        exception_class = default_exceptions[code]
        previous = app_handlers.get(code, {}).get(exception_class)
        app.register_error_handler(code, _json_for_api(previous))

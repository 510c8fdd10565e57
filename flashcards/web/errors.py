"""Error pages and JSON errors: every refusal says what went wrong and what to do.

Pages that JavaScript drives (study) ask for JSON with `Accept: application/json`;
they get {"error": message} with the same status code a form post would.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError  # type: ignore[import-untyped]
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from flashcards.web.app import app_state


def wants_json() -> bool:
    """True when the caller (our study script) asked for JSON."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > 0


def error_response(status: int, title: str, message: str) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify(error=message, title=title), status
    return render_template(
        "errors/error.html", status=status, title=title, message=message
    ), status


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError) -> tuple[Response | str, int]:
        return error_response(
            400,
            "The form could not be accepted",
            "Its security token was missing or no longer valid, so nothing was "
            "changed. Reload the page and try again.",
        )

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(error: RequestEntityTooLarge) -> tuple[Response | str, int]:
        limit = app_state().settings.max_deck_bytes
        return error_response(
            413,
            "That is too large",
            f"Uploads and forms may be at most {_mb(limit)}; nothing was changed.",
        )

    @app.errorhandler(404)
    def _not_found(error: HTTPException) -> tuple[Response | str, int]:
        return error_response(
            404,
            "Not found",
            error.description
            if error.description and not error.description.startswith("The requested")
            else "There is nothing at this address. Start again from the deck list.",
        )

    @app.errorhandler(405)
    def _method(error: HTTPException) -> tuple[Response | str, int]:
        return error_response(
            405, "Not allowed", "This address does not accept that kind of request."
        )

    @app.errorhandler(400)
    def _bad_request(error: HTTPException) -> tuple[Response | str, int]:
        return error_response(
            400, "Bad request", error.description or "The request was not understood."
        )

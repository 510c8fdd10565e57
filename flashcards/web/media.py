"""Media blueprint: images referenced by a deck's Markdown, from that deck's folder.

Only files inside the folder of the deck's file are served (no `..`, no absolute
paths, no symlinks out of it), only image types, and with a policy that stops an
SVG from running scripts even when opened on its own.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_file
from werkzeug.wrappers import Response

from flashcards.web.app import app_state
from flashcards.web.auth import current_user
from flashcards.web.decks import visible_deck

bp = Blueprint("media", __name__)

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".svg": "image/svg+xml",
}
_NOT_FOUND = "There is no such image in this deck's folder."


def image_path(folder: Path, name: str) -> Path | None:
    """The file `name` inside `folder`, or None if it would lie outside it."""
    if not name or "\x00" in name or name.startswith(("/", "\\")):
        return None
    parts = Path(name.replace("\\", "/")).parts
    if any(part in ("..", "") for part in parts):
        return None
    base = folder.resolve()
    try:
        candidate = (base / name).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    return candidate


@bp.get("/media/<int:deck_id>/<path:name>")
def image(deck_id: int, name: str) -> Response:
    """An image from the folder of deck `deck_id`'s file."""
    with app_state().sessions.begin() as session:
        user = current_user(session)
        deck = visible_deck(session, user, deck_id)
        source_path = deck.source_path
    if not source_path:
        abort(404, description=_NOT_FOUND)
    mimetype = IMAGE_TYPES.get(Path(name).suffix.lower())
    path = image_path(Path(source_path).parent, name)
    if mimetype is None or path is None:
        abort(404, description=_NOT_FOUND)
    response = send_file(path, mimetype=mimetype, max_age=3600, conditional=True)
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox"
    )
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response

"""Card HTML for the pages: rendered once per note content, with image URLs.

Rendering Markdown and math costs a millisecond or two per card; the study loop
shows the same notes again and again, so results are cached by the entry's content
and slot. Images are served by web.media from the deck file's folder only;
uploaded decks have no folder, so their images show as their alt text.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from urllib.parse import quote

from flask import url_for

from flashcards.db.models import Deck, Note
from flashcards.services.browse import (
    CardSpec,
    RenderedCard,
    note_card_spec,
    render_entry,
    render_text,
)

_CACHE_SIZE = 4096


def _image_prefix(deck: Deck) -> str | None:
    if not deck.source_path:
        return None
    return url_for("media.image", deck_id=deck.id, name="x")[:-1]


def _image_url(prefix: str | None) -> Callable[[str], str | None]:
    if prefix is None:
        return lambda path: None
    return lambda path: prefix + quote(path)


@lru_cache(maxsize=_CACHE_SIZE)
def _cached_card(entry: CardSpec, slot: str, prefix: str | None) -> RenderedCard:
    return render_entry(entry, slot, image_url=_image_url(prefix))


def card_html(note: Note, slot: str, deck: Deck) -> RenderedCard:
    """The question, answer and extra HTML of one card (cached by content)."""
    return _cached_card(note_card_spec(note), slot, _image_prefix(deck))


def entry_html(entry: CardSpec, slot: str, deck: Deck) -> RenderedCard:
    """The same for an entry read from a source (the edit page's preview)."""
    return _cached_card(entry, slot, _image_prefix(deck))


def text_html(text: str | None, deck: Deck) -> str:
    """A deck's Markdown text (its description) as HTML."""
    if not text:
        return ""
    return render_text(text, image_url=_image_url(_image_prefix(deck)))

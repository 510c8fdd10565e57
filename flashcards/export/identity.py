"""Anki identities derived from our stable ids: note GUIDs, deck ids, media names.

Place in the data flow: `export.apkg` asks this module what to call each deck,
note and image in the package. Anki matches notes by GUID only and media by
name + content (anki-apkg.md §1.2, §1.5), so these must depend on nothing but
our stable ids: never on content, position, export time or the database's row
ids. A namespace of ours keeps them apart from other generators' GUIDs
(genanki#61). Changing anything here breaks updates for every user: frozen.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from typing import Final

from genanki.util import BASE91_TABLE

NAMESPACE: Final = "flashcards.selfhosted/v1"

# genanki's recommended range for generated model and deck ids.
_ID_LOW: Final = 1 << 30
_ID_SPAN: Final = 1 << 30

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def note_guid(deck_slug: str, note_key: str) -> str:
    """The note's Anki GUID: a hash of (namespace, deck id, card id).

    Exactly `genanki.guid_for(NAMESPACE, deck_slug, note_key)` (a test checks it):
    the first 8 bytes of the SHA-256 of the values joined by "__", as a number
    written in Anki's base 91. Computed here because every export makes one per
    note, and this takes half of genanki's time.
    """
    digest = hashlib.sha256(f"{NAMESPACE}__{deck_slug}__{note_key}".encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    digits: list[str] = []
    while number:
        number, digit = divmod(number, 91)
        digits.append(BASE91_TABLE[digit])
    return "".join(reversed(digits))


def deck_id(deck_slug: str) -> int:
    """The Anki deck id of one of our decks (links cards inside the package only)."""
    return _hashed_id("deck", deck_slug)


def parent_deck_id(name: str) -> int:
    """The Anki deck id of a parent deck ("A" of "A::B") that is no deck of ours."""
    return _hashed_id("parent", name)


def media_name(deck_slug: str, relative_path: str) -> str:
    """A stable, collision-free media name for an image of a deck file.

    Readable (`<deck>-<file stem>-<hash>.<ext>`), never starting with `_` (Anki
    treats those as template files that are never updated), and unique per
    (deck, normalised path) thanks to the hash.
    """
    normalised = posixpath.normpath(relative_path.replace("\\", "/"))
    digest = hashlib.sha1(
        f"{NAMESPACE}\x1f{deck_slug}\x1f{normalised}".encode(), usedforsecurity=False
    ).hexdigest()[:10]
    base = posixpath.basename(normalised)
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = _UNSAFE_NAME.sub("_", stem).strip("._-")[:40] or "image"
    slug = _UNSAFE_NAME.sub("_", deck_slug).strip("._-")[:40] or "deck"
    ext = _UNSAFE_NAME.sub("", ext)[:10].lower()
    name = f"{slug}-{stem}-{digest}"
    return f"{name}.{ext}" if ext else name


def _hashed_id(kind: str, value: str) -> int:
    digest = hashlib.sha256(f"{NAMESPACE}\x1f{kind}\x1f{value}".encode()).digest()
    return _ID_LOW + int.from_bytes(digest[:8], "big") % _ID_SPAN

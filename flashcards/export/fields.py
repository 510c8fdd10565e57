"""A card entry's Markdown as Anki note fields (HTML), tags, and the media it needs.

Place in the data flow: `export.apkg` hands every `NoteRow` to `FieldRenderer`,
which takes the fields the database keeps rendered for the note (the importer
stores them, `deckfile.render_anki`) while their key matches the note's text, and
otherwise renders them itself with `deckfile.render` (Markdown to HTML, plain text
escaped, math as `\\(…\\)`/`\\[…\\]` for Anki's MathJax, cloze markers kept) and
lists them in `rendered`, for `export.service` to store. Then it maps each image
to its stable media name (`identity.media_name`) and remembers which files the
package must carry. Images are read relative to the deck file's folder; the
renderer already refuses absolute paths and `..`, so nothing outside that folder
is ever packed (symlinks leading out of it included). A missing image is a
warning, not a failure: the field keeps the reference and the export goes on.

Anki updates a note only when its mtime grows, and copies media only for notes
it adds or updates (anki-apkg.md §1.2, §1.5). So a note showing an image reports
the image file's mtime too: a replaced image makes its notes newer, and Anki
takes the new file (under `name-<sha1>` when the old one is still there).
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from flashcards.deckfile.render import to_anki_html
from flashcards.deckfile.render_anki import (
    AnkiFields,
    entry_key,
    name_images,
    render_entry,
    stored_fields,
)
from flashcards.export.identity import media_name
from flashcards.export.notetypes import REVERSE_ON, NoteType, note_type_for
from flashcards.export.rows import DeckRow, NoteRow

_WHITESPACE = re.compile(r"\s+")


def anki_tags(*groups: Iterable[str]) -> list[str]:
    """Tags for Anki: whitespace runs become `_`, empty ones go, repeats go.

    Anki splits tags on spaces and treats tags that differ only in case as one
    (anki-apkg.md §1.3), so the first spelling of a tag wins.
    """
    tags: list[str] = []
    seen: set[str] = set()
    for group in groups:
        for tag in group:
            cleaned = _WHITESPACE.sub("_", tag.strip())
            if cleaned and cleaned.casefold() not in seen:
                seen.add(cleaned.casefold())
                tags.append(cleaned)
    return tags


class RenderedNote(NamedTuple):
    """A note's type and field values; `images_changed_at` is the newest mtime
    (epoch seconds) of the image files it shows, None without images. (One per
    note exported: a NamedTuple is quicker to build than a dataclass.)"""

    note_type: NoteType
    fields: list[str]
    images_changed_at: float | None


@dataclass(frozen=True, slots=True)
class FreshFields:
    """Fields an export had to render for a note row, with the key they belong to."""

    note_id: int
    key: str
    fields: AnkiFields


class FieldRenderer:
    """Renders notes of known decks; collects their media files and warnings."""

    def __init__(self, decks: Iterable[DeckRow]) -> None:
        self._decks = {deck.slug: deck for deck in decks}
        self._image_names: dict[str, Callable[[str], str]] = {}
        # media name -> file on disk, in first-use order
        self.media: dict[str, Path] = {}
        self.warnings: list[str] = []
        self._warned: set[tuple[str, str]] = set()
        self._changed_at: dict[str, float] = {}  # media name -> file mtime
        self._note_images_changed_at: float | None = None
        # Notes whose stored fields were missing or stale, rendered here.
        self.rendered: list[FreshFields] = []

    def fields(self, note: NoteRow) -> RenderedNote:
        """The note type and its field values (HTML), in the note type's order."""
        note_type = note_type_for(note.kind)
        key = entry_key(note.kind, note.front, note.back, note.cloze, note.extra)
        values = None
        images: Sequence[str] = note.anki_images
        if note.anki_key == key and note.anki_fields is not None:
            values = stored_fields(note.kind, note.anki_fields)
        if values is None:
            entry = render_entry(
                note.kind, note.front, note.back, note.cloze, note.extra
            )
            values, images = list(entry.fields), entry.images
            if note.note_id is not None:
                self.rendered.append(FreshFields(note.note_id, key, entry))
        self._note_images_changed_at = None
        if images:
            # Registering reads each file's mtime (once per export), so a replaced
            # image makes its notes newer however old their stored fields are.
            name = self._image_namer(note.deck_slug)
            names = [name(path) for path in images]
            values = [name_images(value, names) for value in values]
        if not note_type.cloze:
            values.append(REVERSE_ON if note.reverse else "")
        return RenderedNote(note_type, values, self._note_images_changed_at)

    def deck_description(self, deck: DeckRow) -> str:
        return _render(deck.description, None)

    def _image_namer(self, slug: str) -> Callable[[str], str]:
        namer = self._image_names.get(slug)
        if namer is None:
            deck = self._decks[slug]

            def namer(path: str, deck: DeckRow = deck) -> str:
                return self._register(deck, path)

            self._image_names[slug] = namer
        return namer

    def _register(self, deck: DeckRow, path: str) -> str:
        name = media_name(deck.slug, path)
        if name not in self.media and (deck.slug, path) not in self._warned:
            self._add_file(deck, path, name)
        changed_at = self._changed_at.get(name)
        if changed_at is not None and (
            self._note_images_changed_at is None
            or changed_at > self._note_images_changed_at
        ):
            self._note_images_changed_at = changed_at
        return name

    def _add_file(self, deck: DeckRow, path: str, name: str) -> None:
        if deck.base_dir is None:
            self._warn(deck, path, "the deck has no folder to read images from")
            return
        folder = deck.base_dir.resolve()
        file = (folder / path).resolve()
        if not file.is_relative_to(folder):
            # A symlink out of the deck's folder: never pack files from elsewhere.
            self._warn(deck, path, "it lies outside the deck's folder")
            return
        try:
            info = file.stat()
        except OSError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            self._warn(deck, path, f"no such file: {folder / path}")
            return
        self.media[name] = file
        self._changed_at[name] = info.st_mtime

    def _warn(self, deck: DeckRow, path: str, why: str) -> None:
        self._warned.add((deck.slug, path))
        self.warnings.append(f"deck '{deck.slug}': image '{path}' not packed: {why}")


def _render(text: str | None, image_name: Callable[[str], str] | None) -> str:
    if not text or not text.strip():
        return ""
    return to_anki_html(text, image_name=image_name)

"""A card entry's Anki fields, rendered once when the entry changes and kept with it.

Place in the data flow: the importer (`services.importing`) calls `render_entry` for
every entry it adds or whose content changed, and stores the result in the entry's
row together with `entry_key`. The .apkg export (`export.fields`) uses the stored
fields while the stored key equals `entry_key` of the entry's current content, and
renders (and stores) them afresh when it does not: rows from before the fields were
stored, rows written by other means, or a renderer whose output changed (then
`RENDER_VERSION` goes up, which changes every key). Rendering Markdown and math is
most of what an export costs, and its result depends on nothing but the entry's text.

Images: a field names each image by its media name in the package, and that name
depends on the deck (`export.identity.media_name`, owned by the export). So the
stored HTML has the placeholder `image-N` as the `src` of the entry's N-th image,
`images` lists the images' paths (relative to the deck file), and the export puts
the media names in with `name_images`. The renderer writes `<img src="…">` for local
images only, each through the image-name function, so every such `src` here is a
placeholder; and the placeholders are plain ASCII, so sanitising and cloze-marker
handling leave them exactly as written.

Pure: no database, no files.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Final

from flashcards.deckfile.render import to_anki_cloze, to_anki_html

# Raise by one whenever the HTML that to_anki_html/to_anki_cloze or this module
# write changes (same text, different output): every stored key then stops
# matching, and each entry is rendered again on its next import or export.
RENDER_VERSION: Final = 1


def _library_versions() -> str:
    """The versions of the libraries the HTML comes from: upgrading one (a
    Markdown parser's edge cases change between releases) makes every stored key
    stop matching too, without anyone having to remember RENDER_VERSION."""
    versions = []
    for package in ("markdown-it-py", "mdit-py-plugins", "nh3", "latex2mathml"):
        try:
            versions.append(f"{package}={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package}=?")
    return ";".join(versions)


_LIBRARIES: Final = _library_versions()

# Anki's own field separator; rendered HTML never needs it (see `stored_fields`).
_SEPARATOR: Final = "\x1f"
_PLACEHOLDER_SRC = re.compile(r'<img src="image-(\d+)"')


@dataclass(frozen=True, slots=True)
class AnkiFields:
    """An entry's fields as Anki HTML, with placeholders for its images.

    `fields`: basic entries (front, back, extra), cloze entries (text, extra); the
    export adds what is not text (a basic note type's Reverse field).
    `images`: the paths of the images `image-0`, `image-1`, … stand for.
    """

    fields: tuple[str, ...]
    images: tuple[str, ...] = ()

    def stored(self) -> str:
        """The fields as one text for the database (see `stored_fields`)."""
        return _SEPARATOR.join(self.fields)


def entry_key(
    kind: str,
    front: str | None,
    back: str | None,
    cloze: str | None,
    extra: str | None,
) -> str:
    """The key of an entry's fields: a hash of its text, `RENDER_VERSION` and the
    renderer libraries' versions.

    Each part is written with its length first, so no two different entries
    can be encoded the same way. (Every export computes it for every note, so
    it is kept to one string and one hash.)
    """
    encoded = (
        f"{_part(f'{RENDER_VERSION};{_LIBRARIES}')}{_part(kind)}"
        f"{_part(front)}{_part(back)}{_part(cloze)}{_part(extra)}"
    )
    return hashlib.blake2b(encoded.encode(), digest_size=16).hexdigest()


def _part(text: str | None) -> str:
    return "-" if text is None else f"{len(text)}:{text}"


def render_entry(
    kind: str,
    front: str | None,
    back: str | None,
    cloze: str | None,
    extra: str | None,
) -> AnkiFields:
    """Render an entry's text fields for Anki (see `AnkiFields`).

    A missing or blank field becomes "". The images are numbered in the order
    the fields are rendered: extra first, then the others.
    """
    images: list[str] = []

    def placeholder(path: str) -> str:
        if path not in images:
            images.append(path)
        return f"image-{images.index(path)}"

    extra_html = _html(extra, placeholder)
    if kind == "cloze":
        text = to_anki_cloze(cloze, image_name=placeholder) if cloze else ""
        fields: tuple[str, ...] = (text, extra_html)
    else:
        fields = (_html(front, placeholder), _html(back, placeholder), extra_html)
    return AnkiFields(fields, tuple(images))


def stored_fields(kind: str, stored: str) -> list[str] | None:
    """The fields stored by `AnkiFields.stored`, or None if they cannot be read back.

    A field holding the separator itself (only a control character typed into
    the text makes one) splits into too many parts: then None, and the caller
    renders the entry again.
    """
    fields = stored.split(_SEPARATOR)
    return fields if len(fields) == (2 if kind == "cloze" else 3) else None


def name_images(field: str, names: Sequence[str]) -> str:
    """The field with each `image-N` placeholder replaced by `names[N]`."""
    return _PLACEHOLDER_SRC.sub(
        lambda m: f'<img src="{html.escape(names[int(m.group(1))])}"', field
    )


def _html(text: str | None, image_name: Callable[[str], str]) -> str:
    if not text or not text.strip():
        return ""
    return to_anki_html(text, image_name=image_name)

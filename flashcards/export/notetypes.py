"""The Anki note types an export uses, with ids and names frozen forever.

Place in the data flow: `export.apkg` asks `note_type_for(kind)` which note type
a card entry becomes and `card_ord` which card ordinal each of our slots is;
`genanki_model` turns a `NoteType` into the `genanki.Model` whose JSON goes into
the package.

Basic entries, with and without `reverse: true`, share one note type whose second
card ("Card 2", back → front) exists only when the `Reverse` field is filled, as
in Anki's "Basic (optional reversed card)". Two separate note types would break
updates: Anki never moves a note to another note type on import; it logs the
note as "conflicting" and skips it, so turning `reverse` on or off would freeze
that note in Anki forever (checked with the real importer). With one type,
turning it on adds the reverse card on the next import.

Anki matches a note type by id and then by *schema*: the names and order of its
fields and templates (anki-apkg.md §1.2). A changed id or schema makes Anki add
a copy of the note type ("name+") and skip every existing note as conflicting.
So every id, field name and template name below was chosen once and must never
change. CSS and template text may change: bump `STYLE_MOD` (to the time of the
change, never a future time) and Anki applies the new styling on the next
import, because it updates a note type whose `mod` is newer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import genanki

# Frozen: generated once with randrange(1 << 30, 1 << 31); never change them.
BASIC_ID: Final = 1622970970
CLOZE_ID: Final = 1274698669

# The note types' modification time: when the CSS or templates last changed.
# Raise it (to the current time) whenever STYLE or a template changes.
STYLE_MOD: Final = 1795703008  # 2026-11-26

# Frozen field names (the schema: names and order).
FRONT: Final = "Front"
BACK: Final = "Back"
TEXT: Final = "Text"
EXTRA: Final = "Extra"
REVERSE: Final = "Reverse"

STYLE: Final = """\
.card {
  font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 20px;
  line-height: 1.5;
  text-align: left;
  color: #1f2328;
  background-color: #ffffff;
  max-width: 42em;
  margin: 0 auto;
  padding: 0 0.5em;
}
.card img { max-width: 100%; height: auto; }
.card pre, .card code {
  font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace;
  font-size: 0.9em;
  background-color: #f3f4f6;
  border-radius: 4px;
}
.card pre { padding: 0.6em 0.8em; overflow-x: auto; }
.card code { padding: 0.1em 0.3em; }
.card pre code { padding: 0; }
.card table { border-collapse: collapse; }
.card th, .card td { border: 1px solid #d0d7de; padding: 0.2em 0.6em; }
.card blockquote {
  margin: 0 0 0 0.2em;
  padding-left: 0.8em;
  border-left: 3px solid #d0d7de;
}
hr#answer { border: 0; border-top: 1px solid #d0d7de; margin: 1em 0; }
.fc-extra {
  margin-top: 1em;
  padding-top: 0.5em;
  border-top: 1px dashed #d0d7de;
  font-size: 0.85em;
  color: #57606a;
}
.cloze { font-weight: bold; color: #0550ae; }
.nightMode .card, .night_mode .card, .card.nightMode, .card.night_mode {
  color: #e6edf3;
  background-color: #1e1e1e;
}
.nightMode .card pre, .nightMode .card code,
.night_mode .card pre, .night_mode .card code,
.card.nightMode pre, .card.nightMode code { background-color: #2d333b; }
.nightMode hr#answer, .night_mode hr#answer,
.nightMode .card th, .nightMode .card td,
.nightMode .fc-extra, .night_mode .fc-extra { border-color: #444c56; }
.nightMode .fc-extra, .night_mode .fc-extra,
.card.nightMode .fc-extra { color: #9198a1; }
.nightMode .cloze, .night_mode .cloze, .card.nightMode .cloze { color: #79c0ff; }
"""

_EXTRA_BLOCK = '{{#Extra}}\n<div class="fc-extra">{{Extra}}</div>\n{{/Extra}}'


@dataclass(frozen=True)
class NoteType:
    """One note type: frozen id, name, field names and (template name, q, a)."""

    id: int
    name: str
    fields: tuple[str, ...]
    templates: tuple[tuple[str, str, str], ...]
    cloze: bool = False


BASIC: Final = NoteType(
    id=BASIC_ID,
    name="Flashcards Basic",
    fields=(FRONT, BACK, EXTRA, REVERSE),
    templates=(
        (
            "Card 1",
            "{{Front}}",
            '{{FrontSide}}\n<hr id="answer">\n{{Back}}\n' + _EXTRA_BLOCK,
        ),
        (
            "Card 2",
            "{{#Reverse}}{{Back}}{{/Reverse}}",
            '{{FrontSide}}\n<hr id="answer">\n{{Front}}\n' + _EXTRA_BLOCK,
        ),
    ),
)

CLOZE: Final = NoteType(
    id=CLOZE_ID,
    name="Flashcards Cloze",
    fields=(TEXT, EXTRA),
    templates=(
        (
            "Cloze",
            "{{cloze:Text}}",
            "{{cloze:Text}}\n" + _EXTRA_BLOCK,
        ),
    ),
    cloze=True,
)

ALL_NOTE_TYPES: Final = (BASIC, CLOZE)
# The value of the Reverse field that asks for the reverse card.
REVERSE_ON: Final = "y"


def note_type_for(kind: str) -> NoteType:
    """The note type of a card entry: cloze, or basic (with or without reverse)."""
    return CLOZE if kind == "cloze" else BASIC


def card_ord(slot: str) -> int:
    """Anki's card ordinal for one of our slots: front 0, reverse 1, cN N-1.

    Raises ValueError for a slot that is none of these.
    """
    if slot == "front":
        return 0
    if slot == "reverse":
        return 1
    if slot.startswith("c") and slot[1:].isdigit() and int(slot[1:]) >= 1:
        return int(slot[1:]) - 1
    raise ValueError(f"unknown card slot {slot!r}")


def genanki_model(note_type: NoteType) -> genanki.Model:
    """The genanki model for a note type (fresh each call: genanki mutates dicts)."""
    return genanki.Model(
        model_id=note_type.id,
        name=note_type.name,
        fields=[{"name": name} for name in note_type.fields],
        templates=[
            {"name": name, "qfmt": qfmt, "afmt": afmt}
            for name, qfmt, afmt in note_type.templates
        ],
        css=STYLE,
        model_type=genanki.Model.CLOZE if note_type.cloze else genanki.Model.FRONT_BACK,
        sort_field_index=0,
    )

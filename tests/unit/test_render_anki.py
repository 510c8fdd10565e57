"""deckfile.render_anki: an entry's Anki fields, their key, storage and image names."""

from __future__ import annotations

import pytest

from flashcards.deckfile import render_anki
from flashcards.deckfile.render import to_anki_cloze, to_anki_html
from flashcards.deckfile.render_anki import (
    AnkiFields,
    entry_key,
    name_images,
    render_entry,
    stored_fields,
)

BASIC = (
    "basic",
    "What is a **basis**?",
    "A set: $\\sum_i c_i b_i$",
    None,
    "See ![d](d.png)",
)
CLOZE = ("cloze", None, None, "The {{c1::mean}} of $x$ ![p](img/p.png)", "Extra")


def media(path: str) -> str:
    """A media name as the export makes them: depends on the deck and the path."""
    return "deck-" + path.replace("/", "_")


def test_basic_entry_renders_front_back_extra_as_to_anki_html() -> None:
    fields = render_entry(*BASIC)
    assert fields.images == ("d.png",)
    named = [
        name_images(field, [media(p) for p in fields.images]) for field in fields.fields
    ]
    assert named == [
        to_anki_html(BASIC[1]),
        to_anki_html(BASIC[2]),
        to_anki_html(BASIC[4], image_name=media),
    ]


def test_cloze_entry_renders_text_and_extra_keeping_markers() -> None:
    fields = render_entry(*CLOZE)
    assert fields.images == ("img/p.png",)
    named = [
        name_images(field, [media(p) for p in fields.images]) for field in fields.fields
    ]
    assert named == [to_anki_cloze(CLOZE[3], image_name=media), to_anki_html("Extra")]
    assert "{{c1::mean}}" in named[0]


def test_missing_and_blank_fields_are_empty() -> None:
    assert render_entry("basic", "Q", None, None, "  \n").fields == (
        to_anki_html("Q"),
        "",
        "",
    )
    assert render_entry("cloze", None, None, None, None).fields == ("", "")


@pytest.mark.parametrize(
    "text",
    [
        "![a](x.png) ![b](y.png) ![a again](x.png)",
        '![quo"te & <amp>](dir/sub/x%20y.png "title")',
        "{{c1::![in a cloze](c.png)}} and {{c2::x::![hint](h.png)}}",
        "![a](x.png) ![remote](https://x.org/r.png) ![up](../u.png) ![d](data:x)",
        "`![not an image](n.png)` ![yes](y.png)",
    ],
)
def test_placeholders_give_what_rendering_with_media_names_gives(text: str) -> None:
    """Images are numbered once each, in order; naming them later changes nothing."""
    for kind, direct in (
        ("basic", to_anki_html(text, image_name=media)),
        ("cloze", to_anki_cloze(text, image_name=media)),
    ):
        fields = render_entry(kind, text, None, text, None)
        names = [media(path) for path in fields.images]
        assert name_images(fields.fields[0], names) == direct
        assert len(set(fields.images)) == len(fields.images)


def test_extra_images_are_numbered_first() -> None:
    fields = render_entry("basic", "![f](f.png)", "![b](b.png)", None, "![e](e.png)")
    assert fields.images == ("e.png", "f.png", "b.png")
    assert 'src="image-1"' in fields.fields[0]


def test_stored_fields_round_trip() -> None:
    for entry in (BASIC, CLOZE):
        fields = render_entry(*entry)
        assert stored_fields(entry[0], fields.stored()) == list(fields.fields)
    assert AnkiFields(("a", "b", "c")).stored() == "a\x1fb\x1fc"


def test_a_separator_inside_a_field_cannot_be_read_back() -> None:
    fields = render_entry("basic", "a\x1fb", "back", None, None)
    assert stored_fields("basic", fields.stored()) is None
    assert stored_fields("cloze", "a\x1fb\x1fc") is None


def test_key_changes_with_every_part_of_the_text() -> None:
    key = entry_key(*BASIC)
    assert entry_key(*BASIC) == key and len(key) == 32
    for index in range(5):
        changed = list(BASIC)
        changed[index] = (changed[index] or "") + "x"
        assert entry_key(*changed) != key
    # None and "" are different texts, and parts do not run into each other.
    assert entry_key("basic", "", None, None, None) != entry_key(
        "basic", None, "", None, None
    )
    assert entry_key("basic", "ab", "c", None, None) != entry_key(
        "basic", "a", "bc", None, None
    )


def test_key_changes_with_the_renderer_version(monkeypatch: pytest.MonkeyPatch) -> None:
    key = entry_key(*BASIC)
    monkeypatch.setattr(render_anki, "RENDER_VERSION", render_anki.RENDER_VERSION + 1)
    assert entry_key(*BASIC) != key


def test_key_changes_with_the_markdown_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Upgrading markdown-it-py or nh3 can change the HTML of the same text."""
    key = entry_key(*BASIC)
    assert "markdown-it-py=" in render_anki._LIBRARIES
    monkeypatch.setattr(
        render_anki, "_LIBRARIES", render_anki._LIBRARIES + ";markdown-it-py=99"
    )
    assert entry_key(*BASIC) != key

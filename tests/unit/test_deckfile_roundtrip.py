"""deckfile.roundtrip and deckfile.write: files written back keep what they say.

pin_missing_ids and edit_card change only the lines they are about (comments,
block scalars, flow lists, quoting, `---`/`...`, CRLF and a byte-order mark stay);
dump_deck writes YAML that parses back to the same deck.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flashcards.deckfile.parse import parse_deck
from flashcards.deckfile.roundtrip import CardNotFoundError, edit_card, pin_missing_ids
from flashcards.deckfile.spec import CardSpec, DeckFileError, DeckSpec
from flashcards.deckfile.write import dump_deck

DECKS = Path(__file__).resolve().parents[1] / "data" / "decks"
VALID_FILES = sorted((DECKS / "valid").glob("*.yaml"))

LAYOUT = """\
---
# A deck written by hand.
deck: Layout   # the name
tags: [a,b]    # flow list, no spaces

cards:
  # first card, no id
  - front: "Caf\\u00e9: what is a **basis**?"   # eol comment
    back: |
      A spanning,
        independent set.

  - id: pinned
    front: >
      Folded
      front
    back: x
    tags:
      - t1
      - t2
  - {front: "Flow: entry",   back: 'flow'}   # flow entry
  - front: "Yes"
    back: "1:30"
  - cloze: The {{c1::rank}} of $A$.
    extra: |-
       three-space block

# the end
...
"""

LAYOUT_PINNED = """\
---
# A deck written by hand.
deck: Layout   # the name
tags: [a,b]    # flow list, no spaces

cards:
  # first card, no id
  - id: cafe-what-is-a-basis
    front: "Caf\\u00e9: what is a **basis**?"   # eol comment
    back: |
      A spanning,
        independent set.

  - id: pinned
    front: >
      Folded
      front
    back: x
    tags:
      - t1
      - t2
  - {id: flow-entry, front: "Flow: entry",   back: 'flow'}   # flow entry
  - id: 'yes'
    front: "Yes"
    back: "1:30"
  - id: the-rank-of
    cloze: The {{c1::rank}} of $A$.
    extra: |-
       three-space block

# the end
...
"""


def parse(data: bytes) -> DeckSpec:
    return parse_deck(data, source="layout.yaml", default_id="layout")


def lines_changed(before: bytes, after: bytes) -> list[str]:
    """The lines that differ: "-old" then "+new" for each changed run."""
    a = before.decode().split("\n")
    b = after.decode().split("\n")
    changed = []
    for tag, a1, a2, b1, b2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
        if tag != "equal":
            changed += [f"-{line}" for line in a[a1:a2]]
            changed += [f"+{line}" for line in b[b1:b2]]
    return changed


def without_inserted_ids(text: str, ids: list[str]) -> str:
    """The text with `id: X` + line break + indentation (or `id: X, `) taken out
    of the cards, in order."""
    start = text.index("\ncards:")
    head, cards = text[:start], text[start:]
    for card_id in ids:
        pattern = rf"id: '?{re.escape(card_id)}'?(?:\n *|, )"
        cards, count = re.subn(pattern, "", cards, count=1)
        assert count == 1, card_id
    return head + cards


# --- pin_missing_ids ----------------------------------------------------------


def test_pin_writes_the_derived_ids_and_nothing_else() -> None:
    data = LAYOUT.encode()
    derived = [c.id for c in parse(data).cards if c.id_derived]
    new, written = pin_missing_ids(data, source="layout.yaml")
    assert (
        written
        == derived
        == ["cafe-what-is-a-basis", "flow-entry", "yes", "the-rank-of"]
    )
    assert new.decode() == LAYOUT_PINNED
    before, after = parse(data), parse(new)
    assert [c.id for c in after.cards] == [c.id for c in before.cards]
    assert [c.content() for c in after.cards] == [c.content() for c in before.cards]
    assert not any(c.id_derived for c in after.cards)
    assert after.warnings == ()


def test_pin_keeps_crlf_line_ends_and_the_byte_order_mark() -> None:
    data = b"\xef\xbb\xbf" + LAYOUT.replace("\n", "\r\n").encode()
    new, _ = pin_missing_ids(data, source="layout.yaml")
    assert new == b"\xef\xbb\xbf" + LAYOUT_PINNED.replace("\n", "\r\n").encode()


def test_pin_without_missing_ids_returns_the_data_unchanged() -> None:
    data = LAYOUT_PINNED.encode()
    assert pin_missing_ids(data, source="x") == (data, [])


def test_pin_refuses_a_file_with_problems() -> None:
    with pytest.raises(DeckFileError) as caught:
        pin_missing_ids(b"deck: D\ncards:\n  - front: f\n", source="d.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "d.yaml:3: card 'f': 'back': is required"
    ]


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: p.name)
def test_pin_on_the_corpus_only_inserts_id_lines(path: Path) -> None:
    data = path.read_bytes()
    before = parse(data)
    new, written = pin_missing_ids(data, source=path.name)
    assert written == [c.id for c in before.cards if c.id_derived]
    assert without_inserted_ids(new.decode(), written) == data.decode()
    after = parse(new)
    assert [c.id for c in after.cards] == [c.id for c in before.cards]
    assert [c.content() for c in after.cards] == [c.content() for c in before.cards]
    assert not any(c.id_derived for c in after.cards)


def test_pin_quotes_ids_that_yaml_would_read_as_something_else() -> None:
    data = b"deck: D\ncards:\n  - front: 2024-01-01?\n    back: a date\n"
    new, written = pin_missing_ids(data, source="x")
    assert written == ["2024-01-01"]
    assert (
        new
        == b"deck: D\ncards:\n  - id: '2024-01-01'\n    front: 2024-01-01?\n    back: a date\n"
    )


def test_pin_handles_flow_sequences_and_indentless_lists() -> None:
    data = (
        b"deck: D\n"
        b"cards: [{front: a, back: b}, {front: c, back: d}]\n"
        b"# trailing comment\n"
    )
    new, _ = pin_missing_ids(data, source="x")
    assert new == (
        b"deck: D\n"
        b"cards: [{id: a, front: a, back: b}, {id: c, front: c, back: d}]\n"
        b"# trailing comment\n"
    )
    data = b"deck: D\ncards:\n- front: a\n  back: b\n"
    new, _ = pin_missing_ids(data, source="x")
    assert new == b"deck: D\ncards:\n- id: a\n  front: a\n  back: b\n"


def test_pin_falls_back_to_ruamel_where_text_insertion_fails() -> None:
    # A tag before the flow mapping puts ruamel's column on the tag.
    data = b"deck: D\ncards:\n  - !!map {front: a, back: b}\n  - {id: x, front: c, back: d}\n"
    new, written = pin_missing_ids(data, source="x")
    assert written == ["a"]
    spec = parse(new)
    assert [(c.id, c.id_derived) for c in spec.cards] == [("a", False), ("x", False)]
    assert new.endswith(b"  - {id: x, front: c, back: d}\n")


# --- edit_card ----------------------------------------------------------------


def test_edit_replaces_a_block_and_adds_tags_before_the_blank_line() -> None:
    data = LAYOUT_PINNED.encode()
    new = edit_card(
        data,
        "cafe-what-is-a-basis",
        {"back": "New back", "tags": ["x", "on"]},
        source="layout.yaml",
    )
    assert lines_changed(data, new) == [
        "-    back: |",
        "-      A spanning,",
        "-        independent set.",
        "+    back: New back",
        '+    tags: [x, "on"]',
    ]
    card = parse(new).cards[0]
    assert (card.back, card.tags) == ("New back", ("x", "on"))


def test_edit_writes_multiline_text_as_a_literal_block_and_removes_keys() -> None:
    data = LAYOUT_PINNED.encode()
    new = edit_card(
        data,
        "pinned",
        {"front": "Plain front", "tags": None, "extra": "two\nlines"},
        source="layout.yaml",
    )
    assert lines_changed(data, new) == [
        "-    front: >",
        "-      Folded",
        "-      front",
        "+    front: Plain front",
        "-    tags:",
        "-      - t1",
        "-      - t2",
        "+    extra: |",
        "+      two",
        "+      lines",
    ]
    card = parse(new).cards[1]
    assert (card.front, card.extra, card.tags) == ("Plain front", "two\nlines", ())
    assert b"    extra: |\n      two\n      lines\n  - {id: flow-entry" in new


def test_removing_the_last_key_keeps_what_follows_it() -> None:
    data = LAYOUT_PINNED.encode()
    new = edit_card(data, "the-rank-of", {"extra": None}, source="layout.yaml")
    assert lines_changed(data, new) == ["-    extra: |-", "-       three-space block"]
    assert new.endswith(b"    cloze: The {{c1::rank}} of $A$.\n\n# the end\n...\n")


def test_edit_of_a_card_without_id_pins_its_id_first() -> None:
    data = LAYOUT.encode()
    new = edit_card(data, "cafe-what-is-a-basis", {"front": "Changed"}, source="x")
    # The comment keeps its column.
    assert lines_changed(data, new) == [
        '-  - front: "Caf\\u00e9: what is a **basis**?"   # eol comment',
        "+  - id: cafe-what-is-a-basis",
        "+    front: Changed                             # eol comment",
    ]
    ids = [(c.id, c.id_derived) for c in parse(new).cards]
    assert ids == [
        ("cafe-what-is-a-basis", False),
        ("pinned", False),
        ("flow-entry", True),
        ("yes", True),
        ("the-rank-of", True),
    ]


def test_edit_pins_an_id_that_only_ruamel_can_insert() -> None:
    data = b"deck: D\ncards:\n  - !!map {front: a, back: b}\n"
    new = edit_card(data, "a", {"back": "c"}, source="x")
    card = parse(new).cards[0]
    assert (card.id, card.id_derived, card.back) == ("a", False, "c")


def test_edit_quotes_text_that_yaml_would_read_as_something_else() -> None:
    data = LAYOUT_PINNED.encode()
    new = edit_card(data, "yes", {"back": "1:45", "extra": "no"}, source="x")
    assert lines_changed(data, new) == [
        '-    back: "1:30"',
        '+    back: "1:45"',
        '+    extra: "no"',
    ]
    card = parse(new).cards[3]
    assert (card.back, card.extra) == ("1:45", "no")


def test_edit_inside_a_flow_mapping_stays_flow() -> None:
    data = LAYOUT_PINNED.encode()
    new = edit_card(
        data, "flow-entry", {"back": "two\nlines", "reverse": True}, source="x"
    )
    card = parse(new).cards[2]
    assert (card.back, card.reverse) == ("two\nlines", True)
    assert len(lines_changed(data, new)) == 2


def test_edit_keeps_end_of_line_comments_and_block_headers() -> None:
    data = (
        b"deck: D\ncards:\n  - id: a\n    front: short   # on front\n"
        b"    back: |   # on back\n      block\n    extra: x   # on extra\n\n"
        b"  - id: b\n    front: f\n    back: g\n"
    )
    new = edit_card(data, "a", {"front": "multi\nline", "back": "plain"}, source="x")
    assert new == (
        b"deck: D\ncards:\n  - id: a\n    front: |  # on front\n      multi\n"
        b"      line\n    back: plain # on back\n    extra: x   # on extra\n\n"
        b"  - id: b\n    front: f\n    back: g\n"
    )
    new = edit_card(data, "a", {"extra": None}, source="x")
    assert lines_changed(data, new) == ["-    extra: x   # on extra"]


def test_edit_keeps_crlf_and_the_byte_order_mark() -> None:
    data = b"\xef\xbb\xbf" + LAYOUT_PINNED.replace("\n", "\r\n").encode()
    new = edit_card(data, "pinned", {"back": "y"}, source="x")
    assert (
        new
        == b"\xef\xbb\xbf"
        + LAYOUT_PINNED.replace("    back: x\n", "    back: y\n")
        .replace("\n", "\r\n")
        .encode()
    )


def test_edit_can_turn_a_basic_card_into_a_cloze_card() -> None:
    data = b"deck: D\ncards:\n  - id: a\n    front: f\n    back: b\n    tags: [t]\n"
    new = edit_card(
        data, "a", {"front": None, "back": None, "cloze": "A {{c1::gap}}"}, source="x"
    )
    assert (
        new == b"deck: D\ncards:\n  - id: a\n    cloze: A {{c1::gap}}\n    tags: [t]\n"
    )


def test_edit_result_is_not_validated_here() -> None:
    data = LAYOUT_PINNED.encode()
    new = edit_card(data, "pinned", {"back": ""}, source="x")
    with pytest.raises(DeckFileError, match="'back': must not be empty"):
        parse(new)


def test_edit_of_an_unknown_card_raises_a_key_error() -> None:
    with pytest.raises(KeyError) as caught:
        edit_card(LAYOUT_PINNED.encode(), "nope", {"back": "x"}, source="d.yaml")
    assert isinstance(caught.value, CardNotFoundError)
    assert str(caught.value) == "d.yaml: no card with id 'nope'"


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"id": "new-id"}, ValueError, "cannot edit 'id'"),
        ({"colour": "red"}, ValueError, "cannot edit 'colour'"),
        ({"front": 3}, TypeError, "'front' must be a str, not int"),
        ({"reverse": "yes"}, TypeError, "'reverse' must be a bool, not str"),
        ({"tags": "a b"}, TypeError, "'tags' must be a list of str, not str"),
        ({"tags": ["a", 1]}, TypeError, "'tags' must be a list of str"),
    ],
)
def test_edit_refuses_bad_changes(
    changes: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        edit_card(LAYOUT_PINNED.encode(), "pinned", changes, source="x")


def test_edit_refuses_a_file_with_problems() -> None:
    with pytest.raises(DeckFileError):
        edit_card(b"deck: D\ncards: [1]\n", "a", {"back": "x"}, source="x")


# --- dump_deck ----------------------------------------------------------------


def same_content(a: DeckSpec, b: DeckSpec) -> bool:
    def key(spec: DeckSpec) -> object:
        cards = [(c.id, c.content()) for c in spec.cards]
        return (spec.id, spec.name, spec.description, spec.tags, cards)

    return key(a) == key(b)


def test_dump_deck_is_readable() -> None:
    spec = DeckSpec(
        id="linear-algebra",
        name="Linear algebra",
        description="Core definitions.",
        tags=("math",),
        cards=(
            CardSpec(
                id="basis",
                kind="basic",
                front="What is a **basis**?",
                back="A set that spans:\n$\\sum_i c_i b_i$.",
                reverse=True,
                extra="Remarks.",
                tags=("definition", "core"),
            ),
            CardSpec(id="clt", kind="cloze", cloze="The {{c1::CLT}}: means."),
        ),
    )
    assert dump_deck(spec) == (
        "deck: Linear algebra\n"
        "id: linear-algebra\n"
        "description: Core definitions.\n"
        "tags: [math]\n"
        "cards:\n"
        "  - id: basis\n"
        "    front: What is a **basis**?\n"
        "    back: |\n"
        "      A set that spans:\n"
        "      $\\sum_i c_i b_i$.\n"
        "    extra: Remarks.\n"
        "    reverse: true\n"
        "    tags: [definition, core]\n"
        "  - id: clt\n"
        "    cloze: 'The {{c1::CLT}}: means.'\n"
    )


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: p.name)
def test_dump_deck_round_trips_the_corpus(path: Path) -> None:
    spec = parse(path.read_bytes())
    again = parse(dump_deck(spec).encode())
    assert same_content(spec, again)
    assert not any(c.id_derived for c in again.cards)


TRICKY_TEXT = [
    "plain",
    "ünïcödé — 日本語 🐙",
    r"$\frac{a}{b}$ and \(x\) and $$\sum_i$$",
    "line one\n\\alpha \\\\ backslashes\n",
    "key: value, and # not a comment",
    "# starts like a comment",
    "  leading spaces",
    "  leading spaces\non two lines",
    "'single' and \"double\" quotes",
    "yes",
    "1:30",
    "2024-01-01",
    "null",
    "~",
    "- looks like a list",
    "{not: a mapping}",
    "[not, a, list]",
    "trailing spaces  \ninside a block",
    "tab\tinside",
    "line\n\n\nwith blank lines",
    "\n\nleading blank lines",
    "@ and ` and % and & and * and ! and |",
    "carriage\rreturn",
    "paragraph\u2028separator",
    "> quoted markdown\n> second line",
    "    four-space code\n    block",
]


@pytest.mark.parametrize("text", TRICKY_TEXT)
def test_dump_deck_round_trips_tricky_text(text: str) -> None:
    normalised = text.rstrip()
    spec = DeckSpec(
        id="d",
        name=normalised,
        description=normalised,
        cards=(
            CardSpec(
                id="a",
                kind="basic",
                front=normalised,
                back=normalised,
                extra=normalised,
            ),
            CardSpec(id="b", kind="cloze", cloze=f"{normalised} {{{{c1::gap}}}}"),
        ),
    )
    assert same_content(spec, parse(dump_deck(spec).encode()))


_text = (
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40)
    .map(str.rstrip)
    .filter(bool)
)
_id = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}", fullmatch=True)
_tag = st.from_regex(r"[^\s\x00-\x1f\x7f-\x9f\ud800-\udfff]{1,12}", fullmatch=True)


@st.composite
def _card(draw: st.DrawFn) -> CardSpec:
    tags = tuple(dict.fromkeys(draw(st.lists(_tag, max_size=3))))
    extra = draw(st.none() | _text)
    if draw(st.booleans()):
        cloze = draw(_text) + f" {{{{c{draw(st.integers(1, 9))}::{draw(_text)}}}}}"
        return CardSpec(id="", kind="cloze", cloze=cloze, extra=extra, tags=tags)
    return CardSpec(
        id="",
        kind="basic",
        front=draw(_text),
        back=draw(_text),
        reverse=draw(st.booleans()),
        extra=extra,
        tags=tags,
    )


@st.composite
def _deck(draw: st.DrawFn) -> DeckSpec:
    cards = draw(st.lists(_card(), max_size=4))
    ids = draw(st.lists(_id, min_size=len(cards), max_size=len(cards), unique=True))
    name = draw(_text.filter(lambda n: all(p.strip() for p in n.split("::"))))
    return DeckSpec(
        id=draw(_id),
        name=name,
        description=draw(st.none() | _text),
        tags=tuple(dict.fromkeys(draw(st.lists(_tag, max_size=3)))),
        cards=tuple(
            dataclasses.replace(card, id=card_id)
            for card, card_id in zip(cards, ids, strict=True)
        ),
    )


@settings(max_examples=300, deadline=None)
@given(_deck())
def test_dump_deck_round_trips_any_deck(spec: DeckSpec) -> None:
    assert same_content(spec, parse(dump_deck(spec).encode()))


@settings(max_examples=150, deadline=None)
@given(_deck().filter(lambda spec: len(spec.cards) > 0), st.data())
def test_edit_card_writes_any_text_so_that_it_parses_back(
    spec: DeckSpec, data: st.DataObject
) -> None:
    source = dump_deck(spec).encode()
    index = data.draw(st.integers(0, len(spec.cards) - 1))
    card = spec.cards[index]
    text = data.draw(_text)
    field = (
        "cloze"
        if card.kind == "cloze"
        else data.draw(st.sampled_from(["front", "back"]))
    )
    if field == "cloze":
        text += " {{c1::gap}}"
    extra = data.draw(st.none() | _text)
    tags = data.draw(st.lists(_tag, max_size=3))
    changes: dict[str, object] = {field: text, "extra": extra, "tags": tags or None}
    new = parse(edit_card(source, card.id, changes, source="x"))
    expected = card.content() | {
        field: text,
        "extra": extra,
        "tags": list(dict.fromkeys(tags)),
    }
    assert new.cards[index].content() == expected
    others = [c.content() for i, c in enumerate(new.cards) if i != index]
    assert others == [c.content() for i, c in enumerate(spec.cards) if i != index]


@settings(max_examples=100, deadline=None)
@given(_deck())
def test_pin_restores_any_deck_whose_ids_were_left_out(spec: DeckSpec) -> None:
    text = re.sub(r"^  - id: .*\n    ", "  - ", dump_deck(spec), flags=re.M)
    before = parse(text.encode())
    new, written = pin_missing_ids(text.encode(), source="x")
    after = parse(new)
    assert written == [c.id for c in before.cards]
    assert [c.id for c in after.cards] == written
    assert not any(c.id_derived for c in after.cards)
    assert [c.content() for c in after.cards] == [c.content() for c in before.cards]
    assert without_inserted_ids(new.decode(), written) == text

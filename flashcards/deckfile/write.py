"""Write a DeckSpec back out as a format-1 deck file.

The inverse of deckfile.parse for content: `parse_deck(dump_deck(spec))` gives the
same deck and cards (ids included, derived ids written out). Used by the YAML
export and wherever a deck is created from the database rather than from a file;
edits of existing files go through deckfile.roundtrip, which keeps their layout.
"""

from __future__ import annotations

from typing import Any

import yaml

from flashcards.deckfile.spec import CardSpec, DeckSpec

_OTHER_LINE_BREAKS = "\r\x85\u2028\u2029"


class _FlowList(list[str]):
    """A list written on one line: tags: [a, b]."""


class _Dumper(yaml.SafeDumper):
    """SafeDumper that indents list items under their key and writes text that
    spans lines as `|` blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: _Dumper, text: str) -> yaml.ScalarNode:
    if any(ch in text for ch in _OTHER_LINE_BREAKS):
        # The emitter may write these raw, and a raw one is read as a line break.
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, '"')
    if "\n" in text:
        # The parser drops trailing whitespace, so one final newline gives a plain
        # `|` header instead of `|-`. Where a block cannot hold the text (trailing
        # spaces on a line, control characters), the emitter falls back to quotes.
        return dumper.represent_scalar("tag:yaml.org,2002:str", text + "\n", "|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", text)


def _represent_flow_list(dumper: _Dumper, items: _FlowList) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_FlowList, _represent_flow_list)


def _card(card: CardSpec) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": card.id}
    if card.kind == "cloze":
        entry["cloze"] = card.cloze
    else:
        entry["front"] = card.front
        entry["back"] = card.back
    if card.extra is not None:
        entry["extra"] = card.extra
    if card.reverse:
        entry["reverse"] = True
    if card.tags:
        entry["tags"] = _FlowList(card.tags)
    return entry


def dump_deck(spec: DeckSpec) -> str:
    """The deck as format-1 YAML text: readable, ids always written.

    Keys come in the documented order (deck, id, description, tags, cards; per
    card id, front/back or cloze, extra, reverse, tags); text that spans lines is
    a `|` block; tag lists are written inline.
    """
    document: dict[str, Any] = {"deck": spec.name, "id": spec.id}
    if spec.description is not None:
        document["description"] = spec.description
    if spec.tags:
        document["tags"] = _FlowList(spec.tags)
    document["cards"] = [_card(card) for card in spec.cards]
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=2**31 - 1,
    )

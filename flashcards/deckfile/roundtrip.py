"""Change deck files in place: pin derived card ids, edit one card's fields.

Deck files are written by people and kept in git, so a change must touch only
the lines it is about. The document is loaded with ruamel.yaml in round-trip
mode (comments, key order, quoting and block scalars survive).

- Pinning ids inserts `id: ...` lines into the original text at the positions
  ruamel reports for the card entries; nothing else changes, byte for byte. The
  result must parse to the same cards with the same ids, now explicit.
- Editing changes the ruamel document and dumps it twice: once unchanged (the
  baseline) and once changed. Only the lines where those two dumps differ are
  written into the original text, so lines ruamel would merely reformat (its
  indentation, escapes, `---`, CRLF line ends, a byte-order mark) stay as they
  were. The result must load to the same data as ruamel's plain dump.

Values are written so that PyYAML (YAML 1.1, which the parser uses) reads them
as text: ruamel follows YAML 1.2, where `yes` or `on` are plain strings.

Both functions first parse the file with deckfile.parse, so they refuse files
with problems (DeckFileError) and find cards by the same ids the parser gives.
"""

from __future__ import annotations

import codecs
import difflib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    PlainScalarString,
)
from ruamel.yaml.tokens import CommentToken
from yaml.nodes import ScalarNode

from flashcards.deckfile.parse import CARD_KEYS, DEFAULT_MAX_BYTES, parse_deck
from flashcards.deckfile.spec import DeckSpec

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

EDITABLE_FIELDS = ("front", "back", "cloze", "extra", "reverse", "tags")
_TEXT_FIELDS = frozenset({"front", "back", "cloze", "extra"})
# Any valid id: the deck id plays no part in finding or pinning cards.
_ANY_DECK_ID = "deck"
# Characters a block scalar cannot hold as they are: control characters, line
# breaks other than "\n", byte-order marks.
_NOT_IN_BLOCKS = re.compile(
    "[^\x09\x0a\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_TAB_BEFORE_TEXT = re.compile(r"[ \n]*\t")
_SIMPLE_WORDS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(?: [A-Za-z0-9_.-]+)*")
_WIDTH = 1_000_000  # never fold long lines
# (sequence, offset) pairs tried when the file's own style does not reproduce.
_SEQUENCE_STYLES = ((4, 2), (2, 0), (6, 4), (4, 0), (3, 1), (8, 6))
_FIRST_ITEM = re.compile(r"^cards:[ \t]*(?:#.*)?\n(?:[ \t]*(?:#.*)?\n)*( *)- +", re.M)


class CardNotFoundError(KeyError):
    """No card with the given id in the deck file."""

    def __init__(self, card_id: str, source: str) -> None:
        super().__init__(card_id)
        self.card_id = card_id
        self.source = source

    def __str__(self) -> str:
        return f"{self.source}: no card with id '{self.card_id}'"


def pin_missing_ids(
    data: bytes, *, source: str, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[bytes, list[str]]:
    """Write an `id:` as the first key of every card entry that has none.

    Each entry gets the id the parser derives for it, so nothing changes for the
    database; everything else in the file stays byte for byte.

    Returns:
        The new bytes (`data` itself when nothing was missing) and the ids written,
        in file order.

    Raises:
        DeckFileError: the file has problems; nothing can be pinned until fixed.
    """
    spec = parse_deck(data, source=source, default_id=_ANY_DECK_ID, max_bytes=max_bytes)
    missing = [(i, card.id) for i, card in enumerate(spec.cards) if card.id_derived]
    if not missing:
        return data, []
    return _pin(data, spec, missing, source), [card_id for _, card_id in missing]


def _pin(
    data: bytes, spec: DeckSpec, missing: list[tuple[int, str]], source: str
) -> bytes:
    """The data with the given (entry index, id) pairs written as `id:` keys."""
    document = _Document.load(data)
    inserted = document.encode(_insert_ids(document, missing))
    if _pinned_correctly(inserted, spec, missing, source):
        return inserted
    # An entry the text insertion cannot handle (say, one with a tag).
    dumper, baseline = document.dumper()
    entries = document.root["cards"]
    for index, card_id in missing:
        entries[index].insert(0, "id", _scalar(card_id))
    for candidate in document.results(dumper, baseline):
        if _pinned_correctly(candidate, spec, missing, source):
            return candidate
    raise RuntimeError(f"{source}: could not write the ids without other changes")


def _insert_ids(document: _Document, missing: list[tuple[int, str]]) -> str:
    """The original text with `id:` written first into the given card entries."""
    lines = document.text.split("\n")
    entries = document.root["cards"]
    for index, card_id in reversed(missing):  # bottom up: positions stay valid
        entry = entries[index]
        line, column = entry.lc.line, entry.lc.col
        text = lines[line]
        pair = f"id: {_inline_id(card_id)}"
        if entry.fa.flow_style():  # column is at the "{"
            column += 1
            lines[line] = f"{text[:column]}{pair}, {text[column:].lstrip(' ')}"
        else:  # column is at the first key
            lines[line] = f"{text[:column]}{pair}\n{' ' * column}{text[column:]}"
    return "\n".join(lines)


def _inline_id(card_id: str) -> str:
    return f"'{card_id}'" if _read_as_other_than_text(card_id) else card_id


def edit_card(
    data: bytes,
    card_id: str,
    changes: dict[str, object],
    *,
    source: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> bytes:
    """Set, replace or remove fields of one card, keeping the rest of the file.

    Args:
        data: the deck file's bytes; it must parse without problems.
        card_id: the card's id (a derived id works too; it is then pinned, so
            the card keeps its identity when its front changes).
        changes: field -> new value: text for front/back/cloze/extra (text that
            spans lines is written as a `|` block), a bool for reverse, a list of
            strings for tags; None removes the field.
        source: how problems name the file.
        max_bytes: the size limit the file is parsed with.

    Returns:
        The new bytes. They are not validated as a deck: the caller runs
        parse_deck on them before saving (an edit can leave a card without a back).

    Raises:
        CardNotFoundError: no card has that id (a KeyError).
        ValueError, TypeError: a field that cannot be edited, or a value of the
            wrong type.
        DeckFileError: the file has problems.
    """
    values = {field: _value(field, value) for field, value in changes.items()}
    spec = parse_deck(data, source=source, default_id=_ANY_DECK_ID, max_bytes=max_bytes)
    index = next((i for i, c in enumerate(spec.cards) if c.id == card_id), None)
    if index is None:
        raise CardNotFoundError(card_id, source)
    if spec.cards[index].id_derived:
        # Pin the id first, so the card keeps its identity when its front changes.
        data = _pin(data, spec, [(index, card_id)], source)
    document = _Document.load(data)
    dumper, baseline = document.dumper()
    entry = document.root["cards"][index]
    flow = bool(entry.fa.flow_style())
    for field, change in values.items():
        value = _ruamel_value(change, flow=flow)
        if value is None:
            _remove(entry, field)
        elif field in entry:
            _replace(entry, field, value)
        else:
            _add(entry, field, value)
    spliced, plain = document.results(dumper, baseline)
    try:
        if _load_plain(spliced) == _load_plain(plain):
            return spliced
    except yaml.YAMLError:  # pragma: no cover - a splice that broke the YAML
        pass
    return plain  # pragma: no cover - the splice went wrong; layout is lost


def _load_plain(data: bytes) -> Any:
    return yaml.load(data, Loader=_SafeLoader)


def _value(field: str, value: object) -> str | bool | list[str] | None:
    """The checked value for a field, or TypeError/ValueError for a bad one."""
    if field not in EDITABLE_FIELDS:
        raise ValueError(
            f"cannot edit {field!r}; editable fields: {', '.join(EDITABLE_FIELDS)}"
        )
    if value is None:
        return None
    if field in _TEXT_FIELDS:
        if not isinstance(value, str):
            raise TypeError(f"{field!r} must be a str, not {type(value).__name__}")
        return value.rstrip()
    if field == "reverse":
        if not isinstance(value, bool):
            raise TypeError(f"'reverse' must be a bool, not {type(value).__name__}")
        return value
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"'tags' must be a list of str, not {type(value).__name__}")
    if not all(isinstance(tag, str) for tag in value):
        raise TypeError("'tags' must be a list of str")
    return list(value)


def _ruamel_value(value: str | bool | list[str] | None, *, flow: bool) -> Any:
    """The value as ruamel should write it; tag lists are written inline."""
    if isinstance(value, list):
        tags = CommentedSeq(_scalar(tag, flow=True) for tag in value)
        tags.fa.set_flow_style()
        return tags
    if isinstance(value, str):
        return _scalar(value, flow=flow)
    return value


def _scalar(text: str, *, flow: bool = False) -> Any:
    """Text as ruamel should write it: a `|` block when it spans lines, quoted
    when YAML 1.1 would read it as something else (yes, 1:30, 2024-01-01).

    Inside [...] or {...} only simple words stay plain: ruamel follows YAML 1.2,
    whose plain scalars may hold characters (`a:b`, `?x`) that 1.1 refuses there.
    """
    if flow:
        plain = _SIMPLE_WORDS.fullmatch(text) and not _read_as_other_than_text(text)
        return PlainScalarString(text) if plain else DoubleQuotedScalarString(text)
    if _NOT_IN_BLOCKS.search(text) or _TAB_BEFORE_TEXT.match(text):
        # Escaped: "\x1f", "\u2028"; libyaml refuses a block that starts with a tab.
        return DoubleQuotedScalarString(text)
    if "\n" in text:
        return LiteralScalarString(text + "\n")
    if _read_as_other_than_text(text):
        return DoubleQuotedScalarString(text)
    # Plain where it can be (ruamel quotes it where it cannot); a bare str would
    # take over the style of the value it replaces, `|` or `>` included.
    return PlainScalarString(text)


def _read_as_other_than_text(text: str) -> bool:
    tag = _RESOLVER.resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return bool(tag != "tag:yaml.org,2002:str")


_RESOLVER = yaml.resolver.Resolver()


def _add(entry: CommentedMap, field: str, value: Any) -> None:
    """Add a key where CARD_KEYS puts it. A key added after the last one takes
    over what follows that one (blank lines, comments before the next card)."""
    position = _position(entry, field)
    last = list(entry)[-1] if position == len(entry) else None
    entry.insert(position, field, value)
    if last is not None:
        eol, following = _take_following(entry, last)
        _put_following(entry, last, eol, "")
        _put_following(entry, field, None, following)


def _replace(entry: CommentedMap, field: str, value: Any) -> None:
    """Replace a value, keeping its end-of-line comment and what follows it."""
    eol, following = _take_following(entry, field)
    entry[field] = value
    _put_following(entry, field, eol, following)


def _remove(entry: CommentedMap, field: str) -> None:
    """Remove a key; if it was the last, what followed it stays in the file."""
    if field not in entry:
        return
    keys = list(entry)
    _, following = _take_following(entry, field)
    del entry[field]
    if keys[-1] == field and len(keys) > 1:
        eol, before = _take_following(entry, keys[-2])
        _put_following(entry, keys[-2], eol, before + following)


# What follows a key's value: an end-of-line comment, then blank lines and
# whole-line comments up to the next key or card. ruamel keeps a block scalar's
# end-of-line comment on the scalar (after its `|`), the rest in one comment
# token stored by the value's kind: a flow list keeps it itself, a block list on
# its last item, anything else in the mapping under the key. After a block scalar
# the token starts on the next line; after other values it starts with the
# end-of-line comment (if any) and the newline that ends the value's line.

# An end-of-line comment: its text ("# ..."), its column, and as it stood after a
# block scalar's `|` (spaces included), if it did.
_Comment = tuple[str, int, str | None]


def _following_slot(entry: CommentedMap, key: str) -> tuple[list[Any], int]:
    value = entry[key]
    if isinstance(value, CommentedSeq) and value.fa.flow_style():
        if not value.ca.comment:
            value.ca.comment = [None, None]
        return value.ca.comment, 0
    if isinstance(value, CommentedSeq) and len(value) > 0:
        return value.ca.items.setdefault(len(value) - 1, [None, None, None, None]), 0
    return entry.ca.items.setdefault(key, [None, None, None, None]), 2


def _take_following(entry: CommentedMap, key: str) -> tuple[_Comment | None, str]:
    """Detach what follows key's value: its end-of-line comment, and the text
    of the lines after it."""
    value = entry[key]
    eol: _Comment | None = None
    comments = entry.ca.items.get(key)
    if _is_block_scalar(value) and comments and len(comments) > 3 and comments[3]:
        raw = "".join(comments[3])
        eol = (raw.strip(), 0, raw)
        comments[3] = None
    slot, index = _following_slot(entry, key)
    token = slot[index]
    if token is None:
        return eol, ""
    slot[index] = None
    text: str = token.value
    if _is_block_scalar(value):
        return eol, text
    head, _, following = text.partition("\n")
    if head.strip():
        mark = getattr(token, "start_mark", None)
        eol = (head.strip(), getattr(mark, "column", 0), None)
    return eol, following


def _put_following(
    entry: CommentedMap, key: str, eol: _Comment | None, following: str
) -> None:
    value = entry[key]
    if _is_block_scalar(value):
        if eol is not None:  # after the `|`
            comments = entry.ca.items.setdefault(key, [None, None, None, None])
            comments[3] = [eol[2] or "  " + eol[0]]
        if not following:
            return
        text, column = following, 0
    else:
        if eol is None and not following:
            return
        text = ("" if eol is None else eol[0]) + "\n" + following
        column = 0 if eol is None else eol[1]
    slot, index = _following_slot(entry, key)
    slot[index] = CommentToken(text, CommentMark(column))


def _is_block_scalar(value: Any) -> bool:
    return isinstance(value, LiteralScalarString | FoldedScalarString)


def _position(entry: CommentedMap, field: str) -> int:
    """Where a new key goes: before the first key that comes after it in CARD_KEYS."""
    rank = CARD_KEYS.index(field)
    for position, key in enumerate(entry):
        if key in CARD_KEYS and CARD_KEYS.index(key) > rank:
            return position
    return len(entry)


def _pinned_correctly(
    data: bytes, before: DeckSpec, pinned: list[tuple[int, str]], source: str
) -> bool:
    """Whether data is the deck before, with the pinned ids now explicit."""
    try:
        after = parse_deck(data, source=source, default_id=_ANY_DECK_ID)
    except Exception:  # any failure means: not this candidate
        return False
    explicit = {index for index, _ in pinned}
    return (
        (after.id, after.name, after.description, after.tags)
        == (before.id, before.name, before.description, before.tags)
        and [c.id for c in after.cards] == [c.id for c in before.cards]
        and [c.content() for c in after.cards] == [c.content() for c in before.cards]
        and [c.id_derived for c in after.cards]
        == [c.id_derived and i not in explicit for i, c in enumerate(before.cards)]
    )


@dataclass
class _Document:
    """A deck file loaded with ruamel for a round trip."""

    bom: bool
    crlf: bool
    text: str  # the original text, line ends normalised to "\n"
    root: Any

    @classmethod
    def load(cls, data: bytes) -> _Document:
        bom = data.startswith(codecs.BOM_UTF8)
        text = data[len(codecs.BOM_UTF8) if bom else 0 :].decode("utf-8")
        crlf = "\r\n" in text
        text = text.replace("\r\n", "\n")
        return cls(bom, crlf, text, _yaml(4, 2).load(text))

    def dumper(self) -> tuple[YAML, str]:
        """The ruamel settings that reproduce the file best, and that dump.

        Call before changing `root`: the dump is the baseline of the change.
        """
        best: tuple[YAML, str] | None = None
        best_score = -1
        start, end = _document_markers(self.text)
        for sequence, offset in _styles(self.text):
            dumper = _yaml(sequence, offset)
            dumper.explicit_start, dumper.explicit_end = start, end
            baseline = _dump(dumper, self.root)
            if baseline == self.text:
                return dumper, baseline
            score = _matching_lines(self.text, baseline)
            if score > best_score:
                best_score, best = score, (dumper, baseline)
        assert best is not None
        return best

    def results(self, dumper: YAML, baseline: str) -> tuple[bytes, bytes]:
        """The changed document: spliced into the original, and as ruamel dumps it."""
        changed = _dump(dumper, self.root)
        return (
            self.encode(_splice(self.text, baseline, changed)),
            self.encode(changed),
        )

    def encode(self, text: str) -> bytes:
        """Text in this file's encoding: its line ends, its byte-order mark."""
        if self.crlf:
            text = text.replace("\n", "\r\n")
        data = text.encode("utf-8")
        return codecs.BOM_UTF8 + data if self.bom else data


def _document_markers(text: str) -> tuple[bool, bool]:
    """Whether the text starts with `---` and ends with `...` (comments aside)."""
    lines = [
        line.rstrip()
        for line in text.split("\n")
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        return False, False
    return lines[0].startswith("---"), lines[-1] == "..."


def _yaml(sequence: int, offset: int) -> YAML:
    round_trip = YAML(typ="rt")
    round_trip.preserve_quotes = True
    round_trip.width = _WIDTH
    round_trip.indent(mapping=2, sequence=sequence, offset=offset)
    return round_trip


def _dump(round_trip: YAML, root: Any) -> str:
    out = io.StringIO()
    round_trip.dump(root, out)
    return out.getvalue()


def _styles(text: str) -> list[tuple[int, int]]:
    """Sequence indents to try, the one the card list uses first."""
    match = _FIRST_ITEM.search(text)
    if match is None:
        return list(_SEQUENCE_STYLES)
    own = (match.end() - match.start(1), len(match.group(1)))
    return [own, *(style for style in _SEQUENCE_STYLES if style != own)]


def _matching_lines(a: str, b: str) -> int:
    return sum(
        o2 - o1
        for tag, o1, o2, _, _ in _opcodes(a.split("\n"), b.split("\n"))
        if tag == "equal"
    )


_Opcode = tuple[str, int, int, int, int]


def _opcodes(a: list[str], b: list[str]) -> list[_Opcode]:
    """difflib's opcodes for turning a into b; the common start and end are
    matched first, so a local change in a large file is cheap to find."""
    start = 0
    limit = min(len(a), len(b))
    while start < limit and a[start] == b[start]:
        start += 1
    end = 0
    while end < limit - start and a[-1 - end] == b[-1 - end]:
        end += 1
    ops: list[_Opcode] = []
    if start:
        ops.append(("equal", 0, start, 0, start))
    middle = difflib.SequenceMatcher(
        None, a[start : len(a) - end], b[start : len(b) - end], False
    )
    for tag, a1, a2, b1, b2 in middle.get_opcodes():
        ops.append((tag, a1 + start, a2 + start, b1 + start, b2 + start))
    if end:
        ops.append(("equal", len(a) - end, len(a), len(b) - end, len(b)))
    return ops


def _splice(original: str, baseline: str, changed: str) -> str:
    """Apply the difference baseline -> changed to the original text.

    Original and baseline are aligned line by line. Where they agree, unchanged
    lines are taken from the original and changed ones from the new dump. A run
    of original lines that ruamel reformatted is kept as it was unless the change
    touches it, in which case the new dump's lines replace the whole run. Original
    lines that ruamel drops (`---`, `...`) stay where they were.
    """
    o_lines = original.split("\n")
    b_lines = baseline.split("\n")
    c_lines = changed.split("\n")
    keep = [True] * len(b_lines)
    replacement: list[list[str]] = [[] for _ in b_lines]
    before: list[list[str]] = [[] for _ in range(len(b_lines) + 1)]
    for tag, b1, b2, c1, c2 in _opcodes(b_lines, c_lines):
        if tag == "insert":
            before[b1].extend(c_lines[c1:c2])
        elif tag != "equal":
            keep[b1:b2] = [False] * (b2 - b1)
            replacement[b1] = c_lines[c1:c2]
    out: list[str] = []
    inserted = [False] * (len(b_lines) + 1)

    def insert_before(b: int) -> None:
        if not inserted[b]:
            inserted[b] = True
            out.extend(before[b])

    def new_lines(b1: int, b2: int, unchanged: list[str]) -> None:
        for b in range(b1, b2):
            insert_before(b)
            out.extend([unchanged[b - b1]] if keep[b] else replacement[b])

    for tag, o1, o2, b1, b2 in _opcodes(o_lines, b_lines):
        if tag == "delete":  # lines only the original has
            if b1 > 0:
                insert_before(b1)
            out.extend(o_lines[o1:o2])
        elif tag == "equal":
            new_lines(b1, b2, o_lines[o1:o2])
        elif all(keep[b1:b2]) and not any(before[b1 + 1 : b2]):
            insert_before(b1)
            out.extend(o_lines[o1:o2])  # reformatted by ruamel, untouched
        else:
            new_lines(b1, b2, b_lines[b1:b2])
    insert_before(len(b_lines))
    return "\n".join(out)

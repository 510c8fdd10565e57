"""Parse and validate YAML deck files (format 1) into DeckSpec values.

First stage of the import pipeline: bytes in, an immutable DeckSpec out, or a
DeckFileError that lists every problem of the file at once, each located by file,
line, card id and field. Pure: the only I/O is reading the one file in
`load_deck_file`.

Safety. Deck files come from users, so:

- A file over `max_bytes` (default 5 MB) is refused before it is read or parsed.
- Only PyYAML's safe event parser is used (libyaml's C parser when present); this
  module builds every value itself from the event stream, so no tag can construct
  an object, and any tag other than the plain YAML core types is reported.
- Nesting deeper than MAX_DEPTH containers is refused while parsing, before it can
  cost anything.
- Aliases are allowed (`tags: &common [a, b]` ... `tags: *common`), but the nodes
  they stand for are counted as they appear; once aliases have added more than
  MAX_ALIAS_NODES nodes the file is refused. Values are never copied for an alias
  (the tree is a DAG), so a "billion laughs" file stops after a few kilobytes of
  work. Recursive aliases are refused. Merge keys (`<<`) are not supported.

Rules beyond the YAML:

- Deck and card ids: ASCII letters, digits and `- _ . :`, starting with a letter
  or digit, at most MAX_ID_LENGTH characters (so never spaces, `/` or backslashes).
- Tags must not contain whitespace: Anki splits tags at spaces.
- `cards: []` is a valid deck without cards, with a warning.
- Values are read as PyYAML reads YAML 1.1: `yes`, `no`, `on` are booleans and
  `42`, `1:30`, `2024-01-01` are not text; each needs quotes where text belongs.
- Text fields lose trailing whitespace, so `|` and `|-` blocks read the same.
- Problems are sorted by line; a file with any problem gives no DeckSpec.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import re
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.error import MarkedYAMLError
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    DocumentStartEvent,
    Event,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceStartEvent,
)
from yaml.nodes import ScalarNode

from flashcards.deckfile.spec import (
    CLOZE_NUMBER,
    CardSpec,
    DeckFileError,
    DeckSpec,
    Problem,
)

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 20  # containers inside containers; a valid deck needs 4
MAX_ALIAS_NODES = 100_000  # nodes that aliases may add on top of the file's own
MAX_ID_LENGTH = 100
DERIVED_ID_MAX_LENGTH = 48
MAX_REPORTED_CHARACTER_PROBLEMS = 10

DECK_KEYS = ("deck", "id", "description", "tags", "cards")
# The database column holds 300 characters (decks.name).
MAX_DECK_NAME_LENGTH = 300
CARD_KEYS = ("id", "front", "back", "cloze", "extra", "reverse", "tags")
"""The keys a card entry may have, in the order writers put them."""

_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
_CORE_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = frozenset(
    _CORE_TAG + name
    for name in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map")
)
_VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
_ID_CHARACTER = re.compile(r"[A-Za-z0-9_.:-]")
# YAML's line breaks (libyaml counts all of these when it numbers lines).
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
# Characters YAML does not allow in a stream (tab, LF and CR are allowed).
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd"
    "\U00010000-\U0010ffff]"
)
_INDENT = re.compile(r"[ \t]*")
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")

# For derive_card_id: what gets stripped before the slug is made.
_CLOZE_DELETION = re.compile(r"\{\{c\d+::(.*?)(?:::.*?)?\}\}", re.DOTALL)
_MATH = re.compile(
    r"\$\$.*?\$\$|\\\(.*?\\\)|\\\[.*?\\\]|\$(?=\S)[^$\n]*?(?<=\S)\$", re.DOTALL
)
_MARKDOWN_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_HTML_TAG = re.compile(r"<[^>]*>")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def derive_card_id(text: str) -> str:
    """Make a card id from a card's front (or cloze text): a deterministic slug.

    Cloze deletions keep their answer (not their hint); math, Markdown link targets
    and HTML tags are dropped; what is left becomes lowercase ASCII words joined by
    hyphens, cut at a word boundary to at most DERIVED_ID_MAX_LENGTH characters.
    Text with nothing left (say, only math or only Greek) gives "card". The parser
    appends -2, -3, ... to ids that would collide, in file order.
    """
    plain = _CLOZE_DELETION.sub(lambda m: m.group(1), text)
    plain = _MATH.sub(" ", plain)
    plain = _MARKDOWN_LINK.sub(lambda m: m.group(1), plain)
    plain = _HTML_TAG.sub(" ", plain)
    ascii_text = (
        unicodedata.normalize("NFKD", plain.casefold())
        .encode("ascii", "ignore")
        .decode("ascii")
    )
    words = [w for w in _NOT_SLUG.split(ascii_text) if w]
    if not words:
        return "card"
    slug = words[0][:DERIVED_ID_MAX_LENGTH]
    for word in words[1:]:
        if len(slug) + 1 + len(word) > DERIVED_ID_MAX_LENGTH:
            break
        slug = f"{slug}-{word}"
    return slug


def id_problem(value: str) -> str | None:
    """Why `value` is not a valid deck or card id, or None when it is valid."""
    if not value:
        return "must not be empty"
    if any(ch.isspace() for ch in value):
        return "must not contain spaces"
    if "/" in value or "\\" in value:
        return "must not contain '/' or '\\'"
    if len(value) > MAX_ID_LENGTH:
        return f"must not be longer than {MAX_ID_LENGTH} characters"
    if _VALID_ID.fullmatch(value) is None:
        bad = next((ch for ch in value if not _ID_CHARACTER.fullmatch(ch)), None)
        if bad is None:
            return "must start with a letter or a digit"
        return f"must contain only ASCII letters, digits and - _ . : (found {bad!r})"
    return None


def load_deck_file(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> DeckSpec:
    """Read and parse one deck file; its deck id defaults to the file name's stem.

    The size is checked with stat() before anything is read, and the read itself
    stops after max_bytes + 1 bytes, so a huge (or growing) file costs nothing.

    Raises:
        DeckFileError: the file is too large, not a regular file, or not a valid
            deck; problems name the path as given.
        OSError: the file cannot be read.
    """
    source = str(path)
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise DeckFileError([Problem(source, None, "is not a regular file")])
    if info.st_size > max_bytes:
        raise DeckFileError([_too_large(source, info.st_size, max_bytes)])
    with path.open("rb") as file:
        data = file.read(max_bytes + 1)
    return parse_deck(data, source=source, default_id=path.stem, max_bytes=max_bytes)


def parse_deck(
    data: bytes, *, source: str, default_id: str, max_bytes: int = DEFAULT_MAX_BYTES
) -> DeckSpec:
    """Parse and validate the bytes of one deck file.

    Args:
        data: the file's bytes (UTF-8; a leading byte-order mark is fine).
        source: how problems name the file (its path, or an upload's name).
        default_id: the deck id when the file has no `id:` (the file name's stem).
        max_bytes: larger input is refused before it is parsed.

    Returns:
        The DeckSpec; `content_hash` is the SHA-256 of `data`, `warnings` lists
        non-fatal problems (card ids derived from the text, a deck without cards).
        Text fields lose trailing whitespace, so `|` and `|-` blocks read the same.

    Raises:
        DeckFileError: with every problem found in the file, sorted by line.
    """
    if len(data) > max_bytes:
        raise DeckFileError([_too_large(source, len(data), max_bytes)])
    report = _Report(source)
    text = _decode(data, report)
    if text is None:
        raise DeckFileError(report.sorted_problems())
    text = _replace_unprintable(text, report)
    tab_lines = _lines_with_tab_indentation(text)
    composed = _Composer(text, report).compose()
    verbatim = composed.verbatim_lines if composed.failure is None else set()
    reported_tabs = [line for line in tab_lines if line not in verbatim]
    for line in reported_tabs:
        report.error(line, "tab in indentation; indent with spaces")
    failure = composed.failure
    if failure is not None and not (
        # A tab in the indentation is what broke the YAML: say that only.
        reported_tabs and (failure.line in reported_tabs or "tab" in failure.message)
    ):
        report.problems.append(failure)
    spec = None
    if failure is None:
        if composed.root is None:
            report.error(None, "the file is empty; a deck needs 'deck:' and 'cards:'")
        else:
            spec = _Validator(report, default_id).deck(composed.root)
    if report.problems or spec is None:
        raise DeckFileError(report.sorted_problems())
    return DeckSpec(
        id=spec.id,
        name=spec.name,
        cards=spec.cards,
        description=spec.description,
        tags=spec.tags,
        source=source,
        content_hash=hashlib.sha256(data).hexdigest(),
        warnings=tuple(sorted(report.warnings, key=_line_key)),
    )


def _too_large(source: str, size: int, max_bytes: int) -> Problem:
    return Problem(
        source, None, f"file too large: {size} bytes (the limit is {max_bytes} bytes)"
    )


def _line_key(problem: Problem) -> int:
    return 0 if problem.line is None else problem.line


class _Report:
    """Collects the problems and warnings of one file."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(
        self,
        line: int | None,
        message: str,
        card_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.problems.append(Problem(self.source, line, message, card_id, field))

    def warn(
        self,
        line: int | None,
        message: str,
        card_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.warnings.append(Problem(self.source, line, message, card_id, field))

    def sorted_problems(self) -> list[Problem]:
        return sorted(self.problems, key=_line_key)


# --- characters -------------------------------------------------------------------


def _decode(data: bytes, report: _Report) -> str | None:
    """UTF-8 text without its byte-order mark; bad bytes are reported, then replaced.

    Returns None for UTF-16/32 files, which cannot be read on at all.
    """
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        report.error(None, "the file is UTF-32; save it as UTF-8")
        return None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        report.error(None, "the file is UTF-16; save it as UTF-8")
        return None
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Each byte that is not UTF-8 becomes a lone surrogate U+DC80..U+DCFF.
    text = data[bom:].decode("utf-8", errors="surrogateescape")
    bad_lines: dict[int, int] = {}  # line -> position of its first bad byte
    line, counted = 1, 0
    for match in _ESCAPED_BYTE.finditer(text):
        line += len(_LINE_BREAK.findall(text, counted, match.start()))
        counted = match.start()
        bad_lines.setdefault(line, match.start())
    for count, (line, position) in enumerate(bad_lines.items()):
        if count == MAX_REPORTED_CHARACTER_PROBLEMS:
            more = len(bad_lines) - count - 1
            report.error(line, f"not valid UTF-8 here and on {more} more lines")
            break
        offset = bom + len(text[:position].encode("utf-8", errors="surrogateescape"))
        report.error(
            line,
            f"not valid UTF-8 (byte 0x{data[offset]:02x} at offset {offset}); "
            "save the file as UTF-8",
        )
    return _ESCAPED_BYTE.sub("\ufffd", text)


def _line_of(text: str, position: int) -> int:
    return len(_LINE_BREAK.findall(text, 0, position)) + 1


def _replace_unprintable(text: str, report: _Report) -> str:
    """Report characters YAML refuses, then replace them so parsing can go on."""
    matches = list(_NOT_PRINTABLE.finditer(text))
    if not matches:
        return text
    for count, match in enumerate(matches):
        line = _line_of(text, match.start())
        if count == MAX_REPORTED_CHARACTER_PROBLEMS:
            more = len(matches) - count
            report.error(line, f"{more} more characters that are not allowed")
            break
        code = ord(match.group())
        what = "byte-order mark" if code == 0xFEFF else "control character"
        report.error(line, f"{what} U+{code:04X} is not allowed in a deck file")
    return _NOT_PRINTABLE.sub("\ufffd", text)


def _lines_with_tab_indentation(text: str) -> list[int]:
    """Lines (1-based) whose leading whitespace holds a tab; blank lines excepted."""
    found = []
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        indent = _INDENT.match(line)
        if indent and "\t" in indent.group() and line.strip():
            found.append(number)
    return found


# --- the node tree ----------------------------------------------------------------


class _Node:
    """A node built from the event stream; `line` is 1-based; `size` counts the
    nodes it stands for, aliases expanded (the alias budget)."""

    __slots__ = ("line", "size")

    def __init__(self, line: int) -> None:
        self.line = line
        self.size = 1


class _Scalar(_Node):
    __slots__ = ("tag", "value")

    def __init__(self, line: int, tag: str, value: str) -> None:
        super().__init__(line)
        self.tag = tag
        self.value = value


class _Seq(_Node):
    __slots__ = ("items",)

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.items: list[_Node] = []


class _Map(_Node):
    __slots__ = ("pairs", "pending_key")

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.pairs: list[tuple[_Node, _Node]] = []
        self.pending_key: _Node | None = None


@dataclass
class _Composed:
    root: _Node | None
    failure: Problem | None
    verbatim_lines: set[int]  # lines inside block or quoted scalars (tabs are text)


class _Stop(Exception):
    """Parsing cannot go on; carries the one problem that says why."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _line(event: Event) -> int:
    return 1 if event.start_mark is None else event.start_mark.line + 1


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE_TAG) :] if tag.startswith(_CORE_TAG) else tag


def _yaml_failure_message(error: yaml.YAMLError) -> str:
    if not isinstance(error, MarkedYAMLError):
        return f"invalid YAML: {error}"
    parts = [part for part in (error.context, error.problem) if part]
    message = "invalid YAML: " + ": ".join(parts)
    if error.problem and error.problem.startswith("mapping values are not allowed"):
        message += " (text containing ': ' needs quotes or a | block)"
    return message


class _Composer:
    """Builds the node tree from the safe parser's events, within the limits."""

    def __init__(self, text: str, report: _Report) -> None:
        self.text = text
        self.report = report
        self.stack: list[_Seq | _Map] = []
        self.stack_anchors: list[str | None] = []
        self.anchors: dict[str, _Node] = {}
        self.open_anchors: set[str] = set()
        self.alias_nodes = 0
        self.root: _Node | None = None
        self.documents = 0
        self.verbatim_lines: set[int] = set()

    def compose(self) -> _Composed:
        loader = _Loader(self.text)
        try:
            while loader.check_event():
                event = loader.get_event()
                if event is not None:
                    self._event(event)
        except _Stop as stop:
            failure = Problem(self.report.source, stop.line, stop.message)
            return _Composed(None, failure, self.verbatim_lines)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = None if mark is None else mark.line + 1
            message = _yaml_failure_message(error)
            if "maximum nesting depth" in message:  # libyaml's own limit (1000)
                message = _TOO_DEEP
            failure = Problem(self.report.source, line, message)
            return _Composed(None, failure, self.verbatim_lines)
        finally:
            loader.dispose()
        return _Composed(self.root, None, self.verbatim_lines)

    def _event(self, event: Event) -> None:
        if isinstance(event, DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise _Stop(
                    _line(event), "a deck file holds one YAML document; found another"
                )
        elif isinstance(event, ScalarEvent):
            self._scalar(event)
        elif isinstance(event, SequenceStartEvent | MappingStartEvent):
            if len(self.stack) >= MAX_DEPTH:
                raise _Stop(_line(event), _TOO_DEEP)
            self._check_tag(event, event.tag)
            node: _Seq | _Map
            if isinstance(event, SequenceStartEvent):
                node = _Seq(_line(event))
            else:
                node = _Map(_line(event))
            if event.anchor is not None:
                self.open_anchors.add(event.anchor)
            self.stack.append(node)
            self.stack_anchors.append(event.anchor)
        elif isinstance(event, CollectionEndEvent):
            done = self.stack.pop()
            if isinstance(done, _Seq):
                done.size += sum(item.size for item in done.items)
            else:
                done.size += sum(k.size + v.size for k, v in done.pairs)
            self._add(done, self.stack_anchors.pop())
        elif isinstance(event, AliasEvent):
            self._alias(event)

    def _scalar(self, event: ScalarEvent) -> None:
        self._check_tag(event, event.tag)
        tag = event.tag
        if tag is None or tag == "!":
            resolved = _RESOLVER.resolve(  # type: ignore[no-untyped-call]
                ScalarNode, event.value, event.implicit
            )
            tag = str(resolved)
        if tag not in _ALLOWED_TAGS:
            tag = _CORE_TAG + "str"
        node = _Scalar(_line(event), tag, event.value)
        end = event.end_mark
        if event.style and end is not None:
            # Tabs on the lines of a block or quoted scalar are its text.
            first = node.line + 1
            last = end.line + (1 if end.column > 0 else 0)
            self.verbatim_lines.update(range(first, last + 1))
        self._add(node, event.anchor)

    def _check_tag(self, event: NodeEvent, tag: str | None) -> None:
        if tag is not None and tag != "!" and tag not in _ALLOWED_TAGS:
            self.report.error(
                _line(event),
                f"tag '{_short_tag(tag)}' is not allowed; deck files use plain YAML",
            )

    def _alias(self, event: AliasEvent) -> None:
        name = event.anchor or ""
        if name in self.open_anchors:
            raise _Stop(_line(event), f"alias '*{name}' refers to its own parent")
        target = self.anchors.get(name)
        if target is None:
            raise _Stop(_line(event), f"alias '*{name}' has no anchor '&{name}' above")
        self.alias_nodes += target.size
        if self.alias_nodes > MAX_ALIAS_NODES:
            raise _Stop(
                _line(event),
                f"aliases expand to more than {MAX_ALIAS_NODES} nodes",
            )
        self._add(target, None)

    def _add(self, node: _Node, anchor: str | None) -> None:
        if anchor is not None:
            self.anchors[anchor] = node
            self.open_anchors.discard(anchor)
        if not self.stack:
            self.root = node
            return
        parent = self.stack[-1]
        if isinstance(parent, _Seq):
            parent.items.append(node)
        elif parent.pending_key is None:
            parent.pending_key = node
        else:
            parent.pairs.append((parent.pending_key, node))
            parent.pending_key = None


_RESOLVER = yaml.resolver.Resolver()


# --- validation -------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """A card entry before validation: where it is, and what it is called."""

    node: _Map
    id_line: int | None  # line of its `id:` key, None without one
    explicit_id: str | None  # the raw `id:` text, valid or not
    derive_from: tuple[str, str] | None  # ("front" | "cloze text", text)


class _Fields(dict[str, tuple[int, _Node]]):
    """The known keys of a mapping: name -> (line of the key, value).

    `suggested` holds the names offered as "did you mean" for unknown keys; a
    missing required key that was suggested is not reported a second time.
    """

    def __init__(self) -> None:
        super().__init__()
        self.suggested: set[str] = set()


def _describe(node: _Node) -> str:
    if isinstance(node, _Seq):
        return "a list"
    if isinstance(node, _Map):
        return "a mapping"
    assert isinstance(node, _Scalar)
    kind = node.tag[len(_CORE_TAG) :]
    return {
        "int": "a number",
        "float": "a number",
        "bool": "true/false",
        "null": "empty",
        "timestamp": "a date",
        "str": "text",
    }.get(kind, "a value")


def _is_null(node: _Node) -> bool:
    return isinstance(node, _Scalar) and node.tag == _CORE_TAG + "null"


def _is_text(node: _Node) -> bool:
    return isinstance(node, _Scalar) and node.tag == _CORE_TAG + "str"


def _suggest(key: str, allowed: Iterable[str]) -> tuple[str, str | None]:
    """The message for an unknown key, and the known key it may be a typo of."""
    if key == "<<":
        return "merge keys ('<<') are not supported; write the keys out", None
    allowed = list(allowed)
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key '{key}' (did you mean '{close[0]}'?)", close[0]
    return f"unknown key '{key}' (allowed: {', '.join(allowed)})", None


class _Validator:
    """Turns the node tree into a DeckSpec, reporting every problem on the way."""

    def __init__(self, report: _Report, default_id: str) -> None:
        self.report = report
        self.default_id = default_id

    def deck(self, root: _Node) -> DeckSpec | None:
        if not isinstance(root, _Map):
            self.report.error(
                root.line,
                "the file must be a mapping with 'deck:' and 'cards:', "
                f"not {_describe(root)}",
            )
            return None
        fields = self._fields(root, DECK_KEYS, None)
        name = self._deck_name(root, fields)
        deck_id = self._deck_id(fields)
        description = self._optional_text(fields, "description", None)
        tags = self._tags(fields, None)
        cards = self._cards(root, fields)
        if name is None or deck_id is None or cards is None:
            return None
        return DeckSpec(
            id=deck_id, name=name, cards=cards, description=description, tags=tags
        )

    def _fields(
        self, node: _Map, allowed: tuple[str, ...], card_id: str | None
    ) -> _Fields:
        """The known keys of a mapping with their lines; reports the rest."""
        fields = _Fields()
        first_line: dict[str, int] = {}
        for key, value in node.pairs:
            if not isinstance(key, _Scalar):
                self.report.error(
                    key.line, f"a key must be a name, not {_describe(key)}", card_id
                )
                continue
            name = key.value
            if name in first_line:
                self.report.error(
                    key.line,
                    f"duplicate key '{name}' (first at line {first_line[name]})",
                    card_id,
                )
                continue
            first_line[name] = key.line
            if name not in allowed:
                message, suggestion = _suggest(name, allowed)
                self.report.error(key.line, message, card_id)
                if suggestion is not None:
                    fields.suggested.add(suggestion)
                continue
            fields[name] = (key.line, value)
        return fields

    def _text(
        self, line: int, node: _Node, card_id: str | None, field: str
    ) -> str | None:
        """Required, non-empty text; None (and a problem) otherwise."""
        if _is_null(node):
            self.report.error(line, "must not be empty", card_id, field)
            return None
        if not _is_text(node):
            self._not_text(line, node, card_id, field)
            return None
        assert isinstance(node, _Scalar)
        text = node.value.rstrip()
        if not text:
            self.report.error(line, "must not be empty", card_id, field)
            return None
        return text

    def _optional_text(
        self, fields: _Fields, field: str, card_id: str | None
    ) -> str | None:
        if field not in fields:
            return None
        line, node = fields[field]
        if _is_null(node):
            return None
        if not _is_text(node):
            self._not_text(line, node, card_id, field)
            return None
        assert isinstance(node, _Scalar)
        return node.value.rstrip() or None

    def _not_text(
        self, line: int, node: _Node, card_id: str | None, field: str
    ) -> None:
        message = f"must be text, not {_describe(node)}"
        if isinstance(node, _Scalar):
            message += f'; put it in quotes: "{node.value}"'
        self.report.error(line, message, card_id, field)

    def _deck_name(self, root: _Map, fields: _Fields) -> str | None:
        if "deck" not in fields:
            if "deck" in fields.suggested:
                return None
            self.report.error(
                root.line, "is required (the deck's display name)", None, "deck"
            )
            return None
        line, node = fields["deck"]
        name = self._text(line, node, None, "deck")
        if name is not None and any(not part.strip() for part in name.split("::")):
            self.report.error(
                line,
                f"has an empty part in '{name}'; subdecks are written 'Parent::Child'",
                None,
                "deck",
            )
            return None
        if name is not None and len(name) > MAX_DECK_NAME_LENGTH:
            self.report.error(
                line,
                f"is {len(name)} characters long; a deck name may have at most "
                f"{MAX_DECK_NAME_LENGTH}",
                None,
                "deck",
            )
            return None
        return name

    def _deck_id(self, fields: _Fields) -> str | None:
        if "id" not in fields:
            reason = id_problem(self.default_id)
            if reason is not None:
                self.report.error(
                    None,
                    f"the deck id '{self.default_id}' taken from the file name "
                    f"{reason}; add an 'id:' line",
                    None,
                    "id",
                )
                return None
            return self.default_id
        line, node = fields["id"]
        return self._id(line, node, None)

    def _id(self, line: int, node: _Node, card_id: str | None) -> str | None:
        value = self._text(line, node, card_id, "id")
        if value is None:
            return None
        assert isinstance(node, _Scalar)
        reason = id_problem(node.value)
        if reason is not None:
            self.report.error(line, reason, card_id, "id")
            return None
        return node.value

    def _tags(self, fields: _Fields, card_id: str | None) -> tuple[str, ...]:
        if "tags" not in fields:
            return ()
        line, node = fields["tags"]
        if _is_null(node):
            return ()
        if not isinstance(node, _Seq):
            self.report.error(
                line,
                f"must be a list (like [a, b]), not {_describe(node)}",
                card_id,
                "tags",
            )
            return ()
        tags: list[str] = []
        for item in node.items:
            if not _is_text(item):
                self.report.error(
                    item.line,
                    f"a tag must be text, not {_describe(item)}",
                    card_id,
                    "tags",
                )
                continue
            assert isinstance(item, _Scalar)
            tag = item.value
            if not tag.strip():
                self.report.error(item.line, "a tag must not be empty", card_id, "tags")
            elif any(ch.isspace() for ch in tag):
                fixed = re.sub(r"\s+", "-", tag.strip())
                self.report.error(
                    item.line,
                    f"tag '{tag}' must not contain spaces (Anki splits tags at "
                    f"spaces); write '{fixed}'",
                    card_id,
                    "tags",
                )
            elif tag not in tags:
                tags.append(tag)
        return tuple(tags)

    def _cards(self, root: _Map, fields: _Fields) -> tuple[CardSpec, ...] | None:
        if "cards" not in fields:
            if "cards" in fields.suggested:
                return None
            self.report.error(
                root.line, "is required (the list of cards)", None, "cards"
            )
            return None
        line, node = fields["cards"]
        if not isinstance(node, _Seq):
            self.report.error(
                line,
                f"must be a list of cards, not {_describe(node)}; "
                "write 'cards: []' for a deck without cards",
                None,
                "cards",
            )
            return None
        if not node.items:
            self.report.warn(line, "the deck has no cards", None, "cards")
        entries: list[_Entry | None] = []
        for item in node.items:
            if isinstance(item, _Map):
                entries.append(_entry(item))
            else:
                self.report.error(
                    item.line,
                    "a card must be a mapping with 'front' and 'back', or 'cloze'; "
                    f"found {_describe(item)}",
                )
                entries.append(None)
        labels = _card_labels(entries)
        self._check_duplicate_ids(entries)
        cards: list[CardSpec] = []
        for entry, label in zip(entries, labels, strict=True):
            card = None if entry is None else self._card(entry, label)
            if card is not None:
                cards.append(card)
        if len(cards) < len(entries):
            return None
        return tuple(cards)

    def _check_duplicate_ids(self, entries: list[_Entry | None]) -> None:
        first_line: dict[str, int] = {}
        for entry in entries:
            if entry is None or entry.explicit_id is None or entry.id_line is None:
                continue
            card_id = entry.explicit_id
            if card_id in first_line:
                self.report.error(
                    entry.id_line,
                    f"duplicate card id (first at line {first_line[card_id]})",
                    card_id,
                    "id",
                )
            else:
                first_line[card_id] = entry.id_line

    def _card(self, entry: _Entry, label: str | None) -> CardSpec | None:
        node = entry.node
        errors_before = len(self.report.problems)
        fields = self._fields(node, CARD_KEYS, label)
        card_id = label
        if "id" in fields:
            card_id = self._id(*fields["id"], label)
        front = back = cloze = None
        reverse = False
        if "cloze" in fields:
            kind = "cloze"
            for field in ("front", "back", "reverse"):
                if field in fields:
                    self.report.error(
                        fields[field][0],
                        "not allowed in a cloze card (a card has 'front' and 'back', "
                        "or 'cloze')",
                        label,
                        field,
                    )
            cloze = self._text(*fields["cloze"], label, "cloze")
            if cloze is not None:
                self._check_cloze_numbers(fields["cloze"][0], cloze, label)
        elif "front" in fields or "back" in fields:
            kind = "basic"
            for field in ("front", "back"):
                if field not in fields and field not in fields.suggested:
                    self.report.error(node.line, "is required", label, field)
            if "front" in fields:
                front = self._text(*fields["front"], label, "front")
            if "back" in fields:
                back = self._text(*fields["back"], label, "back")
            if "reverse" in fields:
                line, value = fields["reverse"]
                flag = _bool(value)
                if flag is not None:
                    reverse = flag
                else:
                    self.report.error(
                        line,
                        f"must be true or false, not {_describe(value)}",
                        label,
                        "reverse",
                    )
        else:
            kind = "basic"
            self.report.error(node.line, "needs 'front' and 'back', or 'cloze'", label)
        extra = self._optional_text(fields, "extra", label)
        tags = self._tags(fields, label)
        if len(self.report.problems) > errors_before:
            return None
        if card_id is None:  # pragma: no cover - a problem above explains it
            self.report.error(node.line, "has no id")
            return None
        derived = "id" not in fields
        if derived and entry.derive_from is not None:
            what = entry.derive_from[0]
            self.report.warn(
                node.line,
                f"no id: derived '{card_id}' from the {what}; "
                f"run `flashcards ids {self.report.source}` to pin it",
            )
        return CardSpec(
            id=card_id,
            kind="cloze" if kind == "cloze" else "basic",
            front=front,
            back=back,
            cloze=cloze,
            reverse=reverse,
            extra=extra,
            tags=tags,
            line=node.line,
            id_derived=derived,
        )

    def _check_cloze_numbers(self, line: int, text: str, card_id: str | None) -> None:
        numbers = [int(n) for n in CLOZE_NUMBER.findall(text)]
        if not numbers:
            self.report.error(
                line,
                "has no cloze deletion; mark one like {{c1::answer}}",
                card_id,
                "cloze",
            )
        elif 0 in numbers:
            self.report.error(
                line, "cloze numbers start at 1 ({{c1::...}})", card_id, "cloze"
            )


def _bool(node: _Node) -> bool | None:
    """The value of a YAML boolean (true/false, yes/no, on/off), else None."""
    if isinstance(node, _Scalar) and node.tag == _CORE_TAG + "bool":
        word = node.value.lower()
        if word in ("true", "yes", "on"):
            return True
        if word in ("false", "no", "off"):
            return False
    return None


def _entry(node: _Map) -> _Entry:
    """What a card entry is called before it is validated."""
    found: dict[str, tuple[int, _Node]] = {}
    for key, value in node.pairs:
        if isinstance(key, _Scalar) and key.value not in found:
            found[key.value] = (key.line, value)
    id_line = explicit_id = None
    if "id" in found:
        id_line, id_node = found["id"]
        if isinstance(id_node, _Scalar) and not _is_null(id_node):
            explicit_id = id_node.value
    derive_from = None
    for field, what in (("cloze", "cloze text"), ("front", "front")):
        _, source = found.get(field, (0, None))
        if isinstance(source, _Scalar) and _is_text(source) and source.value.strip():
            derive_from = (what, source.value.rstrip())
            break
    return _Entry(node, id_line, explicit_id, derive_from)


def _card_labels(entries: list[_Entry | None]) -> list[str | None]:
    """The id of each entry: its own, or one derived from its text (made unique)."""
    used = {e.explicit_id for e in entries if e is not None and e.explicit_id}
    labels: list[str | None] = []
    for entry in entries:
        if entry is None or entry.id_line is not None:
            labels.append(None if entry is None else entry.explicit_id)
        elif entry.derive_from is None:
            labels.append(None)
        else:
            base = derive_card_id(entry.derive_from[1])
            label, n = base, 2
            while label in used:
                label, n = f"{base}-{n}", n + 1
            used.add(label)
            labels.append(label)
    return labels

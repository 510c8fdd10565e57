"""Card text to safe HTML: for the web UI (math as MathML) and for Anki export.

Pure: no Flask, no database. Text fields of deck files are CommonMark (plus tables
and ~~strikethrough~~) with math and, in cloze entries, Anki's cloze markers.

Math, as Pandoc reads it:

- `$…$` is inline math only when the opening `$` has a non-space character right
  after it, and the closing `$` (the next unescaped one) has a non-space character
  right before it and no digit right after it. So "costs $5 and $6" and
  "$20,000 and $30,000" stay prose. `\\$` is always a literal dollar.
- `$$…$$` and `\\[…\\]` are display math, `\\(…\\)` inline math. When `$$`/`\\[` start a
  line and the formula closes at the end of a line, it is a block of its own
  (it may span lines, and it ends a paragraph); otherwise it sits in the text.
- Inside math nothing is Markdown: `*`, `_`, `<`, `&` are TeX. In code spans and code
  blocks nothing is math.
- Web: each formula becomes MathML (see `deckfile.latex`), `display="block"` for
  display math; a formula that cannot be converted is shown as its source in
  `<code class="math-error">`. Anki: `\\(…\\)` / `\\[…\\]` for MathJax, with `<`, `>`
  and `&` of the source escaped (docs/anki-apkg.md §1.4).

Clozes, as Anki writes them: `{{c1::answer}}` and `{{c1::answer::hint}}`. A deletion
ends at the first `}}` that is outside math and code and outside braces opened
inside the deletion, so `{{c1::$\\frac{1}{x^{2}}$}}` and nested deletions work; if
the braces never balance, the first `}}` outside math ends it (what Anki does).
The answer and the hint are Markdown and may hold math. A deletion cannot span
paragraphs (it is then shown as written).

Raw HTML in the text is shown as text (markdown-it's `html` option is off), and
everything is sanitised with nh3 on an allow-list: the HTML Markdown produces, the
MathML latex2mathml produces, no scripts, no event handlers, no `style`, links only
`http`, `https`, `mailto` or relative. Images: a relative path (no `..`, not absolute)
is mapped through `image_url` (web) or `image_name` (Anki); remote `http(s)` images
are never loaded (the app works offline and its CSP forbids them): they become a
link to the image, labelled with its alt text. `data:` and other schemes, unsafe
paths and images `image_url` maps to None are replaced by their alt text.

Speed: imports render every new or changed entry for Anki (deckfile.render_anki),
so `_markdown_html` skips the parts of markdown-it that cannot change the output
of a one-paragraph field (see there).
"""

from __future__ import annotations

import bisect
import functools
import html
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import unquote, urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import (
    escapeHtml,
    isMdAsciiPunct,
    isPunctChar,
    isWhiteSpace,
)
from markdown_it.renderer import RendererHTML
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from flashcards.deckfile.latex import convert_formula
from flashcards.deckfile.spec import CardSpec

ImageUrl = Callable[[str], str | None]
ImageName = Callable[[str], str]
ClozeMode = Literal["off", "question", "answer", "keep"]

CLOZE_HIDDEN = "[…]"
MAX_DISPLAY_MATH_LINES = 200

_ENV_KEY = "flashcards.render"
_CLOZE_OPEN = re.compile(r"\{\{c(\d+)::")
_CLOZE_SPECIAL = re.compile(r"[$\\`{}:]")
_DELIMITER_SCAN = re.compile(r"\\+|\$")
# Placeholders for Anki's cloze markers while rendering (see _restore_cloze_markers).
_KEEP_OPEN, _KEEP_OPEN_END, _KEEP_HINT, _KEEP_CLOSE = (
    "\ue000",
    "\ue001",
    "\ue002",
    "\ue003",
)
_KEEP_STRIP = dict.fromkeys(map(ord, "\ue000\ue001\ue002\ue003"))
_KEEP_MARKER = re.compile("\ue000(\\d+)\ue001")
# A character that would form `{{`, `}}` or `::` with the next one (or with a marker).
_CLOZE_LOOKALIKE = re.compile("\\{(?=[{\ue000])|\\}(?=[}\ue003])|:(?=[:\ue002])")
_CLOSERS = {"$": "$", "$$": "$$", "\\(": "\\)", "\\[": "\\]"}
# How a line of a one-paragraph text may begin: with something no block rule (list,
# heading, quote, fence, rule, table, setext underline, math block, reference, HTML)
# can start with. `_single_paragraph` checks every line against it.
_INLINE_LINE_START = re.compile(
    r"[ \t]*(?:"
    r"[^\W\d_]"  # a letter
    r"|[0-9]+(?![.)0-9])"  # a number that does not open an ordered list
    r"|[*_](?![ \t]|$)(?=.*[^\W_])"  # emphasis: no list item, no rule
    r"|\$(?!\$)|\\(?!\[)"  # inline math or an escape, no display math block
    r"|`{1,2}(?!`)|~{1,2}(?!~)"  # a code span or strikethrough, no fence
    r"|[(\"'!]"
    r")"
)
# Where `_simple_inline_html` must look: `*`, math openers and line breaks, which it
# handles, and the rest of the inline syntax (outside formulas), which it leaves
# to markdown-it.
_INLINE_SPECIAL = re.compile(r"[*$\\\n_`~\[\]<&{}\t]")

_HTML_TAGS = frozenset(
    {
        "a", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "h5",
        "h6", "hr", "img", "li", "ol", "p", "pre", "s", "span", "strong", "table",
        "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
_MATHML_TAGS = frozenset(
    {
        "math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "ms", "mtext",
        "mspace", "msub", "msup", "msubsup", "munder", "mover", "munderover",
        "mfrac", "msqrt", "mroot", "mtable", "mtr", "mtd", "mstyle", "mpadded",
        "mphantom", "menclose", "merror", "mmultiscripts", "mprescripts", "none",
    }
)  # fmt: skip
_MATHML_ATTRIBUTES = frozenset(
    {
        "accent", "accentunder", "columnalign", "columnlines", "columnspacing",
        "columnspan", "depth", "displaystyle", "fence", "form", "frame",
        "framespacing", "height", "largeop", "linebreak", "linethickness", "lspace",
        "mathbackground", "mathcolor", "mathsize", "mathvariant", "maxsize",
        "minsize", "movablelimits", "notation", "rowalign", "rowlines", "rowspacing",
        "rowspan", "rspace", "scriptlevel", "separator", "stretchy", "symmetric",
        "voffset", "width",
    }
)  # fmt: skip
_ATTRIBUTES: dict[str, frozenset[str]] = {
    **{tag: _MATHML_ATTRIBUTES for tag in _MATHML_TAGS},
    "math": frozenset({"display"}),
    "annotation": frozenset({"encoding"}),
    "a": frozenset({"href", "title"}),
    "img": frozenset({"src", "alt", "title"}),
    "ol": frozenset({"start"}),
}
_ALIGN_CLASSES = frozenset({"align-left", "align-center", "align-right"})
_CLASSES: dict[str, frozenset[str]] = {
    "span": frozenset({"cloze", "cloze-revealed"}),
    "div": frozenset({"math-block"}),
    "code": frozenset({"math-error"}),
    "th": _ALIGN_CLASSES,
    "td": _ALIGN_CLASSES,
}


@dataclass(frozen=True)
class RenderedCard:
    """The HTML of one reviewable card: question, answer, and the extra remarks."""

    question_html: str
    answer_html: str
    extra_html: str | None


def render_markdown(text: str, *, image_url: ImageUrl | None = None) -> str:
    """Render a Markdown text field to sanitised HTML with math as MathML.

    Cloze markers are not interpreted here (see `render_card`).

    Args:
        text: the field as written in the deck file.
        image_url: maps a relative image path (as written, percent-decoded) to the
            URL to load it from, or None to show the alt text instead. Without it
            the path is used as the URL.
    """
    return _render(text, _Context(image_url=image_url))


def render_card(
    card: CardSpec, slot: str, *, image_url: ImageUrl | None = None
) -> RenderedCard:
    """Render the question and answer of one reviewable card of an entry.

    Slot "front" asks the front and answers the back, "reverse" the other way
    round. Slot "cN" asks the cloze text with deletion N shown as
    `<span class="cloze">[…]</span>` (or `[hint]`) and the other deletions as
    their answers; the answer shows deletion N as
    `<span class="cloze cloze-revealed">answer</span>`.

    Raises:
        ValueError: the entry has no such slot (see `CardSpec.slots`).
    """
    if slot not in card.slots:
        raise ValueError(
            f"card {card.id!r} has no slot {slot!r} (slots: {', '.join(card.slots)})"
        )
    extra = (
        render_markdown(card.extra, image_url=image_url)
        if card.extra and card.extra.strip()
        else None
    )
    if card.kind == "cloze":
        number = int(slot.removeprefix("c"))
        text = card.cloze or ""
        question = _render(
            text, _Context(cloze="question", active=number, image_url=image_url)
        )
        answer = _render(
            text, _Context(cloze="answer", active=number, image_url=image_url)
        )
        return RenderedCard(question, answer, extra)
    front, back = card.front or "", card.back or ""
    if slot == "reverse":
        front, back = back, front
    return RenderedCard(
        render_markdown(front, image_url=image_url),
        render_markdown(back, image_url=image_url),
        extra,
    )


def to_anki_html(text: str, *, image_name: ImageName | None = None) -> str:
    """Render a Markdown text field to sanitised HTML for an Anki note field.

    Math stays TeX for Anki's MathJax: `\\(…\\)` inline, `\\[…\\]` display, with `<`,
    `>` and `&` escaped; all other text is HTML-escaped.

    Args:
        text: the field as written in the deck file.
        image_name: maps a relative image path to the media file name used in
            `src`; by default the path's last component (genanki packs media
            under their base names).
    """
    return _render(text, _Context(anki=True, image_name=image_name))


def to_anki_cloze(text: str, *, image_name: ImageName | None = None) -> str:
    """Like `to_anki_html`, keeping `{{cN::…}}` and `{{cN::…::hint}}` for Anki.

    The answer and hint are rendered as Markdown inside the markers. Any other
    `{{`, `}}` or `::` (in math, say `\\frac{1}{x^{2}}`) is written with a character
    reference (`}&#125;`), which Anki's cloze parser does not take for a marker and
    the browser shows, and MathJax reads, as the same characters.
    """
    return _render(text, _Context(anki=True, cloze="keep", image_name=image_name))


def image_names(text: str) -> list[str]:
    """The relative image paths the text references, in order, without repeats.

    Only paths that `to_anki_html` would embed: remote, `data:`, absolute paths and
    paths with `..` are left out (never read them from disk).
    """
    names: list[str] = []
    for token in _walk(_parse(text)):
        if token.type == "image":
            kind, path = _classify_image(str(token.attrGet("src") or ""))
            if kind == "local" and path not in names:
                names.append(path)
    return names


def formula_problems(text: str) -> list[str]:
    """One message per formula in the text that does not convert cleanly.

    A message names the formula as written, e.g. `$\\foo x$: unknown command \\foo`.
    Formulas inside cloze deletions and hints count. A deletion inside a formula
    (`$x + {{c1::y}}$`) is reported too: it would be TeX, not a deletion.
    """
    problems: list[str] = []
    for token in _walk(_parse(text)):
        if token.type in ("math_inline", "math_block"):
            formula = convert_formula(token.content, bool(token.meta.get("display")))
            found = list(formula.problems)
            if _CLOZE_OPEN.search(token.content):
                found.insert(
                    0,
                    "a cloze deletion inside a formula; put the whole "
                    "formula inside the deletion instead",
                )
            if found:
                message = f"{_as_written(token)}: {'; '.join(found)}"
                if message not in problems:
                    problems.append(message)
    return problems


# --- rendering context -------------------------------------------------------------


@dataclass
class _Context:
    """How one render call treats math, clozes and images (stored in the env)."""

    anki: bool = False
    cloze: ClozeMode = "off"
    active: int = 0
    image_url: ImageUrl | None = None
    image_name: ImageName | None = None
    # (source, limit) -> smallest start from which no cloze end was found; keeps
    # texts full of unterminated `{{c1::` from being rescanned quadratically.
    cloze_misses: dict[tuple[str, int], int] = field(default_factory=dict)


def _context(env: EnvType) -> _Context:
    context = env.get(_ENV_KEY)
    return context if isinstance(context, _Context) else _Context()


def _render(text: str, context: _Context) -> str:
    if context.cloze != "keep":
        return _cleaner().clean(_markdown_html(text, {_ENV_KEY: context}))
    text = text.translate(_KEEP_STRIP)
    cleaned = _cleaner().clean(_markdown_html(text, {_ENV_KEY: context}))
    return _restore_cloze_markers(cleaned)


def _markdown_html(text: str, env: EnvType) -> str:
    """markdown-it's HTML for the text, taking shortcuts where they change nothing.

    Most card fields are one paragraph of prose with some bold and math. For one
    paragraph the block parser only finds that paragraph, so its inline content is
    rendered directly; and inline content with nothing but bold, math and cloze
    markers is rendered here without markdown-it's machinery. The output is the
    same (tests compare both ways on generated text); the time is a fraction.
    """
    content = _single_paragraph(text)
    if content is None:
        return str(_markdown().render(text, env))
    inline = _simple_inline_html(content, _context(env))
    if inline is None:
        inline = _markdown().renderInline(content, env)
    return f"<p>{inline}</p>\n"


def _simple_inline_html(
    src: str, context: _Context, begin: int = 0, end: int | None = None
) -> str | None:
    """The HTML of inline content (`src[begin:end]`) whose only syntax is
    `**strong**`, math, line breaks and Anki's cloze markers (most card text), or
    None for anything else.

    It gives what markdown-it gives: text escaped as its text rule does, a formula
    wherever the math rule finds one (nothing inside it is Markdown), a lone `$`
    as text, each `**` run paired as the emphasis rules pair it, a line break as
    a soft break, and (when keeping cloze markers) each deletion as `_push_cloze`
    writes it, its answer and hint rendered the same way, each on its own. None,
    and markdown-it renders the content, for: a `**` run that could both open and
    close (or neither), an unpaired one, any other run of `*`, a `\\` that starts
    no formula (an escape), spaces around a line break (the newline rule trims
    them or makes a hard break), deletions shown as questions or answers, and all
    other inline syntax.
    """
    end = len(src) if end is None else end
    parts: list[str] = []
    strong = False
    start = i = begin
    while (special := _INLINE_SPECIAL.search(src, i, end)) is not None:
        i = special.start()
        char = src[i]
        if char in "$\\":
            span = _scan_math(src, i, end)
            if span is None:
                if char == "\\":
                    return None
                i += 1  # a `$` that opens no formula is text
                continue
            math = _math_html(span.tex, span.display, span.markup, context)
            parts += (escapeHtml(src[start:i]), math)
            i = start = span.end
        elif char == "*":
            run_of_two = src[i + 1 : i + 2] == "*" != src[i + 2 : i + 3]
            wanted = "close" if strong else "open"
            if not run_of_two or _strong_delimiter(src, i, end) != wanted:
                return None
            parts += (escapeHtml(src[start:i]), "</strong>" if strong else "<strong>")
            strong = not strong
            i = start = i + 2
        elif char == "\n" and src[i - 1] != " " and src[i + 1 : i + 2] not in " \t":
            parts += (escapeHtml(src[start:i]), "\n")
            i = start = i + 1
        elif (
            char == "{"
            and context.cloze == "keep"
            and (opening := _CLOZE_OPEN.match(src, i, end))
        ):
            deletion = _simple_cloze_html(src, context, opening, end)
            if deletion is None:
                return None
            html_text, after = deletion
            parts += (escapeHtml(src[start:i]), html_text)
            i = start = after
        elif char in "{}" and context.cloze in ("off", "keep"):
            i += 1  # braces are text, unless they open a deletion
        else:
            return None
    if strong:
        return None
    parts.append(escapeHtml(src[start:end]))
    return "".join(parts)


def _simple_cloze_html(
    src: str, context: _Context, opening: re.Match[str], end: int
) -> tuple[str, int] | None:
    """The kept deletion `opening` starts and the index after it (as `_cloze_rule`
    and `_push_cloze` make it); its `{` as text if it never closes; None if its
    answer or hint is not simple."""
    found = _find_cloze_end(src, opening.end(), end, context)
    if found is None:
        return "{", opening.start() + 1
    close, hint_at = found
    answer = _simple_inline_html(
        src, context, opening.end(), close if hint_at is None else hint_at
    )
    hint = (
        "" if hint_at is None else _simple_inline_html(src, context, hint_at + 2, close)
    )
    if answer is None or hint is None:
        return None
    marker = f"{_KEEP_OPEN}{int(opening.group(1))}{_KEEP_OPEN_END}"
    hint_html = "" if hint_at is None else _KEEP_HINT + hint
    return f"{marker}{answer}{hint_html}{_KEEP_CLOSE}", close + 2


def _strong_delimiter(src: str, pos: int, end: int) -> Literal["open", "close"] | None:
    """What the `**` at `pos` can do, by CommonMark's flanking rules (as markdown-it
    applies them to `*`, with `end` as the end of the text): "open", "close", or
    None if both or neither."""
    last = src[pos - 1] if pos > 0 else " "
    after = src[pos + 2] if pos + 2 < end else " "
    last_punct = isMdAsciiPunct(ord(last)) or isPunctChar(last)
    next_punct = isMdAsciiPunct(ord(after)) or isPunctChar(after)
    last_space, next_space = isWhiteSpace(ord(last)), isWhiteSpace(ord(after))
    left = not (next_space or (next_punct and not (last_space or last_punct)))
    right = not (last_space or (last_punct and not (next_space or next_punct)))
    if left == right:
        return None
    return "open" if left else "close"


def _single_paragraph(text: str) -> str | None:
    """The paragraph's content if the whole text is one paragraph, else None.

    True when no line could start a block or end the paragraph: every line begins
    (after spaces) with something only inline syntax can use, and no line is blank.
    The content is then the text without the trailing whitespace markdown-it trims.
    None is always safe (the block parser runs), so anything unusual gets None.
    """
    content = text.rstrip(" \t\n")
    if not content or content[0].isspace() or content[-1].isspace():
        return None
    if "\r" in text or "\x00" in text:
        return None  # markdown-it first rewrites these (its normalize rule)
    for line in content.split("\n"):
        if not _INLINE_LINE_START.match(line):
            return None
    return content


def _restore_cloze_markers(cleaned: str) -> str:
    """Write Anki's cloze markers, after breaking up every other `{{`, `}}`, `::`.

    While rendering, the markers are private-use placeholders, so that a `}}` or
    `::` in the rendered text (math, code) can be told apart: each of those gets
    its first character written as a character reference. Anki's cloze parser reads
    the raw field and does not see them; the browser, and so MathJax, reads the
    characters unchanged.
    """
    broken = _CLOZE_LOOKALIKE.sub(lambda m: f"&#{ord(m.group())};", cleaned)
    marked = _KEEP_MARKER.sub(r"{{c\1::", broken)
    return marked.replace(_KEEP_HINT, "::").replace(_KEEP_CLOSE, "}}")


def _parse(text: str) -> list[Token]:
    """Tokens of a text with cloze markers recognised (for inspection only)."""
    return _markdown().parse(text, {_ENV_KEY: _Context(anki=True, cloze="keep")})


def _walk(tokens: Sequence[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from _walk(token.children)


@functools.cache
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False})
    md.enable(["table", "strikethrough"])
    md.inline.ruler.before("escape", "math_inline", _math_inline_rule)
    md.inline.ruler.before("math_inline", "cloze", _cloze_rule)
    md.block.ruler.before(
        "fence",
        "math_block",
        _math_block_rule,
        {"alt": ["paragraph", "reference", "blockquote", "list"]},
    )
    md.core.ruler.push("table_alignment", _table_alignment_classes)
    md.add_render_rule("math_inline", _render_math)
    md.add_render_rule("math_block", _render_math)
    md.add_render_rule("cloze_open", _render_cloze_part)
    md.add_render_rule("cloze_close", _render_cloze_part)
    md.add_render_rule("image", _render_image)
    return md


@functools.cache
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=_HTML_TAGS | _MATHML_TAGS,
        attributes=_ATTRIBUTES,
        allowed_classes=_CLASSES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


# --- math syntax -------------------------------------------------------------------


@dataclass(frozen=True)
class _MathSpan:
    end: int  # index just past the closing delimiter
    tex: str
    display: bool
    markup: str  # the opening delimiter


@functools.lru_cache(maxsize=64)
def _closers(src: str) -> dict[str, list[int]]:
    """Sorted positions of every unescaped closing delimiter in `src`.

    A delimiter is escaped when an odd number of backslashes precedes it (`\\$`;
    `\\\\)` is a TeX line break followed by `)`). Looking closers up here instead of
    scanning forward from every opener keeps prose full of `$` linear.
    """
    found: dict[str, list[int]] = {"$": [], "$$": [], "\\)": [], "\\]": []}
    escaped = -1
    for m in _DELIMITER_SCAN.finditer(src):
        if m.group() == "$":
            if m.start() != escaped:
                found["$"].append(m.start())
                if src.startswith("$", m.end()):
                    found["$$"].append(m.start())
        elif len(m.group()) % 2:
            escaped = m.end()
            after = src[m.end() : m.end() + 1]
            if after in (")", "]"):
                found["\\" + after].append(m.end() - 1)
    return found


def _find_closer(src: str, closer: str, start: int, limit: int) -> int | None:
    positions = _closers(src)[closer]
    index = bisect.bisect_left(positions, start)
    if index < len(positions) and positions[index] + len(closer) <= limit:
        return positions[index]
    return None


def _scan_math(src: str, pos: int, limit: int) -> _MathSpan | None:
    """The formula whose opening delimiter starts at `pos`, if there is one."""
    if src.startswith("$$", pos, limit):
        close = _find_closer(src, "$$", pos + 2, limit)
        if close is None or not src[pos + 2 : close].strip():
            return None
        return _MathSpan(close + 2, src[pos + 2 : close], True, "$$")
    if src.startswith("$", pos, limit):
        start = pos + 1
        if start >= limit or src[start].isspace():
            return None
        close = _find_closer(src, "$", start, limit)
        if close is None or src[close - 1].isspace():
            return None
        if close + 1 < limit and src[close + 1].isdigit():
            return None
        return _MathSpan(close + 1, src[start:close], False, "$")
    for opener, display in (("\\(", False), ("\\[", True)):
        if src.startswith(opener, pos, limit):
            close = _find_closer(src, _CLOSERS[opener], pos + 2, limit)
            if close is None or not src[pos + 2 : close].strip():
                return None
            return _MathSpan(close + 2, src[pos + 2 : close], display, opener)
    return None


def _math_inline_rule(state: StateInline, silent: bool) -> bool:
    if state.src[state.pos] not in "$\\":
        return False
    span = _scan_math(state.src, state.pos, state.posMax)
    if span is None:
        return False
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content = span.tex
        token.markup = span.markup
        token.meta = {"display": span.display}
    state.pos = span.end
    return True


def _math_block_rule(
    state: StateBlock, start_line: int, end_line: int, silent: bool
) -> bool:
    """`$$…$$` or `\\[…\\]` starting a line and closing at the end of a line."""
    if state.is_code_block(start_line):
        return False
    src = state.src
    pos = state.bMarks[start_line] + state.tShift[start_line]
    first_end = state.eMarks[start_line]
    opener = src[pos : pos + 2]
    if opener not in ("$$", "\\[") or pos + 2 > first_end:
        return False
    closer = _CLOSERS[opener]
    lines = [src[pos:first_end]]
    line = start_line
    # Add lines until one holds an unescaped closer; the cap on the number of lines
    # keeps a text of many unclosed `$$` lines from costing quadratic time.
    while True:
        if closer in lines[-1][2 if line == start_line else 0 :]:
            joined = "\n".join(lines)
            if _find_closer(joined, closer, 2, len(joined)) is not None:
                break
        line += 1
        if (
            line >= end_line
            or line - start_line >= MAX_DISPLAY_MATH_LINES
            or state.isEmpty(line)
            or state.sCount[line] < state.blkIndent
        ):
            return False
        lines.append(src[state.bMarks[line] + state.tShift[line] : state.eMarks[line]])
    span = _scan_math(joined, 0, len(joined))
    if span is None:
        return False
    line_end = joined.find("\n", span.end)
    if joined[span.end : len(joined) if line_end < 0 else line_end].strip():
        return False  # text follows on the closing line: leave it to the paragraph
    if silent:
        return True
    state.line = start_line + joined.count("\n", 0, span.end) + 1
    token = state.push("math_block", "math", 0)
    token.block = True
    token.content = span.tex
    token.markup = span.markup
    token.map = [start_line, state.line]
    token.meta = {"display": True}
    return True


def _as_written(token: Token) -> str:
    return f"{token.markup}{token.content}{_CLOSERS.get(token.markup, '')}"


# --- cloze syntax ------------------------------------------------------------------


def _cloze_rule(state: StateInline, silent: bool) -> bool:
    if state.src[state.pos] != "{":
        return False
    context = _context(state.env)
    if context.cloze == "off":
        return False
    opening = _CLOZE_OPEN.match(state.src, state.pos, state.posMax)
    if opening is None:
        return False
    found = _find_cloze_end(state.src, opening.end(), state.posMax, context)
    if found is None:
        return False
    close, hint_at = found
    if not silent:
        _push_cloze(
            state, context, int(opening.group(1)), opening.end(), hint_at, close
        )
    state.pos = close + 2
    return True


def _find_cloze_end(
    src: str, start: int, limit: int, context: _Context
) -> tuple[int, int | None] | None:
    """(index of the closing `}}`, index of the hint's `::` or None)."""
    if src.find("}}", start, limit) < 0:
        return None
    key = (src, limit)
    if context.cloze_misses.get(key, limit + 1) <= start:
        return None
    found = _scan_cloze(src, start, limit, balanced=True) or _scan_cloze(
        src, start, limit, balanced=False
    )
    if found is None:
        context.cloze_misses[key] = min(start, context.cloze_misses.get(key, start))
    return found


def _scan_cloze(
    src: str, start: int, limit: int, *, balanced: bool
) -> tuple[int, int | None] | None:
    depth = 0
    hint_at: int | None = None
    i = start
    while i < limit:
        special = _CLOZE_SPECIAL.search(src, i, limit)
        if special is None:
            return None
        i = special.start()
        char = src[i]
        if char in "$\\":
            span = _scan_math(src, i, limit)
            i = span.end if span else i + (2 if char == "\\" else 1)
        elif char == "`":
            i = _skip_code_span(src, i, limit)
        elif char == "{":
            if balanced:
                depth += 1
            i += 1
        elif char == "}" and depth:
            depth -= 1
            i += 1
        elif char == "}" and src.startswith("}}", i, limit):
            return i, hint_at
        elif (
            char == ":"
            and not depth
            and hint_at is None
            and src.startswith("::", i, limit)
        ):
            hint_at = i
            i += 2
        else:
            i += 1
    return None


def _skip_code_span(src: str, pos: int, limit: int) -> int:
    """Index past the code span opening at `pos` (or past the lone backtick run)."""
    end = pos
    while end < limit and src[end] == "`":
        end += 1
    run = src[pos:end]
    search = end
    while (found := src.find(run, search, limit)) >= 0:
        after = found + len(run)
        if (after >= limit or src[after] != "`") and src[found - 1] != "`":
            return after
        search = after
        while search < limit and src[search] == "`":
            search += 1
    return end


def _push_cloze(
    state: StateInline,
    context: _Context,
    number: int,
    start: int,
    hint_at: int | None,
    close: int,
) -> None:
    """Tokens for one deletion, per the context's cloze mode.

    The answer and hint are tokenized as inline Markdown between `cloze_open` and
    `cloze_close` tokens whose `meta["html"]` is what they render to; nesting them
    keeps emphasis from pairing across the deletion's edges.
    """
    answer_end = close if hint_at is None else hint_at
    old_max = state.posMax

    def part(begin: int, end: int, before: str, after: str) -> None:
        state.push("cloze_open", "", 1).meta = {"html": before}
        if end > begin:
            state.pos, state.posMax = begin, end
            state.md.inline.tokenize(state)
        state.push("cloze_close", "", -1).meta = {"html": after}

    if context.cloze == "keep":
        opening = f"{_KEEP_OPEN}{number}{_KEEP_OPEN_END}"
        state.push("cloze_open", "", 1).meta = {"html": opening}
        part(start, answer_end, "", "")
        if hint_at is not None:
            part(hint_at + 2, close, _KEEP_HINT, "")
        state.push("cloze_close", "", -1).meta = {"html": _KEEP_CLOSE}
    elif number != context.active:
        part(start, answer_end, "", "")
    elif context.cloze == "answer":
        part(start, answer_end, '<span class="cloze cloze-revealed">', "</span>")
    elif hint_at is None:
        state.push("cloze_open", "", 1).meta = {"html": '<span class="cloze">'}
        state.push("text", "", 0).content = CLOZE_HIDDEN
        state.push("cloze_close", "", -1).meta = {"html": "</span>"}
    else:
        part(hint_at + 2, close, '<span class="cloze">[', "]</span>")
    state.posMax = old_max


# --- tables ------------------------------------------------------------------------


def _table_alignment_classes(state: StateCore) -> None:
    """Column alignment as classes: `style` attributes do not pass the sanitiser."""
    for token in state.tokens:
        if token.type in ("th_open", "td_open"):
            style = token.attrs.pop("style", None)
            if isinstance(style, str) and style.startswith("text-align:"):
                token.attrSet("class", "align-" + style.removeprefix("text-align:"))


# --- render rules ------------------------------------------------------------------


def _render_math(
    self: RendererHTML,
    tokens: Sequence[Token],
    idx: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    token = tokens[idx]
    display = bool(token.meta.get("display"))
    body = _math_html(token.content, display, token.markup, _context(env))
    return f'<div class="math-block">{body}</div>\n' if token.block else body


def _math_html(tex: str, display: bool, markup: str, context: _Context) -> str:
    """A formula: TeX for Anki's MathJax, MathML for the web (its source if it fails)."""
    if context.anki:
        return _anki_math(tex, display)
    mathml = convert_formula(tex, display).mathml
    if mathml is None:
        written = f"{markup}{tex}{_CLOSERS.get(markup, '')}"
        return f'<code class="math-error">{html.escape(written)}</code>'
    return mathml


def _anki_math(tex: str, display: bool) -> str:
    opener, closer = ("\\[", "\\]") if display else ("\\(", "\\)")
    return f"{opener}{html.escape(tex, quote=False)}{closer}"


def _render_cloze_part(
    self: RendererHTML,
    tokens: Sequence[Token],
    idx: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    return str(tokens[idx].meta.get("html", ""))


def _render_image(
    self: RendererHTML,
    tokens: Sequence[Token],
    idx: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    token = tokens[idx]
    context = _context(env)
    alt = self.renderInlineAsText(token.children, options, env)
    src = str(token.attrGet("src") or "")
    kind, path = _classify_image(src)
    if kind == "remote":
        return f'<a href="{html.escape(src)}">{html.escape(alt or src)}</a>'
    if kind == "drop":
        return html.escape(alt)
    url: str | None
    if context.anki:
        url = (context.image_name or _default_image_name)(path)
    elif context.image_url is not None:
        url = context.image_url(path)
    else:
        url = src
    if url is None:
        return html.escape(alt)
    title = token.attrGet("title")
    title_attr = f' title="{html.escape(str(title))}"' if title else ""
    return f'<img src="{html.escape(url)}" alt="{html.escape(alt)}"{title_attr}>'


def _default_image_name(path: str) -> str:
    return PurePosixPath(path).name


def _classify_image(src: str) -> tuple[Literal["local", "remote", "drop"], str]:
    """("local", relative path) | ("remote", url) | ("drop", "") for an image src."""
    parts = urlsplit(src)
    if parts.scheme or parts.netloc:
        return ("remote", src) if parts.scheme in ("http", "https") else ("drop", "")
    path = _safe_relative_path(unquote(parts.path))
    return ("local", path) if path else ("drop", "")


def _safe_relative_path(path: str) -> str | None:
    """The normalised path if it stays inside the deck's folder, else None."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return None
    segments = [segment for segment in path.split("/") if segment not in ("", ".")]
    if not segments or ".." in segments:
        return None
    return "/".join(segments)

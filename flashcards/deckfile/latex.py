"""LaTeX formulas of card text to MathML, on the server (no JavaScript typesetter).

Used by `deckfile.render` for the web UI and by `formula_problems` to lint decks.
Conversion is done by latex2mathml; this module adds what it lacks for the LaTeX
people write in flashcards, and judges its output:

- Preprocessing (each mapping has a test): `\\arg` (unknown to latex2mathml) becomes
  `\\operatorname{arg}`; spacing commands inside `\\operatorname{…}` (`arg\\,max`)
  become a thin space, which latex2mathml otherwise turns into an empty operator;
  the environments `aligned`, `alignat`, `alignedat` become `align*`, `gather`,
  `gathered`, `multline` a one-column `matrix`, `dcases` `cases`; `\\label{…}`,
  `\\nonumber` and `\\notag` are dropped, and so is the spacing argument of `\\\\[4pt]`.
- Postprocessing of the element tree: delimiters after `\\big`, `\\Big`, … that
  latex2mathml leaves as command names (`\\big\\{`) become their characters; the
  text-mode escapes `\\% \\& \\$ \\# \\_` inside `\\text{…}` become their characters.
  A fraction, root or script with a part missing (`\\frac{1}`, which latex2mathml
  accepts) is reported.
- Serialising: latex2mathml's own `convert()` unescapes the whole XML string, so a
  `<` inside `\\text{…}` would come out as markup. Here the tree is serialised with
  every text and attribute escaped.
- Accessibility: the result is `<math><semantics>…<annotation
  encoding="application/x-tex">source</annotation></semantics></math>`, so screen
  readers and copy/paste get the TeX source.

A formula "has problems" when latex2mathml raises, when a command or environment it
does not know survives into the output (`\\foo` shown literally), when `&` stands
outside an alignment environment, or when the formula defines macros (`\\newcommand`,
`\\def`: not allowed, a macro bomb would make every render slow) or is too long.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from latex2mathml.converter import convert_to_element
from latex2mathml.symbols_parser import convert_symbol

MAX_FORMULA_CHARS = 5000
FORMULA_CACHE_SIZE = 4096

# Environments latex2mathml lays out (after the renames below). Others are dropped
# silently by latex2mathml (their content is kept), so they are reported.
KNOWN_ENVIRONMENTS = frozenset(
    {
        *(
            f"{name}{star}"
            for name in (
                "matrix",
                "pmatrix",
                "bmatrix",
                "Bmatrix",
                "vmatrix",
                "Vmatrix",
            )
            for star in ("", "*")
        ),
        "smallmatrix",
        "array",
        "cases",
        "split",
        "align",
        "align*",
        "equation",
        "equation*",
    }
)
ENVIRONMENT_RENAMES = {
    "aligned": "align*",
    "alignat": "align*",
    "alignat*": "align*",
    "alignedat": "align*",
    "gather": "matrix",
    "gather*": "matrix",
    "gathered": "matrix",
    "multline": "matrix",
    "multline*": "matrix",
    "dcases": "cases",
}
COMMAND_RENAMES = {
    r"\arg": r"\operatorname{arg}",
    r"\nonumber": "",  # numbering is meaningless on a card; latex2mathml
    r"\notag": "",  # knows these only inside align
}
# Elements that need a fixed number of children; fewer means a lost argument
# (latex2mathml turns `\\frac{1}` into a one-part fraction without complaint).
SCRIPT_ARITY = {
    "mfrac": 2,
    "mroot": 2,
    "msub": 2,
    "msup": 2,
    "munder": 2,
    "mover": 2,
    "msubsup": 3,
    "munderover": 3,
}
# Escapes that are literal characters in text mode; latex2mathml keeps them verbatim.
TEXT_ESCAPES = {"\\%": "%", "\\&": "&", "\\$": "$", "\\#": "#", "\\_": "_"}

_TEX_TOKEN = re.compile(r"\\(?:[A-Za-z]+|.)?|[^\\]+", re.DOTALL)
_ENVIRONMENT = re.compile(r"\\(begin|end)\s*\{([A-Za-z]+\*?)\}")
_COLUMN_COUNT_ARG = re.compile(r"(\\begin\{align\*\})\s*\{\d+\}")
_LABEL = re.compile(r"\\label\s*\{[^{}]*\}")
_ROW_SPACING = re.compile(
    r"(\\\\)\s*\[\s*-?[\d.]+\s*(?:pt|em|ex|mm|cm|in|mu|bp|pc|dd|cc|sp)\s*\]"
)
_OPERATORNAME = re.compile(r"(\\operatorname\*?\s*\{)([^{}]*)\}")
_OPERATOR_SPACE = re.compile(r"\\[,:;! ]|~")
_MACRO_DEFINITION = re.compile(
    r"\\(?:newcommand|renewcommand|providecommand|def|gdef|edef|let"
    r"|DeclareMathOperator|newenvironment|renewenvironment)(?![A-Za-z])"
)
_COMMAND_NAME = re.compile(r"\\[A-Za-z]+|\\(?=\s|$)")
_DROPPED_ATTRIBUTES = frozenset({"href", "style", "class", "id", "xmlns"})
_ENTITY_FREE = re.compile(r"&(?!#x?[0-9A-Fa-f]+;)")


@dataclass(frozen=True)
class Formula:
    """A converted formula: MathML markup (None if it failed) and what is wrong."""

    mathml: str | None
    problems: tuple[str, ...] = ()


@functools.lru_cache(maxsize=FORMULA_CACHE_SIZE)
def convert_formula(tex: str, display: bool) -> Formula:
    """Convert one formula (without its `$` delimiters) to MathML.

    Args:
        tex: the LaTeX source as written between the delimiters.
        display: True for display math (`$$…$$`, `\\[…\\]`): `display="block"`.

    Returns:
        The MathML (a `<math>` element with a TeX annotation), or None as `mathml`
        when the formula cannot be converted; `problems` lists every defect found.
    """
    if len(tex) > MAX_FORMULA_CHARS:
        return Formula(None, (f"longer than {MAX_FORMULA_CHARS} characters",))
    if _MACRO_DEFINITION.search(tex):
        return Formula(None, ("defines a macro (\\newcommand, \\def, …); not allowed",))
    prepared, problems = _prepare(tex)
    try:
        root = convert_to_element(prepared, display="block" if display else "inline")
    except Exception as exc:  # latex2mathml raises many kinds (even StopIteration)
        return Formula(None, (*problems, f"cannot be converted ({_describe(exc)})"))
    problems.extend(_fix_and_check(root))
    return Formula(_serialise(root, tex, display), tuple(dict.fromkeys(problems)))


def _prepare(tex: str) -> tuple[str, list[str]]:
    """Rewrite what latex2mathml does not know; report unknown environments."""
    problems: list[str] = []
    tex = "".join(COMMAND_RENAMES.get(t, t) for t in _TEX_TOKEN.findall(tex))
    tex = _LABEL.sub("", tex)
    tex = _ROW_SPACING.sub(r"\1", tex)
    tex = _OPERATORNAME.sub(
        lambda m: m.group(1) + _OPERATOR_SPACE.sub("\u2009", m.group(2)) + "}", tex
    )

    def environment(m: re.Match[str]) -> str:
        name = ENVIRONMENT_RENAMES.get(m.group(2), m.group(2))
        if name not in KNOWN_ENVIRONMENTS and m.group(1) == "begin":
            problems.append(f"unknown environment {m.group(2)}")
        return f"\\{m.group(1)}{{{name}}}"

    tex = _ENVIRONMENT.sub(environment, tex)
    tex = _COLUMN_COUNT_ARG.sub(r"\1", tex)
    return tex, problems


def _fix_and_check(root: Element) -> list[str]:
    """Repair known latex2mathml slips in place; return the defects that remain."""
    problems: list[str] = []
    for element in root.iter():
        parts = SCRIPT_ARITY.get(element.tag)
        if parts is not None and len(element) != parts:
            problems.append(
                f"missing argument ({element.tag} with {len(element)} of {parts} parts)"
            )
        text = element.text
        if not text:
            continue
        if element.tag == "merror":
            problems.append(f"conversion error: {html.unescape(text)}")
        if element.tag == "mtext":
            for escape, char in TEXT_ESCAPES.items():
                text = text.replace(escape, char)
            # `\ ` arrives as a backslash before the no-break space entity.
            text = text.replace("\\&#x000A0;", "&#x000A0;")
        elif text.startswith("\\"):
            code_point = convert_symbol(text)
            if code_point is not None:
                text = f"&#x{code_point};"
        element.text = text
        if text == "&" and element.tag != "mtext":
            problems.append("`&` outside an alignment environment (aligned, cases, …)")
        for name in _COMMAND_NAME.findall(text):
            if name == "\\":
                problems.append("stray backslash")
            elif element.tag == "mtext":
                problems.append(f"unsupported command {name} inside text")
            else:
                problems.append(f"unknown command {name}")
    return problems


def _serialise(root: Element, tex: str, display: bool) -> str:
    """`<math>` with the converted content and the TeX source as annotation."""
    parts = ['<math display="block">' if display else "<math>", "<semantics>"]
    for child in root:
        _serialise_element(child, parts)
    parts.append('<annotation encoding="application/x-tex">')
    parts.append(html.escape(tex, quote=False))
    parts.append("</annotation></semantics></math>")
    return "".join(parts)


def _serialise_element(element: Element, parts: list[str]) -> None:
    parts.append(f"<{element.tag}")
    for name, value in element.attrib.items():
        if name in _DROPPED_ATTRIBUTES or name.startswith("on"):
            continue  # \href, \style, \class: links and styles are not ours to allow
        parts.append(f' {name}="{_escape(value, quote=True)}"')
    parts.append(">")
    if element.text:
        parts.append(_escape(element.text))
    for child in element:
        _serialise_element(child, parts)
    parts.append(f"</{element.tag}>")
    if element.tail:
        parts.append(_escape(element.tail))


def _escape(text: str, *, quote: bool = False) -> str:
    """Escape text that may hold latex2mathml's `&#x…;` character references.

    latex2mathml writes symbols as references into element text; a bare `&` (from
    `\\text{a & b}`) is a literal character. Decode the references, escape the rest.
    """
    return html.escape(html.unescape(_ENTITY_FREE.sub("&amp;", text)), quote=quote)


def _describe(exc: BaseException) -> str:
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", type(exc).__name__).lower()
    words = words.removesuffix(" error")
    detail = str(exc)
    return f"{words}: {detail}" if detail else words

"""deckfile.render: card text to safe HTML (MathML for the web, MathJax for Anki)."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flashcards.deckfile import render as render_module
from flashcards.deckfile.latex import convert_formula
from flashcards.deckfile.render import (
    RenderedCard,
    formula_problems,
    image_names,
    render_card,
    render_markdown,
    to_anki_cloze,
    to_anki_html,
)
from flashcards.deckfile.spec import CardSpec

MATH = re.compile(r"<math\b[^>]*>")


def maths(html: str) -> list[str]:
    """The opening <math …> tags of the output, in order."""
    return MATH.findall(html)


def cloze(text: str) -> CardSpec:
    return CardSpec(id="c", kind="cloze", cloze=text)


# --- math ---------------------------------------------------------------------------


def test_inline_math_becomes_inline_mathml() -> None:
    html = render_markdown("Energy $E = mc^2$ here.")
    assert maths(html) == ["<math>"]
    assert "<msup><mi>c</mi><mn>2</mn></msup>" in html
    assert html.startswith("<p>Energy <math>")


def test_display_math_is_a_block() -> None:
    html = render_markdown("Sum:\n\n$$\\sum_{i=1}^n i$$\n\nDone.")
    assert maths(html) == ['<math display="block">']
    assert '<div class="math-block"><math display="block">' in html
    assert "<p>Done.</p>" in html


def test_multiline_display_math_ends_the_paragraph_and_ignores_markdown() -> None:
    text = "The determinant of\n$$\n\\begin{vmatrix} a & b \\\\\n- c & d \\end{vmatrix}\n$$"
    html = render_markdown(text)
    assert html.startswith('<p>The determinant of</p>\n<div class="math-block">')
    assert "<ul>" not in html  # "- c" inside the formula is not a list item
    assert html.count("<mtr>") == 2


def test_display_math_inside_a_sentence_stays_in_the_paragraph() -> None:
    html = render_markdown("so $$x = 1$$ holds")
    assert maths(html) == ['<math display="block">']
    assert html.startswith("<p>so <math")
    assert html.rstrip().endswith("holds</p>")


def test_paren_and_bracket_delimiters_are_accepted() -> None:
    html = render_markdown("Inline \\(x_1\\) and display \\[\\frac{a}{b}\\]")
    assert maths(html) == ["<math>", '<math display="block">']
    assert "<mfrac>" in html
    block = render_markdown("\\[\n\\int_0^1 x \\, dx\n\\]")
    assert block.startswith('<div class="math-block"><math display="block">')


def test_mathml_carries_the_tex_source_for_screen_readers() -> None:
    html = render_markdown("$\\alpha < \\beta$")
    assert "<semantics>" in html
    assert (
        '<annotation encoding="application/x-tex">\\alpha &lt; \\beta</annotation>'
        in html
    )


@pytest.mark.parametrize(
    "text",
    [
        "It costs $5 and $6.",
        "From $20,000 to $30,000 a year.",
        "US$5 vs. US$6",
        "A range of $5-$10.",
        "Escaped \\$x\\$ is literal.",
        "Code `$x$` is code.",
        "A lone $ sign.",
        "$ x $ has spaces inside the dollars.",
    ],
)
def test_dollars_in_prose_are_not_math(text: str) -> None:
    """Pandoc's rule: `$` opens only before a non-space, closes only after a
    non-space and not before a digit."""
    html = render_markdown(text)
    assert "<math" not in html
    assert "$" in html


def test_dollar_math_next_to_prose_dollars() -> None:
    html = render_markdown("Pay $5, then solve $x+1=2$.")
    assert html.startswith("<p>Pay $5, then solve <math>")
    assert len(maths(html)) == 1


def test_markdown_does_not_apply_inside_math() -> None:
    html = render_markdown("$a_1 * b_2 * c$ and *em*")
    assert "<em>em</em>" in html
    assert html.count("<em>") == 1
    assert "<msub><mi>a</mi><mn>1</mn></msub>" in html


@pytest.mark.parametrize(
    "tex",
    [
        "a < b",
        "a \\le b \\& c > d",
        "f(x) = \\begin{cases} 1 & x < 0 \\\\ 0 & \\text{otherwise} \\end{cases}",
        "\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}",
        "\\text{if } a<b",
    ],
)
def test_formulas_with_lt_and_amp_convert_and_stay_wellformed(tex: str) -> None:
    assert formula_problems(f"${tex}$") == []
    html = render_markdown(f"${tex}$")
    # No raw `<` or `&` leaks from the formula into the markup.
    assert "<b" not in html.replace("<br", "")
    assert re.search(r"&(?![a-z]+;|#\d+;|#x[0-9a-fA-F]+;)", html) is None
    assert "</semantics></math>" in html


def test_matrix_and_cases_become_tables() -> None:
    html = render_markdown("$\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}$")
    assert html.count("<mtr>") == 2
    assert html.count("<mtd>") == 4
    cases = render_markdown("$\\begin{cases} 1 & x<0 \\\\ 0 & x \\ge 0 \\end{cases}$")
    assert "<mtable>" in cases
    assert "<mo>&lt;</mo>" in cases


COMMON_FORMULAS = [
    "\\frac{a}{b}",
    "\\sum_{i=1}^n x_i",
    "\\mathbb{R}^n",
    "\\mathbf{v}",
    "A^\\top",
    "\\lambda",
    "\\Sigma",
    "\\partial f",
    "\\nabla f",
    "\\mathcal{N}(\\mu, \\sigma^2)",
    "\\sqrt{2}",
    "\\hat{\\theta}",
    "\\arg\\max_\\theta L(\\theta)",
    "\\operatorname{rank}(A)",
    "\\mathrm{d}x",
    "\\left( \\frac{1}{2} \\right)",
    "\\int_0^\\infty e^{-x} \\, \\mathrm{d}x",
    "\\infty",
    "a \\le b \\ge c \\neq d",
    "x \\in A",
    "a \\cdot b",
    "x_1, \\ldots, x_n",
    "\\{ x \\mid x > 0 \\}",
    "\\Pr(A \\mid B)",
    "\\mathbb{E}[X]",
    "\\operatorname{Var}(X)",
    "\\sigma^2",
    "\\boldsymbol{x}",
    "\\text{if } x > 0",
    "M = U \\Sigma V^\\top",
    "\\frac{\\partial L}{\\partial w}",
]


@pytest.mark.parametrize("tex", COMMON_FORMULAS)
def test_common_commands_convert_cleanly(tex: str) -> None:
    assert formula_problems(f"${tex}$") == []
    mathml = convert_formula(tex, False).mathml
    assert mathml is not None
    presentation = mathml.split("<annotation")[0]
    assert "\\" not in presentation, "a command was left unconverted"


@pytest.mark.parametrize(
    ("tex", "expected"),
    [
        # latex2mathml does not know \arg: mapped to \operatorname{arg}
        ("\\arg\\max_x f", "<mo>arg</mo>"),
        # spacing inside \operatorname gave an empty <mo/>: a thin space instead
        ("\\operatorname{arg\\,max}_x", "<mo>arg\u2009max</mo>"),
        # aligned is not a latex2mathml environment: laid out as align*
        (
            "\\begin{aligned} a &= b \\\\ c &= d \\end{aligned}",
            '<mtd columnalign="right">',
        ),
        ("\\begin{gathered} a \\\\ b \\end{gathered}", "<mtable>"),
        # \big\{ came out as the text "\{"
        ("\\big\\{ x \\big\\}", '<mo minsize="1.2em" maxsize="1.2em">{</mo>'),
        # text-mode escapes were kept with their backslash
        ("\\text{50\\% \\& more}", "<mtext>50%&nbsp;&amp;&nbsp;more</mtext>"),
        # \\[2pt] row spacing came out as "[2pt]"
        ("a \\\\[2pt] b", '<mi>a</mi><mspace linebreak="newline"></mspace><mi>b</mi>'),
        ("x \\label{eq:x}", "<mrow><mi>x</mi></mrow>"),
    ],
)
def test_commands_latex2mathml_lacks_are_mapped(tex: str, expected: str) -> None:
    assert formula_problems(f"$${tex}$$") == []
    assert expected in render_markdown(f"$${tex}$$")


def test_text_in_a_formula_cannot_inject_markup() -> None:
    html = render_markdown("$\\text{<b>x</b> & <script>alert(1)</script>}$")
    assert "<script" not in html
    assert "<b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html


def test_unknown_command_is_reported_with_the_formula() -> None:
    assert formula_problems("Here $\\foo x$ and $y$.") == [
        "$\\foo x$: unknown command \\foo"
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("$x^{$", "$x^{$: cannot be converted"),
        ("\\(\\frac{1}\\)", "\\(\\frac{1}\\): missing argument (mfrac with 1 of 2"),
        ("$$\\begin{weird} x \\end{weird}$$", "unknown environment weird"),
        ("$a & b$", "`&` outside an alignment environment"),
        ("$\\newcommand{\\R}{\\mathbb{R}} \\R$", "defines a macro"),
        ("$\\text{\\textbf{b}}$", "unsupported command \\textbf inside text"),
        ("{{c1::$\\bogus$}} text", "$\\bogus$: unknown command \\bogus"),
        ("{{c1::answer::hint $\\nope$}}", "unknown command \\nope"),
    ],
)
def test_formula_problems_are_found(text: str, fragment: str) -> None:
    problems = formula_problems(text)
    assert len(problems) == 1
    assert fragment in problems[0]


def test_cloze_inside_a_formula_is_reported() -> None:
    problems = formula_problems("$x + {{c1::y}}$")
    assert len(problems) == 1
    assert problems[0].startswith("$x + {{c1::y}}$: a cloze deletion inside a formula")


def test_every_bad_formula_gets_a_message() -> None:
    problems = formula_problems("$\\foo$, $\\bar{x}$, \\[\\baz\\] and $x^{$")
    assert [p.split(":")[0] for p in problems] == ["$\\foo$", "\\[\\baz\\]", "$x^{$"]


def test_formula_that_fails_is_shown_as_source() -> None:
    html = render_markdown("Broken $x^{$ here")
    assert '<code class="math-error">$x^{$</code>' in html


# --- sanitising ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "![x](javascript:alert(1))",
        "<a href='javascript:alert(1)'>x</a>",
        '<div style="position:fixed">x</div>',
        "$\\href{javascript:alert(1)}{x}$",
        "$\\style{background:url(x)}{x}$",
        "{{c1::<script>alert(1)</script>}}",
    ],
)
def test_injection_is_neutralised(text: str) -> None:
    card = cloze(text) if text.startswith("{{") else None
    outputs = [render_markdown(text), to_anki_html(text), to_anki_cloze(text)]
    if card is not None:
        rendered = render_card(card, "c1")
        outputs += [rendered.question_html, rendered.answer_html]
    for html in outputs:
        tags = re.findall(r"<[^>]*>", html)  # escaped text shows as &lt;…&gt;
        assert not [t for t in tags if t.startswith(("<script", "<img", "<div s"))]
        assert not [t for t in tags if re.search(r"\bon\w+=|style=", t)]
        assert "javascript" not in " ".join(tags).lower()


def test_raw_html_is_shown_as_text() -> None:
    assert render_markdown("a <b>bold</b> word") == (
        "<p>a &lt;b&gt;bold&lt;/b&gt; word</p>\n"
    )


def test_normal_markdown_survives_sanitising() -> None:
    html = render_markdown(
        "# Title\n\n**bold** *em* ~~gone~~ `code` [link](https://example.org)\n\n"
        "- one\n- two\n\n1. first\n\n> quote\n\n```\npre\n```\n"
    )
    for fragment in (
        "<h1>Title</h1>",
        "<strong>bold</strong>",
        "<em>em</em>",
        "<s>gone</s>",
        "<code>code</code>",
        '<a href="https://example.org" rel="noopener noreferrer">link</a>',
        "<li>one</li>",
        "<ol>",
        "<blockquote>",
        "<pre><code>pre\n</code></pre>",
    ):
        assert fragment in html


def test_table_alignment_becomes_classes() -> None:
    html = render_markdown("| a | b |\n|--:|:-:|\n| 1 | 2 |\n")
    assert '<th class="align-right">a</th>' in html
    assert '<td class="align-center">2</td>' in html
    assert "style" not in html


# --- cards --------------------------------------------------------------------------


def test_basic_card_front_and_reverse() -> None:
    card = CardSpec(
        id="b",
        kind="basic",
        front="What is a **basis**?",
        back="A spanning independent set.",
        reverse=True,
        extra="See $\\dim V$.",
    )
    front = render_card(card, "front")
    assert front == RenderedCard(
        question_html="<p>What is a <strong>basis</strong>?</p>\n",
        answer_html="<p>A spanning independent set.</p>\n",
        extra_html=front.extra_html,
    )
    assert front.extra_html is not None and "<math>" in front.extra_html
    reverse = render_card(card, "reverse")
    assert reverse.question_html == front.answer_html
    assert reverse.answer_html == front.question_html


def test_card_without_extra_has_none() -> None:
    card = CardSpec(id="b", kind="basic", front="Q?", back="A")
    assert render_card(card, "front").extra_html is None


@pytest.mark.parametrize(
    ("card", "slot"),
    [
        (CardSpec(id="b", kind="basic", front="Q?", back="A"), "reverse"),
        (CardSpec(id="b", kind="basic", front="Q?", back="A"), "c1"),
        (cloze("{{c1::x}}"), "c2"),
        (cloze("{{c1::x}}"), "front"),
    ],
)
def test_unknown_slot_is_an_error(card: CardSpec, slot: str) -> None:
    with pytest.raises(ValueError, match="no slot"):
        render_card(card, slot)


def test_cloze_question_and_answer_for_each_slot() -> None:
    card = cloze("The {{c1::mean}} of {{c2::*i.i.d.*}} variables.")
    assert card.slots == ("c1", "c2")
    c1 = render_card(card, "c1")
    assert c1.question_html == (
        '<p>The <span class="cloze">[…]</span> of <em>i.i.d.</em> variables.</p>\n'
    )
    assert c1.answer_html == (
        '<p>The <span class="cloze cloze-revealed">mean</span> of <em>i.i.d.</em>'
        " variables.</p>\n"
    )
    c2 = render_card(card, "c2")
    assert c2.question_html == (
        '<p>The mean of <span class="cloze">[…]</span> variables.</p>\n'
    )
    assert c2.answer_html == (
        '<p>The mean of <span class="cloze cloze-revealed"><em>i.i.d.</em></span>'
        " variables.</p>\n"
    )


def test_cloze_hint_is_shown_on_the_question() -> None:
    card = cloze("Capital of France: {{c1::Paris::a **city**}}.")
    rendered = render_card(card, "c1")
    assert (
        '<span class="cloze">[a <strong>city</strong>]</span>' in rendered.question_html
    )
    assert "Paris" not in rendered.question_html
    assert '<span class="cloze cloze-revealed">Paris</span>' in rendered.answer_html
    assert "city" not in rendered.answer_html


def test_two_deletions_with_the_same_number_are_one_card() -> None:
    card = cloze("{{c1::Rows}} and {{c2::columns}} and {{c1::rank}}.")
    assert card.slots == ("c1", "c2")
    c1 = render_card(card, "c1")
    assert c1.question_html.count('<span class="cloze">[…]</span>') == 2
    assert "columns" in c1.question_html
    assert c1.answer_html.count("cloze-revealed") == 2


@pytest.mark.parametrize(
    "text",
    [
        "Derivative: {{c1::$\\frac{1}{x^{2}}$}}.",
        "Square: {{c1::$x^{2}$}}.",
        "Fraction {{c1::$\\frac{a}{b}$}}.",
        "Set {{c1::$\\{x\\}$}}.",
        "Display {{c1::\\[\\sum_{i}{x_{i}}\\]}}.",
    ],
)
def test_math_inside_a_cloze_keeps_the_cloze_whole(text: str) -> None:
    rendered = render_card(cloze(text), "c1")
    assert '<span class="cloze">[…]</span>.' in rendered.question_html
    assert "<math" not in rendered.question_html
    assert "}}" not in rendered.question_html
    revealed = re.search(
        r'<span class="cloze cloze-revealed">(.*)</span>\.', rendered.answer_html
    )
    assert revealed is not None
    assert revealed.group(1).startswith("<math")
    assert revealed.group(1).endswith("</math>")
    assert formula_problems(text) == []


def test_cloze_with_markdown_and_math_around_it() -> None:
    card = cloze("If $n$ is **large**, {{c1::$\\bar X_n$ is approximately normal}}.")
    rendered = render_card(card, "c1")
    assert rendered.question_html.startswith("<p>If <math>")
    assert '<strong>large</strong>, <span class="cloze">[…]</span>.' in (
        rendered.question_html
    )


def test_nested_deletions() -> None:
    card = cloze("{{c1::Gauss {{c2::1809}}}} published it.")
    c1 = render_card(card, "c1")
    assert c1.question_html == '<p><span class="cloze">[…]</span> published it.</p>\n'
    c2 = render_card(card, "c2")
    assert c2.question_html == (
        '<p>Gauss <span class="cloze">[…]</span> published it.</p>\n'
    )


def test_unbalanced_braces_end_at_the_first_closing_pair_as_anki_does() -> None:
    card = cloze("The set {{c1::{a, b}} is small.")
    assert '<span class="cloze cloze-revealed">{a, b</span> is small.' in (
        render_card(card, "c1").answer_html
    )


def test_cloze_markers_are_not_interpreted_by_render_markdown() -> None:
    assert render_markdown("{{c1::x}}") == "<p>{{c1::x}}</p>\n"


# --- images -------------------------------------------------------------------------


def test_images_resolve_through_image_url() -> None:
    seen: list[str] = []

    def image_url(path: str) -> str | None:
        seen.append(path)
        return f"/media/linear-algebra/{path}" if path != "missing.png" else None

    html = render_markdown(
        '![A plot](img/plot.png "Plot") ![gone](missing.png) ![sp](<a b.png>)',
        image_url=image_url,
    )
    assert seen == ["img/plot.png", "missing.png", "a b.png"]
    assert (
        '<img src="/media/linear-algebra/img/plot.png" alt="A plot" title="Plot">'
        in html
    )
    assert "gone" in html and "missing" not in html
    assert 'src="/media/linear-algebra/a b.png"' in html


def test_images_in_cards_and_clozes_resolve() -> None:
    def image_url(path: str) -> str:
        return f"/m/{path}"

    card = cloze("{{c1::![dog](dog.png)}} is a {{c2::dog}}")
    c2 = render_card(card, "c2", image_url=image_url)
    assert '<img src="/m/dog.png" alt="dog">' in c2.question_html


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "![chart](https://example.org/c.png)",
            '<a href="https://example.org/c.png" rel="noopener noreferrer">chart</a>',
        ),
        ("![pixel](data:image/png;base64,iVBORw0KGgo=)", "pixel"),
        ("![up](../secret.png)", "up"),
        ("![abs](/etc/passwd)", "abs"),
        ("![host](//example.org/x.png)", "host"),
    ],
)
def test_remote_and_unsafe_images_are_not_loaded(text: str, expected: str) -> None:
    calls: list[str] = []

    def image_url(path: str) -> str:
        calls.append(path)
        return path

    html = render_markdown(text, image_url=image_url)
    assert "<img" not in html
    assert expected in html
    assert calls == []


def test_image_names_lists_local_images_once() -> None:
    text = (
        "![a](img/a.png) ![b](<b c.png>) ![a again](./img/a.png) "
        "![r](https://x.org/r.png) ![p](../p.png) {{c1::![d](d.svg)}} `![no](no.png)`"
    )
    assert image_names(text) == ["img/a.png", "b c.png", "d.svg"]


# --- Anki ---------------------------------------------------------------------------


def test_anki_html_uses_mathjax_delimiters_and_escapes() -> None:
    html = to_anki_html("If $a<b$ & $$c > d$$ then <b>\n\n\\[x \\& y\\]")
    assert html == (
        "<p>If \\(a&lt;b\\) &amp; \\[c &gt; d\\] then &lt;b&gt;</p>\n"
        '<div class="math-block">\\[x \\&amp; y\\]</div>\n'
    )


def test_anki_html_keeps_markdown_and_tex_verbatim() -> None:
    html = to_anki_html("**Bayes:** $P(A \\mid B) = \\frac{P(B \\mid A) P(A)}{P(B)}$")
    assert html == (
        "<p><strong>Bayes:</strong> "
        "\\(P(A \\mid B) = \\frac{P(B \\mid A) P(A)}{P(B)}\\)</p>\n"
    )


def test_anki_html_image_names() -> None:
    text = "![plot](figs/plot.png) ![r](https://x.org/r.png)"
    assert '<img src="plot.png" alt="plot">' in to_anki_html(text)
    named = to_anki_html(text, image_name=lambda path: "deck-" + path.replace("/", "-"))
    assert '<img src="deck-figs-plot.png" alt="plot">' in named
    assert '<img src="https' not in named


def test_anki_cloze_keeps_markers_and_renders_inside() -> None:
    text = "The {{c1::**mean**}} of {{c2::$x_i$::a $\\sum$}} and {{c1::rank}}."
    assert to_anki_cloze(text) == (
        "<p>The {{c1::<strong>mean</strong>}} of {{c2::\\(x_i\\)::a \\(\\sum\\)}}"
        " and {{c1::rank}}.</p>\n"
    )


def test_anki_cloze_breaks_up_closing_braces_inside_math() -> None:
    """Anki ends a deletion at the first `}}`; a character reference hides the
    formula's own `}}` from it, and the browser gives MathJax the same text."""
    html = to_anki_cloze("{{c1::$\\frac{1}{x^{2}}$}} and $\\sqrt{a_{b}}$")
    assert html == (
        "<p>{{c1::\\(\\frac{1}{x^{2&#125;}\\)}} and \\(\\sqrt{a_{b&#125;}\\)</p>\n"
    )
    assert re.findall(r"\{\{c\d+::|\}\}", html) == ["{{c1::", "}}"]


def test_anki_cloze_protects_braces_next_to_markers() -> None:
    html = to_anki_cloze("{{c1::{x}}} and {{c2::a::b: c::d}}")
    assert re.findall(r"\{\{c\d+::|\}\}|::", html) == [
        "{{c1::",
        "}}",
        "{{c2::",
        "::",
        "}}",
    ]
    assert "{x&#125;}}" in html


def test_anki_html_does_not_touch_cloze_markers() -> None:
    assert to_anki_html("{{c1::x}}") == "<p>{{c1::x}}</p>\n"


# --- the fast paths (one paragraph; simple inline content) -------------------------

# Pieces that start or end blocks, open inline syntax, or are whitespace of odd kinds:
# texts made of them reach every branch of `_single_paragraph`.
_PIECES = [
    "a", "Bé", "7", "12", " ", "  ", "\t", "\n", "\n\n", "\r\n", "\x00", "\u00a0",
    "*", "**", "_", "-", "+", "=", "#", ">", "<", "&", "&amp;", "|", ":", ".", ")",
    "(", "!", "[", "]", "`", "```", "~", "~~~", "$", "$$", "\\", "\\[", "\\(", "{",
    "}", "{{c1::", "}}", "::", "'", '"', "1. ", "- ", "* ", "***", "---", "===",
    "    ", "| a |", "|---|", "[x]: /u", "![i](p.png)", "<http://x.org>",
]  # fmt: skip
# Pieces of what `_simple_inline_html` renders itself, and of what it must refuse.
_INLINE_PIECES = [
    "a", "b", " ", ".", ",", "!", "?", "'", "é", "…", "\u00a0", "\n", "*", "**",
    "**a**", "$", "$x$", "$$z$$", "\\(y\\)", "\\[w\\]", "$\\frac{1}{x^{2}}$", "x$",
    "\\", "\\*", "`", "_", "{", "}", ":", "::", "{{c1::", "{{c02::", "}}", "{{c1::a::b}}",
    "{{c2::**x**}}", "\x00",
]  # fmt: skip


def _all_renderings(text: str) -> list[str]:
    return [
        render_markdown(text),
        render_card(cloze(text), "c1").question_html if "{{c1::" in text else "",
        to_anki_html(text),
        to_anki_cloze(text),
    ]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=12).map("".join))
def test_one_paragraph_fast_path_renders_as_the_block_parser_does(text: str) -> None:
    fast = _all_renderings(text)
    with mock.patch.object(render_module, "_single_paragraph", return_value=None):
        assert _all_renderings(text) == fast


@settings(max_examples=400, deadline=None)
@given(
    st.tuples(
        st.sampled_from(["a", "The ", "**", "$", "{{c1::"]),
        st.lists(st.sampled_from(_INLINE_PIECES), max_size=16).map("".join),
    ).map("".join)
)
def test_simple_inline_content_renders_as_markdown_it_does(text: str) -> None:
    fast = _all_renderings(text)
    with mock.patch.object(render_module, "_single_paragraph", return_value=None):
        assert _all_renderings(text) == fast


@pytest.mark.parametrize(
    ("text", "fast"),
    [
        ("What is a vector space?", True),
        ("**Bold** start and $x$ math\nsecond line with `code`", True),
        ("Trailing blank lines\n\n  \n", True),
        ("1986 was a year", True),
        ("1. a list", False),
        ("* a list", False),
        ("Heading\n===", False),
        ("para\n\npara", False),
        ("    code", False),
        ("text\n$$\nx\n$$", False),
        ("[ref]: /url", False),
    ],
)
def test_which_texts_take_the_fast_path(text: str, fast: bool) -> None:
    assert (render_module._single_paragraph(text) is not None) == fast


@pytest.mark.parametrize(
    ("content", "html"),
    [
        ("**Basis:** $x_1$ & more", None),  # `&` may start an entity
        ("**Basis:** $x_1 < y$ and", "<strong>Basis:</strong> \\(x_1 &lt; y\\) and"),
        ("a **b** c\nd $5 and $6", "a <strong>b</strong> c\nd $5 and $6"),
        ("{{c1::**mean**::a $\\mu$}}", "{{c1::<strong>mean</strong>::a \\(\\mu\\)}}"),
        ("a*b*", None),
        ("**a **b**", None),
        ("line  \nbreak", None),
        ("\\*not emphasis\\*", None),
    ],
)
def test_simple_inline_content(content: str, html: str | None) -> None:
    anki = render_module._Context(anki=True)
    assert render_module._simple_inline_html(content, anki) == html


def test_simple_inline_content_keeps_cloze_markers() -> None:
    keep = render_module._Context(anki=True, cloze="keep")
    html = render_module._simple_inline_html("{{c01::**mean**::a $\\mu$}} x", keep)
    assert html == "\ue0001\ue001<strong>mean</strong>\ue002a \\(\\mu\\)\ue003 x"
    question = render_module._Context(cloze="question", active=1)
    assert render_module._simple_inline_html("{{c1::mean}}", question) is None

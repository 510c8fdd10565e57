"""Every card of every shipped deck parses, renders, and every formula converts cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from flashcards.deckfile.parse import load_deck_file
from flashcards.deckfile.render import formula_problems, render_card

DECKS = sorted((Path(__file__).resolve().parents[2] / "decks").glob("*.yaml"))


@pytest.mark.parametrize("path", DECKS, ids=lambda p: p.stem)
def test_every_card_renders_with_clean_math(path: Path) -> None:
    spec = load_deck_file(path)
    assert spec.warnings == ()
    problems: list[str] = []
    for card in spec.cards:
        for text in (card.front, card.back, card.cloze, card.extra):
            if text:
                problems += [f"{card.id}: {p}" for p in formula_problems(text)]
        for slot in card.slots:
            rendered = render_card(card, slot)
            for html in (rendered.question_html, rendered.answer_html):
                assert "{{c" not in html, f"{card.id}/{slot}: cloze marker left"
                assert "math-error" not in html, f"{card.id}/{slot}: formula failed"
                assert "<merror" not in html
    assert problems == []


def test_shipped_decks_have_math_that_becomes_mathml() -> None:
    spec = load_deck_file(next(p for p in DECKS if p.stem == "linear-algebra"))
    svd = next(c for c in spec.cards if "svd" in c.id)
    html = "".join(
        render_card(svd, slot).answer_html for slot in svd.slots
    )
    assert "<math" in html and 'encoding="application/x-tex"' in html

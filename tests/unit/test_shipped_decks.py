"""Lint for the decks that ship in `decks/`.

Reads the files with `yaml.safe_load` only (independent of `flashcards.deckfile`),
and checks the editorial rules of issue 5:

- shape: top-level keys, `id` equal to the file stem, a description, >= 25 entries,
  every entry an explicit slug-shaped id that is unique in its deck, only the
  allowed keys, basic entries with front + back, cloze entries with `{{cN::`;
- wording: backs of at most 60 words (each formula counts as one word), fronts that
  are questions (end with "?") or start with one of IMPERATIVE_VERBS, no front
  (or cloze text) repeated within or across decks, reverse cards whose back does
  not give away the bold term of the front;
- tags: lowercase-hyphenated, never empty;
- math: every `$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]` converts with latex2mathml without an
  exception and without an unknown command left in the output; no stray `$`;
  no `}}`/`{{` inside math in a cloze (the cloze parser stops at the first `}}`);
  LaTeX only in block scalars, so YAML never reinterprets a backslash.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml
from latex2mathml.converter import convert

DECKS_DIR = Path(__file__).resolve().parents[2] / "decks"
DECK_FILES = sorted(DECKS_DIR.glob("*.yaml"))
SHIPPED = {"linear-algebra", "probability-statistics", "calculus-backprop", "ai-safety"}

MIN_ENTRIES = 25
MAX_BACK_WORDS = 60
MAX_EXTRA_WORDS = 100

# A front is a question (ends with "?") or an imperative prompt starting with one of:
IMPERATIVE_VERBS = ("State", "Define", "Give", "Name", "Describe", "List", "Write")

DECK_KEYS = {"deck", "id", "description", "tags", "cards"}
BASIC_KEYS = {"id", "front", "back", "reverse", "extra", "tags"}
CLOZE_KEYS = {"id", "cloze", "extra", "tags"}
TEXT_FIELDS = ("front", "back", "cloze", "extra")

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CLOZE = re.compile(r"\{\{c(\d+)::(.*?)\}\}", re.DOTALL)
MATH = re.compile(
    r"\$\$(?P<display>.+?)\$\$"
    r"|\\\[(?P<display2>.+?)\\\]"
    r"|\\\((?P<inline2>.+?)\\\)"
    r"|(?<!\\)\$(?P<inline>[^$]+?)(?<!\\)\$",
    re.DOTALL,
)
UNKNOWN_COMMAND = re.compile(r"\\[A-Za-z]+")
BOLD = re.compile(r"\*\*(.+?)\*\*")
INLINE_VALUE = re.compile(
    r"^\s*(?:-\s+)?(?:front|back|cloze|extra|description|deck):[ \t]+(?P<value>\S.*)$"
)


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: top level must be a mapping"
    return data


DECKS = {path.stem: load(path) for path in DECK_FILES}


def is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def cards(deck: dict[str, Any]) -> list[dict[str, Any]]:
    entries = deck.get("cards")
    assert isinstance(entries, list), "`cards` must be a list"
    return entries


def where(stem: str, card: dict[str, Any]) -> str:
    return f"{stem}.yaml, card {card.get('id')!r}"


def math_spans(text: str) -> list[tuple[str, bool]]:
    """(tex, is_display) for each formula in a Markdown text field."""
    spans = []
    for m in MATH.finditer(text):
        if m.group("display") is not None:
            spans.append((m.group("display"), True))
        elif m.group("display2") is not None:
            spans.append((m.group("display2"), True))
        elif m.group("inline2") is not None:
            spans.append((m.group("inline2"), False))
        else:
            spans.append((m.group("inline"), False))
    return spans


def strip_math(text: str) -> str:
    return MATH.sub(" MATH ", text)


def word_count(text: str) -> int:
    return len(strip_math(text).split())


def normalise(text: str) -> str:
    text = CLOZE.sub(lambda m: m.group(2).split("::")[0], text)
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w$\\^{}]+", " ", text).split())


def all_text_fields() -> list[tuple[str, str, str]]:
    """(where, field, text) for every Markdown field of every shipped deck."""
    fields = []
    for stem, deck in DECKS.items():
        if isinstance(deck.get("description"), str):
            fields.append((f"{stem}.yaml", "description", deck["description"]))
        for card in cards(deck):
            for name in TEXT_FIELDS:
                value = card.get(name)
                if isinstance(value, str):
                    fields.append((where(stem, card), name, value))
    return fields


def test_the_four_shipped_decks_exist() -> None:
    assert set(DECKS) >= SHIPPED, f"missing: {sorted(SHIPPED - set(DECKS))}"


@pytest.mark.parametrize("path", DECK_FILES, ids=lambda p: p.name)
def test_deck_shape(path: Path) -> None:
    deck = DECKS[path.stem]
    assert set(deck) <= DECK_KEYS, f"unknown keys {sorted(set(deck) - DECK_KEYS)}"
    assert is_text(deck.get("deck")), "no display name (`deck`)"
    assert deck.get("id") == path.stem, "deck id must equal the file stem"
    assert is_text(deck.get("description")), "no description"
    assert len(cards(deck)) >= MIN_ENTRIES, f"only {len(cards(deck))} entries"


@pytest.mark.parametrize("path", DECK_FILES, ids=lambda p: p.name)
def test_raw_file_has_no_tabs_and_latex_only_in_block_scalars(path: Path) -> None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        assert "\t" not in line, f"{path.name}:{number}: tab character"
        m = INLINE_VALUE.match(line)
        if m and m.group("value") not in {"|", "|-", ">", ">-"}:
            assert "\\" not in m.group("value"), (
                f"{path.name}:{number}: LaTeX in a flow scalar; use `|` or `>-`"
            )


@pytest.mark.parametrize("path", DECK_FILES, ids=lambda p: p.name)
def test_card_ids_explicit_unique_and_slug_shaped(path: Path) -> None:
    seen: set[str] = set()
    for index, card in enumerate(cards(DECKS[path.stem])):
        assert isinstance(card, dict), f"{path.name}: entry {index} is not a mapping"
        card_id = card.get("id")
        assert isinstance(card_id, str), f"{path.name}: entry {index} has no id"
        assert SLUG.match(card_id), f"{path.name}: id {card_id!r} is not slug-shaped"
        assert card_id not in seen, f"{path.name}: duplicate id {card_id!r}"
        seen.add(card_id)


@pytest.mark.parametrize("path", DECK_FILES, ids=lambda p: p.name)
def test_entry_kinds_and_keys(path: Path) -> None:
    stem = path.stem
    for card in cards(DECKS[stem]):
        if "cloze" in card:
            assert set(card) <= CLOZE_KEYS, f"{where(stem, card)}: {sorted(card)}"
            assert CLOZE.search(str(card["cloze"])), (
                f"{where(stem, card)}: cloze without {{{{cN::…}}}}"
            )
        else:
            assert set(card) <= BASIC_KEYS, f"{where(stem, card)}: {sorted(card)}"
            for name in ("front", "back"):
                assert is_text(card.get(name)), f"{where(stem, card)}: empty {name}"
            assert isinstance(card.get("reverse", False), bool)
        if "extra" in card:
            assert is_text(card["extra"]), f"{where(stem, card)}: empty extra"


@pytest.mark.parametrize("path", DECK_FILES, ids=lambda p: p.name)
def test_cloze_markup_is_well_formed(path: Path) -> None:
    stem = path.stem
    for card in cards(DECKS[stem]):
        text = card.get("cloze")
        if not isinstance(text, str):
            continue
        numbers = sorted({int(m.group(1)) for m in CLOZE.finditer(text)})
        assert numbers == list(range(1, len(numbers) + 1)), (
            f"{where(stem, card)}: cloze numbers {numbers} are not 1..n"
        )
        for m in CLOZE.finditer(text):
            body = m.group(2).split("::")[0]
            assert body.strip(), f"{where(stem, card)}: empty cloze deletion"
            assert len(re.findall(r"(?<!\\)\$", body)) % 2 == 0, (
                f"{where(stem, card)}: deletion {m.group(0)!r} cuts a formula"
            )
        rest = strip_math(CLOZE.sub("", text))
        assert not re.search(r"\{\{|\}\}", rest), (
            f"{where(stem, card)}: stray cloze braces"
        )
        for tex, _ in math_spans(text):
            # The cloze parser ends a deletion at the first `}}`: keep them out of math.
            assert not re.search(r"\{\{|\}\}", tex), (
                f"{where(stem, card)}: `}}}}` or `{{{{` inside math in a cloze: {tex!r}"
            )


@pytest.mark.parametrize("path", DECK_FILES, ids=lambda p: p.name)
def test_backs_are_short(path: Path) -> None:
    stem = path.stem
    for card in cards(DECKS[stem]):
        if "back" in card:
            words = word_count(card["back"])
            assert words <= MAX_BACK_WORDS, f"{where(stem, card)}: back has {words}"
        if "extra" in card:
            words = word_count(card["extra"])
            assert words <= MAX_EXTRA_WORDS, f"{where(stem, card)}: extra has {words}"


@pytest.mark.parametrize("path", DECK_FILES, ids=lambda p: p.name)
def test_fronts_are_questions_or_prompts(path: Path) -> None:
    stem = path.stem
    for card in cards(DECKS[stem]):
        front = card.get("front")
        if not isinstance(front, str):
            continue
        front = front.strip()
        assert front.endswith("?") or front.startswith(IMPERATIVE_VERBS), (
            f"{where(stem, card)}: front is neither a question nor a listed prompt"
        )


@pytest.mark.parametrize("path", DECK_FILES, ids=lambda p: p.name)
def test_reverse_cards_name_a_term_the_back_does_not_repeat(path: Path) -> None:
    stem = path.stem
    for card in cards(DECKS[stem]):
        if not card.get("reverse"):
            continue
        terms = BOLD.findall(card["front"])
        assert terms, f"{where(stem, card)}: reverse card without a **term** in front"
        back = card["back"].casefold()
        for term in terms:
            assert strip_math(term).strip().casefold() not in back, (
                f"{where(stem, card)}: back gives away the term {term!r}"
            )


def test_no_duplicate_fronts_within_or_across_decks() -> None:
    seen: dict[str, str] = {}
    for stem, deck in DECKS.items():
        for card in cards(deck):
            text = card.get("front", card.get("cloze"))
            if not isinstance(text, str):
                continue
            key = normalise(text)
            assert key not in seen, f"{where(stem, card)} repeats {seen[key]}"
            seen[key] = where(stem, card)


@pytest.mark.parametrize("path", DECK_FILES, ids=lambda p: p.name)
def test_tags_are_lowercase_hyphenated(path: Path) -> None:
    stem = path.stem
    deck = DECKS[stem]
    owners: list[tuple[str, Any]] = [(f"{stem}.yaml", deck.get("tags", []))]
    owners += [(where(stem, card), card.get("tags", [])) for card in cards(deck)]
    for owner, tags in owners:
        assert isinstance(tags, list), f"{owner}: tags must be a list"
        for tag in tags:
            assert isinstance(tag, str), f"{owner}: tag {tag!r} is not text"
            assert SLUG.match(tag), f"{owner}: tag {tag!r} is not lowercase-hyphenated"
        assert len(tags) == len(set(tags)), f"{owner}: repeated tag"


def test_every_formula_converts_with_latex2mathml() -> None:
    problems = []
    for owner, name, text in all_text_fields():
        for tex, display in math_spans(text):
            try:
                mathml = convert(tex, display="block" if display else "inline")
            except Exception as exc:  # any failure of the converter is a finding
                problems.append(f"{owner} {name}: {tex!r}: {type(exc).__name__} {exc}")
                continue
            unknown = UNKNOWN_COMMAND.search(mathml)
            if unknown:
                problems.append(f"{owner} {name}: {tex!r}: left {unknown.group(0)}")
        leftover = strip_math(text)
        if re.search(r"(?<!\\)\$", leftover):
            problems.append(f"{owner} {name}: unbalanced `$`")
    assert not problems, "\n".join(problems)


def test_formulas_lost_by_the_seed_are_restored() -> None:
    """The seed scrape dropped these formulas; the decks must state them."""
    text = " ".join(t for owner, _, t in all_text_fields() if "linear-algebra" in owner)
    compact = re.sub(r"\s+", "", text)
    for formula in (
        r"A\mathbf{x}=x_1\mathbf{a}_1+\dots+x_n\mathbf{a}_n",  # matrix times vector
        r"M=U\SigmaV^\top",  # singular value decomposition
        r"A\mathbf{v}=\lambda\mathbf{v}",  # eigenvector equation
        r"A=PDP^{-1}",  # diagonalisation
        r"Q^\topQ=I",  # orthogonal matrix
    ):
        assert formula in compact, f"linear-algebra deck lacks {formula}"

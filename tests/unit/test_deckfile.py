"""deckfile.parse: every file of tests/data/decks/ parses to its spec or its problems.

valid/*.yaml parse to the DeckSpec in VALID (plus the warnings in WARNINGS);
invalid/*.yaml fail with exactly the messages in INVALID, in that order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from flashcards.deckfile import parse as parse_module
from flashcards.deckfile.parse import (
    DEFAULT_MAX_BYTES,
    MAX_ALIAS_NODES,
    derive_card_id,
    id_problem,
    load_deck_file,
    parse_deck,
)
from flashcards.deckfile.spec import CardSpec, DeckFileError, DeckSpec, Problem

DECKS = Path(__file__).resolve().parents[1] / "data" / "decks"
VALID_FILES = sorted((DECKS / "valid").glob("*.yaml"))
INVALID_FILES = sorted((DECKS / "invalid").glob("*.yaml"))


def basic(card_id: str, front: str, back: str, line: int, **more: object) -> CardSpec:
    return CardSpec(
        id=card_id,
        kind="basic",
        front=front,
        back=back,
        line=line,
        **more,  # type: ignore[arg-type]
    )


def cloze(card_id: str, text: str, line: int, **more: object) -> CardSpec:
    return CardSpec(id=card_id, kind="cloze", cloze=text, line=line, **more)  # type: ignore[arg-type]


VALID: dict[str, DeckSpec] = {
    "aliases.yaml": DeckSpec(
        id="aliases",
        name="Aliases",
        tags=("shared", "common"),
        cards=(
            basic(
                "one",
                "Which tags does this card have?",
                "The shared ones.",
                4,
                tags=("shared", "common"),
            ),
            basic(
                "two",
                "Second card",
                "Which tags does this card have?",
                8,
                tags=("shared", "common"),
            ),
        ),
    ),
    "basic.yaml": DeckSpec(
        id="basic",
        name="Basics",
        cards=(
            basic("capital-france", "What is the capital of France?", "Paris", 4),
            basic(
                "boiling-point",
                "At what temperature does water boil at sea level?",
                "100 °C",
                7,
            ),
        ),
    ),
    "bom.yaml": DeckSpec(
        id="bom",
        name="With a byte-order mark",
        cards=(basic("bom", "Does a UTF-8 BOM hurt?", "No.", 3),),
    ),
    "cloze.yaml": DeckSpec(
        id="cloze",
        name="Statistics",
        cards=(
            cloze(
                "clt-statement",
                "The {{c1::central limit theorem}} says that the standardised mean "
                "of {{c2::i.i.d. variables with finite variance::which variables?}} "
                "tends to a normal distribution.",
                3,
                extra="Lindeberg–Lévy form.",
            ),
            cloze(
                "variance",
                "The variance is the "
                "{{c1::expected squared deviation::expectation of what?}}.",
                9,
                tags=("definition",),
            ),
        ),
    ),
    "derived_ids.yaml": DeckSpec(
        id="derived_ids",
        name="Derived ids",
        cards=(
            basic(
                "what-is-a-basis",
                "What is a **basis**?",
                "A spanning, independent set.",
                3,
                id_derived=True,
            ),
            basic(
                "what-is-a-basis-2",
                "What is a basis?",
                "The same question again, so the id collides.",
                5,
                id_derived=True,
            ),
            basic(
                "what-is-a-basis-3",
                "Explicit ids are never taken by derived ones.",
                "ok",
                7,
            ),
            basic(
                "what-is-a-basis-4",
                "What   is a basis?!",
                "Collides twice, skips the explicit -3.",
                10,
                id_derived=True,
            ),
            cloze(
                "the-rank-of-is-the-dimension-of-its-column-space",
                "The {{c1::rank}} of $A$ is the dimension of its column space.",
                12,
                id_derived=True,
            ),
            basic("card", r"$\int_0^1 x\,dx$", r"$\frac12$", 13, id_derived=True),
        ),
    ),
    "described.yaml": DeckSpec(
        id="linear-algebra",
        name="Linear algebra",
        description="Core definitions.\n\nWith a *second* paragraph.",
        tags=("math", "linear-algebra"),
        cards=(
            basic(
                "basis",
                "What is a **basis** of a vector space?",
                "A linearly independent set of vectors that spans the space:\n"
                r"every vector is exactly one combination $\sum_i c_i b_i$.",
                9,
                tags=("definition",),
                reverse=True,
                extra="Optional remarks shown after the answer.",
            ),
        ),
    ),
    "math.yaml": DeckSpec(
        id="math",
        name="Math",
        cards=(
            basic("euler", "State Euler's identity.", r"$$e^{i\pi} + 1 = 0$$", 4),
            basic(
                "sum-formula",
                r"What is $\sum_{k=1}^n k$?",
                r"$\frac{n(n+1)}{2}$, proved by pairing \(k\) with \(n + 1 - k\):"
                "\n"
                r"\[ 2S = n(n+1) \]",
                9,
            ),
            basic(
                "gauss",
                r"Write the Gaussian density with mean $\mu$ and standard deviation "
                r"$\sigma$.",
                "$$\n"
                r"\varphi(x) = \frac{1}{\sigma\sqrt{2\pi}}"
                "\n"
                r"  \exp\!\left(-\frac{(x-\mu)^2}{2\sigma^2}\right)"
                "\n$$\n\nCode, indented:\n\n    f = lambda x: exp(-x**2 / 2)",
                14,
            ),
        ),
    ),
    "no_cards.yaml": DeckSpec(id="no_cards", name="Empty for now", cards=()),
    "reverse.yaml": DeckSpec(
        id="spanish-vocab",
        name="Vocabulary::Spanish",
        cards=(
            basic("hola", "hola", "hello", 4, reverse=True),
            basic("adios", "adiós", "goodbye", 8),
            basic("gracias", "gracias", "thank you", 12, reverse=True),
        ),
    ),
    "tab_in_block_scalar.yaml": DeckSpec(
        id="tab_in_block_scalar",
        name="Tabs in a block scalar are text",
        cards=(
            basic(
                "makefile",
                "How does a Makefile recipe line start?",
                "With a tab:\n\n\tcc -o app main.c",
                3,
                extra="quoted continuation",
            ),
        ),
    ),
    "unicode.yaml": DeckSpec(
        id="unicode-deck",
        name="Ελληνικά und Deutsch",
        description="Ünïcödé everywhere — 日本語 too.",
        tags=("sprachen", "言語"),
        cards=(
            basic("groesse", "Was heißt „Größe“?", "size — μέγεθος", 6),
            basic("emoji", "Which animal is 🐙?", "An octopus (タコ).", 9),
        ),
    ),
}

PIN = "run `flashcards ids derived_ids.yaml` to pin it"
WARNINGS: dict[str, list[str]] = {
    "derived_ids.yaml": [
        f"derived_ids.yaml:3: no id: derived 'what-is-a-basis' from the front; {PIN}",
        f"derived_ids.yaml:5: no id: derived 'what-is-a-basis-2' from the front; {PIN}",
        f"derived_ids.yaml:10: no id: derived 'what-is-a-basis-4' from the front; {PIN}",
        "derived_ids.yaml:12: no id: derived "
        "'the-rank-of-is-the-dimension-of-its-column-space' from the cloze text; "
        f"{PIN}",
        f"derived_ids.yaml:13: no id: derived 'card' from the front; {PIN}",
    ],
    "no_cards.yaml": ["no_cards.yaml:2: 'cards': the deck has no cards"],
}

CLOZE_HINT = "(a card has 'front' and 'back', or 'cloze')"
INVALID: dict[str, list[str]] = {
    "billion_laughs.yaml": [
        "billion_laughs.yaml:6: aliases expand to more than 100000 nodes",
    ],
    "cloze_without_number.yaml": [
        "cloze_without_number.yaml:4: card 'clt': 'cloze': has no cloze deletion; "
        "mark one like {{c1::answer}}",
        "cloze_without_number.yaml:6: card 'zero': 'cloze': cloze numbers start "
        "at 1 ({{c1::...}})",
    ],
    "control_character.yaml": [
        "control_character.yaml:4: control character U+0007 is not allowed in a "
        "deck file",
    ],
    "duplicate_card_id.yaml": [
        "duplicate_card_id.yaml:9: card 'basis': 'id': duplicate card id "
        "(first at line 3)",
    ],
    "duplicate_key.yaml": [
        "duplicate_key.yaml:6: card 'basis': duplicate key 'back' (first at line 5)",
    ],
    "empty_back.yaml": [
        "empty_back.yaml:5: card 'basis': 'back': must not be empty",
        "empty_back.yaml:8: card 'span': 'back': must not be empty",
    ],
    "empty_file.yaml": [
        "empty_file.yaml: the file is empty; a deck needs 'deck:' and 'cards:'",
    ],
    "id_with_slash.yaml": [
        "id_with_slash.yaml:2: 'id': must not contain '/' or '\\'",
        "id_with_slash.yaml:4: card 'maps/linear': 'id': must not contain '/' or '\\'",
    ],
    "id_with_space.yaml": [
        "id_with_space.yaml:3: card 'linear map': 'id': must not contain spaces",
    ],
    "missing_deck.yaml": [
        "missing_deck.yaml:2: 'deck': is required (the deck's display name)",
    ],
    "non_utf8.yaml": [
        "non_utf8.yaml:4: not valid UTF-8 (byte 0xe9 at offset 59); "
        "save the file as UTF-8",
        "non_utf8.yaml:7: not valid UTF-8 (byte 0xef at offset 105); "
        "save the file as UTF-8",
        "non_utf8.yaml:8: not valid UTF-8 (byte 0xef at offset 121); "
        "save the file as UTF-8",
    ],
    "not_a_mapping.yaml": [
        "not_a_mapping.yaml:1: the file must be a mapping with 'deck:' and "
        "'cards:', not a list",
    ],
    "number_as_text.yaml": [
        "number_as_text.yaml:5: card 'answer': 'back': must be text, not a number; "
        'put it in quotes: "42"',
        "number_as_text.yaml:7: card 'switch': 'front': must be text, not "
        'true/false; put it in quotes: "yes"',
        "number_as_text.yaml:8: card 'switch': 'back': must be text, not a date; "
        'put it in quotes: "2024-01-01"',
    ],
    "several_problems.yaml": [
        "several_problems.yaml:1: 'deck': must not be empty",
        "several_problems.yaml:2: 'id': must not contain spaces",
        "several_problems.yaml:3: 'tags': tag 'two words' must not contain spaces "
        "(Anki splits tags at spaces); write 'two-words'",
        "several_problems.yaml:7: card 'first': 'back': must not be empty",
        "several_problems.yaml:8: card 'first': 'id': duplicate card id "
        "(first at line 5)",
        "several_problems.yaml:9: card 'first': 'front': must be text, not a "
        'number; put it in quotes: "1"',
        "several_problems.yaml:11: card 'first': 'reverse': must be true or false, "
        "not text",
        "several_problems.yaml:12: card 'no-deletion-here': 'cloze': has no cloze "
        "deletion; mark one like {{c1::answer}}",
        "several_problems.yaml:13: card 'no-deletion-here': 'back': not allowed in "
        f"a cloze card {CLOZE_HINT}",
        "several_problems.yaml:14: card 'only-a-front': 'back': is required",
        "several_problems.yaml:15: card 'über': 'id': must contain only ASCII "
        "letters, digits and - _ . : (found 'ü')",
        "several_problems.yaml:18: card 'über': 'tags': a tag must be text, not a "
        "number",
        "several_problems.yaml:19: a card must be a mapping with 'front' and "
        "'back', or 'cloze'; found text",
        "several_problems.yaml:21: card 'ok': unknown key 'frnt' "
        "(did you mean 'front'?)",
    ],
    "string_as_list.yaml": [
        "string_as_list.yaml:2: 'tags': must be a list (like [a, b]), not text",
        "string_as_list.yaml:7: card 'basis': 'tags': must be a list (like [a, b]), "
        "not text",
    ],
    "syntax_error.yaml": [
        "syntax_error.yaml:4: invalid YAML: mapping values are not allowed in this "
        "context (text containing ': ' needs quotes or a | block)",
    ],
    "tabs.yaml": [
        "tabs.yaml:5: tab in indentation; indent with spaces",
        "tabs.yaml:7: tab in indentation; indent with spaces",
    ],
    "too_deep.yaml": ["too_deep.yaml:4: nested deeper than 20 levels"],
    "two_documents.yaml": [
        "two_documents.yaml:3: a deck file holds one YAML document; found another",
    ],
    "unknown_key.yaml": [
        "unknown_key.yaml:2: unknown key 'desciption' (did you mean 'description'?)",
        "unknown_key.yaml:6: card 'basis': unknown key 'bakc' (did you mean 'back'?)",
        "unknown_key.yaml:7: card 'basis': unknown key 'colour' "
        "(allowed: id, front, back, cloze, extra, reverse, tags)",
    ],
    "unsafe_tag.yaml": [
        "unsafe_tag.yaml:1: tag '!!python/object/apply:os.system' is not allowed; "
        "deck files use plain YAML",
        "unsafe_tag.yaml:1: 'deck': must be text, not a list",
        "unsafe_tag.yaml:4: tag '!custom' is not allowed; deck files use plain YAML",
    ],
    "utf16.yaml": ["utf16.yaml: the file is UTF-16; save it as UTF-8"],
}


def parse_file(path: Path) -> DeckSpec:
    return parse_deck(path.read_bytes(), source=path.name, default_id=path.stem)


def problems_of(data: bytes, *, source: str = "x.yaml", **kwargs: object) -> list[str]:
    with pytest.raises(DeckFileError) as caught:
        parse_deck(data, source=source, default_id="x", **kwargs)  # type: ignore[arg-type]
    return [str(problem) for problem in caught.value.problems]


def test_every_corpus_file_has_an_expectation() -> None:
    assert {p.name for p in VALID_FILES} == set(VALID)
    assert {p.name for p in INVALID_FILES} == set(INVALID)


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: p.name)
def test_valid_file_parses_to_its_spec(path: Path) -> None:
    spec = parse_file(path)
    assert [str(w) for w in spec.warnings] == WARNINGS.get(path.name, [])
    assert spec.source == path.name
    assert spec.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (
        dataclasses.replace(spec, source="", content_hash="", warnings=())
        == (VALID[path.name])
    )


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.name)
def test_invalid_file_reports_exactly_its_problems(path: Path) -> None:
    with pytest.raises(DeckFileError) as caught:
        parse_file(path)
    assert [str(p) for p in caught.value.problems] == INVALID[path.name]
    assert str(caught.value) == "\n".join(INVALID[path.name])


@pytest.mark.parametrize(
    "path", VALID_FILES + INVALID_FILES, ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_pure_python_loader_gives_the_same_result(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without libyaml, PyYAML's own SafeLoader reads the files the same way."""

    def outcome() -> object:
        try:
            return parse_file(path)
        except DeckFileError as error:
            # PyYAML and libyaml word syntax errors differently.
            return [str(p).replace(" in this context", " here") for p in error.problems]

    with_c = outcome()
    monkeypatch.setattr(parse_module, "_Loader", yaml.SafeLoader)
    assert outcome() == with_c


def test_problem_fields_locate_file_line_card_and_field() -> None:
    with pytest.raises(DeckFileError) as caught:
        parse_file(DECKS / "invalid" / "empty_back.yaml")
    assert caught.value.problems[0] == Problem(
        "empty_back.yaml", 5, "must not be empty", "basis", "back"
    )


def test_load_deck_file_names_the_path_as_given_and_defaults_the_id(
    tmp_path: Path,
) -> None:
    path = tmp_path / "my-deck.yaml"
    path.write_text("deck: Mine\ncards:\n  - id: a\n    front: f\n    back: ''\n")
    with pytest.raises(DeckFileError) as caught:
        load_deck_file(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:5: card 'a': 'back': must not be empty"
    ]
    path.write_text("deck: Mine\ncards:\n  - id: a\n    front: f\n    back: b\n")
    spec = load_deck_file(path)
    assert (spec.id, spec.source) == ("my-deck", str(path))


def test_a_file_name_that_is_no_valid_id_needs_an_id_line() -> None:
    data = b"deck: D\ncards: []\n"
    with pytest.raises(DeckFileError) as caught:
        parse_deck(data, source="my deck.yaml", default_id="my deck")
    assert [str(p) for p in caught.value.problems] == [
        "my deck.yaml: 'id': the deck id 'my deck' taken from the file name must "
        "not contain spaces; add an 'id:' line"
    ]
    assert parse_deck(b"id: d\n" + data, source="a b", default_id="a b").id == "d"


# --- limits -----------------------------------------------------------------------


def test_default_size_limit_is_five_megabytes() -> None:
    assert DEFAULT_MAX_BYTES == 5 * 1024 * 1024


def test_data_over_the_limit_is_refused_before_parsing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_yaml(*args: object) -> None:
        raise AssertionError("the YAML parser must not run")

    monkeypatch.setattr(parse_module, "_Loader", no_yaml)
    assert problems_of(b"deck: x\n" * 10, max_bytes=40) == [
        "x.yaml: file too large: 80 bytes (the limit is 40 bytes)"
    ]


def test_a_file_over_the_limit_is_neither_read_nor_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as file:
        file.truncate(8 * 1024**3)  # sparse: 8 GiB that take no disk space

    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parse_deck must not be called")

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file must not be opened")

    monkeypatch.setattr(parse_module, "parse_deck", no_parse)
    monkeypatch.setattr(Path, "open", no_open)
    with pytest.raises(DeckFileError) as caught:
        load_deck_file(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}: file too large: {8 * 1024**3} bytes (the limit is 5242880 bytes)"
    ]


def test_a_configured_limit_applies_to_files(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_bytes(b"deck: D\ncards: []\n")
    assert load_deck_file(path, max_bytes=1000).name == "D"
    with pytest.raises(DeckFileError, match="the limit is 10 bytes"):
        load_deck_file(path, max_bytes=10)


def test_a_folder_is_not_a_deck_file(tmp_path: Path) -> None:
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    with pytest.raises(DeckFileError, match="is not a regular file"):
        load_deck_file(folder)


def billion_laughs(levels: int, width: int = 10) -> bytes:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    lines.append(f"deck: *a{levels - 1}\ncards: *a{levels - 1}")
    return "\n".join(lines).encode()


def test_billion_laughs_fails_fast_in_little_memory() -> None:
    data = billion_laughs(levels=30)  # 10**30 nodes once expanded
    tracemalloc.start()
    started = time.perf_counter()
    try:
        messages = problems_of(data)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert messages == [
        f"x.yaml:5: aliases expand to more than {MAX_ALIAS_NODES} nodes"
    ]
    assert seconds < 0.5
    assert peak < 5 * 1024 * 1024


def test_the_alias_budget_counts_expanded_nodes_not_alias_uses() -> None:
    # Many aliases of a small node are fine; a few of a huge one are not.
    shared = "tags: &t [a, b]\n" + "".join(
        f"  - {{id: c{i}, front: f, back: b, tags: *t}}\n" for i in range(2000)
    )
    spec = parse_deck(
        (
            "deck: D\n"
            + shared.replace("tags: &t [a, b]\n", "tags: &t [a, b]\ncards:\n")
        ).encode(),
        source="x",
        default_id="x",
    )
    assert len(spec.cards) == 2000


@pytest.mark.parametrize("depth", [21, 999, 1_000_000])
def test_deep_flow_nesting_fails_fast(depth: int) -> None:
    data = b"deck: D\ncards: " + b"[" * depth + b"]" * depth + b"\n"
    started = time.perf_counter()
    assert problems_of(data) == ["x.yaml:2: nested deeper than 20 levels"]
    assert time.perf_counter() - started < 0.5


def test_deep_block_nesting_fails_fast() -> None:
    lines = [" " * level + f"k{level}:" for level in range(2000)]
    data = ("deck: D\ncards: []\nnested:\n" + "\n".join(lines) + " x\n").encode()
    assert problems_of(data) == ["x.yaml:24: nested deeper than 20 levels"]


def test_recursive_and_undefined_aliases_are_refused() -> None:
    assert problems_of(b"deck: D\ncards: &c [*c]\n") == [
        "x.yaml:2: alias '*c' refers to its own parent"
    ]
    assert problems_of(b"deck: D\ncards: *nowhere\n") == [
        "x.yaml:2: alias '*nowhere' has no anchor '&nowhere' above"
    ]


def test_merge_keys_are_not_supported() -> None:
    data = b"deck: D\ncards:\n  - &base {front: f, back: b, id: a}\n  - <<: *base\n"
    assert problems_of(data) == [
        "x.yaml:4: merge keys ('<<') are not supported; write the keys out",
        "x.yaml:4: needs 'front' and 'back', or 'cloze'",
    ]


# --- characters and lines -----------------------------------------------------


def test_crlf_files_parse_with_correct_line_numbers() -> None:
    data = b"deck: D\r\ncards:\r\n  - id: a\r\n    front: f\r\n    back: ''\r\n"
    assert problems_of(data) == ["x.yaml:5: card 'a': 'back': must not be empty"]


def test_utf8_byte_order_mark_is_accepted_and_hashed_as_given() -> None:
    data = b"\xef\xbb\xbfdeck: D\ncards: []\n"
    spec = parse_deck(data, source="x", default_id="x")
    assert spec.name == "D"
    assert spec.content_hash == hashlib.sha256(data).hexdigest()


def test_many_lines_of_bad_bytes_are_summarised() -> None:
    data = b"deck: D\ncards: []\n" + b"# caf\xe9\n" * 15
    messages = problems_of(data)
    assert len(messages) == 11
    assert messages[0] == (
        "x.yaml:3: not valid UTF-8 (byte 0xe9 at offset 23); save the file as UTF-8"
    )
    assert messages[-1] == "x.yaml:13: not valid UTF-8 here and on 4 more lines"


def test_bad_bytes_do_not_hide_other_problems() -> None:
    data = b"deck: D\ncards:\n  - id: a\n    front: caf\xe9\n    back:\n"
    assert problems_of(data) == [
        "x.yaml:4: not valid UTF-8 (byte 0xe9 at offset 39); save the file as UTF-8",
        "x.yaml:5: card 'a': 'back': must not be empty",
    ]


def test_tab_indentation_is_reported_for_every_line() -> None:
    data = b"deck: D\ncards:\n\t- id: a\n\t  front: f\n"
    assert problems_of(data) == [
        "x.yaml:3: tab in indentation; indent with spaces",
        "x.yaml:4: tab in indentation; indent with spaces",
    ]


# --- values -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "deck: 12",
            "x.yaml:1: 'deck': must be text, not a number; put it in quotes: \"12\"",
        ),
        ("deck: [a]", "x.yaml:1: 'deck': must be text, not a list"),
        (
            "deck: 'A::'",
            "x.yaml:1: 'deck': has an empty part in 'A::'; subdecks are "
            "written 'Parent::Child'",
        ),
        (
            "deck: D\nid: 7",
            "x.yaml:2: 'id': must be text, not a number; put it in quotes: \"7\"",
        ),
        ("deck: D\nid: -x", "x.yaml:2: 'id': must start with a letter or a digit"),
        (
            "deck: D\nid: " + "x" * 101,
            "x.yaml:2: 'id': must not be longer than 100 characters",
        ),
        (
            "deck: D\ndescription: {a: b}",
            "x.yaml:2: 'description': must be text, not a mapping",
        ),
        ("deck: D\ntags: [a, '']", "x.yaml:2: 'tags': a tag must not be empty"),
    ],
)
def test_deck_level_values(yaml_text: str, message: str) -> None:
    assert message in problems_of(f"{yaml_text}\ncards: []\n".encode())


@pytest.mark.parametrize(
    ("card", "message"),
    [
        (
            "{id: a, cloze: '{{c1::x}}', front: f}",
            "'front': not allowed in a cloze card",
        ),
        ("{id: a, cloze: '{{c1::x}}', reverse: true}", "'reverse': not allowed"),
        ("{id: a, back: b}", "card 'a': 'front': is required"),
        ("{id: a}", "card 'a': needs 'front' and 'back', or 'cloze'"),
        (
            "{id: a, front: f, back: b, reverse: 1}",
            "'reverse': must be true or false, not a number",
        ),
        ("{id: a, front: f, back: b, extra: [x]}", "'extra': must be text, not a list"),
        ("{id: a, front: [f], back: b}", "'front': must be text, not a list"),
        ("{id: '', front: f, back: b}", "card '': 'id': must not be empty"),
        ("{id: , front: f, back: b}", "'id': must not be empty"),
        (
            "{id: a, front: f, back: b, tags: [a b]}",
            "tag 'a b' must not contain spaces",
        ),
        ("{id: a, front: f, back: b, [k]: v}", "a key must be a name, not a list"),
        ("{front: '   ', back: b}", "'front': must not be empty"),
        ("{id: a, front: f, back: !!binary aGk=}", "tag '!!binary' is not allowed"),
        (
            "{id: a, front: 1:30, back: b}",
            "'front': must be text, not a number; put it in quotes: \"1:30\"",
        ),
        ("{id: a, front: null, back: b}", "'front': must not be empty"),
        ("{id: a, front: f, back: 3.5}", "'back': must be text, not a number"),
        ("{id: a, cloze: 5}", "'cloze': must be text, not a number"),
    ],
)
def test_card_values(card: str, message: str) -> None:
    messages = problems_of(f"deck: D\ncards:\n  - {card}\n".encode())
    assert any(message in m for m in messages), messages


def test_cards_must_be_a_list() -> None:
    assert problems_of(b"deck: D\ncards:\n") == [
        "x.yaml:2: 'cards': must be a list of cards, not empty; write 'cards: []' "
        "for a deck without cards"
    ]
    assert problems_of(b"deck: D\n") == [
        "x.yaml:1: 'cards': is required (the list of cards)"
    ]


def test_optional_values_may_be_empty_and_tags_are_deduplicated() -> None:
    spec = parse_deck(
        b"deck: D\ndescription:\ntags:\ncards:\n"
        b"  - {id: a, front: f, back: b, extra: , tags: [x, y, x]}\n",
        source="x",
        default_id="x",
    )
    assert (spec.description, spec.tags) == (None, ())
    assert (spec.cards[0].extra, spec.cards[0].tags) == (None, ("x", "y"))


def test_yaml_booleans_for_reverse() -> None:
    data = b"deck: D\ncards:\n" + b"".join(
        b"  - {id: c%d, front: f, back: b, reverse: %s}\n" % (i, word)
        for i, word in enumerate([b"true", b"yes", b"On", b"false", b"no", b"OFF"])
    )
    spec = parse_deck(data, source="x", default_id="x")
    assert [c.reverse for c in spec.cards] == [True, True, True, False, False, False]


def test_text_keeps_leading_spaces_and_loses_trailing_whitespace() -> None:
    data = b"deck: D\ncards:\n  - id: a\n    front: |2+\n          code\n\n\n    back: 'b  '\n"
    card = parse_deck(data, source="x", default_id="x").cards[0]
    assert (card.front, card.back) == ("    code", "b")


def test_problems_come_sorted_by_line() -> None:
    data = b"deck: D\ncards:\n  - {id: a, front: f, back: ''}\ncolour: red\n"
    assert problems_of(data) == [
        "x.yaml:3: card 'a': 'back': must not be empty",
        "x.yaml:4: unknown key 'colour' (allowed: deck, id, description, tags, cards)",
    ]


def test_a_typo_of_a_required_key_is_reported_once() -> None:
    data = b"dek: D\ncadrs: []\n"
    assert problems_of(data) == [
        "x.yaml:1: unknown key 'dek' (did you mean 'deck'?)",
        "x.yaml:2: unknown key 'cadrs' (did you mean 'cards'?)",
    ]


def test_a_card_without_id_or_text_has_no_name_in_its_problems() -> None:
    assert problems_of(b"deck: D\ncards:\n  - {extra: x}\n") == [
        "x.yaml:3: needs 'front' and 'back', or 'cloze'"
    ]


# --- ids ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What is a **basis** of a vector space?", "what-is-a-basis-of-a-vector-space"),
        ("Größe und Übermaß", "grosse-und-ubermass"),
        ("Define $\\mathbb{R}^n$ and \\(x\\) here", "define-and-here"),
        ("$$\\int$$", "card"),
        ("Ελληνικά", "card"),
        ("The {{c1::rank::a number}} of a matrix", "the-rank-of-a-matrix"),
        ("See [the docs](https://x.org/a_b) and ![img](p.png)", "see-the-docs-and-img"),
        ("<b>Bold</b>&nbsp;text", "bold-nbsp-text"),
        ("It costs $5 and $10", "it-costs-5-and-10"),
        (
            "one two three four five six seven eight nine ten eleven twelve",
            "one-two-three-four-five-six-seven-eight-nine-ten",
        ),
        ("x" * 60, "x" * 48),
        ("snake_case and kebab-case", "snake-case-and-kebab-case"),
    ],
)
def test_derive_card_id(text: str, expected: str) -> None:
    assert derive_card_id(text) == expected
    assert id_problem(expected) is None
    assert len(expected) <= 48


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("basis", None),
        ("Basis_2.v1:x-y", None),
        ("", "must not be empty"),
        ("a b", "must not contain spaces"),
        ("a\tb", "must not contain spaces"),
        ("a/b", "must not contain '/' or '\\'"),
        ("a\\b", "must not contain '/' or '\\'"),
        ("a" * 100, None),
        ("a" * 101, "must not be longer than 100 characters"),
        ("größe", "must contain only ASCII letters, digits and - _ . : (found 'ö')"),
        (".hidden", "must start with a letter or a digit"),
        ("a#b", "must contain only ASCII letters, digits and - _ . : (found '#')"),
    ],
)
def test_id_problem(value: str, reason: str | None) -> None:
    assert id_problem(value) == reason


def test_a_deck_name_longer_than_the_column_is_refused() -> None:
    from flashcards.deckfile import DeckFileError as Error
    from flashcards.deckfile.parse import parse_deck as parse

    name = "N" * 301
    data = f"deck: {name}\ncards:\n  - id: a\n    front: Q?\n    back: A\n".encode()
    with pytest.raises(Error) as caught:
        parse(data, source="long.yaml", default_id="long")
    assert [str(p) for p in caught.value.problems] == [
        "long.yaml:1: 'deck': is 301 characters long; a deck name may have at most 300"
    ]
    assert parse(data.replace(name.encode(), b"N" * 300), source="ok.yaml",
                 default_id="ok").name == "N" * 300

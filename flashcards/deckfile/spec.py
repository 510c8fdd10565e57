"""Immutable values a validated deck file turns into: DeckSpec and CardSpec.

The parser (deckfile.parse) builds them; the import service upserts them into the
database by their stable ids. Nothing here reads files or knows about storage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

CLOZE_NUMBER = re.compile(r"\{\{c(\d+)::")

CardKind = Literal["basic", "cloze"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a warning) in a deck file, located precisely."""

    file: str
    line: int | None
    message: str
    card_id: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.card_id is not None:
            parts.append(f"card '{self.card_id}'")
        if self.field is not None:
            parts.append(f"'{self.field}'")
        return ": ".join(parts) + f": {self.message}"


class DeckFileError(Exception):
    """A deck file could not be accepted; `problems` lists every reason at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class CardSpec:
    """One card entry of a deck file: a basic note (front/back) or a cloze note.

    `id` is the entry's stable identity inside its deck; `id_derived` is True when the
    file gave none and the parser derived it from the front (a warning says how to pin
    it). `line` is where the entry starts in the file (1-based).
    """

    id: str
    kind: CardKind
    front: str | None = None
    back: str | None = None
    cloze: str | None = None
    reverse: bool = False
    extra: str | None = None
    tags: tuple[str, ...] = ()
    line: int | None = None
    id_derived: bool = False

    @property
    def slots(self) -> tuple[str, ...]:
        """The reviewable cards this entry makes: front, reverse, or c1, c2, ..."""
        if self.kind == "cloze":
            numbers = sorted({int(n) for n in CLOZE_NUMBER.findall(self.cloze or "")})
            return tuple(f"c{n}" for n in numbers)
        return ("front", "reverse") if self.reverse else ("front",)

    def content(self) -> dict[str, object]:
        """The content fields, as stored and compared by the importer."""
        return {
            "kind": self.kind,
            "front": self.front,
            "back": self.back,
            "cloze": self.cloze,
            "reverse": self.reverse,
            "extra": self.extra,
            "tags": list(self.tags),
        }


@dataclass(frozen=True)
class DeckSpec:
    """A validated deck file.

    `id` is the stable deck id (the file's `id:` or its name's stem); `name` the display
    name, where "A::B" nests B under A. `source` is the path it was read from (or an
    upload's name), `content_hash` the SHA-256 of the file's bytes, used to skip
    unchanged files. `warnings` are non-fatal problems (e.g. derived card ids).
    """

    id: str
    name: str
    cards: tuple[CardSpec, ...]
    description: str | None = None
    tags: tuple[str, ...] = ()
    source: str = ""
    content_hash: str = ""
    warnings: tuple[Problem, ...] = field(default=())

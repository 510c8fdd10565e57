"""Helpers shared by the benchmarks: timing, peak memory, table printing, card text."""

from __future__ import annotations

import random
import resource
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

WORDS = [
    "vector",
    "space",
    "basis",
    "span",
    "matrix",
    "eigenvalue",
    "gradient",
    "chain",
    "rule",
    "probability",
    "estimator",
    "variance",
    "likelihood",
    "posterior",
    "linear",
    "map",
    "kernel",
    "image",
    "rank",
]
FORMULAS = (
    r"$A v = \lambda v$",
    r"$\sum_{i=1}^{n} x_i^2$",
    r"$\frac{\partial f}{\partial x}$",
    r"$$M = U \Sigma V^\top$$",
    r"$\mathbb{E}[X] = \int x \, p(x) \, \mathrm{d}x$",
)


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sentence(rng: random.Random, words: int = 12) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return f"**{text[:1].upper()}{text[1:]}** {rng.choice(FORMULAS)} and more."


def deck_yaml(deck_id: str, cards: int, seed: int = 0) -> str:
    """A realistic deck file: basic, reverse and cloze entries with Markdown and math."""
    rng = random.Random(seed)
    lines = [f"deck: Bench::{deck_id}", f"id: {deck_id}", "tags: [bench]", "cards:"]
    for i in range(cards):
        if i % 5 == 4:
            lines += [
                f"  - id: c{i}",
                "    cloze: |",
                f"      The {{{{c1::{rng.choice(WORDS)}}}}} of {sentence(rng, 6)}",
                f"      relates to {{{{c2::{rng.choice(WORDS)}}}}}.",
            ]
        else:
            lines += [
                f"  - id: c{i}",
                f"    front: What is the {rng.choice(WORDS)} number {i}?",
                "    back: |",
                f"      {sentence(rng)}",
                f"      {sentence(rng, 8)}",
            ]
            if i % 3 == 0:
                lines.append("    reverse: true")
            if i % 7 == 0:
                lines.append("    tags: [definition]")
    return "\n".join(lines) + "\n"


def print_table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    """rows: (what, measured, target, raw floor)."""
    header = ("measure", "ours", "target", "raw floor")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    print(f"\n## {title}\n")
    print(
        "| "
        + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
        + " |"
    )
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for row in rows:
        print(
            "| "
            + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
            + " |"
        )

"""SM-2 as Anki runs it: pure functions over immutable card state (no clock, no DB).

Place in the data flow: services load a card's `CardState`, call `answer` with
the rating, the current instant and seed = card id + reps, and store the result;
the study page shows `button_labels`. Rules and sources: docs/anki-sm2.md.
"""

from flashcards.srs.clock import DayClock
from flashcards.srs.fuzz import fuzz_window, fuzzed_interval
from flashcards.srs.labels import (
    button_labels,
    describe_days,
    describe_delay,
    describe_seconds,
)
from flashcards.srs.sm2 import (
    CardState,
    Outcome,
    Phase,
    Rating,
    Sm2Options,
    answer,
    ease_factor,
    is_leech,
    preview,
)

__all__ = [
    "CardState",
    "DayClock",
    "Outcome",
    "Phase",
    "Rating",
    "Sm2Options",
    "answer",
    "button_labels",
    "describe_days",
    "describe_delay",
    "describe_seconds",
    "ease_factor",
    "fuzz_window",
    "fuzzed_interval",
    "is_leech",
    "preview",
]

"""Deck option presets: turning a stored preset into srs options and daily limits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from flashcards.db.models import Deck, Preset, User
from flashcards.srs import DayClock, Sm2Options

DEFAULT_PRESET_NAME = "Default"


@dataclass(frozen=True)
class DeckSettings:
    """Everything the study queue needs to know about a deck for one user."""

    options: Sm2Options
    clock: DayClock
    new_per_day: int
    reviews_per_day: int
    bury_siblings: bool
    leech_action: str


def parse_steps(text: str) -> tuple[float, ...]:
    """'1 10' or '1m, 10m' or '1h' -> minutes. Raises ValueError with a clear message."""
    steps: list[float] = []
    for token in text.replace(",", " ").split():
        unit = 1.0
        number = token
        if token[-1] in "smhd":
            unit = {"s": 1 / 60, "m": 1.0, "h": 60.0, "d": 1440.0}[token[-1]]
            number = token[:-1]
        try:
            value = float(number) * unit
        except ValueError:
            raise ValueError(
                f"'{token}' is not a step; use minutes like '1 10' or '30s 5m 1h 1d'"
            ) from None
        if value <= 0:
            raise ValueError(f"'{token}': steps must be longer than zero")
        steps.append(value)
    return tuple(steps)


def format_steps(steps: tuple[float, ...]) -> str:
    return " ".join(f"{s:g}" for s in steps)


def default_preset(session: Session) -> Preset:
    preset = session.scalars(
        select(Preset).where(Preset.name == DEFAULT_PRESET_NAME)
    ).one_or_none()
    if preset is None:
        preset = Preset(name=DEFAULT_PRESET_NAME)
        session.add(preset)
        session.flush()
    return preset


def preset_options(preset: Preset) -> Sm2Options:
    return Sm2Options(
        learning_steps=parse_steps(preset.learning_steps),
        relearning_steps=parse_steps(preset.relearning_steps),
        graduating_interval=preset.graduating_interval,
        easy_interval=preset.easy_interval,
        starting_ease=preset.starting_ease,
        easy_bonus=preset.easy_bonus,
        hard_interval=preset.hard_interval,
        interval_modifier=preset.interval_modifier,
        lapse_multiplier=preset.lapse_multiplier,
        minimum_interval=preset.minimum_interval,
        leech_threshold=preset.leech_threshold,
        maximum_interval=preset.maximum_interval,
    )


def user_clock(user: User) -> DayClock:
    return DayClock(timezone=user.timezone, rollover_hour=user.rollover_hour)


def presets_by_id(session: Session) -> tuple[dict[int, Preset], Preset]:
    """Every preset by id, and the default one; loaded once per session (a request)."""
    cache = session.info.setdefault("flashcards.presets", {})
    if "all" not in cache:
        by_id = {p.id: p for p in session.scalars(select(Preset))}
        named = [p for p in by_id.values() if p.name == DEFAULT_PRESET_NAME]
        fallback = named[0] if named else default_preset(session)
        by_id[fallback.id] = fallback
        cache["all"] = (by_id, fallback)
    presets: tuple[dict[int, Preset], Preset] = cache["all"]
    return presets


def deck_settings(session: Session, deck: Deck, user: User) -> DeckSettings:
    return preset_settings(session, deck.preset_id, user)


def preset_settings(
    session: Session, preset_id: int | None, user: User
) -> DeckSettings:
    """The settings of a deck using this preset (None: the Default preset)."""
    by_id, fallback = presets_by_id(session)
    preset = by_id.get(preset_id or -1, fallback)
    return DeckSettings(
        options=preset_options(preset),
        clock=user_clock(user),
        new_per_day=preset.new_per_day,
        reviews_per_day=preset.reviews_per_day,
        bury_siblings=preset.bury_siblings,
        leech_action=preset.leech_action,
    )

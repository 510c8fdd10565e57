"""Review-interval fuzz and learning-step jitter, as Anki computes them (§6).

Place in the data flow: `sm2` calls these with raw f32 intervals and the one
fuzz factor of the answer (from `rng.fuzz_factor`); they return whole days or
seconds. Pure; all arithmetic in f32 like Anki's.
"""

from __future__ import annotations

import math

from flashcards.srs import f32
from flashcards.srs.rng import random_u32_below

# (start, end, factor): the window grows by `factor` days per day of interval
# inside [start, end), on top of a base of one day (fuzz.rs's ranges, §6).
_FUZZ_RANGES: tuple[tuple[float, float, float], ...] = (
    (2.5, 7.0, f32.f32(0.15)),
    (7.0, 20.0, f32.f32(0.1)),
    (20.0, math.inf, f32.f32(0.05)),
)
# Intervals under 2.5 days are never fuzzed.
_FUZZ_FROM_DAYS = 2.5

_JITTER_FRACTION = 0.25
_JITTER_MAX_SECS = 300.0


def fuzz_delta(interval: float) -> float:
    """Half-width δ of the fuzz window for an interval already clamped to bounds."""
    if interval < _FUZZ_FROM_DAYS:
        return 0.0
    delta = 1.0
    for start, end, factor in _FUZZ_RANGES:
        span = max(f32.sub(min(interval, end), start), 0.0)
        delta = f32.add(delta, f32.mul(factor, span))
    return delta


def review_bounds(minimum: int, maximum: int) -> tuple[int, int]:
    """Anki's (minimum, maximum) for a review interval: at least 1, maximum wins."""
    maximum = max(maximum, 1)
    return min(max(minimum, 1), maximum), maximum


def fuzz_window(interval: float, minimum: int, maximum: int) -> tuple[int, int]:
    """The inclusive range [lower, upper] a fuzzed interval is picked from.

    Args:
        interval: raw interval in days (after the interval modifier).
        minimum: smallest allowed result (raised to 1; capped at `maximum`).
        maximum: largest allowed result (the maximum-interval option).

    Returns:
        (lower, upper), e.g. (8, 12) for 10 days, (1, 1) for 1 day.
    """
    minimum, maximum = review_bounds(minimum, maximum)
    clamped = min(max(f32.f32(interval), float(minimum)), float(maximum))
    delta = fuzz_delta(clamped)
    lower = f32.to_u32(f32.round_half_away(f32.sub(clamped, delta)))
    upper = f32.to_u32(f32.round_half_away(f32.add(clamped, delta)))
    lower = min(max(lower, minimum), maximum)
    upper = min(max(upper, minimum), maximum)
    if lower == upper and 2 < upper < maximum:
        upper = lower + 1
    return lower, upper


def fuzzed_interval(
    interval: float, minimum: int, maximum: int, factor: float | None
) -> int:
    """Pick the interval for one answer: uniform in the window, or exact without fuzz.

    Args:
        interval: raw interval in days (after the interval modifier).
        minimum: smallest allowed result (raised to 1; capped at `maximum`).
        maximum: largest allowed result.
        factor: the answer's fuzz factor in [0, 1), or None for no fuzz, which
            gives `round(interval)` clamped to the bounds.

    Returns:
        Whole days. With fuzz this can be `upper + 1` when the f32 sum lands on
        it (the documented 36501 quirk, §6), exactly as Anki.
    """
    minimum, maximum = review_bounds(minimum, maximum)
    if factor is None:
        rounded = f32.to_u32(f32.round_half_away(f32.f32(interval)))
        return min(max(rounded, minimum), maximum)
    lower, upper = fuzz_window(interval, minimum, maximum)
    width = float(upper - lower + 1)
    return f32.to_u32(math.floor(f32.add(float(lower), f32.mul(factor, width))))


def jitter_range(step_secs: int) -> int:
    """How many jitter values a step of `step_secs` can get: 0 ≤ r < this.

    A quarter of the step, at most 5 minutes (§6 "Learning-step jitter").
    """
    quarter = min(f32.mul(float(step_secs), _JITTER_FRACTION), _JITTER_MAX_SECS)
    return f32.to_u32(math.floor(quarter))


def step_jitter(step_secs: int, seed: int) -> int:
    """Extra seconds added to a learning-step due time; 0 when the range is empty."""
    bound = jitter_range(step_secs)
    if bound == 0:
        return 0
    return random_u32_below(seed, bound)

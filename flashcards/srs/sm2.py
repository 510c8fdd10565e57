"""SM-2 as Anki 26.x runs it: the next card state for a rating. Pure; no clock, no DB.

Place in the data flow: the study service loads a card's `CardState`, calls
`answer(state, rating, now=..., seed=card_id + reps)` and stores `Outcome.state`
(and a review log); `preview` gives the four button labels. The algorithm is
Anki's variant of SuperMemo SM-2 (P. Woźniak, 1990) exactly as Anki's v3
scheduler computes it with FSRS off; every rule cites docs/anki-sm2.md (§n).

Units: intervals in whole scheduling days (`interval_days`, see `DayClock`),
learning steps in minutes (options) and seconds (delays), ease as a factor
(2.5 = 250 %). Interval arithmetic is IEEE f32 like Anki's (§2).

Where Anki differs from textbook SM-2 (§10): four buttons with fixed ease
deltas instead of six grades; minute-based learning steps instead of I(1)=1,
I(2)=6; lateness credit; lapses cost ease and go through relearning; fuzz;
rounding half away from zero in f32; a maximum interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum

from flashcards.srs import f32
from flashcards.srs.clock import DayClock
from flashcards.srs.fuzz import fuzzed_interval, step_jitter
from flashcards.srs.rng import fuzz_factor

SECONDS_PER_DAY = 86_400
# Ease deltas and floor are constants in Anki, not deck options (§1).
EASE_MINIMUM = 1.3
EASE_DELTA_AGAIN = -0.2
EASE_DELTA_HARD = -0.15
EASE_DELTA_EASY = 0.15
# Anki's deck options refuse a maximum interval above this (§1).
MAXIMUM_INTERVAL_LIMIT = 36_500


class Rating(IntEnum):
    """The four answer buttons, numbered as Anki and py-fsrs number them."""

    AGAIN = 1
    HARD = 2
    GOOD = 3
    EASY = 4


class Phase(StrEnum):
    """Where a card is in its life: Anki's card type."""

    NEW = "new"
    LEARNING = "learning"
    REVIEW = "review"
    RELEARNING = "relearning"


@dataclass(frozen=True)
class Sm2Options:
    """Deck options that drive SM-2; the defaults are Anki's (§1).

    Steps are in minutes; intervals in days; multipliers are plain factors.
    `fuzz=False` gives the exact unfuzzed values and no step jitter (Anki's
    ANKI_TEST_MODE), for tests and for users who want no randomness.

    Raises:
        ValueError: listing every out-of-range option at once.
    """

    learning_steps: tuple[float, ...] = (1.0, 10.0)
    relearning_steps: tuple[float, ...] = (10.0,)
    graduating_interval: int = 1
    easy_interval: int = 4
    starting_ease: float = 2.5
    easy_bonus: float = 1.3
    hard_interval: float = 1.2
    interval_modifier: float = 1.0
    lapse_multiplier: float = 0.0
    minimum_interval: int = 1
    leech_threshold: int = 8
    maximum_interval: int = MAXIMUM_INTERVAL_LIMIT
    fuzz: bool = True

    def __post_init__(self) -> None:
        # Accept lists (e.g. from YAML) but keep the options hashable.
        object.__setattr__(self, "learning_steps", tuple(self.learning_steps))
        object.__setattr__(self, "relearning_steps", tuple(self.relearning_steps))
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming every nonsensical option."""
        problems: list[str] = []

        def check(ok: bool, message: str) -> None:
            if not ok:
                problems.append(message)

        for name in ("learning_steps", "relearning_steps"):
            for i, step in enumerate(getattr(self, name)):
                check(
                    _is_real(step) and 0 < step <= 10 * 365 * 24 * 60,
                    f"{name}[{i}] must be a positive number of minutes, got {step!r}",
                )
        check(
            _is_int(self.graduating_interval) and self.graduating_interval >= 1,
            f"graduating_interval must be a whole number of days >= 1, "
            f"got {self.graduating_interval!r}",
        )
        check(
            _is_int(self.easy_interval) and self.easy_interval >= 1,
            f"easy_interval must be a whole number of days >= 1, "
            f"got {self.easy_interval!r}",
        )
        check(
            _is_real(self.starting_ease) and EASE_MINIMUM <= self.starting_ease <= 5,
            f"starting_ease must be between {EASE_MINIMUM} and 5.0, "
            f"got {self.starting_ease!r}",
        )
        check(
            _is_real(self.easy_bonus) and 1 <= self.easy_bonus <= 5,
            f"easy_bonus must be between 1.0 and 5.0, got {self.easy_bonus!r}",
        )
        check(
            _is_real(self.hard_interval) and 0.5 <= self.hard_interval <= 1.3,
            f"hard_interval must be between 0.5 and 1.3, got {self.hard_interval!r}",
        )
        check(
            _is_real(self.interval_modifier) and 0.5 <= self.interval_modifier <= 2,
            f"interval_modifier must be between 0.5 and 2.0, "
            f"got {self.interval_modifier!r}",
        )
        check(
            _is_real(self.lapse_multiplier) and 0 <= self.lapse_multiplier <= 1,
            f"lapse_multiplier must be between 0.0 and 1.0, "
            f"got {self.lapse_multiplier!r}",
        )
        check(
            _is_int(self.minimum_interval) and self.minimum_interval >= 1,
            f"minimum_interval must be a whole number of days >= 1, "
            f"got {self.minimum_interval!r}",
        )
        check(
            _is_int(self.leech_threshold) and self.leech_threshold >= 1,
            f"leech_threshold must be a whole number >= 1, "
            f"got {self.leech_threshold!r}",
        )
        check(
            _is_int(self.maximum_interval)
            and 1 <= self.maximum_interval <= MAXIMUM_INTERVAL_LIMIT,
            f"maximum_interval must be a whole number of days in "
            f"1..{MAXIMUM_INTERVAL_LIMIT}, got {self.maximum_interval!r}",
        )
        check(
            isinstance(self.fuzz, bool),
            f"fuzz must be true or false, got {self.fuzz!r}",
        )
        if problems:
            raise ValueError("invalid SM-2 options: " + "; ".join(problems))


def _is_real(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class CardState:
    """Everything SM-2 needs to know about one card; Anki's card columns, typed.

    Attributes:
        phase: new, learning, review or relearning (Anki's card type).
        due: aware UTC instant the card is next due; None for new cards. Review
            due dates are scheduling-day starts (`DayClock.day_start`).
        interval_days: the review interval; in relearning, the interval the
            card returns to review with; 0 for new and learning cards.
        ease: ease factor, e.g. 2.5; 0.0 until the card graduates. Always a
            multiple of 0.001, as Anki stores it as an integer permille.
        remaining_steps: learning or relearning steps still to go, counting the
            current one (Anki's `left % 1000`); 0 otherwise.
        reps: answers so far.
        lapses: times the card was forgotten in review (Again).
        last_reviewed_at: aware UTC instant of the last answer, or None.
    """

    phase: Phase
    due: datetime | None = None
    interval_days: int = 0
    ease: float = 0.0
    remaining_steps: int = 0
    reps: int = 0
    lapses: int = 0
    last_reviewed_at: datetime | None = None

    def __post_init__(self) -> None:
        # Accept the plain strings a database column holds ("review").
        object.__setattr__(self, "phase", Phase(self.phase))

    @classmethod
    def new(cls) -> CardState:
        """A card that was never answered."""
        return cls(phase=Phase.NEW)


@dataclass(frozen=True)
class Outcome:
    """The result of one answer.

    Attributes:
        state: the card after the answer.
        is_leech: this answer (a lapse) reached a leech count (§7).
        step_secs: the learning/relearning step delay before jitter, or None
            when the card went to review; for button labels and logs.
    """

    state: CardState
    is_leech: bool = field(default=False)
    step_secs: int | None = None


DEFAULT_OPTIONS = Sm2Options()
DEFAULT_CLOCK = DayClock()


@dataclass(frozen=True)
class _Context:
    now: datetime
    today: int
    options: Sm2Options
    clock: DayClock
    seed: int
    fuzz_factor: float | None


@dataclass(frozen=True)
class _Next:
    """A next state before due times are turned into instants."""

    phase: Phase
    interval_days: int
    ease_factor: int  # permille, as Anki stores it
    remaining_steps: int
    lapses: int
    delay_secs: int | None = None  # learning/relearning step
    is_leech: bool = False


def answer(
    state: CardState,
    rating: Rating | int,
    *,
    now: datetime,
    options: Sm2Options = DEFAULT_OPTIONS,
    clock: DayClock = DEFAULT_CLOCK,
    seed: int = 0,
) -> Outcome:
    """Compute the card's next state after answering it with `rating` at `now`.

    Args:
        state: the card before the answer.
        rating: the button pressed.
        now: aware instant of the answer; today's scheduling day comes from
            `clock`. A review card answered before its due day is an early
            review (§4.3); on or after it (or without a due), a normal one (§4.2).
        options: deck options.
        clock: the learner's time zone and rollover hour.
        seed: fuzz seed; the service passes card id + reps (before this answer)
            so the fuzz matches Anki's pick for the same card exactly (§6).

    Returns:
        The next state (reps + 1, last_reviewed_at = now) and whether this
        answer made the card a leech.

    Raises:
        ValueError: naive `now` or an unknown rating.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got {now!r}")
    rating = Rating(rating)
    now = now.astimezone(UTC)
    ctx = _Context(
        now=now,
        today=clock.day_number(now),
        options=options,
        clock=clock,
        seed=seed,
        fuzz_factor=fuzz_factor(seed) if options.fuzz else None,
    )
    if state.phase in (Phase.NEW, Phase.LEARNING):
        nxt = _answer_learning(state, rating, ctx)
    elif state.phase is Phase.REVIEW:
        nxt = _answer_review(state, rating, ctx)
    elif state.phase is Phase.RELEARNING:
        nxt = _answer_relearning(state, rating, ctx)
    else:  # pragma: no cover - exhaustive over Phase
        raise ValueError(f"unknown phase {state.phase!r}")
    next_state = CardState(
        phase=nxt.phase,
        due=_due_at(nxt, ctx),
        interval_days=nxt.interval_days,
        ease=nxt.ease_factor / 1000,
        remaining_steps=nxt.remaining_steps,
        reps=state.reps + 1,
        lapses=nxt.lapses,
        last_reviewed_at=now,
    )
    return Outcome(state=next_state, is_leech=nxt.is_leech, step_secs=nxt.delay_secs)


def preview(
    state: CardState,
    *,
    now: datetime,
    options: Sm2Options = DEFAULT_OPTIONS,
    clock: DayClock = DEFAULT_CLOCK,
    seed: int = 0,
) -> dict[Rating, CardState]:
    """The next state for each of the four buttons (same fuzz factor for all)."""
    return {
        rating: answer(
            state, rating, now=now, options=options, clock=clock, seed=seed
        ).state
        for rating in Rating
    }


def is_leech(lapses: int, threshold: int) -> bool:
    """Anki's leech test after a lapse (§7): at the threshold, then every half of it.

    With threshold 8: lapses 8, 12, 16, 20, …
    """
    if threshold < 1 or lapses < threshold:
        return False
    return (lapses - threshold) % math.ceil(threshold / 2) == 0


# --- steps (§3) ----------------------------------------------------------


def step_secs(minutes: float) -> int:
    """A step length in whole seconds; Anki truncates the f32 product."""
    return f32.to_u32(f32.mul(minutes, 60.0))


def _step_index(steps: tuple[float, ...], remaining: int) -> int:
    return min(max(len(steps) - remaining, 0), len(steps) - 1)


def _again_delay(steps: tuple[float, ...]) -> int | None:
    return step_secs(steps[0]) if steps else None


def _hard_delay(steps: tuple[float, ...], remaining: int) -> int | None:
    if not steps:
        return None
    idx = _step_index(steps, remaining)
    if idx > 0:
        return step_secs(steps[idx])
    first = step_secs(steps[0])
    if len(steps) > 1:
        # Hard on the first step sits halfway to the second (1m/10m -> 5.5m).
        delay = (first + step_secs(steps[1])) // 2
    else:
        # A lone step gets 1.5x, but never more than a day longer (10m -> 15m).
        delay = min(f32.to_u32(f32.mul(float(first), 1.5)), first + SECONDS_PER_DAY)
    if delay > SECONDS_PER_DAY:
        # Long delays snap to whole days so the card keeps its time of day.
        days = f32.round_half_away(delay / SECONDS_PER_DAY)
        delay = int(days) * SECONDS_PER_DAY
    return delay


def _good_delay(steps: tuple[float, ...], remaining: int) -> tuple[int, int] | None:
    """(delay, remaining after it) for moving on a step, or None to graduate."""
    if not steps:
        return None
    nxt = _step_index(steps, remaining) + 1
    if nxt >= len(steps):
        return None
    return step_secs(steps[nxt]), len(steps) - nxt


# --- ease ------------------------------------------------------------------


def ease_factor(ease: float) -> int:
    """The stored permille of an ease: 2.5 -> 2500 (Anki's `factor` column)."""
    return int(f32.round_half_away(ease * 1000))


def _ease_f32(factor: int) -> float:
    return f32.div(float(factor), 1000.0)


def _store_ease(ease: float) -> int:
    # Anki writes round(ease * 1000) back; the f32 ease is never stored itself.
    return int(f32.round_half_away(f32.mul(ease, 1000.0)))


def _adjust_ease(factor: int, delta: float) -> int:
    ease = f32.add(_ease_f32(factor), delta)
    if delta < 0:
        ease = max(ease, f32.f32(EASE_MINIMUM))
    return _store_ease(ease)


# --- new and learning (§3) --------------------------------------------------


def _answer_learning(state: CardState, rating: Rating, ctx: _Context) -> _Next:
    steps = ctx.options.learning_steps
    # A new card is answered exactly like a learning card at its first step.
    remaining = len(steps) if state.phase is Phase.NEW else state.remaining_steps
    learning = Phase.LEARNING
    if rating is Rating.AGAIN:
        delay = _again_delay(steps)
        if delay is not None:
            return _Next(learning, 0, 0, len(steps), state.lapses, delay)
    elif rating is Rating.HARD:
        delay = _hard_delay(steps, remaining)
        if delay is not None:
            return _Next(learning, 0, 0, remaining, state.lapses, delay)
    elif rating is Rating.GOOD:
        moved = _good_delay(steps, remaining)
        if moved is not None:
            delay, left = moved
            return _Next(learning, 0, 0, left, state.lapses, delay)
    else:
        return _graduate(ctx.options.easy_interval, ctx)
    # No step to go to: the card graduates as with Good.
    return _graduate(ctx.options.graduating_interval, ctx)


def _graduate(days: int, ctx: _Context) -> _Next:
    interval = fuzzed_interval(
        float(days), 1, ctx.options.maximum_interval, ctx.fuzz_factor
    )
    # The ease is set only now, whatever was pressed while learning, and the
    # lapse count starts over: Anki writes lapses 0 on graduation (§3).
    factor = _store_ease(f32.f32(ctx.options.starting_ease))
    return _Next(Phase.REVIEW, interval, factor, 0, 0)


# --- review (§4) ----------------------------------------------------------


def _answer_review(state: CardState, rating: Rating, ctx: _Context) -> _Next:
    options = ctx.options
    ivl = state.interval_days
    factor = ease_factor(state.ease)
    due_day = ctx.today if state.due is None else ctx.clock.day_number(state.due)
    # Anki: elapsed = ivl + (today - due), floored at 0 (§8); so an answer
    # before the due day counts fewer days than the interval (early review).
    elapsed = max(ivl + (ctx.today - due_day), 0)

    if rating is Rating.AGAIN:
        return _lapse(state, factor, ctx)
    if elapsed < ivl:
        hard, good, easy = _early_intervals(ivl, elapsed, _ease_f32(factor), options)
    else:
        hard, good, easy = _review_intervals(ivl, elapsed - ivl, _ease_f32(factor), ctx)
    if rating is Rating.HARD:
        return _Next(
            Phase.REVIEW, hard, _adjust_ease(factor, EASE_DELTA_HARD), 0, state.lapses
        )
    if rating is Rating.GOOD:
        return _Next(
            Phase.REVIEW, good, _store_ease(_ease_f32(factor)), 0, state.lapses
        )
    return _Next(
        Phase.REVIEW, easy, _adjust_ease(factor, EASE_DELTA_EASY), 0, state.lapses
    )


def _constrain(raw: float, minimum: int, ctx: _Context, *, fuzz: bool) -> int:
    # §4.2 constrain: modifier, then fuzz (or round) inside [minimum, maximum].
    interval = f32.mul(raw, ctx.options.interval_modifier)
    factor = ctx.fuzz_factor if fuzz else None
    return fuzzed_interval(interval, minimum, ctx.options.maximum_interval, factor)


def _review_intervals(
    ivl: int, late: int, ease: float, ctx: _Context
) -> tuple[int, int, int]:
    """Hard, Good, Easy on time or overdue (§4.2), fuzzed with one shared factor."""
    options = ctx.options
    current = float(max(ivl, 1))
    days_late = f32.f32(float(late))
    hard_mult = f32.f32(options.hard_interval)
    # Each minimum is the previous button's *fuzzed* interval + 1, so the
    # buttons stay strictly increasing whatever the fuzz picked.
    has_hard_minimum = hard_mult > 1.0
    hard = _constrain(
        f32.mul(current, hard_mult), ivl + 1 if has_hard_minimum else 0, ctx, fuzz=True
    )
    good_minimum = hard + 1 if has_hard_minimum else ivl + 1
    good_raw = f32.mul(f32.add(current, f32.div(days_late, 2.0)), ease)
    good = _constrain(good_raw, good_minimum, ctx, fuzz=True)
    easy_raw = f32.mul(f32.mul(f32.add(current, days_late), ease), options.easy_bonus)
    easy = _constrain(easy_raw, good + 1, ctx, fuzz=True)
    return hard, good, easy


def _early_intervals(
    ivl: int, elapsed: int, ease: float, options: Sm2Options
) -> tuple[int, int, int]:
    """Hard, Good, Easy before the due day (§4.3): unfuzzed, not forced apart."""
    scheduled = float(max(ivl, 1))
    days = f32.f32(float(elapsed))
    hard_mult = f32.f32(options.hard_interval)
    easy_mult = f32.f32(options.easy_bonus)
    # Half of Easy's bonus only: the card was not yet due (1.3 -> 1.15).
    reduced_bonus = f32.sub(easy_mult, f32.div(f32.sub(easy_mult, 1.0), 2.0))
    hard_raw = max(
        f32.mul(days, hard_mult), f32.mul(scheduled, f32.div(hard_mult, 2.0))
    )
    good_raw = max(f32.mul(days, ease), scheduled)
    easy_raw = f32.mul(good_raw, reduced_bonus)

    def unfuzzed(raw: float) -> int:
        interval = f32.mul(raw, options.interval_modifier)
        return fuzzed_interval(interval, 1, options.maximum_interval, None)

    return unfuzzed(hard_raw), unfuzzed(good_raw), unfuzzed(easy_raw)


def _lapse_interval(ivl: int, ctx: _Context) -> int:
    # No interval modifier on lapses (§4.1).
    raw = f32.mul(float(max(ivl, 1)), ctx.options.lapse_multiplier)
    return fuzzed_interval(
        raw, ctx.options.minimum_interval, ctx.options.maximum_interval, ctx.fuzz_factor
    )


def _lapse(state: CardState, factor: int, ctx: _Context) -> _Next:
    """Again on a review card (§4.1): lapse, ease −0.20, relearning."""
    lapses = state.lapses + 1
    interval = _lapse_interval(state.interval_days, ctx)
    new_factor = _adjust_ease(factor, EASE_DELTA_AGAIN)
    leech = is_leech(lapses, ctx.options.leech_threshold)
    steps = ctx.options.relearning_steps
    delay = _again_delay(steps)
    if delay is None:
        return _Next(Phase.REVIEW, interval, new_factor, 0, lapses, is_leech=leech)
    return _Next(
        Phase.RELEARNING, interval, new_factor, len(steps), lapses, delay, leech
    )


# --- relearning (§5) --------------------------------------------------------


def _answer_relearning(state: CardState, rating: Rating, ctx: _Context) -> _Next:
    steps = ctx.options.relearning_steps
    ivl = state.interval_days
    factor = ease_factor(state.ease)
    remaining = state.remaining_steps
    relearning = Phase.RELEARNING
    back = _Next(Phase.REVIEW, ivl, factor, 0, state.lapses)
    if rating is Rating.AGAIN:
        delay = _again_delay(steps)
        if delay is None:
            # No relearning steps (the options changed since the lapse): Anki
            # just returns the card to review with its interval as it is.
            return back
        # Again while relearning is no second lapse: ease and lapses stay, but
        # the lapse interval is applied again to the current one (§5).
        interval = _lapse_interval(ivl, ctx)
        return _Next(relearning, interval, factor, len(steps), state.lapses, delay)
    if rating is Rating.HARD:
        delay = _hard_delay(steps, remaining)
        if delay is None:
            return back
        return _Next(relearning, ivl, factor, remaining, state.lapses, delay)
    if rating is Rating.GOOD:
        moved = _good_delay(steps, remaining)
        if moved is None:
            return back
        delay, left = moved
        return _Next(relearning, ivl, factor, left, state.lapses, delay)
    # Easy: one day more, unfuzzed and not clamped, so 36500 becomes 36501 (§5).
    return replace(back, interval_days=ivl + 1)


# --- due instants -------------------------------------------------------------


def _due_at(nxt: _Next, ctx: _Context) -> datetime:
    if nxt.delay_secs is None:
        return ctx.clock.day_start(ctx.today + nxt.interval_days)
    secs = nxt.delay_secs
    if ctx.fuzz_factor is not None:
        secs += step_jitter(nxt.delay_secs, ctx.seed)
    until_rollover = math.floor(
        (ctx.clock.next_day_start(ctx.now) - ctx.now).total_seconds()
    )
    if secs >= until_rollover:
        # A step that reaches the next rollover is due at a day start instead
        # (Anki's day-learning cards, §8).
        days = (secs - until_rollover) // SECONDS_PER_DAY + 1
        return ctx.clock.day_start(ctx.today + days)
    return ctx.now + timedelta(seconds=secs)

"""Table-driven tests of flashcards.srs against every rule in docs/anki-sm2.md.

Fuzz is off unless a test is about fuzz; times are fixed aware UTC instants and
the clock is UTC with Anki's 04:00 rollover.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from flashcards.srs import (
    CardState,
    DayClock,
    Phase,
    Rating,
    Sm2Options,
    answer,
    button_labels,
    describe_days,
    describe_delay,
    describe_seconds,
    f32,
    fuzz_window,
    fuzzed_interval,
    is_leech,
    preview,
)
from flashcards.srs.fuzz import jitter_range, step_jitter
from flashcards.srs.rng import chacha_block, fuzz_factor, random_u32_below

NOW = datetime(2026, 5, 12, 14, 30, tzinfo=UTC)
CLOCK = DayClock()
TODAY = CLOCK.day_number(NOW)
NO_FUZZ = Sm2Options(fuzz=False)
A, H, G, E = Rating.AGAIN, Rating.HARD, Rating.GOOD, Rating.EASY


def review(
    ivl: int,
    ease: float = 2.5,
    *,
    days_late: int = 0,
    lapses: int = 0,
    reps: int = 5,
) -> CardState:
    """A review card due `days_late` days before today (negative: not yet due)."""
    return CardState(
        phase=Phase.REVIEW,
        due=CLOCK.day_start(TODAY - days_late),
        interval_days=ivl,
        ease=ease,
        reps=reps,
        lapses=lapses,
    )


def relearning(ivl: int, ease: float = 2.3, *, remaining: int = 1) -> CardState:
    return CardState(
        phase=Phase.RELEARNING,
        due=NOW,
        interval_days=ivl,
        ease=ease,
        remaining_steps=remaining,
        reps=7,
        lapses=1,
    )


def learning(remaining: int) -> CardState:
    return CardState(phase=Phase.LEARNING, due=NOW, remaining_steps=remaining, reps=1)


def days_of(state: CardState) -> int:
    """Days from today to the state's due day."""
    assert state.due is not None
    return CLOCK.day_number(state.due) - TODAY


def secs_of(state: CardState, now: datetime = NOW) -> float:
    assert state.due is not None
    return (state.due - now).total_seconds()


def go(state: CardState, rating: Rating, options: Sm2Options = NO_FUZZ) -> CardState:
    return answer(state, rating, now=NOW, options=options).state


# --- f32 arithmetic and rounding (§2) ---------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (45, 1.3, 58),  # 58.499996 in f32; float64 half-up would give 59
        (5, 2.5, 13),  # exactly 12.5: away from zero, not Python's 12
        (15, 2.3, 35),  # exactly 34.5 in f32; Python's round() gives 34
    ],
)
def test_rounding_traps_helpers(a: int, b: float, expected: int) -> None:
    assert fuzzed_interval(f32.mul(a, b), 1, 36500, None) == expected


@pytest.mark.parametrize(
    ("ivl", "ease", "good"),
    [
        (45, 1.3, 58),
        (5, 2.5, 13),
        (15, 2.3, 35),
    ],
)
def test_rounding_traps_through_answer(ivl: int, ease: float, good: int) -> None:
    assert go(review(ivl, ease), G).interval_days == good


def test_round_half_away_from_zero() -> None:
    assert f32.round_half_away(0.49999997) == 0
    assert f32.round_half_away(0.5) == 1
    assert f32.round_half_away(2.5) == 3
    assert f32.round_half_away(-2.5) == -3


def test_to_u32_saturates() -> None:
    assert f32.to_u32(-3.0) == 0
    assert f32.to_u32(float("nan")) == 0
    assert f32.to_u32(1e12) == 2**32 - 1
    assert f32.to_u32(7.9) == 7


# --- new and learning cards (§3) ------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "rating", "phase", "secs", "remaining"),
    [
        (CardState.new(), A, Phase.LEARNING, 60, 2),
        (CardState.new(), H, Phase.LEARNING, 330, 2),  # Hard on first step: 5.5m
        (CardState.new(), G, Phase.LEARNING, 600, 1),
        (learning(2), A, Phase.LEARNING, 60, 2),
        (learning(2), H, Phase.LEARNING, 330, 2),
        (learning(1), A, Phase.LEARNING, 60, 2),
        (learning(1), H, Phase.LEARNING, 600, 1),  # later step: that step's length
        (learning(5), H, Phase.LEARNING, 330, 5),  # idx clamps to the first step
    ],
)
def test_learning_steps(
    state: CardState, rating: Rating, phase: Phase, secs: int, remaining: int
) -> None:
    outcome = answer(state, rating, now=NOW, options=NO_FUZZ)
    assert outcome.state.phase is phase
    assert secs_of(outcome.state) == secs
    assert outcome.step_secs == secs
    assert outcome.state.remaining_steps == remaining
    assert outcome.state.ease == 0.0
    assert outcome.state.interval_days == 0


@pytest.mark.parametrize(
    ("state", "rating", "ivl"),
    [
        (learning(1), G, 1),
        (learning(0), G, 1),  # Anki's left 0: last step
        (CardState.new(), E, 4),
        (learning(2), E, 4),
        (learning(1), E, 4),
    ],
)
def test_graduation(state: CardState, rating: Rating, ivl: int) -> None:
    after = go(replace(state, lapses=3), rating)
    assert after.phase is Phase.REVIEW
    assert after.interval_days == ivl
    assert days_of(after) == ivl
    assert after.ease == 2.5
    assert after.lapses == 0  # Anki writes lapses 0 on graduation
    assert after.remaining_steps == 0


@pytest.mark.parametrize(
    ("steps", "secs"),
    [
        ((1.0, 10.0), 330),
        ((10.0,), 900),  # single step: 1.5x
        ((1.0,), 90),
        ((1440.0,), 2 * 86400),  # 1.5 days rounds to 2 days
        ((60.0, 3000.0), 86400),  # 25.5 h averaged, rounded to one day
        ((2.0, 30.0, 120.0), 960),
    ],
)
def test_hard_on_first_step(steps: tuple[float, ...], secs: int) -> None:
    options = Sm2Options(learning_steps=steps, fuzz=False)
    outcome = answer(CardState.new(), H, now=NOW, options=options)
    assert outcome.step_secs == secs


def test_no_learning_steps_graduates_at_once() -> None:
    options = Sm2Options(learning_steps=(), fuzz=False)
    for rating, ivl in [(A, 1), (H, 1), (G, 1), (E, 4)]:
        after = answer(CardState.new(), rating, now=NOW, options=options).state
        assert (after.phase, after.interval_days) == (Phase.REVIEW, ivl)


def test_learning_step_crossing_rollover_is_due_at_day_start() -> None:
    # 03:55 UTC: the 10m step would end after the 04:00 rollover (§8).
    now = datetime(2026, 5, 12, 3, 55, tzinfo=UTC)
    after = answer(CardState.new(), G, now=now, options=NO_FUZZ).state
    assert after.due == datetime(2026, 5, 12, 4, 0, tzinfo=UTC)
    assert after.remaining_steps == 1


# --- review cards (§4) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "hard", "good", "easy"),
    [
        (review(10), 12, 25, 33),  # 32.5 rounds up
        (review(10, days_late=2), 12, 28, 39),
        (review(1), 2, 3, 4),  # Hard raised to ivl+1, Easy to Good+1
        (review(0), 1, 3, 4),
        (review(100, 1.3), 120, 130, 169),
    ],
)
def test_review_on_time_and_late(
    state: CardState, hard: int, good: int, easy: int
) -> None:
    got = {
        r: s.interval_days for r, s in preview(state, now=NOW, options=NO_FUZZ).items()
    }
    assert (got[H], got[G], got[E]) == (hard, good, easy)
    for rating in (H, G, E):
        assert days_of(preview(state, now=NOW, options=NO_FUZZ)[rating]) == got[rating]


@pytest.mark.parametrize(
    ("ease", "rating", "new_ease"),
    [
        (2.5, H, 2.35),
        (2.5, G, 2.5),
        (2.5, E, 2.65),
        (1.3, H, 1.3),
        (1.35, H, 1.3),
        (4.9, E, 5.05),  # no upper limit
        (2.5, A, 2.3),
        (1.4, A, 1.3),
    ],
)
def test_ease_changes(ease: float, rating: Rating, new_ease: float) -> None:
    assert go(review(10, ease), rating).ease == new_ease


def test_hard_multiplier_at_most_one_has_no_hard_minimum() -> None:
    options = Sm2Options(hard_interval=1.0, fuzz=False)
    states = preview(review(10), now=NOW, options=options)
    assert [states[r].interval_days for r in (H, G, E)] == [10, 25, 33]
    options = Sm2Options(hard_interval=0.8, fuzz=False)
    states = preview(review(1), now=NOW, options=options)
    assert [states[r].interval_days for r in (H, G, E)] == [1, 3, 4]


def test_interval_modifier_and_maximum() -> None:
    options = Sm2Options(interval_modifier=2.0, maximum_interval=40, fuzz=False)
    states = preview(review(10), now=NOW, options=options)
    assert [states[r].interval_days for r in (H, G, E)] == [24, 40, 40]


@pytest.mark.parametrize(
    ("state", "hard", "good", "easy"),
    [
        (review(10, days_late=-6), 6, 10, 12),  # 4 of 10 days elapsed
        (review(1, days_late=-1), 1, 1, 1),  # e = 0: not forced apart
        (review(100, days_late=-10), 108, 225, 259),
        (review(10, 1.3, days_late=-9), 6, 10, 12),
    ],
)
def test_early_review(state: CardState, hard: int, good: int, easy: int) -> None:
    got = preview(state, now=NOW, options=Sm2Options())  # early: never fuzzed
    assert [got[r].interval_days for r in (H, G, E)] == [hard, good, easy]
    assert got[H].ease == round(state.ease - 0.15, 3) or got[H].ease == 1.3


# --- lapses and relearning (§4.1, §5) -------------------------------------------------


def test_lapse_goes_to_relearning() -> None:
    outcome = answer(review(50, lapses=2), A, now=NOW, options=NO_FUZZ)
    after = outcome.state
    assert after.phase is Phase.RELEARNING
    assert (after.interval_days, after.ease, after.lapses) == (1, 2.3, 3)
    assert after.remaining_steps == 1
    assert secs_of(after) == 600
    assert not outcome.is_leech


def test_lapse_multiplier_and_minimum_interval() -> None:
    options = Sm2Options(lapse_multiplier=0.5, minimum_interval=3, fuzz=False)
    assert go(review(50), A, options).interval_days == 25
    assert go(review(4), A, options).interval_days == 3
    # Again while relearning applies the multiplier to the current interval.
    assert go(relearning(25), A, options).interval_days == 13


def test_lapse_without_relearning_steps_stays_in_review() -> None:
    options = Sm2Options(relearning_steps=(), fuzz=False)
    after = go(review(50), A, options)
    assert (after.phase, after.interval_days, days_of(after)) == (Phase.REVIEW, 1, 1)


@pytest.mark.parametrize(
    ("rating", "phase", "ivl", "secs"),
    [
        (A, Phase.RELEARNING, 1, 600),
        (H, Phase.RELEARNING, 7, 900),
        (G, Phase.REVIEW, 7, None),
        (E, Phase.REVIEW, 8, None),
    ],
)
def test_relearning(rating: Rating, phase: Phase, ivl: int, secs: int | None) -> None:
    before = relearning(7)
    outcome = answer(before, rating, now=NOW, options=Sm2Options())
    after = outcome.state
    assert (after.phase, after.interval_days) == (phase, ivl)
    assert (after.ease, after.lapses) == (2.3, 1)  # no second penalty
    assert outcome.step_secs == secs
    if secs is None:
        assert days_of(after) == ivl


def test_relearning_easy_exceeds_maximum() -> None:
    assert go(relearning(36500), E).interval_days == 36501


def test_relearning_steps_advance() -> None:
    options = Sm2Options(relearning_steps=(5.0, 60.0), fuzz=False)
    outcome = answer(relearning(7, remaining=2), G, now=NOW, options=options)
    assert (outcome.state.phase, outcome.step_secs) == (Phase.RELEARNING, 3600)
    assert outcome.state.remaining_steps == 1


# --- leeches (§7) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("lapses", "leech"),
    [
        (7, False),
        (8, True),
        (9, False),
        (10, False),
        (12, True),
        (16, True),
        (20, True),
    ],
)
def test_leech_threshold_8(lapses: int, leech: bool) -> None:
    assert is_leech(lapses, 8) is leech
    outcome = answer(review(10, lapses=lapses - 1), A, now=NOW, options=NO_FUZZ)
    assert outcome.is_leech is leech
    assert outcome.state.lapses == lapses


def test_leech_odd_threshold() -> None:
    assert [n for n in range(12) if is_leech(n, 5)] == [5, 8, 11]
    assert [n for n in range(4) if is_leech(n, 1)] == [1, 2, 3]


# --- §9 worked trace ----------------------------------------------------------------


def test_worked_trace() -> None:
    state = CardState.new()
    now = NOW
    results: list[tuple[str, float, float, int]] = []
    plan = [G, G, G, G, G, G, A, G, G, G, E, H]
    for rating in plan:
        state = answer(state, rating, now=now, options=NO_FUZZ).state
        if state.phase is Phase.REVIEW:
            results.append(("ivl", state.interval_days, state.ease, state.lapses))
        else:
            results.append(("secs", secs_of(state, now), state.ease, state.lapses))
        assert state.due is not None
        now = state.due + timedelta(hours=3)  # answered on the due day
    assert results == [
        ("secs", 600, 0.0, 0),
        ("ivl", 1, 2.5, 0),
        ("ivl", 3, 2.5, 0),
        ("ivl", 8, 2.5, 0),
        ("ivl", 20, 2.5, 0),
        ("ivl", 50, 2.5, 0),
        ("secs", 600, 2.3, 1),
        ("ivl", 1, 2.3, 1),
        ("ivl", 3, 2.3, 1),
        ("ivl", 7, 2.3, 1),
        ("ivl", 21, 2.45, 1),
        ("ivl", 25, 2.3, 1),
    ]
    assert state.reps == len(plan)
    assert state.last_reviewed_at is not None


# --- fuzz (§6) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "window"),
    [
        (1, (1, 1)),
        (2, (2, 2)),
        (2.4, (2, 2)),
        (2.5, (2, 4)),
        (3, (2, 4)),
        (4, (3, 5)),
        (7, (5, 9)),
        (10, (8, 12)),
        (20, (17, 23)),
        (25, (22, 28)),
        (100, (93, 107)),
        (365, (345, 385)),
        (1000, (948, 1052)),
        (36500, (34673, 36500)),
    ],
)
def test_fuzz_window_table(raw: float, window: tuple[int, int]) -> None:
    assert fuzz_window(raw, 1, 36500) == window


def test_fuzz_window_bounds() -> None:
    assert fuzz_window(10, 11, 36500) == (11, 13)  # centred on the minimum
    assert fuzz_window(0, 1, 36500) == (1, 1)
    assert fuzz_window(36500, 36501, 36500) == (36500, 36500)  # maximum wins
    assert fuzz_window(50, 1, 40) == (36, 40)  # centred on the clamped value


def test_fuzzed_interval_picks() -> None:
    assert fuzzed_interval(10, 1, 36500, 0.0) == 8
    assert fuzzed_interval(10, 1, 36500, 0.5) == 10
    assert fuzzed_interval(10, 1, 36500, 0.99999) == 12
    # f32 rounding can land on upper + 1 for f within a few ulps of 1, at any size.
    assert fuzzed_interval(10, 1, 36500, 1 - 2**-23) == 13
    assert fuzzed_interval(10.4, 1, 36500, None) == 10
    # The f32 quirk: 36500 + f rounds up to 36501 for f this close to 1.
    assert fuzzed_interval(36500, 36501, 36500, 0.999) == 36501
    assert fuzzed_interval(36500, 36501, 36500, 0.99) == 36500


def test_fuzz_is_one_factor_per_answer_as_in_anki() -> None:
    # Observed from the real backend: card 1795702796384 with reps 5, ivl 100,
    # ease 2.5, due today gave Hard 122, Good 253, Easy 329.
    states = preview(review(100, reps=5), now=NOW, seed=1795702796384 + 5)
    assert [states[r].interval_days for r in (H, G, E)] == [122, 253, 329]


def test_graduating_easy_is_fuzzed() -> None:
    seen = {
        answer(CardState.new(), E, now=NOW, seed=seed).state.interval_days
        for seed in range(200)
    }
    assert seen == {3, 4, 5}


def test_step_jitter() -> None:
    assert [jitter_range(s) for s in (60, 330, 600, 900, 3600, 2)] == [
        15,
        82,
        150,
        225,
        300,
        0,
    ]
    assert step_jitter(2, seed=1) == 0
    jitters = {step_jitter(600, seed) for seed in range(500)}
    assert min(jitters) == 0
    assert max(jitters) <= 149
    outcome = answer(CardState.new(), G, now=NOW, seed=42)
    assert secs_of(outcome.state) == 600 + step_jitter(600, 42)
    assert outcome.step_secs == 600


def test_no_fuzz_means_no_jitter() -> None:
    for seed in range(20):
        after = answer(CardState.new(), G, now=NOW, options=NO_FUZZ, seed=seed).state
        assert secs_of(after) == 600


# --- random numbers ---------------------------------------------------------------


def test_chacha20_known_vector() -> None:
    block = chacha_block((0,) * 8, rounds=20)
    assert block[:4] == (0xADE0B876, 0x903DF1A0, 0xE56A5D40, 0x28BD8653)


def test_fuzz_factor_range_and_determinism() -> None:
    values = [fuzz_factor(seed) for seed in range(100)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert values == [fuzz_factor(seed) for seed in range(100)]
    assert fuzz_factor(2**64 + 5) == fuzz_factor(5)  # wrapping u64
    assert len(set(values)) == 100


def test_random_u32_below() -> None:
    assert {random_u32_below(seed, 3) for seed in range(100)} == {0, 1, 2}
    with pytest.raises(ValueError, match="bound"):
        random_u32_below(0, 0)


# --- options and inputs ------------------------------------------------------------


def test_defaults_are_ankis() -> None:
    options = Sm2Options()
    assert options.learning_steps == (1.0, 10.0)
    assert options.relearning_steps == (10.0,)
    assert (options.graduating_interval, options.easy_interval) == (1, 4)
    assert (options.starting_ease, options.easy_bonus) == (2.5, 1.3)
    assert (options.hard_interval, options.interval_modifier) == (1.2, 1.0)
    assert (options.lapse_multiplier, options.minimum_interval) == (0.0, 1)
    assert (options.leech_threshold, options.maximum_interval) == (8, 36500)
    assert options.fuzz is True


def test_options_accept_lists() -> None:
    steps: list[float] = [1.0, 5.0]
    options = Sm2Options(learning_steps=steps, relearning_steps=[])  # type: ignore[arg-type]
    assert options.learning_steps == (1.0, 5.0)
    assert options.relearning_steps == ()
    assert hash(options)


def test_invalid_options_list_every_problem() -> None:
    with pytest.raises(ValueError, match="invalid SM-2 options") as info:
        Sm2Options(learning_steps=(1.0, -5.0), starting_ease=1.2, maximum_interval=0)
    message = str(info.value)
    assert "learning_steps[1]" in message
    assert "starting_ease" in message
    assert "maximum_interval" in message


@pytest.mark.parametrize(
    "kwargs",
    [
        {"relearning_steps": (0.0,)},
        {"graduating_interval": 0},
        {"easy_interval": 1.5},
        {"easy_bonus": 0.9},
        {"hard_interval": 2.0},
        {"interval_modifier": 0.0},
        {"lapse_multiplier": -0.1},
        {"minimum_interval": 0},
        {"leech_threshold": 0},
        {"maximum_interval": 40000},
        {"learning_steps": (float("nan"),)},
    ],
)
def test_invalid_option(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Sm2Options(**kwargs)  # type: ignore[arg-type]


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        answer(CardState.new(), G, now=datetime(2026, 1, 1))  # noqa: DTZ001


def test_new_card_state() -> None:
    state = CardState.new()
    assert (state.phase, state.due, state.ease, state.reps) == (Phase.NEW, None, 0.0, 0)
    assert answer(state, 3, now=NOW).state.reps == 1  # plain ints are ratings too


def test_answer_converts_to_utc() -> None:
    berlin = NOW.astimezone(DayClock("Europe/Berlin").zone)
    after = answer(CardState.new(), G, now=berlin, options=NO_FUZZ).state
    assert after.last_reviewed_at == NOW
    assert after.due is not None
    assert after.due.tzinfo is UTC


# --- labels --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "label"),
    [
        (30, "30s"),
        (60, "1m"),
        (330, "6m"),
        (600, "10m"),
        (3600, "1h"),
        (5400, "1.5h"),
        (86400, "1d"),
        (3 * 86400, "3d"),
        (36 * 86400, "1.2mo"),
        (767 * 86400, "2.1y"),
    ],
)
def test_describe_seconds(seconds: int, label: str) -> None:
    assert describe_seconds(seconds) == label
    assert describe_delay(NOW, NOW + timedelta(seconds=seconds)) == label


def test_describe_days() -> None:
    assert [describe_days(d) for d in (0, 1, 29, 30, 365, 36500)] == [
        "1d",
        "1d",
        "29d",
        "1mo",
        "1y",
        "100y",
    ]


def test_button_labels() -> None:
    labels = button_labels(CardState.new(), now=NOW, seed=3)
    assert labels[A] == "1m"
    assert labels[H] == "6m"
    assert labels[G] == "10m"
    assert labels[E] in {"3d", "4d", "5d"}
    labels = button_labels(review(10), now=NOW, options=NO_FUZZ)
    assert labels == {A: "10m", H: "12d", G: "25d", E: "1.1mo"}


def test_phase_accepts_plain_strings() -> None:
    state = CardState(phase="review", due=NOW, interval_days=10, ease=2.5)  # type: ignore[arg-type]
    assert state.phase is Phase.REVIEW
    assert go(state, G).interval_days == 25
    with pytest.raises(ValueError, match="'graduated'"):
        CardState(phase="graduated")  # type: ignore[arg-type]

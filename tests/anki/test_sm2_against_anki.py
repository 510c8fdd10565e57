"""Differential test: flashcards.srs against the real Anki backend (PyPI `anki`).

Cards are put into random states with SQL, answered through Anki's v3 scheduler
and through `flashcards.srs.answer` with seed = card id + reps, and the stored
results compared: phase, interval, ease factor, steps left, lapses, reps, due
and leech. Fuzz is on (no ANKI_TEST_MODE) and the load balancer off; one test
re-runs the comparison in a subprocess with ANKI_TEST_MODE=1 against fuzz=False.

`anki` is AGPL and used here only, never by the package.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flashcards.srs import (
    CardState,
    DayClock,
    Phase,
    Rating,
    Sm2Options,
    answer,
    ease_factor,
)
from flashcards.srs.rng import fuzz_factor

pytestmark = pytest.mark.anki

anki_collection = pytest.importorskip("anki.collection")
scheduler_pb2 = pytest.importorskip("anki.scheduler_pb2")

REPO_ROOT = Path(__file__).resolve().parents[2]
CARD_COUNT = 40

_TYPE_TO_PHASE = {
    0: Phase.NEW,
    1: Phase.LEARNING,
    2: Phase.REVIEW,
    3: Phase.RELEARNING,
}
_ANKI_RATING = {
    Rating.AGAIN: scheduler_pb2.CardAnswer.AGAIN,
    Rating.HARD: scheduler_pb2.CardAnswer.HARD,
    Rating.GOOD: scheduler_pb2.CardAnswer.GOOD,
    Rating.EASY: scheduler_pb2.CardAnswer.EASY,
}


@dataclass(frozen=True)
class Columns:
    """The card columns SM-2 reads and writes."""

    id: int
    type: int
    queue: int
    due: int
    ivl: int
    factor: int
    reps: int
    lapses: int
    left: int


# --- deck options ----------------------------------------------------------------


CUSTOM_OPTIONS = {
    "steps3": Sm2Options(
        learning_steps=(2.0, 30.0, 120.0),
        relearning_steps=(5.0, 60.0),
        graduating_interval=3,
        easy_interval=6,
        starting_ease=2.3,
        easy_bonus=1.5,
        hard_interval=1.1,
        interval_modifier=0.9,
        lapse_multiplier=0.5,
        minimum_interval=2,
        leech_threshold=5,
        maximum_interval=1000,
    ),
    "single": Sm2Options(
        learning_steps=(15.0,),
        relearning_steps=(),
        graduating_interval=2,
        easy_interval=7,
        starting_ease=2.0,
        easy_bonus=1.0,
        hard_interval=1.0,
        interval_modifier=1.7,
        lapse_multiplier=0.3,
        minimum_interval=3,
        leech_threshold=3,
        maximum_interval=36500,
    ),
    "nosteps": Sm2Options(
        learning_steps=(),
        relearning_steps=(1440.0, 2880.0),
        hard_interval=0.8,
        lapse_multiplier=1.0,
        leech_threshold=1,
        maximum_interval=200,
    ),
}


def _apply_options(col: Any, options: Sm2Options) -> None:
    conf = col.decks.config_dict_for_deck_id(1)
    conf["new"]["delays"] = list(options.learning_steps)
    conf["new"]["ints"] = [options.graduating_interval, options.easy_interval, 0]
    conf["new"]["initialFactor"] = round(options.starting_ease * 1000)
    conf["rev"]["ease4"] = options.easy_bonus
    conf["rev"]["hardFactor"] = options.hard_interval
    conf["rev"]["ivlFct"] = options.interval_modifier
    conf["rev"]["maxIvl"] = options.maximum_interval
    conf["lapse"]["delays"] = list(options.relearning_steps)
    conf["lapse"]["mult"] = options.lapse_multiplier
    conf["lapse"]["minInt"] = options.minimum_interval
    conf["lapse"]["leechFails"] = options.leech_threshold
    col.decks.update_config(conf)


# --- the two sides ------------------------------------------------------------------


class AnkiSide:
    """A temporary collection with CARD_COUNT cards in the default deck."""

    def __init__(self, directory: Path) -> None:
        path = str(directory / "collection.anki2")
        # Date the collection 1000 days back: Anki reads a due/odue of 0 as
        # "unset", so day 0 must not be today.
        col = anki_collection.Collection(path)
        col.db.execute("update col set crt = crt - ?", 1000 * 86_400)
        col.close()
        self.col = anki_collection.Collection(path)
        self.col.load_balancer_enabled = False
        notetype = self.col.models.by_name("Basic")
        for i in range(CARD_COUNT):
            note = self.col.new_note(notetype)
            note["Front"] = f"front {i}"
            note["Back"] = f"back {i}"
            self.col.add_note(note, 1)
        self.card_ids: list[int] = self.col.db.list("select id from cards order by id")
        rollover = self.col.get_config("rollover", None)
        self.clock = DayClock("UTC", 4 if rollover is None else int(rollover))

    def close(self) -> None:
        self.col.close()

    @property
    def today(self) -> int:
        return int(self.col.sched.today)

    def make_filtered_deck(self) -> int:
        """An empty filtered deck that reschedules cards by their answers."""
        # Anki refuses to build a filtered deck that gathers nothing.
        self.put(Columns(self.card_ids[0], 2, 2, self.today, 1, 2500, 0, 0, 0))
        deck = self.col.sched.get_or_create_filtered_deck(0)
        del deck.config.search_terms[1:]
        deck.config.search_terms[0].search = "deck:Default is:due"
        deck.config.reschedule = True
        return int(self.col.sched.add_or_update_filtered_deck(deck).id)

    def set_id(self, old: int, new: int) -> None:
        self.col.db.execute("update cards set id=? where id=?", new, old)
        self.card_ids[self.card_ids.index(old)] = new

    def put(self, cols: Columns, *, did: int = 1, odid: int = 0, odue: int = 0) -> None:
        self.col.db.execute(
            "update cards set type=?, queue=?, due=?, ivl=?, factor=?, reps=?, "
            "lapses=?, left=?, did=?, odid=?, odue=? where id=?",
            cols.type,
            cols.queue,
            cols.due,
            cols.ivl,
            cols.factor,
            cols.reps,
            cols.lapses,
            cols.left,
            did,
            odid,
            odue,
            cols.id,
        )

    def read(self, card_id: int) -> tuple[Columns, int]:
        row = self.col.db.first(
            "select type, queue, due, ivl, factor, reps, lapses, left, odue "
            "from cards where id=?",
            card_id,
        )
        return Columns(card_id, *row[:8]), row[8]

    def answer(self, card_id: int, rating: Rating) -> tuple[bool, float, float]:
        """Answer through the backend; (leech?, time before, time after)."""
        states = self.col._backend.get_scheduling_states(card_id)
        card = self.col.get_card(card_id)
        card.start_timer()
        answer_msg = self.col.sched.build_answer(
            card=card, states=states, rating=_ANKI_RATING[rating]
        )
        leech = rating is Rating.AGAIN and bool(
            self.col.sched.state_is_leech(states.again)
        )
        before = time.time()
        self.col.sched.answer_card(answer_msg)
        after = time.time()
        return leech, before, after


def _to_state(
    cols: Columns, side: AnkiSide, now: datetime, anki_due_day: int | None = None
) -> CardState:
    """The CardState for Anki columns (review due given as an Anki day number)."""
    phase = _TYPE_TO_PHASE[cols.type]
    clock = side.clock
    today = clock.day_number(now)
    due: datetime | None
    if phase is Phase.NEW:
        due = None
    elif cols.queue in (2, 3) or anki_due_day is not None:
        day = cols.due if anki_due_day is None else anki_due_day
        due = clock.day_start(today + day - side.today)
    else:
        due = datetime.fromtimestamp(cols.due, UTC)
    return CardState(
        phase=phase,
        due=due,
        interval_days=cols.ivl,
        ease=cols.factor / 1000,
        remaining_steps=cols.left % 1000,
        reps=cols.reps,
        lapses=cols.lapses,
        last_reviewed_at=None,
    )


def _compare(
    after: Columns,
    ours: CardState,
    *,
    leech: tuple[bool, bool],
    side: AnkiSide,
    now: datetime,
    window: tuple[float, float],
) -> list[str]:
    """Differences between Anki's stored result and ours, as readable strings."""
    problems = []
    expected = {
        "phase": _TYPE_TO_PHASE[after.type],
        "ivl": after.ivl,
        "factor": after.factor,
        "left": after.left % 1000 if after.type in (1, 3) else 0,
        "lapses": after.lapses,
        "reps": after.reps,
        "leech": leech[0],
    }
    got = {
        "phase": ours.phase,
        "ivl": ours.interval_days,
        "factor": ease_factor(ours.ease),
        "left": ours.remaining_steps,
        "lapses": ours.lapses,
        "reps": ours.reps,
        "leech": leech[1],
    }
    assert ours.due is not None
    today = side.clock.day_number(now)
    due_value = after.due
    if after.queue in (2, 3):
        expected["due_day"] = due_value - side.today
        got["due_day"] = side.clock.day_number(ours.due) - today
    else:
        # Anki stamps its own "now"; ours was taken just before its call.
        offset = due_value - ours.due.timestamp()
        lo, hi = window
        if not lo - now.timestamp() - 1 <= offset <= hi - now.timestamp() + 1:
            expected["due_secs"] = due_value - int(now.timestamp())
            got["due_secs"] = int(ours.due.timestamp() - now.timestamp())
    for key, value in expected.items():
        if got.get(key) != value:
            problems.append(f"{key}: anki {value!r} ours {got.get(key)!r}")
    return problems


# --- random states --------------------------------------------------------------------


def _random_interval(rng: random.Random, maximum: int) -> int:
    pick = rng.random()
    if pick < 0.05:
        return maximum
    if pick < 0.1:
        return 0
    if pick < 0.4:
        return rng.randint(1, 12)
    return min(maximum, round(math.exp(rng.uniform(0, math.log(36500)))))


def _random_columns(
    rng: random.Random,
    card_id: int,
    options: Sm2Options,
    today: int,
    now_secs: int,
    *,
    kind: int | None = None,
) -> Columns:
    kind = rng.choice((0, 1, 2, 2, 2, 3)) if kind is None else kind
    reps = rng.choice((0, 1, rng.randint(0, 50), rng.randint(0, 100_000)))
    lapses = rng.choice((0, rng.randint(0, 25)))
    factor = rng.choice((2500, 1300, rng.randint(1300, 4000), rng.randint(1300, 9000)))
    if kind == 0:
        return Columns(card_id, 0, 0, rng.randint(1, 1000), 0, 0, reps, lapses, 0)
    if kind == 1:
        steps = max(len(options.learning_steps), 1)
        left = rng.randint(0, steps + 1) + rng.choice((0, 0, 1000, 2000))
        return Columns(
            card_id, 1, 1, now_secs - rng.randint(0, 3600), 0, 0, reps, lapses, left
        )
    ivl = _random_interval(rng, options.maximum_interval)
    if kind == 2:
        late = rng.choice((0, 0, rng.randint(0, 5), rng.randint(0, max(ivl, 1) * 2)))
        return Columns(card_id, 2, 2, today - late, ivl, factor, reps, lapses, 0)
    steps = max(len(options.relearning_steps), 1)
    left = rng.randint(0, steps + 1)
    return Columns(
        card_id,
        3,
        1,
        now_secs - rng.randint(0, 3600),
        ivl,
        factor,
        reps,
        max(lapses, 1),
        left,
    )


def _check(
    side: AnkiSide,
    cols: Columns,
    rating: Rating,
    options: Sm2Options,
    *,
    filtered: tuple[int, int] | None = None,
) -> str | None:
    """Answer one state on both sides; a description of any difference, or None.

    `filtered` is (filtered deck id, original due day): the card is then a
    review card in a rescheduling filtered deck, due on that day.
    """
    if filtered is None:
        side.put(cols)
        original_due = None
    else:
        filtered_id, original_due = filtered
        side.put(cols, did=filtered_id, odid=1, odue=original_due)
    leech, t0, t1 = side.answer(cols.id, rating)
    after, _ = side.read(cols.id)
    now = datetime.fromtimestamp(t0, UTC)
    state = _to_state(cols, side, now, anki_due_day=original_due)
    outcome = answer(
        state,
        rating,
        now=now,
        options=options,
        clock=side.clock,
        seed=cols.id + cols.reps,
    )
    problems = _compare(
        after,
        outcome.state,
        leech=(leech, outcome.is_leech),
        side=side,
        now=now,
        window=(t0, t1),
    )
    if not problems:
        return None
    where = "" if original_due is None else f" due {original_due - side.today:+d}d"
    f = fuzz_factor(cols.id + cols.reps)
    return f"{cols}{where} {rating.name} f={f:.4f} -> {after}: " + "; ".join(problems)


def run_comparison(
    directory: Path,
    *,
    count: int,
    seed: int,
    options_name: str = "default",
    fuzz: bool = True,
) -> tuple[int, list[str]]:
    """Answer `count` random states on both sides; (states compared, mismatches)."""
    rng = random.Random(seed)
    side = AnkiSide(directory)
    options = CUSTOM_OPTIONS.get(options_name, Sm2Options())
    if options_name != "default":
        _apply_options(side.col, options)
    options = replace(options, fuzz=fuzz)
    mismatches: list[str] = []
    try:
        for i in range(count):
            cols = _random_columns(
                rng,
                side.card_ids[i % CARD_COUNT],
                options,
                side.today,
                int(time.time()),
            )
            problem = _check(side, cols, rng.choice(list(Rating)), options)
            if problem:
                mismatches.append(problem)
    finally:
        side.close()
    return count, mismatches


def run_early_review_comparison(
    directory: Path, *, count: int, seed: int, options_name: str = "default"
) -> tuple[int, list[str]]:
    """Review cards in a rescheduling filtered deck, mostly ahead of time (§4.3)."""
    rng = random.Random(seed)
    side = AnkiSide(directory)
    options = CUSTOM_OPTIONS.get(options_name, Sm2Options())
    if options_name != "default":
        _apply_options(side.col, options)
    filtered_id = side.make_filtered_deck()
    mismatches: list[str] = []
    try:
        for i in range(count):
            cols = _random_columns(
                rng, side.card_ids[i % CARD_COUNT], options, side.today, 0, kind=2
            )
            # Due 0..ivl days ahead (early), or a little overdue.
            original_due = side.today + rng.randint(-3, max(cols.ivl, 1))
            cols = replace(cols, due=-100_000 - i)
            problem = _check(
                side,
                cols,
                rng.choice(list(Rating)),
                options,
                filtered=(filtered_id, original_due),
            )
            if problem:
                mismatches.append(problem)
    finally:
        side.close()
    return count, mismatches


# Seeds whose fuzz factor is within 1e-4 of 0 or of 1 (found by scanning up
# from 1_795_000_000_000), so Anki's pick shows the window's exact edges.
LOW_F_SEEDS = (1795000015763, 1795000018117, 1795000033976, 1795000037367)
HIGH_F_SEEDS = (1795000009711, 1795000022628, 1795000035595, 1795000042601)


def run_fuzz_edge_comparison(directory: Path, *, seed: int) -> tuple[int, list[str]]:
    """Review answers whose fuzz picks the lowest or highest day of the window."""
    rng = random.Random(seed)
    side = AnkiSide(directory)
    options = Sm2Options()
    intervals = sorted(
        {*range(0, 40), 36_499, 36_500}
        | {
            round(math.exp(rng.uniform(math.log(40), math.log(36_500))))
            for _ in range(40)
        }
    )
    mismatches: list[str] = []
    compared = 0
    try:
        for i, card_seed in enumerate(LOW_F_SEEDS + HIGH_F_SEEDS):
            card_id = card_seed
            side.set_id(side.card_ids[i], card_id)
            for ivl in intervals:
                factor = rng.choice((1300, 2500, rng.randint(1300, 3500)))
                late = rng.choice((0, 0, rng.randint(0, ivl + 1)))
                cols = Columns(card_id, 2, 2, side.today - late, ivl, factor, 0, 0, 0)
                for rating in (Rating.HARD, Rating.GOOD, Rating.EASY):
                    compared += 1
                    problem = _check(side, cols, rating, options)
                    if problem:
                        mismatches.append(problem)
    finally:
        side.close()
    return compared, mismatches


# --- tests ----------------------------------------------------------------------


@pytest.fixture
def fuzzing_anki() -> None:
    """Anki fuzzes only without ANKI_TEST_MODE; these tests need that."""
    if os.environ.get("ANKI_TEST_MODE"):
        pytest.skip("ANKI_TEST_MODE is set: Anki would not fuzz")


@pytest.mark.usefixtures("fuzzing_anki")
def test_default_options_match_anki(tmp_path: Path) -> None:
    compared, mismatches = run_comparison(tmp_path, count=400, seed=1)
    assert compared == 400
    assert mismatches == []


@pytest.mark.usefixtures("fuzzing_anki")
@pytest.mark.parametrize("name", sorted(CUSTOM_OPTIONS))
def test_custom_options_match_anki(tmp_path: Path, name: str) -> None:
    compared, mismatches = run_comparison(
        tmp_path, count=200, seed=2, options_name=name
    )
    assert compared == 200
    assert mismatches == []


@pytest.mark.usefixtures("fuzzing_anki")
@pytest.mark.parametrize("name", ["default", "steps3", "single"])
def test_early_reviews_match_anki_filtered_deck(tmp_path: Path, name: str) -> None:
    compared, mismatches = run_early_review_comparison(
        tmp_path, count=200, seed=4, options_name=name
    )
    assert compared == 200
    assert mismatches == []


@pytest.mark.usefixtures("fuzzing_anki")
def test_fuzz_window_edges_match_anki(tmp_path: Path) -> None:
    assert all(fuzz_factor(s) < 1e-4 for s in LOW_F_SEEDS)
    assert all(fuzz_factor(s) > 1 - 1e-4 for s in HIGH_F_SEEDS)
    compared, mismatches = run_fuzz_edge_comparison(tmp_path, seed=5)
    assert compared > 1800
    assert mismatches == []


_TEST_MODE_SCRIPT = """
import json, sys
from pathlib import Path
from tests.anki.test_sm2_against_anki import run_comparison
results = []
for i, name in enumerate(["default", *sys.argv[2:]]):
    directory = Path(sys.argv[1]) / name
    directory.mkdir()
    results.append(
        run_comparison(directory, count=150, seed=10 + i, options_name=name, fuzz=False)
    )
print(json.dumps(results))
"""


def test_test_mode_matches_unfuzzed(tmp_path: Path) -> None:
    """Under ANKI_TEST_MODE Anki neither fuzzes nor jitters: fuzz=False must agree."""
    if 1 <= datetime.now().astimezone().hour < 5:
        pytest.skip("ANKI_TEST_MODE moves Anki's clock back 2 h from 02:00 to 04:00")
    env = {**os.environ, "ANKI_TEST_MODE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", _TEST_MODE_SCRIPT, str(tmp_path), *CUSTOM_OPTIONS],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert [compared for compared, _ in results] == [150] * (1 + len(CUSTOM_OPTIONS))
    assert [mismatches for _, mismatches in results] == [[]] * len(results)

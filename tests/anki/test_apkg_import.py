"""Interop: our .apkg packages imported by the real Anki backend (PyPI `anki`).

Each test imports into a fresh collection with `Collection.import_anki_package`,
the same Rust importer the desktop's import page runs, with Anki's default
options unless it says otherwise (update notes and note types "if newer", no
merging, no scheduling). Checked: every note and card in the right deck; fields,
tags and math delimiters; media; an edited export updates notes in place (no
duplicates, no note-type copies), and so do new deck-level tags; an unchanged
export changes nothing; and with
"Import any learning progress" the intervals, ease, due days and review log Anki
reports match ours, and Anki's next interval for Good matches `srs.preview`.

`anki` is AGPL and used here only, never by the package. Times are the real
clock's: Anki counts "today" from it, so the exports use it too.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flashcards.db.models import Card, CardProgress, Deck, Note, Review, User
from flashcards.deckfile.parse import parse_deck
from flashcards.export import identity, write_package
from flashcards.services import study
from flashcards.services.importing import import_deck
from flashcards.services.presets import user_clock
from flashcards.services.users import ensure_local_user
from flashcards.srs import CardState, Phase, Rating, preview
from flashcards.srs.sm2 import DEFAULT_OPTIONS

pytestmark = pytest.mark.anki

anki_collection = pytest.importorskip("anki.collection")

DECK = """\
deck: Math::Linear algebra
id: linear-algebra
tags: [math]
cards:
  - id: basis
    front: What is a **basis**?
    back: A spanning set with $\\dim V$ elements; $$\\sum_i c_i b_i$$
    tags: [definition]
    extra: See ![diagram](basis.png).
  - id: rank
    front: Rank of $A$ if $a < b$?
    back: dim of the image & more
  - id: clt
    cloze: The {{c1::CLT}} is about {{c2::$\\bar X_n \\to \\mathcal{N}$}}.
"""
OTHER = """\
deck: Other
id: other
cards:
  - id: one
    front: One?
    back: "1"
    reverse: true
  - id: two
    front: Two?
    back: "2"
"""
LATE = """\
deck: Late
id: late
cards:
  - id: late
    front: Late?
    back: Learnt today.
"""
EDITED = (
    DECK.replace("dim of the image & more", "the dimension of the image")
    .replace("  - id: rank\n", "  - id: rank\n    reverse: true\n")
    .replace(
        "{{c2::$\\bar X_n \\to \\mathcal{N}$}}.", "{{c2::$\\bar X_n$}} and {{c3::n}}."
    )
    + "  - id: added\n    front: New?\n    back: Yes.\n"
)


def real_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def utc_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Anki reads the machine's zone for "today"; our user studies in UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


class Anki:
    """A fresh collection, dated 1000 days back like a collection in real use."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        path = str(directory / "collection.anki2")
        col = anki_collection.Collection(path)
        col.db.execute("update col set crt = crt - ?", 1000 * 86_400)
        col.close()
        self.col = anki_collection.Collection(path)
        self.col.load_balancer_enabled = False

    def import_package(self, path: Path, *, with_scheduling: bool = False) -> Any:
        request = anki_collection.ImportAnkiPackageRequest(
            package_path=str(path),
            options=anki_collection.ImportAnkiPackageOptions(
                with_scheduling=with_scheduling
            ),
        )
        return self.col.import_anki_package(request).log

    def notes(self) -> dict[str, Any]:
        return {
            self.col.get_note(nid).guid: self.col.get_note(nid)
            for nid in self.col.find_notes("")
        }

    def our_note_types(self) -> list[str]:
        return sorted(
            m["name"] for m in self.col.models.all() if "Flashcards" in m["name"]
        )


@pytest.fixture
def anki(tmp_path: Path) -> Iterator[Anki]:
    side = Anki(tmp_path / "anki")
    yield side
    side.col.close()


def import_file(session: Session, path: Path, now: dt.datetime) -> None:
    spec = parse_deck(path.read_bytes(), source=str(path), default_id=path.stem)
    import_deck(session, spec, now=now, source_path=str(path.resolve()))


@pytest.fixture
def decks(tmp_path: Path) -> Path:
    folder = tmp_path / "decks"
    folder.mkdir()
    (folder / "la.yaml").write_text(DECK, encoding="utf-8")
    (folder / "other.yaml").write_text(OTHER, encoding="utf-8")
    image = folder / "basis.png"
    image.write_bytes(b"\x89PNG not really")
    long_ago = (real_now() - dt.timedelta(days=100)).timestamp()
    os.utime(image, (long_ago, long_ago))  # older than every export below
    return folder


@pytest.fixture
def loaded(sessions: sessionmaker[Session], decks: Path) -> sessionmaker[Session]:
    start = real_now() - dt.timedelta(days=40)
    with sessions.begin() as session:
        ensure_local_user(session, now=start)
        import_file(session, decks / "la.yaml", start)
        import_file(session, decks / "other.yaml", start)
    return sessions


def export(
    sessions: sessionmaker[Session],
    path: Path,
    now: dt.datetime,
    *,
    with_progress: bool = False,
) -> Path:
    with sessions() as session:
        user_id = session.scalars(select(User.id)).first() if with_progress else None
        write_package(
            session,
            path,
            deck_ids=None,
            user_id=user_id,
            with_progress=with_progress,
            now=now,
        )
    return path


def our_cards(
    sessions: sessionmaker[Session],
) -> dict[tuple[str, int], tuple[str, str]]:
    """(guid, ord) -> (deck name, slot) of every live card."""
    with sessions() as session:
        rows = session.execute(
            select(Deck.slug, Deck.name, Note.key, Card.slot)
            .join(Note, Note.id == Card.note_id)
            .join(Deck, Deck.id == Card.deck_id)
            .where(Card.retired_at.is_(None), Note.retired_at.is_(None))
        )
        return {
            (identity.note_guid(slug, key), _ord(slot)): (name, slot)
            for slug, name, key, slot in rows
        }


def _ord(slot: str) -> int:
    return {"front": 0, "reverse": 1}.get(
        slot, int(slot[1:]) - 1 if slot[1:].isdigit() else 0
    )


def anki_cards(anki: Anki) -> dict[tuple[str, int], str]:
    result = {}
    for cid in anki.col.find_cards(""):
        card = anki.col.get_card(cid)
        result[(card.note().guid, card.ord)] = anki.col.decks.name(card.did)
    return result


# --- first import ------------------------------------------------------------------


def test_first_import_has_every_note_and_card_in_its_deck(
    loaded: sessionmaker[Session], anki: Anki, tmp_path: Path
) -> None:
    log = anki.import_package(export(loaded, tmp_path / "v1.apkg", real_now()))
    assert len(log.new) == 5
    assert not (log.updated or log.duplicate or log.conflicting or log.missing_notetype)
    ours = our_cards(loaded)
    assert anki_cards(anki) == {key: deck for key, (deck, _slot) in ours.items()}
    assert anki.our_note_types() == ["Flashcards Basic", "Flashcards Cloze"]
    assert "Math" in anki.col.decks.all_names_and_ids().__repr__()


def test_fields_tags_math_and_media_arrive_intact(
    loaded: sessionmaker[Session], anki: Anki, tmp_path: Path
) -> None:
    anki.import_package(export(loaded, tmp_path / "v1.apkg", real_now()))
    notes = anki.notes()
    basis = notes[identity.note_guid("linear-algebra", "basis")]
    assert "<strong>basis</strong>" in basis["Front"]
    assert r"\(\dim V\)" in basis["Back"] and r"\[\sum_i c_i b_i\]" in basis["Back"]
    media = identity.media_name("linear-algebra", "basis.png")
    assert f'src="{media}"' in basis["Extra"]
    assert (Path(anki.col.media.dir()) / media).read_bytes() == b"\x89PNG not really"
    assert sorted(basis.tags) == ["definition", "math"]
    rank = notes[identity.note_guid("linear-algebra", "rank")]
    assert r"\(a &lt; b\)" in rank["Front"] and "&amp;" in rank["Back"]
    clt = notes[identity.note_guid("linear-algebra", "clt")]
    assert "{{c1::CLT}}" in clt["Text"]
    assert r"\(\bar X_n \to \mathcal" in clt["Text"]
    assert clt["Text"].count("{{c") == 2
    cloze_cards = sorted(c.ord for c in clt.cards())
    assert cloze_cards == [0, 1]
    one = notes[identity.note_guid("other", "one")]
    assert one["Reverse"] == "y" and sorted(c.ord for c in one.cards()) == [0, 1]
    assert one.tags == []
    # The question of a cloze card still holds MathJax delimiters for the reviewer.
    first, second = sorted(clt.cards(), key=lambda c: c.ord)
    assert r"\(\bar X_n" in first.question() and "[...]" in first.question()
    assert r"\(\bar X_n" in second.answer()


# --- updates -------------------------------------------------------------------------


def test_edited_export_updates_notes_in_place(
    loaded: sessionmaker[Session], anki: Anki, decks: Path, tmp_path: Path
) -> None:
    first_now = real_now() - dt.timedelta(hours=2)
    anki.import_package(export(loaded, tmp_path / "v1.apkg", first_now))
    before = {guid: note.id for guid, note in anki.notes().items()}

    (decks / "la.yaml").write_text(EDITED, encoding="utf-8")
    with loaded.begin() as session:
        import_file(session, decks / "la.yaml", real_now() - dt.timedelta(hours=1))
    log = anki.import_package(export(loaded, tmp_path / "v2.apkg", real_now()))

    guid = identity.note_guid
    updated = {n.id.nid for n in log.updated}
    assert updated == {
        before[guid("linear-algebra", "rank")],
        before[guid("linear-algebra", "clt")],
    }
    assert len(log.new) == 1 and len(log.duplicate) == 3
    assert not (log.conflicting or log.missing_notetype or log.first_field_match)
    notes = anki.notes()
    assert len(notes) == 6  # 5 + the added entry, no duplicates
    assert {g: notes[g].id for g in before} == before
    assert anki.our_note_types() == ["Flashcards Basic", "Flashcards Cloze"]
    rank = notes[guid("linear-algebra", "rank")]
    assert "the dimension of the image" in rank["Back"]
    assert sorted(c.ord for c in rank.cards()) == [0, 1]  # reverse card added
    clt = notes[guid("linear-algebra", "clt")]
    assert sorted(c.ord for c in clt.cards()) == [0, 1, 2]  # c3 added
    assert anki_cards(anki) == {
        key: deck for key, (deck, _slot) in our_cards(loaded).items()
    }


def test_unchanged_reexport_changes_nothing(
    loaded: sessionmaker[Session], anki: Anki, tmp_path: Path
) -> None:
    anki.import_package(
        export(loaded, tmp_path / "v1.apkg", real_now() - dt.timedelta(hours=1))
    )
    mods = {g: n.mod for g, n in anki.notes().items()}
    card_count = anki.col.card_count()
    log = anki.import_package(export(loaded, tmp_path / "v1-again.apkg", real_now()))
    assert not (log.new or log.updated or log.conflicting)
    assert len(log.duplicate) == 5
    assert {g: n.mod for g, n in anki.notes().items()} == mods
    assert anki.col.card_count() == card_count
    assert anki.our_note_types() == ["Flashcards Basic", "Flashcards Cloze"]


def test_changed_deck_tags_update_every_note_of_the_deck(
    loaded: sessionmaker[Session], anki: Anki, decks: Path, tmp_path: Path
) -> None:
    """Deck-level tags are on every note: changing them must make each note newer,
    or Anki keeps the old tags (it updates only newer notes, §1.2)."""
    first_now = real_now() - dt.timedelta(hours=2)
    anki.import_package(export(loaded, tmp_path / "v1.apkg", first_now))
    before = {guid: note.id for guid, note in anki.notes().items()}

    (decks / "la.yaml").write_text(
        DECK.replace("tags: [math]", "tags: [maths, algebra]"), encoding="utf-8"
    )
    with loaded.begin() as session:
        import_file(session, decks / "la.yaml", real_now() - dt.timedelta(hours=1))
    log = anki.import_package(export(loaded, tmp_path / "v2.apkg", real_now()))

    guid = identity.note_guid
    ours = {guid("linear-algebra", key) for key in ("basis", "rank", "clt")}
    assert {n.id.nid for n in log.updated} == {before[g] for g in ours}
    assert len(log.duplicate) == 2 and not (log.new or log.conflicting)
    notes = anki.notes()
    assert {g: notes[g].id for g in before} == before
    assert sorted(notes[guid("linear-algebra", "basis")].tags) == [
        "algebra",
        "definition",
        "maths",
    ]
    assert sorted(notes[guid("linear-algebra", "rank")].tags) == ["algebra", "maths"]
    assert notes[guid("other", "one")].tags == []


def test_a_replaced_image_reaches_anki(
    loaded: sessionmaker[Session], anki: Anki, decks: Path, tmp_path: Path
) -> None:
    anki.import_package(
        export(loaded, tmp_path / "v1.apkg", real_now() - dt.timedelta(hours=2))
    )
    image = decks / "basis.png"
    image.write_bytes(b"\x89PNG new picture")
    changed = (real_now() - dt.timedelta(hours=1)).timestamp()
    os.utime(image, (changed, changed))
    log = anki.import_package(export(loaded, tmp_path / "v2.apkg", real_now()))
    assert len(log.updated) == 1 and not log.new
    basis = anki.notes()[identity.note_guid("linear-algebra", "basis")]
    src = basis["Extra"].split('src="', 1)[1].split('"', 1)[0]
    assert (Path(anki.col.media.dir()) / src).read_bytes() == b"\x89PNG new picture"


# --- progress -----------------------------------------------------------------------


def study_history(
    sessions: sessionmaker[Session], decks: Path, now: dt.datetime
) -> None:
    """A month of study that leaves every kind of state behind for today.

    Days 0-19: both decks daily (Good, some Again and Easy). Days 20-29: only
    "other", so the cards of "linear-algebra" are overdue by now; yesterday every
    card of "other" lapses and relearns, so it is due today. Today: a new card of
    "late" answered Good (learning) and a card of "other" Again (relearning).
    """
    first = now - dt.timedelta(days=30)
    with sessions() as session:
        la, other = (
            session.scalars(select(Deck.id).where(Deck.slug == slug)).one()
            for slug in ("linear-algebra", "other")
        )
    for day in range(30):
        moment = first + dt.timedelta(days=day)
        with sessions.begin() as session:
            user = session.scalars(select(User)).one()
            for deck_id in (la, other) if day < 20 else (other,):
                deck = session.get_one(Deck, deck_id)
                ahead = 60 if day == 29 else 0
                for turn in range(40):
                    queue = study.study_queue(
                        session, user=user, deck=deck, now=moment, ahead_days=ahead
                    )
                    if queue.card is None:
                        break
                    if day == 29:
                        rating = 1 if queue.card.state.phase is Phase.REVIEW else 3
                    elif (day * 3 + turn) % 5 == 0:
                        rating = 1
                    else:
                        rating = 4 if turn % 7 == 6 else 3
                    answer(session, user, queue.card, rating, moment, ahead=ahead)
                    moment += dt.timedelta(minutes=12)
    (decks / "late.yaml").write_text(LATE, encoding="utf-8")
    with sessions.begin() as session:
        import_file(session, decks / "late.yaml", now - dt.timedelta(minutes=20))
        user = session.scalars(select(User)).one()
        moment = now - dt.timedelta(minutes=5)
        for slug, rating in (("late", 3), ("other", 1)):
            deck = session.scalars(select(Deck).where(Deck.slug == slug)).one()
            queue = study.study_queue(session, user=user, deck=deck, now=moment)
            assert queue.card is not None
            answer(session, user, queue.card, rating, moment)


def answer(
    session: Session,
    user: User,
    card: study.StudyCard,
    rating: int,
    moment: dt.datetime,
    *,
    ahead: int = 0,
) -> None:
    study.answer_card(
        session,
        user=user,
        card_id=card.card_id,
        rating=rating,
        now=moment,
        expected_version=card.version,
        duration_ms=2000 + rating * 100,
        ahead_days=ahead,
    )


def test_progress_reproduces_the_schedule_in_anki(
    loaded: sessionmaker[Session], anki: Anki, decks: Path, tmp_path: Path
) -> None:
    now = real_now()
    study_history(loaded, decks, now)
    log = anki.import_package(
        export(loaded, tmp_path / "p.apkg", now, with_progress=True),
        with_scheduling=True,
    )
    assert len(log.new) == 6
    with loaded() as session:
        user = session.scalars(select(User)).one()
        clock = user_clock(user)
        today = clock.day_number(now)
        states = {
            (identity.note_guid(slug, key), _ord(slot)): progress
            for progress, slug, key, slot in session.execute(
                select(CardProgress, Deck.slug, Note.key, Card.slot)
                .join(Card, Card.id == CardProgress.card_id)
                .join(Note, Note.id == Card.note_id)
                .join(Deck, Deck.id == Card.deck_id)
                .where(CardProgress.user_id == user.id)
            )
        }
        review_count = session.execute(select(Review.id)).all()
    anki_today = anki.col.sched.today
    seen_phases: set[str] = set()
    compared: list[int] = []
    for cid in anki.col.find_cards(""):
        card = anki.col.get_card(cid)
        state = states.get((card.note().guid, card.ord))
        if state is None or state.phase == "new":
            assert card.type == 0 and card.reps == 0
            continue
        seen_phases.add(state.phase)
        assert (card.reps, card.lapses) == (state.reps, state.lapses)
        if state.phase == "review":
            assert card.type == 2
            assert (card.ivl, card.factor) == (
                state.interval_days,
                round(state.ease * 1000),
            )
            assert card.due - anki_today == state.due_day - today
        else:
            assert card.type == (1 if state.phase == "learning" else 3)
            assert card.left % 1000 == state.remaining_steps
            assert card.due == int(state.due_at.timestamp())
            if state.phase == "relearning":
                assert card.ivl == state.interval_days
                assert card.factor == round(state.ease * 1000)
        if state.suspended or (state.buried_until_day or 0) > today:
            continue
        due_now = (state.phase == "review" and state.due_day <= today) or (
            state.phase != "review" and state.due_at is not None
        )
        if not due_now:
            continue
        ours = preview(
            CardState(
                phase=Phase(state.phase),
                due=state.due_at,
                interval_days=state.interval_days,
                ease=state.ease,
                remaining_steps=state.remaining_steps,
                reps=state.reps,
                lapses=state.lapses,
                last_reviewed_at=state.last_reviewed_at,
            ),
            now=now,
            options=DEFAULT_OPTIONS,
            clock=clock,
            seed=cid + state.reps,
        )[Rating.GOOD]
        good = anki.col._backend.get_scheduling_states(cid).good.normal
        if ours.phase is Phase.REVIEW:
            assert good.WhichOneof("kind") == "review"
            assert good.review.scheduled_days == ours.interval_days
            compared.append(ours.interval_days)
        else:
            assert good.WhichOneof("kind") in ("learning", "relearning")
    assert seen_phases == {"review", "learning", "relearning"}
    assert len(compared) >= 3
    assert any(days >= 3 for days in compared), compared  # fuzzed intervals too
    assert anki.col.db.scalar("select count() from revlog") == len(review_count)
    answers = anki.col.db.list("select ease from revlog order by id")
    assert set(answers) <= {1, 2, 3, 4} and 1 in answers and 3 in answers
    # Check Database finds nothing to repair in the imported schedule.
    message, _ = anki.col.fix_integrity()
    assert "due" not in message.lower() and "invalid" not in message.lower()

"""Import into a real database: upsert by ids, history kept, retire/revive, conflicts."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from flashcards.db.models import Card, CardProgress, Deck, Note, Review
from flashcards.deckfile.render_anki import AnkiFields
from flashcards.services import importing
from flashcards.services.importing import import_paths
from flashcards.services.users import ensure_local_user

DECK = """\
deck: Test deck
id: test-deck
tags: [t]
cards:
  - id: one
    front: What is one?
    back: The first number.
  - id: two
    front: What is two?
    back: One more than one.
    reverse: true
  - id: three
    cloze: "{{c1::Three}} comes after {{c2::two}}."
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def run_import(sessions: sessionmaker[Session], *paths: Path, now: dt.datetime):  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        return import_paths(session, list(paths), now=now)


def live_slots(session: Session) -> set[tuple[str, str]]:
    rows = session.execute(
        select(Note.key, Card.slot)
        .join(Card, Card.note_id == Note.id)
        .where(Card.retired_at.is_(None))
    )
    return {(k, s) for k, s in rows}


def add_history(session: Session, card_key: str, slot: str, now: dt.datetime) -> int:
    """Give a card a state and a review row, as studying would."""
    user = ensure_local_user(session, now=now)
    card = session.execute(
        select(Card).join(Note).where(Note.key == card_key, Card.slot == slot)
    ).scalar_one()
    session.add(
        CardProgress(
            user_id=user.id,
            card_id=card.id,
            deck_id=card.deck_id,
            phase="review",
            queue="review",
            interval_days=3,
            ease=2.5,
            reps=2,
        )
    )
    session.add(
        Review(
            user_id=user.id,
            card_id=card.id,
            deck_id=card.deck_id,
            reviewed_at=now,
            review_day=1,
            rating=3,
            phase="learning",
            interval_before=0,
            interval_after=3,
            ease_before=0.0,
            ease_after=2.5,
        )
    )
    return card.id


def test_import_creates_deck_notes_and_cards(sessions, tmp_path, now):  # type: ignore[no-untyped-def]
    report = run_import(sessions, write(tmp_path / "d.yaml", DECK), now=now)
    assert report.ok
    (deck_report,) = report.decks
    assert (deck_report.added, deck_report.updated, deck_report.retired) == (3, 0, 0)
    with sessions() as session:
        deck = session.scalars(select(Deck)).one()
        assert (deck.slug, deck.name, deck.tags) == ("test-deck", "Test deck", ["t"])
        assert live_slots(session) == {
            ("one", "front"),
            ("two", "front"),
            ("two", "reverse"),
            ("three", "c1"),
            ("three", "c2"),
        }


def test_unchanged_file_is_skipped_by_hash(sessions, tmp_path, now):  # type: ignore[no-untyped-def]
    path = write(tmp_path / "d.yaml", DECK)
    run_import(sessions, path, now=now)
    report = run_import(sessions, path, now=now)
    assert report.decks[0].skipped


def test_edit_keeps_history(sessions, tmp_path, now):  # type: ignore[no-untyped-def]
    path = write(tmp_path / "d.yaml", DECK)
    run_import(sessions, path, now=now)
    with sessions.begin() as session:
        card_id = add_history(session, "one", "front", now)
    write(path, DECK.replace("The first number.", "The first positive integer."))
    report = run_import(sessions, path, now=now + dt.timedelta(days=1))
    assert (report.decks[0].updated, report.decks[0].unchanged) == (1, 2)
    with sessions() as session:
        card = session.get(Card, card_id)
        assert card is not None and card.retired_at is None
        assert card.note.back == "The first positive integer."
        assert card.note.content_updated_at == now + dt.timedelta(days=1)
        assert session.scalar(select(func.count()).select_from(Review)) == 1
        state = session.scalars(select(CardProgress)).one()
        assert (state.card_id, state.interval_days) == (card_id, 3)


def test_removed_entry_is_retired_and_revived_with_history(sessions, tmp_path, now):  # type: ignore[no-untyped-def]
    path = write(tmp_path / "d.yaml", DECK)
    run_import(sessions, path, now=now)
    with sessions.begin() as session:
        card_id = add_history(session, "two", "reverse", now)
    without_two = DECK.replace(
        "  - id: two\n    front: What is two?\n    back: One more than one.\n"
        "    reverse: true\n",
        "",
    )
    write(path, without_two)
    report = run_import(sessions, path, now=now)
    assert report.decks[0].retired == 1
    with sessions() as session:
        assert ("two", "reverse") not in live_slots(session)
        assert session.scalar(select(func.count()).select_from(Review)) == 1
    write(path, DECK)
    report = run_import(sessions, path, now=now)
    assert report.decks[0].revived == 1
    with sessions() as session:
        assert ("two", "reverse") in live_slots(session)
        card = session.get(Card, card_id)
        assert card is not None and card.retired_at is None
        assert session.scalars(select(CardProgress)).one().card_id == card_id


def test_slot_changes_retire_and_add_cards(sessions, tmp_path, now):  # type: ignore[no-untyped-def]
    path = write(tmp_path / "d.yaml", DECK)
    run_import(sessions, path, now=now)
    edited = DECK.replace("    reverse: true\n", "").replace(
        "{{c2::two}}.", "{{c2::two}} and before {{c3::four}}."
    )
    write(path, edited)
    run_import(sessions, path, now=now)
    with sessions() as session:
        slots = live_slots(session)
    assert ("two", "reverse") not in slots
    assert ("three", "c3") in slots


def test_two_files_with_one_deck_id_name_both(sessions, tmp_path, now):  # type: ignore[no-untyped-def]
    a = write(tmp_path / "a.yaml", DECK)
    b = write(tmp_path / "b.yaml", DECK.replace("Test deck", "Other"))
    report = run_import(sessions, tmp_path, now=now)
    assert [d.deck for d in report.decks] == ["test-deck"]
    (failure,) = report.failures
    assert failure.path == str(b)
    assert str(a) in failure.problems[0] and "test-deck" in failure.problems[0]


def test_deck_id_taken_by_an_existing_file_in_a_later_run(sessions, tmp_path, now):  # type: ignore[no-untyped-def]
    a = write(tmp_path / "a.yaml", DECK)
    run_import(sessions, a, now=now)
    b = write(tmp_path / "b.yaml", DECK)
    report = run_import(sessions, b, now=now)
    (failure,) = report.failures
    assert str(a.resolve()) in failure.problems[0]


def test_renamed_file_takes_over_its_deck(sessions, tmp_path, now):  # type: ignore[no-untyped-def]
    a = write(tmp_path / "a.yaml", DECK)
    run_import(sessions, a, now=now)
    b = tmp_path / "b.yaml"
    a.rename(b)
    report = run_import(sessions, b, now=now)
    assert report.ok and report.decks[0].unchanged == 3


def dump(database_url: str) -> list[str]:
    path = database_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.mark.parametrize(
    "bad",
    [
        b"\xff\xfe not utf-8",
        b"deck: X\ncards:\n  - id: a\n    front: Q?\n    back: ''\n",
        b"deck: X\ncards: [\n",
        b"deck: X\ncards:\n  - id: a b\n    front: Q?\n    back: A\n",
    ],
)
def test_bad_file_changes_nothing(sessions, engine, database_url, tmp_path, now, bad):  # type: ignore[no-untyped-def]
    path = write(tmp_path / "d.yaml", DECK)
    run_import(sessions, path, now=now)
    with sessions.begin() as session:
        add_history(session, "one", "front", now)
    before = dump(database_url) if engine.dialect.name == "sqlite" else None
    path.write_bytes(bad)
    report = run_import(sessions, path, now=now + dt.timedelta(hours=1))
    assert not report.ok and report.failures[0].problems
    if before is not None:
        assert dump(database_url) == before


def test_oversized_file_is_refused_unread(sessions, tmp_path, now):  # type: ignore[no-untyped-def]
    path = tmp_path / "big.yaml"
    with path.open("wb") as f:
        f.truncate(6 * 1024 * 1024)  # sparse: refused by size, never read
    with sessions.begin() as session:
        report = import_paths(session, [path], now=now, max_bytes=5 * 1024 * 1024)
    assert "limit" in report.failures[0].problems[0]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Deck)) == 0


def test_one_bad_file_does_not_stop_the_others(sessions, tmp_path, now):  # type: ignore[no-untyped-def]
    write(tmp_path / "a.yaml", DECK)
    write(
        tmp_path / "b.yaml", "deck: B\ncards:\n  - id: x\n    front: ''\n    back: y\n"
    )
    report = run_import(sessions, tmp_path, now=now)
    assert [d.deck for d in report.decks] == ["test-deck"]
    assert report.failures[0].path.endswith("b.yaml")


def anki_columns(session: Session) -> dict[str, tuple[object, ...]]:
    return {
        key: (anki_key, anki_fields)
        for key, anki_key, anki_fields in session.execute(
            select(Note.key, Note.anki_key, Note.anki_fields)
        )
    }


def test_anki_fields_are_rendered_for_new_and_changed_notes_only(
    sessions: sessionmaker[Session],
    tmp_path: Path,
    now: dt.datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rendered: list[str | None] = []
    real = importing.render_entry

    def counting(*content: str | None) -> AnkiFields:
        rendered.append(content[1] or content[3])
        return real(*content)  # type: ignore[arg-type]

    monkeypatch.setattr(importing, "render_entry", counting)
    path = write(tmp_path / "d.yaml", DECK)
    run_import(sessions, path, now=now)
    assert len(rendered) == 3
    with sessions() as session:
        before = anki_columns(session)
    assert all(key and fields for key, fields in before.values())
    write(path, DECK.replace("The first number.", "The *first* number."))
    run_import(sessions, path, now=now + dt.timedelta(days=1))
    assert rendered[3:] == ["What is one?"]
    with sessions() as session:
        after = anki_columns(session)
    assert after["one"] != before["one"] and "<em>first</em>" in str(after["one"][1])
    assert {k: v for k, v in after.items() if k != "one"} == {
        k: v for k, v in before.items() if k != "one"
    }


def test_stale_anki_fields_are_rendered_again_on_the_next_import(
    sessions: sessionmaker[Session], tmp_path: Path, now: dt.datetime
) -> None:
    path = write(tmp_path / "d.yaml", DECK)
    run_import(sessions, path, now=now)
    with sessions.begin() as session:
        expected = anki_columns(session)
        session.execute(update(Note).values(anki_key=None, anki_fields=None))
    write(path, DECK.replace("tags: [t]", "tags: [t]  # touched"))
    run_import(sessions, path, now=now + dt.timedelta(days=1))
    with sessions() as session:
        assert anki_columns(session) == expected


def test_changed_deck_tags_make_every_note_newer(
    sessions: sessionmaker[Session], tmp_path: Path, now: dt.datetime
) -> None:
    """Deck tags reach Anki on each note; Anki updates a note only if it is newer."""
    path = write(tmp_path / "d.yaml", DECK)
    run_import(sessions, path, now=now)
    without_two = DECK.replace(
        "  - id: two\n    front: What is two?\n    back: One more than one.\n"
        "    reverse: true\n",
        "",
    )
    write(path, without_two)
    run_import(sessions, path, now=now + dt.timedelta(days=1))  # "two" retired
    write(path, without_two + "  # a comment: the file changes, its content not\n")
    run_import(sessions, path, now=now + dt.timedelta(days=2))
    assert updated_at(sessions) == {
        "one": now,
        "two": now,
        "three": now,
    }
    later = now + dt.timedelta(days=3)
    write(path, without_two.replace("tags: [t]", "tags: [t, new-tag]"))
    report = run_import(sessions, path, now=later)
    assert report.decks[0].unchanged == 2
    # The retired note too: if it comes back, Anki must take the deck's tags.
    assert updated_at(sessions) == {"one": later, "two": later, "three": later}


def updated_at(sessions: sessionmaker[Session]) -> dict[str, dt.datetime]:
    with sessions() as session:
        rows = session.execute(select(Note.key, Note.content_updated_at))
        return {key: at for key, at in rows}


def test_a_renderer_failure_does_not_stop_the_import(
    sessions: sessionmaker[Session],
    tmp_path: Path,
    now: dt.datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importing.render_entry

    def failing(*content: str | None) -> AnkiFields:
        if content[1] == "What is two?":
            raise RecursionError("a renderer bug")
        return real(*content)  # type: ignore[arg-type]

    monkeypatch.setattr(importing, "render_entry", failing)
    report = run_import(sessions, write(tmp_path / "d.yaml", DECK), now=now)
    assert report.ok and report.decks[0].added == 3
    with sessions() as session:
        stored = anki_columns(session)
    assert stored["two"] == (None, None)
    assert all(stored[key][0] for key in ("one", "three"))

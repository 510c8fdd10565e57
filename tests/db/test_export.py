"""Export from a real database: selection, streaming, mtimes, progress, files, CLI.

Decks come in through the real importer and progress through the real study
service; packages are opened with zipfile and sqlite3.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import sqlite3
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from flashcards.db.models import Card, CardProgress, Deck, Note, Review, User
from flashcards.deckfile import render_anki
from flashcards.deckfile.parse import parse_deck
from flashcards.deckfile.render_anki import entry_key
from flashcards.export import (
    EmptySelectionError,
    ExportError,
    OutputError,
    UnknownDeckError,
    build_package,
    export_yaml,
    find_decks_by_slug,
    identity,
    write_package,
    write_yaml,
)
from flashcards.export import apkg as apkg_module
from flashcards.export import fields as fields_module
from flashcards.export import progress as anki_progress
from flashcards.export.commands import export_command
from flashcards.services import study
from flashcards.services.importing import import_deck, user_scope
from flashcards.services.presets import user_clock
from flashcards.services.users import ensure_local_user

DECK = """\
deck: Math::Linear algebra
id: linear-algebra
description: Core *definitions*.
tags: [math, linear-algebra]
cards:
  - id: basis
    front: What is a **basis**?
    back: |
      A linearly independent spanning set:
      $$v = \\sum_i c_i b_i$$
    tags: [definition]
    reverse: true
    extra: See ![diagram](img/basis.png).
  - id: rank
    front: Rank of $A$ if $a < b$?
    back: dim of the image & more
  - id: clt
    cloze: The {{c1::central limit theorem}} is about {{c2::$\\bar X_n$}}.
"""
OTHER = """\
deck: Other
id: other
cards:
  - id: one
    front: One?
    back: "1"
"""


IMAGE_CHANGED = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def import_file(
    session: Session,
    path: Path,
    now: dt.datetime,
    *,
    scope: str = "shared",
    owner_id: int | None = None,
) -> Deck:
    spec = parse_deck(path.read_bytes(), source=str(path), default_id=path.stem)
    import_deck(
        session,
        spec,
        now=now,
        scope=scope,
        owner_id=owner_id,
        source_path=str(path.resolve()),
    )
    return session.scalars(
        select(Deck).where(Deck.slug == spec.id, Deck.scope == scope)
    ).one()


@pytest.fixture
def decks_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "decks"
    write(folder / "la.yaml", DECK)
    write(folder / "other.yaml", OTHER)
    (folder / "img").mkdir()
    image = folder / "img" / "basis.png"
    image.write_bytes(b"\x89PNG basis")
    # The image was last changed long before the fixed `now` of these tests.
    os.utime(image, (IMAGE_CHANGED.timestamp(), IMAGE_CHANGED.timestamp()))
    return folder


@pytest.fixture
def loaded(
    sessions: sessionmaker[Session], decks_dir: Path, now: dt.datetime
) -> sessionmaker[Session]:
    with sessions.begin() as session:
        ensure_local_user(session, now=now)
        import_file(session, decks_dir / "la.yaml", now)
        import_file(session, decks_dir / "other.yaml", now)
    return sessions


@contextmanager
def opened(
    data: bytes, tmp_path: Path
) -> Iterator[tuple[sqlite3.Connection, zipfile.ZipFile]]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    db = tmp_path / f"col-{len(list(tmp_path.iterdir()))}.anki2"
    db.write_bytes(archive.read("collection.anki2"))
    conn = sqlite3.connect(db)
    try:
        yield conn, archive
    finally:
        conn.close()


def package(sessions: sessionmaker[Session], now: dt.datetime, **kwargs: Any) -> bytes:
    options: dict[str, Any] = {
        "deck_ids": None,
        "user_id": None,
        "with_progress": False,
    }
    options.update(kwargs)
    with sessions() as session:
        return build_package(session, now=now, **options)


def note_rows(conn: sqlite3.Connection) -> dict[str, tuple[Any, ...]]:
    return {
        r[0]: r[1:]
        for r in conn.execute("SELECT guid, mid, mod, tags, flds FROM notes").fetchall()
    }


def deck_id_of(sessions: sessionmaker[Session], slug: str) -> int:
    with sessions() as session:
        return session.scalars(select(Deck.id).where(Deck.slug == slug)).one()


# --- content ------------------------------------------------------------------------


def test_every_visible_deck_is_exported(
    loaded: sessionmaker[Session], now: dt.datetime, tmp_path: Path
) -> None:
    data = package(loaded, now)
    with opened(data, tmp_path) as (conn, archive):
        notes = note_rows(conn)
        decks = json.loads(conn.execute("SELECT decks FROM col").fetchone()[0])
        media = json.loads(archive.read("media"))
        cards = conn.execute("SELECT count(*) FROM cards").fetchone()[0]
        image = archive.read("0")
    guid = identity.note_guid
    assert set(notes) == {
        guid("linear-algebra", "basis"),
        guid("linear-algebra", "rank"),
        guid("linear-algebra", "clt"),
        guid("other", "one"),
    }
    assert cards == 2 + 1 + 2 + 1
    assert {d["name"] for d in decks.values()} >= {"Math::Linear algebra", "Other"}
    basis = notes[guid("linear-algebra", "basis")]
    front, back, extra, reverse = basis[3].split("\x1f")
    assert "<strong>basis</strong>" in front
    assert r"\[v = \sum_i c_i b_i\]" in back
    name = identity.media_name("linear-algebra", "img/basis.png")
    assert f'src="{name}"' in extra and reverse == "y"
    assert media == {"0": name} and image == b"\x89PNG basis"
    assert basis[2] == " math linear-algebra definition "
    rank = notes[guid("linear-algebra", "rank")][3].split("\x1f")
    assert r"\(A\)" in rank[0] and r"\(a &lt; b\)" in rank[0]
    assert "&amp;" in rank[1]
    clt = notes[guid("linear-algebra", "clt")][3].split("\x1f")[0]
    assert "{{c1::central limit theorem}}" in clt and r"{{c2::\(\bar X_n\)}}" in clt


def test_selected_decks_only(
    loaded: sessionmaker[Session], now: dt.datetime, tmp_path: Path
) -> None:
    data = package(loaded, now, deck_ids=[deck_id_of(loaded, "other")])
    with opened(data, tmp_path) as (conn, _):
        assert set(note_rows(conn)) == {identity.note_guid("other", "one")}


def test_retired_entries_are_left_out(
    loaded: sessionmaker[Session], decks_dir: Path, now: dt.datetime, tmp_path: Path
) -> None:
    later = now + dt.timedelta(days=1)
    write(decks_dir / "la.yaml", DECK.replace("    reverse: true\n", ""))
    text = (decks_dir / "la.yaml").read_text()
    start = text.index("  - id: rank")
    end = text.index("  - id: clt")
    write(decks_dir / "la.yaml", text[:start] + text[end:])
    with loaded.begin() as session:
        import_file(session, decks_dir / "la.yaml", later)
    data = package(loaded, later, deck_ids=[deck_id_of(loaded, "linear-algebra")])
    with opened(data, tmp_path) as (conn, _):
        guids = set(note_rows(conn))
        ords = conn.execute(
            "SELECT c.ord FROM cards c JOIN notes n ON n.id = c.nid WHERE n.guid = ?",
            (identity.note_guid("linear-algebra", "basis"),),
        ).fetchall()
    assert identity.note_guid("linear-algebra", "rank") not in guids
    assert ords == [(0,)]


def test_note_mtime_grows_only_for_changed_content(
    loaded: sessionmaker[Session], decks_dir: Path, now: dt.datetime, tmp_path: Path
) -> None:
    first = package(loaded, now)
    later = now + dt.timedelta(days=2)
    write(
        decks_dir / "la.yaml",
        DECK.replace("dim of the image", "dimension of the image"),
    )
    with loaded.begin() as session:
        import_file(session, decks_dir / "la.yaml", later)
    second = package(loaded, later + dt.timedelta(hours=1))
    with opened(first, tmp_path) as (conn, _):
        before = {g: r[1] for g, r in note_rows(conn).items()}
    with opened(second, tmp_path) as (conn, _):
        after = {g: r[1] for g, r in note_rows(conn).items()}
    rank = identity.note_guid("linear-algebra", "rank")
    basis = identity.note_guid("linear-algebra", "basis")
    assert before[rank] == before[basis] == int(now.timestamp())
    assert after[rank] == int(later.timestamp())
    assert {g: m for g, m in after.items() if g != rank} == {
        g: m for g, m in before.items() if g != rank
    }


def export_after_replacing_the_image(
    loaded: sessionmaker[Session], decks_dir: Path, now: dt.datetime, tmp_path: Path
) -> tuple[dt.datetime, dict[str, int]]:
    """Replace basis.png a day later, export the day after: (when, note mtimes)."""
    replaced = now + dt.timedelta(days=1)
    image = decks_dir / "img" / "basis.png"
    image.write_bytes(b"\x89PNG basis v2")
    os.utime(image, (replaced.timestamp(), replaced.timestamp()))
    with opened(package(loaded, now + dt.timedelta(days=2)), tmp_path) as (
        conn,
        archive,
    ):
        mods = {g: r[1] for g, r in note_rows(conn).items()}
        assert archive.read("0") == b"\x89PNG basis v2"
    return replaced, mods


def test_a_replaced_image_makes_its_note_newer(
    loaded: sessionmaker[Session], decks_dir: Path, now: dt.datetime, tmp_path: Path
) -> None:
    replaced, mods = export_after_replacing_the_image(loaded, decks_dir, now, tmp_path)
    assert mods[identity.note_guid("linear-algebra", "basis")] == int(
        replaced.timestamp()
    )
    assert mods[identity.note_guid("linear-algebra", "rank")] == int(now.timestamp())


# --- selection and visibility -------------------------------------------------------


@pytest.fixture
def with_private(
    loaded: sessionmaker[Session], tmp_path: Path, now: dt.datetime
) -> int:
    with loaded.begin() as session:
        owner = User(name="ann", created_at=now)
        session.add(owner)
        session.flush()
        path = write(
            tmp_path / "uploads" / "mine.yaml", OTHER.replace("id: other", "id: mine")
        )
        import_file(session, path, now, scope=user_scope(owner.id), owner_id=owner.id)
        return owner.id


def test_private_decks_only_for_their_owner(
    loaded: sessionmaker[Session], with_private: int, now: dt.datetime, tmp_path: Path
) -> None:
    mine = identity.note_guid("mine", "one")
    with opened(package(loaded, now), tmp_path) as (conn, _):
        assert mine not in note_rows(conn)
    with opened(package(loaded, now, user_id=with_private), tmp_path) as (conn, _):
        assert mine in note_rows(conn)
    with loaded() as session:
        local = session.scalars(select(User.id).where(User.name == "local")).one()
        with pytest.raises(UnknownDeckError, match="no deck with id 'mine'"):
            find_decks_by_slug(session, ["mine"], user_id=local)
        private_id = find_decks_by_slug(session, ["mine"], user_id=with_private)[0]
        with pytest.raises(UnknownDeckError, match=str(private_id)):
            build_package(
                session,
                deck_ids=[private_id],
                user_id=local,
                with_progress=False,
                now=now,
            )


def test_unknown_deck_ids_are_named(loaded: sessionmaker[Session]) -> None:
    with loaded() as session, pytest.raises(UnknownDeckError) as error:
        find_decks_by_slug(session, ["other", "nope", "gone"], user_id=None)
    assert str(error.value) == "no deck with id 'nope', 'gone'"


def test_empty_selection_is_refused(
    sessions: sessionmaker[Session], now: dt.datetime
) -> None:
    with sessions() as session, pytest.raises(EmptySelectionError, match="no deck"):
        build_package(
            session, deck_ids=None, user_id=None, with_progress=False, now=now
        )


def test_deck_with_only_retired_cards_is_empty(
    loaded: sessionmaker[Session], decks_dir: Path, now: dt.datetime
) -> None:
    write(decks_dir / "other.yaml", "deck: Other\nid: other\ncards: []\n")
    with loaded.begin() as session:
        import_file(session, decks_dir / "other.yaml", now)
    with loaded() as session, pytest.raises(EmptySelectionError, match="'other'"):
        build_package(
            session,
            deck_ids=[deck_id_of(loaded, "other")],
            user_id=None,
            with_progress=False,
            now=now,
        )


def test_progress_needs_a_user(loaded: sessionmaker[Session], now: dt.datetime) -> None:
    with loaded() as session, pytest.raises(ExportError, match="user"):
        build_package(session, deck_ids=None, user_id=None, with_progress=True, now=now)


# --- files: atomic writes ----------------------------------------------------------


def test_write_package_replaces_the_file_atomically(
    loaded: sessionmaker[Session], now: dt.datetime, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "all.apkg"
    out.parent.mkdir()
    with loaded() as session:
        result = write_package(
            session, out, deck_ids=None, user_id=None, with_progress=False, now=now
        )
    assert (result.decks, result.notes, result.cards, result.media) == (2, 4, 6, 1)
    assert zipfile.is_zipfile(out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["all.apkg"]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_failed_export_leaves_old_file_and_no_temporary(
    loaded: sessionmaker[Session],
    now: dt.datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "all.apkg"
    out.write_bytes(b"old package")

    def broken(out: Any, **kwargs: Any) -> None:
        out.write(b"half a package")
        raise apkg_module.PackageError("boom")

    monkeypatch.setattr("flashcards.export.service.write_apkg", broken)
    with loaded() as session, pytest.raises(ExportError, match="boom"):
        write_package(
            session, out, deck_ids=None, user_id=None, with_progress=False, now=now
        )
    assert out.read_bytes() == b"old package"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part")) == []


@pytest.mark.parametrize("where", ["missing/x.apkg", "."])
def test_unwritable_paths_give_clear_errors(
    loaded: sessionmaker[Session], now: dt.datetime, tmp_path: Path, where: str
) -> None:
    target = tmp_path / where
    before = sorted(tmp_path.rglob("*"))
    with loaded() as session, pytest.raises(OutputError, match="cannot write"):
        write_package(
            session, target, deck_ids=None, user_id=None, with_progress=False, now=now
        )
    assert sorted(tmp_path.rglob("*")) == before


def test_read_only_folder(
    loaded: sessionmaker[Session], now: dt.datetime, tmp_path: Path
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):
        folder.chmod(0o700)
        pytest.skip("running as root: permissions are not enforced")
    try:
        with loaded() as session, pytest.raises(OutputError, match="Permission denied"):
            write_package(
                session,
                folder / "x.apkg",
                deck_ids=None,
                user_id=None,
                with_progress=False,
                now=now,
            )
    finally:
        folder.chmod(0o700)


# --- progress -----------------------------------------------------------------------


def study_some(sessions: sessionmaker[Session], start: dt.datetime, days: int) -> None:
    """Study every due card once a day, mostly Good, sometimes Again."""
    for day in range(days):
        moment = start + dt.timedelta(days=day)
        with sessions.begin() as session:
            user = session.scalars(select(User).where(User.name == "local")).one()
            for deck in session.scalars(select(Deck)).all():
                for turn in range(40):
                    q = study.study_queue(session, user=user, deck=deck, now=moment)
                    if q.card is None:
                        break
                    rating = 1 if (day + turn) % 7 == 3 else 3
                    study.answer_card(
                        session,
                        user=user,
                        card_id=q.card.card_id,
                        rating=rating,
                        now=moment,
                        expected_version=q.card.version,
                        duration_ms=1500 + turn,
                    )
                    moment += dt.timedelta(minutes=11)


def test_progress_travels_as_card_columns_and_revlog(
    loaded: sessionmaker[Session], now: dt.datetime, tmp_path: Path
) -> None:
    start = now - dt.timedelta(days=20)
    study_some(loaded, start, 20)
    with loaded() as session:
        user = session.scalars(select(User).where(User.name == "local")).one()
        data = build_package(
            session, deck_ids=None, user_id=user.id, with_progress=True, now=now
        )
        clock = user_clock(user)
        today = clock.day_number(now)
        states = {
            (note_key, slot, deck_slug): progress
            for progress, note_key, slot, deck_slug in session.execute(
                select(CardProgress, Note.key, Card.slot, Deck.slug)
                .join(Card, Card.id == CardProgress.card_id)
                .join(Note, Note.id == Card.note_id)
                .join(Deck, Deck.id == Card.deck_id)
            )
        }
        review_count = len(session.scalars(select(Review.id)).all())
    assert review_count > 10
    with opened(data, tmp_path) as (conn, _):
        conf = json.loads(conn.execute("SELECT conf FROM col").fetchone()[0])
        revlog = conn.execute(
            "SELECT count(*), count(DISTINCT id) FROM revlog"
        ).fetchone()
        cards = conn.execute(
            "SELECT n.guid, c.ord, c.type, c.queue, c.due, c.ivl, c.factor, c.reps,"
            " c.lapses, c.left FROM cards c JOIN notes n ON n.id = c.nid"
        ).fetchall()
    assert conf["schedVer"] == 2
    assert revlog == (review_count, review_count)
    by_guid = {
        (identity.note_guid(deck, key), 0 if slot in ("front", "c1") else 1): state
        for (key, slot, deck), state in states.items()
    }
    checked = 0
    for guid, ord_, type_, queue, due, ivl, factor, reps, lapses, left in cards:
        state = by_guid.get((guid, ord_))
        if state is None or state.phase == "new":
            assert type_ == 0
            continue
        checked += 1
        assert reps == state.reps and lapses == state.lapses
        if state.phase == "review":
            assert (type_, ivl, factor) == (
                2,
                state.interval_days,
                round(state.ease * 1000),
            )
            assert due - anki_progress.anki_day(today) == state.due_day - today
            assert queue in (2, -2)
        else:
            assert type_ in (1, 3) and left == state.remaining_steps
    assert checked >= 4


# --- YAML ---------------------------------------------------------------------------


def test_yaml_export_round_trips_content_and_ids(
    loaded: sessionmaker[Session], decks_dir: Path, now: dt.datetime, tmp_path: Path
) -> None:
    out = tmp_path / "again.yaml"
    la = deck_id_of(loaded, "linear-algebra")
    with loaded() as session:
        entries = write_yaml(session, out, deck_id=la, user_id=None)
        text = export_yaml(session, deck_id=la, user_id=None)
        before = {
            n.key: (n.id, n.kind, n.front, n.back, n.cloze, n.reverse, n.extra, n.tags)
            for n in session.scalars(select(Note).where(Note.deck_id == la))
        }
    assert entries == 3 and out.read_text(encoding="utf-8") == text
    spec = parse_deck(out.read_bytes(), source=str(out), default_id="x")
    assert spec.id == "linear-algebra" and spec.name == "Math::Linear algebra"
    assert spec.description == "Core *definitions*."
    assert spec.tags == ("math", "linear-algebra")
    assert [c.id for c in spec.cards] == ["basis", "rank", "clt"]
    later = now + dt.timedelta(days=1)
    with loaded.begin() as session:
        report = import_deck(
            session, spec, now=later, source_path=str((decks_dir / "la.yaml").resolve())
        )
    assert (report.added, report.updated, report.retired, report.unchanged) == (
        0,
        0,
        0,
        3,
    )
    with loaded() as session:
        after = {
            n.key: (n.id, n.kind, n.front, n.back, n.cloze, n.reverse, n.extra, n.tags)
            for n in session.scalars(select(Note).where(Note.deck_id == la))
        }
    assert after == before


# --- CLI ----------------------------------------------------------------------------


def run_cli(sessions: sessionmaker[Session], *args: str, accounts: bool = False) -> Any:
    obj = SimpleNamespace(
        settings=SimpleNamespace(accounts=accounts), sessions=sessions
    )
    return CliRunner().invoke(export_command, list(args), obj=obj)


def test_cli_exports_every_deck(loaded: sessionmaker[Session], tmp_path: Path) -> None:
    out = tmp_path / "all.apkg"
    result = run_cli(loaded, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "2 decks, 4 notes, 6 cards, 1 media files" in result.output
    assert zipfile.is_zipfile(out)


def test_cli_selected_deck_with_progress_of_local_user(
    loaded: sessionmaker[Session], now: dt.datetime, tmp_path: Path
) -> None:
    study_some(loaded, now - dt.timedelta(days=3), 3)
    out = tmp_path / "la.apkg"
    result = run_cli(
        loaded, "--deck", "linear-algebra", "--with-progress", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    assert (
        "1 decks, 3 notes" in result.output and "progress of 'local'" in result.output
    )


def test_cli_errors(loaded: sessionmaker[Session], tmp_path: Path) -> None:
    unknown = run_cli(loaded, "--deck", "nope", "-o", str(tmp_path / "x.apkg"))
    assert unknown.exit_code == 1 and "no deck with id 'nope'" in unknown.output
    missing = run_cli(loaded, "-o", str(tmp_path / "no" / "x.apkg"))
    assert missing.exit_code == 1 and "cannot write" in missing.output
    no_user = run_cli(loaded, "--user", "bob", "-o", str(tmp_path / "x.apkg"))
    assert no_user.exit_code == 1 and "no user 'bob'" in no_user.output
    accounts = run_cli(
        loaded, "--with-progress", "-o", str(tmp_path / "x.apkg"), accounts=True
    )
    assert accounts.exit_code == 1 and "--user" in accounts.output
    yaml_two = run_cli(loaded, "--format", "yaml", "-o", str(tmp_path / "x.yaml"))
    assert yaml_two.exit_code == 2 and "exactly one --deck" in yaml_two.output
    assert list(tmp_path.glob("x.*")) == []


def test_cli_yaml_format_from_suffix(
    loaded: sessionmaker[Session], tmp_path: Path
) -> None:
    out = tmp_path / "other.yml"
    result = run_cli(loaded, "--deck", "other", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert parse_deck(out.read_bytes(), source="o", default_id="o").cards[0].id == "one"


# --- fields stored at import (deckfile.render_anki) ----------------------------------


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each note an export renders instead of using its stored fields, as deck/card."""
    seen: list[str] = []
    real = fields_module.FieldRenderer.fields

    def counting(self: Any, note: Any) -> Any:
        before = len(self.rendered)
        result = real(self, note)
        if len(self.rendered) > before:
            seen.append(f"{note.deck_slug}/{note.key}")
        return result

    monkeypatch.setattr(fields_module.FieldRenderer, "fields", counting)
    return seen


def stored(sessions: sessionmaker[Session]) -> dict[str, tuple[Any, ...]]:
    """key -> (anki_key, anki_fields, anki_images, content_updated_at) of every note."""
    with sessions() as session:
        return {
            row[0]: tuple(row[1:])
            for row in session.execute(
                select(
                    Note.key,
                    Note.anki_key,
                    Note.anki_fields,
                    Note.anki_images,
                    Note.content_updated_at,
                )
            )
        }


def forget_stored_fields(sessions: sessionmaker[Session]) -> None:
    """Make every row look like one from before the fields were stored."""
    with sessions.begin() as session:
        session.execute(
            update(Note).values(anki_key=None, anki_fields=None, anki_images=None)
        )


def fields_in_package(data: bytes, tmp_path: Path) -> dict[str, str]:
    with opened(data, tmp_path) as (conn, _):
        return {guid: row[3] for guid, row in note_rows(conn).items()}


def test_import_stores_each_notes_anki_fields(loaded: sessionmaker[Session]) -> None:
    with loaded() as session:
        note = session.scalars(select(Note).where(Note.key == "basis")).one()
        content = (note.kind, note.front, note.back, note.cloze, note.extra)
    assert "**basis**" in (note.front or "")
    basis = stored(loaded)["basis"]
    assert basis[0] == entry_key(*content)
    front, _back, extra = basis[1].split("\x1f")
    assert "<strong>basis</strong>" in front and 'src="image-0"' in extra
    assert basis[2] == ["img/basis.png"]
    assert stored(loaded)["rank"][2] is None  # no images: NULL, not a JSON null


def test_export_uses_the_stored_fields(
    loaded: sessionmaker[Session],
    renders: list[str],
    now: dt.datetime,
    tmp_path: Path,
) -> None:
    with_stored = fields_in_package(package(loaded, now), tmp_path)
    assert renders == []
    forget_stored_fields(loaded)
    rendered_now = fields_in_package(package(loaded, now), tmp_path)
    assert len(renders) == 4
    assert with_stored == rendered_now
    basis = with_stored[identity.note_guid("linear-algebra", "basis")]
    name = identity.media_name("linear-algebra", "img/basis.png")
    assert f'src="{name}"' in basis and "image-0" not in basis


def test_text_changed_by_other_means_is_rendered_and_stored(
    loaded: sessionmaker[Session],
    renders: list[str],
    now: dt.datetime,
    tmp_path: Path,
) -> None:
    with loaded.begin() as session:
        session.execute(
            update(Note).where(Note.key == "rank").values(back="**changed** text")
        )
    with loaded.begin() as session:
        data = build_package(
            session, deck_ids=None, user_id=None, with_progress=False, now=now
        )
    assert renders == ["linear-algebra/rank"]
    rank = fields_in_package(data, tmp_path)[
        identity.note_guid("linear-algebra", "rank")
    ]
    assert "<strong>changed</strong> text" in rank
    anki_key, anki_fields, _, _ = stored(loaded)["rank"]
    assert anki_key == entry_key(
        "basic", "Rank of $A$ if $a < b$?", "**changed** text", None, None
    )
    assert "<strong>changed</strong>" in anki_fields
    package(loaded, now)
    assert renders == ["linear-algebra/rank"]  # stored by the first export


def test_an_edited_file_stores_new_fields_at_import(
    loaded: sessionmaker[Session],
    renders: list[str],
    decks_dir: Path,
    now: dt.datetime,
    tmp_path: Path,
) -> None:
    before = stored(loaded)
    write(
        decks_dir / "la.yaml", DECK.replace("dim of the image", "the _rank_ of the map")
    )
    with loaded.begin() as session:
        import_file(session, decks_dir / "la.yaml", now + dt.timedelta(days=1))
    after = stored(loaded)
    assert after["rank"][0] != before["rank"][0]
    assert "<em>rank</em> of the map" in after["rank"][1]
    assert {k: v[:3] for k, v in after.items() if k != "rank"} == {
        k: v[:3] for k, v in before.items() if k != "rank"
    }
    data = package(loaded, now + dt.timedelta(days=2))
    assert renders == []
    rank = fields_in_package(data, tmp_path)[
        identity.note_guid("linear-algebra", "rank")
    ]
    assert "<em>rank</em> of the map" in rank


def test_a_new_renderer_version_renders_every_note_again(
    loaded: sessionmaker[Session],
    renders: list[str],
    monkeypatch: pytest.MonkeyPatch,
    now: dt.datetime,
    tmp_path: Path,
) -> None:
    old_keys = {key: row[0] for key, row in stored(loaded).items()}
    monkeypatch.setattr(render_anki, "RENDER_VERSION", render_anki.RENDER_VERSION + 1)
    with loaded.begin() as session:
        build_package(
            session, deck_ids=None, user_id=None, with_progress=False, now=now
        )
    assert len(renders) == 4
    new_keys = {key: row[0] for key, row in stored(loaded).items()}
    assert all(new_keys[key] != old_keys[key] for key in old_keys)
    package(loaded, now)
    assert len(renders) == 4  # the new ones were stored


def test_rows_from_before_stored_fields_are_filled_by_a_committed_export(
    loaded: sessionmaker[Session],
    renders: list[str],
    now: dt.datetime,
    tmp_path: Path,
) -> None:
    forget_stored_fields(loaded)
    package(loaded, now)  # a read-only caller: the session is never committed
    assert all(row[0] is None for row in stored(loaded).values())
    result = run_cli(loaded, "-o", str(tmp_path / "all.apkg"))
    assert result.exit_code == 0, result.output
    assert len(renders) == 8
    rows = stored(loaded)
    assert all(row[0] is not None and row[1] for row in rows.values())
    assert rows["basis"][2] == ["img/basis.png"]
    package(loaded, now)
    assert len(renders) == 8


def test_a_replaced_image_makes_its_note_newer_with_stored_fields(
    loaded: sessionmaker[Session],
    renders: list[str],
    decks_dir: Path,
    now: dt.datetime,
    tmp_path: Path,
) -> None:
    replaced, mods = export_after_replacing_the_image(loaded, decks_dir, now, tmp_path)
    assert renders == []
    assert mods[identity.note_guid("linear-algebra", "basis")] == int(
        replaced.timestamp()
    )


# --- deck-level tags ----------------------------------------------------------------


def test_changed_deck_tags_make_every_note_of_the_deck_newer(
    loaded: sessionmaker[Session], decks_dir: Path, now: dt.datetime, tmp_path: Path
) -> None:
    later = now + dt.timedelta(days=1)
    write(
        decks_dir / "la.yaml",
        DECK.replace("tags: [math, linear-algebra]", "tags: [maths]"),
    )
    with loaded.begin() as session:
        deck = import_file(session, decks_dir / "la.yaml", later)
    assert deck.tags == ["maths"]
    with opened(package(loaded, later + dt.timedelta(hours=1)), tmp_path) as (conn, _):
        rows = note_rows(conn)
    guid = identity.note_guid
    for key in ("basis", "rank", "clt"):
        _mid, mod, tags, _ = rows[guid("linear-algebra", key)]
        assert mod == int(later.timestamp())
        assert "maths" in tags.split() and "math" not in tags.split()
    assert rows[guid("other", "one")][1] == int(now.timestamp())


def test_an_export_that_cannot_store_its_fields_still_succeeds(
    loaded: sessionmaker[Session], now: dt.datetime
) -> None:
    """PostgreSQL: notes locked by another transaction (an import) make the
    write-back give up after a moment; the package is made and the caller's
    transaction stays usable."""
    forget_stored_fields(loaded)
    with loaded() as probe:
        if probe.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite's writer lock is its busy timeout (10 s)")
    with loaded() as importer, loaded() as exporter:
        importer.execute(update(Note).values(line=Note.line))  # holds every row
        started = time.monotonic()
        data = build_package(
            exporter, deck_ids=None, user_id=None, with_progress=False, now=now
        )
        assert time.monotonic() - started < 8
        assert zipfile.is_zipfile(io.BytesIO(data))
        assert exporter.scalar(select(func.count()).select_from(Note)) > 0
        exporter.commit()
        importer.rollback()
    assert all(row[0] is None for row in stored(loaded).values())

"""The .apkg writer on plain rows: open the zip, read collection.anki2 with sqlite3.

Covers note types (frozen ids, names, fields, templates, styling), fields as HTML
(Markdown, escaping, math delimiters, cloze markers), GUIDs and deck ids derived
from stable ids, tags, media, note mtimes, card ordinals, and with progress the
card columns, the collection row and the review log.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import genanki
import pytest

from flashcards.export import identity, notetypes
from flashcards.export import progress as anki_progress
from flashcards.export.apkg import (
    PackageError,
    ProgressSettings,
    write_apkg,
)
from flashcards.export.fields import anki_tags
from flashcards.export.rows import (
    CardRow,
    DeckRow,
    NoteRow,
    ProgressRow,
    ReviewRow,
)
from flashcards.srs import DayClock

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
EARLIER = NOW - dt.timedelta(days=30)
CLOCK = DayClock("UTC", 4)
TODAY = CLOCK.day_number(NOW)


def basic(
    key: str,
    front: str = "Q",
    back: str = "A",
    *,
    deck: str = "d",
    reverse: bool = False,
    extra: str | None = None,
    tags: Sequence[str] = (),
    updated: dt.datetime = EARLIER,
    card_ids: Sequence[int] = (),
    progress: Sequence[ProgressRow | None] = (),
) -> NoteRow:
    slots = ["front", "reverse"] if reverse else ["front"]
    ids = list(card_ids) or [abs(hash((deck, key, s))) % 10**9 for s in slots]
    states = list(progress) + [None] * (len(slots) - len(progress))
    return NoteRow(
        deck_slug=deck,
        key=key,
        kind="basic",
        front=front,
        back=back,
        reverse=reverse,
        extra=extra,
        tags=tuple(tags),
        created_at=EARLIER,
        content_updated_at=updated,
        cards=tuple(
            CardRow(i, s, n, p)
            for n, (i, s, p) in enumerate(zip(ids, slots, states, strict=True))
        ),
    )


def cloze(key: str, text: str, *, deck: str = "d", extra: str | None = None) -> NoteRow:
    numbers = sorted({int(n) for n in re.findall(r"\{\{c(\d+)::", text)})
    return NoteRow(
        deck_slug=deck,
        key=key,
        kind="cloze",
        cloze=text,
        extra=extra,
        created_at=EARLIER,
        content_updated_at=EARLIER,
        cards=tuple(CardRow(1000 + n, f"c{n}", n) for n in numbers),
    )


@contextmanager
def package(
    notes: Sequence[NoteRow],
    *,
    decks: Sequence[DeckRow] = (DeckRow("d", "Deck"),),
    reviews: Sequence[ReviewRow] = (),
    progress: bool = False,
    now: dt.datetime = NOW,
    tmp: Path | None = None,
) -> Iterator[tuple[sqlite3.Connection, zipfile.ZipFile, Any]]:
    buffer = io.BytesIO()
    stats = write_apkg(
        buffer,
        decks=decks,
        notes=notes,
        reviews=reviews,
        now=now,
        progress=ProgressSettings(CLOCK) if progress else None,
    )
    archive = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "collection.anki2"
        path.write_bytes(archive.read("collection.anki2"))
        conn = sqlite3.connect(path)
        try:
            yield conn, archive, stats
        finally:
            conn.close()


def col_json(conn: sqlite3.Connection, column: str) -> Any:
    return json.loads(conn.execute(f"SELECT {column} FROM col").fetchone()[0])


def notes_by_guid(conn: sqlite3.Connection) -> dict[str, tuple[Any, ...]]:
    rows = conn.execute("SELECT guid, mid, mod, tags, flds, id FROM notes").fetchall()
    return {row[0]: row[1:] for row in rows}


def fields_of(conn: sqlite3.Connection, deck: str, key: str) -> list[str]:
    guid = identity.note_guid(deck, key)
    (flds,) = conn.execute("SELECT flds FROM notes WHERE guid = ?", (guid,)).fetchone()
    return str(flds).split("\x1f")


def cards_of(conn: sqlite3.Connection, deck: str, key: str) -> list[tuple[Any, ...]]:
    guid = identity.note_guid(deck, key)
    return conn.execute(
        "SELECT c.ord, c.type, c.queue, c.due, c.ivl, c.factor, c.reps, c.lapses,"
        " c.left, c.data, c.did, c.id FROM cards c JOIN notes n ON n.id = c.nid"
        " WHERE n.guid = ? ORDER BY c.ord",
        (guid,),
    ).fetchall()


# --- the package ------------------------------------------------------------------


def test_package_holds_collection_and_media_index() -> None:
    with package([basic("a")]) as (conn, archive, stats):
        assert archive.namelist()[:2] == ["collection.anki2", "media"]
        assert json.loads(archive.read("media")) == {}
        assert conn.execute("SELECT ver FROM col").fetchone()[0] == 11
        assert (stats.decks, stats.notes, stats.cards, stats.media) == (1, 1, 1, 0)


# --- note types --------------------------------------------------------------------


def test_note_types_have_frozen_ids_names_fields_and_templates() -> None:
    with package([basic("a", reverse=True), cloze("c", "{{c1::x}}")]) as (conn, _, _s):
        models = col_json(conn, "models")
    assert set(models) == {"1622970970", "1274698669"}
    basic_model, cloze_model = models["1622970970"], models["1274698669"]
    assert basic_model["name"] == "Flashcards Basic"
    assert [f["name"] for f in basic_model["flds"]] == [
        "Front",
        "Back",
        "Extra",
        "Reverse",
    ]
    assert [t["name"] for t in basic_model["tmpls"]] == ["Card 1", "Card 2"]
    assert basic_model["type"] == 0 and basic_model["sortf"] == 0
    assert "{{#Reverse}}" in basic_model["tmpls"][1]["qfmt"]
    assert cloze_model["name"] == "Flashcards Cloze"
    assert [f["name"] for f in cloze_model["flds"]] == ["Text", "Extra"]
    assert [t["name"] for t in cloze_model["tmpls"]] == ["Cloze"]
    assert cloze_model["type"] == 1
    assert "{{cloze:Text}}" in cloze_model["tmpls"][0]["qfmt"]
    for model in (basic_model, cloze_model):
        assert model["mod"] == notetypes.STYLE_MOD
        assert ".nightMode" in model["css"] and ".card" in model["css"]
        assert "{{#Extra}}" in model["tmpls"][0]["afmt"]


def test_frozen_constants_never_change() -> None:
    """Changing any of these makes Anki copy note types or duplicate notes."""
    assert notetypes.BASIC_ID == 1622970970
    assert notetypes.CLOZE_ID == 1274698669
    assert identity.NAMESPACE == "flashcards.selfhosted/v1"
    assert identity.note_guid("linear-algebra", "basis") == genanki.guid_for(
        "flashcards.selfhosted/v1", "linear-algebra", "basis"
    )
    assert identity.deck_id("linear-algebra") == identity.deck_id("linear-algebra")
    assert 1 << 30 <= identity.deck_id("x") < 1 << 31
    assert int(NOW.timestamp()) + 365 * 86400 >= notetypes.STYLE_MOD


def test_note_guids_are_genankis() -> None:
    """identity.note_guid computes genanki.guid_for itself (faster): same values."""
    ids = [("linear-algebra", "basis"), ("", ""), ("é-deck", "ключ"), ("a__b", "c")]
    ids += [(f"deck{i % 7}", f"card-{i * 7919}") for i in range(500)]
    for deck, key in ids:
        expected = genanki.guid_for(identity.NAMESPACE, deck, key)
        assert identity.note_guid(deck, key) == expected, (deck, key)


def test_only_used_note_types_are_written() -> None:
    with package([basic("a")]) as (conn, _, _s):
        assert set(col_json(conn, "models")) == {str(notetypes.BASIC_ID)}


# --- fields -------------------------------------------------------------------------


def test_markdown_is_rendered_and_plain_text_escaped() -> None:
    note = basic("a", "What is **bold**?", "a<b & c", extra="Some *extra*")
    with package([note]) as (conn, _, _s):
        front, back, extra, reverse = fields_of(conn, "d", "a")
    assert "<strong>bold</strong>" in front
    assert "a&lt;b &amp; c" in back and "<b" not in back
    assert "<em>extra</em>" in extra
    assert reverse == ""


def test_math_becomes_anki_mathjax_delimiters() -> None:
    note = basic("m", "Inline $x^2 < y$ and \\(z\\)", "$$\\frac{a}{b}$$")
    with package([note]) as (conn, _, _s):
        front, back, _extra, _rev = fields_of(conn, "d", "m")
    assert r"\(x^2 &lt; y\)" in front and r"\(z\)" in front
    assert r"\[\frac{a}{b}\]" in back
    assert "$" not in front + back


def test_cloze_markers_are_kept_with_math_inside() -> None:
    note = cloze(
        "c", "The {{c1::derivative}} of $x^2$ is {{c2::$2x$::hint}}", extra="E"
    )
    with package([note]) as (conn, _, _s):
        text, extra = fields_of(conn, "d", "c")
        cards = cards_of(conn, "d", "c")
    assert "{{c1::derivative}}" in text
    assert r"{{c2::\(2x\)::hint}}" in text
    assert r"\(x^2\)" in text
    assert "E" in extra
    assert [c[0] for c in cards] == [0, 1]


def test_reverse_field_and_cards() -> None:
    with package([basic("r", reverse=True), basic("n")]) as (conn, _, stats):
        assert fields_of(conn, "d", "r")[3] == notetypes.REVERSE_ON
        assert fields_of(conn, "d", "n")[3] == ""
        assert [c[0] for c in cards_of(conn, "d", "r")] == [0, 1]
        assert [c[0] for c in cards_of(conn, "d", "n")] == [0]
    assert stats.cards == 3


def test_stale_reverse_card_is_left_out_when_reverse_is_off() -> None:
    note = basic("r", reverse=True)
    stale = note._replace(reverse=False)
    with package([stale]) as (conn, _, _s):
        assert [c[0] for c in cards_of(conn, "d", "r")] == [0]


def test_note_without_cards_is_skipped() -> None:
    empty = NoteRow(deck_slug="d", key="e", kind="basic", front="x", back="y")
    with package([empty, basic("a")]) as (conn, _, stats):
        assert stats.notes == 1
        assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 1


# --- identity -----------------------------------------------------------------------


def test_guids_come_from_deck_and_card_ids_not_content() -> None:
    with package([basic("a", "Q1"), basic("b", "Q1")]) as (conn, _, _s):
        first = set(notes_by_guid(conn))
    with package([basic("a", "Edited"), basic("b", "Q1")]) as (conn, _, _s):
        second = set(notes_by_guid(conn))
    assert (
        first == second == {identity.note_guid("d", "a"), identity.note_guid("d", "b")}
    )
    assert identity.note_guid("d", "a") != identity.note_guid("e", "a")
    assert identity.note_guid("d", "a") != genanki.guid_for("d", "a")


def test_duplicate_card_id_in_a_deck_is_refused() -> None:
    with pytest.raises(PackageError, match="twice"), package([basic("a"), basic("a")]):
        pass


def test_decks_keep_subdeck_names_and_derived_ids() -> None:
    decks = (
        DeckRow("la", "Math::Linear algebra", "Vectors *and* maps"),
        DeckRow("p", "P"),
    )
    notes = [basic("a", deck="la"), basic("b", deck="p")]
    with package(notes, decks=decks) as (conn, _, _s):
        anki_decks = col_json(conn, "decks")
        la_cards = cards_of(conn, "la", "a")
    names = {d["name"]: int(i) for i, d in anki_decks.items()}
    assert names["Math::Linear algebra"] == identity.deck_id("la")
    assert names["P"] == identity.deck_id("p")
    assert la_cards[0][10] == identity.deck_id("la")
    assert "<em>and</em>" in anki_decks[str(identity.deck_id("la"))]["desc"]


def test_row_ids_are_unique_and_never_in_the_future() -> None:
    notes = [basic(f"n{i}", reverse=True) for i in range(50)]
    with package(notes) as (conn, _, _s):
        note_ids = [r[0] for r in conn.execute("SELECT id FROM notes")]
        card_ids = [r[0] for r in conn.execute("SELECT id FROM cards")]
    assert len(set(note_ids)) == 50 and len(set(card_ids)) == 100
    limit = int(NOW.timestamp() * 1000) + 86_400_000
    assert max(note_ids + card_ids) < limit
    assert min(note_ids) >= int(EARLIER.timestamp() * 1000)


# --- mtimes -------------------------------------------------------------------------


def test_note_mtime_is_the_last_content_change_never_in_the_future() -> None:
    changed = NOW - dt.timedelta(hours=1)
    notes = [
        basic("old", updated=EARLIER),
        basic("new", updated=changed),
        basic("future", updated=NOW + dt.timedelta(days=2)),
    ]
    with package(notes) as (conn, _, _s):
        mods = {guid: row[1] for guid, row in notes_by_guid(conn).items()}
        card_mods = {r[0] for r in conn.execute("SELECT mod FROM cards")}
    assert mods[identity.note_guid("d", "old")] == int(EARLIER.timestamp())
    assert mods[identity.note_guid("d", "new")] == int(changed.timestamp())
    assert mods[identity.note_guid("d", "future")] == int(NOW.timestamp())
    assert card_mods <= set(mods.values())


def test_unchanged_content_gives_the_same_mtime_in_a_later_export() -> None:
    with package([basic("a")], now=NOW) as (conn, _, _s):
        first = notes_by_guid(conn)
    with package([basic("a")], now=NOW + dt.timedelta(days=5)) as (conn, _, _s):
        second = notes_by_guid(conn)
    assert [r[1] for r in first.values()] == [r[1] for r in second.values()]


# --- tags ---------------------------------------------------------------------------


def test_tags_from_deck_and_card_with_spaces_replaced() -> None:
    decks = (DeckRow("d", "Deck", tags=("math", "linear algebra")),)
    note = basic("a", tags=["definition", "Math", "two  words", " "])
    with package([note], decks=decks) as (conn, _, _s):
        (tags,) = conn.execute("SELECT tags FROM notes").fetchone()
    assert tags == " math linear_algebra definition two_words "
    assert anki_tags(["a b", "A_B", "c"]) == ["a_b", "c"]


def test_note_without_tags_has_empty_tag_string() -> None:
    with package([basic("a")]) as (conn, _, _s):
        assert conn.execute("SELECT tags FROM notes").fetchone()[0] == ""


# --- media --------------------------------------------------------------------------


def test_images_are_packed_under_stable_names(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "plot.png").write_bytes(b"\x89PNG fake")
    decks = (DeckRow("d", "Deck", base_dir=tmp_path),)
    notes = [
        basic("a", "See ![a plot](img/plot.png)", "Also ![missing](gone.png)"),
        basic("b", "Again ![same](img/plot.png)"),
        basic("c", "Remote ![r](https://example.com/x.png) and ![up](../secret.png)"),
    ]
    with package(notes, decks=decks) as (conn, archive, stats):
        media = json.loads(archive.read("media"))
        front_a = fields_of(conn, "d", "a")[0]
        front_b = fields_of(conn, "d", "b")[0]
        front_c = fields_of(conn, "d", "c")[0]
        packed = archive.read("0")
    name = identity.media_name("d", "img/plot.png")
    assert media == {"0": name}
    assert packed == b"\x89PNG fake"
    assert f'src="{name}"' in front_a and f'src="{name}"' in front_b
    assert name.startswith("d-plot-") and name.endswith(".png")
    assert not name.startswith("_")
    assert "secret" not in front_c and "<img" not in front_c
    assert stats.media == 1
    assert len(stats.warnings) == 1 and "gone.png" in stats.warnings[0]


def test_media_names_differ_by_deck_and_path() -> None:
    names = {
        identity.media_name("a", "x.png"),
        identity.media_name("b", "x.png"),
        identity.media_name("a", "sub/x.png"),
    }
    assert len(names) == 3
    assert identity.media_name("a", "./sub//x.png") == identity.media_name(
        "a", "sub/x.png"
    )


def test_a_replaced_image_makes_its_notes_newer(tmp_path: Path) -> None:
    image = tmp_path / "p.png"
    image.write_bytes(b"v2")
    replaced = NOW - dt.timedelta(hours=3)
    os.utime(image, (replaced.timestamp(), replaced.timestamp()))
    decks = (DeckRow("d", "Deck", base_dir=tmp_path),)
    notes = [basic("img", "![p](p.png)"), basic("plain")]
    with package(notes, decks=decks) as (conn, _, _s):
        mods = {guid: row[1] for guid, row in notes_by_guid(conn).items()}
    assert mods[identity.note_guid("d", "img")] == int(replaced.timestamp())
    assert mods[identity.note_guid("d", "plain")] == int(EARLIER.timestamp())


def test_images_outside_the_deck_folder_are_never_packed(tmp_path: Path) -> None:
    deck_dir = tmp_path / "deck"
    deck_dir.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("private key")
    (deck_dir / "leak.png").symlink_to(secret)
    decks = (DeckRow("d", "Deck", base_dir=deck_dir),)
    with package([basic("a", "![x](leak.png)")], decks=decks) as (_c, archive, stats):
        assert json.loads(archive.read("media")) == {}
        assert archive.namelist() == ["collection.anki2", "media"]
    assert "outside the deck's folder" in stats.warnings[0]


def test_deck_without_folder_warns_about_images() -> None:
    with package([basic("a", "![p](p.png)")]) as (_conn, archive, stats):
        assert json.loads(archive.read("media")) == {}
    assert stats.warnings and "no folder" in stats.warnings[0]


# --- progress: collection row -------------------------------------------------------


def test_collection_row_uses_scheduler_v2_and_a_fixed_day_zero() -> None:
    with package([basic("a")], progress=True) as (conn, _, _s):
        crt = conn.execute("SELECT crt FROM col").fetchone()[0]
        conf = col_json(conn, "conf")
    assert crt == anki_progress.COLLECTION_CREATED
    assert dt.datetime.fromtimestamp(crt, dt.UTC) == dt.datetime(
        2020, 1, 1, 12, tzinfo=dt.UTC
    )
    assert conf["schedVer"] == 2 and conf["creationOffset"] == 0
    assert conf["rollover"] == 4 and conf["nextPos"] == 2


# --- progress: cards ----------------------------------------------------------------


def review_state(**changes: Any) -> ProgressRow:
    values: dict[str, Any] = {
        "phase": "review",
        "queue": "review",
        "due_day": TODAY + 3,
        "due_at": CLOCK.day_start(TODAY + 3),
        "interval_days": 10,
        "ease": 2.35,
        "reps": 7,
        "lapses": 1,
        "last_reviewed_at": NOW - dt.timedelta(days=7),
    }
    values.update(changes)
    return ProgressRow(**values)


def test_review_card_columns() -> None:
    note = basic("a", progress=[review_state()])
    with package([note], progress=True) as (conn, _, _s):
        ((_ord, type_, queue, due, ivl, factor, reps, lapses, left, data, *_),) = (
            cards_of(conn, "d", "a")
        )
    assert (type_, queue, ivl, factor, reps, lapses, left) == (2, 2, 10, 2350, 7, 1, 0)
    day_zero = (dt.date(2020, 1, 1) - dt.date(1970, 1, 1)).days
    assert due == TODAY + 3 - day_zero
    assert json.loads(data) == {
        "pos": 0,
        "lrt": int((NOW - dt.timedelta(days=7)).timestamp()),
    }


def test_learning_cards_are_intraday_or_day_learning() -> None:
    soon = NOW + dt.timedelta(minutes=10)
    tomorrow = CLOCK.day_start(TODAY + 1) + dt.timedelta(hours=2)
    notes = [
        basic(
            "l",
            progress=[
                ProgressRow(
                    "learning", "learning", due_at=soon, remaining_steps=1, reps=1
                )
            ],
        ),
        basic(
            "d",
            progress=[
                ProgressRow(
                    "learning", "learning", due_at=tomorrow, remaining_steps=2, reps=1
                )
            ],
        ),
        basic(
            "r",
            progress=[
                ProgressRow(
                    "relearning",
                    "learning",
                    due_at=soon,
                    interval_days=1,
                    ease=2.3,
                    remaining_steps=1,
                    reps=9,
                    lapses=2,
                )
            ],
        ),
    ]
    with package(notes, progress=True) as (conn, _, _s):
        learning = cards_of(conn, "d", "l")[0]
        day_learning = cards_of(conn, "d", "d")[0]
        relearning = cards_of(conn, "d", "r")[0]
    assert learning[1:9] == (1, 1, int(soon.timestamp()), 0, 0, 1, 0, 1)
    assert day_learning[1:3] == (1, 3)
    assert day_learning[3] == anki_progress.anki_day(TODAY + 1)
    assert day_learning[8] == 2
    assert relearning[1:9] == (3, 1, int(soon.timestamp()), 1, 2300, 9, 2, 1)


def test_new_suspended_and_buried_cards() -> None:
    notes = [
        basic("n"),
        basic("s", progress=[review_state(suspended=True)]),
        basic("b", progress=[ProgressRow("new", "new", buried_until_day=TODAY + 1)]),
        basic("old", progress=[ProgressRow("new", "new", buried_until_day=TODAY)]),
    ]
    with package(notes, progress=True) as (conn, _, _s):
        new = cards_of(conn, "d", "n")[0]
        suspended = cards_of(conn, "d", "s")[0]
        buried = cards_of(conn, "d", "b")[0]
        unburied = cards_of(conn, "d", "old")[0]
    assert new[1:9] == (0, 0, 0, 0, 0, 0, 0, 0)
    assert suspended[1:3] == (2, -1)
    assert buried[1:4] == (0, -2, 2)
    assert unburied[1:4] == (0, 0, 3)


def test_progress_is_ignored_without_the_option() -> None:
    note = basic("a", progress=[review_state(suspended=True, is_leech=True)])
    with package([note], progress=False) as (conn, _, _s):
        card = cards_of(conn, "d", "a")[0]
        (tags,) = conn.execute("SELECT tags FROM notes").fetchone()
        conf = col_json(conn, "conf")
    assert card[1:9] == (0, 0, 0, 0, 0, 0, 0, 0)
    assert "leech" not in tags
    assert conf["schedVer"] == 2


def test_leech_becomes_a_tag_with_progress() -> None:
    note = basic("a", progress=[review_state(is_leech=True)])
    with package([note], progress=True) as (conn, _, _s):
        assert "leech" in conn.execute("SELECT tags FROM notes").fetchone()[0].split()


def test_new_positions_follow_export_order() -> None:
    notes = [basic("a", reverse=True), basic("b")]
    with package(notes) as (conn, _, _s):
        dues = [c[3] for c in cards_of(conn, "d", "a") + cards_of(conn, "d", "b")]
    assert dues == [0, 1, 2]


# --- progress: review log -----------------------------------------------------------


def test_review_log_rows() -> None:
    card_id = 77
    note = basic("a", card_ids=[card_id], progress=[review_state()])
    t = NOW - dt.timedelta(days=20)
    reviews = [
        ReviewRow(card_id, t, 3, "new", 0, 0, 600, 0.0, 4000),
        ReviewRow(card_id, t, 3, "learning", 0, 1, 0, 2.5, 3000),  # same millisecond
        ReviewRow(card_id, t + dt.timedelta(days=1), 1, "review", 1, 1, 600, 2.3, 9000),
        ReviewRow(
            card_id,
            t + dt.timedelta(days=1, minutes=10),
            3,
            "relearning",
            1,
            1,
            0,
            2.3,
            2000,
        ),
        ReviewRow(999, t, 3, "new", 0, 0, 60, 0.0, 1),  # a card not in the package
    ]
    with package([note], reviews=reviews, progress=True) as (conn, _, stats):
        rows = conn.execute(
            "SELECT id, cid, usn, ease, ivl, lastIvl, factor, time, type FROM revlog"
            " ORDER BY id"
        ).fetchall()
        (anki_card,) = conn.execute("SELECT id FROM cards").fetchone()
    t_ms = int(t.timestamp() * 1000)
    assert stats.reviews == 4
    assert [r[0] for r in rows] == [
        t_ms,
        t_ms + 1,
        t_ms + 86_400_000,
        t_ms + 87_000_000,
    ]
    assert {r[1] for r in rows} == {anki_card}
    assert [r[3] for r in rows] == [3, 3, 1, 3]
    assert [r[4] for r in rows] == [-600, 1, -600, 1]
    assert [r[5] for r in rows] == [0, -600, 1, -600]
    assert [r[6] for r in rows] == [0, 2500, 2300, 2300]
    assert [r[7] for r in rows] == [4000, 3000, 9000, 2000]
    assert [r[8] for r in rows] == [0, 0, 1, 2]


def test_reviews_are_left_out_without_progress() -> None:
    note = basic("a", card_ids=[5])
    reviews = [ReviewRow(5, NOW, 3, "new", 0, 0, 600, 0.0, 1)]
    with package([note], reviews=reviews) as (conn, _, stats):
        assert conn.execute("SELECT count(*) FROM revlog").fetchone()[0] == 0
    assert stats.reviews == 0


# --- pure helpers -------------------------------------------------------------------


def test_card_ord_for_slots() -> None:
    assert [notetypes.card_ord(s) for s in ("front", "reverse", "c1", "c12")] == [
        0,
        1,
        0,
        11,
    ]
    with pytest.raises(ValueError, match="slot"):
        notetypes.card_ord("c0")


def test_anki_day_numbers() -> None:
    assert (
        anki_progress.anki_day(
            CLOCK.day_number(dt.datetime(2020, 1, 1, 12, tzinfo=dt.UTC))
        )
        == 0
    )
    assert anki_progress.anki_day(TODAY) == (NOW.date() - dt.date(2020, 1, 1)).days

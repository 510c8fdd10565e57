"""The `flashcards` command: exit codes and messages of import, check and ids."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from flashcards.cli import main

GOOD = """\
deck: Good deck
cards:
  - id: one
    front: What is one?
    back: The first number.
"""
BAD = """\
deck: Bad deck
cards:
  - id: one
    front: What is one?
    bakc: typo
"""
NO_IDS = """\
deck: Pins   # a comment that must survive
cards:
  # first card
  - front: What is **two**?
    back: One more than one.
  - id: kept
    front: Kept?
    back: Yes, it is.
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, instance: Path, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(main, ["--instance", str(instance), *args], catch_exceptions=False)


def test_import_prints_report_and_second_run_is_unchanged(runner, tmp_path):  # type: ignore[no-untyped-def]
    deck = tmp_path / "good.yaml"
    deck.write_text(GOOD)
    result = invoke(runner, tmp_path / "inst", "import", str(deck))
    assert result.exit_code == 0, result.output
    assert "good: 1 added, 0 updated, 0 retired, 0 revived, 0 unchanged" in result.output
    again = invoke(runner, tmp_path / "inst", "import", str(deck))
    assert "good: unchanged" in again.output
    assert (tmp_path / "inst" / "flashcards.sqlite3").exists()


def test_import_fails_per_file_and_imports_the_others(runner, tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "decks").mkdir()
    (tmp_path / "decks" / "good.yaml").write_text(GOOD)
    (tmp_path / "decks" / "bad.yaml").write_text(BAD)
    result = invoke(runner, tmp_path / "inst", "import", str(tmp_path / "decks"))
    assert result.exit_code == 1
    assert "good: 1 added" in result.output
    assert "bad.yaml: not imported" in result.output
    assert "unknown key 'bakc' (did you mean 'back'?)" in result.output
    db = sqlite3.connect(tmp_path / "inst" / "flashcards.sqlite3")
    assert db.execute("SELECT slug FROM decks").fetchall() == [("good",)]


def test_import_of_a_missing_path_fails(runner, tmp_path):  # type: ignore[no-untyped-def]
    result = invoke(runner, tmp_path / "inst", "import", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1
    assert "no such file or folder" in result.output


def test_check_reports_every_problem_and_touches_no_database(runner, tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "bad.yaml").write_text(BAD.replace("What is one?", "''"))
    result = invoke(runner, tmp_path / "inst", "check", str(tmp_path / "bad.yaml"))
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "bad.yaml" in line]
    assert len(lines) >= 2  # the empty front and the unknown key, at once
    assert all("card 'one'" in line for line in lines)
    assert not (tmp_path / "inst").exists()


def test_check_passes_good_files(runner, tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "good.yaml").write_text(GOOD)
    result = invoke(runner, tmp_path / "inst", "check", str(tmp_path))
    assert result.exit_code == 0
    assert "ok (1 cards)" in result.output


def test_check_names_both_files_declaring_one_deck_id(runner, tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "a.yaml").write_text(GOOD + "id: same\n")
    (tmp_path / "b.yaml").write_text(GOOD + "id: same\n")
    result = invoke(runner, tmp_path / "inst", "check", str(tmp_path))
    assert result.exit_code == 1
    assert "a.yaml" in result.output and "b.yaml" in result.output


def test_ids_pins_missing_ids_keeping_comments(runner, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "pins.yaml"
    path.write_text(NO_IDS)
    result = invoke(runner, tmp_path / "inst", "ids", str(path))
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert "# a comment that must survive" in text and "# first card" in text
    assert "id: what-is-two" in text
    assert text.count("id: kept") == 1
    check = invoke(runner, tmp_path / "inst", "check", str(path))
    assert check.exit_code == 0 and "warning" not in check.output


def test_shipped_decks_pass_check(runner, tmp_path):  # type: ignore[no-untyped-def]
    decks = Path(__file__).resolve().parents[2] / "decks"
    result = invoke(runner, tmp_path / "inst", "check", str(decks))
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok (") == 4

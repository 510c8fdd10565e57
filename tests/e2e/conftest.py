"""Browser-test fixtures: Debian's Chromium driven by Playwright against a real
`flashcards serve` process on a SQLite file, with a tmp instance and decks folder.

Without /usr/bin/chromium the tests are skipped, unless CI is set: then they fail.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

STUDY_YAML = """\
deck: Study
id: study
cards:
""" + "".join(
    f"  - id: card-{n}\n    front: Question number {n}?\n    back: Answer number {n}.\n"
    for n in range(1, 8)
)

MATH_YAML = r"""
deck: Study::Math
id: math
description: Formulas rendered as MathML.
cards:
  - id: gauss
    front: What is $\int_{-\infty}^{\infty} e^{-x^2}\,dx$?
    back: |
      $$\int_{-\infty}^{\infty} e^{-x^2}\,dx = \sqrt{\pi}$$
    extra: Square the integral and switch to polar coordinates.
"""

CLOZE_YAML = """
deck: Cloze
id: cloze
cards:
  - id: cell
    cloze: The {{c1::mitochondria}} is the powerhouse of the cell.
"""


@dataclass
class Server:
    url: str
    database: Path
    decks: Path

    def deck_id(self, slug: str) -> int:
        with sqlite3.connect(self.database) as conn:
            row = conn.execute("SELECT id FROM decks WHERE slug = ?", (slug,)).fetchone()
        assert row, slug
        return int(row[0])

    def reviews(self) -> list[tuple[int, int, int]]:
        """(card_id, rating, duration_ms) of every logged answer, oldest first."""
        with sqlite3.connect(self.database) as conn:
            return list(
                conn.execute("SELECT card_id, rating, duration_ms FROM reviews ORDER BY id")
            )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not start:\n{log.read_text()}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A real `flashcards serve` process with three small decks."""
    decks = tmp_path / "decks"
    decks.mkdir()
    (decks / "study.yaml").write_text(STUDY_YAML)
    (decks / "math.yaml").write_text(MATH_YAML)
    (decks / "cloze.yaml").write_text(CLOZE_YAML)
    yield from run_server(tmp_path, decks)


@pytest.fixture
def empty_server(tmp_path: Path) -> Iterator[Server]:
    """The same with an empty decks folder: what a newcomer sees."""
    decks = tmp_path / "empty-decks"
    decks.mkdir()
    yield from run_server(tmp_path, decks)


def run_server(tmp_path: Path, decks: Path) -> Iterator[Server]:
    instance = tmp_path / "instance"
    port = _free_port()
    env = {
        **os.environ,
        "FLASHCARDS_INSTANCE": str(instance),
        "FLASHCARDS_DECKS": str(decks),
    }
    env.pop("FLASHCARDS_DATABASE_URL", None)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "flashcards.cli", "serve", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url + "/", process, log)
        yield Server(url=url, database=instance / "flashcards.sqlite3", decks=decks)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must run the browser tests")
        pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: object) -> Iterator[object]:
    from playwright.sync_api import Browser

    assert isinstance(chromium, Browser)
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert not errors, errors

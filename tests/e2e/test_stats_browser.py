"""The Statistics page in Chromium: screenshots (desktop and 360 px, light and dark)
into test-artifacts/, no CSP violations, charts drawn and themed, tables, links.

The app runs in this process (werkzeug in a thread) on a SQLite file filled with a
seeded 14-month history, with the clock fixed at 10 March 2026 12:00 UTC.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import threading
from collections.abc import Iterator
from typing import Literal

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from werkzeug.serving import make_server

from flashcards.config import Settings
from flashcards.db.models import Card, CardProgress, Review
from flashcards.services.importing import import_paths
from flashcards.services.users import ensure_local_user
from flashcards.srs import DayClock
from flashcards.web.app import app_state, create_app
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
ZONE = "Europe/Berlin"
Scheme = Literal["light", "dark"]

DECK_YAML = """\
deck: Languages
id: languages
cards:
""" + "".join(
    f"  - id: word-{n}\n    front: What does word number {n} mean?\n    back: Meaning {n}.\n"
    for n in range(1, 61)
)
SUB_YAML = """\
deck: Languages::Verbs
id: verbs
cards:
""" + "".join(
    f"  - id: verb-{n}\n    front: Conjugate verb {n}\n    back: Like this.\n"
    for n in range(1, 21)
)


def fill_history(sessions: object) -> None:
    """14 months of answers (busier lately) and the cards' present states."""
    from sqlalchemy.orm import Session, sessionmaker

    assert isinstance(sessions, sessionmaker)
    rng = random.Random(9)
    clock = DayClock(ZONE, 4)
    today = clock.day_number(NOW)
    with sessions.begin() as session:
        assert isinstance(session, Session)
        user = ensure_local_user(session, now=NOW)
        user.timezone = ZONE
        cards = list(session.execute(select(Card.id, Card.deck_id).order_by(Card.id)))
        studied = cards[:65]
        for offset in range(430, -1, -1):
            if rng.random() < 0.2 or (offset > 300 and rng.random() < 0.5):
                continue
            day = today - offset
            start = clock.day_start(day)
            for n in range(rng.randint(5, 25 if offset > 60 else 60)):
                card_id, deck_id = rng.choice(studied)
                phase = rng.choices(
                    ("new", "learning", "review", "relearning"), (1, 2, 8, 1)
                )[0]
                interval = rng.choice((1, 3, 8, 15, 30, 60)) if phase == "review" else 0
                rating = rng.choices((1, 2, 3, 4), (2, 1, 8, 1))[0]
                session.add(
                    Review(
                        user_id=user.id,
                        card_id=card_id,
                        deck_id=deck_id,
                        reviewed_at=min(start + dt.timedelta(minutes=30 + 7 * n), NOW),
                        review_day=day,
                        rating=rating,
                        phase=phase,
                        interval_before=interval,
                        interval_after=interval,
                        ease_before=2.5,
                        ease_after=2.5,
                        duration_ms=rng.randint(2000, 15000),
                    )
                )
        for index, (card_id, deck_id) in enumerate(studied):
            learning = index % 13 == 0
            interval = 0 if learning else max(1, int(rng.lognormvariate(2.5, 1.1)))
            due_day = today + rng.randint(-2, min(interval, 80))
            session.add(
                CardProgress(
                    user_id=user.id,
                    card_id=card_id,
                    deck_id=deck_id,
                    phase="learning" if learning else "review",
                    queue="learning" if learning else "review",
                    due_at=NOW + dt.timedelta(minutes=20)
                    if learning
                    else clock.day_start(due_day),
                    due_day=None if learning else due_day,
                    interval_days=interval,
                    ease=round(rng.gauss(2.45, 0.2), 2),
                    reps=rng.randint(2, 30),
                    lapses=min(int(rng.expovariate(0.7)), 9),
                    suspended=index % 17 == 5,
                    is_leech=index == 7,
                )
            )


@pytest.fixture(scope="module")
def stats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("stats-e2e")
    decks = tmp / "decks"
    decks.mkdir()
    (decks / "languages.yaml").write_text(DECK_YAML)
    (decks / "verbs.yaml").write_text(SUB_YAML)
    settings = Settings(
        instance_dir=tmp / "instance",
        database_url=f"sqlite:///{tmp / 'stats.sqlite3'}",
        decks_dir=decks,
    )
    app = create_app(settings)
    app.config["NOW"] = lambda: NOW
    with app.app_context():
        state = app_state()
        with state.sessions.begin() as session:
            assert import_paths(session, [decks], now=NOW).ok
        fill_history(state.sessions)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def open_stats(
    chromium: object, url: str, width: int, scheme: Scheme
) -> tuple[Page, list[str]]:
    assert isinstance(chromium, Browser)
    context = chromium.new_context(
        viewport={"width": width, "height": 900}, color_scheme=scheme
    )
    page = context.new_page()
    problems: list[str] = []
    # CSP violations (an inline style or script) are reported as console errors.
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url)
    return page, problems


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(("size", "width"), [("desktop", 1280), ("phone", 360)])
def test_stats_page_looks_right(
    chromium: object, stats_url: str, size: str, width: int, scheme: Scheme
) -> None:
    page, problems = open_stats(chromium, f"{stats_url}/stats", width, scheme)
    expect(page.get_by_role("heading", name="Statistics", exact=True)).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"stats-{size}-{scheme}.png"), full_page=True)
    # Nothing wider than the screen (the calendar scrolls inside its own box).
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # Every chart is drawn and has a name for assistive technology.
    charts = page.get_by_role("img")
    assert charts.count() >= 9
    for name in ("Answers per day over the past year", "Cards due in the next 30 days"):
        chart = page.get_by_role("img", name=name)
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box is not None and box["height"] > 50
    assert page.locator("svg .bar.review").count() > 10
    assert page.locator("svg rect.heat-4").count() > 5
    # Dark mode reaches the charts: light bars on a dark page.
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    fill = page.evaluate(
        "getComputedStyle(document.querySelector('svg .bar.review')).fill"
    )
    dark_page = luminance(background) < 0.3
    assert dark_page == (scheme == "dark")
    assert (luminance(fill) > 0.55) == (scheme == "dark"), fill
    assert not problems, problems
    page.context.close()


def luminance(css_color: str) -> float:
    r, g, b = (int(v) for v in re.findall(r"\d+", css_color)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def test_tables_links_and_choices(chromium: object, stats_url: str) -> None:
    page, problems = open_stats(chromium, f"{stats_url}/stats", 1280, "light")
    # The numbers behind a chart open under it.
    table = page.locator("section[aria-labelledby=forecast-heading] details table")
    expect(table).to_be_hidden()
    page.get_by_text("Table: cards due per day").click()
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(90)
    # Choosing a deck and a period is a plain GET form.
    page.get_by_label("Deck").select_option(label="Languages::Verbs")
    page.get_by_label("Period").select_option(label="1 year")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/stats\?deck=\d+&period=365$"))
    expect(page.locator("h1")).to_contain_text("Languages::Verbs")
    expect(page.get_by_role("img", name=re.compile("Answers per week"))).to_be_visible()
    # A hardest card leads to its page in the browser.
    page.goto(f"{stats_url}/stats")
    first = page.locator(".hardest-table tbody tr a").first
    href = first.get_attribute("href") or ""
    assert re.fullmatch(r"/cards/\d+", href), href
    first.click()
    expect(page).to_have_url(re.compile(r"/cards/\d+$"))
    expect(page.get_by_role("heading", name="Review history")).to_be_visible()
    assert not problems, problems
    page.context.close()


def test_tooltips_name_day_and_count(chromium: object, stats_url: str) -> None:
    page, problems = open_stats(chromium, f"{stats_url}/stats", 1280, "light")
    last_day = page.locator("svg.heatmap rect.heat").last
    title = last_day.locator("title").text_content() or ""
    assert re.fullmatch(r"Tue 10 Mar 2026: \d+ answers?", title), title
    assert not problems, problems
    page.context.close()

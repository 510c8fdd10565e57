"""Options: the user's time zone and rollover hour, and deck option presets."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from flashcards.db.models import Preset, User
from flashcards.web.app import app_state
from tests.web.conftest import Browser, deck_id, text_of

PRESET_FORM = {
    "name": "Default",
    "new_per_day": "5",
    "reviews_per_day": "100",
    "learning_steps": "1m 10m 1h",
    "relearning_steps": "10",
    "graduating_interval": "2",
    "easy_interval": "5",
    "starting_ease": "2.3",
    "easy_bonus": "1.3",
    "hard_interval": "1.2",
    "interval_modifier": "1.0",
    "lapse_multiplier": "0.0",
    "minimum_interval": "1",
    "maximum_interval": "3650",
    "leech_threshold": "8",
    "leech_action": "suspend",
    "bury_siblings": "y",
}


def user(app: Flask) -> User:
    with app.app_context(), app_state().sessions() as session:
        return session.scalars(select(User)).one()


def default(app: Flask) -> Preset:
    with app.app_context(), app_state().sessions() as session:
        return session.scalars(select(Preset).where(Preset.name == "Default")).one()


def test_time_zone_and_rollover(app: Flask, browser: Browser) -> None:
    page = browser.get("/options")
    assert "Europe/Berlin" in page.get_data(as_text=True)
    response = browser.post("/options", {"timezone": "Europe/Berlin", "rollover_hour": "5"})
    assert response.status_code == 303
    saved = user(app)
    assert (saved.timezone, saved.rollover_hour) == ("Europe/Berlin", 5)
    # Times are shown in the chosen zone: 12:00 UTC is 13:00 in Berlin in March.
    assert "Updated 2026-03-10 13:00" in text_of(browser.get(f"/decks/{deck_id(app)}"))


def test_bad_user_options_change_nothing(app: Flask, browser: Browser) -> None:
    browser.get("/options")
    for form in ({"timezone": "Mars/Olympus", "rollover_hour": "4"},
                 {"timezone": "UTC", "rollover_hour": "24"},
                 {"timezone": "UTC", "rollover_hour": "soon"}):
        response = browser.post("/options", form)
        assert response.status_code == 400
    assert "Give an hour from 0 to 23" in text_of(
        browser.post("/options", {"timezone": "UTC", "rollover_hour": "30"})
    )
    assert browser.post("/options", {"timezone": "UTC", "rollover_hour": "3"},
                        csrf=False).status_code == 400
    saved = user(app)
    assert (saved.timezone, saved.rollover_hour) == ("UTC", 4)


def test_edit_preset(app: Flask, browser: Browser) -> None:
    browser.get("/options")
    preset_id = default(app).id
    page = browser.get(f"/options/presets/{preset_id}")
    assert "Learning steps" in text_of(page)
    response = browser.post(f"/options/presets/{preset_id}", PRESET_FORM)
    assert response.status_code == 303
    saved = default(app)
    assert saved.new_per_day == 5
    assert saved.learning_steps == "1m 10m 1h"
    assert saved.leech_action == "suspend"
    assert saved.starting_ease == 2.3
    # The study page follows: 5 new cards a day.
    assert "5 new" in text_of(browser.get(f"/study/{deck_id(app)}"))


def test_bad_preset_changes_nothing(app: Flask, browser: Browser) -> None:
    browser.get("/options")
    preset_id = default(app).id
    for change, message in (
        ({"learning_steps": "1 ten"}, "is not a step"),
        ({"new_per_day": "-1"}, "must be between"),
        ({"starting_ease": "1.0"}, "must be between"),
        ({"name": "Renamed"}, "keeps its name"),
        ({"leech_action": "explode"}, "Not a valid choice"),
    ):
        response = browser.post(f"/options/presets/{preset_id}", {**PRESET_FORM, **change})
        assert response.status_code == 400, change
        assert message in text_of(response), change
    assert default(app).new_per_day == 20
    assert browser.get("/options/presets/9999").status_code == 404


def test_new_preset(app: Flask, browser: Browser) -> None:
    browser.get("/options")
    response = browser.post("/options/presets", {"name": "Exam cram"})
    assert response.status_code == 303
    page = text_of(browser.get(response.headers["Location"]))
    assert "Preset “Exam cram” created" in page
    again = browser.post("/options/presets", {"name": "Exam cram"})
    assert "already a preset" in text_of(browser.get(again.headers["Location"]))

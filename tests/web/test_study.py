"""Study pages through the test client: plain forms and the JSON the script uses."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy import select

from flashcards.db.models import CardProgress, Review
from flashcards.services.presets import default_preset
from flashcards.web.app import app_state
from tests.web.conftest import Browser, Clock, deck_id, field, review_count, text_of


def reviews(app: Flask) -> list[Review]:
    with app.app_context(), app_state().sessions() as session:
        return list(session.scalars(select(Review).order_by(Review.id)))


def test_study_page_shows_the_question_counts_and_tools(app: Flask, browser: Browser) -> None:
    page = browser.get(f"/study/{deck_id(app)}")
    assert page.status_code == 200
    text = text_of(page)
    assert "What is the capital of France?" in text
    assert "Show answer" in text
    # The answer is in the page for the script, but hidden until shown.
    assert 'id="answer" class="answer-area" hidden' in page.get_data(as_text=True)
    # Whole tree: 4 entries of Basics (6 cards) + 2 of Basics::Sub, minus buried
    # siblings: the 20-new limit is not reached.
    assert "7 new" in text or "8 new" in text
    for label in ("Again", "Hard", "Good", "Easy", "Undo" if False else "Bury", "Suspend", "Edit"):
        assert label in text


def test_button_labels_show_the_next_intervals(app: Flask, browser: Browser) -> None:
    page = browser.get(f"/study/{deck_id(app)}")
    html = page.get_data(as_text=True)
    # Default steps 1m 10m, graduating 1d, easy 4d.
    for label in ("1m", "6m", "10m", "4d"):
        assert f"</span>{label}</span>" in html


def test_show_answer_without_javascript(app: Flask, browser: Browser) -> None:
    page = browser.get(f"/study/{deck_id(app)}")
    card_id = field(page, "card_id")
    shown = field(page, "shown")
    answer = browser.get(f"/study/{deck_id(app)}?reveal={card_id}&shown={shown}")
    html = answer.get_data(as_text=True)
    assert "Paris" in text_of(answer)
    assert "The city of light." in text_of(answer)
    assert 'id="answer" class="answer-area" tabindex' in html  # not hidden
    assert "show-answer" not in html
    assert field(answer, "shown_at") == shown


def test_answer_with_a_plain_form_records_once_and_redirects(
    app: Flask, browser: Browser, clock: Clock
) -> None:
    deck = deck_id(app)
    page = browser.get(f"/study/{deck}")
    card_id, version = field(page, "card_id"), field(page, "version")
    shown = field(page, "shown_at")
    clock.advance(seconds=7)
    response = browser.post(
        f"/study/{deck}/answer",
        {"card_id": card_id, "version": version, "rating": "3", "shown_at": shown},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/study/{deck}")
    logged = reviews(app)
    assert len(logged) == 1
    assert logged[0].rating == 3
    assert logged[0].card_id == int(card_id)
    assert logged[0].duration_ms == 7000
    next_page = browser.get(f"/study/{deck}")
    assert field(next_page, "card_id") != card_id


def test_answer_with_javascript_returns_the_next_card(app: Flask, browser: Browser) -> None:
    deck = deck_id(app)
    page = browser.get(f"/study/{deck}")
    response = browser.post(
        f"/study/{deck}/answer",
        {"card_id": field(page, "card_id"), "version": field(page, "version"),
         "rating": "3", "duration_ms": "4321"},
        json=True,
    )
    assert response.status_code == 200
    data = response.get_json()
    assert "study-panel" in data["html"]
    assert "Euler" in data["html"]
    assert data["done"] is False
    assert reviews(app)[0].duration_ms == 4321


def test_double_submit_records_once(app: Flask, browser: Browser) -> None:
    deck = deck_id(app)
    page = browser.get(f"/study/{deck}")
    form = {"card_id": field(page, "card_id"), "version": field(page, "version"),
            "rating": "3"}
    first = browser.post(f"/study/{deck}/answer", form, json=True)
    second = browser.post(f"/study/{deck}/answer", form, json=True)
    assert first.status_code == 200
    assert second.status_code == 409
    assert "already answered" in second.get_json()["notice"]
    assert "already answered" in second.get_json()["html"]
    assert review_count(app) == 1


def test_stale_tab_with_plain_form_shows_a_message(app: Flask, browser: Browser) -> None:
    deck = deck_id(app)
    page = browser.get(f"/study/{deck}")
    form = {"card_id": field(page, "card_id"), "version": field(page, "version"),
            "rating": "4"}
    browser.post(f"/study/{deck}/answer", form)
    stale = browser.post(f"/study/{deck}/answer", {**form, "rating": "1"})
    assert stale.status_code == 303
    shown = browser.get(f"/study/{deck}")
    assert "already answered" in text_of(shown)
    assert [r.rating for r in reviews(app)] == [4]


def test_rating_out_of_range_is_refused(app: Flask, browser: Browser) -> None:
    deck = deck_id(app)
    page = browser.get(f"/study/{deck}")
    response = browser.post(
        f"/study/{deck}/answer",
        {"card_id": field(page, "card_id"), "version": field(page, "version"),
         "rating": "7"},
    )
    assert response.status_code == 400
    assert "7 is not a rating; use 1 to 4" in text_of(response)
    assert review_count(app) == 0


def test_unknown_card_is_refused(app: Flask, browser: Browser) -> None:
    deck = deck_id(app)
    response = browser.post(
        f"/study/{deck}/answer", {"card_id": "999999", "version": "0", "rating": "3"},
        json=True,
    )
    assert response.status_code == 404
    assert "There is no card 999999" in response.get_json()["error"]
    assert review_count(app) == 0


def test_malformed_answer_form_is_refused(app: Flask, browser: Browser) -> None:
    deck = deck_id(app)
    for form in ({"card_id": "x", "version": "0", "rating": "3"},
                 {"version": "0", "rating": "3"},
                 {"card_id": "1", "version": "0", "rating": "good"}):
        response = browser.post(f"/study/{deck}/answer", form)
        assert response.status_code == 400
    assert review_count(app) == 0


def test_missing_csrf_token_is_refused(app: Flask, browser: Browser) -> None:
    deck = deck_id(app)
    page = browser.get(f"/study/{deck}")
    form = {"card_id": field(page, "card_id"), "version": field(page, "version"),
            "rating": "3"}
    response = browser.post(f"/study/{deck}/answer", form, csrf=False)
    assert response.status_code == 400
    assert "security token" in text_of(response)
    wrong = browser.post(f"/study/{deck}/answer", {**form, "csrf_token": "forged"})
    assert wrong.status_code == 400
    assert review_count(app) == 0


def test_unknown_deck_is_404(app: Flask, browser: Browser) -> None:
    assert browser.get("/study/424242").status_code == 404
    response = browser.post("/study/424242/answer", {"card_id": "1", "version": "0",
                                                     "rating": "3"})
    assert response.status_code == 404
    assert review_count(app) == 0


def test_undo_takes_back_the_last_answer(app: Flask, browser: Browser) -> None:
    deck = deck_id(app)
    page = browser.get(f"/study/{deck}")
    first_card = field(page, "card_id")
    browser.post(f"/study/{deck}/answer", {"card_id": first_card,
                 "version": field(page, "version"), "rating": "3"})
    page = browser.get(f"/study/{deck}")
    review_id = field(page, "review_id")
    response = browser.post(f"/study/{deck}/undo", {"review_id": review_id}, json=True)
    assert response.status_code == 200
    assert "taken back" in response.get_json()["html"]
    assert review_count(app) == 0
    # The undone card is the one to study again.
    assert field(browser.get(f"/study/{deck}"), "card_id") == first_card
    with app.app_context(), app_state().sessions() as session:
        assert session.get(CardProgress, (1, int(first_card))) is None


def test_stale_undo_changes_nothing(app: Flask, browser: Browser) -> None:
    deck = deck_id(app)
    page = browser.get(f"/study/{deck}")
    browser.post(f"/study/{deck}/answer", {"card_id": field(page, "card_id"),
                 "version": field(page, "version"), "rating": "3"})
    stale_page = browser.get(f"/study/{deck}")
    old_review = field(stale_page, "review_id")
    browser.post(f"/study/{deck}/answer", {"card_id": field(stale_page, "card_id"),
                 "version": field(stale_page, "version"), "rating": "3"})
    response = browser.post(f"/study/{deck}/undo", {"review_id": old_review}, json=True)
    assert response.status_code == 409
    assert "no longer the latest" in response.get_json()["notice"]
    assert review_count(app) == 2
    # Undoing twice the same answer: the second is stale too.
    latest = field(browser.get(f"/study/{deck}"), "review_id")
    assert browser.post(f"/study/{deck}/undo", {"review_id": latest}).status_code == 303
    assert browser.post(f"/study/{deck}/undo", {"review_id": latest}).status_code == 303
    assert review_count(app) == 1


def test_bury_and_suspend_take_the_card_out(app: Flask, browser: Browser) -> None:
    deck = deck_id(app)
    page = browser.get(f"/study/{deck}")
    first = field(page, "card_id")
    response = browser.post(f"/study/{deck}/bury", {"card_id": first}, json=True)
    assert response.status_code == 200
    assert "Buried until tomorrow" in response.get_json()["html"]
    second = field(browser.get(f"/study/{deck}"), "card_id")
    assert second != first
    response = browser.post(f"/study/{deck}/suspend", {"card_id": second})
    assert response.status_code == 303
    page = browser.get(f"/study/{deck}")
    assert "Suspended" in text_of(page)
    assert field(page, "card_id") not in (first, second)
    assert browser.post(f"/study/{deck}/bury", {"card_id": "nope"}).status_code == 400
    assert browser.post(f"/study/{deck}/bury", {"card_id": "999999"}).status_code == 404


def answer_all(browser: Browser, deck: int, rating: str = "4", limit: int = 50) -> int:
    for answered in range(limit):
        page = browser.get(f"/study/{deck}")
        if 'name="card_id"' not in page.get_data(as_text=True):
            return answered
        browser.post(f"/study/{deck}/answer", {"card_id": field(page, "card_id"),
                     "version": field(page, "version"), "rating": rating})
    raise AssertionError("the queue never ended")


def use_long_steps(app: Flask) -> None:
    """Steps longer than the 20-minute learn-ahead, so learning cards wait."""
    with app.app_context(), app_state().sessions.begin() as session:
        default_preset(session).learning_steps = "30 60"


def test_summary_at_the_end(app: Flask, browser: Browser, clock: Clock) -> None:
    deck = deck_id(app, "basics-sub")
    use_long_steps(app)
    page = browser.get(f"/study/{deck}")
    browser.post(f"/study/{deck}/answer", {"card_id": field(page, "card_id"),
                 "version": field(page, "version"), "rating": "3"})  # to learning
    page = browser.get(f"/study/{deck}")
    browser.post(f"/study/{deck}/answer", {"card_id": field(page, "card_id"),
                 "version": field(page, "version"), "rating": "4"})  # easy: 4 days
    done = browser.get(f"/study/{deck}")
    text = text_of(done)
    assert "Done for now" in text
    assert "Studied today: 2 cards (2 answers" in text
    assert "next learning card comes back in 1 hour" in text, text  # Good: step 2
    assert "data-next-at" in done.get_data(as_text=True)
    clock.advance(days=1)
    tomorrow = text_of(browser.get(f"/study/{deck}"))
    assert "One?" in tomorrow or "Two?" in tomorrow


def test_due_tomorrow_in_summary(app: Flask, browser: Browser, clock: Clock) -> None:
    deck = deck_id(app, "basics-sub")
    for _ in range(2):
        page = browser.get(f"/study/{deck}")
        browser.post(f"/study/{deck}/answer", {"card_id": field(page, "card_id"),
                     "version": field(page, "version"), "rating": "3"})
    clock.advance(minutes=11)  # the 10-minute step is due
    answer_all(browser, deck, rating="3")
    text = text_of(browser.get(f"/study/{deck}"))
    assert "Due tomorrow: 2 cards" in text
    assert "No learning cards are left for today" in text


def test_cloze_front_and_back(app: Flask, browser: Browser) -> None:
    deck = deck_id(app)
    for _ in range(10):
        page = browser.get(f"/study/{deck}")
        html = page.get_data(as_text=True)
        if "powerhouse" in html or "mitochondria" in html:
            break
        browser.post(f"/study/{deck}/answer", {"card_id": field(page, "card_id"),
                     "version": field(page, "version"), "rating": "4"})
    question, _, answer = html.partition('id="answer"')
    assert '<span class="cloze">[…]</span>' in question
    assert "mitochondria" not in question
    assert '<span class="cloze cloze-revealed">mitochondria</span>' in answer


def test_math_is_mathml(app: Flask, browser: Browser) -> None:
    deck = deck_id(app)
    page = browser.get(f"/study/{deck}")
    browser.post(f"/study/{deck}/answer", {"card_id": field(page, "card_id"),
                 "version": field(page, "version"), "rating": "4"})
    html = browser.get(f"/study/{deck}").get_data(as_text=True)
    assert "Euler" in html
    assert "<math" in html
    assert "$e^" not in html


def test_study_json_get_for_the_script(app: Flask, browser: Browser) -> None:
    response = browser.get(f"/study/{deck_id(app)}", headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.get_json()["done"] is False


def test_time_per_card_never_negative(app: Flask, browser: Browser, now: dt.datetime) -> None:
    deck = deck_id(app)
    page = browser.get(f"/study/{deck}")
    future = int((now + dt.timedelta(hours=1)).timestamp() * 1000)
    browser.post(f"/study/{deck}/answer", {"card_id": field(page, "card_id"),
                 "version": field(page, "version"), "rating": "3", "shown_at": str(future)})
    assert reviews(app)[0].duration_ms == 0


def test_study_ahead_offers_reviews_due_soon_once_today_is_done(
    app: Flask, browser: Browser, clock: Clock
) -> None:
    deck = deck_id(app)
    with app.app_context(), app_state().sessions.begin() as session:
        default_preset(session).new_per_day = 1
    page = browser.get(f"/study/{deck}")
    card_id, version = field(page, "card_id"), field(page, "version")
    browser.post(  # Easy on a new card: a review due in about 4 days
        f"/study/{deck}/answer", {"card_id": card_id, "version": version, "rating": "4"}
    )
    done = browser.get(f"/study/{deck}")
    assert "Study ahead" in text_of(done) and "card_id" not in done.get_data(as_text=True)
    ahead = browser.get(f"/study/{deck}?ahead=7")
    assert field(ahead, "card_id") == card_id
    assert field(ahead, "ahead") == "7"
    response = browser.post(
        f"/study/{deck}/answer",
        {"card_id": card_id, "version": field(ahead, "version"), "rating": "3",
         "ahead": "7"},
    )
    assert response.status_code == 303 and "ahead=7" in response.headers["Location"]
    assert review_count(app) == 2
    assert browser.get(f"/study/{deck}?ahead=9999").status_code == 400
    assert browser.get(f"/study/{deck}?ahead=soon").status_code == 400

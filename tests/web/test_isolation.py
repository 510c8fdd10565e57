"""Two users, alice and bob: neither sees nor changes the other's progress, private
decks, uploads or API tokens — through guessed ids, replayed forms or another user's
token. What is not yours reads as "not found" (404), never "forbidden", so ids of
other people's things cannot be probed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from flashcards.db.models import ApiToken, CardProgress, Deck, Review, User
from flashcards.services.api_tokens import create_token
from flashcards.web.app import app_state
from tests.web.accounts_support import (
    ALICE_YAML,
    BOB_YAML,
    accounts_app_fixture,  # noqa: F401  (the `app` fixture)
    add_user,
    card_in,
    fast_hashing,  # noqa: F401  (fixture)
    logged_in,
    shared_deck,
    upload,
)
from tests.web.conftest import Browser, field, text_of

ALICE_SECRETS = ("alice-secret-question", "alice-secret-answer", "Alice private")


@dataclass
class World:
    app: Flask
    alice: Browser
    bob: Browser
    root: Browser
    alice_id: int
    bob_id: int
    alice_deck: int
    bob_deck: int
    alice_card: int
    shared: int
    shared_card: int
    alice_review: int
    alice_token: str
    bob_token: str


def _answer(browser: Browser, deck: int, card: int, rating: int = 3) -> Any:
    page = browser.get(f"/study/{deck}?reveal={card}")
    assert page.status_code == 200
    return browser.post(
        f"/study/{deck}/answer",
        {"card_id": card, "version": field(page, "version"), "rating": rating},
    )


@pytest.fixture
def world(app: Flask) -> World:
    alice_id = add_user(app, "alice")
    bob_id = add_user(app, "bob")
    add_user(app, "root", admin=True)
    alice_deck = upload(app, alice_id, ALICE_YAML)
    bob_deck = upload(app, bob_id, BOB_YAML)
    alice_card = card_in(app, alice_deck)
    shared = shared_deck(app)
    shared_card = card_in(app, shared, "capital")
    alice = logged_in(app, "alice")
    assert _answer(alice, shared, shared_card, rating=1).status_code == 303
    assert _answer(alice, alice_deck, alice_card).status_code == 303
    with app.app_context(), app_state().sessions.begin() as session:
        alice_review = session.scalars(
            select(Review.id).where(Review.user_id == alice_id).order_by(Review.id)
        ).first()
        assert alice_review is not None
        now = app.config["NOW"]()
        alice_token = create_token(
            session, user=session.get_one(User, alice_id), name="alice-handy", now=now
        ).secret
        bob_token = create_token(
            session, user=session.get_one(User, bob_id), name="laptop", now=now
        ).secret
    return World(
        app=app,
        alice=alice,
        bob=logged_in(app, "bob"),
        root=logged_in(app, "root"),
        alice_id=alice_id,
        bob_id=bob_id,
        alice_deck=alice_deck,
        bob_deck=bob_deck,
        alice_card=alice_card,
        shared=shared,
        shared_card=shared_card,
        alice_review=alice_review,
        alice_token=alice_token,
        bob_token=bob_token,
    )


def _snapshot(app: Flask) -> tuple[Any, ...]:
    """Everything a user's action could change: progress, reviews, decks, tokens."""
    with app.app_context(), app_state().sessions() as session:
        progress = session.execute(
            select(
                CardProgress.user_id, CardProgress.card_id, CardProgress.version,
                CardProgress.suspended, CardProgress.buried_until_day,
                CardProgress.due_day,
            ).order_by(CardProgress.user_id, CardProgress.card_id)
        ).all()
        reviews = session.execute(
            select(Review.id, Review.user_id, Review.card_id).order_by(Review.id)
        ).all()
        decks = session.execute(
            select(Deck.id, Deck.scope, Deck.content_hash, Deck.preset_id).order_by(Deck.id)
        ).all()
        tokens = session.execute(
            select(ApiToken.id, ApiToken.user_id, ApiToken.revoked_at).order_by(ApiToken.id)
        ).all()
        users = session.execute(
            select(User.id, User.timezone, User.rollover_hour, User.password_hash)
        ).all()
    return tuple(progress), tuple(reviews), tuple(decks), tuple(tokens), tuple(users)


def _leaks(response: Any) -> list[str]:
    body = response.get_data(as_text=True)
    return [secret for secret in ALICE_SECRETS if secret in body]


# --- pages ---------------------------------------------------------------------------------


def test_deck_list_shows_shared_and_own_decks_only(world: World) -> None:
    home = text_of(world.bob.get("/"))
    assert "Bob private" in home
    assert "Basics" in home
    assert "Alice private" not in home
    assert "Bob private" not in text_of(world.alice.get("/"))


def test_only_admins_see_where_the_decks_folder_is_on_the_server(
    world: World, decks_dir: Path
) -> None:
    folder = str(decks_dir)
    assert folder not in world.bob.get("/").get_data(as_text=True)
    assert "the shared decks folder" in text_of(world.bob.get("/"))
    assert folder in world.root.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        "/decks/{alice_deck}",
        "/study/{alice_deck}",
        "/study/{alice_deck}?reveal={alice_card}",
        "/cards/{alice_card}",
        "/cards/{alice_card}/edit",
        "/media/{alice_deck}/img/dot.png",
        "/study/{shared}?reveal={alice_card}",
    ],
)
def test_guessed_ids_of_alices_things_are_not_found(world: World, url: str) -> None:
    target = url.format(**vars(world))
    response = world.bob.get(target)
    if "reveal" in url and "{shared}" in url:
        assert response.status_code == 200  # bob's own study page, without her card
    else:
        assert response.status_code == 404, target
    assert not _leaks(response)


def test_browse_does_not_search_alices_deck(world: World) -> None:
    by_deck = world.bob.get(f"/browse?deck={world.alice_deck}")
    assert by_deck.status_code == 400
    assert "There is no such deck" in text_of(by_deck)
    by_text = world.bob.get("/browse?q=alice-secret")
    assert by_text.status_code == 200
    assert not _leaks(by_deck)
    assert not _leaks(by_text)
    assert "alice-secret-question" in text_of(world.alice.get("/browse?q=alice-secret"))


def test_shared_card_shows_only_your_own_progress_and_history(world: World) -> None:
    mine = text_of(world.alice.get(f"/cards/{world.shared_card}"))
    theirs = text_of(world.bob.get(f"/cards/{world.shared_card}"))
    assert "Again" in mine  # alice's answer in her history
    assert "State new" in theirs
    assert "Again" not in theirs
    assert "Reviews 0" in theirs


def test_deck_counts_are_per_user(world: World) -> None:
    alice_deck_page = text_of(world.alice.get(f"/decks/{world.shared}"))
    bob_deck_page = text_of(world.bob.get(f"/decks/{world.shared}"))
    assert alice_deck_page != bob_deck_page  # alice has a learning card, bob does not


# --- actions with guessed ids and replayed forms --------------------------------------------


POSTS = [
    ("/study/{alice_deck}/answer", {"card_id": "{alice_card}", "version": "1", "rating": "3"}),
    ("/study/{shared}/answer", {"card_id": "{alice_card}", "version": "1", "rating": "3"}),
    ("/study/{shared}/answer", {"card_id": "{alice_card}", "version": "0", "rating": "3"}),
    ("/study/{alice_deck}/bury", {"card_id": "{alice_card}"}),
    ("/study/{shared}/bury", {"card_id": "{alice_card}"}),
    ("/study/{shared}/suspend", {"card_id": "{alice_card}"}),
    ("/study/{alice_deck}/undo", {"review_id": "{alice_review}"}),
    ("/cards/{alice_card}/suspend", {}),
    ("/cards/{alice_card}/unsuspend", {}),
    ("/cards/{alice_card}/bury", {}),
    ("/cards/{alice_card}/unbury", {}),
    ("/cards/{alice_card}/reset", {}),
    ("/cards/{alice_card}/due", {"days": "3"}),
    ("/cards/{alice_card}/edit", {"front": "bob was here", "back": "x", "base_hash": ""}),
    ("/decks/{alice_deck}/preset", {"preset_id": "1"}),
]


@pytest.mark.parametrize(("url", "form"), POSTS)
def test_bobs_forms_with_alices_ids_are_not_found(
    world: World, url: str, form: dict[str, str]
) -> None:
    before = _snapshot(world.app)
    values = vars(world)
    data = {key: value.format(**values) for key, value in form.items()}
    response = world.bob.post(url.format(**values), data)
    assert response.status_code == 404, (url, text_of(response))
    assert not _leaks(response)
    json = world.bob.post(url.format(**values), data, json=True)
    assert json.status_code == 404
    assert _snapshot(world.app) == before


def test_undo_never_takes_back_alices_answer(world: World) -> None:
    before = _snapshot(world.app)
    response = world.bob.post(
        f"/study/{world.shared}/undo", {"review_id": str(world.alice_review)}
    )
    assert response.status_code == 303  # bob's page, saying nothing to undo
    assert "There is nothing to undo" in text_of(world.bob.get(f"/study/{world.shared}"))
    assert _snapshot(world.app) == before


def test_alices_form_replayed_from_bobs_browser_is_refused(world: World) -> None:
    page = world.alice.get(f"/cards/{world.shared_card}")
    token = world.alice.csrf()
    assert token in page.get_data(as_text=True)
    before = _snapshot(world.app)
    # Her exact form, her CSRF token, from bob's browser: the token is not his.
    replay = world.bob.client.post(
        f"/cards/{world.shared_card}/suspend", data={"csrf_token": token}
    )
    assert replay.status_code == 400
    # The same form from a browser that is not logged in: off to the login page.
    anonymous = world.app.test_client()
    assert (
        anonymous.post(f"/cards/{world.shared_card}/suspend", data={"csrf_token": token})
        .status_code
        in (303, 400)
    )
    assert _snapshot(world.app) == before


def test_bobs_actions_on_a_shared_card_change_only_his_progress(world: World) -> None:
    before = _snapshot(world.app)
    response = world.bob.post(f"/cards/{world.shared_card}/suspend")
    assert response.status_code == 303
    with world.app.app_context(), app_state().sessions() as session:
        rows = dict(
            session.execute(
                select(CardProgress.user_id, CardProgress.suspended).where(
                    CardProgress.card_id == world.shared_card
                )
            ).all()
        )
    assert rows == {world.alice_id: False, world.bob_id: True}
    assert _snapshot(world.app)[1] == before[1]  # no review changed


def test_options_are_per_user(world: World) -> None:
    world.bob.get("/options")
    response = world.bob.post("/options", {"timezone": "Asia/Tokyo", "rollover_hour": "6"})
    assert response.status_code == 303
    with world.app.app_context(), app_state().sessions() as session:
        zones = dict(session.execute(select(User.name, User.timezone)).all())
    assert zones["bob"] == "Asia/Tokyo"
    assert zones["alice"] == "UTC"


# --- shared things: admins only ------------------------------------------------------------


def test_only_admins_change_shared_decks_and_presets(world: World, decks_dir: Path) -> None:
    before = (decks_dir / "basics.yaml").read_bytes()
    edit_page = world.bob.get(f"/cards/{world.shared_card}/edit")
    assert edit_page.status_code == 403
    assert "Only an admin" in text_of(edit_page)
    save = world.bob.post(
        f"/cards/{world.shared_card}/edit",
        {"front": "bob was here", "back": "Paris", "base_hash": ""},
    )
    assert save.status_code == 403
    assert (decks_dir / "basics.yaml").read_bytes() == before
    assert "Edit" not in re.findall(r">(Edit)<", world.bob.get(
        f"/cards/{world.shared_card}"
    ).get_data(as_text=True))
    assert world.root.get(f"/cards/{world.shared_card}/edit").status_code == 200

    # Presets are shared: bob chooses them for his own decks only.
    with world.app.app_context(), app_state().sessions.begin() as session:
        from flashcards.services.presets import default_preset

        preset = default_preset(session).id
    assert world.bob.get(f"/options/presets/{preset}").status_code == 403
    assert world.bob.post(
        f"/options/presets/{preset}", {"name": "Default", "new_per_day": "999"}
    ).status_code == 403
    shared_choice = world.bob.post(f"/decks/{world.shared}/preset", {"preset_id": preset})
    assert shared_choice.status_code == 403
    own_choice = world.bob.post(f"/decks/{world.bob_deck}/preset", {"preset_id": preset})
    assert own_choice.status_code == 303
    assert world.root.post(
        f"/decks/{world.shared}/preset", {"preset_id": preset}
    ).status_code == 303
    options = text_of(world.bob.get("/options"))
    assert "only an admin can change them" in options


def test_preset_use_counts_only_decks_bob_can_see(world: World) -> None:
    text = text_of(world.bob.get("/options"))
    # basics, basics-sub and bob's deck; alice's deck is not counted for him.
    assert "used by 3 decks" in text
    assert "used by 4 decks" in text_of(world.root.get("/options"))


# --- API tokens ----------------------------------------------------------------------------


def test_api_tokens_page_lists_only_your_tokens(world: World) -> None:
    page = text_of(world.bob.get("/settings/tokens"))
    assert "laptop" in page
    assert "alice-handy" not in page
    with world.app.app_context(), app_state().sessions() as session:
        alice_token_id = session.scalars(
            select(ApiToken.id).where(ApiToken.user_id == world.alice_id)
        ).one()
    before = _snapshot(world.app)
    response = world.bob.post(f"/settings/tokens/{alice_token_id}/revoke")
    assert response.status_code == 404
    assert _snapshot(world.app) == before


def _api(world: World, method: str, path: str, token: str, **kwargs: Any) -> Any:
    client = world.app.test_client()
    return client.open(
        path, method=method, headers={"Authorization": f"Bearer {token}"}, **kwargs
    )


def test_api_with_bobs_token_cannot_reach_alices_deck(world: World) -> None:
    before = _snapshot(world.app)
    decks = _api(world, "GET", "/api/v1/decks", world.bob_token)
    assert decks.status_code == 200
    assert not _leaks(decks)
    for method, path, kwargs in [
        ("GET", f"/api/v1/decks/{world.alice_deck}/next", {}),
        ("GET", f"/api/v1/decks/{world.alice_deck}/export", {}),
        ("GET", f"/api/v1/decks/{world.alice_deck}/export?format=yaml", {}),
        (
            "POST",
            f"/api/v1/cards/{world.alice_card}/answer",
            {"json": {"rating": 3, "version": 1}},
        ),
        (
            "POST",
            f"/api/v1/cards/{world.alice_card}/answer",
            {"json": {"rating": 3, "version": 1, "deck_id": world.alice_deck}},
        ),
    ]:
        response = _api(world, method, path, world.bob_token, **kwargs)
        assert response.status_code == 404, (path, response.get_data(as_text=True))
        assert not _leaks(response)
    undo = _api(world, "POST", "/api/v1/undo", world.bob_token, json={})
    assert undo.status_code in (404, 409)
    assert _snapshot(world.app) == before
    # Alice's own token does reach it.
    mine = _api(world, "GET", f"/api/v1/decks/{world.alice_deck}/next", world.alice_token)
    assert mine.status_code == 200


def test_api_tokens_are_not_a_browser_login_and_cookies_are_not_api_auth(
    world: World,
) -> None:
    client = world.app.test_client()
    page = client.get("/", headers={"Authorization": f"Bearer {world.alice_token}"})
    assert page.status_code == 303
    assert world.alice.client.get("/api/v1/decks").status_code == 401


# --- every route, swept ----------------------------------------------------------------------

PUBLIC = {"static", "account.login", "account.register", "account.invite"}


def _fill(rule: Any, world: World) -> str:
    values: dict[str, Any] = {}
    for name in rule.arguments:
        if name == "deck_id":
            values[name] = world.alice_deck
        elif name == "card_id":
            values[name] = world.alice_card
        elif name == "action":
            values[name] = "suspend"
        elif name == "name":
            values[name] = "img/dot.png"
        elif name in rule._converters and type(rule._converters[name]).__name__ in (
            "IntegerConverter",
        ):
            values[name] = 1
        else:
            values[name] = "x"
    with world.app.test_request_context():
        from flask import url_for

        return str(url_for(rule.endpoint, **values))


def test_every_route_refuses_bob_alices_things(world: World) -> None:
    """Every page and form, filled with alice's ids (and her deck in the query):
    bob gets no byte of hers and changes nothing. New routes are covered by default.
    """
    checked = 0
    query = (
        f"deck={world.alice_deck}&deck_id={world.alice_deck}"
        f"&card={world.alice_card}&card_id={world.alice_card}"
    )
    for rule in world.app.url_map.iter_rules():
        if rule.endpoint in PUBLIC or rule.endpoint.startswith("api."):
            continue
        path = _fill(rule, world)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            before = _snapshot(world.app)
            if method == "GET":
                response = world.bob.get(f"{path}?{query}")
            else:
                data = {
                    "card_id": world.alice_card,
                    "review_id": world.alice_review,
                    "deck_id": world.alice_deck,
                    "version": 1,
                    "rating": 3,
                    "days": 1,
                }
                response = world.bob.post(path, data)
            assert not _leaks(response), (method, path)
            if rule.arguments & {"deck_id", "card_id"}:
                assert response.status_code in (403, 404), (method, path)
            if method != "GET" and rule.endpoint != "account.logout":
                after = _snapshot(world.app)
                # Bob's own rows may change (his options form); alice's never do.
                assert _alices(after, world) == _alices(before, world), (method, path)
            if rule.endpoint == "account.logout":
                world.bob = logged_in(world.app, "bob")
            checked += 1
    assert checked >= 20


def _alices(snapshot: tuple[Any, ...], world: World) -> tuple[Any, ...]:
    progress, reviews, decks, tokens, users = snapshot
    return (
        [p for p in progress if p[0] == world.alice_id],
        [r for r in reviews if r[1] == world.alice_id],
        [d for d in decks if d[1] != f"user:{world.bob_id}"],
        [t for t in tokens if t[1] == world.alice_id],
        [u for u in users if u[0] == world.alice_id],
    )


def test_every_page_needs_a_login(world: World) -> None:
    anonymous = world.app.test_client()
    for rule in world.app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        path = _fill(rule, world)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = anonymous.open(path, method=method)
            if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi":
                assert response.status_code == 401, path
            elif rule.endpoint == "api.openapi":
                assert response.status_code == 200
            elif method == "GET":
                assert response.status_code == 303, path
                assert response.headers["Location"].startswith("/login"), path
            else:
                assert response.status_code in (303, 400), path  # login or CSRF
            assert not _leaks(response), path


def test_review_counts_stay_with_their_owner(world: World) -> None:
    with world.app.app_context(), app_state().sessions() as session:
        counts = dict(
            session.execute(
                select(Review.user_id, func.count()).group_by(Review.user_id)
            ).all()
        )
    assert counts == {world.alice_id: 2}

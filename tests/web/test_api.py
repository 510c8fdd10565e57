"""The JSON API: token authentication, decks with counts, next/answer/undo, upload,
export, JSON errors, the OpenAPI document's fidelity, and isolation between users.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from flashcards.db.models import ApiToken, CardProgress, Review
from flashcards.deckfile import DeckFileError
from flashcards.deckfile.parse import load_deck_file
from flashcards.web.app import app_state
from flashcards.web.openapi import openapi_document
from tests.web.api_support import (
    Api,
    ensure_token_table,
    error_of,
    local_user_id,
    make_token,
    make_user,
)
from tests.web.conftest import Clock, deck_id, make_app, review_count

OWN_DECK = """\
deck: Private words
id: private-words
cards:
  - id: hund
    front: der Hund
    back: the dog
  - id: katze
    front: die Katze
    back: the cat
"""

BAD_DECK = """\
deck: Broken
cards:
  - id: one
    front: only a front
  - id: one
    front: Twice?
    back: yes
"""


@pytest.fixture
def api_app(app: Flask) -> Flask:
    ensure_token_table(app)
    return app


@pytest.fixture
def api(api_app: Flask) -> Api:
    """The local user's token (local mode: tokens belong to the local user)."""
    return Api(api_app.test_client(), make_token(api_app, local_user_id(api_app)))


def _next(api: Api, deck: int) -> dict:
    response = api.get(f"/decks/{deck}/next")
    assert response.status_code == 200, response.data
    return response.get_json()


def _answer(api: Api, card: dict, rating: int = 3, **extra: int):
    return api.post(
        f"/cards/{card['id']}/answer",
        json={"rating": rating, "version": card["version"], **extra},
    )


# --- authentication and errors --------------------------------------------------------


def test_every_call_needs_a_valid_token(api_app: Flask) -> None:
    client = api_app.test_client()
    message = error_of(client.get("/api/v1/decks"), 401)
    assert "Authorization: Bearer" in message
    assert client.get("/api/v1/decks").headers["WWW-Authenticate"].startswith("Bearer")
    wrong = {"Authorization": "Bearer fc_not-a-real-token"}
    assert "not a valid API token" in error_of(
        client.get("/api/v1/decks", headers=wrong), 401
    )
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    error_of(client.get("/api/v1/decks", headers=basic), 401)
    # A browser's cookie (local mode lets pages in without a login) is not enough.
    client.get("/")
    error_of(client.post("/api/v1/undo", json={}), 401)


def test_only_a_hash_of_the_token_is_stored(api_app: Flask) -> None:
    secret = make_token(api_app, local_user_id(api_app))
    assert re.fullmatch(r"fc_[A-Za-z0-9_-]{43}", secret)
    with api_app.app_context(), app_state().sessions() as session:
        (row,) = session.scalars(select(ApiToken)).all()
        values = [str(getattr(row, column.key)) for column in ApiToken.__table__.c]
    assert all(secret not in value and secret[3:] not in value for value in values)
    assert row.token_hash == __import__("hashlib").sha256(secret.encode()).hexdigest()


def test_openapi_document_is_public(api_app: Flask) -> None:
    response = api_app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    assert document == openapi_document()


def _route_path(rule: str) -> str:
    path = rule.removeprefix("/api/v1")
    return re.sub(r"<(?:[^:<>]+:)?([a-z_]+)>", r"{\1}", path)


def test_every_route_is_in_the_spec_and_every_operation_has_a_route(
    api_app: Flask,
) -> None:
    routes = {
        (method.lower(), _route_path(rule.rule))
        for rule in api_app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    spec = {
        (method, path)
        for path, operations in openapi_document()["paths"].items()
        for method in operations
    }
    assert routes == spec
    assert not [
        rule.rule
        for rule in api_app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and not rule.endpoint.startswith("api.")
    ]


def test_unknown_paths_and_methods_answer_in_json(api: Api) -> None:
    assert "openapi.json" in error_of(api.get("/nothing-here"), 404)
    error_of(api.get("/decks/99999/next"), 404)
    # Larger than any id: not found, never a database error.
    error_of(api.get("/decks/99999999999999999999/next"), 404)
    error_of(api.post("/cards/99999999999999999999/answer", json={}), 404)
    response = api.request("DELETE", "/decks")
    error_of(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    error_of(api.post("/decks/1/next", json={}), 405)
    # HTML pages keep their HTML errors.
    page = api.client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"


# --- decks, next, answer, undo -----------------------------------------------------------


def test_decks_list_with_counts_rolled_up(api: Api, api_app: Flask) -> None:
    response = api.get("/decks")
    assert response.status_code == 200
    decks = {d["slug"]: d for d in response.get_json()["decks"]}
    assert set(decks) == {"basics", "basics-sub"}
    basics = decks["basics"]
    assert basics["id"] == deck_id(api_app)
    assert basics["name"] == "Basics" and basics["uploaded"] is False
    assert basics["cards"] == 6
    # The parent's counts include its subdeck, as the deck list page shows them.
    assert basics["counts"] == {"new": 8, "learning": 0, "review": 0}
    assert decks["basics-sub"]["counts"] == {"new": 2, "learning": 0, "review": 0}


def test_next_then_answer_then_stale_answer(api: Api, api_app: Flask) -> None:
    basics = deck_id(api_app)
    shown = _next(api, basics)
    card = shown["card"]
    assert shown["counts"]["new"] == 8 and shown["undo_review_id"] is None
    assert card["queue"] == "new" and card["version"] == 0
    assert "capital of France" in card["question_html"]
    assert "Paris" in card["answer_html"]
    assert [(b["rating"], b["name"]) for b in card["buttons"]] == [
        (1, "Again"), (2, "Hard"), (3, "Good"), (4, "Easy"),
    ]
    assert [b["label"] for b in card["buttons"]] == ["1m", "6m", "10m", "4d"]

    response = _answer(api, card, 3, duration_ms=4200)
    assert response.status_code == 200, response.data
    result = response.get_json()
    assert result["card"]["id"] == card["id"]
    assert result["card"]["phase"] == "learning"
    assert result["card"]["version"] == 1
    assert result["next"]["undo_review_id"] == result["review_id"]
    assert result["next"]["card"]["id"] != card["id"]
    assert review_count(api_app) == 1

    # The same answer again (a retry, a double tap): refused, nothing recorded twice.
    stale = _answer(api, card, 3)
    assert "already" in error_of(stale, 409)
    assert review_count(api_app) == 1
    with api_app.app_context(), app_state().sessions() as session:
        (review,) = session.scalars(select(Review)).all()
    assert review.duration_ms == 4200 and review.rating == 3


def test_answer_validation(api: Api, api_app: Flask) -> None:
    card = _next(api, deck_id(api_app))["card"]
    path = f"/cards/{card['id']}/answer"
    assert "1 (Again)" in error_of(api.post(path, json={"rating": 5, "version": 0}), 422)
    error_of(api.post(path, json={"rating": 0, "version": 0}), 422)
    error_of(api.post(path, json={"rating": "3", "version": 0}), 422)
    error_of(api.post(path, json={"rating": True, "version": 0}), 422)
    assert "'version' is required" in error_of(api.post(path, json={"rating": 3}), 422)
    error_of(api.post(path, json={"rating": 3, "version": -1}), 422)
    error_of(api.post(path, json={"rating": 3, "version": 2**40}), 422)
    error_of(api.post(path, json=[1, 2]), 400)
    error_of(api.post(path, data="{not json", content_type="application/json"), 400)
    error_of(api.post(path, data="[" * 100_000, content_type="application/json"), 413)
    error_of(api.post(path, data="[" * 50_000, content_type="application/json"), 400)
    error_of(api.post(path), 400)
    assert "no card" in error_of(
        api.post("/cards/987654/answer", json={"rating": 3, "version": 0}), 404
    )
    assert review_count(api_app) == 0


def test_answer_in_a_parent_deck_returns_the_parent_queue(
    api: Api, api_app: Flask
) -> None:
    sub = deck_id(api_app, "basics-sub")
    parent = deck_id(api_app)
    card = _next(api, sub)["card"]
    result = _answer(api, card, 4, deck_id=parent).get_json()
    assert result["next"]["deck_id"] == parent
    # A card outside the named deck's tree is refused.
    other = _next(api, parent)["card"]
    assert other["deck_id"] == parent
    error_of(_answer(api, other, 3, deck_id=sub), 422)


def test_undo_takes_back_the_latest_answer(api: Api, api_app: Flask) -> None:
    basics = deck_id(api_app)
    first = _next(api, basics)["card"]
    review_id = _answer(api, first).get_json()["review_id"]
    assert "no longer the latest" in error_of(
        api.post("/undo", json={"review_id": review_id + 1}), 409
    )
    assert review_count(api_app) == 1
    response = api.post("/undo", json={"review_id": review_id, "deck_id": basics})
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert body["undone"] == {"review_id": review_id, "card_id": first["id"]}
    assert body["next"]["card"]["id"] == first["id"]
    assert body["next"]["card"]["version"] == 0 or body["next"]["card"]["version"] >= 2
    assert review_count(api_app) == 0
    assert "nothing to undo" in error_of(api.post("/undo"), 409)
    # The shown version after undo answers again.
    again = body["next"]["card"]
    assert _answer(api, again).status_code == 200
    assert review_count(api_app) == 1


def test_done_deck_gives_card_null(api: Api, api_app: Flask) -> None:
    sub = deck_id(api_app, "basics-sub")
    for _ in range(2):
        card = _next(api, sub)["card"]
        assert _answer(api, card, 4).status_code == 200
    done = _next(api, sub)
    assert done["card"] is None
    assert done["counts"] == {"new": 0, "learning": 0, "review": 0}


# --- upload and export -----------------------------------------------------------------


def test_upload_raw_yaml_then_again_updates(api: Api) -> None:
    response = api.post(
        "/decks?filename=words.yaml",
        data=OWN_DECK.encode(),
        content_type="application/yaml",
    )
    assert response.status_code == 201, response.data
    body = response.get_json()
    assert body["created"] is True and body["cards"] == 2
    assert body["deck"]["slug"] == "private-words" and body["deck"]["uploaded"] is True
    assert body["deck"]["counts"]["new"] == 2
    assert body["report"]["added"] == 2
    listed = {d["slug"]: d for d in api.get("/decks").get_json()["decks"]}
    assert listed["private-words"]["uploaded"] is True

    again = api.post("/decks", data=OWN_DECK.encode(), content_type="text/plain")
    assert again.status_code == 200
    assert again.get_json()["created"] is False
    assert again.get_json()["deck"]["id"] == body["deck"]["id"]


def test_upload_multipart(api: Api) -> None:
    response = api.post(
        "/decks",
        data={"deck_file": (io.BytesIO(OWN_DECK.encode()), "words.yml")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.data
    missing = api.post(
        "/decks", data={"other": "x"}, content_type="multipart/form-data"
    )
    assert "deck_file" in error_of(missing, 400)
    error_of(api.post("/decks", data=b"", content_type="application/yaml"), 400)


def test_upload_problems_are_those_of_flashcards_check(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = api.post(
        "/decks?filename=broken.yaml", data=BAD_DECK.encode(), content_type="application/yaml"
    )
    message = error_of(response, 422)
    problems = response.get_json()["error"]["problems"]
    assert len(problems) >= 2
    assert message.endswith(f"{problems[0]} (and {len(problems) - 1} more, listed in 'problems')")

    # `flashcards check broken.yaml` prints str(problem) for each, one a line.
    (tmp_path / "broken.yaml").write_text(BAD_DECK)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DeckFileError) as checked:
        load_deck_file(Path("broken.yaml"))
    assert [str(problem) for problem in checked.value.problems] == problems
    assert api.get("/decks").get_json()["decks"][0]["slug"] != "broken"

    named_badly = api.post("/decks?filename=deck.txt", data=OWN_DECK.encode())
    assert "YAML deck file" in error_of(named_badly, 422)


def test_upload_over_the_limit_is_413(
    database_url: str, tmp_path: Path, decks_dir: Path, clock: Clock
) -> None:
    app = make_app(database_url, tmp_path, decks_dir, clock, max_deck_bytes=1000)
    ensure_token_table(app)
    api = Api(app.test_client(), make_token(app, local_user_id(app)))
    big = OWN_DECK + "#" * 2000 + "\n"
    assert "1,000 bytes" in error_of(api.post("/decks", data=big.encode()), 413)
    huge = b"#" * 200_000
    error_of(api.post("/decks", data=huge), 413)
    with app.app_context():
        app_state().engine.dispose()


def test_export_apkg_and_yaml(api: Api, api_app: Flask) -> None:
    basics = deck_id(api_app)
    _answer(api, _next(api, basics)["card"])
    response = api.get(f"/decks/{basics}/export?with_progress=true")
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"] == 'attachment; filename="basics.apkg"'
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert any(name.startswith("collection.anki2") for name in names)

    yaml_response = api.get(f"/decks/{basics}/export?format=yaml")
    assert yaml_response.status_code == 200
    assert yaml_response.mimetype == "application/yaml"
    text = yaml_response.get_data(as_text=True)
    assert "id: basics" in text and "capital" in text

    assert "no progress" in error_of(
        api.get(f"/decks/{basics}/export?format=yaml&with_progress=true"), 422
    )
    error_of(api.get(f"/decks/{basics}/export?format=csv"), 422)
    error_of(api.get(f"/decks/{basics}/export?with_progress=maybe"), 422)
    error_of(api.get("/decks/424242/export"), 404)


def test_export_of_an_empty_deck_is_409(api: Api) -> None:
    empty = "deck: Empty\nid: empty\ncards: []\n"
    created = api.post("/decks", data=empty.encode()).get_json()
    error_of(api.get(f"/decks/{created['deck']['id']}/export"), 409)


# --- isolation between users -------------------------------------------------------------


@pytest.fixture
def two(api_app: Flask) -> tuple[Api, Api]:
    alice = make_user(api_app, "alice")
    bob = make_user(api_app, "bob")
    return (
        Api(api_app.test_client(), make_token(api_app, alice, "alice's")),
        Api(api_app.test_client(), make_token(api_app, bob, "bob's")),
    )


def test_a_token_sees_only_its_users_data(two: tuple[Api, Api], api_app: Flask) -> None:
    alice, bob = two
    own = alice.post("/decks", data=OWN_DECK.encode()).get_json()["deck"]
    own_card = _next(alice, own["id"])["card"]

    assert "private-words" not in {d["slug"] for d in bob.get("/decks").get_json()["decks"]}
    error_of(bob.get(f"/decks/{own['id']}/next"), 404)
    error_of(bob.get(f"/decks/{own['id']}/export"), 404)
    error_of(bob.get(f"/decks/{own['id']}/export?format=yaml"), 404)
    error_of(_answer(bob, own_card), 404)
    # Guessed ids around Alice's find nothing either.
    shared = {d["id"] for d in bob.get("/decks").get_json()["decks"]}
    for guess in range(1, own["id"] + 3):
        expected = 200 if guess in shared else 404
        assert bob.get(f"/decks/{guess}/next").status_code == expected

    # Progress on a shared deck is per user.
    basics = deck_id(api_app)
    card = _next(alice, basics)["card"]
    assert _answer(alice, card).status_code == 200
    bob_view = _next(bob, basics)
    assert bob_view["card"]["id"] == card["id"] and bob_view["card"]["version"] == 0
    assert bob_view["counts"]["new"] == 8 and bob_view["undo_review_id"] is None
    # Bob cannot undo Alice's answer, nor answer with her version.
    assert "nothing to undo" in error_of(bob.post("/undo", json={}), 409)
    alice_review = _next(alice, basics)["undo_review_id"]
    error_of(bob.post("/undo", json={"review_id": alice_review}), 409)
    assert review_count(api_app) == 1
    with api_app.app_context(), app_state().sessions() as session:
        owners = set(session.scalars(select(CardProgress.user_id)).all())
        reviews = session.scalar(select(func.count()).select_from(Review)) or 0
    assert reviews == 1 and len(owners) == 1


def test_a_revoked_token_stops_working(two: tuple[Api, Api], api_app: Flask) -> None:
    alice, _bob = two
    assert alice.get("/decks").status_code == 200
    with api_app.app_context(), app_state().sessions.begin() as session:
        for token in session.scalars(select(ApiToken)):
            if token.name == "alice's":
                token.revoked_at = token.created_at
    assert "revoked" in error_of(alice.get("/decks"), 401)


def test_api_works_with_accounts_on_and_never_as_the_local_user(
    database_url: str, tmp_path: Path, decks_dir: Path, clock: Clock
) -> None:
    app = make_app(database_url, tmp_path, decks_dir, clock, accounts=True)
    ensure_token_table(app)
    client = app.test_client()
    # Without a token: a JSON 401, not the login page.
    error_of(client.get("/api/v1/decks"), 401)
    carol = make_user(app, "carol")
    api = Api(client, make_token(app, carol))
    response = api.post("/decks", data=OWN_DECK.encode())
    assert response.status_code == 201, response.data
    assert [d["slug"] for d in api.get("/decks").get_json()["decks"]] == ["private-words"]
    with app.app_context():
        app_state().engine.dispose()


def test_an_unexpected_failure_is_a_json_500(
    api: Api, api_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("flashcards.web.api.study_queue", broken)
    monkeypatch.setitem(api_app.config, "PROPAGATE_EXCEPTIONS", False)
    message = error_of(api.get(f"/decks/{deck_id(api_app)}/next"), 500)
    assert "boom" not in message and "Something went wrong" in message
    page = api.client.get("/")
    assert page.status_code == 200

"""The OpenAPI 3.1 document of the JSON API (`GET /api/v1/openapi.json`).

Place: written by hand, beside web.api, from small declarations; a test checks that
every route of the `api` blueprint is described here and that nothing here lacks a
route, and the schemathesis test in the suite generates requests from it and checks
the answers against it. Paths are relative to the server URL `/api/v1`.
"""

from __future__ import annotations

import copy
from typing import Any

API_PREFIX = "/api/v1"
# Database ids are 32-bit integers; larger numbers in a path are simply not found.
MAX_ID = 2**31 - 1

Schema = dict[str, Any]

# A deck file (YAML) as the data it holds; the document describes the upload body so.
EXAMPLE_DECK: dict[str, Any] = {
    "deck": "Example",
    "id": "example",
    "cards": [
        {"id": "capital", "front": "What is the capital of France?", "back": "Paris"},
        {"id": "clt", "cloze": "The {{c1::central limit theorem}} is about means."},
    ],
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {"oneOf": [schema, {"type": "null"}]}


_ID: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_COUNT: Schema = {"type": "integer", "minimum": 0}
_TIME: Schema = {"type": "string", "format": "date-time"}
# Deck and card ids in deck files.
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"

SCHEMAS: dict[str, Schema] = {
    "DeckFile": {
        "type": "object",
        "description": "A deck file, format 1 (see the README): YAML text, shown "
        "here as the data it holds. Every card needs `front` and `back`, or `cloze`.",
        "required": ["deck", "cards"],
        "properties": {
            "deck": {"type": "string", "minLength": 1, "maxLength": 300},
            "id": {"type": "string", "pattern": _ID_PATTERN},
            "description": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "cards": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "pattern": _ID_PATTERN},
                        "front": {"type": "string"},
                        "back": {"type": "string"},
                        "reverse": {"type": "boolean"},
                        "cloze": {"type": "string"},
                        "extra": {"type": "string"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
    "Error": {
        "type": "object",
        "description": "Every refusal: the HTTP status again and what to do about it.",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "message"],
                "properties": {
                    "status": {"type": "integer", "minimum": 400, "maximum": 599},
                    "message": {"type": "string"},
                    "problems": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "For a rejected deck file: every problem, "
                        "as `flashcards check` prints them.",
                    },
                },
            }
        },
    },
    "Counts": {
        "type": "object",
        "description": "Cards due today: new (within the daily limit), in learning, "
        "and reviews; a deck's counts include its subdecks.",
        "required": ["new", "learning", "review"],
        "properties": {"new": _COUNT, "learning": _COUNT, "review": _COUNT},
    },
    "Deck": {
        "type": "object",
        "required": ["id", "slug", "name", "description", "cards", "uploaded", "counts"],
        "properties": {
            "id": _ID,
            "slug": {"type": "string", "description": "The deck file's `id`."},
            "name": {"type": "string", "description": "`A::B` is subdeck B of A."},
            "description": _nullable({"type": "string"}),
            "cards": {**_COUNT, "description": "Live cards of this deck itself."},
            "uploaded": {
                "type": "boolean",
                "description": "True for your own uploaded decks, false for shared ones.",
            },
            "counts": _ref("Counts"),
        },
    },
    "Button": {
        "type": "object",
        "required": ["rating", "name", "label"],
        "properties": {
            "rating": {"type": "integer", "enum": [1, 2, 3, 4]},
            "name": {"type": "string", "enum": ["Again", "Hard", "Good", "Easy"]},
            "label": {
                "type": "string",
                "description": "When the card comes back with this rating: 1m, 10m, 4d.",
            },
        },
    },
    "StudyCard": {
        "type": "object",
        "required": [
            "id", "deck_id", "note_key", "slot", "version", "queue",
            "question_html", "answer_html", "extra_html", "buttons",
        ],
        "properties": {
            "id": _ID,
            "deck_id": _ID,
            "note_key": {"type": "string", "description": "The card entry's `id`."},
            "slot": {"type": "string", "description": "front, reverse, c1, c2, ..."},
            "version": {
                **_COUNT,
                "description": "Send it back with the answer; a stale one is refused.",
            },
            "queue": {"type": "string", "enum": ["new", "learning", "review"]},
            "question_html": {"type": "string"},
            "answer_html": {"type": "string"},
            "extra_html": _nullable({"type": "string"}),
            "buttons": {"type": "array", "items": _ref("Button")},
        },
    },
    "Next": {
        "type": "object",
        "description": "The card to study next in a deck (with its subdecks), or "
        "`card: null` when nothing is due now.",
        "required": ["deck_id", "counts", "card", "next_learning_at", "undo_review_id"],
        "properties": {
            "deck_id": _ID,
            "counts": _ref("Counts"),
            "card": _nullable(_ref("StudyCard")),
            "next_learning_at": {
                **_nullable(_TIME),
                "description": "When nothing is due: when the next learning card "
                "comes back today, if one does.",
            },
            "undo_review_id": {
                **_nullable(_ID),
                "description": "The answer that POST /undo would take back.",
            },
        },
    },
    "CardState": {
        "type": "object",
        "required": [
            "id", "version", "phase", "due", "interval_days", "ease", "reps",
            "lapses", "is_leech",
        ],
        "properties": {
            "id": _ID,
            "version": _COUNT,
            "phase": {
                "type": "string",
                "enum": ["new", "learning", "review", "relearning"],
            },
            "due": _nullable(_TIME),
            "interval_days": _COUNT,
            "ease": {"type": "number"},
            "reps": _COUNT,
            "lapses": _COUNT,
            "is_leech": {"type": "boolean"},
        },
    },
    "AnswerRequest": {
        "type": "object",
        "required": ["rating", "version"],
        "properties": {
            "rating": {
                "type": "integer",
                "enum": [1, 2, 3, 4],
                "description": "1 Again, 2 Hard, 3 Good, 4 Easy.",
            },
            "version": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_ID,
                "description": "The card's `version` from GET /decks/{deck_id}/next.",
            },
            "duration_ms": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_ID,
                "description": "Time spent on the card (capped at one hour).",
            },
            "deck_id": {
                **_ID,
                "description": "The deck being studied, for `next` (default: the "
                "card's own deck).",
            },
        },
    },
    "AnswerResult": {
        "type": "object",
        "required": ["review_id", "card", "next"],
        "properties": {
            "review_id": _ID,
            "card": _ref("CardState"),
            "next": _ref("Next"),
        },
    },
    "UndoRequest": {
        "type": "object",
        "properties": {
            "review_id": {
                **_ID,
                "description": "The answer to take back (the `undo_review_id` you "
                "were shown); refused with 409 when it is no longer the latest.",
            },
            "deck_id": {**_ID, "description": "Also return `next` for this deck."},
        },
    },
    "UndoResult": {
        "type": "object",
        "required": ["undone", "next"],
        "properties": {
            "undone": {
                "type": "object",
                "required": ["review_id", "card_id"],
                "properties": {"review_id": _ID, "card_id": _ID},
            },
            "next": _nullable(_ref("Next")),
        },
    },
    "UploadResult": {
        "type": "object",
        "required": ["deck", "created", "cards", "report", "warnings"],
        "properties": {
            "deck": _ref("Deck"),
            "created": {"type": "boolean"},
            "cards": _COUNT,
            "report": {
                "type": "object",
                "required": ["added", "updated", "retired", "revived", "unchanged"],
                "properties": {
                    key: _COUNT
                    for key in ("added", "updated", "retired", "revived", "unchanged")
                },
            },
            "warnings": {"type": "array", "items": {"type": "string"}},
        },
    },
}


def _error(description: str) -> Schema:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }


def _json(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_UNAUTHORIZED = _error("No token, or not a valid (or a revoked) token.")
_DECK_ID = {
    "name": "deck_id",
    "in": "path",
    "required": True,
    "schema": _ID,
    "description": "The deck's `id` from GET /decks.",
}

PATHS: dict[str, dict[str, Schema]] = {
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "security": [],
            "responses": {"200": _json("The OpenAPI document.", {"type": "object"})},
        }
    },
    "/decks": {
        "get": {
            "operationId": "listDecks",
            "summary": "The decks you can see, with today's counts",
            "responses": {
                "200": _json(
                    "Shared decks and your own uploads, by name.",
                    {
                        "type": "object",
                        "required": ["decks"],
                        "properties": {
                            "decks": {"type": "array", "items": _ref("Deck")}
                        },
                    },
                ),
                "401": _UNAUTHORIZED,
            },
        },
        "post": {
            "operationId": "uploadDeck",
            "summary": "Upload a YAML deck file as your own deck",
            "description": "Send the file as the request body (any content type but "
            "multipart), or as the multipart field `deck_file`. Uploading a deck with "
            "the same id again updates it and keeps your progress. A file with any "
            "problem changes nothing: 422 lists every problem, as `flashcards check` "
            "does.",
            "parameters": [
                {
                    "name": "filename",
                    "in": "query",
                    "required": False,
                    "schema": {
                        "type": "string",
                        "maxLength": 200,
                        "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*\.(yaml|yml)$",
                    },
                    "description": "For a raw body: the file name problems mention, "
                    "whose stem is the deck id when the file has no `id:` "
                    "(default upload.yaml).",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/yaml": {
                        "schema": _ref("DeckFile"),
                        "example": EXAMPLE_DECK,
                    },
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["deck_file"],
                            "properties": {
                                "deck_file": {"type": "string", "format": "binary"}
                            },
                        }
                    },
                },
            },
            "responses": {
                "200": _json("An existing deck of yours was updated.", _ref("UploadResult")),
                "201": _json("A new deck was created.", _ref("UploadResult")),
                "400": _error("No deck file in the request."),
                "401": _UNAUTHORIZED,
                "409": _error("The deck could not be stored as it is."),
                "413": _error("The file is larger than the instance allows."),
                "422": _error("The deck file has problems (listed in `problems`)."),
            },
        },
    },
    "/decks/{deck_id}/next": {
        "get": {
            "operationId": "nextCard",
            "summary": "The next card to study in a deck and its subdecks",
            "parameters": [_DECK_ID],
            "responses": {
                "200": _json("The card (or `card: null`) and the counts.", _ref("Next")),
                "401": _UNAUTHORIZED,
                "404": _error("No such deck, or not one you can see."),
            },
        }
    },
    "/decks/{deck_id}/export": {
        "get": {
            "operationId": "exportDeck",
            "summary": "Download a deck as an Anki package or as a YAML deck file",
            "description": "`apkg` includes the deck's subdecks and, with "
            "`with_progress=true`, your card states and review log; `yaml` is the "
            "deck's own file (format 1), without progress.",
            "parameters": [
                _DECK_ID,
                {
                    "name": "format",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["apkg", "yaml"], "default": "apkg"},
                },
                {
                    "name": "with_progress",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "boolean", "default": False},
                },
            ],
            "responses": {
                "200": {
                    "description": "The file, as an attachment.",
                    "headers": {
                        "Content-Disposition": {
                            "schema": {"type": "string"},
                            "description": "attachment; filename=<deck id>.apkg|.yaml",
                        }
                    },
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        },
                        "application/yaml": {"schema": {"type": "string"}},
                    },
                },
                "401": _UNAUTHORIZED,
                "404": _error("No such deck, or not one you can see."),
                "409": _error("The deck has no cards to export."),
                "422": _error("An unknown format, or progress asked for in YAML."),
            },
        }
    },
    "/cards/{card_id}/answer": {
        "post": {
            "operationId": "answerCard",
            "summary": "Answer a card; returns its new state and the next card",
            "parameters": [
                {
                    "name": "card_id",
                    "in": "path",
                    "required": True,
                    "schema": _ID,
                    "description": "The `card.id` from GET /decks/{deck_id}/next.",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("AnswerRequest")}},
            },
            "responses": {
                "200": _json("Recorded.", _ref("AnswerResult")),
                "400": _error("The body is not a JSON object."),
                "401": _UNAUTHORIZED,
                "404": _error("No such card, or not one you can see."),
                "409": _error(
                    "Not recorded: the card changed since it was shown (a stale "
                    "`version`: answered twice or elsewhere), or it is not due, "
                    "suspended, buried or removed from its deck file."
                ),
                "422": _error("A missing or invalid field (a rating other than 1-4)."),
            },
        }
    },
    "/undo": {
        "post": {
            "operationId": "undo",
            "summary": "Take back your latest answer",
            "description": "Several calls go back several answers (within a day).",
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": _ref("UndoRequest")}},
            },
            "responses": {
                "200": _json("Taken back.", _ref("UndoResult")),
                "400": _error("The body is not a JSON object."),
                "401": _UNAUTHORIZED,
                "404": _error("No such deck (for `next`)."),
                "409": _error(
                    "Nothing to undo, or `review_id` is no longer the latest answer."
                ),
                "422": _error("An invalid field."),
            },
        }
    },
}


def openapi_document() -> dict[str, Any]:
    """The whole document (a fresh copy each time: callers may change it)."""
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "flashcards API",
                "version": "1",
                "description": (
                    "Study, upload and export decks over JSON. Authenticate with a "
                    "personal API token (create one on the /settings/tokens page) "
                    "sent as `Authorization: Bearer fc_...`. A token acts as its "
                    "user and sees only that user's progress and uploads. Errors "
                    'are JSON: `{"error": {"status": 404, "message": "..."}}`.'
                ),
            },
            "servers": [{"url": API_PREFIX}],
            "security": [{"bearerAuth": []}],
            "paths": PATHS,
            "components": {
                "schemas": SCHEMAS,
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A personal API token, fc_ followed by 43 "
                        "URL-safe characters.",
                    }
                },
            },
        }
    )

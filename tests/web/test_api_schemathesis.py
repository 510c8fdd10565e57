"""Property-based API testing: schemathesis generates requests from the OpenAPI document
(valid and invalid ones) and sends them in-process to the Flask app with a valid token.

No request may cause a server error, and every response must conform to the
document: a documented status code and content type, a body matching the schema.
One test per operation, on a fresh database with the small test decks; examples are
bounded so the whole run stays well under a minute on two cores.
"""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from flashcards.web.openapi import openapi_document
from tests.web.api_support import ensure_token_table, local_user_id, make_token

schema = schemathesis.openapi.from_dict(openapi_document())

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture
def token(app: Flask) -> str:
    ensure_token_table(app)
    return make_token(app, local_user_id(app), "schemathesis")


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi_document(
    case: schemathesis.Case, app: Flask, token: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    response = case.call(app=app, headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers)

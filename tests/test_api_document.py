"""The OpenAPI document and the app agree: the document is valid OpenAPI 3.1, names exactly
the app's API routes, every API route answers each role as the document and the web pages
say, and requests generated from the document get answers the document describes, never a 5xx.

The generated requests (schemathesis) are few per operation in the default run; set
API_FUZZ_EXAMPLES to try more (CI runs it with more)."""

from __future__ import annotations

import os
import re

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import positive_data_acceptance

from config import TestConfig
from crm import create_app
from crm.api import openapi
from crm.auth.permissions import Access, access_of, role_may
from crm.extensions import db
from crm.models import Role, TokenScope, Topic
from tests import factories
from tests.api_support import bearer, user_with_token
from tests.public_support import GENEROUS_LIMIT, app_config

DOCUMENT = openapi.document()
_APP = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://")
FUZZ_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "4"))


def _api_rules() -> list[tuple[str, str, object]]:
    """(method, document path, view) of every API route the app has."""
    found = []
    for rule in _APP.url_map.iter_rules():
        if not rule.rule.startswith(openapi.API_PREFIX + "/") or rule.endpoint in ("api.openapi_json", "api.docs"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(openapi.API_PREFIX))
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, path, _APP.view_functions[rule.endpoint]))
    return found


API_RULES = _api_rules()


def test_document_is_valid_openapi_3_1() -> None:
    validate(DOCUMENT)
    assert DOCUMENT["openapi"].startswith("3.1")


def test_document_names_exactly_the_apps_routes() -> None:
    in_app = {(method.lower(), path) for method, path, _view in API_RULES}
    in_document = {
        (method, path)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in {"get", "post", "patch", "put", "delete"}
    }
    assert in_app == in_document


def test_served_document_is_the_built_one(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response.get_json() == DOCUMENT


TOKEN_ROUTES = [(method, path, view) for method, path, view in API_RULES if getattr(view, "token_auth", False)]
ROLES = [Role.PARTNER, Role.STAFF, Role.MANAGER, Role.ADMIN]


@pytest.mark.parametrize(("method", "path", "view"), TOKEN_ROUTES, ids=[f"{m} {p}" for m, p, _v in TOKEN_ROUTES])
@pytest.mark.parametrize("role", ROLES, ids=[role.value for role in ROLES])
def test_token_route_access(client: FlaskClient, method: str, path: str, view, role: Role) -> None:
    """Without a token: 401. A role the route's access leaves out: 403. Anyone else: neither,
    and never a 5xx. Built from the url_map, so a new API route is walked the day it lands."""
    access: Access = access_of(view)
    organisation = factories.OrganisationFactory()
    url = openapi.API_PREFIX + path.replace("{record_id}", str(organisation.id))
    body = {} if method in ("POST", "PATCH") else None

    anonymous = client.open(url, method=method, json=body)
    assert anonymous.status_code == 401, f"{method} {path} without a token"

    fields = {"organisation": organisation} if role is Role.PARTNER else {}
    _user, secret = user_with_token(role, TokenScope.WRITE, **fields)
    response = client.open(url, method=method, json=body, headers=bearer(secret))
    seen = f"{method} {path} as {role.value} -> {response.status_code}"
    if not role_may(role, access):
        assert response.status_code == 403, seen
        return
    assert response.status_code not in (401, 403), seen
    assert response.status_code < 500, seen


# --- every request checked against the document ----------------------------------------------

SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
# The coverage phase tries every boundary of every schema: thorough, and minutes long. The
# default run keeps to generated examples; CI sets API_FUZZ_FULL=1.
if not os.environ.get("API_FUZZ_FULL"):
    SCHEMA.config.phases.coverage.enabled = False


@pytest.fixture
def seeded(app: Flask) -> dict[str, str]:
    """A few records for generated requests to meet, and a write token of each kind of user."""
    limits = {"PUBLIC_FORM_RATE_LIMIT": GENEROUS_LIMIT, "PUBLIC_FORM_REFUSED_RATE_LIMIT": GENEROUS_LIMIT}
    with app_config(app, **limits):
        db.session.add(Topic(name_en="Safe sleep", name_es="Sueño seguro", sort_order=1))
        own = factories.OrganisationFactory(name="Fuzz Home")
        factories.GrantFactory(organisation=own)
        factories.InteractionFactory(organisation=own)
        factories.ContactFactory(organisation=own)
        _staff, staff_token = user_with_token(Role.STAFF, TokenScope.WRITE)
        _partner, partner_token = user_with_token(Role.PARTNER, TokenScope.WRITE, organisation=own)
        yield {"staff": staff_token, "partner": partner_token}


@SCHEMA.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@pytest.mark.parametrize("who", ["staff", "partner"])
def test_every_response_fits_the_document(case, app: Flask, seeded: dict[str, str], who: str) -> None:
    # The test's app, bound to the test's transaction, for every request the checks send.
    case.operation.app = app
    case.operation.schema.app = app
    # A body the schema allows may still break a form's rule (an empty name, a ZIP code that
    # does not exist): a 422 there is the answer the document promises, not a failure.
    case.call_and_validate(headers=bearer(seeded[who]), excluded_checks=[positive_data_acceptance])

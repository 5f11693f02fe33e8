"""Who may reach every route: built from app.url_map, so a new route is tested the day it lands.

For every (rule, method) and every role:
- anonymous on a route that is not PUBLIC is sent to /login;
- a role the route's Access does not allow gets 403;
- an allowed role never gets 403, is never sent to /login, and never sees a 500.
A route without an @requires(...) classification fails test_every_route_is_classified.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import Rule

from config import TestConfig
from crm import create_app
from crm.auth.permissions import Access, access_of, role_may
from crm.database import utcnow
from crm.extensions import db
from crm.inquiries import intake
from crm.inquiries.intake import InquiryDetails
from crm.models import GrantReport, Organisation, OutboundEmail, Role, RoutingRule, Topic
from tests import factories

# The routes are read from an app built once at import time, only to list its url_map.
_ROUTE_APP = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://")
ROLES: list[Role | None] = [None, Role.PARTNER, Role.STAFF, Role.MANAGER, Role.ADMIN]
MISSING_ID = 999999
IGNORED_METHODS = {"HEAD", "OPTIONS"}
# <name>, <int:name>, <string(length=2):name> ...
_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


@dataclass(frozen=True)
class Route:
    rule: Rule
    method: str

    @property
    def endpoint(self) -> str:
        return self.rule.endpoint

    def __str__(self) -> str:
        return f"{self.method} {self.rule.rule}"


def _routes(app: Flask) -> list[Route]:
    """Every route a browser signs in to; the API's token routes answer to tokens instead,
    and tests/test_api_document.py walks them the same way with a token per role."""
    routes = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint)):
        if rule.endpoint == "static" or getattr(app.view_functions[rule.endpoint], "token_auth", False):
            continue
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            routes.append(Route(rule, method))
    return routes


ROUTES = _routes(_ROUTE_APP)


def _role_name(role: Role | None) -> str:
    return role.value if role else "anonymous"


CASES = [
    pytest.param(route, role, id=f"{route} as {_role_name(role)}")
    for route in ROUTES
    for role in ROLES
]


def test_routes_were_found() -> None:
    assert len(ROUTES) > 5, "app.url_map has almost no routes: is a blueprint missing?"


def test_the_health_check_is_public() -> None:
    """A load balancer asks for it without signing in (crm.health)."""
    health = [route for route in ROUTES if route.rule.rule == "/healthz"]
    assert [route.method for route in health] == ["GET"]
    assert access_of(_ROUTE_APP.view_functions[health[0].endpoint]) is Access.PUBLIC


def test_merging_is_for_staff_managers_and_admins_not_partners() -> None:
    """Duplicates and merges (crm.merging) change records partners never see whole."""
    merging = [route for route in ROUTES if route.endpoint.startswith("merging.")]
    assert {route.rule.rule for route in merging} == {
        "/contacts/duplicates", "/contacts/merge", "/organisations/duplicates", "/organisations/merge",
    }
    for route in merging:
        access = access_of(_ROUTE_APP.view_functions[route.endpoint])
        assert access is Access.STAFF, route
        assert [role_may(role, access) for role in ROLES] == [False, False, True, True, True], route


def test_every_route_is_classified() -> None:
    unclassified = sorted(
        f"{rule.rule} ({endpoint})"
        for endpoint, rule in ((rule.endpoint, rule) for rule in _ROUTE_APP.url_map.iter_rules())
        if endpoint != "static" and access_of(_ROUTE_APP.view_functions[endpoint]) is None
    )
    assert unclassified == [], "decorate these views with @requires(Access.X): " + ", ".join(unclassified)


# --- the records that URL arguments point at ---------------------------------------------


@dataclass
class Records:
    values: dict[str, int]
    own_organisation_id: int
    other_organisation_id: int


@pytest.fixture
def records(app: Flask) -> Records:
    """One of each record a URL can name, all belonging to the partner's own organisation."""
    own = factories.OrganisationFactory(name="Partner Home Organisation")
    other = factories.OrganisationFactory(name="Somebody Else Organisation")
    contact = factories.ContactFactory(organisation=own, accepts_inquiries=True)
    factories.ContactFactory(organisation=other, accepts_inquiries=True, is_inquiry_fallback=True)
    grant = factories.GrantFactory(organisation=own)
    report = GrantReport(grant=grant, due_on=date(2026, 7, 15))
    topic = Topic(name_en="Home visits", name_es="Visitas a domicilio", sort_order=1)
    rule = RoutingRule(name="Home visits to the partner", priority=10, topics=[topic], target_organisation=own)
    db.session.add_all([report, topic, rule])
    db.session.commit()
    interaction = factories.InteractionFactory(organisation=own, contacts=[contact])
    someone = factories.UserFactory(role=Role.STAFF, name="Another Staff Member")
    details = InquiryDetails(
        name="Alex Requester", email="alex@example.net", phone="", zip_code="", topic=topic,
        language="en", message="We would like a home visit, please.", consent=True,
    )
    inquiry = intake.receive(details, utcnow()).inquiry
    email_id = db.session.scalar(select(OutboundEmail.id).order_by(OutboundEmail.id).limit(1))
    values = {
        "organisation_id": own.id,
        "contact_id": contact.id,
        "grant_id": grant.id,
        "report_id": report.id,
        "interaction_id": interaction.id,
        "user_id": someone.id,
        "inquiry_id": inquiry.id,
        "topic_id": topic.id,
        "rule_id": rule.id,
    }
    if email_id is not None:
        values["email_id"] = email_id
    return Records(values=values, own_organisation_id=own.id, other_organisation_id=other.id)


def _model_for_argument(name: str):
    """`inquiry_id` -> Inquiry, `rule_id` -> RoutingRule (the one model whose name ends so); else None."""
    if not name.endswith("_id"):
        return None
    wanted = name.removesuffix("_id").replace("_", "")
    models = [mapper.class_ for mapper in db.Model.registry.mappers]
    exact = [model for model in models if model.__name__.lower() == wanted]
    if exact:
        return exact[0]
    endings = [model for model in models if model.__name__.lower().endswith(wanted)]
    return endings[0] if len(endings) == 1 else None


def _factory_for(model):
    for candidate in vars(factories).values():
        meta = getattr(candidate, "_meta", None)
        if isinstance(candidate, type) and meta is not None and not meta.abstract and meta.model is model:
            return candidate
    return None


def _argument_value(rule: Rule, name: str, records: Records) -> tuple[object, bool]:
    """A value for one URL argument, and whether it names a real record."""
    converters = {match["name"]: match["converter"] or "default" for match in _ARGUMENT.finditer(rule.rule)}
    converter = converters.get(name, "default")
    if converter == "int":
        if name in records.values:
            return records.values[name], True
        model = _model_for_argument(name)
        if model is not None and hasattr(model, "id"):
            found = db.session.scalar(select(model.id).order_by(model.id).limit(1))
            factory = _factory_for(model)
            if found is None and factory is not None:
                found = factory().id
            if found is not None:
                return found, True
        return MISSING_ID, False
    if converter == "uuid":
        return uuid.UUID(int=0), False
    return "missing", False


def _build(route: Route, records: Records) -> tuple[str, bool]:
    values, all_real = {}, True
    for name in route.rule.arguments:
        values[name], real = _argument_value(route.rule, name, records)
        all_real = all_real and real
    built = route.rule.build(values, append_unknown=False)
    assert built is not None, f"could not build {route} from {values}"
    return built[1], all_real


def _sent_to_login(response) -> bool:
    if response.status_code not in (301, 302, 303, 307, 308):
        return False
    return urlsplit(response.headers.get("Location", "")).path == "/login"


def _sent_to_login_as_unauthorised(response) -> bool:
    """Flask-Login's redirect for a signed-out visitor carries ?next=; logout's own redirect does not."""
    location = urlsplit(response.headers.get("Location", ""))
    return _sent_to_login(response) and "next" in parse_qs(location.query)


@pytest.mark.parametrize(("route", "role"), CASES)
def test_route_access(route: Route, role: Role | None, client: FlaskClient, login, records: Records) -> None:
    access = access_of(_ROUTE_APP.view_functions[route.endpoint])
    assert access is not None, f"{route} has no @requires classification"
    if role is not None:
        fields = {"organisation": db.session.get(Organisation, records.own_organisation_id)} if role is Role.PARTNER else {}
        login(role, **fields)
    url, all_arguments_real = _build(route, records)

    response = client.open(url, method=route.method, data={} if route.method != "GET" else None)
    status = response.status_code
    seen = f"{route} as {_role_name(role)} -> {status} {response.headers.get('Location', '')}"

    if role is None and access is not Access.PUBLIC:
        assert _sent_to_login(response), seen
        return
    if not role_may(role, access):
        assert status == 403, seen
        return
    assert status != 403, seen
    assert not _sent_to_login_as_unauthorised(response), seen
    assert status < 500, seen
    # Partners see only their own organisation's records; anything else is a 404 by design.
    partner_may_miss = role is Role.PARTNER and route.rule.arguments
    if route.method == "GET" and all_arguments_real and not partner_may_miss:
        assert status != 404, f"{seen}: the record exists, the route should find it"


# --- object visibility for partners ------------------------------------------------------


def test_partner_sees_own_organisation(client: FlaskClient, login, records: Records) -> None:
    own = db.session.get(Organisation, records.own_organisation_id)
    login(Role.PARTNER, organisation=own)

    response = client.get(f"/organisations/{own.id}")

    assert response.status_code == 200
    assert own.name in response.get_data(as_text=True)


def test_partner_cannot_see_another_organisation(client: FlaskClient, login, records: Records) -> None:
    own = db.session.get(Organisation, records.own_organisation_id)
    login(Role.PARTNER, organisation=own)

    response = client.get(f"/organisations/{records.other_organisation_id}")

    assert response.status_code == 404
    assert "Somebody Else" not in response.get_data(as_text=True)


def test_partner_hidden_and_missing_organisations_look_the_same(client: FlaskClient, login, records: Records) -> None:
    own = db.session.get(Organisation, records.own_organisation_id)
    login(Role.PARTNER, organisation=own)

    hidden = client.get(f"/organisations/{records.other_organisation_id}")
    missing = client.get(f"/organisations/{MISSING_ID}")

    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_data() == missing.get_data()


def test_staff_see_every_organisation(client: FlaskClient, login, records: Records) -> None:
    login(Role.STAFF)

    assert client.get(f"/organisations/{records.own_organisation_id}").status_code == 200
    assert client.get(f"/organisations/{records.other_organisation_id}").status_code == 200


def test_partner_without_organisation_sees_no_organisation(client: FlaskClient, login, records: Records) -> None:
    login(Role.PARTNER, organisation=None)

    assert client.get(f"/organisations/{records.own_organisation_id}").status_code == 404


def test_partner_sees_own_inquiries_but_not_another_organisations(client: FlaskClient, login, records: Records) -> None:
    other = db.session.get(Organisation, records.other_organisation_id)
    doulas = Topic(name_en="Doulas", name_es="Doulas", sort_order=2)
    db.session.add_all([doulas, RoutingRule(name="Doulas elsewhere", priority=5, topics=[doulas], target_organisation=other)])
    db.session.commit()
    details = InquiryDetails(
        name="Blair Requester", email="blair@example.net", phone="", zip_code="", topic=doulas,
        language="en", message="Could we talk to a doula?", consent=True,
    )
    elsewhere = intake.receive(details, utcnow()).inquiry
    assert elsewhere.organisation_id == other.id
    login(Role.PARTNER, organisation=db.session.get(Organisation, records.own_organisation_id))

    assert client.get(f"/inquiries/{records.values['inquiry_id']}").status_code == 200
    assert client.get(f"/inquiries/{elsewhere.id}").status_code == 404

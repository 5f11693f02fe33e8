"""Partners see, search and work only the inquiries routed to their own organisation.

Every route that takes an inquiry is found in app.url_map, so a new one is checked the day
it lands: a partner of another organisation gets a 404, the routed organisation's partner
gets in.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from werkzeug.routing import Rule

from config import TestConfig
from crm import create_app
from crm.auth.permissions import can_see_inquiry
from crm.extensions import db
from crm.inquiries.queries import visible_to
from crm.models import Inquiry, Role
from tests.factories import ContactFactory, InquiryFactory, UserFactory
from tests.fixtures_world import World, post_export, reload, written

_ROUTE_APP = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://")
IGNORED_METHODS = {"HEAD", "OPTIONS"}
ROW_LINK = re.compile(r'<td[^>]*><a href="/inquiries/(\d+)">')


def _inquiry_routes() -> list[tuple[Rule, str]]:
    return [
        (rule, method)
        for rule in sorted(_ROUTE_APP.url_map.iter_rules(), key=lambda rule: rule.rule)
        if rule.endpoint.startswith("inquiries.") and "inquiry_id" in rule.arguments
        for method in sorted((rule.methods or set()) - IGNORED_METHODS)
    ]


ROUTES = _inquiry_routes()
# What the routed organisation's partner sends to each action: enough for it to succeed.
VALID_POSTS = {
    "inquiries.assign": lambda world: {"contact_id": str(world.ned.id)},
    "inquiries.change_status": lambda world: {"status": "in_progress"},
    "inquiries.log_response": lambda world: {"response": "Called the family back.", "channel": "phone"},
    "inquiries.add_note": lambda world: {"note": "Evening calls only."},
    "inquiries.link_contact": lambda world: {},
    "inquiries.log_attempt": lambda world: {"method": "call", "attempted_on": "2026-03-10", "attempted_time": "10:00"},
}


@pytest.fixture
def north_inquiry(world) -> Inquiry:
    inquiry = InquiryFactory(name="Norah Requester", topic=world.home_visits)
    assert inquiry.organisation_id == world.north.id
    # Nora has it, so Ned is someone a North partner may reassign it to.
    inquiry.assigned_contact_id = world.nora.id
    db.session.commit()
    return inquiry


@pytest.fixture
def south_inquiry(world) -> Inquiry:
    inquiry = InquiryFactory(name="Sofia Requester", topic=world.doulas)
    assert inquiry.organisation_id == world.south.id
    return inquiry


def listed(response) -> list[int]:
    assert response.status_code == 200
    return [int(id_) for id_ in ROW_LINK.findall(response.get_data(as_text=True))]


def test_the_inquiry_routes_were_found():
    endpoints = {rule.endpoint for rule, _method in ROUTES}
    assert {"inquiries.detail", *VALID_POSTS} <= endpoints


def _open(client, rule: Rule, method: str, inquiry: Inquiry, world: World):
    url = rule.build({"inquiry_id": inquiry.id}, append_unknown=False)[1]
    data = VALID_POSTS.get(rule.endpoint, lambda _world: {})(world) if method == "POST" else None
    return client.open(url, method=method, data=data)


@pytest.mark.parametrize(("rule", "method"), ROUTES, ids=[f"{method} {rule.rule}" for rule, method in ROUTES])
def test_a_partner_of_another_organisation_gets_404(client, login, world, north_inquiry, rule, method):
    login(Role.PARTNER, organisation=world.south)
    before = written()

    response = _open(client, rule, method, north_inquiry, world)

    assert response.status_code == 404
    assert "Norah" not in response.get_data(as_text=True)
    assert written() == before, "nothing is written for a partner who may not see the inquiry"


@pytest.mark.parametrize(("rule", "method"), ROUTES, ids=[f"{method} {rule.rule}" for rule, method in ROUTES])
def test_the_partner_of_the_routed_organisation_gets_in(client, login, world, north_inquiry, rule, method):
    login(Role.PARTNER, organisation=world.north)

    response = _open(client, rule, method, north_inquiry, world)

    assert response.status_code not in (401, 403, 404), response.get_data(as_text=True)[:1000]
    assert response.status_code < 500
    if method == "GET":
        assert response.status_code == 200
        assert "Norah Requester" in response.get_data(as_text=True)
    elif rule.endpoint in VALID_POSTS:
        assert response.status_code == 302
        assert response.headers["Location"] == f"/inquiries/{north_inquiry.id}"


@pytest.mark.parametrize(("rule", "method"), ROUTES, ids=[f"{method} {rule.rule}" for rule, method in ROUTES])
def test_a_partner_without_organisation_gets_404(client, login, world, north_inquiry, rule, method):
    login(Role.PARTNER, organisation=None)

    assert _open(client, rule, method, north_inquiry, world).status_code == 404


def test_hidden_and_missing_inquiries_look_the_same(client, login, world, north_inquiry):
    login(Role.PARTNER, organisation=world.south)

    hidden = client.get(f"/inquiries/{north_inquiry.id}")
    missing = client.get("/inquiries/999999")
    huge = client.get("/inquiries/99999999999999999999999")

    assert hidden.status_code == missing.status_code == huge.status_code == 404
    assert hidden.get_data() == missing.get_data()


def test_spam_caught_at_intake_belongs_to_no_organisation(client, login, world):
    spam = InquiryFactory(name="Bot", topic=world.home_visits, spam_reason="honeypot")
    login(Role.PARTNER, organisation=world.north)

    assert client.get(f"/inquiries/{spam.id}").status_code == 404
    assert listed(client.get("/inquiries/?status=")) == []


def test_reassigning_to_another_organisation_takes_it_out_of_sight(client, login, world, north_inquiry):
    assert can_see_inquiry(UserFactory(role=Role.PARTNER, organisation=world.north), north_inquiry)
    login(Role.STAFF)
    client.post(f"/inquiries/{north_inquiry.id}/assign", data={"contact_id": str(world.sam.id)})
    client.post("/logout")

    login(Role.PARTNER, organisation=world.north)

    assert client.get(f"/inquiries/{north_inquiry.id}").status_code == 404


# --- lists, search and export ------------------------------------------------------------


def test_the_inbox_lists_only_their_organisations_inquiries(client, login, world, north_inquiry, south_inquiry):
    fallback_inquiry = InquiryFactory(name="Elsewhere")
    login(Role.PARTNER, organisation=world.north)

    page = client.get("/inquiries/?status=")
    assert listed(page) == [north_inquiry.id]
    html = page.get_data(as_text=True)
    assert "Our inquiries" in html
    assert "Sam South" not in html, "the assignee filter offers only their own contacts"
    assert "Log an inquiry" not in html
    # Asking for another organisation's, by filter or by search, finds nothing: a choice not
    # offered to them is refused, and lists nothing rather than everything.
    for refused in (f"organisation={world.south.id}", f"assignee={world.sam.id}"):
        response = client.get(f"/inquiries/?status=&{refused}")
        assert response.status_code == 422
        assert not ROW_LINK.findall(response.get_data(as_text=True))
    assert listed(client.get(f"/inquiries/?status=&q={south_inquiry.reference}")) == []
    assert listed(client.get("/inquiries/?status=&q=Sofia")) == []
    assert listed(client.get(f"/inquiries/?status=&q={fallback_inquiry.reference}")) == []
    assert listed(client.get("/inquiries/?status=&q=Norah")) == [north_inquiry.id]


def test_a_partner_filters_by_their_former_colleague_but_not_by_another_organisations(
    client, login, world, north_inquiry, south_inquiry
):
    """A contact who no longer takes inquiries joins the assignee menu when asked for, but
    only one of the partner's own organisation: another's is refused as an unknown id is,
    and its name appears nowhere."""
    world.nora.active = False
    world.sam.active = False
    db.session.commit()
    login(Role.PARTNER, organisation=world.north)

    response = client.get(f"/inquiries/?status=&assignee={world.nora.id}")
    assert listed(response) == [north_inquiry.id]
    assert "Nora North (North Families) (no longer takes inquiries)</option>" in response.get_data(as_text=True)
    assert north_inquiry.reference in post_export(client, f"status=&assignee={world.nora.id}").get_data(as_text=True)

    for refused in (f"assignee={world.sam.id}", f"organisation={world.south.id}", f"assignee={world.sam.id + 1000}"):
        response = client.get(f"/inquiries/?status=&{refused}")
        assert response.status_code == 422, refused
        html = response.get_data(as_text=True)
        assert not ROW_LINK.findall(html)
        assert "Sam South" not in html
        assert "South Start" not in html
        export = post_export(client, f"status=&{refused}")
        assert export.status_code == 400, refused
        assert "Sam South" not in export.get_data(as_text=True)


def test_the_export_holds_only_their_organisations_inquiries(client, login, world, north_inquiry, south_inquiry):
    login(Role.PARTNER, organisation=world.north)

    body = post_export(client, "status=").get_data().decode("utf-8-sig")

    assert north_inquiry.reference in body
    assert south_inquiry.reference not in body
    assert "Sofia" not in body


def test_a_partner_reassigns_only_among_their_own_contacts(client, login, world, north_inquiry):
    login(Role.PARTNER, organisation=world.north)
    away = ContactFactory(name="Former Colleague", organisation=world.north, active=False)
    before = written()

    for outsider in (world.sam, world.fallback, away):
        response = client.post(f"/inquiries/{north_inquiry.id}/assign", data={"contact_id": str(outsider.id)})
        assert response.status_code == 422, outsider.name
    assert written() == before
    page = client.get(f"/inquiries/{north_inquiry.id}").get_data(as_text=True)
    assert "Ned North" in page
    assert "Sam South" not in page
    assert "Fran Fallback (" not in page

    response = client.post(f"/inquiries/{north_inquiry.id}/assign", data={"contact_id": str(world.ned.id)})
    assert response.status_code == 302
    assert reload(north_inquiry).assigned_contact_id == world.ned.id


def test_partners_never_see_the_access_log(client, login, world, north_inquiry):
    login(Role.MANAGER)
    client.get(f"/inquiries/{north_inquiry.id}")
    client.post("/logout")
    login(Role.PARTNER, organisation=world.north)

    html = client.get(f"/inquiries/{north_inquiry.id}").get_data(as_text=True)

    assert "Access log" not in html
    assert "<strong>Viewed</strong>" not in html


def test_partners_do_not_log_inquiries_by_hand(client, login, world):
    login(Role.PARTNER, organisation=world.north)

    assert client.get("/inquiries/new").status_code == 403
    assert client.post("/inquiries/new", data={"name": "X"}).status_code == 403


# --- the rule, once in Python and once in SQL ----------------------------------------------


def test_the_sql_rule_agrees_with_the_python_rule(world, north_inquiry, south_inquiry):
    inquiries = [
        north_inquiry,
        south_inquiry,
        InquiryFactory(name="To the fallback"),
        InquiryFactory(name="Spam", spam_reason="honeypot"),
    ]
    users = [
        UserFactory(role=Role.ADMIN),
        UserFactory(role=Role.MANAGER),
        UserFactory(role=Role.STAFF),
        UserFactory(role=Role.PARTNER, organisation=world.north),
        UserFactory(role=Role.PARTNER, organisation=world.south),
        UserFactory(role=Role.PARTNER, organisation=world.foundation),
        UserFactory(role=Role.PARTNER, organisation=None),
    ]
    ids = [inquiry.id for inquiry in inquiries]
    for user in users:
        in_sql = set(db.session.scalars(select(Inquiry.id).where(Inquiry.id.in_(ids), visible_to(user))))
        in_python = {inquiry.id for inquiry in inquiries if can_see_inquiry(user, inquiry)}
        assert in_sql == in_python, user.role
    north_partner = users[3]
    assert {inquiry.name for inquiry in inquiries if can_see_inquiry(north_partner, inquiry)} == {"Norah Requester"}

"""The routing pages: managers edit rules, topics and the fallback, and try routing without side effects."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from config import TestConfig
from crm import create_app
from crm.auth.permissions import Access, access_of
from crm.database import utcnow
from crm.demo import BOOTHEEL_BABIES, FOUNDATION, GENERATE_HEALTH, seed_demo
from crm.extensions import db
from crm.inquiries.intake import InquiryDetails, receive
from crm.models import AuditEvent, Contact, Inquiry, Organisation, Region, Role, RoutingRule, Topic
from crm.public.services import active_topics
from crm.routing.routes import bp as routing_bp


@pytest.fixture(scope="module")
def app(app: Flask, database_url: str) -> Iterator[Flask]:
    """The session's app when it already serves the routing pages; until crm/__init__.py registers
    the blueprint, an app of our own (a blueprint cannot join an app that has served requests)."""
    if "routing" in app.blueprints:
        yield app
        return
    own = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url)
    own.register_blueprint(routing_bp)
    with own.app_context():
        db.create_all()
    yield own
    with own.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def demo(app: Flask) -> None:
    seed_demo("x" * 12)


@pytest.fixture
def manager(login):
    return login(Role.MANAGER)


def one(model, **where):
    return db.session.scalar(select(model).filter_by(**where))


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def rule_form(**overrides) -> dict:
    data = {"name": "Pemiscot Spanish speakers", "priority": "25", "active": "y", "languages": ["es"]}
    data.update(overrides)
    return data


# --- who may use these pages ---


def _routing_rules(app: Flask):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("routing.")]


def test_every_routing_page_is_for_managers(app: Flask):
    endpoints = {rule.endpoint for rule in _routing_rules(app)}
    assert endpoints == {
        "routing.rules", "routing.set_fallback", "routing.new_rule", "routing.edit_rule", "routing.toggle_rule",
        "routing.delete_rule", "routing.topics", "routing.new_topic", "routing.edit_topic", "routing.test",
    }  # fmt: skip
    assert {access_of(app.view_functions[endpoint]) for endpoint in endpoints} == {Access.MANAGER}


@pytest.mark.parametrize("role", [Role.STAFF, Role.PARTNER])
def test_staff_and_partners_are_refused(app: Flask, client, login, demo, role):
    login(role)
    rule_id = one(RoutingRule, name="Media requests").id
    topic_id = one(Topic, name_en="Media").id
    for rule in _routing_rules(app):
        url = rule.build({"rule_id": rule_id, "topic_id": topic_id}, append_unknown=False)[1]
        method = "POST" if "POST" in rule.methods else "GET"
        assert client.open(url, method=method).status_code == 403, url
    assert one(RoutingRule, name="Media requests").active is True


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/routing/rules")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMIN])
def test_managers_and_admins_may_open_every_page(client, login, demo, role):
    login(role)
    rule_id = one(RoutingRule, name="Media requests").id
    topic_id = one(Topic, name_en="Media").id
    for url in ["/routing/rules", "/routing/rules/new", f"/routing/rules/{rule_id}/edit", "/routing/topics",
                "/routing/topics/new", f"/routing/topics/{topic_id}/edit", "/routing/test"]:  # fmt: skip
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("url", ["/routing/rules/fallback", "/routing/rules/1/toggle"])
def test_changes_are_never_made_on_get(client, manager, url):
    assert client.get(url).status_code == 405


def test_delete_asks_first_on_a_page_of_its_own(client, manager, demo):
    rule = one(RoutingRule, name="Media requests")
    rules_page = client.get("/routing/rules").get_data(as_text=True)
    assert f'href="/routing/rules/{rule.id}/delete"' in rules_page
    assert f'action="/routing/rules/{rule.id}/delete"' not in rules_page  # no one-click delete

    response = client.get(f"/routing/rules/{rule.id}/delete")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Delete the rule “Media requests”?" in html
    assert f'<form method="post" action="/routing/rules/{rule.id}/delete"' in html
    assert 'href="/routing/rules">Cancel' in html
    db.session.expire_all()
    assert db.session.get(RoutingRule, rule.id) is not None


# --- the rules page ---


def test_rules_page_lists_rules_in_priority_order_with_conditions_and_fallback(client, manager, demo):
    spanish = RoutingRule(
        name="Spanish in Pemiscot",
        priority=5,
        languages=["es"],
        counties=[one(Region, name="Bootheel").counties[3]],
        target_contact=one(Contact, name="Lucía Ramírez"),
        active=False,
    )
    db.session.add(spanish)
    db.session.commit()

    page = client.get("/routing/rules").get_data(as_text=True)

    names = ["Spanish in Pemiscot", "Media requests", "Grants and funding", "Bootheel families and partners",
             "St. Louis families and partners"]  # fmt: skip
    positions = [page.index(f">{name}</a>") for name in names]
    assert positions == sorted(positions)
    assert "Topics: Media" in page
    assert "Regions: Bootheel" in page
    assert "Counties: Pemiscot County" in page
    assert "Languages: Spanish" in page
    assert "Bootheel Babies &amp; Families <span" in page
    assert "Sam Carter <span" in page
    assert ">Off</span>" in page
    assert "Riley Brooks</strong> (Foundation IMRI Team)" in page
    assert "riley.brooks@foundation.example.org" in page


def test_rules_page_warns_when_no_fallback_is_set(client, manager, demo):
    one(Contact, name="Riley Brooks").is_inquiry_fallback = False
    db.session.commit()

    assert "No fallback contact is set" in client.get("/routing/rules").get_data(as_text=True)


# --- adding and editing rules ---


def test_add_rule_with_every_kind_of_condition(client, manager, demo):
    support = one(Topic, name_en="Support for my family")
    bootheel = one(Region, name="Bootheel")
    lucia = one(Contact, name="Lucía Ramírez")
    before = audit_count()

    response = client.post(
        "/routing/rules/new",
        data=rule_form(
            topics=[str(support.id)], regions=[str(bootheel.id)], counties=["29155"], target_contact_id=str(lucia.id)
        ),
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/routing/rules"
    rule = one(RoutingRule, name="Pemiscot Spanish speakers")
    assert (rule.priority, rule.active, rule.languages) == (25, True, ["es"])
    assert [t.name_en for t in rule.topics] == ["Support for my family"]
    assert [r.name for r in rule.regions] == ["Bootheel"]
    assert [c.fips for c in rule.counties] == ["29155"]
    assert (rule.target_contact, rule.target_organisation) == (lucia, None)
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.entity_type == "RoutingRule", AuditEvent.actor_id == manager.id)
    )
    assert event.action == "create"
    assert event.changes["counties"] == [None, ["Pemiscot County"]]
    assert audit_count() == before + 1


def test_add_rule_for_an_organisation_with_no_conditions(client, manager, demo):
    generate_health = one(Organisation, name=GENERATE_HEALTH)

    response = client.post(
        "/routing/rules/new",
        data={"name": "Everything else", "priority": "9000", "target_organisation_id": generate_health.id},
    )

    assert response.status_code == 302
    rule = one(RoutingRule, name="Everything else")
    assert rule.target_organisation == generate_health
    assert rule.active is False  # the box was not ticked
    assert (rule.topics, rule.regions, rule.counties, rule.languages) == ([], [], [], [])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"target_contact_id": "CONTACT", "target_organisation_id": "ORG"}, "not both"),
        ({}, "Choose a contact or an organisation to send these inquiries to."),
        ({"target_contact_id": "CONTACT", "priority": "10001"}, "from 0 to 10000"),
        ({"target_contact_id": "CONTACT", "priority": "-1"}, "from 0 to 10000"),
        ({"target_contact_id": "CONTACT", "priority": "soon"}, "Enter a whole number."),
        ({"target_contact_id": "CONTACT", "priority": ""}, "Enter a priority."),
        ({"target_contact_id": "CONTACT", "name": "  "}, "Give the rule a name."),
        ({"target_contact_id": "999999"}, "Choose a contact from the list."),
        ({"target_contact_id": "1; drop table"}, "Choose a contact from the list."),
        ({"target_organisation_id": "ORG", "languages": ["fr"]}, "Choose from the languages listed."),
        ({"target_organisation_id": "ORG", "counties": ["17163"]}, "Choose from the list."),
        ({"target_contact_id": "INACTIVE"}, "Choose a contact from the list."),
    ],
)
def test_invalid_rules_are_refused_and_nothing_is_saved(client, manager, demo, overrides, message):
    marcus = one(Contact, name="Marcus Hale")
    inactive = Contact(name="Gone Person", email="gone@example.org", active=False)
    db.session.add(inactive)
    db.session.commit()
    ids = {
        "CONTACT": str(marcus.id),
        "ORG": str(one(Organisation, name=BOOTHEEL_BABIES).id),
        "INACTIVE": str(inactive.id),
    }
    data = rule_form(
        **{key: ids.get(value, value) if isinstance(value, str) else value for key, value in overrides.items()}
    )
    before = audit_count()

    response = client.post("/routing/rules/new", data=data)

    assert response.status_code == 422
    assert message.casefold() in response.get_data(as_text=True).casefold()
    assert 'class="error"' in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(RoutingRule)) == 4
    assert audit_count() == before


def test_edit_rule_shows_current_values_and_saves_changes(client, manager, demo):
    rule = one(RoutingRule, name="Bootheel families and partners")
    media = one(Topic, name_en="Media")
    marcus = one(Contact, name="Marcus Hale")

    form = client.get(f"/routing/rules/{rule.id}/edit").get_data(as_text=True)
    bootheel = one(Region, name="Bootheel")
    assert f'<input checked id="regions-0" name="regions" type="checkbox" value="{bootheel.id}">' in form
    assert f'<option selected value="{rule.target_organisation_id}">Bootheel Babies &amp; Families' in form
    assert 'name="priority" required type="number" value="30"' in form

    response = client.post(
        f"/routing/rules/{rule.id}/edit",
        data=rule_form(
            name="Bootheel, media only",
            priority="35",
            topics=[str(media.id)],
            target_contact_id=str(marcus.id),
            target_organisation_id="",
        ),
    )

    assert response.status_code == 302
    db.session.refresh(rule)
    assert (rule.name, rule.priority, rule.languages) == ("Bootheel, media only", 35, ["es"])
    assert rule.topics == [media]
    assert rule.regions == []
    assert (rule.target_contact, rule.target_organisation) == (marcus, None)
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.actor_id == manager.id, AuditEvent.action == "update")
    )
    assert event.actor_id == manager.id
    assert event.changes["priority"] == [30, 35]
    assert event.changes["regions"] == [["Bootheel"], []]
    assert event.changes["target_organisation_id"][1] is None


def test_edit_keeps_a_target_that_has_since_become_inactive(client, manager, demo):
    rule = one(RoutingRule, name="Media requests")
    sam = rule.target_contact
    sam.active = False
    db.session.commit()

    form = client.get(f"/routing/rules/{rule.id}/edit").get_data(as_text=True)
    assert "Sam Carter (Foundation IMRI Team) (inactive)" in form

    response = client.post(
        f"/routing/rules/{rule.id}/edit",
        data={"name": "Media requests", "priority": "11", "active": "y", "target_contact_id": str(sam.id)},
    )
    assert response.status_code == 302
    assert rule.priority == 11


def test_missing_rule_is_404(client, manager):
    assert client.get("/routing/rules/999999/edit").status_code == 404


def test_toggle_rule_turns_it_off_and_on(client, manager, demo):
    rule = one(RoutingRule, name="Media requests")

    assert client.post(f"/routing/rules/{rule.id}/toggle").status_code == 302
    assert rule.active is False
    assert client.post(f"/routing/rules/{rule.id}/toggle", follow_redirects=True).status_code == 200
    assert rule.active is True
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.actor_id == manager.id)).all()
    assert [event.changes["active"] for event in events] == [[True, False], [False, True]]


def test_delete_rule_keeps_the_inquiries_it_routed(client, manager, demo):
    rule = one(RoutingRule, name="Media requests")
    details = InquiryDetails(
        "Reporter", "reporter@example.com", "", "63857", rule.topics[0], "en", "An interview?", True
    )
    inquiry = receive(details, utcnow()).inquiry
    assert inquiry.routing_rule_id == rule.id
    rule_id = rule.id

    response = client.post(f"/routing/rules/{rule_id}/delete", data={"confirmed": "yes"})

    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(RoutingRule, rule_id) is None
    inquiry = db.session.get(Inquiry, inquiry.id)
    assert inquiry.routing_rule_id is None
    assert inquiry.assigned_contact.name == "Sam Carter"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.actor_id == manager.id))
    assert (event.entity_type, event.entity_id, event.actor_id) == ("RoutingRule", str(rule_id), manager.id)
    assert event.changes["name"] == ["Media requests", None]


# --- the fallback contact ---


def test_set_fallback_moves_the_role(client, manager, demo):
    riley, sam = one(Contact, name="Riley Brooks"), one(Contact, name="Sam Carter")

    response = client.post("/routing/rules/fallback", data={"contact_id": str(sam.id)})

    assert response.status_code == 302
    assert (sam.is_inquiry_fallback, riley.is_inquiry_fallback) == (True, False)
    assert db.session.scalar(select(func.count()).where(Contact.is_inquiry_fallback.is_(True))) == 1
    changed = db.session.scalars(
        select(AuditEvent.entity_id).where(AuditEvent.entity_type == "Contact", AuditEvent.actor_id == manager.id)
    ).all()
    assert sorted(changed) == sorted([str(riley.id), str(sam.id)])
    page = client.get("/routing/test?zip=64106").get_data(as_text=True)
    assert "sam.carter@foundation.example.org" in page


@pytest.mark.parametrize("choice", ["", "999999", "INACTIVE", "abc"])
def test_set_fallback_needs_an_active_contact(client, manager, demo, choice):
    inactive = Contact(name="Gone Person", email="gone@example.org", active=False)
    db.session.add(inactive)
    db.session.commit()

    response = client.post(
        "/routing/rules/fallback", data={"contact_id": str(inactive.id) if choice == "INACTIVE" else choice}
    )

    assert response.status_code == 422
    assert 'class="error" id="contact_id-error"' in response.get_data(as_text=True)
    assert one(Contact, name="Riley Brooks").is_inquiry_fallback is True
    assert inactive.is_inquiry_fallback is False


# --- topics ---


def test_topics_page_lists_topics_in_form_order(client, manager, demo):
    page = client.get("/routing/topics").get_data(as_text=True)
    names = ["Support for my family", "Partnering or volunteering", "Media", "Grants and funding", "Other"]
    positions = [page.index(f">{name}</a>") for name in names]
    assert positions == sorted(positions)
    assert "Medios de comunicación" in page
    assert "8 business hours" in page


def test_add_topic(client, manager, demo):
    response = client.post(
        "/routing/topics/new",
        data={
            "name_en": "Safe sleep",
            "name_es": "Sueño seguro",
            "active": "y",
            "sort_order": "2",
            "response_target_hours": "4",
            "acceptance_hours": "2",
        },
    )

    assert response.status_code == 302
    topic = one(Topic, name_en="Safe sleep")
    assert (topic.name_es, topic.active, topic.sort_order, topic.response_target_hours) == ("Sueño seguro", True, 2, 4)
    assert topic.acceptance_hours == 2
    assert topic in active_topics()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.actor_id == manager.id))
    assert (event.action, event.entity_type) == ("create", "Topic")


def test_deactivating_a_topic_hides_it_from_the_public_form(client, manager, demo):
    media = one(Topic, name_en="Media")
    assert media in active_topics()

    response = client.post(
        f"/routing/topics/{media.id}/edit",
        data={"name_en": "Media", "name_es": "Medios de comunicación", "sort_order": "2", "response_target_hours": "8", "acceptance_hours": "4"},
    )

    assert response.status_code == 302
    assert media.active is False
    assert media not in active_topics()
    assert "Hidden" in client.get("/routing/topics").get_data(as_text=True)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.actor_id == manager.id))
    assert (event.entity_type, event.changes) == ("Topic", {"active": [True, False]})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"response_target_hours": "0"}, "from 1 to 400"),
        ({"response_target_hours": "401"}, "from 1 to 400"),
        ({"response_target_hours": ""}, "Enter a number of hours."),
        ({"acceptance_hours": "0"}, "from 1 to 80"),
        ({"acceptance_hours": "81"}, "from 1 to 80"),
        ({"acceptance_hours": ""}, "Enter a number of hours."),
        ({"sort_order": "first"}, "Enter a whole number."),
        ({"name_en": ""}, "Enter the English name."),
        ({"name_es": "x" * 121}, "Keep this to 120 characters or fewer."),
        ({"name_en": "  media "}, "Another topic already uses this name."),
        ({"name_es": "otro"}, "Another topic already uses this name."),
    ],
)
def test_invalid_topics_are_refused(client, manager, demo, overrides, message):
    data = {
        "name_en": "Safe sleep",
        "name_es": "Sueño seguro",
        "active": "y",
        "sort_order": "2",
        "response_target_hours": "4",
        "acceptance_hours": "4",
    }
    data.update(overrides)
    before = audit_count()

    response = client.post("/routing/topics/new", data=data)

    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Topic)) == 5
    assert audit_count() == before


def test_a_topic_may_keep_its_own_name(client, manager, demo):
    other = one(Topic, name_en="Other")
    response = client.post(
        f"/routing/topics/{other.id}/edit",
        data={"name_en": "Other", "name_es": "Otro", "active": "y", "sort_order": "99", "response_target_hours": "24", "acceptance_hours": "4"},
    )
    assert response.status_code == 302
    assert (other.sort_order, other.response_target_hours) == (99, 24)


# --- the test routing page ---


def test_test_page_starts_with_an_empty_form(client, manager, demo):
    response = client.get("/routing/test")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="zip"' in page
    assert "Result" not in page
    assert "Media (hidden)" not in page
    assert ">Media</option>" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("zip=63857&language=en", ["Kennett, Dunklin County, MO", "Bootheel Babies &amp; Families", "Lucía Ramírez",
                                  "lucia.ramirez@bootheel-babies.example.org", "Bootheel families and partners"]),
        ("zip=63857&topic=MEDIA&language=es", ["Kennett, Dunklin County, MO", FOUNDATION, "Sam Carter",
                                               "sam.carter@foundation.example.org", "rule &#39;Media requests&#39;"]),
        ("zip=63103-1234&language=es", ["Saint Louis, St. Louis City, MO", GENERATE_HEALTH, "Ana Morales",
                                        "who speaks Spanish"]),
        ("zip=64106", ["Kansas City, Jackson County, MO", "Riley Brooks", "None: the fallback contact takes it",
                       "not in any of our regions"]),
        ("zip=10001", ["New York, New York County, NY", "Riley Brooks", "is in New York, outside our counties"]),
    ],
)  # fmt: skip
def test_test_page_shows_where_an_inquiry_would_go(client, manager, demo, query, expected):
    query = query.replace("MEDIA", str(one(Topic, name_en="Media").id))

    response = client.get(f"/routing/test?{query}")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for text in expected:
        assert text in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("zip=6385", "Enter a five-digit ZIP code"),
        ("zip=abcde", "Enter a five-digit ZIP code"),
        ("zip=", "Enter a ZIP code."),
        ("zip=00000", "00000 is not a ZIP code we know"),
        ("zip=63857&language=fr", "Choose from the list."),
        ("zip=63857&topic=999999", "Choose a topic from the list."),
        ("zip=63857&topic=media", "Choose a topic from the list."),
    ],
)
def test_test_page_bad_input_is_a_field_error(client, manager, demo, query, message):
    response = client.get(f"/routing/test?{query}")

    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert "Result" not in response.get_data(as_text=True)


def test_test_page_changes_nothing(client, manager, demo):
    before = audit_count()
    for _ in range(3):
        assert client.get("/routing/test?zip=63103").status_code == 200
        assert client.get("/routing/test?zip=63857&language=es").status_code == 200

    db.session.expire_all()
    assert all(contact.last_assigned_at is None for contact in db.session.scalars(select(Contact)))
    assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 0
    assert audit_count() == before
    # The round-robin did not move: the same person is still next.
    assert "Keisha Thompson" in client.get("/routing/test?zip=63103").get_data(as_text=True)


def test_test_page_reflects_away_contacts(client, manager, demo):
    sam = one(Contact, name="Sam Carter")
    sam.away_from = utcnow() - timedelta(hours=1)
    sam.away_until = utcnow() + timedelta(days=3)
    db.session.commit()
    media = one(Topic, name_en="Media")

    page = client.get(f"/routing/test?zip=63103&topic={media.id}").get_data(as_text=True)

    assert "Sam Carter is out of office until" in page
    assert GENERATE_HEALTH in page


def test_test_page_without_a_fallback_says_so(client, manager, demo):
    one(Contact, name="Riley Brooks").is_inquiry_fallback = False
    db.session.commit()

    response = client.get("/routing/test?zip=64106")

    assert response.status_code == 200
    assert "No fallback contact is set" in response.get_data(as_text=True)

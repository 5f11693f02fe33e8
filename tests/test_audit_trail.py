"""The audit page (every recorded change, filtered, paged by keyset) and the change history
on each record's page."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from crm import audit
from crm.database import utcnow
from crm.extensions import db
from crm.models import AuditEvent, Role, RoutingRule, Topic
from tests import factories
from tests.fixtures_world import post_export

NEXT = re.compile(r'href="([^"]+)" rel="next"')
PREV = re.compile(r'href="([^"]+)" rel="prev"')


def record(actor, entity_type="Organisation", entity_id="1", action="update", changes=None, when=None):
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        changes=changes if changes is not None else {"name": ["Old name", "New name"]},
        occurred_at=when or utcnow(),
    )
    db.session.add(event)
    db.session.commit()
    return event


def ids_on(page_html: str) -> list[str]:
    return re.findall(r"Organisation (\d+)</a>", page_html)


@pytest.fixture
def manager(client, login):
    return login(Role.MANAGER)


def test_a_change_is_listed_with_who_what_and_the_values_before_and_after(client, manager):
    organisation = factories.OrganisationFactory(name="Old name")
    organisation.name = "New name"
    audit.commit(manager)

    page = client.get("/audit/")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'href="/organisations/{organisation.id}">Organisation {organisation.id}</a>' in html
    assert manager.name in html
    assert "<td>Old name</td><td>New name</td>" in html


@pytest.mark.parametrize("role", [Role.STAFF, Role.PARTNER])
def test_only_managers_and_admins_reach_it(client, login, role):
    login(role)
    assert client.get("/audit/").status_code == 403


def test_filters_by_person_record_type_record_id_action_and_date(client, manager):
    someone = factories.UserFactory(name="Another Person")
    now = utcnow()
    mine = record(manager, entity_id="11")
    theirs = record(someone, entity_id="12")
    system = record(None, entity_id="13")
    contact = record(manager, entity_type="Contact", entity_id="11")
    old = record(manager, entity_id="14", when=now - timedelta(days=40))
    deleted = record(manager, entity_id="15", action="delete")

    def listed(query: str) -> set[int]:
        response = client.get(f"/audit/?{query}")
        assert response.status_code == 200
        found = re.findall(r'data-event="(\d+)"', response.get_data(as_text=True))
        return {int(id_) for id_ in found}

    assert listed(f"person={someone.id}") == {theirs.id}
    assert listed("person=system") == {system.id}
    assert listed("record_type=Contact") == {contact.id}
    assert listed("record_type=Organisation&record_id=11") == {mine.id}
    assert listed("action=delete") == {deleted.id}
    day = (now - timedelta(days=40)).astimezone().date()
    assert old.id in listed(f"occurred_from={day - timedelta(days=1)}&occurred_to={day + timedelta(days=1)}")
    assert mine.id not in listed(f"occurred_from={day - timedelta(days=1)}&occurred_to={day + timedelta(days=1)}")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("person=abc", "Choose from the list."),
        ("person=999999", "Choose from the list."),
        ("record_type=Nothing", "Choose from the list."),
        ("record_id=%3Cscript%3E", "Enter the record&#39;s id, like 42."),
        ("record_id=" + "9" * 65, "Keep this to 64 characters or fewer."),
        ("action=DROP%20TABLE", "Enter one word in small letters, like export."),
        ("occurred_from=2026-02-31", "That date does not exist."),
        ("occurred_from=abc", "Enter a real date."),
        ("occurred_from=1999-12-31", "Enter a date between 2000 and 2099."),
        ("occurred_from=2026-03-02&occurred_to=2026-03-01", "The end date is before the start date."),
    ],
)
def test_a_bad_filter_is_a_400_that_says_why_and_lists_nothing(client, manager, query, message):
    record(manager)

    response = client.get(f"/audit/?{query}")

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html
    assert "No changes are listed until the filters are corrected." in html
    assert "data-event=" not in html


@pytest.mark.parametrize("cursor", ["abc", "x" * 300, "WyIyMDI2LTAxLTAxIiwxXQ", "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwwXQ"])
@pytest.mark.parametrize("direction", ["after", "before"])
def test_a_broken_page_link_is_a_400(client, manager, cursor, direction):
    response = client.get(f"/audit/?{direction}={cursor}")
    assert response.status_code == 400
    assert "page link is not valid" in response.get_data(as_text=True)


def test_pages_follow_one_another_by_keyset_without_gaps_or_repeats(app, client, manager):
    per_page = app.config["PAGE_SIZE"]
    start = utcnow() - timedelta(hours=1)
    # Some share a timestamp, so the id must break the tie.
    events = [record(manager, entity_id=str(n), when=start + timedelta(minutes=n // 3)) for n in range(per_page * 2 + 3)]
    expected = [event.id for event in sorted(events, key=lambda event: (event.occurred_at, event.id), reverse=True)]

    seen, url, pages = [], "/audit/?record_type=Organisation", []
    while url:
        html = client.get(url.replace("&amp;", "&")).get_data(as_text=True)
        pages.append(html)
        seen += [int(id_) for id_ in re.findall(r'data-event="(\d+)"', html)]
        found = NEXT.search(html)
        url = found.group(1) if found else None
        assert "record_type=Organisation" in (url or "record_type=Organisation")

    assert seen == expected
    assert len(pages) == 3
    # And back: the last page's "Newer changes" leads to the middle page.
    back = PREV.search(pages[-1]).group(1).replace("&amp;", "&")
    middle = [int(id_) for id_ in re.findall(r'data-event="(\d+)"', client.get(back).get_data(as_text=True))]
    assert middle == expected[per_page : per_page * 2]


def test_an_inquiry_export_is_shown_with_its_filters(client, manager):
    assert post_export(client, "status=&language=es").status_code == 200

    html = client.get("/audit/?action=export").get_data(as_text=True)

    assert "export" in html
    assert "Inquiry csv" in html
    assert "Filters used" in html
    assert "<th scope=\"row\">language</th>" in html
    assert "<td>es</td>" in html


def test_the_page_costs_the_same_few_queries_however_many_people_acted(client, manager, count_queries):
    for n in range(10):
        record(factories.UserFactory(), entity_id=str(n))
    with count_queries() as counter:
        assert client.get("/audit/").status_code == 200
    few = counter.count
    for n in range(10):
        record(factories.UserFactory(), entity_id=str(n))
    with count_queries() as counter:
        assert client.get("/audit/").status_code == 200
    assert counter.count == few


# --- change history on record pages ------------------------------------------------------


def test_an_organisation_page_shows_its_history_to_staff_not_to_its_partner(client, login):
    organisation = factories.OrganisationFactory(name="Before Name")
    staff = login(Role.STAFF)
    response = client.post(f"/organisations/{organisation.id}/deactivate")
    assert response.status_code == 302

    html = client.get(f"/organisations/{organisation.id}").get_data(as_text=True)
    assert "Change history" in html
    assert f"{staff.name}: changed status" in html
    assert "<td>active</td><td>inactive</td>" in html

    client.post("/logout")
    login(Role.PARTNER, organisation=organisation)
    partner_page = client.get(f"/organisations/{organisation.id}")
    assert partner_page.status_code == 200
    assert "Change history" not in partner_page.get_data(as_text=True)


def test_a_users_page_shows_their_history(client, login):
    admin = login(Role.ADMIN)
    user = factories.UserFactory(name="Sam Before")
    user.name = "Sam After"
    audit.commit(admin)

    html = client.get(f"/users/{user.id}/edit").get_data(as_text=True)

    assert "Change history" in html
    assert "<td>Sam Before</td><td>Sam After</td>" in html


def test_routing_rule_and_topic_pages_show_their_history(client, manager):
    topic = Topic(name_en="Safe sleep", name_es="Sueño seguro", sort_order=1)
    rule = RoutingRule(name="Safe sleep rule", priority=10, topics=[topic])
    db.session.add_all([topic, rule])
    audit.commit(manager)
    rule.priority = 20
    topic.name_en = "Safe sleep for babies"
    audit.commit(manager)

    rule_html = client.get(f"/routing/rules/{rule.id}/edit").get_data(as_text=True)
    topic_html = client.get(f"/routing/topics/{topic.id}/edit").get_data(as_text=True)

    assert "changed priority" in rule_html
    assert "<td>10</td><td>20</td>" in rule_html
    assert "created" in rule_html
    assert "changed name (English)" in topic_html
    assert "<td>Safe sleep</td><td>Safe sleep for babies</td>" in topic_html


def test_history_for_lists_one_records_events_newest_first(app, manager):
    older = record(manager, entity_id="7", when=utcnow() - timedelta(minutes=5))
    newer = record(manager, entity_id="7")
    record(manager, entity_id="8")

    assert [event.id for event in audit.history_for("Organisation", 7)] == [newer.id, older.id]
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.id == older.id)) is not None


@pytest.mark.parametrize("query", ["endpoint=x", "_scheme=https", "_external=1&_scheme=javascript", "_method=POST"])
def test_parameters_the_page_does_not_know_are_not_passed_on_to_its_page_links(app, client, manager, query):
    """The page links carry the filters on: an unknown parameter named like one of url_for's
    own (endpoint, _scheme, _external...) is dropped, never a 500 or a link elsewhere."""
    for n in range(app.config["PAGE_SIZE"] + 1):
        record(manager, entity_id=str(n))

    response = client.get(f"/audit/?{query}")

    assert response.status_code == 200
    next_link = urlsplit(NEXT.search(response.get_data(as_text=True)).group(1).replace("&amp;", "&"))
    assert (next_link.scheme, next_link.netloc, next_link.path) == ("", "", "/audit/")
    assert set(parse_qs(next_link.query)) == {"after"}


@pytest.mark.parametrize(("role", "linked"), [(Role.MANAGER, False), (Role.ADMIN, True)])
def test_a_record_is_linked_only_when_its_page_is_open_to_the_reader(client, login, role, linked):
    """The users pages are for admins: a manager sees the user's entry, without a link to a 403."""
    reader = login(role)
    user = factories.UserFactory()
    record(reader, entity_type="User", entity_id=str(user.id))

    html = client.get("/audit/").get_data(as_text=True)

    assert (f"/users/{user.id}/edit" in html) is linked
    assert client.get(f"/users/{user.id}/edit").status_code == (200 if linked else 403)

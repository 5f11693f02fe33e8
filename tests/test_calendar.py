"""The private calendar feed, read back with the icalendar library as a calendar app would."""

from __future__ import annotations

import logging
import re
from datetime import date

import pytest
from icalendar import Calendar
from sqlalchemy import select

from crm.database import utcnow
from crm.extensions import db
from crm.inquiries import intake
from crm.inquiries.intake import InquiryDetails
from crm.models import AuditEvent, CalendarFeed, Role
from crm.request_log import without_query_strings
from tests import factories

FEED_URL = re.compile(r"https?://[^\s<\"]+/calendar/([A-Za-z0-9_-]+)\.ics")


def create_feed(client) -> tuple[str, str]:
    """Create (or reset) the signed-in user's feed from the account page: (its path, its token)."""
    response = client.post("/calendar/address")
    assert response.status_code == 200
    found = FEED_URL.search(response.get_data(as_text=True))
    assert found is not None
    return f"/calendar/{found.group(1)}.ics", found.group(1)


def parsed(client, path: str) -> Calendar:
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    return Calendar.from_ical(response.get_data())


def events_by_uid(calendar: Calendar) -> dict[str, object]:
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


@pytest.fixture
def records(app):
    own = factories.OrganisationFactory(name="Bootheel Babies")
    other = factories.OrganisationFactory(name="Ozark Families")
    own_report = factories.GrantReportFactory(grant=factories.GrantFactory(organisation=own, program="Home visits"), due_on=date(2026, 7, 15))
    other_report = factories.GrantReportFactory(grant=factories.GrantFactory(organisation=other, program="Doulas"), due_on=date(2026, 8, 1))
    received = factories.GrantReportFactory(grant=other_report.grant, due_on=date(2026, 2, 1), received_on=date(2026, 1, 30))
    return {"own": own, "other": other, "own_report": own_report, "other_report": other_report, "received": received}


def test_staff_feed_has_their_open_follow_ups_and_every_report_due_as_all_day_events(client, login, records):
    user = login(Role.STAFF)
    someone_else = factories.UserFactory()
    mine = factories.InteractionFactory(
        organisation=records["own"], logged_by=user, follow_up_on=date(2026, 5, 4), summary="Secret meeting notes"
    )
    factories.InteractionFactory(organisation=records["own"], logged_by=user, follow_up_on=date(2026, 5, 5), follow_up_done=True)
    factories.InteractionFactory(organisation=records["own"], logged_by=someone_else, follow_up_on=date(2026, 5, 6))
    factories.InteractionFactory(organisation=records["own"], logged_by=user, follow_up_on=None)
    path, _ = create_feed(client)

    calendar = parsed(client, path)
    events = events_by_uid(calendar)

    follow_ups = [uid for uid in events if uid.startswith("follow-up-")]
    reports = sorted(uid for uid in events if uid.startswith("grant-report-"))
    assert follow_ups == [f"follow-up-{mine.id}@127.0.0.1"]
    assert reports == sorted(f"grant-report-{records[name].id}@127.0.0.1" for name in ("own_report", "other_report"))
    follow_up = events[follow_ups[0]]
    # All-day: a date, not a time, ending the next day.
    assert follow_up.decoded("DTSTART") == date(2026, 5, 4)
    assert follow_up.decoded("DTEND") == date(2026, 5, 5)
    assert str(follow_up["SUMMARY"]) == "Follow up: call with Bootheel Babies"
    assert str(follow_up["URL"]).endswith(f"/organisations/{records['own'].id}")
    report = events[f"grant-report-{records['other_report'].id}@127.0.0.1"]
    assert report.decoded("DTSTART") == date(2026, 8, 1)
    assert "Doulas" in str(report["SUMMARY"])
    assert str(report["URL"]).endswith(f"/grants/{records['other_report'].grant_id}")
    assert "Secret meeting notes" not in client.get(path).get_data(as_text=True)


def test_uids_are_stable_and_follow_the_record_when_its_date_moves(client, login, records):
    user = login(Role.STAFF)
    interaction = factories.InteractionFactory(organisation=records["own"], logged_by=user, follow_up_on=date(2026, 5, 4))
    path, _ = create_feed(client)
    first = events_by_uid(parsed(client, path))
    interaction.follow_up_on = date(2026, 5, 11)
    db.session.commit()

    second = events_by_uid(parsed(client, path))

    assert set(first) == set(second)
    assert second[f"follow-up-{interaction.id}@127.0.0.1"].decoded("DTSTART") == date(2026, 5, 11)


def test_a_partner_feed_has_only_their_organisations_reports(client, login, records):
    login(Role.PARTNER, organisation=records["own"])
    path, _ = create_feed(client)

    events = events_by_uid(parsed(client, path))

    assert list(events) == [f"grant-report-{records['own_report'].id}@127.0.0.1"]
    # Grant pages are for staff: the partner's link is their organisation's page.
    assert str(events[next(iter(events))]["URL"]).endswith(f"/organisations/{records['own'].id}")


def test_a_partner_without_an_organisation_sees_no_reports(client, login, records):
    login(Role.PARTNER, organisation=None)
    path, _ = create_feed(client)

    assert list(parsed(client, path).walk("VEVENT")) == []


def test_the_feed_holds_no_inquiry_text(client, login, records):
    login(Role.STAFF)
    topic_free = InquiryDetails(
        name="Maria Requester", email="maria@example.net", phone="", zip_code="", topic=None,
        language="en", message="A very private message about my pregnancy", consent=True,
    )
    intake.receive(topic_free, utcnow())
    path, _ = create_feed(client)

    text = client.get(path).get_data(as_text=True)

    assert "pregnancy" not in text
    assert "Maria" not in text


def test_only_the_tokens_hash_is_kept_and_the_account_page_never_shows_the_address(client, login, records):
    user = login(Role.STAFF)
    path, token = create_feed(client)

    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user.id))
    assert feed.token_hash != token
    assert len(feed.token_hash) == 64
    account = client.get("/account/").get_data(as_text=True)
    assert token not in account
    assert "Reset the address" in account
    created = db.session.scalar(select(AuditEvent).where(AuditEvent.entity_type == "CalendarFeed"))
    assert created.changes["token_hash"] == [None, "(changed)"]


def test_a_reset_address_replaces_the_old_one_and_turning_off_ends_both(client, login, records):
    login(Role.STAFF)
    old_path, _ = create_feed(client)
    page = client.post("/calendar/address").get_data(as_text=True)
    assert "The previous address no longer works" in page
    new_path = f"/calendar/{FEED_URL.search(page).group(1)}.ics"

    assert client.get(old_path).status_code == 404
    assert client.get(new_path).status_code == 200

    assert client.post("/calendar/address/off").status_code == 302
    assert client.get(new_path).status_code == 404
    assert db.session.scalar(select(CalendarFeed)) is None


def test_a_deactivated_users_feed_stops_working(client, login, records):
    user = login(Role.STAFF)
    path, _ = create_feed(client)
    user.active = False
    db.session.commit()

    assert client.get(path).status_code == 404


@pytest.mark.parametrize("token", ["missing", "x" * 101, "caf\u00e9", "a" * 43])
def test_an_address_that_opens_nothing_is_a_404(client, token):
    assert client.get(f"/calendar/{token}.ics").status_code == 404


def test_the_request_log_leaves_the_token_out():
    line = '127.0.0.1 - - "GET /calendar/Abc-DEF_123.ics HTTP/1.1" 200 -'
    assert without_query_strings(line) == '127.0.0.1 - - "GET /calendar/(token).ics HTTP/1.1" 200 -'


def test_a_feed_that_fails_is_logged_without_its_token(app, client, login, monkeypatch, caplog):
    """Flask's "Exception on <path>" record names the path: a feed's is written as /calendar/(token).ics."""
    from crm.calendar import services as calendar_services

    login(Role.STAFF)
    path, token = create_feed(client)
    client.post("/logout")

    def broken(*_args, **_kwargs):
        raise RuntimeError("the feed could not be built")

    monkeypatch.setattr(calendar_services, "feed_for", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    with caplog.at_level(logging.ERROR):
        response = client.get(path)

    assert response.status_code == 500
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Exception on /calendar/(token).ics [GET]" in logged
    assert token not in logged


def test_follow_ups_of_contacts_without_an_organisation_link_to_the_contact(client, login):
    user = login(Role.STAFF)
    contact = factories.ContactFactory(name="Lone Contact")
    interaction = factories.InteractionFactory(
        organisation=None, contacts=[contact], logged_by=user, follow_up_on=date(2026, 9, 1)
    )
    path, _ = create_feed(client)

    event = events_by_uid(parsed(client, path))[f"follow-up-{interaction.id}@127.0.0.1"]

    assert str(event["SUMMARY"]) == "Follow up: call with Lone Contact"
    assert str(event["URL"]).endswith(f"/contacts/{contact.id}")


def test_a_partner_feed_has_no_follow_ups_even_those_they_logged_as_staff(client, login, records):
    """Interactions are staff pages: a user made a partner keeps the interactions they logged
    about other organisations, which must not reach their feed."""
    user = login(Role.STAFF)
    factories.InteractionFactory(organisation=records["other"], logged_by=user, follow_up_on=date(2026, 9, 1))
    path, _ = create_feed(client)
    user.role = Role.PARTNER
    user.organisation = records["own"]
    db.session.commit()

    events = events_by_uid(parsed(client, path))

    assert list(events) == [f"grant-report-{records['own_report'].id}@127.0.0.1"]
    assert "Ozark Families" not in client.get(path).get_data(as_text=True)


def test_the_calendars_name_is_escaped_as_text(client, login, records):
    """NAME and X-WR-CALNAME are TEXT (RFC 7986 5.1, RFC 5545 3.3.11): a comma, semicolon or
    backslash in the user's name is written escaped, as SUMMARY's are."""
    user = login(Role.STAFF)
    user.name = "Smith, Ann; Jr \\ x"
    db.session.commit()
    path, _ = create_feed(client)

    lines = client.get(path).get_data(as_text=True).replace("\r\n ", "").split("\r\n")

    assert "NAME:Backbone CRM: Smith\\, Ann\\; Jr \\\\ x" in lines
    assert "X-WR-CALNAME:Backbone CRM: Smith\\, Ann\\; Jr \\\\ x" in lines


def test_the_refresh_interval_names_its_value_type(client, login, records):
    """RFC 7986 5.7 requires VALUE=DURATION on REFRESH-INTERVAL; a strict reader drops the
    property without it and polls at its own rate."""
    login(Role.STAFF)
    path, _ = create_feed(client)

    lines = client.get(path).get_data(as_text=True).split("\r\n")

    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in lines

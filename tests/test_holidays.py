"""Holidays as data: the calendars an inquiry's clock follows, their seeding, and the pages
managers keep them on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.holidays import services
from crm.holidays.calendars import calendar_for
from crm.inquiries import intake
from crm.inquiries import services as inquiry_services
from crm.inquiries.intake import InquiryDetails
from crm.inquiries.sla_jobs import run_sla_checks
from crm.merging import services as merging
from crm.models import AuditEvent, Holiday, HolidayCalendar, Inquiry, Role, Topic
from crm.models.contact_preference import ContactPreference
from tests import factories

CHICAGO = ZoneInfo("America/Chicago")
WEDNESDAY_BEFORE_THANKSGIVING = date(2026, 11, 25)
THANKSGIVING = date(2026, 11, 26)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHICAGO).astimezone(UTC)


@pytest.fixture(autouse=True)
def working_week(app, monkeypatch):
    """Weekdays 09:00-17:00 in Chicago; the holidays come from the calendars alone."""
    for key, value in {
        "SLA_TIMEZONE": "America/Chicago",
        "DISPLAY_TIMEZONE": "America/Chicago",
        "SLA_DAY_START_HOUR": 9,
        "SLA_DAY_END_HOUR": 17,
        "SLA_HOLIDAYS": "",
        "SLA_REMINDER_HOURS": 4,
    }.items():
        monkeypatch.setitem(app.config, key, value)


@pytest.fixture
def fallback(app):
    """Where routing sends everything: a contact at a partner organisation."""
    return factories.ContactFactory(name="Lucía Ramírez", accepts_inquiries=True, is_inquiry_fallback=True)


def receive(at: datetime, target_hours: int = 16) -> Inquiry:
    # Each message names its time: the same words from the same phone within minutes would be
    # taken as a double submission and return the first inquiry.
    topic = Topic(name_en=f"Topic {target_hours} {at.isoformat()}", name_es="Tema", sort_order=1, response_target_hours=target_hours)
    db.session.add(topic)
    db.session.commit()
    details = InquiryDetails(
        name="Private Requester", email="", phone="(573) 555-0100", zip_code="", topic=topic,
        language="en", message=f"Please call me back (sent {at.isoformat()}).", consent=True,
        contact_preference=ContactPreference.PHONE,
    )
    return intake.receive(details, at).inquiry


def seed(today: date = date(2026, 1, 5)) -> services.Seeded:
    return services.seed_foundation_calendar(today)


# --- the Thanksgiving bug ------------------------------------------------------------------


def test_an_inquiry_received_the_day_before_thanksgiving_is_due_after_it(app, fallback):
    seed()

    inquiry = receive(local(WEDNESDAY_BEFORE_THANKSGIVING, 10))

    # Wednesday 10-17 (7 h), Thursday closed, Friday 9-17 (8 h), Monday 9-10 (1 h).
    assert inquiry.due_at == local(date(2026, 11, 30), 10)


def test_without_the_foundation_calendar_thanksgiving_would_count(app, fallback):
    """The bug as it was: with no holidays, the same inquiry is due on Friday morning."""
    inquiry = receive(local(WEDNESDAY_BEFORE_THANKSGIVING, 10))

    assert inquiry.due_at == local(date(2026, 11, 27), 10)


@pytest.mark.parametrize(("seeded", "escalated"), [(True, 0), (False, 1)])
def test_an_inquiry_received_on_thanksgiving_is_not_escalated_next_morning(app, fallback, seeded, escalated):
    factories.UserFactory(role=Role.MANAGER)
    if seeded:
        seed()
    inquiry = receive(local(THANKSGIVING, 10), target_hours=6)

    _reminders, escalations = run_sla_checks(local(date(2026, 11, 27), 9, 30))

    assert escalations == escalated
    assert (inquiry.escalated_at is None) is seeded


# --- whose calendar ------------------------------------------------------------------------


def test_an_organisation_follows_the_foundation_calendar_and_its_own(app):
    partner = factories.OrganisationFactory()
    other = factories.OrganisationFactory()
    factories.foundation_holidays(THANKSGIVING)
    factories.HolidayFactory(calendar=factories.HolidayCalendarFactory(organisation=partner), day=date(2026, 12, 24))

    assert calendar_for(partner.id).holidays == {THANKSGIVING, date(2026, 12, 24)}
    assert calendar_for(other.id).holidays == {THANKSGIVING}
    assert calendar_for(None).holidays == {THANKSGIVING}


def test_reassigning_to_another_organisation_moves_the_deadline(app, fallback):
    closed = factories.ContactFactory(name="Closed Partner Person", accepts_inquiries=True)
    factories.HolidayFactory(calendar=factories.HolidayCalendarFactory(organisation=closed.organisation), day=date(2026, 12, 2))
    staff = factories.UserFactory(role=Role.STAFF)
    inquiry = receive(local(date(2026, 12, 1), 9))  # Tuesday: due Wednesday 17:00
    assert inquiry.due_at == local(date(2026, 12, 2), 17)

    inquiry_services.assign(inquiry, closed, staff, local(date(2026, 12, 1), 10))

    # The new organisation is closed on Wednesday: Tuesday and Thursday make the 16 hours.
    assert inquiry.due_at == local(date(2026, 12, 3), 17)


@pytest.mark.parametrize("calendar_of", ["kept", "merged"])
def test_merging_organisations_moves_the_deadline_to_the_kept_ones_holidays(app, fallback, calendar_of):
    other = factories.OrganisationFactory(name="Other Partner")
    factories.HolidayFactory(calendar=factories.HolidayCalendarFactory(organisation=other), day=date(2026, 12, 2))
    admin = factories.UserFactory(role=Role.ADMIN)
    inquiry = receive(local(date(2026, 12, 1), 9))  # Tuesday, at the fallback's organisation
    assert inquiry.due_at == local(date(2026, 12, 2), 17)
    # Either its organisation goes into one closed on Wednesday, or one closed on Wednesday
    # goes into its organisation and brings its calendar along.
    kept, merged = (other, fallback.organisation) if calendar_of == "kept" else (fallback.organisation, other)
    form = {"version": merging.version(kept, merged)}
    form.update({f"field-{name}": merging.KEEP for name, _label in merging.ORGANISATIONS.fields})

    merging.merge(merging.ORGANISATIONS, kept.id, merged.id, form, admin)

    db.session.expire_all()
    inquiry = db.session.get(Inquiry, inquiry.id)
    assert inquiry.organisation_id == kept.id
    # Now with the organisation closed on Wednesday: Tuesday and Thursday make the 16 hours.
    assert inquiry.due_at == local(date(2026, 12, 3), 17)


def test_a_holiday_added_later_moves_open_deadlines_and_is_audited(app, fallback):
    manager = factories.UserFactory(role=Role.MANAGER)
    calendar = factories.foundation_holidays()
    inquiry = receive(local(date(2026, 12, 1), 9))
    answered = receive(local(date(2026, 12, 1), 9, 5))
    answered.first_response_at = local(date(2026, 12, 1), 11)
    db.session.commit()
    due_before = answered.due_at

    services.add_holidays(calendar, [date(2026, 12, 2)], "Staff day", manager)

    assert inquiry.due_at == local(date(2026, 12, 3), 17)
    assert answered.due_at == due_before  # its clock stopped
    logged = db.session.scalar(select(AuditEvent).where(AuditEvent.entity_type == "Holiday"))
    assert logged.actor_id == manager.id
    assert logged.action == "create"
    assert logged.changes["name"] == [None, "Staff day"]


# --- seeding -------------------------------------------------------------------------------


def test_seeding_loads_five_years_once_and_keeps_what_managers_removed(app):
    manager = factories.UserFactory(role=Role.MANAGER)
    first = seed(date(2026, 3, 1))
    calendar = services.foundation_calendar()
    assert first.created
    assert list(first.years) == [2026, 2027, 2028, 2029, 2030]
    days = {holiday.day: holiday for holiday in calendar.holidays}
    assert THANKSGIVING in days
    assert date(2030, 12, 25) in days
    services.delete_holiday(days[date(2026, 10, 12)], manager)  # Columbus Day: the foundation works

    again = seed(date(2026, 6, 1))

    assert not again.created
    assert again.added == 0
    assert date(2026, 10, 12) not in {holiday.day for holiday in calendar.holidays}
    next_year = seed(date(2027, 1, 4))
    assert list(next_year.years) == [2031]
    assert next_year.added >= 10
    assert db.session.scalar(select(func.count()).select_from(HolidayCalendar)) == 1


def test_the_setting_adds_its_days_to_the_foundation_calendar(app):
    seeded = services.seed_foundation_calendar(date(2026, 1, 5), [date(2026, 12, 24), THANKSGIVING])

    days = {holiday.day: holiday.name for holiday in services.foundation_calendar().holidays}
    assert days[date(2026, 12, 24)] == services.SETTING_HOLIDAY_NAME
    assert days[THANKSGIVING] == "Thanksgiving Day"
    assert seeded.added == len(days)


def test_the_yearly_job_loads_the_year_come_into_range_and_keeps_managers_edits(app):
    """The federal-holidays job of the job runner: a new year brings one more year of federal
    holidays into the foundation calendar, without a deploy or a hand-run seed-holidays; what
    managers removed or renamed stays as they left it, and a second run changes nothing."""
    from crm.holidays.cli import federal_holidays_job
    from crm.jobs.catalogue import JOBS

    [job] = [job for job in JOBS if job.name == "federal-holidays"]
    assert job.run is federal_holidays_job
    assert job.every == timedelta(days=1)
    manager = factories.UserFactory(role=Role.MANAGER)
    seed(date(2026, 3, 1))  # 2026-2030, as seed-holidays loaded them at the deploy
    days = {holiday.day: holiday for holiday in services.foundation_calendar().holidays}
    services.delete_holiday(days[date(2026, 10, 12)], manager)  # Columbus Day: the foundation works
    services.update_holiday(days[date(2030, 11, 11)], date(2030, 11, 11), "Veterans Day (closed at noon)", manager)

    summary = federal_holidays_job(local(date(2027, 1, 4), 0, 30))
    holidays = {holiday.day: holiday.name for holiday in services.foundation_calendar().holidays}
    again = federal_holidays_job(local(date(2027, 1, 5), 0, 30))

    assert "(federal holiday years: 2031-2031)" in summary
    assert {day for day in holidays if day.year == 2031} >= {date(2031, 1, 1), date(2031, 7, 4), date(2031, 12, 25)}
    assert date(2026, 10, 12) not in holidays
    assert holidays[date(2030, 11, 11)] == "Veterans Day (closed at noon)"
    assert again == "Foundation holiday calendar: 0 day(s) added (federal holiday years: none new)."
    assert {holiday.day: holiday.name for holiday in services.foundation_calendar().holidays} == holidays


def test_the_yearly_job_creates_the_foundation_calendar_when_missing(app):
    from crm.holidays.cli import federal_holidays_job

    summary = federal_holidays_job(local(date(2026, 6, 1), 12))

    assert summary.startswith("Foundation holiday calendar created: ")
    assert "(federal holiday years: 2026-2030)" in summary
    assert THANKSGIVING in {holiday.day for holiday in services.foundation_calendar().holidays}


def test_seed_holidays_command(app, monkeypatch):
    monkeypatch.setitem(app.config, "SLA_HOLIDAYS", "2026-12-24")
    runner = app.test_cli_runner()

    first = runner.invoke(args=["crm", "seed-holidays"])
    second = runner.invoke(args=["crm", "seed-holidays"])

    assert first.exit_code == 0, first.output
    assert "created" in first.output
    assert second.exit_code == 0
    assert "0 day(s) added" in second.output
    monkeypatch.setitem(app.config, "SLA_HOLIDAYS", "2026-02-30")
    bad = runner.invoke(args=["crm", "seed-holidays"])
    assert bad.exit_code != 0
    assert "SLA_HOLIDAYS" in bad.output


def test_only_one_foundation_calendar_can_exist(app):
    from sqlalchemy.exc import IntegrityError

    factories.foundation_holidays()
    db.session.add(HolidayCalendar(name="Another", is_foundation=True))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


# --- the pages -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.STAFF, Role.PARTNER])
def test_only_managers_reach_the_holiday_pages(client, login, role):
    calendar = factories.foundation_holidays(THANKSGIVING)
    login(role)

    assert client.get("/holidays/").status_code == 403
    assert client.post(f"/holidays/calendars/{calendar.id}/holidays", data={"first_day": "2026-12-24", "name": "Eve"}).status_code == 403
    assert len(calendar.holidays) == 1


def test_a_manager_closes_the_week_of_christmas_for_a_partner(client, login):
    partner = factories.OrganisationFactory(name="Bootheel Test Partner")
    login(Role.MANAGER)

    created = client.post("/holidays/calendars", data={"organisation_id": partner.id, "name": ""})
    calendar = db.session.scalar(select(HolidayCalendar).where(HolidayCalendar.organisation_id == partner.id))
    assert created.status_code == 302
    assert calendar.name == "Bootheel Test Partner holidays"

    added = client.post(
        f"/holidays/calendars/{calendar.id}/holidays",
        data={"first_day": "2026-12-24", "last_day": "2026-12-31", "name": "Christmas closure"},
        follow_redirects=True,
    )

    assert added.status_code == 200
    assert "6 days closed." in added.get_data(as_text=True)
    assert [holiday.day for holiday in calendar.holidays][0] == date(2026, 12, 24)
    assert len(calendar.holidays) == 6
    page = client.get(f"/holidays/calendars/{calendar.id}?earlier=1").get_data(as_text=True)
    assert "Christmas closure" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"first_day": "", "name": "Closed"}, "Enter the day."),
        ({"first_day": "2026-02-30", "name": "Closed"}, "That date does not exist."),
        ({"first_day": "next friday", "name": "Closed"}, "Enter a real date."),
        ({"first_day": "1999-12-31", "name": "Closed"}, "Enter a date between"),
        ({"first_day": "2026-12-31", "last_day": "2026-12-24", "name": "Closed"}, "before the first day"),
        ({"first_day": "2026-01-01", "last_day": "2026-12-31", "name": "Closed"}, "at most 62 days"),
        ({"first_day": "2026-12-26", "last_day": "2026-12-27", "name": "Closed"}, "all weekend days"),
        ({"first_day": "2026-12-24", "name": ""}, "Name the holiday"),
        ({"first_day": "2026-12-24", "name": "x" * 121}, "120 characters or fewer"),
        ({"first_day": "2026-12-24", "name": "Closed\x07"}, "invisible control characters"),
    ],
)
def test_bad_days_are_refused_with_a_message(client, login, data, message):
    calendar = factories.foundation_holidays()
    login(Role.MANAGER)

    response = client.post(f"/holidays/calendars/{calendar.id}/holidays", data=data)

    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert calendar.holidays == []


def test_editing_a_holiday_onto_a_day_already_closed_is_refused(client, login):
    calendar = factories.foundation_holidays(THANKSGIVING, date(2026, 11, 27))
    friday = next(holiday for holiday in calendar.holidays if holiday.day == date(2026, 11, 27))
    login(Role.MANAGER)

    response = client.post(f"/holidays/{friday.id}/edit", data={"day": "2026-11-26", "name": "Black Friday"})

    assert response.status_code == 422
    assert "already has a holiday on that day" in response.get_data(as_text=True)
    db.session.refresh(friday)
    assert friday.day == date(2026, 11, 27)
    moved = client.post(f"/holidays/{friday.id}/edit", data={"day": "2026-11-30", "name": "Day after"})
    assert moved.status_code == 302
    assert friday.day == date(2026, 11, 30)
    assert friday.name == "Day after"


def test_a_second_calendar_for_one_organisation_and_unknown_organisations_are_refused(client, login):
    existing = factories.HolidayCalendarFactory()
    login(Role.MANAGER)

    again = client.post("/holidays/calendars", data={"organisation_id": existing.organisation_id, "name": ""})
    unknown = client.post("/holidays/calendars", data={"organisation_id": "999999", "name": ""})
    garbage = client.post("/holidays/calendars", data={"organisation_id": "one", "name": ""})

    assert again.status_code == unknown.status_code == garbage.status_code == 422
    assert "Choose" in garbage.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(HolidayCalendar)) == 1


def test_deleting_asks_first_and_the_foundation_calendar_stays(client, login):
    foundation = factories.foundation_holidays(THANKSGIVING)
    partner = factories.HolidayFactory().calendar
    holiday = foundation.holidays[0]
    login(Role.MANAGER)

    asked = client.post(f"/holidays/{holiday.id}/delete", data={})
    assert asked.status_code == 200
    assert db.session.get(Holiday, holiday.id) is not None
    removed = client.post(f"/holidays/{holiday.id}/delete", data={"confirmed": "yes"})
    assert removed.status_code == 302
    assert db.session.get(Holiday, holiday.id) is None

    refused = client.post(f"/holidays/calendars/{foundation.id}/delete", data={"confirmed": "yes"})
    assert refused.status_code == 303
    assert db.session.get(HolidayCalendar, foundation.id) is not None
    gone = client.post(f"/holidays/calendars/{partner.id}/delete", data={"confirmed": "yes"})
    assert gone.status_code == 302
    assert db.session.get(HolidayCalendar, partner.id) is None
    assert db.session.scalar(select(func.count()).select_from(Holiday)) == 0
    assert {event.entity_type for event in db.session.scalars(select(AuditEvent).where(AuditEvent.action == "delete"))} == {
        "Holiday",
        "HolidayCalendar",
    }


def test_missing_records_are_404(client, login):
    login(Role.MANAGER)

    assert client.get("/holidays/calendars/999999").status_code == 404
    assert client.get("/holidays/999999/edit").status_code == 404


def test_days_are_listed_from_this_year_with_earlier_ones_on_request(client, login):
    this_year = datetime.now(UTC).year
    calendar = factories.foundation_holidays(date(this_year - 1, 7, 6), date(this_year + 1, 7, 6))
    login(Role.MANAGER)

    page = client.get(f"/holidays/calendars/{calendar.id}").get_data(as_text=True)
    everything = client.get(f"/holidays/calendars/{calendar.id}?earlier=1").get_data(as_text=True)

    assert f"{this_year + 1}-07-06" in page
    assert f"{this_year - 1}-07-06" not in page
    assert f"{this_year - 1}-07-06" in everything

"""Grants: list and filters, create, edit with report schedule, close, reports received, validation, access."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.grants import services
from crm.models import AuditEvent, Grant, GrantReport, GrantStatus, RecordStatus, Role
from tests.factories import GrantFactory, OrganisationFactory
from tests.naughty import naughty_strings


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def events_for(entity_type: str, entity_id: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == str(entity_id))
            .order_by(AuditEvent.id)
        )
    )


def add_report(grant: Grant, due_on: date, received_on: date | None = None) -> GrantReport:
    report = GrantReport(grant=grant, due_on=due_on, received_on=received_on)
    db.session.add(report)
    db.session.commit()
    return report


@pytest.fixture
def staff(login):
    return login(Role.STAFF)


@pytest.fixture
def organisation():
    return OrganisationFactory(name="Bootheel Grantee")


@pytest.fixture
def form(organisation) -> dict:
    return {
        "organisation_id": str(organisation.id),
        "program": "Doula training",
        "amount": "$25,000.50",
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
        "status": "active",
        "report_dates": "2026-06-30\n\n2026-12-31\n2026-06-30\n",
        "notes": "Second year of funding.",
    }


# --- list and filters ---------------------------------------------------------------------


def test_index_lists_grants_latest_start_first(client, staff):
    GrantFactory(program="Older grant", start_date=date(2024, 1, 1))
    GrantFactory(program="Newer grant", start_date=date(2026, 1, 1))

    page = client.get("/grants/").get_data(as_text=True)

    assert page.index("Newer grant") < page.index("Older grant")


def test_index_filters_by_organisation_and_status(client, staff, organisation):
    GrantFactory(program="Ours active", organisation=organisation)
    GrantFactory(program="Ours closed", organisation=organisation, status=GrantStatus.CLOSED)
    GrantFactory(program="Theirs active")

    page = client.get(
        "/grants/", query_string={"organisation": organisation.id, "status": "active"}
    ).get_data(as_text=True)

    assert "Ours active" in page
    assert "Ours closed" not in page
    assert "Theirs active" not in page


def test_index_report_filters(client, staff):
    today = services.today()
    overdue = GrantFactory(program="Overdue grant")
    add_report(overdue, today - timedelta(days=3))
    soon = GrantFactory(program="Due soon grant")
    add_report(soon, today + timedelta(days=30))
    later = GrantFactory(program="Later grant")
    add_report(later, today + timedelta(days=31))
    received = GrantFactory(program="Received grant")
    add_report(received, today - timedelta(days=3), received_on=today - timedelta(days=5))

    due_page = client.get("/grants/", query_string={"reports": "due_soon"}).get_data(as_text=True)
    overdue_page = client.get("/grants/", query_string={"reports": "overdue"}).get_data(as_text=True)

    assert "Overdue grant" in due_page
    assert "Due soon grant" in due_page
    assert "Later grant" not in due_page
    assert "Received grant" not in due_page
    assert "Overdue grant" in overdue_page
    assert "Due soon grant" not in overdue_page
    assert "Received grant" not in overdue_page


def test_index_shows_the_next_outstanding_report(client, staff):
    today = services.today()
    grant = GrantFactory(program="Reporting grant")
    add_report(grant, today - timedelta(days=40), received_on=today - timedelta(days=41))
    add_report(grant, today - timedelta(days=1))

    page = client.get("/grants/").get_data(as_text=True)

    assert "Overdue" in page


def test_index_lists_nothing_for_an_unknown_filter_value(client, staff):
    GrantFactory(program="Not listed")

    response = client.get("/grants/", query_string={"status": "bogus", "organisation": "999999"})

    assert response.status_code == 422
    assert "Not listed" not in response.get_data(as_text=True)


def test_index_paginates(app, client, staff):
    for number in range(app.config["PAGE_SIZE"] + 1):
        GrantFactory(program=f"Paged {number:03d}", start_date=date(2000 + number, 1, 1))

    second = client.get("/grants/", query_string={"page": 2}).get_data(as_text=True)

    assert "Paged 000" in second  # the earliest start comes last
    assert "Page 2 of 2" in second


def test_index_query_count_is_constant(client, staff, count_queries):
    def queries_for_page() -> int:
        with count_queries() as counter:
            assert client.get("/grants/").status_code == 200
        return counter.count

    def make_grants(number: int) -> None:
        for _ in range(number):
            grant = GrantFactory()
            add_report(grant, date(2026, 6, 30))

    make_grants(3)
    few = queries_for_page()
    make_grants(12)
    many = queries_for_page()

    assert few == many


# --- create ---------------------------------------------------------------------------------


def test_new_form_preselects_the_organisation(client, staff, organisation):
    page = client.get("/grants/new", query_string={"organisation_id": organisation.id}).get_data(as_text=True)

    assert f'<option selected value="{organisation.id}">Bootheel Grantee</option>' in page


def test_create_grant_with_reports_and_audit(client, staff, form, organisation):
    response = client.post("/grants/new", data=form)

    grant = db.session.scalar(select(Grant).where(Grant.program == "Doula training"))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/grants/{grant.id}"
    assert grant.organisation_id == organisation.id
    assert grant.amount == Decimal("25000.50")
    assert grant.status is GrantStatus.ACTIVE
    assert [report.due_on for report in grant.reports] == [date(2026, 6, 30), date(2026, 12, 31)]
    [event] = events_for("Grant", grant.id)
    assert event.action == "create"
    assert event.actor_id == staff.id
    assert event.changes["amount"] == [None, "25000.50"]
    assert event.changes["start_date"] == [None, "2026-01-01"]
    report_events = [events_for("GrantReport", report.id) for report in grant.reports]
    assert [[event.action for event in events] for events in report_events] == [["create"], ["create"]]

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "was added." in page
    assert "$25,000.50" in page
    assert "30 Jun 2026" in page
    assert "Change history" in page
    assert f"{staff.name}: created" in page
    assert "Report due 31 Dec 2026 added" in page


@pytest.mark.parametrize(("amount", "stored"), [("1000", "1000.00"), ("999999999999.99", "999999999999.99"), ("12.5", "12.50"), ("3.100", "3.10")])
def test_create_accepts_amounts(client, staff, form, amount, stored):
    response = client.post("/grants/new", data=form | {"amount": amount})

    assert response.status_code == 302
    assert db.session.scalar(select(Grant.amount).where(Grant.program == "Doula training")) == Decimal(stored)


def test_create_without_report_dates(client, staff, form):
    response = client.post("/grants/new", data=form | {"report_dates": ""})

    assert response.status_code == 302
    assert count(GrantReport) == 0


def test_report_may_fall_due_after_the_grant_ends(client, staff, form):
    response = client.post("/grants/new", data=form | {"report_dates": "2027-03-31"})

    assert response.status_code == 302


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "message"), [
    ({"organisation_id": ""}, "Choose the organisation receiving the grant."),
    ({"organisation_id": "999999"}, "Choose an organisation from the list."),
    ({"organisation_id": "abc"}, "Choose an organisation from the list."),
    ({"program": ""}, "Enter the program this grant funds."),
    ({"program": "p" * 201}, "Keep this to 200 characters or fewer."),
    ({"program": "Bad\x1bProgram"}, "Remove the invisible control characters from this field."),
    ({"amount": ""}, "Enter the amount of the grant."),
    ({"amount": "lots"}, "Enter the amount in dollars, like 25000 or 25,000.50."),
    ({"amount": "NaN"}, "Enter the amount in dollars, like 25000 or 25,000.50."),
    ({"amount": "1e6"}, "Enter the amount in dollars, like 25000 or 25,000.50."),
    ({"amount": "25000,50"}, "Enter the amount in dollars, like 25000 or 25,000.50."),
    ({"amount": "1" * 60}, "Enter the amount in dollars, like 25000 or 25,000.50."),
    ({"amount": "0"}, "The amount must be more than $0."),
    ({"amount": "-5"}, "The amount must be more than $0."),
    ({"amount": "10.001"}, "Use at most two decimal places (whole cents)."),
    ({"amount": "1000000000000"}, "The amount must be less than $1,000,000,000,000."),
    ({"start_date": ""}, "Enter the start date."),
    ({"start_date": "01/02/2026"}, "Enter a real date."),
    ({"end_date": "2026-02-30"}, "That date does not exist."),
    ({"start_date": "2026-02-31"}, "That date does not exist."),
    ({"start_date": "0026-01-01", "report_dates": ""}, "Enter a date between 1990 and 2100."),
    # The last date there is: a year of grace for reports after it overflowed (a 500).
    ({"end_date": "9999-12-31"}, "Enter a date between 1990 and 2100."),
    ({"end_date": "2025-12-31"}, "The end date can&#39;t be before the start date."),
    ({"status": "paused"}, "Choose a status from the list."),
    ({"report_dates": "2026-06-30\nsoon"}, "Line 2 (“soon”) is not a date written as YYYY-MM-DD, e.g. 2026-06-30."),
    ({"report_dates": "\n2026-02-30"}, "Line 2 (“2026-02-30”) is not a real date."),
    ({"report_dates": "2025-12-31"}, "Line 1 (2025-12-31) is before the grant starts on 2026-01-01."),
    ({"report_dates": "2026-06-30\n2028-06-30"}, "Line 2 (2028-06-30) is more than a year after the grant ends on 2026-12-31."),
    ({"report_dates": "2026-06-30\n" * 500}, "Enter at most 60 report dates."),
    ({"notes": "n" * 5001}, "Keep this to 5,000 characters or fewer."),
])
def test_create_rejects_invalid_input(client, staff, form, overrides, message):
    before = (count(Grant), count(GrantReport), count(AuditEvent))

    response = client.post("/grants/new", data=form | overrides)

    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert (count(Grant), count(GrantReport), count(AuditEvent)) == before


def test_too_many_distinct_report_dates(client, staff, form):
    dates = "\n".join((date(2026, 1, 1) + timedelta(days=day)).isoformat() for day in range(61))

    response = client.post("/grants/new", data=form | {"report_dates": dates})

    assert response.status_code == 422
    assert "Enter at most 60 report dates." in response.get_data(as_text=True)


def test_invalid_input_keeps_what_was_typed(client, staff, form):
    response = client.post("/grants/new", data=form | {"amount": "twelve", "report_dates": "2026-06-30\nlater"})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="twelve"' in page
    assert "2026-06-30\nlater</textarea>" in page
    assert 'value="Doula training"' in page
    assert 'value="2026-01-01"' in page


def test_create_refuses_an_inactive_organisation(client, staff, form):
    closed = OrganisationFactory(status=RecordStatus.INACTIVE)

    response = client.post("/grants/new", data=form | {"organisation_id": str(closed.id)})

    assert response.status_code == 422
    assert "Choose an organisation from the list." in response.get_data(as_text=True)


# --- detail and edit ------------------------------------------------------------------------


def test_detail_shows_the_grant_and_its_reports(client, staff):
    grant = GrantFactory(program="Shown grant", amount=Decimal("1234.50"))
    add_report(grant, date(2026, 6, 30), received_on=date(2026, 7, 2))
    add_report(grant, date(2026, 12, 31))

    page = client.get(f"/grants/{grant.id}").get_data(as_text=True)

    assert "Shown grant" in page
    assert "$1,234.50" in page
    assert "02 Jul 2026" in page
    assert page.count("Mark received") == 1
    assert "Close grant" in page
    assert f"/organisations/{grant.organisation_id}" in page


def test_edit_form_shows_the_current_values(client, staff):
    grant = GrantFactory(amount=Decimal("5000.00"))
    add_report(grant, date(2026, 9, 30))
    add_report(grant, date(2026, 3, 31))

    page = client.get(f"/grants/{grant.id}/edit").get_data(as_text=True)

    assert 'value="5000.00"' in page
    assert "2026-03-31\n2026-09-30</textarea>" in page
    assert '<option selected value="active">Active</option>' in page


def test_edit_keeps_received_dates_of_reports_that_stay(client, staff, form):
    grant = GrantFactory(organisation=OrganisationFactory())
    kept = add_report(grant, date(2026, 6, 30), received_on=date(2026, 7, 1))
    dropped = add_report(grant, date(2026, 9, 30))
    kept_id, dropped_id = kept.id, dropped.id

    response = client.post(
        f"/grants/{grant.id}/edit",
        data=form | {"organisation_id": str(grant.organisation_id), "report_dates": "2026-06-30\n2026-12-31"},
    )

    assert response.status_code == 302
    db.session.expire_all()
    reports = db.session.get(Grant, grant.id).reports
    assert [(report.due_on, report.received_on) for report in reports] == [
        (date(2026, 6, 30), date(2026, 7, 1)),
        (date(2026, 12, 31), None),
    ]
    assert reports[0].id == kept_id
    assert db.session.get(GrantReport, dropped_id) is None
    assert [event.action for event in events_for("GrantReport", dropped_id)] == ["delete"]
    update = events_for("Grant", grant.id)[-1]
    assert update.action == "update"
    assert update.changes["program"] == ["IMRI backbone support", "Doula training"]
    assert update.changes["amount"] == ["100000.00", "25000.50"]
    history = client.get(f"/grants/{grant.id}").get_data(as_text=True).split("Change history")[1]
    assert "Report due 30 Sep 2026 removed" in history
    assert "Report due 31 Dec 2026 added" in history
    assert "changed program, amount, end date, notes" in history


def test_edit_without_changes_writes_no_event(client, staff):
    grant = GrantFactory()
    add_report(grant, date(2026, 6, 30))
    before = count(AuditEvent)

    response = client.post(
        f"/grants/{grant.id}/edit",
        data={
            "organisation_id": str(grant.organisation_id),
            "program": grant.program,
            "amount": "100000",
            "start_date": "2026-01-01",
            "end_date": "2027-12-31",
            "status": "active",
            "report_dates": "2026-06-30",
            "notes": "",
        },
    )

    assert response.status_code == 302
    assert count(AuditEvent) == before


def test_edit_rejects_bad_input_and_changes_nothing(client, staff, form):
    grant = GrantFactory(program="Unchanged")

    response = client.post(f"/grants/{grant.id}/edit", data=form | {"end_date": "2025-01-01"})

    assert response.status_code == 422
    db.session.refresh(grant)
    assert grant.program == "Unchanged"


# --- close and reports received -------------------------------------------------------------


def test_close_grant(client, staff):
    grant = GrantFactory()

    response = client.post(f"/grants/{grant.id}/deactivate")

    assert response.status_code == 302
    db.session.refresh(grant)
    assert grant.status is GrantStatus.CLOSED
    assert events_for("Grant", grant.id)[-1].changes == {"status": ["active", "closed"]}
    page = client.get(f"/grants/{grant.id}").get_data(as_text=True)
    assert "The grant is closed." in page
    assert "Close grant" not in page


def test_mark_report_received(client, staff):
    grant = GrantFactory()
    report = add_report(grant, date(2026, 6, 30))

    response = client.post(f"/grants/{grant.id}/reports/{report.id}/received")

    assert response.status_code == 302
    db.session.refresh(report)
    assert report.received_on == services.today()
    [event] = events_for("GrantReport", report.id)
    assert event.changes == {"received_on": [None, services.today().isoformat()]}
    page = client.get(f"/grants/{grant.id}").get_data(as_text=True)
    assert "is marked received." in page
    assert "Report due 30 Jun 2026 changed received date" in page  # folded into the grant's history


def test_mark_report_received_twice_keeps_the_first_date(client, staff):
    grant = GrantFactory()
    report = add_report(grant, date(2026, 6, 30), received_on=date(2026, 7, 1))

    client.post(f"/grants/{grant.id}/reports/{report.id}/received")

    db.session.refresh(report)
    assert report.received_on == date(2026, 7, 1)
    assert events_for("GrantReport", report.id) == []


def test_report_of_another_grant_is_404(client, staff):
    grant = GrantFactory()
    other_report = add_report(GrantFactory(), date(2026, 6, 30))

    response = client.post(f"/grants/{grant.id}/reports/{other_report.id}/received")

    assert response.status_code == 404
    db.session.refresh(other_report)
    assert other_report.received_on is None


@pytest.mark.parametrize(("method", "url"), [
    ("GET", "/grants/999999"),
    ("GET", "/grants/999999/edit"),
    ("POST", "/grants/999999/edit"),
    ("POST", "/grants/999999/deactivate"),
    ("POST", "/grants/999999/reports/1/received"),
])
def test_missing_grant_is_404(client, staff, method, url):
    assert client.open(url, method=method).status_code == 404


def test_missing_report_is_404(client, staff):
    grant = GrantFactory()

    assert client.post(f"/grants/{grant.id}/reports/999999/received").status_code == 404


def test_state_changes_are_post_only(client, staff):
    grant = GrantFactory()
    report = add_report(grant, date(2026, 6, 30))

    assert client.get(f"/grants/{grant.id}/deactivate").status_code == 405
    assert client.get(f"/grants/{grant.id}/reports/{report.id}/received").status_code == 405


# --- access ---------------------------------------------------------------------------------


def grant_urls(grant_id: int, report_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", "/grants/"),
        ("GET", "/grants/new"),
        ("POST", "/grants/new"),
        ("GET", f"/grants/{grant_id}"),
        ("GET", f"/grants/{grant_id}/edit"),
        ("POST", f"/grants/{grant_id}/edit"),
        ("POST", f"/grants/{grant_id}/deactivate"),
        ("POST", f"/grants/{grant_id}/reports/{report_id}/received"),
    ]


def test_partners_are_refused_everywhere(client, login, form):
    grant = GrantFactory()
    report = add_report(grant, date(2026, 6, 30))
    login(Role.PARTNER, organisation=grant.organisation)

    for method, url in grant_urls(grant.id, report.id):
        response = client.open(url, method=method, data=form)
        assert response.status_code == 403, (method, url)
    db.session.refresh(grant)
    assert grant.status is GrantStatus.ACTIVE


def test_anonymous_users_are_sent_to_login(client, form):
    grant = GrantFactory()
    report = add_report(grant, date(2026, 6, 30))

    for method, url in grant_urls(grant.id, report.id):
        response = client.open(url, method=method, data=form)
        assert response.status_code == 302, (method, url)
        assert response.headers["Location"].startswith("/login"), (method, url)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.STAFF])
def test_every_staff_role_may_use_grants(client, login, role):
    login(role)

    assert client.get("/grants/").status_code == 200
    assert client.get("/grants/new").status_code == 200


# --- hostile input ------------------------------------------------------------------------------


def test_hostile_text_is_saved_or_refused_never_a_server_error(client, staff, form):
    for text in naughty_strings()[::20]:
        for field in ("program", "amount", "start_date", "report_dates", "notes", "organisation_id", "status"):
            response = client.post("/grants/new", data=form | {field: text})
            assert response.status_code in (302, 422), (field, repr(text))
        assert client.get("/grants/", query_string={"status": text, "organisation": text}).status_code in (200, 422)

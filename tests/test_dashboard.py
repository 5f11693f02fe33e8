from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.dashboard.services import PAST_DUE_SHOWN
from crm.database import utcnow
from crm.models import RecordStatus, Role
from crm.templating import format_date
from tests.factories import GrantFactory, GrantReportFactory, InteractionFactory, OrganisationFactory
from tests.public_support import app_config


def test_dashboard_lists_my_due_and_overdue_follow_ups_only(client, login):
    me = login(Role.STAFF)
    today = utcnow().date()
    InteractionFactory(logged_by=me, summary="Overdue call back", follow_up_on=today - timedelta(days=2))
    InteractionFactory(logged_by=me, summary="Soon follow-up", follow_up_on=today + timedelta(days=3))
    InteractionFactory(logged_by=me, summary="Far follow-up", follow_up_on=today + timedelta(days=30))
    InteractionFactory(logged_by=me, summary="Done already", follow_up_on=today, follow_up_done=True)
    InteractionFactory(summary="Someone else's", follow_up_on=today)

    page = client.get("/dashboard").get_data(as_text=True)
    follow_ups = page.split("My follow-ups")[1].split("No contact in")[0]
    assert "Overdue call back" in follow_ups
    assert "Overdue" in follow_ups
    assert "Soon follow-up" in follow_ups
    assert "Far follow-up" not in follow_ups
    assert "Done already" not in follow_ups
    assert "Someone else" not in follow_ups


def test_dashboard_lists_partners_without_contact_in_60_days(client, login):
    login(Role.STAFF)
    quiet = OrganisationFactory(name="Quiet Partner")
    busy = OrganisationFactory(name="Busy Partner")
    never = OrganisationFactory(name="Never Contacted")
    OrganisationFactory(name="Inactive Partner", status=RecordStatus.INACTIVE)
    InteractionFactory(organisation=quiet, occurred_at=utcnow() - timedelta(days=90))
    InteractionFactory(organisation=busy, occurred_at=utcnow() - timedelta(days=5))

    page = client.get("/dashboard").get_data(as_text=True)
    dormant = page.split("No contact in 60 days")[1].split("Recent interactions")[0]
    assert quiet.name in dormant
    assert never.name in dormant
    assert "never contacted" in dormant
    assert busy.name not in dormant
    assert "Inactive Partner" not in dormant


def test_dashboard_query_count_does_not_grow_with_rows(client, login, count_queries):
    me = login(Role.STAFF)
    today = utcnow().date()
    for _ in range(3):
        InteractionFactory(logged_by=me, follow_up_on=today)
    with count_queries() as few:
        client.get("/dashboard")
    for _ in range(12):
        InteractionFactory(logged_by=me, follow_up_on=today)
    with count_queries() as many:
        client.get("/dashboard")
    assert many.count == few.count


# --- grant reports past due ----------------------------------------------------------------


def local_today(app) -> date:
    return datetime.now(ZoneInfo(app.config["DISPLAY_TIMEZONE"])).date()


def past_due_section(html: str) -> str:
    return html.split('id="grant-reports-heading"')[1].split("</section>")[0]


@pytest.mark.parametrize("role", [Role.STAFF, Role.MANAGER])
def test_dashboard_lists_grant_reports_past_due_oldest_first(app, client, login, role):
    login(role)
    today = local_today(app)
    oldest = GrantReportFactory(
        grant=GrantFactory(program="Safe sleep kits", organisation=OrganisationFactory(name="Oldest Owing Org")),
        due_on=today - timedelta(days=40),
    )
    yesterday = GrantReportFactory(
        grant=GrantFactory(program="Doula training", organisation=OrganisationFactory(name="Yesterday Owing Org")),
        due_on=today - timedelta(days=1),
    )
    GrantReportFactory(grant=GrantFactory(program="Due today program"), due_on=today)
    GrantReportFactory(grant=GrantFactory(program="Due next week program"), due_on=today + timedelta(days=7))
    GrantReportFactory(
        grant=GrantFactory(program="Received late program"), due_on=today - timedelta(days=10), received_on=today
    )

    section = past_due_section(client.get("/dashboard").get_data(as_text=True))

    assert "2 reports" in section
    assert section.index("Oldest Owing Org") < section.index("Yesterday Owing Org")
    assert f'href="/grants/{oldest.grant.id}">Safe sleep kits</a>' in section
    assert f'href="/grants/{yesterday.grant.id}">Doula training</a>' in section
    assert format_date(oldest.due_on) in section
    assert ">40 days<" in section
    assert ">1 day<" in section
    for not_due in ("Due today program", "Due next week program", "Received late program"):
        assert not_due not in section


def test_dashboard_says_when_no_grant_report_is_past_due(app, client, login):
    login(Role.STAFF)
    GrantReportFactory(due_on=local_today(app))  # due today: not yet late
    GrantReportFactory(due_on=local_today(app) - timedelta(days=3), received_on=local_today(app))

    section = past_due_section(client.get("/dashboard").get_data(as_text=True))

    assert "No grant reports are past due." in section
    assert "<table" not in section


def test_past_due_means_before_today_where_the_initiative_works(app, client, login):
    """Kiritimati (UTC+14) is always a day or two ahead of Pago Pago (UTC-11): a report due on
    Pago Pago's today is late in Kiritimati's display time, not in Pago Pago's."""
    login(Role.STAFF)
    due = datetime.now(ZoneInfo("Pacific/Pago_Pago")).date()
    GrantReportFactory(grant=GrantFactory(program="Timezone edge program"), due_on=due)

    with app_config(app, DISPLAY_TIMEZONE="Pacific/Pago_Pago"):
        assert "Timezone edge program" not in past_due_section(client.get("/dashboard").get_data(as_text=True))
    with app_config(app, DISPLAY_TIMEZONE="Pacific/Kiritimati"):
        assert "Timezone edge program" in past_due_section(client.get("/dashboard").get_data(as_text=True))


def test_the_past_due_list_shows_the_oldest_and_counts_them_all(app, client, login):
    login(Role.STAFF)
    today = local_today(app)
    for days in range(1, PAST_DUE_SHOWN + 4):
        GrantReportFactory(grant=GrantFactory(program=f"Program late {days:02d} days"), due_on=today - timedelta(days=days))

    section = past_due_section(client.get("/dashboard").get_data(as_text=True))

    assert f"{PAST_DUE_SHOWN + 3} reports" in section
    assert section.count("<tr>") == PAST_DUE_SHOWN + 1  # the header row and the oldest
    assert "Program late 01 days" not in section
    assert f"Program late {PAST_DUE_SHOWN + 3:02d} days" in section
    assert 'href="/grants/?reports=overdue"' in section


def test_partners_have_no_dashboard(client, login):
    login(Role.PARTNER)
    GrantReportFactory(due_on=date(2020, 1, 1))
    assert client.get("/dashboard").status_code == 403


def test_past_due_reports_do_not_add_queries_per_row(app, client, login, count_queries):
    login(Role.STAFF)
    today = local_today(app)
    GrantReportFactory(due_on=today - timedelta(days=2))
    with count_queries() as few:
        client.get("/dashboard")
    for days in range(3, 12):
        GrantReportFactory(due_on=today - timedelta(days=days))
    with count_queries() as many:
        client.get("/dashboard")
    assert many.count == few.count

from __future__ import annotations

from datetime import timedelta

from crm.database import utcnow
from crm.models import RecordStatus, Role
from tests.factories import InteractionFactory, OrganisationFactory


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

"""The demo is coherent: a new user signing in as a demo user sees inquiries of their own, the
overdue counts lead to them, and a second `seed-demo` adds nothing."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm.database import utcnow
from crm.extensions import db
from crm.models import Inquiry

DEMO_PASSWORD = "a demo password for tests"  # noqa: S105
ROW_LINK = re.compile(r'<td[^>]*><a href="/inquiries/(\d+)">')


@pytest.fixture
def demo(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_DEMO_PASSWORD", DEMO_PASSWORD)
    result = app.test_cli_runner().invoke(args=["crm", "seed-demo"])
    assert result.exit_code == 0, result.output


def sign_in(client: FlaskClient, who: str) -> None:
    response = client.post("/login", data={"email": f"{who}@example.org", "password": DEMO_PASSWORD})
    assert response.status_code == 302


def rows(client: FlaskClient, query: str) -> list[str]:
    response = client.get(f"/inquiries/?{query}")
    assert response.status_code == 200
    return ROW_LINK.findall(response.get_data(as_text=True))


@pytest.mark.parametrize("who", ["partner", "staff"])
def test_demo_users_have_open_and_overdue_inquiries_of_their_own(client, demo, who):
    sign_in(client, who)

    assert rows(client, "mine=1")
    assert rows(client, "mine=1&overdue=1")
    assert "Nothing is assigned to you" not in client.get("/inquiries/?mine=1").get_data(as_text=True)


def test_a_demo_user_who_takes_no_inquiries_is_told_why_my_list_is_empty(client, demo):
    sign_in(client, "manager")

    html = client.get("/inquiries/?mine=1").get_data(as_text=True)

    assert "Nothing is assigned to you: inquiries go to contacts" in html
    assert "manager@example.org" in html


def test_staff_dashboard_counts_overdue_inquiries_overall_and_mine(client, demo):
    sign_in(client, "staff")

    html = " ".join(client.get("/dashboard").get_data(as_text=True).split())

    overdue = len(rows(client, "overdue=1"))
    mine = len(rows(client, "overdue=1&mine=1"))
    assert 0 < mine < overdue
    assert f'{overdue} overdue</span> <a href="/inquiries/?overdue=1">Overdue inquiries</a>' in html
    assert f'{mine} overdue</span>' in html
    assert 'href="/inquiries/?overdue=1&amp;mine=1"' in html


def test_a_partners_home_counts_their_organisations_overdue_inquiries(client, demo):
    sign_in(client, "partner")
    home = client.get("/login", follow_redirects=True)

    html = " ".join(home.get_data(as_text=True).split())
    overdue = len(rows(client, "overdue=1"))
    assert overdue > 0
    assert f'{overdue} overdue</span> <a href="/inquiries/?overdue=1">Our overdue inquiries</a>' in html


def test_seeding_again_adds_no_inquiries(app, demo):
    before = db.session.scalar(select(func.count()).select_from(Inquiry))
    result = app.test_cli_runner().invoke(args=["crm", "seed-demo"])
    assert result.exit_code == 0
    assert db.session.scalar(select(func.count()).select_from(Inquiry)) == before > 0


def test_the_demo_report_counts_its_overdue_inquiries_as_misses(app, demo):
    """The demo's overdue inquiries, received in the last 90 days and never answered, are misses:
    the report once showed 100% within target while they waited."""
    from crm.database import utcnow
    from crm.models.inquiry import overdue_clause
    from crm.reports.services import Period, response_breakdown
    from crm.timezones import display_timezone, local_time

    now = utcnow()
    today = local_time(now).date()
    period = Period(today.replace(year=today.year - 1), today, display_timezone())
    overdue = db.session.scalar(select(func.count()).select_from(Inquiry).where(overdue_clause(now)))

    figures = response_breakdown(period, now).overall

    assert overdue > 0
    assert figures.missed == overdue
    assert figures.within_target_share < 1


def test_demo_inquiries_are_accepted_but_one_awaits_acceptance_and_nothing_moves_on(app, demo):
    from crm.demo import CLOSED_INQUIRIES
    from crm.inquiries.acceptance_jobs import run_acceptance_timers
    from crm.models.inquiry import awaiting_acceptance_clause

    waiting = db.session.scalars(select(Inquiry).where(awaiting_acceptance_clause())).all()

    assert [inquiry.name for inquiry in waiting] == ["Terrence Mills"]
    assert db.session.scalar(select(func.count()).select_from(Inquiry).where(Inquiry.accepted_at.is_not(None))) == 5 + len(
        CLOSED_INQUIRIES
    )
    assert run_acceptance_timers(utcnow()) == []


def test_the_demo_has_closed_inquiries_with_outcomes_and_attempts(demo):
    from crm.models import ContactAttempt, InquiryOutcome
    from crm.models.inquiry_status import InquiryStatus

    closed = db.session.scalars(select(Inquiry).where(Inquiry.status == InquiryStatus.CLOSED)).all()
    assert {inquiry.outcome for inquiry in closed} >= {
        InquiryOutcome.CONNECTED,
        InquiryOutcome.REFERRED,
        InquiryOutcome.UNREACHABLE,
    }
    assert db.session.scalar(select(func.count()).select_from(ContactAttempt)) >= 3

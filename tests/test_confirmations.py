"""Actions that ask first: closing an inquiry, deleting a routing rule or an interaction, and
deactivating a user. The request that asks (the link's GET, or the button's POST) is answered
with a confirm page and changes nothing; only the POST from that page's button, which carries
"confirmed", does it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import AuditEvent, Interaction, Role, RoutingRule, User
from crm.models.inquiry_status import InquiryStatus
from tests.factories import NOW, InquiryFactory, InteractionFactory, UserFactory
from tests.fixtures_world import reload, written


@dataclass(frozen=True)
class Action:
    url: str
    fields: dict[str, str]  # what the asking button sends, besides "confirmed"
    question: str  # the confirm page's heading
    cancel_url: str
    done: Callable[[], bool]  # whether the action has happened
    asked_by_link: bool  # True: a link (GET) asks; False: a button (POST) asks
    answers: dict[str, str] = dataclasses.field(default_factory=dict)  # what the confirm page's form fills in


def close_inquiry(login) -> Action:
    """Needs the `world` fixture, whose rules route the inquiry to a contact."""
    login(Role.STAFF)
    inquiry = InquiryFactory()
    inquiry.status = InquiryStatus.RESPONDED
    inquiry.first_response_at = NOW + timedelta(hours=1)
    db.session.commit()
    return Action(
        url=f"/inquiries/{inquiry.id}/status",
        fields={"status": "closed"},
        question=f"Close inquiry {inquiry.reference}?",
        cancel_url=f"/inquiries/{inquiry.id}",
        done=lambda: reload(inquiry).status is InquiryStatus.CLOSED,
        asked_by_link=False,
        answers={"outcome": "not_needed"},
    )


def delete_rule(login) -> Action:
    login(Role.MANAGER)
    rule = RoutingRule(name="Rule to delete", priority=50)
    db.session.add(rule)
    db.session.commit()
    rule_id = rule.id
    return Action(
        url=f"/routing/rules/{rule_id}/delete",
        fields={},
        question="Delete the rule “Rule to delete”?",
        cancel_url="/routing/rules",
        done=lambda: _gone(RoutingRule, rule_id),
        asked_by_link=True,
    )


def delete_interaction(login) -> Action:
    login(Role.STAFF)
    interaction_id = InteractionFactory(summary="An interaction to delete.").id
    return Action(
        url=f"/interactions/{interaction_id}/delete",
        fields={},
        question="Delete this",
        cancel_url=f"/interactions/{interaction_id}/edit",
        done=lambda: _gone(Interaction, interaction_id),
        asked_by_link=True,
    )


def deactivate_user(login) -> Action:
    login(Role.ADMIN)
    user = UserFactory(role=Role.STAFF, name="Dee Activated")
    return Action(
        url=f"/users/{user.id}/deactivate",
        fields={},
        question="Deactivate Dee Activated’s account?",
        cancel_url=f"/users/{user.id}/edit",
        done=lambda: _reloaded(User, user.id).active is False,
        asked_by_link=False,
    )


def _gone(model, record_id: int) -> bool:
    db.session.expire_all()
    return db.session.get(model, record_id) is None


def _reloaded(model, record_id: int):
    db.session.expire_all()
    return db.session.get(model, record_id)


ACTIONS = {
    "close an inquiry": close_inquiry,
    "delete a routing rule": delete_rule,
    "delete an interaction": delete_interaction,
    "deactivate a user": deactivate_user,
}


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def asking_requests(action: Action) -> list[tuple[str, dict[str, str]]]:
    """The requests that ask: the link or button that leads to the confirm page, and a POST
    without "confirmed" (or with another value), as a stale page or a crafted form sends."""
    requests = [("POST", action.fields), ("POST", {**action.fields, "confirmed": "no"})]
    if action.asked_by_link:
        requests.insert(0, ("GET", {}))
    return requests


@pytest.mark.usefixtures("world")
@pytest.mark.parametrize("name", ACTIONS)
def test_asking_shows_a_confirm_page_and_changes_nothing(client, login, name):
    action = ACTIONS[name](login)
    for method, data in asking_requests(action):
        before = (audit_count(), written())

        response = client.open(action.url, method=method, data=data)

        assert response.status_code == 200, (method, data, response.status_code)
        html = response.get_data(as_text=True)
        assert f"<h1>{action.question}" in html
        assert f'<form method="post" action="{action.url}"' in html
        assert '<input type="hidden" name="confirmed" value="yes">' in html
        assert 'name="csrf_token"' in html
        for field, value in action.fields.items():
            assert f'<input type="hidden" name="{field}" value="{value}">' in html
        assert f'<a href="{action.cancel_url}">Cancel' in html
        assert not action.done(), (method, data)
        assert (audit_count(), written()) == before, (method, data)


@pytest.mark.usefixtures("world")
@pytest.mark.parametrize("name", ACTIONS)
def test_the_confirm_button_does_it(client, login, name):
    action = ACTIONS[name](login)
    before = audit_count()

    response = client.post(action.url, data={**action.fields, **action.answers, "confirmed": "yes"})

    assert response.status_code == 302, response.get_data(as_text=True)
    assert action.done()
    assert audit_count() > before


@pytest.mark.usefixtures("world")
def test_closing_an_inquiry_that_cannot_close_is_refused_without_asking(client, login):
    login(Role.STAFF)
    inquiry = InquiryFactory()  # assigned, with no response: it must be responded to before it closes
    before = written()

    response = client.post(f"/inquiries/{inquiry.id}/status", data={"status": "closed"})

    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Close inquiry" not in html
    assert "not allowed" in html
    assert reload(inquiry).status is InquiryStatus.ASSIGNED
    assert written() == before


@pytest.mark.usefixtures("world")
def test_the_close_page_says_what_closing_does_and_keeps_the_way_back(client, login, app):
    action = close_inquiry(login)
    inbox_page = "/inquiries/?status=&sort=oldest"

    html = client.post(action.url, data={**action.fields, "next": inbox_page}).get_data(as_text=True)

    assert "nobody is reminded of it again" in html
    assert f"removed {app.config['RETENTION_DAYS']} days after it closes" in html
    assert '<input type="hidden" name="next" value="/inquiries/?status=&amp;sort=oldest">' in html
    assert '<a href="/inquiries/?status=&amp;sort=oldest">Cancel, keep it open</a>' in html
    response = client.post(action.url, data={**action.fields, **action.answers, "next": inbox_page, "confirmed": "yes"})
    assert response.status_code == 302
    assert response.headers["Location"] == inbox_page


@pytest.mark.usefixtures("world")
def test_the_close_button_on_the_inquiry_page_asks_rather_than_closes(client, login):
    """The Close button posts to /status without "confirmed": the answer is the confirm page."""
    action = close_inquiry(login)
    page = client.get(action.cancel_url).get_data(as_text=True)
    assert '<input type="hidden" name="status" value="closed">' in page
    assert 'name="confirmed"' not in page


def test_deactivating_yourself_is_refused_without_asking(client, login):
    admin = login(Role.ADMIN)
    UserFactory(role=Role.ADMIN)

    response = client.post(f"/users/{admin.id}/deactivate")

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "You cannot deactivate your own account." in html
    assert "Deactivate the account" not in html

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import AuditEvent, Interaction, InteractionKind, RecordStatus, Role
from tests.factories import ContactFactory, InteractionFactory, OrganisationFactory
from tests.naughty import HOSTILE_NUMBERS, naughty_sample


def local_today(app):
    return datetime.now(ZoneInfo(app.config["DISPLAY_TIMEZONE"])).date()


def form_data(**overrides) -> dict:
    data = {
        "action": "save",
        "kind": "meeting",
        "occurred_on": "2026-03-09",
        "occurred_time": "10:00",
        "summary": "Talked through the home-visiting pilot.",
        "organisation_id": "",
        "follow_up_on": "",
    }
    data.update(overrides)
    return data


def interaction_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Interaction))


def only_interaction() -> Interaction:
    db.session.expire_all()
    return db.session.scalars(select(Interaction)).one()


# --- logging an interaction -------------------------------------------------------------


def test_log_from_organisation_page(client, login):
    me = login(Role.STAFF)
    organisation = OrganisationFactory(name="Bootheel Babies")
    dana = ContactFactory(name="Dana Whitfield", organisation=organisation)
    ContactFactory(name="Ellis Moore", organisation=organisation)
    ContactFactory(name="Former Person", organisation=organisation, active=False)
    ContactFactory(name="Elsewhere Person")

    page = client.get(f"/interactions/new?organisation_id={organisation.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'<option selected value="{organisation.id}">Bootheel Babies</option>' in html
    assert "Dana Whitfield" in html
    assert "Ellis Moore" in html
    assert "Former Person" not in html
    assert "Elsewhere Person" not in html

    response = client.post(
        f"/interactions/new?organisation_id={organisation.id}",
        data=form_data(organisation_id=str(organisation.id), contacts=[str(dana.id)]),
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/organisations/{organisation.id}"

    interaction = only_interaction()
    assert interaction.kind is InteractionKind.MEETING
    assert interaction.organisation_id == organisation.id
    assert [contact.name for contact in interaction.contacts] == ["Dana Whitfield"]
    assert interaction.logged_by_id == me.id
    assert interaction.summary == "Talked through the home-visiting pilot."
    assert interaction.follow_up_on is None

    event = db.session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "Interaction")).one()
    assert event.action == "create"
    assert event.actor_id == me.id
    assert event.changes["summary"] == [None, "Talked through the home-visiting pilot."]


def test_log_from_contact_page_prefills_their_organisation_and_returns_to_them(client, login):
    login(Role.STAFF)
    organisation = OrganisationFactory(name="Generate Health")
    contact = ContactFactory(name="Robin Hale", organisation=organisation)

    html = client.get(f"/interactions/new?contact_id={contact.id}").get_data(as_text=True)
    assert f'<option selected value="{organisation.id}">Generate Health</option>' in html
    assert f'checked id="contacts-0" name="contacts" type="checkbox" value="{contact.id}"' in html

    response = client.post(
        f"/interactions/new?contact_id={contact.id}",
        data=form_data(organisation_id=str(organisation.id), contacts=[str(contact.id)]),
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/contacts/{contact.id}"
    interaction = only_interaction()
    assert interaction.organisation_id == organisation.id
    assert [item.id for item in interaction.contacts] == [contact.id]


def test_contact_without_organisation_may_be_logged_from_their_own_page(client, login):
    login(Role.STAFF)
    loner = ContactFactory(name="Solo Advocate", organisation=None)

    html = client.get(f"/interactions/new?contact_id={loner.id}").get_data(as_text=True)
    assert '<option selected value="">No organisation (contacts only)</option>' in html

    response = client.post(
        f"/interactions/new?contact_id={loner.id}", data=form_data(contacts=[str(loner.id)])
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/contacts/{loner.id}"
    interaction = only_interaction()
    assert interaction.organisation is None
    assert [item.id for item in interaction.contacts] == [loner.id]


def test_contact_without_organisation_is_refused_when_not_opened_from_their_page(client, login):
    login(Role.STAFF)
    organisation = OrganisationFactory()
    loner = ContactFactory(name="Solo Advocate", organisation=None)
    response = client.post(
        f"/interactions/new?organisation_id={organisation.id}",
        data=form_data(organisation_id=str(organisation.id), contacts=[str(loner.id)]),
    )
    assert response.status_code == 422
    assert "Solo Advocate does not belong to an organisation" in response.get_data(as_text=True)
    assert interaction_count() == 0


@pytest.mark.parametrize(
    ("day", "clock", "stored"),
    [
        ("2026-03-09", "10:00", datetime(2026, 3, 9, 15, 0, tzinfo=UTC)),  # CDT, UTC-5 (DST began 8 March)
        ("2026-01-15", "10:00", datetime(2026, 1, 15, 16, 0, tzinfo=UTC)),  # CST, UTC-6
        ("2026-03-09", "23:30", datetime(2026, 3, 10, 4, 30, tzinfo=UTC)),  # crosses midnight UTC
    ],
)
def test_time_is_entered_in_display_timezone_and_stored_in_utc(app, client, login, day, clock, stored):
    assert app.config["DISPLAY_TIMEZONE"] == "America/Chicago"
    login(Role.STAFF)
    organisation = OrganisationFactory()
    response = client.post(
        "/interactions/new",
        data=form_data(organisation_id=str(organisation.id), occurred_on=day, occurred_time=clock),
    )
    assert response.status_code == 302
    interaction = only_interaction()
    assert interaction.occurred_at == stored
    assert interaction.occurred_at.tzinfo is not None

    # ...and the edit form shows it back in local time.
    html = client.get(f"/interactions/{interaction.id}/edit").get_data(as_text=True)
    assert f'value="{day}"' in html
    assert f'value="{clock}"' in html


def test_new_form_defaults_to_now_in_local_time(app, client, login):
    login(Role.STAFF)
    organisation = OrganisationFactory()
    html = client.get(f"/interactions/new?organisation_id={organisation.id}").get_data(as_text=True)
    assert f'value="{local_today(app).isoformat()}"' in html


# --- validation -------------------------------------------------------------------------


def _future_day(app) -> str:
    return (local_today(app) + timedelta(days=2)).isoformat()


def _yesterday(app) -> str:
    return (local_today(app) - timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"occurred_on": _future_day}, "more than a day in the future"),
        ({"occurred_on": "9999-12-31", "occurred_time": "23:59"}, "more than a day in the future"),
        ({"summary": "   "}, "Write a short summary"),
        ({"summary": "x" * 10001}, "Keep this to 10,000 characters or fewer."),
        ({"summary": "bad \x00 byte"}, "control characters"),
        ({"occurred_on": "2026-13-45"}, "That date does not exist."),
        ({"occurred_on": "next tuesday"}, "Enter a real date."),
        ({"occurred_on": ""}, "Enter the date it happened."),
        ({"occurred_on": "0001-01-01"}, "Enter a date after 1900."),
        ({"occurred_time": "25:99"}, "Enter a time like 14:30."),
        ({"occurred_time": ""}, "Enter the time it happened."),
        ({"follow_up_on": "31/12/2026"}, "Enter a real date."),
        ({"follow_up_on": _yesterday}, "The follow-up date is in the past"),
        ({"follow_up_on": "9999-12-31"}, "within the next few years"),
        ({"kind": "carrier_pigeon"}, "Choose a type from the list."),
        ({"organisation_id": "999999"}, "Choose an organisation from the list."),
        ({"organisation_id": "99999999999999999999999"}, "Choose an organisation from the list."),
        ({"organisation_id": "abc"}, "Choose an organisation from the list."),
        ({"organisation_id": ""}, "Choose an organisation or at least one contact."),
        ({"contacts": ["999999"]}, "One of the chosen contacts does not exist."),
        ({"contacts": ["99999999999999999999999"]}, "One of the chosen contacts does not exist."),
        ({"contacts": ["2147483648"]}, "One of the chosen contacts does not exist."),
        ({"contacts": ["-1"]}, "One of the chosen contacts does not exist."),
        ({"contacts": ["abc"]}, "Choose contacts from the list."),
    ],
)
def test_invalid_input_is_refused_with_a_message_and_nothing_written(app, client, login, overrides, message):
    login(Role.STAFF)
    organisation = OrganisationFactory()
    data = form_data(organisation_id=str(organisation.id), summary="Kept text for the user")
    data.update({key: value(app) if callable(value) else value for key, value in overrides.items()})
    response = client.post(f"/interactions/new?organisation_id={organisation.id}", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html
    assert "Please correct the highlighted fields" in html
    if "summary" not in overrides:
        assert "Kept text for the user" in html
    assert interaction_count() == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.entity_type == "Interaction")) == 0


def test_contact_of_another_organisation_is_a_field_error(client, login):
    login(Role.STAFF)
    organisation = OrganisationFactory()
    stranger = ContactFactory(name="Pat Stranger")
    response = client.post(
        f"/interactions/new?organisation_id={organisation.id}",
        data=form_data(organisation_id=str(organisation.id), contacts=[str(stranger.id)]),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Pat Stranger is not a contact of the chosen organisation." in html
    assert 'id="contacts-error"' in html
    assert interaction_count() == 0


def test_contact_given_in_address_must_still_match_the_chosen_organisation(client, login):
    login(Role.STAFF)
    home = OrganisationFactory(name="Home Org")
    other = OrganisationFactory()
    contact = ContactFactory(name="Sam Rivera", organisation=home)
    response = client.post(
        f"/interactions/new?contact_id={contact.id}",
        data=form_data(organisation_id="", contacts=[str(contact.id)]),
    )
    assert response.status_code == 422
    assert "Sam Rivera is a contact of Home Org; choose that organisation." in response.get_data(as_text=True)
    response = client.post(
        f"/interactions/new?contact_id={contact.id}",
        data=form_data(organisation_id=str(other.id), contacts=[str(contact.id)]),
    )
    assert response.status_code == 422
    assert interaction_count() == 0


def test_inactive_contact_cannot_be_ticked_by_hand(client, login):
    login(Role.STAFF)
    organisation = OrganisationFactory()
    former = ContactFactory(name="Former Person", organisation=organisation, active=False)
    response = client.post(
        f"/interactions/new?organisation_id={organisation.id}",
        data=form_data(organisation_id=str(organisation.id), contacts=[str(former.id)]),
    )
    assert response.status_code == 422
    assert "Former Person is no longer an active contact." in response.get_data(as_text=True)


def test_an_interaction_less_than_a_day_ahead_is_accepted(client, login):
    login(Role.STAFF)
    organisation = OrganisationFactory()
    soon = (datetime.now(UTC) + timedelta(hours=12)).astimezone(ZoneInfo("America/Chicago"))
    response = client.post(
        "/interactions/new",
        data=form_data(
            organisation_id=str(organisation.id), occurred_on=soon.date().isoformat(), occurred_time=soon.strftime("%H:%M")
        ),
    )
    assert response.status_code == 302


def test_refresh_shows_the_newly_chosen_organisations_contacts_without_saving(client, login):
    login(Role.STAFF)
    first = OrganisationFactory()
    second = OrganisationFactory()
    ContactFactory(name="First Contact", organisation=first)
    ContactFactory(name="Second Contact", organisation=second)
    response = client.post(
        f"/interactions/new?organisation_id={first.id}",
        data=form_data(action="refresh", organisation_id=str(second.id), summary="Half written"),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Second Contact" in html
    assert "First Contact" not in html
    assert "Half written" in html
    assert interaction_count() == 0


@pytest.mark.parametrize(
    "url",
    [
        "/interactions/new?organisation_id=999999",
        "/interactions/new?contact_id=999999",
        "/interactions/new?organisation_id=abc",
        "/interactions/new?contact_id=99999999999999999999999",
        "/interactions/new?organisation_id=2147483648",
        "/interactions/999999/edit",
    ],
)
def test_unknown_records_are_404(client, login, url):
    login(Role.STAFF)
    assert client.get(url).status_code == 404
    assert client.post(url, data=form_data()).status_code == 404


@pytest.mark.parametrize("action", ["follow-up/done", "delete"])
def test_unknown_interaction_actions_are_404(client, login, action):
    login(Role.STAFF)
    assert client.post(f"/interactions/999999/{action}").status_code == 404


# --- editing, deleting -------------------------------------------------------------------


def test_edit_changes_the_interaction_and_audits_it(client, login):
    me = login(Role.STAFF)
    organisation = OrganisationFactory()
    contact = ContactFactory(organisation=organisation)
    interaction = InteractionFactory(organisation=organisation, contacts=[contact], summary="Old words")

    html = client.get(f"/interactions/{interaction.id}/edit").get_data(as_text=True)
    assert "Old words" in html
    assert f'checked id="contacts-0" name="contacts" type="checkbox" value="{contact.id}"' in html

    response = client.post(
        f"/interactions/{interaction.id}/edit",
        data=form_data(organisation_id=str(organisation.id), contacts=[], summary="New words", kind="email"),
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/organisations/{organisation.id}"
    interaction = only_interaction()
    assert interaction.summary == "New words"
    assert interaction.kind is InteractionKind.EMAIL
    assert interaction.contacts == []
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "Interaction", AuditEvent.action == "update")
    ).one()
    assert event.actor_id == me.id
    assert event.changes["summary"] == ["Old words", "New words"]
    assert event.changes["contacts"] == [[contact.name], []]


def test_edit_keeps_a_past_follow_up_and_contacts_who_have_since_moved(app, client, login):
    login(Role.STAFF)
    organisation = OrganisationFactory()
    moved = ContactFactory(name="Moved On", organisation=OrganisationFactory())
    past = local_today(app) - timedelta(days=3)
    interaction = InteractionFactory(organisation=organisation, contacts=[moved], follow_up_on=past)
    response = client.post(
        f"/interactions/{interaction.id}/edit",
        data=form_data(organisation_id=str(organisation.id), contacts=[str(moved.id)], follow_up_on=past.isoformat()),
    )
    assert response.status_code == 302
    # A new past date is still refused.
    response = client.post(
        f"/interactions/{interaction.id}/edit",
        data=form_data(
            organisation_id=str(organisation.id), follow_up_on=(past - timedelta(days=1)).isoformat()
        ),
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    "occurred_at",
    [
        datetime(2026, 11, 1, 6, 30, tzinfo=UTC),  # 01:30 CDT, the first time round
        datetime(2026, 11, 1, 7, 30, tzinfo=UTC),  # 01:30 CST, the hour the clocks go back repeats
        datetime(2026, 2, 3, 15, 4, 27, tzinfo=UTC),  # seconds the form's minute does not show
    ],
)
def test_edit_that_leaves_the_date_and_time_as_shown_keeps_the_moment(client, login, occurred_at):
    login(Role.STAFF)
    organisation = OrganisationFactory()
    interaction = InteractionFactory(organisation=organisation, occurred_at=occurred_at, summary="Old words")
    local = occurred_at.astimezone(ZoneInfo("America/Chicago"))
    html = client.get(f"/interactions/{interaction.id}/edit").get_data(as_text=True)
    assert f'value="{local:%H:%M}"' in html

    response = client.post(
        f"/interactions/{interaction.id}/edit",
        data=form_data(
            organisation_id=str(organisation.id), occurred_on=f"{local:%Y-%m-%d}", occurred_time=f"{local:%H:%M}", summary="New words"
        ),
    )
    assert response.status_code == 302
    interaction = only_interaction()
    assert interaction.summary == "New words"
    assert interaction.occurred_at == occurred_at
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "Interaction", AuditEvent.action == "update")
    ).one()
    assert "occurred_at" not in event.changes


def test_delete_removes_the_interaction_and_audits_it(client, login):
    me = login(Role.STAFF)
    organisation = OrganisationFactory()
    interaction = InteractionFactory(organisation=organisation, contacts=[ContactFactory(organisation=organisation)])
    interaction_id = interaction.id

    response = client.post(f"/interactions/{interaction_id}/delete", data={"confirmed": "yes"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/organisations/{organisation.id}"
    db.session.expire_all()
    assert db.session.get(Interaction, interaction_id) is None
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "Interaction", AuditEvent.action == "delete")
    ).one()
    assert event.actor_id == me.id
    assert event.entity_id == str(interaction_id)
    assert event.changes["summary"] == ["Checked in about the quarter.", None]


def test_delete_of_a_contacts_only_interaction_returns_to_the_contact(client, login):
    login(Role.STAFF)
    loner = ContactFactory(organisation=None)
    interaction = InteractionFactory(organisation=None, contacts=[loner])
    response = client.post(f"/interactions/{interaction.id}/delete", data={"confirmed": "yes"})
    assert response.headers["Location"] == f"/contacts/{loner.id}"


def test_state_changes_need_post(client, login):
    login(Role.STAFF)
    interaction = InteractionFactory()
    assert client.get(f"/interactions/{interaction.id}/follow-up/done").status_code == 405


def test_delete_asks_first_on_a_page_of_its_own(client, login):
    login(Role.STAFF)
    interaction = InteractionFactory(summary="Checked in about the quarter.")
    edit_page = client.get(f"/interactions/{interaction.id}/edit").get_data(as_text=True)
    assert f'href="/interactions/{interaction.id}/delete"' in edit_page
    assert f'action="/interactions/{interaction.id}/delete"' not in edit_page  # no one-click delete

    response = client.get(f"/interactions/{interaction.id}/delete")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Checked in about the quarter." in html
    assert f'<form method="post" action="/interactions/{interaction.id}/delete"' in html
    assert f'href="/interactions/{interaction.id}/edit">Cancel' in html
    assert interaction_count() == 1


# --- follow-ups --------------------------------------------------------------------------


def test_follow_up_shows_on_dashboard_until_marked_done(app, client, login):
    me = login(Role.STAFF)
    organisation = OrganisationFactory()
    today = local_today(app)
    response = client.post(
        "/interactions/new",
        data=form_data(organisation_id=str(organisation.id), summary="Send the MOU draft", follow_up_on=today.isoformat()),
    )
    assert response.status_code == 302
    overdue = InteractionFactory(
        organisation=organisation, logged_by=me, summary="Chase the invoice", follow_up_on=today - timedelta(days=2)
    )
    created = db.session.scalars(select(Interaction).where(Interaction.summary == "Send the MOU draft")).one()

    follow_ups = client.get("/dashboard").get_data(as_text=True).split("Recent interactions")[0]
    assert "Send the MOU draft" in follow_ups
    assert "Due today" in follow_ups
    assert "Chase the invoice" in follow_ups
    assert "Overdue" in follow_ups

    for item in (created, overdue):
        response = client.post(f"/interactions/{item.id}/follow-up/done", data={"next": "/dashboard"})
        assert response.status_code == 302
        assert response.headers["Location"] == "/dashboard"

    follow_ups = client.get("/dashboard").get_data(as_text=True).split("Recent interactions")[0]
    assert "Send the MOU draft" not in follow_ups
    assert "Chase the invoice" not in follow_ups
    assert "No follow-ups due" in follow_ups
    db.session.expire_all()
    assert db.session.get(Interaction, created.id).follow_up_done is True


def test_follow_up_is_only_on_its_authors_dashboard(app, client, login, make_user):
    login(Role.STAFF)
    InteractionFactory(logged_by=make_user(Role.STAFF), summary="Not mine", follow_up_on=local_today(app))
    follow_ups = client.get("/dashboard").get_data(as_text=True).split("Recent interactions")[0]
    assert "Not mine" not in follow_ups


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)", "http:/evil.example", ""],
)
def test_complete_follow_up_ignores_unsafe_next(app, client, login, target):
    login(Role.STAFF)
    organisation = OrganisationFactory()
    interaction = InteractionFactory(organisation=organisation, follow_up_on=local_today(app))
    response = client.post(f"/interactions/{interaction.id}/follow-up/done", data={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/organisations/{organisation.id}"


def test_complete_follow_up_without_a_follow_up_changes_nothing(client, login):
    login(Role.STAFF)
    interaction = InteractionFactory(follow_up_on=None)
    response = client.post(f"/interactions/{interaction.id}/follow-up/done")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Interaction, interaction.id).follow_up_done is False


# --- the organisation page ---------------------------------------------------------------


def test_organisation_timeline_shows_the_interaction_and_last_touch(client, login):
    login(Role.STAFF)
    organisation = OrganisationFactory(status=RecordStatus.ACTIVE)
    contact = ContactFactory(name="Dana Whitfield", organisation=organisation)
    client.post(
        f"/interactions/new?organisation_id={organisation.id}",
        data=form_data(
            organisation_id=str(organisation.id),
            contacts=[str(contact.id)],
            summary="Quarterly check-in about doula referrals",
        ),
    )
    html = client.get(f"/organisations/{organisation.id}").get_data(as_text=True)
    timeline = html.split("Timeline")[1]
    assert "Quarterly check-in about doula referrals" in timeline
    assert "With Dana Whitfield" in timeline
    assert "Last touch: 09 Mar 2026, 10:00" in html  # shown back in Chicago time


# --- who may ---------------------------------------------------------------------------


def _interaction_urls(interaction_id: int, organisation_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", f"/interactions/new?organisation_id={organisation_id}"),
        ("POST", f"/interactions/new?organisation_id={organisation_id}"),
        ("GET", f"/interactions/{interaction_id}/edit"),
        ("POST", f"/interactions/{interaction_id}/edit"),
        ("POST", f"/interactions/{interaction_id}/follow-up/done"),
        ("POST", f"/interactions/{interaction_id}/delete"),
    ]


def test_every_interactions_route_is_covered_here(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("interactions.")}
    assert endpoints == {"interactions.new", "interactions.edit", "interactions.complete_follow_up", "interactions.delete"}


def test_partner_gets_403_everywhere_even_for_their_own_organisation(client, login):
    partner = login(Role.PARTNER)
    interaction = InteractionFactory(organisation=partner.organisation, follow_up_on=None)
    for method, url in _interaction_urls(interaction.id, partner.organisation_id):
        response = client.open(url, method=method, data=form_data(organisation_id=str(partner.organisation_id)))
        assert response.status_code == 403, (method, url)
    assert interaction_count() == 1


def test_anonymous_is_sent_to_sign_in(client):
    interaction = InteractionFactory()
    for method, url in _interaction_urls(interaction.id, interaction.organisation_id):
        response = client.open(url, method=method)
        assert response.status_code == 302, (method, url)
        assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.STAFF])
def test_staff_roles_may_log(client, login, role):
    login(role)
    organisation = OrganisationFactory()
    response = client.post("/interactions/new", data=form_data(organisation_id=str(organisation.id)))
    assert response.status_code == 302


def test_a_new_follow_up_date_reopens_a_done_follow_up(app, client, login):
    login(Role.STAFF)
    organisation = OrganisationFactory()
    today = local_today(app)
    interaction = InteractionFactory(organisation=organisation, follow_up_on=today, follow_up_done=True)
    unchanged = form_data(organisation_id=str(organisation.id), follow_up_on=today.isoformat())
    assert client.post(f"/interactions/{interaction.id}/edit", data=unchanged).status_code == 302
    db.session.expire_all()
    assert interaction.follow_up_done is True
    later = form_data(organisation_id=str(organisation.id), follow_up_on=(today + timedelta(days=5)).isoformat())
    assert client.post(f"/interactions/{interaction.id}/edit", data=later).status_code == 302
    db.session.expire_all()
    assert interaction.follow_up_done is False


def test_state_changes_refuse_a_missing_csrf_token(app, client, login, monkeypatch):
    login(Role.STAFF)
    interaction = InteractionFactory(follow_up_on=local_today(app))
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    for action in ("follow-up/done", "delete"):
        assert client.post(f"/interactions/{interaction.id}/{action}").status_code == 400
    response = client.post(
        "/interactions/new", data=form_data(organisation_id=str(interaction.organisation_id))
    )
    assert response.status_code == 400
    db.session.expire_all()
    assert interaction_count() == 1
    assert interaction.follow_up_done is False


# --- hostile input -----------------------------------------------------------------------


def hostile_strings() -> list[str]:
    return [*naughty_sample(), *HOSTILE_NUMBERS]


@pytest.mark.parametrize(
    "field", ["summary", "kind", "occurred_on", "occurred_time", "organisation_id", "contacts", "follow_up_on", "action"]
)
def test_hostile_input_is_saved_or_refused_never_a_server_error(client, login, field):
    login(Role.STAFF)
    organisation = OrganisationFactory()
    ContactFactory(organisation=organisation)
    for text in hostile_strings():
        data = form_data(**{"organisation_id": str(organisation.id), field: text})
        response = client.post(f"/interactions/new?organisation_id={organisation.id}", data=data)
        assert response.status_code in (200, 302, 422), (field, repr(text))


def test_hostile_query_arguments_are_404_never_a_server_error(client, login):
    login(Role.STAFF)
    for text in hostile_strings():
        for name in ("organisation_id", "contact_id"):
            response = client.get("/interactions/new", query_string={name: text})
            assert response.status_code in (200, 404), (name, repr(text))


def test_a_new_interaction_offers_no_dead_end_contacts_only_choice(client, login):
    login(Role.STAFF)
    OrganisationFactory(name="Bootheel Babies")

    page = client.get("/interactions/new")

    html = page.get_data(as_text=True)
    assert "No organisation (contacts only)" not in html
    assert '<option selected value="">Choose an organisation</option>' in html
    assert "log it from" in html
    assert 'href="/contacts/"' in html
    response = client.post("/interactions/new", data=form_data())
    assert response.status_code == 422
    assert "Choose an organisation or at least one contact." in response.get_data(as_text=True)
    assert interaction_count() == 0


def test_a_contacts_only_interaction_keeps_its_choice_when_edited(client, login):
    login(Role.STAFF)
    loner = ContactFactory(name="Solo Advocate", organisation=None)
    interaction = InteractionFactory(organisation=None, contacts=[loner])

    html = client.get(f"/interactions/{interaction.id}/edit").get_data(as_text=True)

    assert '<option selected value="">No organisation (contacts only)</option>' in html
    assert "Solo Advocate" in html

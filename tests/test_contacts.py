"""Contacts: list, search and filters, create, edit, deactivate, validation and access."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import AuditEvent, Contact, OrganisationKind, RecordStatus, Role
from tests.factories import ContactFactory, InteractionFactory, OrganisationFactory
from tests.naughty import naughty_sample


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def events_for(contact_id: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == "Contact", AuditEvent.entity_id == str(contact_id))
            .order_by(AuditEvent.id)
        )
    )


def valid_form(**overrides) -> dict:
    data = {
        "name": "Maria Lopez",
        "organisation_id": "",
        "title": "Program Director",
        "email": "maria.lopez@example.org",
        "phone": "(573) 555-0142",
        "languages": ["en", "es"],
        "roles": ["program", "media"],
        "show_on_public_page": "y",
        "notes": "Prefers calls in the morning.",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def staff(login):
    return login(Role.STAFF)


# --- list, search, filters ------------------------------------------------------------


def test_index_lists_active_contacts_by_default(client, staff):
    ContactFactory(name="Active Annie")
    ContactFactory(name="Former Fred", active=False)

    page = client.get("/contacts/").get_data(as_text=True)

    assert "Active Annie" in page
    assert "Former Fred" not in page


@pytest.mark.parametrize(("status", "shown", "hidden"), [
    ("inactive", ["Former Fred"], ["Active Annie"]),
    ("", ["Former Fred", "Active Annie"], []),
])
def test_index_status_filter(client, staff, status, shown, hidden):
    ContactFactory(name="Active Annie")
    ContactFactory(name="Former Fred", active=False)

    page = client.get("/contacts/", query_string={"status": status}).get_data(as_text=True)

    assert all(name in page for name in shown)
    assert not any(name in page for name in hidden)


@pytest.mark.parametrize("query", ["zelda", "ZELDA@EXAMPLE", "grants manager", "100%"])
def test_index_searches_name_email_and_title(client, staff, query):
    ContactFactory(name="Zelda Brown", email="zelda@example.org", title="Grants Manager 100%")
    ContactFactory(name="Other Person", email="other@example.org", title="Nurse")

    page = client.get("/contacts/", query_string={"q": query}).get_data(as_text=True)

    assert "Zelda Brown" in page
    assert "Other Person" not in page


def test_index_search_finds_a_name_written_as_it_is_stored(client, staff):
    # The database lowers the columns; a term casefolded ("weiss") would miss "Weiß".
    ContactFactory(name="Anna Weiß")
    ContactFactory(name="Anna Weiss")

    page = client.get("/contacts/", query_string={"q": "Weiß"}).get_data(as_text=True)

    assert "Anna Weiß" in page
    assert "Anna Weiss" not in page


def test_index_search_treats_wildcards_literally(client, staff):
    ContactFactory(name="Plain Name")

    page = client.get("/contacts/", query_string={"q": "%"}).get_data(as_text=True)

    assert "Plain Name" not in page
    assert "No contacts match these filters." in page


def test_index_filters_by_organisation_language_and_role(client, staff):
    clinic = OrganisationFactory(name="Kennett Clinic")
    ContactFactory(name="Spanish Media", organisation=clinic, languages=["es"], roles=["media"])
    ContactFactory(name="English Media", organisation=clinic, languages=["en"], roles=["media"])
    ContactFactory(name="Spanish Finance", organisation=clinic, languages=["en", "es"], roles=["finance"])
    ContactFactory(name="Elsewhere", languages=["es"], roles=["media"])

    page = client.get(
        "/contacts/", query_string={"organisation": clinic.id, "language": "es", "role": "media"}
    ).get_data(as_text=True)

    assert "Spanish Media" in page
    for name in ("English Media", "Spanish Finance", "Elsewhere"):
        assert name not in page


def test_index_lists_nothing_for_an_unknown_filter_value(client, staff):
    ContactFactory(name="Not Listed")

    response = client.get("/contacts/", query_string={"language": "klingon", "organisation": "abc"})

    assert response.status_code == 422
    assert "Not Listed" not in response.get_data(as_text=True)


def test_index_paginates(app, client, staff):
    for number in range(app.config["PAGE_SIZE"] + 2):
        ContactFactory(name=f"Paged {number:03d}")

    first = client.get("/contacts/").get_data(as_text=True)
    second = client.get("/contacts/", query_string={"page": 2}).get_data(as_text=True)

    assert "Paged 000" in first
    assert "Paged 026" not in first
    assert "Paged 026" in second
    assert "Page 2 of 2" in second


def test_index_query_count_is_constant(client, staff, count_queries):
    def queries_for_page() -> int:
        with count_queries() as counter:
            assert client.get("/contacts/").status_code == 200
        return counter.count

    for _ in range(3):
        ContactFactory()
    few = queries_for_page()
    for _ in range(12):
        ContactFactory()
    many = queries_for_page()

    assert few == many


# --- create -----------------------------------------------------------------------------


def test_new_form_preselects_the_organisation(client, staff):
    organisation = OrganisationFactory(name="Preselected Org")

    page = client.get("/contacts/new", query_string={"organisation_id": organisation.id}).get_data(as_text=True)

    assert f'<option selected value="{organisation.id}">Preselected Org</option>' in page


def test_new_form_ignores_an_unknown_organisation_in_the_link(client, staff):
    response = client.get("/contacts/new", query_string={"organisation_id": 999999})

    assert response.status_code == 200


def test_create_contact_writes_the_record_and_audit_event(client, staff):
    organisation = OrganisationFactory()

    response = client.post("/contacts/new", data=valid_form(organisation_id=organisation.id))

    contact = db.session.scalar(select(Contact).where(Contact.name == "Maria Lopez"))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/contacts/{contact.id}"
    assert contact.organisation_id == organisation.id
    assert contact.languages == ["en", "es"]
    assert contact.roles == ["program", "media"]
    assert contact.show_on_public_page is True
    assert contact.active is True
    [event] = events_for(contact.id)
    assert event.action == "create"
    assert event.actor_id == staff.id
    assert event.changes["name"] == [None, "Maria Lopez"]
    assert event.changes["email"] == [None, "maria.lopez@example.org"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Maria Lopez was added." in page


def test_create_without_organisation(client, staff):
    response = client.post("/contacts/new", data=valid_form())

    assert response.status_code == 302
    contact = db.session.scalar(select(Contact).where(Contact.name == "Maria Lopez"))
    assert contact.organisation_id is None


def test_create_normalises_the_phone_number(client, staff):
    client.post("/contacts/new", data=valid_form(phone="573-555-0142"))

    contact = db.session.scalar(select(Contact).where(Contact.name == "Maria Lopez"))
    assert contact.phone == "(573) 555-0142"


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "message"), [
    ({"name": "   "}, "Enter the contact&#39;s name."),
    ({"name": "x" * 201}, "Keep this to 200 characters or fewer."),
    ({"name": "Bad\x00Name"}, "Remove the invisible control characters from this field."),
    ({"title": "t" * 201}, "Keep this to 200 characters or fewer."),
    ({"email": "not-an-email"}, "Enter an email address like name@example.org."),
    ({"email": "a" * 250 + "@example.org"}, "Keep this to 254 characters or fewer."),
    ({"phone": "12"}, "Enter a phone number like (573) 555-0142."),
    ({"languages": None}, "Choose at least one language."),
    ({"languages": ["fr"]}, "Choose from the languages listed."),
    ({"roles": ["boss"]}, "Choose from the roles listed."),
    ({"organisation_id": "999999"}, "Choose an organisation from the list."),
    ({"organisation_id": "abc"}, "Choose an organisation from the list."),
    ({"notes": "n" * 5001}, "Keep this to 5,000 characters or fewer."),
])
def test_create_rejects_invalid_input(client, staff, overrides, message):
    before = (count(Contact), count(AuditEvent))

    response = client.post("/contacts/new", data=valid_form(**overrides))

    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert (count(Contact), count(AuditEvent)) == before


def test_invalid_input_keeps_what_was_typed(client, staff):
    organisation = OrganisationFactory(name="Chosen Org")

    response = client.post(
        "/contacts/new",
        data=valid_form(email="not-an-email", title="Keep This Title", organisation_id=organisation.id,
                        languages=["es"], notes="Line one\nLine two"),
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="not-an-email"' in page
    assert 'value="Keep This Title"' in page
    assert f'<option selected value="{organisation.id}">Chosen Org</option>' in page
    assert '<input checked id="languages-1" name="languages" type="checkbox" value="es">' in page
    assert "Line one\nLine two</textarea>" in page


def test_create_refuses_an_inactive_organisation(client, staff):
    closed = OrganisationFactory(status=RecordStatus.INACTIVE)

    response = client.post("/contacts/new", data=valid_form(organisation_id=closed.id))

    assert response.status_code == 422
    assert "Choose an organisation from the list." in response.get_data(as_text=True)


@pytest.mark.parametrize("email", ["taken@example.org", "TAKEN@Example.org"])
def test_create_refuses_an_email_another_active_contact_uses(client, staff, email):
    ContactFactory(email="taken@example.org")
    before = (count(Contact), count(AuditEvent))

    response = client.post("/contacts/new", data=valid_form(email=email))

    assert response.status_code == 422
    assert "Another contact already uses this email." in response.get_data(as_text=True)
    assert (count(Contact), count(AuditEvent)) == before


def test_an_inactive_contact_does_not_hold_its_email(client, staff):
    ContactFactory(email="reused@example.org", active=False)

    response = client.post("/contacts/new", data=valid_form(email="reused@example.org"))

    assert response.status_code == 302


# --- detail -------------------------------------------------------------------------------


def test_detail_shows_fields_interactions_and_history(client, staff):
    organisation = OrganisationFactory(name="Detail Org", kind=OrganisationKind.COMMUNITY)
    contact = ContactFactory(
        name="Detail Person", organisation=organisation, title="Nurse Lead", languages=["es"], roles=["community"]
    )
    other = ContactFactory(name="Someone Else")
    InteractionFactory(summary="Older meeting about doulas", contacts=[contact])
    newest = InteractionFactory(summary="Newest call about funding", contacts=[contact, other])
    newest.occurred_at = newest.occurred_at.replace(year=newest.occurred_at.year + 1)
    db.session.commit()
    InteractionFactory(summary="Not with this contact", contacts=[other])
    client.post(f"/contacts/{contact.id}/edit", data=valid_form(name="Detail Person", phone="(573) 555-0100"))

    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)

    record, history = page.split("Change history")
    assert "Nurse Lead" not in record  # replaced by the edit
    assert "<td>Nurse Lead</td><td>Program Director</td>" in history  # and shown as it was
    assert "Program Director" in page
    assert "Spanish" in page
    assert "Newest call about funding" in page
    assert page.index("Newest call about funding") < page.index("Older meeting about doulas")
    assert "Not with this contact" not in page
    assert f'/interactions/new?contact_id={contact.id}' in page
    assert f"{staff.name}: changed organisation, job title, email, phone" in history


def test_detail_of_a_missing_contact_is_404(client, staff):
    assert client.get("/contacts/999999").status_code == 404


# --- edit ---------------------------------------------------------------------------------


def test_edit_form_shows_the_current_values(client, staff):
    contact = ContactFactory(name="Edit Me", languages=["es"], roles=["finance"], title="Treasurer")

    page = client.get(f"/contacts/{contact.id}/edit").get_data(as_text=True)

    assert 'value="Edit Me"' in page
    assert 'value="Treasurer"' in page
    assert '<input checked id="languages-1" name="languages" type="checkbox" value="es">' in page
    assert '<input id="languages-0" name="languages" type="checkbox" value="en">' in page
    assert '<input checked id="roles-3" name="roles" type="checkbox" value="finance">' in page


def test_edit_saves_and_audits_only_the_changed_fields(client, staff):
    contact = ContactFactory(name="Old Name", email="same@example.org", languages=["en"], roles=[])

    response = client.post(
        f"/contacts/{contact.id}/edit",
        data=valid_form(name="New Name", email="same@example.org", title="", phone="", notes="",
                        languages=["en"], roles=None, show_on_public_page=None, organisation_id=contact.organisation_id),
    )

    assert response.status_code == 302
    db.session.refresh(contact)
    assert contact.name == "New Name"
    update = events_for(contact.id)[-1]
    assert update.action == "update"
    assert update.changes == {"name": ["Old Name", "New Name"]}


def test_edit_may_keep_its_own_email(client, staff):
    contact = ContactFactory(email="mine@example.org")

    response = client.post(f"/contacts/{contact.id}/edit", data=valid_form(email="MINE@example.org"))

    assert response.status_code == 302


def test_edit_refuses_another_contacts_email(client, staff):
    ContactFactory(email="taken@example.org")
    contact = ContactFactory(name="Unchanged", email="mine@example.org")

    response = client.post(f"/contacts/{contact.id}/edit", data=valid_form(email="Taken@example.org"))

    assert response.status_code == 422
    assert "Another contact already uses this email." in response.get_data(as_text=True)
    db.session.refresh(contact)
    assert contact.email == "mine@example.org"
    assert contact.name == "Unchanged"


def test_edit_keeps_an_organisation_that_has_since_gone_inactive(client, staff):
    organisation = OrganisationFactory(status=RecordStatus.INACTIVE, name="Closed Org")
    contact = ContactFactory(organisation=organisation)

    page = client.get(f"/contacts/{contact.id}/edit").get_data(as_text=True)
    response = client.post(f"/contacts/{contact.id}/edit", data=valid_form(organisation_id=organisation.id))

    assert "Closed Org (inactive)" in page
    assert response.status_code == 302


def test_edit_of_a_missing_contact_is_404(client, staff):
    assert client.get("/contacts/999999/edit").status_code == 404
    assert client.post("/contacts/999999/edit", data=valid_form()).status_code == 404


# --- deactivate / reactivate ----------------------------------------------------------------


def test_deactivate_and_reactivate(client, staff):
    contact = ContactFactory(name="Toggle Person")

    response = client.post(f"/contacts/{contact.id}/deactivate")
    assert response.status_code == 302
    db.session.refresh(contact)
    assert contact.active is False
    assert events_for(contact.id)[-1].changes == {"active": [True, False]}
    assert "Toggle Person is now inactive." in client.get(f"/contacts/{contact.id}").get_data(as_text=True)

    client.post(f"/contacts/{contact.id}/reactivate")
    db.session.refresh(contact)
    assert contact.active is True
    assert events_for(contact.id)[-1].changes == {"active": [False, True]}


def test_reactivate_refuses_when_the_email_is_now_taken(client, staff):
    old = ContactFactory(email="shared@example.org", active=False)
    ContactFactory(email="Shared@example.org")

    response = client.post(f"/contacts/{old.id}/reactivate", follow_redirects=True)

    assert "another active contact already uses" in response.get_data(as_text=True)
    db.session.refresh(old)
    assert old.active is False


def test_deactivate_is_post_only(client, staff):
    contact = ContactFactory()

    assert client.get(f"/contacts/{contact.id}/deactivate").status_code == 405


@pytest.mark.parametrize("action", ["deactivate", "reactivate"])
def test_state_change_on_a_missing_contact_is_404(client, staff, action):
    assert client.post(f"/contacts/999999/{action}").status_code == 404


# --- access ---------------------------------------------------------------------------------


def contact_urls(contact_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", "/contacts/"),
        ("GET", "/contacts/new"),
        ("POST", "/contacts/new"),
        ("GET", f"/contacts/{contact_id}"),
        ("GET", f"/contacts/{contact_id}/edit"),
        ("POST", f"/contacts/{contact_id}/edit"),
        ("POST", f"/contacts/{contact_id}/deactivate"),
        ("POST", f"/contacts/{contact_id}/reactivate"),
    ]


def test_partners_are_refused_everywhere(client, login):
    contact = ContactFactory()
    partner = login(Role.PARTNER, organisation=contact.organisation)

    for method, url in contact_urls(contact.id):
        response = client.open(url, method=method, data=valid_form())
        assert response.status_code == 403, (method, url, partner.role)
    db.session.refresh(contact)
    assert contact.active is True


def test_anonymous_users_are_sent_to_login(client):
    contact = ContactFactory()

    for method, url in contact_urls(contact.id):
        response = client.open(url, method=method, data=valid_form())
        assert response.status_code == 302, (method, url)
        assert response.headers["Location"].startswith("/login"), (method, url)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.STAFF])
def test_every_staff_role_may_use_contacts(client, login, role):
    login(role)

    assert client.get("/contacts/").status_code == 200
    assert client.get("/contacts/new").status_code == 200


# --- hostile input ------------------------------------------------------------------------------

def test_hostile_text_is_saved_or_refused_never_a_server_error(client, staff):
    for text in naughty_sample():
        form = valid_form(name=text, title=text[:200], notes=text, email=None, phone=None)
        response = client.post("/contacts/new", data=form)
        assert response.status_code in (302, 422), repr(text)
        assert client.get("/contacts/", query_string={"q": text}).status_code in (200, 422), repr(text)

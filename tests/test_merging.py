"""Possible duplicates and merging two contacts or two organisations (crm.merging)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Column, ForeignKey, Integer, Table, func, inspect, select

from crm.database import utcnow
from crm.extensions import db
from crm.merging import references, services
from crm.models import (
    AccountToken,
    AuditEvent,
    Contact,
    Inquiry,
    InquiryPass,
    Organisation,
    PassReason,
    RecordStatus,
    Role,
    RoutingRule,
    TokenPurpose,
    Topic,
    User,
)
from tests import factories


def _version(client: FlaskClient, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="version" value="([0-9a-f]+)"', page).group(1)


def _rows(reference: references.Reference, record_id: int) -> int:
    return references.count(reference, record_id)


def _token(**fields) -> AccountToken:
    now = utcnow()
    return AccountToken(
        purpose=TokenPurpose.INVITE,
        role=Role.PARTNER,
        token_hash=f"{fields.pop('seed', 1):064d}",
        email="invited@example.org",
        created_at=now,
        expires_at=now + timedelta(days=7),
        **fields,
    )


# --- which columns move ------------------------------------------------------------------


@pytest.mark.parametrize("model", [Contact, Organisation])
def test_the_mover_covers_every_foreign_key_the_database_has(app, model) -> None:
    """The references read from the models are the foreign keys the database itself reports."""
    target = model.__tablename__
    inspector = inspect(db.session.connection())
    in_database = sorted(
        f"{table}.{column}"
        for table in inspector.get_table_names()
        for key in inspector.get_foreign_keys(table)
        if key["referred_table"] == target
        for column in key["constrained_columns"]
    )
    assert [reference.label for reference in references.references_to(model.__table__)] == in_database


def test_a_new_foreign_key_is_moved_without_a_change_to_the_mover(app) -> None:
    probe = Table(
        "merge_probe",
        db.metadata,
        Column("id", Integer, primary_key=True),
        Column("contact_id", ForeignKey("contacts.id")),
    )
    try:
        found = {reference.label: reference.kind for reference in references.references_to(Contact.__table__)}
        assert found["merge_probe.contact_id"] is references.Kind.PLAIN
    finally:
        db.metadata.remove(probe)
    assert "merge_probe.contact_id" not in {r.label for r in references.references_to(Contact.__table__)}


def test_unique_keys_decide_how_rows_move(app) -> None:
    kinds = {r.label: (r.kind, r.together_with) for r in references.references_to(Contact.__table__)}
    assert kinds["users.contact_id"] == (references.Kind.ONE_PER_RECORD, ())
    assert kinds["interaction_contacts.contact_id"] == (references.Kind.SHARED, ("interaction_id",))
    assert kinds["inquiries.assigned_contact_id"] == (references.Kind.PLAIN, ())


# --- possible duplicates -----------------------------------------------------------------


def test_possible_duplicate_contacts_are_listed_with_score_and_reason(client: FlaskClient, login) -> None:
    login(Role.STAFF)
    north = factories.OrganisationFactory(name="North Families")
    factories.ContactFactory(name="Nora North", email="nora@north.example.org", organisation=north)
    factories.ContactFactory(name="North, Nora", email="", organisation=north)
    factories.ContactFactory(name="Old Nora", email="NORA@north.example.org", organisation=None, active=False)
    factories.ContactFactory(name="Phone One", email="", phone="(573) 555-0199", organisation=None)
    factories.ContactFactory(name="Phone Two", email="", phone="+1 573 555 0199", organisation=None)
    merged = factories.ContactFactory(name="Nora Northe", email="", organisation=north)
    merged.merged_into_id = db.session.scalar(select(Contact.id).where(Contact.name == "Nora North"))
    db.session.commit()

    page = client.get("/contacts/duplicates")

    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert text.count("Compare and merge") == 3
    assert "same email" in text
    assert "same phone" in text
    assert "similar name" in text
    assert "Nora Northe" not in text


def test_possible_duplicate_organisations(client: FlaskClient, login) -> None:
    login(Role.MANAGER)
    factories.OrganisationFactory(name="Bootheel Babies & Families")
    factories.OrganisationFactory(name="Bootheel Babies and Families")
    factories.OrganisationFactory(name="South Start")

    text = client.get("/organisations/duplicates").get_data(as_text=True)

    assert text.count("Compare and merge") == 1
    assert "South Start" not in text


def test_the_databases_blocking_loses_no_pair(app) -> None:
    """contact_duplicates loads only contacts that can pair; it finds what the rules find over all."""
    from crm.merging import duplicates

    north, south, alone = (
        factories.OrganisationFactory(),
        factories.OrganisationFactory(),
        factories.OrganisationFactory(),
    )
    factories.ContactFactory(name="Nora North", email="nora@x.org", organisation=north)
    factories.ContactFactory(name="Nora North", email="", organisation=north)
    factories.ContactFactory(name="Sam South", email="SAM@x.org", organisation=south)
    factories.ContactFactory(name="Samuel", email="sam@x.org", organisation=None, active=False)
    factories.ContactFactory(name="Only One", email="only@x.org", organisation=alone)
    factories.ContactFactory(name="Call Me", email="", phone="573-555-0100", organisation=None)
    factories.ContactFactory(name="Call Me Too", email="", phone="5735550100", organisation=None)
    factories.ContactFactory(name="No Org", email="noorg@x.org", organisation=None)
    every = [
        duplicates.ContactRow(*row)
        for row in db.session.execute(
            select(Contact.id, Contact.name, Contact.email, Contact.phone, Contact.organisation_id)
        )
    ]
    threshold = app.config["DUPLICATE_NAME_THRESHOLD"]

    found = services.contact_duplicates()

    assert found == duplicates.contact_pairs(every, threshold)
    assert len(found) == 3


def test_duplicates_read_only_the_rule_columns(client: FlaskClient, login, count_queries) -> None:
    login(Role.STAFF)
    north = factories.OrganisationFactory()
    for number in range(30):
        factories.ContactFactory(name=f"Person {number}", organisation=north)
    with count_queries() as counter:
        assert client.get("/contacts/duplicates").status_code == 200
    assert counter.count < 12


# --- merging contacts --------------------------------------------------------------------


@pytest.fixture
def two_contacts(app):
    """A survivor and a loser, with a row pointing at the loser in every table that can."""
    home = factories.OrganisationFactory(name="Home Organisation")
    survivor = factories.ContactFactory(name="Nora North", email="", phone="573 555 0101", organisation=home, title="")
    loser = factories.ContactFactory(
        name="Nora M. North",
        email="nora@north.example.org",
        title="Director",
        organisation=home,
        accepts_inquiries=True,
        is_inquiry_fallback=True,
    )
    topic = Topic(name_en="Home visits", name_es="Visitas", sort_order=1)
    loser.topics = [topic]
    earlier = factories.ContactFactory(name="Nora N.", email="", organisation=home, merged_into_id=None)
    earlier.merged_into_id = loser.id
    home.backup_contact_id = loser.id
    rule = RoutingRule(name="Home visits to Nora", priority=10, target_contact=loser)
    user = factories.UserFactory(role=Role.PARTNER, organisation=home, contact=loser, email="nora.user@example.org")
    inquiry = factories.InquiryFactory(name="Rosa", email="rosa@example.net")
    db.session.add_all([rule, topic, _token(contact=loser, organisation=home)])
    db.session.commit()
    inquiry.assigned_contact_id = loser.id
    inquiry.requester_contact_id = loser.id
    db.session.add(InquiryPass(inquiry=inquiry, contact=loser, moved_to_contact=loser, reason=PassReason.NO_CAPACITY))
    alone = factories.InteractionFactory(organisation=home, contacts=[loser])
    both = factories.InteractionFactory(organisation=home, contacts=[loser, survivor])
    db.session.commit()
    return {
        "survivor": survivor,
        "loser": loser,
        "user": user,
        "topic": topic,
        "interactions": (alone, both),
        "home": home,
    }


def _merge_url(survivor_id: int, loser_id: int, kind: str = "contacts") -> str:
    return f"/{kind}/merge?survivor={survivor_id}&merged={loser_id}"


def test_a_row_in_every_referencing_table_moves_to_the_survivor(client: FlaskClient, login, two_contacts) -> None:
    staff = login(Role.STAFF)
    survivor, loser = two_contacts["survivor"], two_contacts["loser"]
    every = references.references_to(Contact.__table__)
    # The fixture covers every table that can point at a contact: a new one must be added there.
    assert {r.label for r in every if _rows(r, loser.id)} == {r.label for r in every}
    before = {r.label: _rows(r, loser.id) for r in every}
    survivor_id, loser_id = survivor.id, loser.id
    url = _merge_url(survivor_id, loser_id)
    version = _version(client, url)
    choices = {
        "field-name": "survivor",
        "field-email": "merged",
        "field-title": "merged",
        "field-topics": "merged",
        "field-accepts_inquiries": "merged",
        "field-phone": "survivor",
    }

    preview = client.post(
        "/contacts/merge",
        data={
            "survivor": survivor_id,
            "merged": loser_id,
            "version": version,
            "kind": "contacts",
            "step": "preview",
            **choices,
        },
    )
    text = preview.get_data(as_text=True)
    assert preview.status_code == 200, text
    assert "Inquiries assigned" in text
    assert "Already on" in text
    # "Change the choices" goes back to the fields with the choices made.
    back = re.search(r'href="([^"]*)">Change the choices', text).group(1).replace("&amp;", "&")
    # (Takes inquiries: "No" here, "Yes" there; the kept record's value is the default.)
    row = client.get(back).get_data(as_text=True).split('name="field-accepts_inquiries"')[2]
    assert row.startswith(' id="field-accepts_inquiries-merged" value="merged" checked')
    done = client.post(
        "/contacts/merge",
        data={
            "survivor": survivor_id,
            "merged": loser_id,
            "version": version,
            "kind": "contacts",
            "step": "confirm",
            **choices,
        },
    )
    assert done.status_code == 302, done.get_data(as_text=True)

    db.session.expire_all()
    survivor, loser = db.session.get(Contact, survivor_id), db.session.get(Contact, loser_id)
    for reference in every:
        assert _rows(reference, loser_id) == 0, reference.label
    for label in (
        "inquiries.assigned_contact_id",
        "inquiries.requester_contact_id",
        "inquiry_passes.contact_id",
        "inquiry_passes.moved_to_contact_id",
        "routing_rules.target_contact_id",
        "users.contact_id",
        "account_tokens.contact_id",
        "contacts.merged_into_id",
        "organisations.backup_contact_id",
    ):
        reference = next(r for r in every if r.label == label)
        # The merged contact itself now points at the survivor too.
        assert _rows(reference, survivor_id) == before[label] + (label == "contacts.merged_into_id"), label
    # The interaction both were in keeps one link: the duplicate is dropped, the other moves.
    interaction_contacts = next(r for r in every if r.label == "interaction_contacts.contact_id")
    assert _rows(interaction_contacts, survivor_id) == 2
    assert (survivor.name, survivor.email, survivor.title, survivor.phone) == (
        "Nora North",
        "nora@north.example.org",
        "Director",
        "573 555 0101",
    )
    assert [topic.name_en for topic in survivor.topics] == ["Home visits"]
    assert survivor.is_inquiry_fallback
    assert survivor.accepts_inquiries
    assert loser.merged_into_id == survivor_id
    assert not loser.active
    assert not loser.is_inquiry_fallback
    assert db.session.get(User, two_contacts["user"].id).contact_id == survivor_id
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "merge").order_by(AuditEvent.entity_id)
    ).all()
    assert {(event.entity_id, event.actor_id) for event in events} == {
        (str(survivor_id), staff.id),
        (str(loser_id), staff.id),
    }
    moved = events[0].changes["rows moved"][1]
    assert moved["inquiries.assigned_contact_id"] == 1
    assert "Email" in events[0].changes["fields taken from the merged record"][1]


def test_merged_contact_is_hidden_and_points_to_the_survivor(client: FlaskClient, login, two_contacts) -> None:
    login(Role.STAFF)
    survivor, loser = two_contacts["survivor"], two_contacts["loser"]
    survivor_id, loser_id = survivor.id, loser.id
    url = _merge_url(survivor_id, loser_id)
    data = {
        "survivor": survivor_id,
        "merged": loser_id,
        "version": _version(client, url),
        "kind": "contacts",
        "step": "confirm",
    }
    data.update({f"field-{name}": "survivor" for name, _ in services.CONTACTS.fields})
    assert client.post("/contacts/merge", data=data).status_code == 302

    listed = client.get("/contacts/?status=&q=nora").get_data(as_text=True)
    assert "Nora M. North" not in listed
    assert "Nora North" in listed
    page = client.get(f"/contacts/{loser_id}").get_data(as_text=True)
    assert f'href="/contacts/{survivor_id}"' in page
    assert "was merged into" in page
    edit = client.get(f"/contacts/{loser_id}/edit")
    assert edit.status_code == 302
    assert edit.headers["Location"].endswith(f"/contacts/{loser_id}")
    again = client.get(_merge_url(survivor_id, loser_id))
    assert again.status_code == 409
    assert "already merged" in again.get_data(as_text=True)


def test_the_organisation_page_does_not_list_a_merged_contact(client: FlaskClient, login) -> None:
    staff = login(Role.STAFF)
    home = factories.OrganisationFactory(name="Home Organisation")
    kept = factories.ContactFactory(name="Nora North", email="nora@work.example.org", organisation=home)
    merged = factories.ContactFactory(name="Nora M. North", email="nora@home.example.org", organisation=home)
    form = {"version": services.version(kept, merged)}
    form.update({f"field-{name}": "survivor" for name, _ in services.CONTACTS.fields})
    services.merge(services.CONTACTS, kept.id, merged.id, form, staff)

    page = client.get(f"/organisations/{home.id}").get_data(as_text=True)

    assert "Nora North" in page
    assert "Nora M. North" not in page
    assert "nora@home.example.org" not in page


def test_merging_an_active_contact_into_an_inactive_one_keeps_the_person_active(client: FlaskClient, login) -> None:
    """The older record of someone who left and came back is inactive; kept as the survivor, it
    must not quietly take the person, their account and their inquiries out of routing."""
    login(Role.STAFF)
    home = factories.OrganisationFactory(name="Home Organisation")
    old = factories.ContactFactory(name="Nora North", email="nora@old.example.org", organisation=home, active=False)
    new = factories.ContactFactory(name="Nora North", email="nora@new.example.org", organisation=home, accepts_inquiries=True)
    user = factories.UserFactory(role=Role.PARTNER, organisation=home, contact=new, email="nora@new.example.org")
    old_id, new_id, user_id = old.id, new.id, user.id
    url = _merge_url(old_id, new_id)
    page = client.get(url).get_data(as_text=True)
    assert 'id="field-active-merged" value="merged" checked' in page, "the active one is the default"
    data = {"survivor": old_id, "merged": new_id, "version": _version(client, url), "kind": "contacts"}
    data.update({f"field-{name}": "survivor" for name, _ in services.CONTACTS.fields})
    data.update({"field-active": "merged", "field-email": "merged", "field-accepts_inquiries": "merged"})

    preview = client.post("/contacts/merge", data={**data, "step": "preview"})
    done = client.post("/contacts/merge", data={**data, "step": "confirm"})

    assert preview.status_code == 200
    assert "<dt>Active</dt><dd>Yes" in preview.get_data(as_text=True)
    assert done.status_code == 302
    db.session.expire_all()
    kept = db.session.get(Contact, old_id)
    assert (kept.active, kept.email, kept.accepts_inquiries) == (True, "nora@new.example.org", True)
    assert db.session.get(User, user_id).contact_id == old_id


def test_an_active_survivor_must_not_take_an_email_another_active_contact_uses(client: FlaskClient, login) -> None:
    login(Role.STAFF)
    home = factories.OrganisationFactory(name="Home Organisation")
    old = factories.ContactFactory(name="Nora North", email="shared@example.org", organisation=home, active=False)
    factories.ContactFactory(name="Front Desk", email="Shared@example.org", organisation=home)
    new = factories.ContactFactory(name="Nora North", email="nora@new.example.org", organisation=home)
    old_id, new_id = old.id, new.id
    url = _merge_url(old_id, new_id)
    data = {"survivor": old_id, "merged": new_id, "version": _version(client, url), "kind": "contacts"}
    data.update({f"field-{name}": "survivor" for name, _ in services.CONTACTS.fields})
    data["field-active"] = "merged"

    response = client.post("/contacts/merge", data={**data, "step": "confirm"})

    assert response.status_code == 409
    assert "Another active contact already uses shared@example.org" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, new_id).merged_into_id is None
    assert db.session.get(Contact, new_id).active


def test_an_interaction_form_opened_before_the_merge_logs_nothing_on_the_merged_contact(
    client: FlaskClient, login, two_contacts
) -> None:
    """"Log an interaction" opened from the merged contact's page before the merge, sent after
    it: the interaction would hang off a record nobody sees any more."""
    staff = login(Role.STAFF)
    survivor, loser, home = two_contacts["survivor"], two_contacts["loser"], two_contacts["home"]
    loser_id, home_id = loser.id, home.id
    form_url = f"/interactions/new?contact_id={loser_id}"
    assert client.get(form_url).status_code == 200
    merge = {"version": services.version(survivor, loser)}
    merge.update({f"field-{name}": "survivor" for name, _ in services.CONTACTS.fields})
    services.merge(services.CONTACTS, survivor.id, loser_id, merge, staff)
    before = db.session.scalar(select(func.count()).select_from(factories.Interaction))

    response = client.post(
        form_url,
        data={
            "kind": "call",
            "occurred_on": "2026-03-02",
            "occurred_time": "10:00",
            "summary": "Called about the home visits",
            "organisation_id": str(home_id),
            "contacts": str(loser_id),
        },
    )
    merged_org = client.get(f"/interactions/new?organisation_id={home_id}")

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/contacts/{loser_id}")
    assert db.session.scalar(select(func.count()).select_from(factories.Interaction)) == before
    assert merged_org.status_code == 200


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("survivor={a}&merged={a}", 400, "cannot be merged into itself"),
        ("survivor={a}&merged=999999", 404, "does not exist"),
        ("survivor={a}", 400, "by its number"),
        ("survivor=abc&merged={b}", 400, "by its number"),
        ("survivor=99999999999&merged={b}", 400, "by its number"),
        ("", 400, "by its number"),
    ],
)
def test_bad_pairs_get_a_clear_4xx(client: FlaskClient, login, query, status, words) -> None:
    login(Role.STAFF)
    a, b = factories.ContactFactory(), factories.ContactFactory()
    response = client.get("/contacts/merge?" + query.format(a=a.id, b=b.id))
    assert response.status_code == status
    assert words in response.get_data(as_text=True)


def test_stale_form_and_missing_choice_are_refused_and_write_nothing(client: FlaskClient, login, two_contacts) -> None:
    login(Role.STAFF)
    survivor, loser = two_contacts["survivor"], two_contacts["loser"]
    survivor_id, loser_id = survivor.id, loser.id
    version = _version(client, _merge_url(survivor_id, loser_id))
    base = {"survivor": survivor_id, "merged": loser_id, "kind": "contacts", "step": "confirm"}

    missing = client.post("/contacts/merge", data={**base, "version": version})
    assert missing.status_code == 400
    assert "Choose which" in missing.get_data(as_text=True)
    survivor.title = "Changed meanwhile"
    db.session.commit()
    stale = client.post("/contacts/merge", data={**base, "version": version, "field-name": "survivor"})
    assert stale.status_code == 409
    assert "changed since" in stale.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, loser_id).merged_into_id is None
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "merge")) == 0


def test_two_user_accounts_refuse_the_merge(client: FlaskClient, login, two_contacts) -> None:
    login(Role.STAFF)
    survivor, loser = two_contacts["survivor"], two_contacts["loser"]
    factories.UserFactory(
        role=Role.PARTNER, organisation=two_contacts["home"], contact=survivor, email="other@example.org"
    )
    url = _merge_url(survivor.id, loser.id)
    data = {"survivor": survivor.id, "merged": loser.id, "version": _version(client, url)}
    data.update({f"field-{name}": "survivor" for name, _ in services.CONTACTS.fields})

    preview = client.post("/contacts/merge", data={**data, "kind": "contacts", "step": "preview"})
    confirm = client.post("/contacts/merge", data={**data, "kind": "contacts", "step": "confirm"})

    assert preview.status_code == 409
    assert "user account" in preview.get_data(as_text=True)
    assert confirm.status_code == 409
    db.session.expire_all()
    assert db.session.get(Contact, loser.id).merged_into_id is None


def test_partners_may_not_merge(client: FlaskClient, login) -> None:
    login(Role.PARTNER)
    a, b = factories.ContactFactory(), factories.ContactFactory()
    assert client.get(_merge_url(a.id, b.id)).status_code == 403
    assert (
        client.post(
            "/contacts/merge", data={"survivor": a.id, "merged": b.id, "kind": "contacts", "step": "confirm"}
        ).status_code
        == 403
    )
    assert client.get("/contacts/duplicates").status_code == 403


# --- merging organisations ---------------------------------------------------------------


def test_organisation_merge_moves_every_row_and_frees_the_name(client: FlaskClient, login) -> None:
    login(Role.ADMIN)
    survivor = factories.OrganisationFactory(name="Bootheel Babies and Families", city="")
    loser = factories.OrganisationFactory(name="Bootheel Babies & Families", city="Kennett")
    other = factories.OrganisationFactory(name="Elsewhere")
    region, county = factories.RegionFactory(), factories.CountyFactory()
    survivor.regions = [region]
    loser.regions = [region]
    loser.counties = [county]
    earlier = factories.OrganisationFactory(name="Bootheel Babies")
    contact = factories.ContactFactory(organisation=loser)
    factories.GrantFactory(organisation=loser)
    factories.HolidayCalendarFactory(organisation=loser)
    factories.InteractionFactory(organisation=loser)
    factories.UserFactory(role=Role.PARTNER, organisation=loser)
    inquiry = factories.InquiryFactory(name="Rosa", email="rosa@example.net")
    db.session.add_all(
        [RoutingRule(name="To the Bootheel", priority=5, target_organisation=loser), _token(organisation=loser, seed=2)]
    )
    db.session.commit()
    earlier.merged_into_id = loser.id
    inquiry.organisation_id = loser.id
    inquiry.outcome_organisation_id = loser.id
    db.session.commit()
    every = references.references_to(Organisation.__table__)
    assert {r.label for r in every if _rows(r, loser.id)} == {r.label for r in every}
    survivor_id, loser_id = survivor.id, loser.id
    version = _version(client, _merge_url(survivor_id, loser_id, "organisations"))
    data = {
        "survivor": survivor_id,
        "merged": loser_id,
        "kind": "organisations",
        "version": version,
        "field-name": "merged",
        "field-city": "merged",
    }

    preview = client.post("/organisations/merge", data={**data, "step": "preview"})
    assert preview.status_code == 200, preview.get_data(as_text=True)
    assert "Regions served" in preview.get_data(as_text=True)
    done = client.post("/organisations/merge", data={**data, "step": "confirm"})
    assert done.status_code == 302, done.get_data(as_text=True)

    db.session.expire_all()
    for reference in every:
        assert _rows(reference, loser_id) == 0, reference.label
    survivor, loser = db.session.get(Organisation, survivor_id), db.session.get(Organisation, loser_id)
    assert (survivor.name, survivor.city) == ("Bootheel Babies & Families", "Kennett")
    assert [r.name for r in survivor.regions] == [region.name]
    assert [c.fips for c in survivor.counties] == [county.fips]
    assert db.session.get(Contact, contact.id).organisation_id == survivor_id
    assert loser.merged_into_id == survivor_id
    assert loser.status is RecordStatus.INACTIVE
    assert db.session.get(Inquiry, inquiry.id).outcome_organisation_id == survivor_id
    assert other.id not in {survivor_id, loser_id}
    listed = client.get("/organisations/?q=bootheel").get_data(as_text=True)
    assert f'/organisations/{loser_id}"' not in listed
    assert f'/organisations/{survivor_id}"' in listed


def test_a_form_for_organisations_is_not_taken_as_one_for_contacts(client: FlaskClient, login) -> None:
    login(Role.STAFF)
    a, b = factories.ContactFactory(), factories.ContactFactory()
    data = {"survivor": a.id, "merged": b.id, "version": _version(client, _merge_url(a.id, b.id)), "step": "confirm"}

    response = client.post("/contacts/merge", data={**data, "kind": "organisations"})

    assert response.status_code == 400
    assert "merges contacts" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, b.id).merged_into_id is None


def test_reimporting_a_merged_records_rows_updates_the_survivor(app) -> None:
    from crm.imports import services as imports
    from crm.imports.kinds import ORGANISATIONS
    from crm.imports.reading import read_file

    staff = factories.UserFactory(role=Role.STAFF)
    survivor = factories.OrganisationFactory(name="Ozark Doulas", external_id="ORG-1")
    loser = factories.OrganisationFactory(name="Ozark Doulas Collective", external_id="ORG-2")
    form = {"version": services.version(survivor, loser), "field-name": "merged", "field-external_id": "merged"}
    services.merge(services.ORGANISATIONS, survivor.id, loser.id, form, staff)
    assert (survivor.external_id, loser.external_id) == ("ORG-2", "ORG-1"), "the two ids swap"

    sheet = read_file(
        b"ID,Name,City\r\nORG-1,Ozark Doulas Collective,West Plains\r\nORG-2,Ozark Doulas Collective,West Plains\r\n"
    )
    mapping = imports.suggested_mapping(ORGANISATIONS, sheet.headings)
    result = imports.run(ORGANISATIONS, sheet, mapping, staff, filename="partners.csv", dry_run=False)

    assert result.counts["create"] == 0
    assert result.counts["refused"] == 1, "both rows are the same record now"
    db.session.expire_all()
    assert db.session.get(Organisation, survivor.id).city == "West Plains"
    assert db.session.scalar(select(func.count()).select_from(Organisation)) == 2


def test_reimporting_rows_matched_by_email_or_name_does_not_bring_a_merged_record_back(app) -> None:
    """Without external ids, rows are matched by a contact's email or an organisation's name:
    the merged record's email or name still finds the record it was merged into."""
    from crm.imports import services as imports
    from crm.imports.kinds import CONTACTS, INTERACTIONS, ORGANISATIONS
    from crm.imports.reading import read_file

    staff = factories.UserFactory(role=Role.STAFF)
    partners = b"Name,City\r\nOzark Doulas,West Plains\r\nOzark Doula Collective,West Plains\r\n"
    people = (
        b"Name,Organisation,Email\r\n"
        b"Nora North,Ozark Doulas,nora@work.example.org\r\n"
        b"Nora M. North,Ozark Doulas,nora@home.example.org\r\n"
    )

    def run(kind, data: bytes):
        sheet = read_file(data)
        return imports.run(
            kind, sheet, imports.suggested_mapping(kind, sheet.headings), staff, filename="f.csv", dry_run=False
        )

    run(ORGANISATIONS, partners)
    kept, merged = db.session.scalars(select(Organisation).order_by(Organisation.id)).all()
    form = {"version": services.version(kept, merged)}
    form.update({f"field-{name}": "survivor" for name, _ in services.ORGANISATIONS.fields})
    services.merge(services.ORGANISATIONS, kept.id, merged.id, form, staff)
    run(CONTACTS, people)
    nora, nora_again = db.session.scalars(select(Contact).order_by(Contact.id)).all()
    form = {"version": services.version(nora, nora_again)}
    form.update({f"field-{name}": "survivor" for name, _ in services.CONTACTS.fields})
    services.merge(services.CONTACTS, nora.id, nora_again.id, form, staff)

    again = run(ORGANISATIONS, partners)
    people_again = run(CONTACTS, people)
    meeting = run(
        INTERACTIONS,
        b"Type,Date,Organisation,Summary,Contacts\r\nmeeting,2026-03-02,Ozark Doula Collective,Visit,nora@home.example.org\r\n",
    )

    assert again.counts["create"] == 0
    assert people_again.counts["create"] == 0
    assert meeting.counts["create"] == 1, meeting.outcomes
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Organisation)) == 2
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 2
    interaction = db.session.scalars(select(factories.Interaction)).one()
    assert interaction.organisation_id == kept.id
    assert [contact.id for contact in interaction.contacts] == [nora.id]


def test_a_merged_contacts_email_finds_the_contact_it_was_merged_into(client: FlaskClient, login) -> None:
    """A family writing from the merged contact's email, or a user invited with it, is that
    person: linked to the contact kept, not given a new contact that brings the duplicate back."""
    from crm.auth.services import link_contact

    staff = login(Role.STAFF)
    kept = factories.ContactFactory(name="Nora North", email="nora@work.example.org")
    merged = factories.ContactFactory(name="Nora M. North", email="Nora@Home.example.org", organisation=kept.organisation)
    kept_id, merged_id = kept.id, merged.id
    form = {"version": services.version(kept, merged)}
    form.update({f"field-{name}": "survivor" for name, _ in services.CONTACTS.fields})
    services.merge(services.CONTACTS, kept_id, merged_id, form, staff)
    inquiry = factories.InquiryFactory(name="Nora", email="nora@home.example.org")
    contacts_before = db.session.scalar(select(func.count()).select_from(Contact))

    assert client.post(f"/inquiries/{inquiry.id}/link-contact").status_code == 302
    user = factories.UserFactory(role=Role.STAFF, email="nora@home.example.org")
    link_contact(user)
    db.session.commit()

    db.session.expire_all()
    assert db.session.get(Inquiry, inquiry.id).requester_contact_id == kept_id
    assert db.session.scalar(select(func.count()).select_from(Contact)) == contacts_before
    assert user.contact_id == kept_id


def test_api_lists_leave_merged_records_out_and_refuse_changes(client: FlaskClient) -> None:
    from tests.api_support import bearer, user_with_token

    _user, secret = user_with_token(Role.STAFF)
    kept, merged = factories.ContactFactory(), factories.ContactFactory()
    merged.merged_into_id = kept.id
    db.session.commit()

    listed = client.get("/api/v1/contacts?limit=100", headers=bearer(secret)).get_json()
    changed = client.patch(f"/api/v1/contacts/{merged.id}", json={"title": "Director"}, headers=bearer(secret))

    ids = {item["id"] for item in listed["items"]}
    assert kept.id in ids
    assert merged.id not in ids
    assert changed.status_code == 409
    assert f"merged into contact {kept.id}" in changed.get_json()["detail"]

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import AuditEvent, Organisation, RecordStatus, Role
from tests.factories import InteractionFactory, OrganisationFactory, RegionFactory

VALID = {
    "name": "Pemiscot Parents Network",
    "kind": "community",
    "description": "Parent circles in Caruthersville.",
    "website": "pemiscot-parents.example.org",
    "email": "Hello@Pemiscot-Parents.example.org",
    "phone": "573 555 0142",
    "address_line": "1 Main St",
    "city": "Caruthersville",
    "state": "mo",
    "postal_code": "63830",
}


def organisation_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Organisation))


def test_staff_create_an_organisation_and_it_is_audited(client, login):
    user = login(Role.STAFF)
    region = RegionFactory(name="Bootheel")
    response = client.post("/organisations/new", data={**VALID, "regions": [str(region.id)]})
    assert response.status_code == 302
    organisation = db.session.scalar(select(Organisation).where(Organisation.name == VALID["name"]))
    assert response.headers["Location"] == f"/organisations/{organisation.id}"
    assert organisation.website == "https://pemiscot-parents.example.org"
    assert organisation.email == "Hello@pemiscot-parents.example.org"
    assert organisation.phone == "(573) 555-0142"
    assert organisation.state == "MO"
    assert [r.name for r in organisation.regions] == ["Bootheel"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.entity_type == "Organisation"))
    assert (event.action, event.actor_id) == ("create", user.id)
    assert event.changes["regions"] == [None, ["Bootheel"]]


def test_editing_records_before_and_after(client, login):
    login(Role.STAFF)
    organisation = OrganisationFactory(name="Old Name", city="Kennett")
    response = client.post(f"/organisations/{organisation.id}/edit", data={**VALID, "name": "New Name"})
    assert response.status_code == 302
    update = db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_id == str(organisation.id), AuditEvent.action == "update")
    ).one()
    assert update.changes["name"] == ["Old Name", "New Name"]
    assert update.changes["city"] == ["Kennett", "Caruthersville"]


@pytest.mark.parametrize("existing", ["Generate Health", "generate health", "  GENERATE   Health "])
def test_duplicate_names_are_refused_whatever_the_case(client, login, existing):
    login(Role.STAFF)
    OrganisationFactory(name="Generate Health")
    before = organisation_count()
    response = client.post("/organisations/new", data={**VALID, "name": existing.upper()})
    assert response.status_code == 422
    assert b"already exists" in response.data
    assert organisation_count() == before


@pytest.mark.parametrize("name", ["ß" * 200, "Straße " * 28, "ﬃ" * 100], ids=["sharp-s", "words", "ligature"])
def test_a_name_whose_case_folded_form_outgrows_its_column_is_refused(client, login, name):
    # Uniqueness is checked on the case-folded name, which spells ß as ss and ﬃ as ffi: a name
    # within 200 characters can fold to more, which PostgreSQL refused at the insert (a 500).
    login(Role.STAFF)
    before = organisation_count()
    response = client.post("/organisations/new", data={**VALID, "name": name})
    assert response.status_code == 422
    assert "Shorten the name" in response.get_data(as_text=True)
    assert VALID["description"] in response.get_data(as_text=True)
    assert organisation_count() == before


def test_a_long_name_that_folds_within_its_column_is_saved(client, login):
    login(Role.STAFF)
    name = "ß" * 100  # 100 characters, 200 folded: the most the column holds
    response = client.post("/organisations/new", data={**VALID, "name": name})
    assert response.status_code == 302
    assert db.session.scalar(select(Organisation.name).where(Organisation.name_key == "ss" * 100)) == name


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "Enter the organisation"),
        ("name", "x" * 201, "200 characters"),
        ("name", "Bad\x00Name", "control characters"),
        ("email", "not-an-email", "email address"),
        ("phone", "12", "phone number"),
        ("website", "ht!tp://nope", "web address"),
        ("postal_code", "ABCDE", "ZIP code"),
        ("state", "Missouri", "two-letter"),
        ("kind", "emperor", "Choose from the list."),
        ("description_es", "x" * 5001, "Keep this to 5,000 characters or fewer."),
        ("description_es", "Hola\x00", "control characters"),
        # PostgreSQL refuses a NUL in text: each of these reached the database and failed there.
        ("description", "Parent\x00circles", "control characters"),
        ("website", "https://pemiscot\x00parents.example.org", "control characters"),
        ("state", "M\x00", "control characters"),
    ],
)
def test_bad_input_gets_a_message_at_the_field_and_nothing_is_written(client, login, field, value, message):
    login(Role.STAFF)
    before = organisation_count()
    response = client.post("/organisations/new", data={**VALID, field: value})
    assert response.status_code == 422
    assert message.encode() in response.data
    assert organisation_count() == before
    if field != "kind" and "\x00" not in value:
        # What the person typed is kept in the form.
        assert VALID["description"].encode() in response.data


def test_the_spanish_description_is_saved_audited_and_shown(client, login):
    user = login(Role.STAFF)
    spanish = "Círculos de padres en Caruthersville."
    response = client.post("/organisations/new", data={**VALID, "description_es": f"  {spanish}\n"})
    assert response.status_code == 302
    organisation = db.session.scalar(select(Organisation).where(Organisation.name == VALID["name"]))
    assert organisation.description_es == spanish
    created = db.session.scalar(select(AuditEvent).where(AuditEvent.entity_id == str(organisation.id)))
    assert (created.action, created.actor_id) == ("create", user.id)
    assert created.changes["description_es"] == [None, spanish]

    page = client.get(f"/organisations/{organisation.id}").get_data(as_text=True)
    assert f'<dd lang="es">{spanish}</dd>' in page
    form = client.get(f"/organisations/{organisation.id}/edit").get_data(as_text=True)
    assert re.search(r'<textarea[^>]*id="description_es"[^>]*lang="es"[^>]*>\s*' + re.escape(spanish), form)

    response = client.post(f"/organisations/{organisation.id}/edit", data={**VALID, "description_es": ""})
    assert response.status_code == 302
    update = db.session.scalar(
        select(AuditEvent).where(AuditEvent.entity_id == str(organisation.id), AuditEvent.action == "update")
    )
    assert update.changes["description_es"] == [spanish, ""]
    assert "Description in Spanish" not in client.get(f"/organisations/{organisation.id}").get_data(as_text=True)


def test_an_over_long_spanish_description_is_refused_and_the_rest_kept(client, login):
    login(Role.STAFF)
    organisation = OrganisationFactory(name="Kept Name", description_es="Antes.")
    response = client.post(
        f"/organisations/{organisation.id}/edit",
        data={**VALID, "name": "Kept Name", "description_es": "á" * 5001},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'<p class="error" id="description_es-error">Keep this to 5,000 characters or fewer.</p>', page)
    assert VALID["description"] in page
    db.session.expire_all()
    assert db.session.get(Organisation, organisation.id).description_es == "Antes."


def test_unknown_region_ids_are_refused(client, login):
    login(Role.STAFF)
    response = client.post("/organisations/new", data={**VALID, "regions": ["999999"]})
    assert response.status_code == 422


def test_list_search_finds_words_of_a_description_and_city_as_stored(client, login):
    # The name is matched on its casefolded key, the description and city as the database
    # lowers them: "Weiß" must find both, not look for "weiss" in the description.
    login(Role.STAFF)
    OrganisationFactory(name="Haus Weiß")
    OrganisationFactory(name="Midwives", description="Hebamme Weiß visits at home")
    OrganisationFactory(name="Elsewhere", description="Weiss and partners")

    page = client.get("/organisations/", query_string={"q": "Weiß"}).get_data(as_text=True)

    assert "Haus Weiß" in page
    assert "Midwives" in page
    assert "Elsewhere" not in page


def test_list_search_filters_and_pagination(client, login, app):
    login(Role.STAFF)
    bootheel = RegionFactory(name="Bootheel")
    OrganisationFactory(name="Bootheel Babies & Families", regions=[bootheel], kind="backbone")
    OrganisationFactory(name="Generate Health", kind="backbone")
    OrganisationFactory(name="Sleepy Partner", status=RecordStatus.INACTIVE)
    OrganisationFactory(name="100% Literal_Match")

    def names(query: str) -> str:
        return client.get(f"/organisations/?{query}").get_data(as_text=True)

    assert "Generate Health" in names("q=generate")
    assert "Bootheel Babies" not in names("q=generate")
    assert "Bootheel Babies" in names(f"region={bootheel.id}")
    assert "Generate Health" not in names(f"region={bootheel.id}")
    assert "Sleepy Partner" not in names("")
    assert "Sleepy Partner" in names("status=inactive")
    assert "Literal_Match" in names("q=100%25")
    assert "Generate Health" not in names("q=%25")
    assert client.get("/organisations/?region=abc&kind=zzz").status_code == 422
    assert client.get("/organisations/?page=-4").status_code == 400  # no such page: said plainly

    app.config["PAGE_SIZE"] = 2
    try:
        first, second = names("status="), names("status=&page=2")
        assert "Page 1 of 2" in first
        assert "Page 2 of 2" in second
        assert client.get("/organisations/?page=999").status_code == 200
    finally:
        app.config["PAGE_SIZE"] = 25


def test_detail_shows_contacts_grants_and_timeline_with_last_touch(client, login):
    login(Role.STAFF)
    organisation = OrganisationFactory(name="Timeline Org")
    InteractionFactory(organisation=organisation, summary="First call about the pilot")
    page = client.get(f"/organisations/{organisation.id}").get_data(as_text=True)
    assert "First call about the pilot" in page
    assert "Last touch:" in page
    assert "never" not in page.split("Last touch:")[1][:40]


def test_deactivate_and_reactivate(client, login):
    login(Role.STAFF)
    organisation = OrganisationFactory()
    assert client.post(f"/organisations/{organisation.id}/deactivate").status_code == 302
    assert organisation.status is RecordStatus.INACTIVE
    assert client.post(f"/organisations/{organisation.id}/reactivate").status_code == 302
    assert organisation.status is RecordStatus.ACTIVE
    assert client.get(f"/organisations/{organisation.id}/deactivate").status_code == 405


@pytest.mark.parametrize("path", ["/organisations/999999", "/organisations/999999/edit", "/organisations/99999999999"])
def test_missing_organisation_is_a_404(client, login, path):
    login(Role.STAFF)
    assert client.get(path).status_code == 404


def test_partner_sees_only_their_own_organisation(client, login):
    partner = login(Role.PARTNER)
    other = OrganisationFactory()
    assert client.get(f"/organisations/{partner.organisation_id}").status_code == 200
    assert client.get(f"/organisations/{other.id}").status_code == 404
    assert client.get("/organisations/").status_code == 403
    assert client.get(f"/organisations/{partner.organisation_id}/edit").status_code == 403


def test_list_query_count_does_not_grow_with_rows(client, login, count_queries):
    login(Role.STAFF)
    region = RegionFactory(name="Bootheel")
    for _ in range(3):
        OrganisationFactory(regions=[region])
    with count_queries() as few:
        client.get("/organisations/")
    for _ in range(12):
        OrganisationFactory(regions=[region])
    with count_queries() as many:
        client.get("/organisations/")
    assert many.count == few.count

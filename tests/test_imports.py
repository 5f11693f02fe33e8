"""Importing spreadsheets: messy files built here (CSV bytes, xlsx written with openpyxl), dry
run against the real thing, a second import that changes nothing, every bad file, the pages
and the command."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from crm.csv_export import csv_response_bytes
from crm.extensions import db
from crm.imports import services
from crm.imports.kinds import CONTACTS, GRANTS, INTERACTIONS, ORGANISATIONS
from crm.imports.reading import ImportFileError, read_file
from crm.models import AuditEvent, Contact, Grant, ImportMapping, ImportUpload, Interaction, Organisation, Role
from crm.timezones import local_time
from tests import factories


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.replace("\n", "\r\n").encode(encoding)


def xlsx_bytes(rows: list[list], *, title: str | None = None, merge_title: bool = True) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    if title is not None:
        sheet.append([title])
        if merge_title:
            sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(rows[0]))
        sheet.append([])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def run(kind, content: bytes, *, dry_run: bool, mapping: dict | None = None, actor=None, filename="file.csv"):
    sheet = read_file(content)
    mapping = mapping if mapping is not None else services.suggested_mapping(kind, sheet.headings)
    assert services.mapping_problems(kind, sheet.headings, mapping) == []
    return services.run(kind, sheet, mapping, actor, filename=filename, dry_run=dry_run)


ORGANISATIONS_CSV = """Organization Name;Type;Website;Phone;City;ZIP
Bootheel Babies;Grantee;bootheelbabies.org;573-555-0142;Kennett;63857
Ozark Doulas;Community partner;;;West Plains;65775
bootheel babies;grantee;;;Kennett;63857
;Grantee;;;;
Bad Phone Org;Grantee;;12;;
"""


def test_organisations_dry_run_then_real_then_again_changes_nothing(app) -> None:
    user = factories.UserFactory(role=Role.STAFF)
    content = csv_bytes(ORGANISATIONS_CSV)

    preview = run(ORGANISATIONS, content, dry_run=True)
    actions = [(outcome.number, outcome.action) for outcome in preview.outcomes]
    assert actions == [(2, "create"), (3, "create"), (4, "refused"), (5, "refused"), (6, "refused")]
    reasons = {outcome.number: outcome.reason for outcome in preview.refused}
    assert "Same as row 2" in reasons[4]
    assert "Name:" in reasons[5]
    assert "Phone:" in reasons[6]
    assert count(Organisation) == 0, "a dry run writes nothing"

    done = run(ORGANISATIONS, content, dry_run=False, actor=user, filename="partners.csv")
    assert done.counts == {"create": 2, "update": 0, "unchanged": 0, "refused": 3}
    bootheel = db.session.scalar(select(Organisation).where(Organisation.name == "Bootheel Babies"))
    assert bootheel.website == "https://bootheelbabies.org"
    assert bootheel.phone == "(573) 555-0142"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "import"))
    assert event.changes == {"file": "partners.csv", "create": 2, "update": 0, "unchanged": 0, "refused": 3}
    assert event.actor_id == user.id
    events_before = count(AuditEvent)

    again = run(ORGANISATIONS, content, dry_run=False, actor=user)
    assert again.counts == {"create": 0, "update": 0, "unchanged": 2, "refused": 3}
    assert count(Organisation) == 2
    assert count(AuditEvent) == events_before + 1, "only the import's own event"


def test_organisation_update_by_external_id_and_name(app) -> None:
    factories.OrganisationFactory(name="Ozark Doulas", city="Old Town")
    content = csv_bytes("ID,Name,City\nORG-1,OZARK DOULAS,West Plains\n")
    result = run(ORGANISATIONS, content, dry_run=False)
    assert result.counts["update"] == 1
    organisation = db.session.scalar(select(Organisation))
    assert (organisation.city, organisation.external_id, organisation.name) == ("West Plains", "ORG-1", "OZARK DOULAS")
    renamed = run(ORGANISATIONS, csv_bytes("ID,Name\nORG-1,Ozark Doulas Collective\n"), dry_run=False)
    assert renamed.counts["update"] == 1
    assert db.session.scalar(select(Organisation.name)) == "Ozark Doulas Collective"
    assert db.session.scalar(select(Organisation.city)) == "West Plains", "a column left out keeps its value"


def test_contacts_match_by_email_and_link_organisations(app) -> None:
    home = factories.OrganisationFactory(name="North Families")
    factories.ContactFactory(name="Nora Old", email="nora@north.example.org", organisation=home)
    content = xlsx_bytes(
        [
            ["Full name", "E-mail", "Organization", "Title"],
            ["Nora North", "NORA@north.example.org", "north families", "Director"],
            ["Ned North", "ned@north.example.org", "North Families", None],
            ["Nobody", "nobody@example.org", "No Such Org", None],
            ["Ned Again", "ned@north.example.org", "North Families", None],
        ],
        title="Contacts exported 3/1/2026",
    )
    preview = run(CONTACTS, content, dry_run=True, filename="contacts.xlsx")
    assert [outcome.action for outcome in preview.outcomes] == ["update", "create", "refused", "refused"]
    assert "No organisation is called" in preview.outcomes[2].reason
    assert "Same as row 5 (the same email)" in preview.outcomes[3].reason, "rows are numbered as in the file"
    assert preview.outcomes[0].number == 4, "the title row and a blank row sit above the headings"
    run(CONTACTS, content, dry_run=False)
    # The address is kept as written (as the contact form keeps it) and matched ignoring case.
    nora = db.session.scalar(select(Contact).where(func.lower(Contact.email) == "nora@north.example.org"))
    assert (nora.name, nora.title) == ("Nora North", "Director")
    assert count(Contact) == 2
    again = run(CONTACTS, content, dry_run=True)
    assert again.counts == {"create": 0, "update": 0, "unchanged": 2, "refused": 2}


# A date cell comes out of openpyxl as a naive datetime: a spreadsheet has no time zones.
SPREADSHEET_NEW_YEAR = datetime(2026, 1, 1)  # noqa: DTZ001


def test_grants_with_dates_money_and_reports(app) -> None:
    factories.OrganisationFactory(name="South Start")
    content = xlsx_bytes(
        [
            ["Grant ID", "Grantee", "Program", "Amount", "Start", "End", "Reports due"],
            ["G-1", "South Start", "Doulas", "$25,000.50", "March 3, 2026", "3/2/2027", "2026-09-30; Mar 31, 2027"],
            ["G-2", "South Start", "Home visits", 12000, SPREADSHEET_NEW_YEAR, 46387, None],
            ["G-3", "South Start", "Bad", "lots", "2026-13-01", "soon", None],
        ]
    )
    preview = run(GRANTS, content, dry_run=True)
    assert [outcome.action for outcome in preview.outcomes] == ["create", "create", "refused"]
    assert "Amount" in preview.outcomes[2].reason
    assert "Start date" in preview.outcomes[2].reason
    run(GRANTS, content, dry_run=False)
    first = db.session.scalar(select(Grant).where(Grant.external_id == "G-1"))
    assert first.amount == Decimal("25000.50")
    assert (first.start_date, first.end_date) == (date(2026, 3, 3), date(2027, 3, 2))
    assert [report.due_on for report in first.reports] == [date(2026, 9, 30), date(2027, 3, 31)]
    second = db.session.scalar(select(Grant).where(Grant.external_id == "G-2"))
    assert second.end_date == date(2026, 12, 31), "46387 is Excel's serial for 2026-12-31"
    assert run(GRANTS, content, dry_run=True).counts["unchanged"] == 2


def test_grants_whose_program_has_letters_beyond_ascii_are_found_again(app) -> None:
    factories.OrganisationFactory(name="South Start")
    content = csv_bytes(
        "Grantee,Program,Amount,Start,End\n"
        "South Start,Straße zur Geburt,1000,2026-01-01,2026-12-31\n"
        "South Start,ÉVEIL Familias,1000,2026-01-01,2026-12-31\n"
    )
    assert run(GRANTS, content, dry_run=False).counts["create"] == 2
    again = run(GRANTS, content, dry_run=False)
    assert again.counts == {"create": 0, "update": 0, "unchanged": 2, "refused": 0}
    assert count(Grant) == 2


def test_an_amount_with_a_decimal_comma_is_refused_not_read_a_hundred_times_larger(app) -> None:
    # Excel where the decimal mark is a comma saves CSV with semicolons, and amounts so.
    factories.OrganisationFactory(name="South Start")
    content = csv_bytes(
        "Grantee;Program;Amount;Start;End\n"
        "South Start;Doulas;25000,50;2026-01-01;2026-12-31\n"
        "South Start;Home visits;25.000,50;2026-01-01;2026-12-31\n"
    )
    result = run(GRANTS, content, dry_run=False)
    assert [outcome.action for outcome in result.outcomes] == ["refused", "refused"]
    assert all("Amount" in outcome.reason for outcome in result.outcomes)
    assert count(Grant) == 0


def test_interactions_with_contacts(app) -> None:
    home = factories.OrganisationFactory(name="North Families")
    factories.ContactFactory(name="Nora", email="nora@north.example.org", organisation=home)
    content = csv_bytes(
        "Type,Date,Time,Summary,Organization,Contact emails\n"
        "Call,2026-01-05,2:30 PM,Talked about the doula program,North Families,nora@north.example.org\n"
        "Meeting,1/6/2026,,Quarterly review,North Families,\n"
        "Dance,2026-01-07,,?,North Families,\n"
    )
    run(INTERACTIONS, content, dry_run=False)
    assert count(Interaction) == 2
    call = db.session.scalar(select(Interaction).where(Interaction.summary.like("Talked%")))
    assert [contact.name for contact in call.contacts] == ["Nora"]
    assert run(INTERACTIONS, content, dry_run=True).counts == {"create": 0, "update": 0, "unchanged": 2, "refused": 1}


def test_interactions_whose_date_cell_gives_the_time_are_logged_at_that_time(app) -> None:
    # Another system's export: one "Date" column with the date and the time of day.
    factories.OrganisationFactory(name="North Families")
    content = xlsx_bytes(
        [
            ["Type", "Date", "Summary", "Organization"],
            ["Call", "3/2/2026 2:30 PM", "Called about the doula program", "North Families"],
            ["Meeting", datetime(2026, 3, 3, 9, 15), "Quarterly review", "North Families"],  # noqa: DTZ001 (a cell)
            ["Note", "2026-03-04", "Sent the report form", "North Families"],
        ]
    )
    run(INTERACTIONS, content, dry_run=False)
    logged = db.session.scalars(select(Interaction).order_by(Interaction.occurred_at)).all()
    assert [local_time(interaction.occurred_at).strftime("%Y-%m-%d %H:%M") for interaction in logged] == [
        "2026-03-02 14:30",
        "2026-03-03 09:15",
        "2026-03-04 12:00",  # a date alone: noon
    ]
    assert run(INTERACTIONS, content, dry_run=True).counts["unchanged"] == 3


# --- bad files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"   \r\n \r\n", "empty"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff", "not a CSV or Excel"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 20, ".xls"),
        (b"PK\x03\x04not really a zip", "damaged"),
        (b"Name,City\n", "no rows"),
        (b"Name\x00,City\nA,B\n", "not a CSV or Excel"),
        (b"Name,City\n\x81\x8d\x8f,x\n", "neither UTF-8 nor Windows-1252"),
        (b"Name,City\nA," + b"x" * 131_073 + b"\n", "longer than 131,072 characters"),
        (b'Name,City\nA,"' + b"x" * 140_000 + b"\nB,C\n", "longer than 131,072 characters, or a quote"),
    ],
)
def test_bad_files_are_refused_with_a_message(content: bytes, message: str) -> None:
    with pytest.raises(ImportFileError, match=message):
        read_file(content)


def test_a_zip_that_is_not_a_workbook() -> None:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ImportFileError, match="not a CSV or Excel"):
        read_file(buffer.getvalue())


def test_too_many_rows_is_refused() -> None:
    content = ("Name\n" + "".join(f"Org {n}\n" for n in range(50_000))).encode()
    with pytest.raises(ImportFileError, match="more than 5,000 rows"):
        read_file(content)


def test_bom_semicolons_and_cp1252() -> None:
    sheet = read_file("\ufeffName;City\nCafé Bébé;Sikeston\n".encode())
    assert sheet.headings == ["Name", "City"]
    assert sheet.rows == [(2, ["Café Bébé", "Sikeston"])]
    sheet = read_file("Name,City\nCafé Bébé,Sikeston\n".encode("cp1252"))
    assert sheet.rows[0][1][0] == "Café Bébé"
    assert "Windows-1252" in sheet.notices[0]


def test_xlsx_title_row_merged_headings_and_formulas() -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Grantees 2026"])
    sheet.merge_cells("A1:C1")
    sheet.append(["Name", "Amount", None, "Total"])
    sheet.append(["A", 10, None, "=B3*2"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    read = read_file(buffer.getvalue())
    assert read.headings == ["Name", "Amount", "Column C", "Total"]
    # Formulas are never evaluated: a file saved by a program that computed nothing has no value.
    assert read.rows == [(3, ["A", 10, None, None])]


def test_a_heading_merged_across_two_columns_keeps_the_first_row() -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Name", "Address", None, "Phone"])
    sheet.merge_cells("B1:C1")
    sheet.append(["Acme", "1 Main St", "Kennett", "573-555-0142"])
    sheet.append(["Beta", "2 Oak St", "Sikeston", "573-555-0199"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    read = read_file(buffer.getvalue())
    assert read.headings == ["Name", "Address", "Column C", "Phone"]
    assert [number for number, _ in read.rows] == [2, 3], "the first row is data, not headings"


@pytest.mark.parametrize("stated", ["A1", "A1:B2", "A1:A3"])
def test_xlsx_whose_used_range_is_stated_wrong_is_read_whole(stated: str) -> None:
    # Some programs write <dimension ref="A1"/> whatever the sheet holds; openpyxl's read-only
    # mode believes it unless told otherwise.
    import re
    import zipfile

    written = zipfile.ZipFile(io.BytesIO(xlsx_bytes([["Name", "City"], ["Acme", "Kennett"], ["Beta", "Sikeston"]])))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for item in written.infolist():
            data = written.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*" ?/>', f'<dimension ref="{stated}"/>'.encode(), data)
            archive.writestr(item, data)
    read = read_file(buffer.getvalue())
    assert read.headings == ["Name", "City"]
    assert read.rows == [(2, ["Acme", "Kennett"]), (3, ["Beta", "Sikeston"])]


def test_refusals_csv_rows(app) -> None:
    result = run(ORGANISATIONS, csv_bytes(ORGANISATIONS_CSV), dry_run=True)
    assert services.refusals_header(result)[0] == "Row"
    assert services.refusals_header(result)[-1] == "Error"
    rows = services.refusals_rows(result)
    assert [row[0] for row in rows] == [4, 5, 6]
    assert rows[0][1] == "bootheel babies"


def test_refused_rows_corrected_and_imported_again_lose_the_exports_apostrophes(app) -> None:
    content = csv_bytes("Name,Email,Description\nAcme,not-an-email,-- our best partner --\n")
    refused = run(ORGANISATIONS, content, dry_run=True)
    # The file the refused rows download as, the error column left in, the email corrected.
    download = b"".join(csv_response_bytes(services.refusals_header(refused), services.refusals_rows(refused)))
    assert b"'-- our best partner --" in download
    corrected = download.replace(b"not-an-email", b"office@acme.example.org")

    assert run(ORGANISATIONS, corrected, dry_run=False).counts["create"] == 1
    assert db.session.scalar(select(Organisation.description)) == "-- our best partner --"


def test_mapping_is_remembered_per_kind_and_headings(app) -> None:
    headings = ["Org", "Town"]
    kind = ORGANISATIONS
    assert services.suggested_mapping(kind, headings) == {}
    services.remember_mapping(kind, headings, {"Org": "name", "Town": "city"})
    db.session.commit()
    assert services.suggested_mapping(kind, headings) == {"Org": "name", "Town": "city"}
    assert services.suggested_mapping(CONTACTS, headings) == {}
    assert count(ImportMapping) == 1
    # The same headings in capitals are the same file's: the choice applies to them.
    assert services.suggested_mapping(kind, ["ORG", "TOWN"]) == {"ORG": "name", "TOWN": "city"}
    assert services.mapping_problems(kind, headings, {"Town": "city"}) == ["Choose the column that holds Name."]
    assert "both mapped" in services.mapping_problems(kind, headings, {"Org": "name", "Town": "name"})[0]


def test_uploads_belong_to_their_user_and_expire(app) -> None:
    owner = factories.UserFactory(role=Role.STAFF)
    other = factories.UserFactory(role=Role.STAFF)
    upload = services.store_upload(owner, ORGANISATIONS, "a.csv", b"Name\nA\n")
    assert services.upload_for(owner, upload.id) is upload
    assert services.upload_for(other, upload.id) is None
    from crm.database import utcnow

    upload.created_at = utcnow() - services.UPLOAD_KEPT_FOR * 2
    db.session.commit()
    assert services.upload_for(owner, upload.id) is None
    services.store_upload(other, ORGANISATIONS, "b.csv", b"Name\nB\n")
    assert db.session.get(ImportUpload, upload.id) is None, "old uploads are removed"


# --- the command ---------------------------------------------------------------------------


def test_cli_dry_run_then_import_then_again(app, tmp_path) -> None:
    user = factories.UserFactory(role=Role.STAFF)
    path = tmp_path / "partners.csv"
    path.write_bytes(csv_bytes(ORGANISATIONS_CSV))
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["crm", "import", "organisations", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Row 4: refused: Same as row 2" in dry.output
    assert "Dry run, nothing written: 2 to create, 0 to update, 0 unchanged, 3 refused." in dry.output
    assert count(Organisation) == 0

    real = runner.invoke(args=["crm", "import", "organisations", str(path), "--user", user.email])
    assert real.exit_code == 0, real.output
    assert "2 created" in real.output
    assert count(Organisation) == 2
    again = runner.invoke(args=["crm", "import", "organisations", str(path)])
    assert "0 created, 0 updated, 2 unchanged, 3 refused" in again.output


def test_cli_mapping_and_bad_files(app, tmp_path) -> None:
    runner = app.test_cli_runner()
    path = tmp_path / "odd.csv"
    path.write_bytes(b"Org,Town\nOzark Doulas,West Plains\n")
    unmapped = runner.invoke(args=["crm", "import", "organisations", str(path)])
    assert unmapped.exit_code == 1
    assert "Choose the column that holds Name" in unmapped.output
    mapped = runner.invoke(args=["crm", "import", "organisations", str(path), "--mapping", "Org=name,Town=city"])
    assert mapped.exit_code == 0, mapped.output
    assert db.session.scalar(select(Organisation.city)) == "West Plains"
    remembered = runner.invoke(args=["crm", "import", "organisations", str(path), "--dry-run"])
    assert "1 unchanged" in remembered.output, "the mapping was remembered for these headings"

    program = tmp_path / "list.xlsx"
    program.write_bytes(b"MZ\x90\x00" + b"\x00" * 100)
    refused = runner.invoke(args=["crm", "import", "contacts", str(program)])
    assert refused.exit_code == 1
    assert "not a CSV or Excel" in refused.output
    bad_option = runner.invoke(args=["crm", "import", "organisations", str(path), "--mapping", "Org"])
    assert bad_option.exit_code == 1
    assert "Heading=field" in bad_option.output


# --- the pages -----------------------------------------------------------------------------


def _upload(client, content: bytes, name: str = "partners.csv", kind: str = "organisations"):
    return client.post("/import/", data={"kind": kind, "file": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def test_pages_upload_map_preview_confirm(app, client, login) -> None:
    user = login(Role.STAFF)
    response = _upload(client, csv_bytes("Org;Town;Site\nOzark Doulas;West Plains;ozarkdoulas.org\nozark doulas;Again;\n"))
    assert response.status_code == 302
    columns_url = response.headers["Location"]
    upload_id = columns_url.split("/")[2]
    page = client.get(columns_url)
    assert page.status_code == 200
    assert "For example: Ozark Doulas" in page.get_data(as_text=True)

    refused = client.post(columns_url, data={"col0": "", "col1": "city", "col2": "website"})
    assert refused.status_code == 422
    assert "Choose the column that holds Name" in refused.get_data(as_text=True)
    twice = client.post(columns_url, data={"col0": "name", "col1": "name", "col2": ""})
    assert "both mapped" in twice.get_data(as_text=True)

    mapped = client.post(columns_url, data={"col0": "name", "col1": "city", "col2": "website"})
    assert mapped.status_code == 302
    preview = client.get(mapped.headers["Location"])
    text = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "1 to create, 0 to update, 0 unchanged, 1 refused" in text
    assert "Same as row 2" in text
    assert count(Organisation) == 0

    csv_response = client.get(f"/import/{upload_id}/refused.csv")
    assert csv_response.status_code == 200
    lines = csv_response.get_data().decode("utf-8-sig").splitlines()
    assert lines[0] == "Row,Org,Town,Site,Error"
    assert lines[1].startswith("3,ozark doulas,Again,,Same as row 2")

    done = client.post(f"/import/{upload_id}/confirm")
    assert done.status_code == 200
    assert "1 created, 0 updated, 0 unchanged, 1 refused" in done.get_data(as_text=True)
    assert db.session.scalar(select(Organisation.website)) == "https://ozarkdoulas.org"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "import"))
    assert event.actor_id == user.id
    assert event.changes["file"] == "partners.csv"

    # The same headings again: the mapping is remembered, and nothing changes.
    again = _upload(client, csv_bytes("Org;Town;Site\nOzark Doulas;West Plains;ozarkdoulas.org\n"))
    form_page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert '<option selected value="name">' in form_page
    assert count(ImportMapping) == 1


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "empty.csv", "The file is empty."),
        (b"MZ\x90\x00\x03" + b"\x00" * 64, "list.xlsx", "not a CSV or Excel"),
        (b"PK\x03\x04garbage", "broken.xlsx", "damaged"),
        (b"Name,City\n\x81\x8d,x\n", "odd.csv", "neither UTF-8 nor Windows-1252"),
        (("Name\n" + "x\n" * 5001).encode(), "big.csv", "more than 5,000 rows"),
    ],
)
def test_pages_refuse_bad_files_with_a_message(app, client, login, content, name, message) -> None:
    login(Role.STAFF)
    response = _upload(client, content, name)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert count(ImportUpload) == 0


def test_pages_refuse_no_file_and_an_unknown_kind(app, client, login) -> None:
    login(Role.STAFF)
    response = client.post("/import/", data={"kind": "organisations"}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Choose the file to import." in response.get_data(as_text=True)
    response = _upload(client, b"Name\nA\n", kind="users")
    assert response.status_code == 422


def test_an_upload_is_its_owners_alone(app, client, login) -> None:
    owner = factories.UserFactory(role=Role.STAFF)
    upload = services.store_upload(owner, ORGANISATIONS, "a.csv", b"Name\nA\n")
    login(Role.STAFF)
    for url in (f"/import/{upload.id}/columns", f"/import/{upload.id}/preview", f"/import/{upload.id}/refused.csv"):
        assert client.get(url).status_code == 404
    assert client.post(f"/import/{upload.id}/confirm").status_code == 404
    assert count(Organisation) == 0


def test_larger_files_are_allowed_on_the_upload_page_only(app, client, login) -> None:
    login(Role.STAFF)
    rows = "".join(f"Organisation number {n:05d},Somewhere in Missouri,https://example{n}.org\n" for n in range(4000))
    content = ("Name,City,Website\n" + rows).encode()
    assert len(content) > app.config["MAX_CONTENT_LENGTH"]
    assert _upload(client, content).status_code == 302
    assert client.post("/organisations/new", data={"name": "x" * len(content)}).status_code == 413

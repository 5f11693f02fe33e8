"""The inbox: filters, search, sorting, keyset pagination, query counts, the response clock
in lists, and the CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import and_, event, select

from crm.csv_export import neutralise_cell
from crm.database import utcnow
from crm.extensions import db
from crm.inquiries.filters import InboxFilters, conditions
from crm.models import AuditEvent, ContactPreference, Inquiry, InquiryOutcome, Role
from crm.models.inquiry import open_clause
from crm.models.inquiry_status import InquiryStatus
from tests.factories import NOW, ContactFactory, CountyFactory, InquiryFactory, OrganisationFactory
from tests.fixtures_world import post_export
from tests.naughty import naughty_sample, naughty_strings
from tests.public_support import app_config

ROW_LINK = re.compile(r'<td[^>]*><a href="/inquiries/(\d+)">')
PAGE_LINK = re.compile(r'<a href="([^"]+)" rel="(next|prev)">')


def listed(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return [int(id_) for id_ in ROW_LINK.findall(response.get_data(as_text=True))]


def page_links(response) -> dict[str, str]:
    return {rel: unescape(href) for href, rel in PAGE_LINK.findall(response.get_data(as_text=True))}


def set_fields(inquiry: Inquiry, **fields) -> Inquiry:
    for name, value in fields.items():
        setattr(inquiry, name, value)
    db.session.commit()
    return inquiry


# --- filters -----------------------------------------------------------------------------


@pytest.fixture
def three(world):
    """Ana (home visits, Dunklin County, Spanish) -> North; Ben (doulas) -> South; Cleo -> fallback."""
    ana = InquiryFactory(name="Ana", topic=world.home_visits, zip_code="63857", language="es", now=NOW)
    ben = InquiryFactory(name="Ben", topic=world.doulas, now=NOW + timedelta(hours=1))
    cleo = InquiryFactory(name="Cleo", now=NOW + timedelta(hours=2))
    return ana, ben, cleo


def test_the_inbox_shows_open_inquiries_newest_first(client, login, world, three):
    ana, ben, cleo = three
    spam = InquiryFactory(name="Spammy", spam_reason="honeypot", now=NOW + timedelta(hours=3))
    closed = set_fields(InquiryFactory(name="Done", now=NOW + timedelta(hours=4)), status=InquiryStatus.CLOSED, outcome=InquiryOutcome.NOT_NEEDED)
    login(Role.STAFF)

    assert listed(client.get("/inquiries/")) == [cleo.id, ben.id, ana.id]
    assert listed(client.get("/inquiries/?status=")) == [closed.id, spam.id, cleo.id, ben.id, ana.id]
    assert listed(client.get("/inquiries/?status=spam")) == [spam.id]
    assert listed(client.get("/inquiries/?status=closed")) == [closed.id]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("topic={home_visits}", ["Ana"]),
        ("topic={doulas}", ["Ben"]),
        ("organisation={north}", ["Ana"]),
        ("organisation={foundation}", ["Cleo"]),
        ("assignee={sam}", ["Ben"]),
        ("assignee={fallback}", ["Cleo"]),
        ("region={region}", ["Ana"]),
        ("county=29069", ["Ana"]),
        ("language=es", ["Ana"]),
        ("language=en", ["Cleo", "Ben"]),
        ("status=assigned&language=en&topic={doulas}", ["Ben"]),
    ],
)
def test_each_filter(client, login, world, three, query, expected):
    login(Role.STAFF)
    ids = {
        "home_visits": world.home_visits.id,
        "doulas": world.doulas.id,
        "north": world.north.id,
        "foundation": world.foundation.id,
        "sam": world.sam.id,
        "fallback": world.fallback.id,
        "region": world.region.id,
    }
    names = {inquiry.id: inquiry.name for inquiry in three}

    found = listed(client.get("/inquiries/?" + query.format(**ids)))

    assert [names[id_] for id_ in found] == expected


def test_the_date_range_is_in_local_days(client, login, world):
    login(Role.STAFF)
    # 23:30 on 10 March in Missouri is already 11 March in UTC.
    late = InquiryFactory(name="Late", now=datetime(2026, 3, 11, 4, 30, tzinfo=UTC))
    early = InquiryFactory(name="Early", now=datetime(2026, 3, 9, 15, 0, tzinfo=UTC))

    assert listed(client.get("/inquiries/?received_from=2026-03-10&received_to=2026-03-10")) == [late.id]
    assert listed(client.get("/inquiries/?received_to=2026-03-09")) == [early.id]
    assert listed(client.get("/inquiries/?received_from=2026-03-11")) == []
    refused = client.get("/inquiries/?received_from=2026-03-11&received_to=2026-03-01")
    assert "The end date is before the start date." in refused.get_data(as_text=True)


def test_overdue_means_past_due_without_a_first_response(client, login, world):
    login(Role.STAFF)
    now = utcnow()
    late = InquiryFactory(name="Late", now=now - timedelta(days=10))
    answered = set_fields(
        InquiryFactory(name="Answered", now=now - timedelta(days=10)), first_response_at=now - timedelta(days=9)
    )
    fresh = InquiryFactory(name="Fresh", now=now)
    set_fields(InquiryFactory(name="Closed late", now=now - timedelta(days=10)), status=InquiryStatus.SPAM)

    assert listed(client.get("/inquiries/?overdue=y&status=")) == [late.id]
    assert listed(client.get("/inquiries/?overdue=y")) == [late.id]
    assert set(listed(client.get("/inquiries/?status="))) >= {late.id, answered.id, fresh.id}


def test_overdue_open_work_names_the_open_statuses_once(app_context, make_user):
    """Named twice, PostgreSQL multiplies the statuses' selectivity by itself, expects a
    handful of rows and sorts every open inquiry instead of walking the received_at index."""
    where = conditions(InboxFilters(overdue=True), make_user(Role.STAFF), utcnow())

    sql = str(and_(*where).compile(db.engine, compile_kwargs={"literal_binds": True}))

    assert sql.count("inquiries.status IN") == 1


def test_open_work_lists_the_statuses_as_the_partial_indexes_do(app_context):
    """PostgreSQL sees one condition in two lists only when their items come in the same order."""
    partial = {"ix_inquiries_open_org", "ix_inquiries_awaiting_response"}
    predicates = [index.dialect_options["postgresql"]["where"] for index in Inquiry.__table__.indexes if index.name in partial]

    def sql(clause) -> str:
        return str(clause.compile(db.engine, compile_kwargs={"literal_binds": True})).replace("inquiries.", "")

    assert len(predicates) == len(partial)
    for predicate in predicates:
        assert sql(open_clause()) in sql(predicate)


def test_my_open_inquiries_are_those_of_the_contact_my_email_linked_me_to_ignoring_case(client, login, world):
    mine = InquiryFactory(name="For Nora", topic=world.home_visits)
    if mine.assigned_contact.email.lower() != "nora@north.example.org":
        mine = set_fields(mine, assigned_contact_id=world.nora.id)
    InquiryFactory(name="For Sam", topic=world.doulas)
    closed = set_fields(InquiryFactory(name="Closed", topic=world.home_visits), assigned_contact_id=world.nora.id)
    set_fields(closed, status=InquiryStatus.CLOSED, outcome=InquiryOutcome.NOT_NEEDED)
    login(Role.STAFF, email="Nora@NORTH.example.org")

    assert listed(client.get("/inquiries/?mine=1")) == [mine.id]


def test_a_user_who_is_no_contact_has_no_inquiries_of_their_own(client, login, world, three):
    login(Role.STAFF, email="nobody@foundation.example.org")

    assert listed(client.get("/inquiries/?mine=1")) == []


def test_an_unknown_choice_is_shown_as_an_error_not_a_crash(client, login, world, three):
    login(Role.STAFF)

    response = client.get("/inquiries/?topic=abc&organisation=99999999999999999999999&status=nonsense")

    assert response.status_code == 422
    assert "Choose from the list." in response.get_data(as_text=True)


def selected(html: str, select_id: str) -> str | None:
    block = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    chosen = re.search(r"<option selected[^>]*>([^<]*)</option>", block.group(1)) if block else None
    return unescape(chosen.group(1)) if chosen else None


@pytest.mark.parametrize("no_longer", [{"active": False}, {"accepts_inquiries": False}])
def test_the_inquiries_of_a_contact_who_no_longer_takes_any_can_still_be_filtered(
    client, login, world, three, no_longer
):
    """A manager reviewing who answered what: Sam answered Ben, then left or stopped."""
    _ana, ben, _cleo = three
    for name, value in no_longer.items():
        setattr(world.sam, name, value)
    db.session.commit()
    login(Role.MANAGER)

    response = client.get(f"/inquiries/?status=&assignee={world.sam.id}")

    assert listed(response) == [ben.id]
    html = response.get_data(as_text=True)
    assert selected(html, "assignee") == "Sam South (South Start) (no longer takes inquiries)"
    # The menu itself still lists only those who take inquiries.
    unfiltered = client.get("/inquiries/").get_data(as_text=True)
    assert not [label for label in options(unfiltered, "assignee") if "Sam South" in label]
    body = post_export(client, f"status=&assignee={world.sam.id}").get_data().decode("utf-8-sig")
    assert ben.reference in body
    assert len(body.strip().splitlines()) == 2


def test_the_inquiries_of_an_organisation_no_longer_taking_any_can_still_be_filtered(client, login, world, three):
    former = OrganisationFactory(name="Closed Doors")
    ContactFactory(name="Once Answered", organisation=former, accepts_inquiries=False)
    answered = set_fields(InquiryFactory(name="Dana"), organisation_id=former.id)
    login(Role.MANAGER)

    response = client.get(f"/inquiries/?status=&organisation={former.id}")

    assert listed(response) == [answered.id]
    html = response.get_data(as_text=True)
    assert selected(html, "organisation") == "Closed Doors (no longer takes inquiries)"
    unfiltered = client.get("/inquiries/").get_data(as_text=True)
    assert not [label for label in options(unfiltered, "organisation") if "Closed Doors" in label]
    body = post_export(client, f"status=&organisation={former.id}").get_data().decode("utf-8-sig")
    assert answered.reference in body
    assert len(body.strip().splitlines()) == 2


@pytest.mark.parametrize("field", ["assignee", "organisation"])
def test_an_id_that_names_nothing_is_still_refused(client, login, world, three, field):
    """Beside a former contact or organisation, which is accepted, an id of nothing is not."""
    former = OrganisationFactory(name="Closed Doors")
    gone = ContactFactory(name="Gone Away", organisation=former, active=False)
    set_fields(InquiryFactory(name="Dana"), organisation_id=former.id, assigned_contact_id=gone.id)
    existing = {"assignee": gone.id, "organisation": former.id}[field]
    login(Role.MANAGER)
    assert client.get(f"/inquiries/?status=&{field}={existing}").status_code == 200

    for unknown in (existing + 1000, 2**31, 999999999999999999):
        response = client.get(f"/inquiries/?status=&{field}={unknown}")
        assert response.status_code == 422, unknown
        assert "Choose from the list." in response.get_data(as_text=True)
        assert not ROW_LINK.findall(response.get_data(as_text=True))
        assert post_export(client, f"status=&{field}={unknown}").status_code == 400


def test_a_former_assignee_costs_the_menu_one_lookup_and_a_current_one_none(client, login, count_queries, world, three):
    login(Role.MANAGER)
    client.get("/inquiries/")
    with count_queries() as unfiltered:
        client.get("/inquiries/?status=")
    with count_queries() as current:
        assert len(listed(client.get(f"/inquiries/?status=&assignee={world.sam.id}"))) == 1
    world.sam.active = False
    db.session.commit()
    client.get(f"/inquiries/?status=&assignee={world.sam.id}")  # reloads what the commit expired
    with count_queries() as former:
        assert len(listed(client.get(f"/inquiries/?status=&assignee={world.sam.id}"))) == 1

    assert current.count == unfiltered.count
    assert former.count == unfiltered.count + 1


INVALID_FILTERS = [
    ("received_from=2026-02-31", "That date does not exist."),
    ("received_from=2026-03-11&received_to=2026-03-01", "The end date is before the start date."),
    ("q=" + "x" * 201, "Search name, email, reference or message"),
    # PostgreSQL refuses a NUL in a text parameter: the search would fail, not find nothing.
    ("q=Ana%00", "Remove the invisible control characters from this field."),
    ("language=xx", "Choose from the list."),
    ("status=nonsense&topic={doulas}", "Choose from the list."),
]


@pytest.mark.parametrize(("query", "message"), INVALID_FILTERS)
def test_an_invalid_filter_lists_nothing_rather_than_everything(client, login, world, three, query, message):
    login(Role.STAFF)

    response = client.get("/inquiries/?" + query.format(doulas=world.doulas.id))

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert "No inquiries are listed until the filters are corrected." in html
    assert not ROW_LINK.findall(html)
    assert "/inquiries/export.csv" not in html


@pytest.mark.parametrize(("query", "message"), INVALID_FILTERS)
def test_an_invalid_filter_exports_nothing(client, login, world, three, query, message):
    login(Role.STAFF)

    response = post_export(client, query.format(doulas=world.doulas.id))

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Content-Disposition" not in response.headers
    html = response.get_data(as_text=True)
    assert "Nothing was exported, because a filter is not valid." in html
    assert unescape(message) in unescape(html)
    assert not db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()


# --- search ------------------------------------------------------------------------------


def test_search_looks_at_name_email_reference_and_message(client, login, world):
    login(Role.STAFF)
    by_name = InquiryFactory(name="Marisol Quintero")
    by_email = InquiryFactory(name="X", email="q.unique@example.net")
    by_message = InquiryFactory(name="Y", message="Our baby is due in June and we need a crib.")
    InquiryFactory(name="Z")

    assert listed(client.get("/inquiries/?q=quintero")) == [by_name.id]
    assert listed(client.get("/inquiries/?q=Q.UNIQUE@")) == [by_email.id]
    assert listed(client.get("/inquiries/?q=a+crib")) == [by_message.id]
    assert listed(client.get(f"/inquiries/?q={by_name.reference.lower()}")) == [by_name.id]


def test_search_finds_a_name_written_as_it_is_stored(client, login, world):
    """The database lower-cases the columns; casefold would make the term "weiss", which no
    lower-cased "Weiß" contains."""
    login(Role.STAFF)
    wanted = InquiryFactory(name="Anna Weiß")
    InquiryFactory(name="Anna Weiss")

    assert listed(client.get("/inquiries/", query_string={"q": "Weiß"})) == [wanted.id]


def test_a_whole_reference_is_looked_up_exactly_and_a_part_still_searches(client, login, world):
    login(Role.STAFF)
    wanted = InquiryFactory(name="Wanted")
    InquiryFactory(name="Other")
    assert listed(client.get(f"/inquiries/?q=+{wanted.reference.lower()}+")) == [wanted.id]
    assert wanted.id in listed(client.get(f"/inquiries/?q={wanted.reference[:5]}"))


def test_organisation_filter_lists_only_organisations_that_handle_inquiries(client, login, world):
    login(Role.STAFF)
    directory_only = OrganisationFactory(name="Directory Listing Only")
    ContactFactory(organisation=directory_only, accepts_inquiries=False)
    page = client.get("/inquiries/").get_data(as_text=True)
    assert "Directory Listing Only" not in page
    responders = OrganisationFactory(name="Answers Inquiries")
    ContactFactory(organisation=responders, accepts_inquiries=True)
    assert "Answers Inquiries" in client.get("/inquiries/").get_data(as_text=True)


def test_search_can_use_a_trigram_index_per_column_on_postgresql(client, login, world):
    """The search's expressions are the trigram indexes' own, so PostgreSQL can find a rare
    term through them. With sequential and plain index scans switched off for this
    transaction, the plan shows the bitmap scans of those indexes whatever the table size."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the trigram indexes are PostgreSQL's")
    login(Role.STAFF)
    wanted = InquiryFactory(name="Marisol Quintero")
    statements = []

    def capture(_connection, _cursor, statement, parameters, _context, _executemany):
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        assert listed(client.get("/inquiries/?q=quintero&status=")) == [wanted.id]
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    search = next((s, p) for s, p in statements if "lower(inquiries.message) LIKE" in s)
    connection = db.session.connection()
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    connection.exec_driver_sql("SET LOCAL enable_indexscan = off")

    plan = "\n".join(connection.exec_driver_sql("EXPLAIN " + search[0], search[1]).scalars())

    for column in ("name", "email", "reference", "message"):
        assert f"Bitmap Index Scan on ix_inquiries_search_{column}" in plan, plan


@pytest.mark.parametrize(
    ("term", "matches", "decoy"),
    [
        ("50%", "Half price, 50% off", "Half price, 500 off"),
        ("a_b", "file a_b please", "file axb please"),
        ("%", "100% sure", "one hundred percent sure"),
        ("_", "snake_case", "snake case"),
        ("c:\\temp", "saved in c:\\temp", "saved in c:temp"),
    ],
)
def test_search_takes_wildcards_literally(client, login, world, term, matches, decoy):
    login(Role.STAFF)
    hit = InquiryFactory(name="Hit", message=matches)
    InquiryFactory(name="Decoy", message=decoy)

    assert listed(client.get("/inquiries/", query_string={"q": term})) == [hit.id]


# --- sorting and keyset pagination -------------------------------------------------------


def test_sorting(client, login, world):
    login(Role.STAFF)
    first = InquiryFactory(name="First", topic=world.doulas, now=NOW)
    second = InquiryFactory(name="Second", topic=world.home_visits, now=NOW + timedelta(hours=1))
    # Due sooner although received later: a short response target.
    world.home_visits.response_target_hours = 1
    db.session.commit()
    third = InquiryFactory(name="Third", topic=world.home_visits, now=NOW + timedelta(hours=2))

    assert listed(client.get("/inquiries/")) == [third.id, second.id, first.id]
    assert listed(client.get("/inquiries/?sort=newest")) == [third.id, second.id, first.id]
    assert listed(client.get("/inquiries/?sort=oldest")) == [first.id, second.id, third.id]
    assert listed(client.get("/inquiries/?sort=due")) == [third.id, first.id, second.id]


def keyset_inquiries(world) -> list[Inquiry]:
    """Fourteen inquiries, most received (and due) at exactly the same moment, some without a due time."""
    inquiries = [InquiryFactory(name=f"Same moment {n}", now=NOW) for n in range(7)]
    inquiries += [InquiryFactory(name=f"Earlier {n}", now=NOW - timedelta(hours=n + 1)) for n in range(3)]
    inquiries += [InquiryFactory(name=f"Later {n}", now=NOW + timedelta(minutes=n + 1)) for n in range(2)]
    inquiries += [InquiryFactory(name=f"Spam {n}", now=NOW, spam_reason="honeypot") for n in range(2)]
    return inquiries


def expected_order(inquiries: list[Inquiry], sort: str) -> list[int]:
    if sort == "newest":
        key = sorted(inquiries, key=lambda item: (item.received_at, item.id), reverse=True)
    elif sort == "oldest":
        key = sorted(inquiries, key=lambda item: (item.received_at, item.id))
    else:
        key = sorted(inquiries, key=lambda item: (item.due_at is None, item.due_at or NOW, item.id))
    return [item.id for item in key]


@pytest.mark.parametrize("sort", ["newest", "oldest", "due"])
def test_keyset_pages_neither_repeat_nor_skip(app, client, login, world, monkeypatch, sort):
    monkeypatch.setitem(app.config, "PAGE_SIZE", 3)
    login(Role.STAFF)
    inquiries = keyset_inquiries(world)
    expected = expected_order(inquiries, sort)

    # Forwards with "Next".
    pages, url = [], f"/inquiries/?status=&sort={sort}"
    while url:
        response = client.get(url)
        pages.append(listed(response))
        url = page_links(response).get("next")
        assert len(pages) < 10, "the pages never end"
    seen = [id_ for page in pages for id_ in page]
    assert seen == expected
    assert all(len(page) == 3 for page in pages[:-1])
    assert "prev" not in page_links(client.get(f"/inquiries/?status=&sort={sort}"))

    # And back with "Previous", from the last page to the first.
    back, url = [pages[-1]], page_links(response).get("prev")
    while url:
        response = client.get(url)
        back.append(listed(response))
        url = page_links(response).get("prev")
        assert len(back) < 10, "the pages never end"
    assert back[::-1] == pages


def test_cursors_carry_the_filters_and_are_opaque(app, client, login, world, monkeypatch):
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    login(Role.STAFF)
    keyset_inquiries(world)

    response = client.get("/inquiries/?status=&q=same+moment&sort=oldest")
    next_url = page_links(response)["next"]

    query = parse_qs(urlsplit(next_url).query, keep_blank_values=True)
    assert (query["q"], query["sort"], query["status"]) == (["same moment"], ["oldest"], [""])
    assert not re.search(r"\d{4}-\d{2}-\d{2}", query["after"][0]), "the cursor is opaque"


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "",
        "eyJ4IjoxfQ",
        "WyJuZXdlc3QiLG51bGwsMV0",
        "WyJkdWUiLCIyMDI2LTAzLTA5VDE1OjAwOjAwKzAwOjAwIiwxXQ",
        "%00" * 50,
    ],
)
def test_a_bad_or_foreign_cursor_starts_at_the_first_page(client, login, world, cursor):
    login(Role.STAFF)
    inquiries = keyset_inquiries(world)
    first_page = listed(client.get("/inquiries/?status="))

    for name in ("after", "before"):
        assert listed(client.get("/inquiries/", query_string={"status": "", name: cursor})) == first_page
    assert len(first_page) == min(len(inquiries), 25)


def test_pages_are_found_without_counting_or_offsets(app, client, login, world, monkeypatch):
    monkeypatch.setitem(app.config, "PAGE_SIZE", 3)
    login(Role.STAFF)
    keyset_inquiries(world)
    statements: list[tuple[str, object]] = []

    def remember(_conn, _cursor, statement, parameters, *_args):
        statements.append((statement.lower(), parameters))

    first = client.get("/inquiries/?status=")
    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        second = client.get(page_links(first)["next"])
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)

    assert len(listed(second)) == 3
    [(seek, parameters)] = [(sql, params) for sql, params in statements if "from inquiries" in sql]
    assert "count(" not in seek
    assert "(inquiries.received_at, inquiries.id) <" in seek, "one range scan from the cursor"
    if "offset" in seek:  # SQLite's LIMIT always carries an OFFSET; it must be zero
        assert list(parameters)[-1] == 0
    html = second.get_data(as_text=True)
    assert "in all" not in html
    assert " of " not in html.split('class="pagination"')[1][:300]


def test_query_count_does_not_grow_with_the_rows(client, login, count_queries, world):
    login(Role.STAFF)

    def add(n: int) -> None:
        for i in range(n):
            organisation = OrganisationFactory()
            contact = ContactFactory(organisation=organisation, accepts_inquiries=True)
            inquiry = InquiryFactory(name=f"Row {i}", topic=world.doulas if i % 2 else world.home_visits)
            set_fields(inquiry, assigned_contact_id=contact.id, organisation_id=organisation.id)

    add(3)
    with count_queries() as few:
        assert len(listed(client.get("/inquiries/?status="))) == 3
    add(17)
    with count_queries() as many:
        assert len(listed(client.get("/inquiries/?status="))) == 20

    assert many.count == few.count


# --- the response clock in lists ---------------------------------------------------------


def test_lists_show_when_a_response_is_due_and_flag_the_overdue(client, login, world):
    login(Role.STAFF)
    now = utcnow()
    soon = set_fields(
        InquiryFactory(name="Soon"), received_at=now - timedelta(hours=1), due_at=now + timedelta(hours=3, minutes=30)
    )
    late = set_fields(
        InquiryFactory(name="Late"), received_at=now - timedelta(days=3), due_at=now - timedelta(hours=2, minutes=10)
    )
    answered = set_fields(
        InquiryFactory(name="Answered"),
        received_at=now - timedelta(days=3),
        due_at=now - timedelta(days=1),
        first_response_at=now - timedelta(days=2),
    )

    html = client.get("/inquiries/?status=").get_data(as_text=True)
    rows = dict(re.findall(r'<td[^>]*><a href="/inquiries/(\d+)">(.*?)</tr>', html, re.S))

    assert "Due in 3 h" in rows[str(soon.id)]
    assert '<span class="badge badge-danger">Overdue by 2 h</span>' in rows[str(late.id)]
    assert "Answered on time" in rows[str(answered.id)]
    assert "badge-danger" not in rows[str(soon.id)] + rows[str(answered.id)]


# --- export ------------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf"), "Excel needs the byte-order mark to read UTF-8"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_export_streams_the_filtered_list_as_csv(client, login, world, three):
    me = login(Role.STAFF)
    ana, ben, cleo = three

    response = post_export(client, f"topic={world.doulas.id}&status=&sort=oldest")

    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="inquiries-')
    header, *rows = read_csv(response)
    assert header[:5] == ["Reference", "Received", "Source", "Status", "Name"]
    assert [row[0] for row in rows] == [ben.reference]
    record = dict(zip(header, rows[0], strict=True))
    assert record["Topic"] == "Doulas"
    assert record["Organisation"] == "South Start"
    assert record["Assigned to"] == "Sam South"
    assert record["Message"] == ben.message
    assert record["Received"] == "2026-03-09 11:00", "local time, as staff read it"

    exported = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).one()
    assert exported.actor_id == me.id
    assert exported.entity_type == "Inquiry"
    assert exported.changes["topic_id"] == [None, str(world.doulas.id)]
    assert exported.changes["sort"] == [None, "oldest"]


EXPORT_FORM = re.compile(r'<form method="post" action="/inquiries/export\.csv">(.*?)</form>', re.S)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
ADDRESS = re.compile(r'(?:href|action|src|formaction)="([^"]*)"')


def test_the_export_posts_the_filters_and_no_address_on_the_inbox_carries_the_search(client, login, world, three):
    login(Role.STAFF)

    html = client.get(f"/inquiries/?q=Kowalczyk&status=&topic={world.doulas.id}").get_data(as_text=True)

    form = EXPORT_FORM.search(html)
    assert form is not None, "the export is a form that posts"
    posted = dict(HIDDEN.findall(form.group(1)))
    assert posted["q"] == "Kowalczyk"
    assert posted["topic"] == str(world.doulas.id)
    assert posted["status"] == ""
    assert "csrf_token" in posted
    exports = [unescape(url) for url in ADDRESS.findall(html) if "export" in url]
    assert exports == ["/inquiries/export.csv"]
    assert not any("q=" in url or "Kowalczyk" in url for url in exports)


def test_the_export_is_not_offered_by_address(client, login, world, three):
    login(Role.STAFF)

    response = client.get("/inquiries/export.csv?q=Kowalczyk&status=")

    assert response.status_code == 405
    assert "Content-Disposition" not in response.headers
    assert not db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()


def test_the_export_needs_the_pages_csrf_token(app, client, login, world, three):
    login(Role.STAFF)
    with app_config(app, WTF_CSRF_ENABLED=True):
        html = client.get("/inquiries/?status=").get_data(as_text=True)
        token = dict(HIDDEN.findall(EXPORT_FORM.search(html).group(1)))["csrf_token"]

        refused = post_export(client, "status=")
        accepted = client.post("/inquiries/export.csv", data={"status": "", "csrf_token": token})

    assert refused.status_code == 400
    assert "Content-Disposition" not in refused.headers
    assert accepted.status_code == 200
    header, *rows = read_csv(accepted)
    assert len(rows) == 3


def test_export_has_every_row_not_just_a_page(app, client, login, world, monkeypatch):
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    login(Role.STAFF)
    inquiries = keyset_inquiries(world)

    header, *rows = read_csv(post_export(client, "status=&sort=due"))

    by_reference = {inquiry.reference: inquiry.id for inquiry in inquiries}
    assert [by_reference[row[0]] for row in rows] == expected_order(inquiries, "due")


@pytest.mark.parametrize(
    "strings", [pytest.param(naughty_sample, id="sample"), pytest.param(naughty_strings, id="all", marks=pytest.mark.slow)]
)
def test_export_neutralises_every_naughty_string(client, login, world, strings):
    """Through the inbox's export; tests/unit/test_csv_export.py checks every cell of the list."""
    login(Role.STAFF)
    strings = strings()
    references = {}
    for number, text in enumerate(strings):
        # Caught as spam: stored as sent, without the routing and emails this test does not need.
        # A number of its own each, so that no two are taken for the same request.
        inquiry = InquiryFactory(
            name=text[:200],
            email="",
            phone=f"573-555-{number:04d}",
            contact_preference=ContactPreference.PHONE,
            message=text,
            now=NOW,
            spam_reason="naughty",
        )
        references[inquiry.reference] = text

    header, *rows = read_csv(post_export(client, "status=&sort=oldest"))

    assert len(rows) == len(strings)
    name_at, message_at = header.index("Name"), header.index("Message")
    for row in rows:
        original = references[row[0]]
        assert row[message_at] == neutralise_cell(original)
        assert row[name_at] == neutralise_cell(original[:200])
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\0")), cell
            assert not cell.lstrip().startswith(("=", "+", "-", "@")), cell


# --- what a partner is offered -----------------------------------------------------------


def options(html: str, select_id: str) -> list[str]:
    block = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    return re.findall(r"<option[^>]*>([^<]*)</option>", block.group(1)) if block else []


def test_a_partner_is_offered_only_the_places_their_inquiries_come_from(client, login, world, three):
    other = CountyFactory(fips="29155", name="Pemiscot County")
    InquiryFactory(name="Elsewhere", topic=world.doulas, zip_code="63830")  # Pemiscot, routed to South
    login(Role.PARTNER, organisation=world.north)

    response = client.get("/inquiries/")

    html = response.get_data(as_text=True)
    assert options(html, "county") == ["Any county", "Dunklin County"]
    assert options(html, "region") == ["Any region", "Bootheel"]
    assert 'id="organisation"' not in html
    assert client.get(f"/inquiries/?county={other.fips}").status_code == 422


def test_a_partner_whose_inquiries_have_no_county_is_offered_no_place_filters(client, login, world):
    InquiryFactory(name="Nowhere", topic=world.home_visits)  # no ZIP code: no county
    login(Role.PARTNER, organisation=world.north)

    html = client.get("/inquiries/").get_data(as_text=True)

    assert 'id="county"' not in html
    assert 'id="region"' not in html


def test_staff_are_offered_every_county(client, login, world, three):
    CountyFactory(fips="29155", name="Pemiscot County")
    login(Role.STAFF)

    html = client.get("/inquiries/").get_data(as_text=True)

    assert options(html, "county") == ["Any county", "Dunklin County", "Pemiscot County"]


def test_rows_carry_no_one_click_spam_button(client, login, world, three):
    login(Role.STAFF)

    html = client.get("/inquiries/").get_data(as_text=True)

    assert len(ROW_LINK.findall(html)) == 3
    assert "/status" not in html
    assert "Mark as spam" not in html

"""Managers' review: figures from hand-built inquiries, the page, its charts and its CSVs."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from html import unescape
from xml.etree import ElementTree

import factory
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Float, column, func, select, values
from sqlalchemy.sql import visitors

from crm.business_hours import BusinessCalendar, business_hours_between
from crm.csv_export import neutralise_cell
from crm.database import utcnow
from crm.extensions import db
from crm.models import Inquiry, InquiryOutcome, InquiryPass, Region, Role, Topic
from crm.models.inquiry_status import InquiryStatus
from crm.reports import charts, loop, services, stats, timed
from crm.reports.common import NO_FIGURE, format_cell
from tests import factories
from tests import report_reference as reference
from tests.naughty import naughty_strings
from tests.query_plans import statement_objects_run, statements_run

CHICAGO = "America/Chicago"
DUNKLIN, ST_LOUIS_CITY = "29069", "29510"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
MARCH_PERIOD = services.Period(date(2026, 3, 1), date(2026, 3, 31), CHICAGO)
# When the March report is read: every March deadline has passed.
AS_OF = datetime(2026, 4, 15, 15, tzinfo=UTC)


def parse_svg(svg: str | bytes) -> ElementTree.Element:
    return ElementTree.fromstring(svg)  # noqa: S314  (our own output, parsed to prove it is well formed)


def local(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(CHICAGO)).astimezone(UTC)


class TopicFactory(factories.BaseFactory):
    class Meta:
        model = Topic

    name_en = factory.Sequence(lambda n: f"Topic {n}")
    name_es = factory.Sequence(lambda n: f"Tema {n}")
    response_target_hours = 16


class InquiryFactory(factories.BaseFactory):
    class Meta:
        model = Inquiry

    reference = factory.Sequence(lambda n: f"RT-{n:06d}")
    received_at = factory.LazyFunction(lambda: utcnow() - timedelta(days=1))
    name = "Requester Person"
    email = factory.Sequence(lambda n: f"requester{n}@example.net")
    message = "Please get in touch."
    status = InquiryStatus.RESPONDED
    language = "en"


# --- a hand-built month of inquiries -------------------------------------------------------------

# received (Chicago), first response (Chicago), county, language, Media topic?, business hours
RESPONDED = [
    (local(2026, 3, 2, 9), local(2026, 3, 2, 10), DUNKLIN, "en", False, 1.0),
    (local(2026, 3, 6, 16), local(2026, 3, 9, 10), DUNKLIN, "en", False, 2.0),  # a weekend and the DST change
    (local(2026, 3, 3, 14), local(2026, 3, 3, 17), DUNKLIN, "en", False, 3.0),
    (local(2026, 3, 4, 9), local(2026, 3, 5, 11), DUNKLIN, "en", False, 10.0),
    (local(2026, 3, 5, 9), local(2026, 3, 9, 13), DUNKLIN, "en", False, 20.0),  # over the 16-hour target
    (local(2026, 3, 2, 13), local(2026, 3, 2, 17), ST_LOUIS_CITY, "es", True, 4.0),
    (local(2026, 3, 7, 10), local(2026, 3, 9, 17), ST_LOUIS_CITY, "es", True, 8.0),  # Saturday counts from Monday
    (local(2026, 3, 16, 9), local(2026, 3, 19, 15), None, "en", False, 30.0),
]


@pytest.fixture
def march(app):
    """The inquiries above, plus one awaiting a response, spam and one received in February."""
    dunklin = factories.CountyFactory(fips=DUNKLIN, name="Dunklin County")
    city = factories.CountyFactory(fips=ST_LOUIS_CITY, name="St. Louis City")
    db.session.add_all(
        [Region(name="Bootheel", counties=[dunklin]), Region(name="St. Louis", counties=[city]), Region(name="Delta", counties=[dunklin])]
    )
    media = TopicFactory(name_en="Media", response_target_hours=8)
    south = factories.OrganisationFactory(name="Bootheel Babies")
    north = factories.OrganisationFactory(name="Generate Health")
    organisation = {DUNKLIN: south, ST_LOUIS_CITY: north, None: None}
    for received, responded, county, language, is_media, _hours in RESPONDED:
        InquiryFactory(
            received_at=received,
            first_response_at=responded,
            county_fips=county,
            language=language,
            topic=media if is_media else None,
            organisation=organisation[county],
        )
    InquiryFactory(received_at=local(2026, 3, 20), status=InquiryStatus.ASSIGNED, county_fips=DUNKLIN, organisation=south)
    InquiryFactory(
        received_at=local(2026, 3, 10), first_response_at=local(2026, 3, 10, 9, 30), status=InquiryStatus.SPAM, county_fips=DUNKLIN
    )
    InquiryFactory(received_at=local(2026, 2, 27), first_response_at=local(2026, 2, 27, 10), county_fips=DUNKLIN)
    return {"media": media, "south": south, "north": north}


def test_each_inquiry_is_measured_in_business_hours(march):
    measured = reference.responses(MARCH_PERIOD)

    assert sorted(item.hours for item in measured) == sorted(row[-1] for row in RESPONDED)


@pytest.mark.parametrize("way", ["report", "per inquiry"])
def test_hours_stored_at_the_first_response_are_used_as_they_are(march, way):
    """Stored hours win over the clock: a later holiday or calendar change does not rewrite history."""
    first = db.session.scalars(select(Inquiry).where(Inquiry.county_fips.is_(None))).one()
    first.first_response_hours = 99.0
    db.session.commit()
    breakdown = (
        services.response_breakdown(MARCH_PERIOD, AS_OF)
        if way == "report"
        else reference.breakdown_of(reference.responses(MARCH_PERIOD))
    )
    assert breakdown.by_county[services.NO_COUNTY].median == 99.0


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        # label: (responded, median, p90, share within target)
        ("overall", {"All": (8, 6.0, 23.0, 0.75)}),
        (
            "by_county",
            {
                "Dunklin County": (5, 3.0, 16.0, 0.8),
                "St. Louis City": (2, 6.0, 7.6, 1.0),
                services.NO_COUNTY: (1, 30.0, 30.0, 0.0),
            },
        ),
        ("by_language", {"English": (6, 6.5, 25.0, 4 / 6), "Spanish": (2, 6.0, 7.6, 1.0)}),
    ],
)
@pytest.mark.parametrize("way", ["report", "per inquiry"])
def test_response_figures(march, group, expected, way):
    if way == "report":  # what the page shows; "per inquiry" is the definition
        breakdown = services.response_breakdown(MARCH_PERIOD, AS_OF)
    else:
        breakdown = reference.breakdown_of(reference.responses(MARCH_PERIOD))
    figures = {"All": breakdown.overall} if group == "overall" else getattr(breakdown, group)

    actual = {label: (f.count, f.median, f.p90, f.within_target_share) for label, f in figures.items()}
    assert actual.keys() == expected.keys()
    for label, (count, median, p90, share) in expected.items():
        assert actual[label] == (count, pytest.approx(median), pytest.approx(p90), pytest.approx(share))


def test_a_percentile_on_a_rounding_edge_reads_alike_on_sqlite_and_postgresql(app):
    """Twelve answered at once and two after half an hour: the 90th percentile is 0.35 hours up
    the way, which a float holds a hair below or above 0.35 by how its rank was worked out, and
    the table rounds to 0.3 or 0.4. SQLite's figures must be worked out as percentile_cont does."""
    for hours in [0.0] * 12 + [0.5] * 2:
        InquiryFactory(received_at=local(2026, 3, 2), first_response_at=local(2026, 3, 2, 10), first_response_hours=hours)

    [row] = services.response_overall(services.response_breakdown(MARCH_PERIOD, AS_OF)).rows

    assert row[4] == 0.4


def test_response_tables_round_for_people(march):
    breakdown = services.response_breakdown(MARCH_PERIOD, AS_OF)

    assert services.response_overall(breakdown).rows == [("All", 8, 0, 6.0, 23.0, 75.0)]
    assert services.response_by_county(breakdown).rows == [
        ("Dunklin County", 5, 0, 3.0, 16.0, 80.0),
        ("St. Louis City", 2, 0, 6.0, 7.6, 100.0),
        (services.NO_COUNTY, 1, 0, 30.0, 30.0, 0.0),
    ]
    assert services.response_by_language(breakdown).rows == [
        ("English", 6, 0, 6.5, 25.0, 66.7),
        ("Spanish", 2, 0, 6.0, 7.6, 100.0),
    ]


def test_a_holiday_is_not_business_time(app, march):
    factories.foundation_holidays(date(2026, 3, 9))

    measured = reference.responses(MARCH_PERIOD)
    breakdown = services.response_breakdown(MARCH_PERIOD, AS_OF)

    # The three answered on Monday the 9th lose that day's hours: 2 -> 1, 20 -> 16, 8 -> 0.
    assert sorted(item.hours for item in measured) == [0.0, 1.0, 1.0, 3.0, 4.0, 10.0, 16.0, 30.0]
    assert breakdown.overall.median == pytest.approx(3.5)


def test_the_report_and_the_per_inquiry_clock_agree_on_random_inquiries(app):
    """The page's figures come from SQL aggregates; they must match the clock run per inquiry,
    for hours stored with the response and hours the report measures itself alike."""
    import random

    rng = random.Random(7)
    factories.CountyFactory(fips=DUNKLIN, name="Dunklin County")
    topics = [None, TopicFactory(response_target_hours=8), TopicFactory(response_target_hours=24)]
    start = local(2025, 10, 1, 0)
    for _ in range(300):
        received = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 200))
        responded = received + timedelta(minutes=rng.randrange(0, 60 * 24 * 20)) if rng.random() < 0.9 else None
        status = InquiryStatus.SPAM if rng.random() < 0.05 else InquiryStatus.RESPONDED
        stored = round(rng.uniform(0, 60), 2) if responded is not None and rng.random() < 0.5 else None
        InquiryFactory(
            received_at=received,
            first_response_at=responded,
            first_response_hours=stored,
            status=status,
            county_fips=rng.choice([DUNKLIN, None]),
            language=rng.choice(["en", "es"]),
            topic=rng.choice(topics),
        )
    period = services.Period(date(2025, 10, 1), date(2026, 3, 31), CHICAGO)

    reported = services.response_breakdown(period, AS_OF)
    per_inquiry = reference.breakdown_of(reference.responses(period))

    def plain(breakdown):
        groups = {"all": breakdown.overall, **breakdown.by_county, **breakdown.by_language}
        return {key: (f.count, f.median, f.p90, f.within_target_share) for key, f in groups.items()}

    assert plain(reported).keys() == plain(per_inquiry).keys()
    for key, (count, median, p90, share) in plain(per_inquiry).items():
        assert plain(reported)[key] == (count, pytest.approx(median), pytest.approx(p90), pytest.approx(share)), key


@pytest.mark.parametrize(
    ("builder", "rows"),
    [
        (services.by_county, [("Dunklin County", 6), ("St. Louis City", 2), (services.NO_COUNTY, 1)]),
        (services.by_language, [("English", 7), ("Spanish", 2)]),
        (services.by_topic, [(services.NO_TOPIC, 7), ("Media", 2)]),
        # Dunklin is in two regions and counts in both.
        (services.by_region, [("Bootheel", 6), ("Delta", 6), ("St. Louis", 2), (services.NO_REGION, 1)]),
        (services.by_organisation, [("Bootheel Babies", 6), ("Generate Health", 2), (services.NO_ORGANISATION, 1)]),
        (services.by_month, [("March 2026", 9)]),
    ],
)
def test_counts_leave_out_spam_and_other_periods(march, builder, rows):
    assert builder(MARCH_PERIOD).rows == rows


def test_the_page_counts_counties_and_languages_in_the_loops_statement(march):
    """The page's counts by county and by language are the sums of the loop's counts per county
    and language, which it reads anyway: its counts' statement (the one over the months) leaves
    those two out, and each count table holds what it holds alone."""
    with statements_run() as ran:
        report = services.build_report(MARCH_PERIOD, AS_OF)
    statements = [statement for statement, _parameters in ran]

    (counting,) = [statement for statement in statements if "months" in statement]
    assert "county_fips" not in counting
    assert "language" not in counting
    for name, builder in services.COUNT_TABLES.items():
        assert report.table(name).rows == builder(MARCH_PERIOD, None).rows, name


def test_months_follow_local_time_and_include_empty_months(app):
    period = services.Period(date(2026, 1, 15), date(2026, 4, 10), CHICAGO)
    for received in (
        local(2026, 1, 14, 23, 59),  # before the period
        local(2026, 1, 15, 0, 0),
        local(2026, 2, 28, 23, 59),  # already March in UTC
        local(2026, 3, 1, 0, 0),
        local(2026, 3, 31, 23, 0),  # April in UTC, after the clocks changed
        local(2026, 4, 10, 23, 59),
        local(2026, 4, 11, 0, 0),  # after the period
    ):
        InquiryFactory(received_at=received)
    InquiryFactory(received_at=local(2026, 3, 15), status=InquiryStatus.SPAM)

    assert services.by_month(period).rows == [("January 2026", 1), ("February 2026", 1), ("March 2026", 2), ("April 2026", 1)]


def test_months_over_decades_are_bucketed_correctly(app):
    period = services.Period(date(2000, 1, 1), date(2030, 12, 31), CHICAGO)
    InquiryFactory(received_at=local(2001, 7, 4))
    InquiryFactory(received_at=local(2026, 11, 30, 23))

    rows = dict(services.by_month(period).rows)

    assert len(rows) == 31 * 12
    assert rows["July 2001"] == 1
    assert rows["November 2026"] == 1
    assert sum(rows.values()) == 2


def test_open_load_counts_open_inquiries_per_contact_now(app):
    now = utcnow()
    busy = factories.ContactFactory(name="Busy Contact")
    calm = factories.ContactFactory(name="Calm Contact")
    for status, due in ((InquiryStatus.ASSIGNED, now - timedelta(hours=1)), (InquiryStatus.IN_PROGRESS, now + timedelta(days=1))):
        InquiryFactory(assigned_contact=busy, status=status, due_at=due, received_at=now - timedelta(days=400))
    InquiryFactory(assigned_contact=busy, status=InquiryStatus.CLOSED, outcome=InquiryOutcome.CONNECTED, first_response_at=now)
    InquiryFactory(assigned_contact=calm, status=InquiryStatus.RESPONDED, first_response_at=now)
    InquiryFactory(assigned_contact=None, status=InquiryStatus.NEW)
    InquiryFactory(assigned_contact=calm, status=InquiryStatus.SPAM)

    table = services.open_load(now)
    top = services.open_load(now, limit=1)

    assert table.rows == [
        ("Busy Contact", busy.organisation.name, 2, 1),
        ("Calm Contact", calm.organisation.name, 1, 0),
        (services.UNASSIGNED, "", 1, 0),
    ]
    assert top.rows == table.rows[:1]
    assert top.row_count == 3


# --- PostgreSQL's percentile is crm.reports.stats' percentile ---------------------------------------


@pytest.fixture
def on_postgresql(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("percentile_cont is PostgreSQL's; on SQLite the report uses crm.reports.stats itself")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sample=st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=40),
    p=st.integers(min_value=0, max_value=100),
)
def test_percentile_cont_is_linear_interpolation_between_closest_ranks(on_postgresql, sample, p):
    hours = column("hours", Float)
    sql = select(func.percentile_cont(p / 100).within_group(hours)).select_from(
        values(hours, name="sample").data([(value,) for value in sample])
    )

    # Exactly, not nearly: a figure a hair apart can round the other way on the page.
    assert db.session.scalar(sql) == stats.percentile(sample, p)


# --- the period's figures read the report index alone ------------------------------------------


def _report_index_columns() -> set[str]:
    index = next(index for index in Inquiry.__table__.indexes if index.name == "ix_inquiries_report")
    return {column.name for column in index.columns} | set(index.dialect_options["postgresql"]["include"])


def _inquiry_columns(statement) -> set[str]:
    return {
        element.name
        for element in visitors.iterate(statement)
        if isinstance(element, Column) and element.table is Inquiry.__table__
    }


# Every statement that reads all the period's inquiries (the counts, the hours to response and
# acceptance, and the loop's counts and passes); those over a few rows found by a partial index (missed
# deadlines, hours measured now) and the open load are not among them.
PERIOD_STATEMENTS = {
    "counts": lambda: services.count_query(len(MARCH_PERIOD.months())),
    "responses and acceptances": lambda: timed.waits_query(0),
    "loop counts": lambda: loop.counts_query(),
    "passes": lambda: loop.passes_query(),
}


@pytest.mark.parametrize("name", PERIOD_STATEMENTS)
def test_the_report_index_holds_every_column_a_period_statement_reads(app, name):
    """On PostgreSQL ix_inquiries_report covers the period's statements: each reads the
    period's entries of the index and never the table's rows (an index-only scan)."""
    read = _inquiry_columns(PERIOD_STATEMENTS[name]())

    assert "received_at" in read, "not a statement over the period"
    assert read <= _report_index_columns(), sorted(read - _report_index_columns())


def test_the_page_reads_the_period_once_for_both_waits(on_postgresql, march):
    """Hours to first response and to acceptance come from one sort of the period's rows per
    grouping, not one statement each (crm.reports.timed)."""
    with statements_run() as ran:
        report = services.build_report(MARCH_PERIOD, AS_OF)
    statements = [statement for statement, _parameters in ran]

    assert sum("percentile_cont" in statement for statement in statements) == 1
    assert report.overall.median == 6.0


def test_the_report_reuses_its_statements_from_one_request_to_the_next(app, march):
    """The report's statements are built once per shape (crm.reports.common): a second report,
    at another time or of another period as many months long, executes the very statement
    objects the first did, the values of each sent as parameters."""
    periods = [
        (MARCH_PERIOD, AS_OF),
        (MARCH_PERIOD, AS_OF + timedelta(days=1)),
        (services.Period(date(2026, 1, 1), date(2026, 1, 31), CHICAGO), AS_OF),
        (services.Period(date(2025, 11, 1), date(2025, 11, 30), CHICAGO), AS_OF - timedelta(days=150)),
    ]
    executed: list[list[object]] = []
    reports = []
    db.session.flush()  # the fixture's inquiries, written before the first report's first statement
    for period, now in periods:
        with statement_objects_run() as ran:
            reports.append(services.build_report(period, now))
        executed.append(ran)

    march_first, march_again, january, november = ({id(clause) for clause in clauses} for clauses in executed)
    assert len(march_again) >= 7
    assert march_again <= march_first  # the first also read the holiday calendars, to measure a wait
    assert len(january) >= 7
    assert january == november
    assert [report.total for report in reports] == [reports[0].total, reports[0].total, 0, 0]
    assert reports[0].total > 0


def test_the_passes_index_holds_every_column_the_passes_statement_reads(app):
    """The report finds the passes made since its period began by time, from the index alone
    on PostgreSQL (the inquiry and the reason ride along)."""
    index = next(index for index in InquiryPass.__table__.indexes if index.name == "ix_inquiry_passes_passed_at")
    held = {column.name for column in index.columns} | set(index.dialect_options["postgresql"]["include"])
    read = {
        element.name
        for element in visitors.iterate(loop.passes_query())
        if isinstance(element, Column) and element.table is InquiryPass.__table__
    }

    assert [column.name for column in index.columns] == ["passed_at"]
    assert read <= held, sorted(read - held)


# --- the business clock matches the SLA clock ------------------------------------------------------

_instants = st.datetimes(
    # Hypothesis takes naive bounds and attaches the zone; the range holds two DST changes.
    min_value=datetime(2025, 10, 20),  # noqa: DTZ001
    max_value=datetime(2026, 4, 20),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=_instants, end=_instants, holidays=st.sets(st.dates(date(2025, 10, 20), date(2026, 4, 20)), max_size=5))
def test_business_clock_agrees_with_business_hours_between(start, end, holidays):
    calendar = BusinessCalendar(timezone=CHICAGO, holidays=frozenset(holidays))
    clock = reference.BusinessClock.covering(calendar, min(start, end), max(start, end))

    assert clock.hours_between(start, end) == pytest.approx(business_hours_between(start, end, calendar), abs=1e-6)


# --- the page -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "shown"),
    [
        (None, "count", NO_FIGURE),
        (None, "text", NO_FIGURE),
        (1234567, "count", "1,234,567"),
        (0, "count", "0"),
        (2.26, "hours", "2.3"),
        (75.0, "percent", "75.0%"),
        ("<b>Dunklin</b>", "text", "<b>Dunklin</b>"),  # the template escapes it
    ],
)
def test_a_cell_is_formatted_by_its_kind(value, kind, shown):
    assert format_cell(value, kind) == shown


def test_a_text_cell_is_escaped_on_the_page(app):
    table = services.Table("t", "T", ("Name", "Inquiries"), ("text", "count"), [("<b>x</b>", None)])
    with app.test_request_context():
        html = app.jinja_env.from_string(
            '{% from "reports/_report.html" import report_section %}{{ report_section(table, {}) }}'
        ).render(table=table)

    assert '<th scope="row">&lt;b&gt;x&lt;/b&gt;</th>' in html
    assert f'<td class="num">{NO_FIGURE}</td>' in html


@pytest.mark.parametrize(
    ("kinds", "rows", "page_limit", "shown"),
    [
        (("text", "count"), [("Dunklin", 1200)], None, [("Dunklin", [("1,200", True)])]),
        (
            ("text", "count", "hours", "percent"),
            [("Spanish", 3, None, 66.666)],
            None,
            [("Spanish", [("3", True), (NO_FIGURE, True), ("66.7%", True)])],
        ),
        # A text column after the label is no figure, and is left for the template to escape.
        (("text", "text", "count"), [("Ann", "<b>Org</b>", 2)], None, [("Ann", [("<b>Org</b>", False), ("2", True)])]),
        (("text", "count"), [("a", 3), ("b", 2), ("c", 1)], 2, [("a", [("3", True)]), ("b", [("2", True)])]),
        (("text", "count"), [], 2, []),
    ],
)
def test_the_cells_a_table_shows(kinds, rows, page_limit, shown):
    columns = tuple(f"Column {number}" for number in range(len(kinds)))
    table = services.Table("t", "T", columns, kinds, rows, page_limit=page_limit)

    assert list(table.shown_cells()) == shown


def test_the_page_shows_a_long_tables_first_rows_and_says_so(app):
    rows = [("First", "<i>Org</i>", 3), ("Second", "Org", 2), ("Third", "Org", 1)]
    table = services.Table("t", "T", ("Name", "Organisation", "Open"), ("text", "text", "count"), rows, page_limit=2)
    with app.test_request_context():
        html = app.jinja_env.from_string(
            '{% from "reports/_report.html" import report_section %}{{ report_section(table, {}) }}'
        ).render(table=table)

    assert "(the 2 largest of 3; the CSV has them all)" in html
    assert '<th scope="row">First</th>' in html
    assert '<th scope="row">Second</th>' in html
    assert "Third" not in html
    assert "<td>&lt;i&gt;Org&lt;/i&gt;</td>" in html
    assert '<td class="num">3</td>' in html


def test_page_shows_figures_charts_and_tables(client, login, march):
    login(Role.MANAGER)

    response = client.get("/reports/", query_string=MARCH)
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "Spam is excluded from every figure on this page" in page
    assert "<dt>Median first response</dt><dd>6.0 business hours</dd>" in page
    assert "<dt>90th percentile</dt><dd>23.0 business hours</dd>" in page
    assert "<dt>Answered within target</dt><dd>75.0%</dd>" in page
    for name in services.TABLE_NAMES:
        assert f'src="/reports/chart/{name}.svg?from=2026-03-01&amp;to=2026-03-31"' in page
        assert f'href="/reports/export/{name}.csv?from=2026-03-01&amp;to=2026-03-31"' in page
    assert page.count('<img class="report-chart"') == len(services.TABLE_NAMES)
    assert page.count(' alt="Bar chart of ') == len(services.TABLE_NAMES)
    assert '<th scope="row">Dunklin County</th>' in page
    # The Content-Security-Policy allows no inline styles.
    assert "style=" not in page
    assert "<style" not in page


def test_page_queries_do_not_grow_with_the_inquiries(client, login, march, count_queries):
    login(Role.MANAGER)
    client.get("/reports/", query_string=MARCH)
    with count_queries() as few:
        assert client.get("/reports/", query_string=MARCH).status_code == 200
    for number in range(20):
        InquiryFactory(
            received_at=local(2026, 3, 1 + number),
            first_response_at=local(2026, 3, 1 + number, 15),
            first_response_hours=6.0 if number % 2 else None,
            county_fips=ST_LOUIS_CITY,
            language="es",
            topic=TopicFactory(),
            organisation=factories.OrganisationFactory(),
            assigned_contact=factories.ContactFactory(),
            status=InquiryStatus.ASSIGNED,
        )
    db.session.commit()
    client.get("/reports/", query_string=MARCH)  # reopens the test's savepoint: not the page's query
    with count_queries() as many:
        assert client.get("/reports/", query_string=MARCH).status_code == 200

    assert many.count == few.count
    # The user, the counts, the regions, the responses to measure now and their organisations'
    # holidays, the response figures (on SQLite and their county names), the deadlines missed,
    # the loop's counts and its passes, the acceptances to measure now and the times to
    # acceptance, the open load.
    assert many.count <= 13


def test_page_defaults_to_the_last_90_days(client, login):
    from crm.timezones import local_time

    login(Role.MANAGER)
    today = local_time(utcnow()).date()

    page = client.get("/reports/").get_data(as_text=True)

    assert f'value="{today.isoformat()}"' in page
    assert f'value="{(today - timedelta(days=89)).isoformat()}"' in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "2026-02-30"}, "That date does not exist."),
        ({"from": "31/03/2026"}, "Enter a real date."),
        ({"to": "<script>alert(1)</script>"}, "Enter a real date."),
        ({"to": "2026-03-01\x00"}, "Enter a real date."),
        ({"from": "0001-01-01"}, "Enter a date between 2000 and 2099."),
        ({"to": "9999-12-31"}, "Enter a date between 2000 and 2099."),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "The end date must be on or after the start date."),
    ],
)
def test_bad_dates_are_field_errors_never_500(client, login, query, message):
    login(Role.MANAGER)

    response = client.get("/reports/", query_string=query)

    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
    assert client.get("/reports/export/month.csv", query_string=query).status_code == 400
    assert client.get("/reports/chart/month.svg", query_string=query).status_code == 400


def test_one_date_alone_is_enough(client, login):
    login(Role.MANAGER)

    assert 'value="2026-01-01"' in client.get("/reports/?to=2026-03-31").get_data(as_text=True)
    assert client.get("/reports/?from=2026-03-01").status_code == 200


def test_a_period_given_by_its_end_alone_starts_no_earlier_than_the_dates_allowed(client, login):
    """Ninety days back from 15 January 2000 is October 1999, which the form refuses: the page
    must not link to charts and downloads that answer 400."""
    login(Role.MANAGER)

    html = client.get("/reports/?to=2000-01-15").get_data(as_text=True)

    assert 'value="2000-01-01"' in html
    links = re.findall(r'(?:src|href)="(/reports/(?:chart|export)/month\.(?:svg|csv)[^"]*)"', html)
    assert len(links) == 2
    assert [client.get(unescape(link)).status_code for link in links] == [200, 200]


def test_unknown_table_is_404(client, login):
    login(Role.MANAGER)

    assert client.get("/reports/export/secrets.csv").status_code == 404
    assert client.get("/reports/chart/secrets.svg").status_code == 404


@pytest.mark.parametrize("name", services.TABLE_NAMES)
def test_every_table_has_a_chart_and_a_csv(client, login, march, name):
    login(Role.MANAGER)

    chart = client.get(f"/reports/chart/{name}.svg", query_string=MARCH)
    export = client.get(f"/reports/export/{name}.csv", query_string=MARCH)

    assert chart.status_code == 200
    assert chart.mimetype == "image/svg+xml"
    root = parse_svg(chart.get_data())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert export.status_code == 200
    assert export.mimetype == "text/csv"
    assert export.headers["Content-Disposition"] == f'attachment; filename="{name.replace("_", "-")}-2026-03-01-to-2026-03-31.csv"'
    assert export.get_data().startswith(codecs.BOM_UTF8)


def test_county_csv_holds_the_table(client, login, march):
    login(Role.MANAGER)

    text = client.get("/reports/export/response_county.csv", query_string=MARCH).get_data().decode("utf-8-sig")

    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        [
            "County",
            "Responded",
            "Unanswered past target",
            "Median (business hours)",
            "90th percentile (business hours)",
            "Within target (%)",
        ],
        ["Dunklin County", "5", "0", "3.0", "16.0", "80.0"],
        ["St. Louis City", "2", "0", "6.0", "7.6", "100.0"],
        [services.NO_COUNTY, "1", "0", "30.0", "30.0", "0.0"],
    ]


def test_a_bar_per_row_longest_for_the_largest(march):
    svg = charts.bar_chart("Inquiries by county", services.by_county(MARCH_PERIOD).chart_points())
    bars = parse_svg(svg).findall("{http://www.w3.org/2000/svg}rect")

    widths = [float(bar.get("width")) for bar in bars]
    assert widths[0] == charts.WIDTH - charts.LABEL_WIDTH - charts.VALUE_WIDTH
    assert widths == sorted(widths, reverse=True)
    assert len(bars) == 3


def test_a_month_chart_longer_than_it_draws_says_so(client, login):
    """A century is 1,200 months, the chart draws its first 240: without a word, 2026's
    inquiries would seem missing from it."""
    login(Role.MANAGER)
    InquiryFactory(received_at=local(2026, 3, 10))

    svg = client.get("/reports/chart/month.svg", query_string={"from": "2000-01-01", "to": "2099-12-31"}).get_data()

    root = parse_svg(svg)
    assert len(root.findall("{http://www.w3.org/2000/svg}rect")) == 240
    assert root.findtext("{http://www.w3.org/2000/svg}title") == "Inquiries by month (first 240 months)"


# --- hostile names -----------------------------------------------------------------------------

NAUGHTY = naughty_strings()
# PostgreSQL text cannot hold NUL; the CSV unit tests cover it at the cell level.
STORABLE = [text[:120] for text in NAUGHTY if "\x00" not in text]


@pytest.fixture
def naughty_topics(app):
    for number, text in enumerate(STORABLE):
        topic = Topic(name_en=text, name_es=text, response_target_hours=16)
        db.session.add(Inquiry(reference=f"NS-{number:05d}", received_at=local(2026, 3, 10), name="x", email="x@example.org", message="x", topic=topic))
    db.session.commit()


def test_csv_export_neutralises_hostile_names(client, login, naughty_topics):
    login(Role.MANAGER)

    response = client.get("/reports/export/topic.csv", query_string=MARCH)
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"), newline="")))

    assert rows[0] == ["Topic", "Inquiries"]
    assert Counter(row[0] for row in rows[1:]) == Counter(neutralise_cell(text) for text in STORABLE)
    assert all(not row[0].startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows[1:])


def test_page_and_chart_survive_hostile_names(client, login, naughty_topics):
    login(Role.MANAGER)

    page = client.get("/reports/", query_string=MARCH)
    chart = client.get("/reports/chart/topic.svg", query_string=MARCH)

    assert page.status_code == 200
    assert "<script>alert(0)</script>" not in page.get_data(as_text=True)
    assert chart.status_code == 200
    parse_svg(chart.get_data())


def test_chart_of_every_hostile_label_is_well_formed_xml():
    svg = charts.bar_chart("<b>&\"'", [(text, float(index)) for index, text in enumerate(NAUGHTY)])

    root = parse_svg(svg)
    labels = [element.text or "" for element in root.iter("{http://www.w3.org/2000/svg}text")]
    assert all(len(label) <= charts.MAX_LABEL for label in labels)
    assert "<script" not in svg


# --- access -----------------------------------------------------------------------------------

URLS = ["/reports/", "/reports/export/month.csv", "/reports/chart/month.svg"]


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("role", [Role.STAFF, Role.PARTNER])
def test_staff_and_partners_may_not_see_reports(client, login, url, role):
    login(role)

    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", URLS)
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMIN])
def test_managers_and_admins_see_reports(client, login, url, role):
    login(role)

    assert client.get(url).status_code == 200


def test_an_inquiry_unanswered_past_its_deadline_is_a_miss(march):
    """Left out, an unanswered inquiry made the share look better the longer nobody answered it."""
    waiting = db.session.scalars(select(Inquiry).where(Inquiry.status == InquiryStatus.ASSIGNED)).one()
    waiting.due_at = local(2026, 3, 23, 9)
    db.session.commit()

    breakdown = services.response_breakdown(MARCH_PERIOD, AS_OF)
    before_the_deadline = services.response_breakdown(MARCH_PERIOD, local(2026, 3, 23, 8))

    assert (breakdown.overall.count, breakdown.overall.missed) == (8, 1)
    assert breakdown.overall.within_target_share == pytest.approx(6 / 9)
    assert breakdown.by_county["Dunklin County"].within_target_share == pytest.approx(4 / 6)
    assert breakdown.by_county["St. Louis City"].within_target_share == pytest.approx(1.0)
    assert services.response_overall(breakdown).rows == [("All", 8, 1, 6.0, 23.0, 66.7)]
    assert before_the_deadline.overall.within_target_share == pytest.approx(0.75)
    assert reference.breakdown_of(reference.responses(MARCH_PERIOD), reference.misses(MARCH_PERIOD, AS_OF)) == breakdown


def test_a_group_with_only_misses_shows_none_within_target(app):
    factories.CountyFactory(fips=DUNKLIN, name="Dunklin County")
    InquiryFactory(
        received_at=local(2026, 3, 2), due_at=local(2026, 3, 3), status=InquiryStatus.NEW, county_fips=DUNKLIN, language="es"
    )
    db.session.commit()

    breakdown = services.response_breakdown(MARCH_PERIOD, AS_OF)

    assert breakdown.overall == services.ResponseFigures(0, None, None, 0, 1)
    assert breakdown.overall.within_target_share == 0.0
    assert breakdown.by_language["Spanish"].within_target_share == 0.0
    assert services.response_overall(breakdown).rows == [("All", 0, 1, None, None, 0.0)]

"""The closed loop in the report (crm.reports.loop): time to acceptance, passes, outcomes and the
families' answers, by county and by language, held to a recount one inquiry at a time."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from crm.business_hours import business_hours_between
from crm.extensions import db
from crm.family.rules import Answer
from crm.family.services import record_answer
from crm.holidays.calendars import calendar_for
from crm.inquiries import acceptance_jobs, accepting
from crm.inquiries import services as inquiry_actions
from crm.models import AttemptMethod, Inquiry, InquiryOutcome, PassReason, Role
from crm.models.inquiry_status import InquiryStatus
from crm.reports import loop, services
from tests import factories
from tests import report_reference as reference
from tests.fixtures_world import World, reload

CHICAGO = "America/Chicago"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
PERIOD = services.Period(date(2026, 3, 1), date(2026, 3, 31), CHICAGO)
# When the report is read: some acceptance windows have run out, some have not.
AS_OF = datetime(2026, 3, 23, 15, tzinfo=UTC)
MONDAY = datetime(2026, 3, 2, 15, tzinfo=UTC)  # 9:00 in Chicago
CITY = "29510"
CHOSEN = [reason for reason in PassReason if reason is not PassReason.NOT_ACCEPTED_IN_TIME]


@pytest.fixture
def manager(app):
    return factories.UserFactory(role=Role.MANAGER, name="Mia Manager")


def close(inquiry: Inquiry, outcome: InquiryOutcome, actor, at: datetime) -> None:
    """Answered, then closed with ``outcome`` as the close form would (an attempt first when
    the outcome needs one)."""
    if outcome is InquiryOutcome.UNREACHABLE:
        inquiry_actions.log_attempt(inquiry, AttemptMethod.NO_ANSWER, at, "", actor, at)
    if inquiry.first_response_at is None:
        inquiry_actions.log_response(inquiry, "We called.", "phone", actor, at)
    detail = (
        ""
        if outcome in (InquiryOutcome.UNREACHABLE, InquiryOutcome.NOT_NEEDED, InquiryOutcome.OUT_OF_AREA)
        else "A program"
    )
    inquiry_actions.change_status(
        inquiry, InquiryStatus.CLOSED, actor, at + timedelta(minutes=1), inquiry_actions.Outcome(outcome, detail)
    )


def generate(world: World, actor, seed: int, count: int = 45) -> None:
    """Inquiries through the app's own actions: routed at receipt, passed on by people and by
    the acceptance timer, accepted, answered, closed with every outcome, followed up and
    answered by the family; some spam, some outside the period, some accepted before hours
    were stored."""
    rng = random.Random(seed)
    factories.CountyFactory(fips=CITY, name="St. Louis City")
    for number in range(count):
        received = MONDAY + timedelta(minutes=rng.randrange(0, 60 * 24 * 18))
        if rng.random() < 0.08:
            received -= timedelta(days=20)  # February: outside the period
        inquiry = factories.InquiryFactory(
            now=received,
            email=f"family{number}@example.net",
            topic=rng.choice([world.home_visits, world.doulas, None]),
            language=rng.choice(["en", "en", "es"]),
        )
        inquiry.county_fips = rng.choice([world.county.fips, world.county.fips, CITY, None])
        db.session.commit()
        at = received
        for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
            if inquiry.acceptance_due_at is None:
                break  # left with the fallback, who passed it already: nobody left to pass it to
            at += timedelta(minutes=rng.randrange(10, 60 * 30))
            if rng.random() < 0.3:
                at = max(at, inquiry.acceptance_due_at)
                acceptance_jobs.move_unaccepted(inquiry, at)
                db.session.commit()
            else:
                reason = rng.choice(CHOSEN)
                accepting.pass_on(
                    inquiry,
                    reason.value,
                    "Another reason" if reason is PassReason.OTHER else "",
                    actor,
                    at,
                    shown_contact_id=inquiry.assigned_contact_id,
                )
        path = rng.random()
        if path < 0.15:
            continue  # left with its contact, unaccepted: past its window by AS_OF or not
        if path < 0.2:
            at += timedelta(hours=rng.randrange(1, 30))
            inquiry_actions.log_response(inquiry, "We wrote back.", "email", actor, at)  # answered, never accepted
            continue
        at += timedelta(minutes=rng.randrange(5, 60 * 40))
        accepting.accept(inquiry, actor, at, shown_contact_id=inquiry.assigned_contact_id)
        if rng.random() < 0.15:
            inquiry.accepted_after_hours = None  # accepted before the hours were stored
            db.session.commit()
        if rng.random() < 0.06:
            inquiry_actions.change_status(inquiry, InquiryStatus.SPAM, actor, at + timedelta(hours=1))
            continue
        if rng.random() < 0.35:
            continue  # accepted, still being worked on
        at += timedelta(hours=rng.randrange(1, 60))
        close(inquiry, rng.choice(list(InquiryOutcome)), actor, at)
        if rng.random() < 0.7:
            inquiry.follow_up_sent_at = at + timedelta(days=5)
            db.session.commit()
            if rng.random() < 0.7:
                record_answer(inquiry.id, rng.choice([Answer.YES, Answer.YES, Answer.NO]), at + timedelta(days=6))


def assert_loop_matches_recount(period: services.Period = PERIOD, now: datetime = AS_OF) -> loop.LoopFigures:
    """Table first: every loop table of the report holds what the recount's would; then the
    figures behind them, group by group."""
    reported = loop.loop_figures(period, now)
    recounted = reference.loop_recount(period, now)
    for name, builder in loop.LOOP_TABLES.items():
        mine, theirs = builder(reported), builder(recounted)
        assert mine.columns == theirs.columns, name
        assert [row[0] for row in mine.rows] == [row[0] for row in theirs.rows], name
        for got, expected in zip(mine.rows, theirs.rows, strict=True):
            assert got == pytest.approx(expected, abs=0.051), (name, got, expected)
    assert reported.counts == recounted.counts
    assert reported.acceptance.by_county.keys() == recounted.acceptance.by_county.keys()
    assert reported.acceptance.by_language.keys() == recounted.acceptance.by_language.keys()
    groups = {"all": reported.acceptance.overall, **reported.acceptance.by_county, **reported.acceptance.by_language}
    expected = {
        "all": recounted.acceptance.overall,
        **recounted.acceptance.by_county,
        **recounted.acceptance.by_language,
    }
    for key, figures in expected.items():
        assert groups[key] == loop.AcceptanceFigures(
            figures.accepted, pytest.approx(figures.median), pytest.approx(figures.p90)
        ), key
    return reported


# --- the generated world -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [3, 11])
def test_the_loop_figures_match_a_recount_over_a_generated_world(world, manager, seed):
    generate(world, manager, seed)

    figures = assert_loop_matches_recount()

    # The world exercised what the figures count.
    counts = figures.counts.overall
    assert min(counts.accepted, counts.passed, counts.closed, counts.answered, counts.not_accepted) > 0
    assert counts.passes[PassReason.NOT_ACCEPTED_IN_TIME] > 0
    assert figures.counts.overall.inquiries == sum(group.inquiries for group in figures.counts.by_county.values())
    assert figures.counts.overall.inquiries == sum(group.inquiries for group in figures.counts.by_language.values())


def test_the_figures_follow_the_clock_they_are_read_at(world, manager):
    generate(world, manager, 5)

    early = assert_loop_matches_recount(now=MONDAY)
    late = assert_loop_matches_recount(now=AS_OF + timedelta(days=30))

    assert early.counts.overall.not_accepted <= late.counts.overall.not_accepted


# --- by hand -------------------------------------------------------------------------------------


@pytest.fixture
def spanish_passed_then_accepted(world, manager):
    """A Spanish request for home visits from Dunklin: Nora passes it for language at 11:00,
    Ned accepts it at 13:00 (four business hours after receipt)."""
    inquiry = factories.InquiryFactory(now=MONDAY, topic=world.home_visits, language="es")
    inquiry.county_fips = world.county.fips
    db.session.commit()
    first = inquiry.assigned_contact
    accepting.pass_on(
        inquiry, PassReason.LANGUAGE.value, "", manager, MONDAY + timedelta(hours=2), shown_contact_id=inquiry.assigned_contact_id
    )
    accepting.accept(inquiry, manager, MONDAY + timedelta(hours=4), shown_contact_id=inquiry.assigned_contact_id)
    return reload(inquiry), first


def test_acceptance_stores_business_hours_from_receipt(spanish_passed_then_accepted):
    inquiry, first = spanish_passed_then_accepted

    assert inquiry.assigned_contact_id != first.id
    assert inquiry.accepted_after_hours == pytest.approx(4.0)
    assert inquiry.accepted_after_hours == business_hours_between(
        inquiry.received_at, inquiry.accepted_at, calendar_for(inquiry.organisation_id)
    )


def test_routing_it_on_forgets_the_hours_of_an_earlier_acceptance(spanish_passed_then_accepted, manager):
    inquiry, _first = spanish_passed_then_accepted

    accepting.pass_on(
        inquiry, PassReason.NO_CAPACITY.value, "", manager, MONDAY + timedelta(hours=5), shown_contact_id=inquiry.assigned_contact_id
    )

    assert reload(inquiry).accepted_at is None
    assert reload(inquiry).accepted_after_hours is None


def test_loop_tables_by_hand(spanish_passed_then_accepted, world, manager):
    """One Spanish inquiry passed for language and accepted, one English one nobody accepted
    in its window, one closed as connected whose family said yes."""
    waiting = factories.InquiryFactory(now=MONDAY + timedelta(days=1), topic=world.doulas)
    waiting.county_fips = None  # outside Missouri, or not known
    closed = factories.InquiryFactory(now=MONDAY + timedelta(days=2), topic=world.doulas)
    closed.county_fips = world.county.fips
    db.session.commit()
    accepting.accept(
        closed, manager, MONDAY + timedelta(days=2, hours=1), shown_contact_id=closed.assigned_contact_id
    )
    close(closed, InquiryOutcome.CONNECTED, manager, MONDAY + timedelta(days=2, hours=2))
    closed.follow_up_sent_at = MONDAY + timedelta(days=7)
    db.session.commit()
    assert record_answer(closed.id, Answer.YES, MONDAY + timedelta(days=8)).value == "recorded"

    figures = assert_loop_matches_recount()
    tables = {name: builder(figures) for name, builder in loop.LOOP_TABLES.items()}

    assert tables["acceptance"].rows == [("All", 3, 2, 1, 2.5, 3.7)]
    assert tables["acceptance_county"].rows == [
        ("Dunklin County", 2, 2, 0, 2.5, 3.7),
        (services.NO_COUNTY, 1, 0, 1, None, None),
    ]
    assert tables["acceptance_language"].rows == [("English", 2, 1, 1, 1.0, 1.0), ("Spanish", 1, 1, 0, 4.0, 4.0)]
    assert tables["passes"].rows == [
        ("Not our area", 0, 0),
        ("Not a service we offer", 0, 0),
        ("No capacity", 0, 0),
        ("Language", 1, 1),
        ("Other", 0, 0),
        ("Not accepted in time", 0, 0),
        ("Any reason", 1, 1),
    ]
    # Every language has its row, and a group nobody passed on shows its zeros.
    assert tables["passes_language"].rows == [
        ("English", 2, 0, 0.0, 0, 0, 0, 0, 0, 0),
        ("Spanish", 1, 1, 100.0, 0, 0, 0, 1, 0, 0),
    ]
    assert tables["outcomes"].rows[0] == ("Connected to a service", 1, 100.0)
    assert tables["outcomes"].rows[-1] == ("Every outcome", 1, 100.0)
    assert tables["outcomes_county"].rows == [
        ("Dunklin County", 2, 1, 100.0, 1, 0, 0, 0, 0, 0),
        (services.NO_COUNTY, 1, 0, None, 0, 0, 0, 0, 0, 0),
    ]
    assert tables["family"].rows == [("All", 1, 1, 1, 1, 100.0, 100.0)]
    assert tables["family_language"].rows == [("English", 1, 1, 1, 1, 100.0, 100.0), ("Spanish", 0, 0, 0, 0, None, None)]


def test_a_language_without_inquiries_still_has_its_row(app):
    figures = loop.loop_figures(PERIOD, AS_OF)

    assert loop.passes_by_language(figures).rows == [
        ("English", 0, 0, None, 0, 0, 0, 0, 0, 0),
        ("Spanish", 0, 0, None, 0, 0, 0, 0, 0, 0),
    ]
    assert loop.acceptance_overall(figures).rows == [("All", 0, 0, 0, None, None)]
    assert loop.family_overall(figures).rows == [("All", 0, 0, 0, 0, None, None)]


def test_an_inquiry_answered_without_being_accepted_is_not_a_miss(world, manager):
    inquiry = factories.InquiryFactory(now=MONDAY, topic=world.doulas)
    inquiry_actions.log_response(inquiry, "We wrote back.", "email", manager, MONDAY + timedelta(hours=1))

    figures = assert_loop_matches_recount()

    assert (figures.counts.overall.accepted, figures.counts.overall.not_accepted) == (0, 0)


def test_passes_at_the_edges_of_the_period_count_with_their_inquiry(world, manager):
    """The passes statement leaves out passes older than the period: one made the instant the
    period opens, of an inquiry received that instant, still counts; one made inside the
    period, of an inquiry received before it, does not."""
    opening = PERIOD.starts_at
    inside = factories.InquiryFactory(now=opening, topic=world.doulas)
    before = factories.InquiryFactory(now=opening - timedelta(seconds=1), topic=world.doulas)
    accepting.pass_on(
        inside, PassReason.NO_CAPACITY.value, "", manager, opening, shown_contact_id=inside.assigned_contact_id
    )
    accepting.pass_on(
        before, PassReason.LANGUAGE.value, "", manager, opening + timedelta(hours=1), shown_contact_id=before.assigned_contact_id
    )

    figures = assert_loop_matches_recount()

    assert figures.counts.overall.passed == 1
    assert figures.counts.overall.passes[PassReason.NO_CAPACITY] == 1
    assert figures.counts.overall.passes[PassReason.LANGUAGE] == 0


def test_an_inquiry_with_neither_wait_stored_is_measured_once_for_each(world, manager):
    """Accepted and answered before either wait's hours were stored: the report measures both
    now, each in its own figures (crm.reports.timed reads them in one statement)."""
    inquiry = factories.InquiryFactory(now=MONDAY, topic=world.doulas)
    accepting.accept(inquiry, manager, MONDAY + timedelta(hours=2), shown_contact_id=inquiry.assigned_contact_id)
    inquiry_actions.log_response(inquiry, "We called.", "phone", manager, MONDAY + timedelta(hours=3))
    inquiry.accepted_after_hours = None
    inquiry.first_response_hours = None
    db.session.commit()

    figures = assert_loop_matches_recount()
    responses = services.response_breakdown(PERIOD, AS_OF)

    assert figures.acceptance.overall == loop.AcceptanceFigures(1, pytest.approx(2.0), pytest.approx(2.0))
    assert (responses.overall.count, responses.overall.median) == (1, pytest.approx(3.0))
    assert responses == reference.breakdown_of(reference.responses(PERIOD), reference.misses(PERIOD, AS_OF))


# --- the page, the CSV and who may read them -------------------------------------------------------


def test_page_shows_the_loop(client, login, spanish_passed_then_accepted):
    login(Role.MANAGER)

    page = client.get("/reports/", query_string=MARCH).get_data(as_text=True)

    assert "<dt>Median time to acceptance</dt><dd>4.0 business hours</dd>" in page
    assert "<dt>Passed on at least once</dt><dd>1</dd>" in page
    for name in loop.LOOP_TABLES:
        assert f'href="/reports/export/{name}.csv?from=2026-03-01&amp;to=2026-03-31"' in page
        assert f'src="/reports/chart/{name}.svg?from=2026-03-01&amp;to=2026-03-31"' in page


def test_passes_by_language_csv_holds_the_table(client, login, spanish_passed_then_accepted):
    login(Role.MANAGER)

    response = client.get("/reports/export/passes_language.csv", query_string=MARCH)
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"), newline="")))

    assert (
        response.headers["Content-Disposition"] == 'attachment; filename="passes-language-2026-03-01-to-2026-03-31.csv"'
    )
    assert rows == [
        [
            "Language",
            "Inquiries",
            "Passed on at least once",
            "Passed on (%)",
            "Passes: Not our area",
            "Passes: Not a service we offer",
            "Passes: No capacity",
            "Passes: Language",
            "Passes: Other",
            "Passes: Not accepted in time",
        ],
        ["Spanish", "1", "1", "100.0", "0", "0", "0", "1", "0", "0"],
        ["English", "0", "0", "", "0", "0", "0", "0", "0", "0"],
    ]


@pytest.mark.parametrize("name", list(loop.LOOP_TABLES))
@pytest.mark.parametrize("role", [Role.PARTNER, Role.STAFF])
def test_partners_and_staff_may_not_download_the_loop(client, login, spanish_passed_then_accepted, name, role):
    """Reports are for managers: a partner would see every other partner's passes and outcomes."""
    login(role)

    assert client.get(f"/reports/export/{name}.csv", query_string=MARCH).status_code == 403
    assert client.get(f"/reports/chart/{name}.svg", query_string=MARCH).status_code == 403

"""The report always matches a recount of the inquiries, whatever changed just before it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import Inquiry, Organisation, Topic
from crm.models.inquiry_status import InquiryStatus
from crm.reports import services
from tests import factories
from tests import report_reference as reference
from tests.test_reports import CHICAGO, DUNKLIN, ST_LOUIS_CITY, InquiryFactory, TopicFactory

MONDAY = datetime(2026, 3, 2, 15, tzinfo=UTC)
PERIOD = services.Period(date(2026, 3, 1), date(2026, 3, 31), CHICAGO)
AS_OF = datetime(2026, 4, 15, 15, tzinfo=UTC)


@pytest.fixture
def places(app):
    return {
        "dunklin": factories.CountyFactory(fips=DUNKLIN, name="Dunklin County"),
        "city": factories.CountyFactory(fips=ST_LOUIS_CITY, name="St. Louis City"),
        "topic": TopicFactory(name_en="Media", response_target_hours=8),
        "organisation": factories.OrganisationFactory(name="Bootheel Babies"),
    }


@pytest.fixture
def inquiries(places):
    """One inquiry answered (with stored hours), one awaiting its first response."""
    answered = InquiryFactory(
        received_at=MONDAY,
        first_response_at=MONDAY + timedelta(hours=3),
        first_response_hours=2.5,  # as if the calendar had changed since: the clock says 3
        county_fips=DUNKLIN,
        status=InquiryStatus.RESPONDED,
    )
    awaiting = InquiryFactory(
        received_at=MONDAY + timedelta(days=1),
        first_response_at=None,
        status=InquiryStatus.ASSIGNED,
        county_fips=DUNKLIN,
    )
    db.session.commit()
    return {"answered": answered, "awaiting": awaiting}


# --- the recount ---------------------------------------------------------------------------------


def recount(period: services.Period) -> dict[str, Counter]:
    """The counts straight from the inquiries, a plain GROUP BY for each: the definition."""
    names = {
        "topics": select(Topic.name_en).where(Topic.id == Inquiry.topic_id).scalar_subquery(),
        "counties": Inquiry.county_fips,
        "languages": Inquiry.language,
        "organisations": select(Organisation.name).where(Organisation.id == Inquiry.organisation_id).scalar_subquery(),
    }
    return {
        dimension: Counter(
            dict(db.session.execute(select(key, func.count()).where(*reference.in_period(period)).group_by(key)).all())
        )
        for dimension, key in names.items()
    }


def reported_counts(period: services.Period) -> dict[str, Counter]:
    counts = services.count_period(period)
    return {dimension: Counter(getattr(counts, dimension)) for dimension in ("topics", "counties", "languages", "organisations")}


def figures(breakdown: services.ResponseBreakdown) -> dict:
    groups = {"all": breakdown.overall, **breakdown.by_county, **breakdown.by_language}
    return {key: (f.count, f.missed, f.median, f.p90, f.within_target_share) for key, f in groups.items()}


def assert_report_matches_inquiries(period: services.Period = PERIOD) -> dict:
    """Compares the report with the recount and the per-inquiry clock; returns what it reported."""
    counts = reported_counts(period)
    assert counts == recount(period)
    assert sum(services.count_period(period).months.values()) == sum(counts["counties"].values())
    reported = figures(services.response_breakdown(period, AS_OF))
    per_inquiry = figures(reference.breakdown_of(reference.responses(period), reference.misses(period, AS_OF)))
    assert reported.keys() == per_inquiry.keys()
    for key, (count, missed, median, p90, share) in per_inquiry.items():
        assert reported[key] == (count, missed, pytest.approx(median), pytest.approx(p90), pytest.approx(share)), key
    return {"counts": counts, "figures": reported}


# --- every kind of change ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "shows"),
    [
        pytest.param(lambda i, p: setattr(i["answered"], "status", InquiryStatus.SPAM), True, id="marked as spam"),
        pytest.param(lambda i, p: setattr(i["answered"], "topic", p["topic"]), True, id="topic, by relationship"),
        pytest.param(lambda i, p: setattr(i["answered"], "topic_id", p["topic"].id), True, id="topic, by key"),
        pytest.param(lambda i, p: setattr(i["answered"], "county_fips", ST_LOUIS_CITY), True, id="county"),
        pytest.param(lambda i, p: setattr(i["answered"], "county", p["city"]), True, id="county, by relationship"),
        pytest.param(lambda i, p: setattr(i["answered"], "county_fips", None), True, id="county unknown"),
        pytest.param(lambda i, p: setattr(i["answered"], "language", "es"), True, id="language"),
        pytest.param(lambda i, p: setattr(i["answered"], "organisation", p["organisation"]), True, id="re-assigned"),
        pytest.param(lambda i, p: setattr(i["answered"], "first_response_hours", 1.0), True, id="response hours"),
        pytest.param(lambda i, p: setattr(i["answered"], "first_response_hours", None), True, id="hours not stored"),
        pytest.param(
            lambda i, p: setattr(i["awaiting"], "first_response_at", MONDAY + timedelta(days=2)), True, id="answered"
        ),
        pytest.param(
            lambda i, p: setattr(i["awaiting"], "first_response_hours", 5.0), False, id="hours without a response"
        ),
        pytest.param(
            lambda i, p: setattr(i["awaiting"], "due_at", MONDAY + timedelta(hours=8)), True, id="deadline passed unanswered"
        ),
        pytest.param(
            lambda i, p: setattr(i["awaiting"], "due_at", AS_OF + timedelta(hours=8)), False, id="deadline still ahead"
        ),
        pytest.param(
            lambda i, p: setattr(i["answered"], "received_at", datetime(2026, 4, 2, 15, tzinfo=UTC)),
            True,
            id="moved out of the period",
        ),
        pytest.param(
            lambda i, p: setattr(i["answered"], "received_at", MONDAY + timedelta(days=7)), False, id="moved within it"
        ),
        pytest.param(lambda i, p: db.session.delete(i["answered"]), True, id="deleted"),
        pytest.param(lambda i, p: setattr(i["awaiting"], "name", "Someone Else"), False, id="a field no figure shows"),
    ],
)
def test_the_report_follows_each_kind_of_change(inquiries, places, change, shows):
    before = assert_report_matches_inquiries()

    change(inquiries, places)
    db.session.commit()
    after = assert_report_matches_inquiries()

    assert (after != before) is shows


def test_the_report_follows_many_changes_at_once(places):
    made = [
        InquiryFactory(received_at=MONDAY + timedelta(days=offset, hours=offset), county_fips=county)
        for offset, county in enumerate([DUNKLIN, DUNKLIN, ST_LOUIS_CITY, None, DUNKLIN, ST_LOUIS_CITY])
    ]
    db.session.commit()
    assert_report_matches_inquiries()

    made[0].status = InquiryStatus.SPAM
    made[1].county_fips = ST_LOUIS_CITY
    made[2].first_response_at = made[2].received_at + timedelta(hours=30)
    made[2].first_response_hours = 7.5
    made[3].received_at = datetime(2026, 4, 2, 15, tzinfo=UTC)  # out of the period
    made[4].language = "es"
    db.session.delete(made[5])
    db.session.commit()
    assert_report_matches_inquiries()

    made[0].status = InquiryStatus.NEW  # back from spam
    made[3].received_at = MONDAY  # and back into the period
    db.session.commit()
    assert_report_matches_inquiries()


def test_a_period_across_utc_midnight_keeps_only_its_own_inquiries(places):
    # 23:30 in Chicago on 31 March is already 1 April in UTC, on the same UTC day as
    # the 1 April morning inquiry that is outside the period.
    InquiryFactory(received_at=datetime(2026, 4, 1, 4, 30, tzinfo=UTC))
    InquiryFactory(received_at=datetime(2026, 4, 1, 14, 0, tzinfo=UTC))
    db.session.commit()

    assert services.count_period(PERIOD).total == 1
    assert services.by_month(PERIOD).rows == [("March 2026", 1)]

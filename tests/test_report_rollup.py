"""The report's daily roll-ups: every change is recorded, and the report always matches the inquiries."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import create_engine, delete, func, select, update
from sqlalchemy.orm import Session, load_only

from crm.database import utcnow
from crm.extensions import db
from crm.models import Inquiry, ReportChange, ReportDay
from crm.models.inquiry_status import InquiryStatus
from crm.reports import rollup, services
from tests import factories
from tests import report_reference as reference
from tests.test_reports import CHICAGO, DUNKLIN, ST_LOUIS_CITY, InquiryFactory, TopicFactory

MONDAY = datetime(2026, 3, 2, 15, tzinfo=UTC)
PERIOD = services.Period(date(2026, 3, 1), date(2026, 3, 31), CHICAGO)


def changed_days() -> list[date]:
    return sorted(db.session.scalars(select(ReportChange.day).distinct()))


def forget_changes() -> None:
    db.session.execute(delete(ReportChange))
    db.session.flush()


@pytest.fixture
def places(app):
    return {
        "dunklin": factories.CountyFactory(fips=DUNKLIN, name="Dunklin County"),
        "city": factories.CountyFactory(fips=ST_LOUIS_CITY, name="St. Louis City"),
        "topic": TopicFactory(name_en="Media", response_target_hours=8),
        "organisation": factories.OrganisationFactory(name="Bootheel Babies"),
    }


@pytest.fixture
def inquiry(places):
    made = InquiryFactory(received_at=MONDAY, first_response_at=None, status=InquiryStatus.ASSIGNED, county_fips=DUNKLIN)
    db.session.flush()
    forget_changes()
    return made


# --- every change is recorded ------------------------------------------------------------------


def test_a_new_inquiry_records_its_day(places):
    InquiryFactory(received_at=MONDAY)
    db.session.flush()

    assert changed_days() == [MONDAY.date()]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda i, p: setattr(i, "status", InquiryStatus.SPAM), id="marked as spam"),
        pytest.param(lambda i, p: setattr(i, "topic", p["topic"]), id="topic, by relationship"),
        pytest.param(lambda i, p: setattr(i, "topic_id", p["topic"].id), id="topic, by key"),
        pytest.param(lambda i, p: setattr(i, "county_fips", ST_LOUIS_CITY), id="county"),
        pytest.param(lambda i, p: setattr(i, "county", p["city"]), id="county, by relationship"),
        pytest.param(lambda i, p: setattr(i, "language", "es"), id="language"),
        pytest.param(lambda i, p: setattr(i, "organisation", p["organisation"]), id="organisation"),
        pytest.param(lambda i, p: setattr(i, "first_response_at", MONDAY + timedelta(hours=1)), id="first response"),
        pytest.param(lambda i, p: setattr(i, "first_response_hours", 1.0), id="response hours"),
    ],
)
def test_a_reported_change_records_the_day(inquiry, places, change):
    change(inquiry, places)
    db.session.flush()

    assert changed_days() == [MONDAY.date()]


def test_moving_received_at_records_both_days(inquiry):
    inquiry.received_at = MONDAY + timedelta(days=3)
    db.session.flush()

    assert changed_days() == [MONDAY.date(), MONDAY.date() + timedelta(days=3)]


def test_deleting_an_inquiry_records_its_day(inquiry):
    db.session.delete(inquiry)
    db.session.flush()

    assert changed_days() == [MONDAY.date()]


def test_a_change_the_report_does_not_show_records_nothing(inquiry):
    inquiry.name = "Someone Else"
    inquiry.message = "Changed words."
    inquiry.reminder_sent_at = utcnow()
    db.session.flush()

    assert changed_days() == []


def test_a_change_to_an_inquiry_loaded_without_received_at_still_records_its_day(inquiry):
    db.session.expunge_all()
    partial = db.session.scalars(
        select(Inquiry).options(load_only(Inquiry.id, Inquiry.status)).where(Inquiry.id == inquiry.id)
    ).one()
    partial.status = InquiryStatus.SPAM
    db.session.flush()

    assert changed_days() == [MONDAY.date()]


# --- reading rebuilds what changed ---------------------------------------------------------------


def live_counts(period: services.Period) -> Counter:
    """The county counts straight from the inquiries: the definition the roll-ups must meet."""
    rows = db.session.execute(
        select(Inquiry.county_fips, func.count())
        .where(*reference.in_period(period))
        .group_by(Inquiry.county_fips)
    ).all()
    return Counter(dict(rows))


def figures(breakdown: services.ResponseBreakdown) -> dict:
    groups = {"all": breakdown.overall, **breakdown.by_county, **breakdown.by_language}
    return {key: (f.count, f.median, f.p90, f.within_target_share) for key, f in groups.items()}


def assert_report_matches_inquiries(period: services.Period = PERIOD) -> None:
    """Both ways: with the changed days read from the inquiries, then from their new roll-ups."""
    _assert_report_matches_inquiries(period)
    rollup.refresh()
    assert changed_days() == []
    _assert_report_matches_inquiries(period)


def _assert_report_matches_inquiries(period: services.Period) -> None:
    counts = services.count_period(period)
    assert Counter(dict(counts.counties.items())) == live_counts(period)
    rolled_up = figures(services.response_breakdown(period))
    per_inquiry = figures(reference.breakdown_of(reference.responses(period)))
    assert rolled_up.keys() == per_inquiry.keys()
    for key, (count, median, p90, share) in per_inquiry.items():
        assert rolled_up[key] == (count, pytest.approx(median), pytest.approx(p90), pytest.approx(share)), key


def test_the_report_follows_every_kind_of_change(places):
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


def test_a_report_only_reads(places):
    InquiryFactory(received_at=MONDAY)
    db.session.commit()

    assert services.count_period(PERIOD).total == 1
    assert changed_days() == [MONDAY.date()]  # left for the worker
    assert db.session.scalar(select(func.count()).select_from(ReportDay)) == 0


def test_refreshing_twice_rebuilds_nothing_the_second_time(places):
    InquiryFactory(received_at=MONDAY)
    db.session.commit()

    assert rollup.refresh() == 1
    assert rollup.refresh() == 0
    assert services.count_period(PERIOD).total == 1


def test_a_day_written_in_an_older_layout_is_read_from_the_inquiries_and_rebuilt(places):
    InquiryFactory(received_at=MONDAY)
    db.session.commit()
    rollup.refresh()
    db.session.execute(update(ReportDay).values(layout=rollup.LAYOUT - 1, records=b"\x00" * 7))

    assert services.count_period(PERIOD).total == 1
    assert rollup.refresh() == 1
    assert db.session.scalars(select(ReportDay.layout)).all() == [rollup.LAYOUT]


def test_the_worker_rebuilds_the_most_recent_days_first(places):
    InquiryFactory(received_at=MONDAY)
    InquiryFactory(received_at=datetime(2025, 6, 1, 15, tzinfo=UTC))
    db.session.commit()

    assert rollup.refresh_in_background(batch=1) == 1
    assert changed_days() == [date(2025, 6, 1)]
    assert rollup.refresh_in_background(batch=1) == 1
    assert changed_days() == []


def test_changed_days_far_apart_are_read_without_the_days_between(places):
    early = InquiryFactory(received_at=datetime(2026, 3, 2, 15, tzinfo=UTC))
    late = InquiryFactory(received_at=datetime(2026, 3, 30, 15, tzinfo=UTC))
    between = InquiryFactory(received_at=datetime(2026, 3, 15, 15, tzinfo=UTC))
    db.session.commit()
    rollup.refresh()
    early.language = late.language = "es"
    between.language = "es"  # a change on the day between...
    db.session.commit()
    db.session.execute(delete(ReportChange).where(ReportChange.day == date(2026, 3, 15)))  # ...forgotten

    # The two changed days are read from the inquiries; the day between from its roll-up.
    assert services.count_period(PERIOD).languages == {"en": 1, "es": 2}


def test_rebuilding_everything_gives_what_the_changes_gave(places):
    for offset in range(10):
        InquiryFactory(
            received_at=MONDAY + timedelta(days=offset),
            first_response_at=MONDAY + timedelta(days=offset, hours=3) if offset % 3 else None,
            county_fips=DUNKLIN if offset % 2 else ST_LOUIS_CITY,
        )
    db.session.commit()
    incremental = (services.count_period(PERIOD), figures(services.response_breakdown(PERIOD)))

    assert rollup.rebuild_all() == 10
    assert (services.count_period(PERIOD), figures(services.response_breakdown(PERIOD))) == incremental


def test_a_period_across_utc_midnight_keeps_only_its_own_records(places):
    # 23:30 in Chicago on 31 March is already 1 April in UTC, on the same UTC day as
    # the 1 April morning inquiry that is outside the period.
    InquiryFactory(received_at=datetime(2026, 4, 1, 4, 30, tzinfo=UTC))
    InquiryFactory(received_at=datetime(2026, 4, 1, 14, 0, tzinfo=UTC))
    db.session.commit()

    assert services.count_period(PERIOD).total == 1


def test_the_worker_rebuilds_a_batch_each_run(app, places, monkeypatch):
    from crm.mail import worker

    for offset in range(3):
        InquiryFactory(received_at=datetime(2024, 1, 1 + offset, 15, tzinfo=UTC))
    db.session.commit()
    stop = threading.Event()

    def send_nothing(now, transport):
        stop.set()
        return worker.SendReport()

    monkeypatch.setattr(worker, "send_due", send_nothing)
    worker.run_worker(transport=None, poll_interval=0.01, stop=stop)

    assert changed_days() == []
    assert db.session.scalar(select(func.count()).select_from(ReportDay)) == 3


def test_the_command_brings_the_roll_ups_up_to_date(app, places):
    InquiryFactory(received_at=datetime(2024, 1, 1, 15, tzinfo=UTC))
    db.session.commit()

    result = app.test_cli_runner().invoke(rollup.report_days_command, [])

    assert result.exit_code == 0, result.output
    assert "1 day(s) rebuilt" in result.output
    assert changed_days() == []


# --- concurrency, on PostgreSQL ------------------------------------------------------------------


@pytest.fixture
def separate_engine(app):
    """Connections outside the test's rolled-back transaction, to see other transactions' effects."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row and advisory locks are PostgreSQL's; SQLite runs one writer at a time")
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    yield engine
    with Session(engine) as cleanup:
        cleanup.execute(delete(Inquiry).where(Inquiry.reference.like("RC-%")))
        cleanup.execute(delete(ReportChange))
        cleanup.execute(delete(ReportDay))
        cleanup.commit()
    engine.dispose()


def _new_inquiry(session: Session, reference: str) -> None:
    session.add(Inquiry(reference=reference, received_at=MONDAY, name="A Person", email="a@example.net", message="Hello"))
    session.flush()


def stored_inquiries(engine, day: date) -> int | None:
    with Session(engine) as reader:
        return reader.scalar(select(ReportDay.inquiries).where(ReportDay.day == day))


def test_a_change_committed_during_a_refresh_waits_for_the_next_one(app, separate_engine):
    day = MONDAY.date()
    with Session(separate_engine) as first:
        _new_inquiry(first, "RC-000001")
        first.commit()
    writer = Session(separate_engine)
    _new_inquiry(writer, "RC-000002")  # its change is recorded, not yet committed

    with Session(separate_engine) as refresher:
        assert rollup.refresh(session=refresher) == 1  # a writer holds no lock a refresh needs
        refresher.commit()
    writer.commit()
    writer.close()

    assert stored_inquiries(separate_engine, day) == 1  # the refresh could not see the second
    with Session(separate_engine) as refresher:
        assert rollup.refresh(session=refresher) == 1  # whose change was kept for this one
        refresher.commit()
    assert stored_inquiries(separate_engine, day) == 2


def test_two_rebuilds_of_a_day_take_turns(app, separate_engine):
    day = MONDAY.date()
    with Session(separate_engine) as setup:
        _new_inquiry(setup, "RC-000003")
        setup.commit()
    holder = Session(separate_engine)
    rollup._lock_days(holder, [day])
    finished = threading.Event()

    def second_rebuild():
        with app.app_context(), Session(separate_engine) as other:
            rollup._lock_days(other, [day])
            rollup.rebuild_days([day], other)
            other.commit()
        finished.set()

    thread = threading.Thread(target=second_rebuild)
    thread.start()
    assert not finished.wait(0.5)  # waits for the first to finish
    rollup.rebuild_days([day], holder)
    holder.commit()
    holder.close()
    thread.join(timeout=10)

    assert finished.is_set()
    assert stored_inquiries(separate_engine, day) == 1

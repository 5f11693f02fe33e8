"""The benchmark (the top-level `bench` package) runs end to end at a tiny size against the test database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bench import benchmark
from crm.extensions import db
from crm.inquiries.intake import dedupe_key
from crm.models import Contact, Inquiry, InquiryEvent, InquiryPass, Organisation, Region, RoutingRule


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_bench_generates_data_and_times_every_page(app, monkeypatch):
    # As `make bench` runs it: managers must use two-factor sign-in.
    monkeypatch.setitem(app.config, "TWO_FACTOR_REQUIRED_ROLES", "admin,manager")
    lines: list[str] = []

    timings = benchmark.run(app, inquiries=200, contacts=50, repeat=2, years=1, say=lines.append)

    assert (_count(Inquiry), _count(Contact), _count(Organisation)) == (200, 50, 2)
    assert _count(InquiryEvent) >= 200
    # Each with the duplicate check's key, as the form stores it.
    rows = db.session.execute(select(Inquiry.email, Inquiry.message, Inquiry.phone, Inquiry.dedupe_key)).all()
    assert all(row.dedupe_key == dedupe_key(row.email, row.message, row.phone) != "" for row in rows)
    # The closed loop the report measures: acceptances with their hours, passes, follow-ups and answers.
    loop = db.session.execute(
        select(
            func.count(Inquiry.accepted_at),
            func.count(Inquiry.accepted_after_hours),
            func.count(Inquiry.follow_up_sent_at),
            func.count(Inquiry.family_confirmed),
        )
    ).one()
    assert loop[0] == loop[1] > 100
    assert loop[2] > loop[3] > 0
    assert 0 < _count(InquiryPass) < loop[0]
    by_name = {timing.name: timing for timing in timings}
    for name in ("Reports, last 90 days", "Reports, last 365 days", "Reports chart (month)", "Reports CSV (county)"):
        assert by_name[name].statuses == (200, 200), name
        assert by_name[name].p95_ms is not None
    # Every page answers as itself: not a redirect to sign-in or to two-factor set-up.
    assert all(timing.statuses == (200, 200) for timing in timings), [(t.name, t.statuses) for t in timings]
    table = lines[-1]
    assert "Reports, last 90 days" in table
    assert "p95 ms" in table


def test_reuse_keeps_data_of_the_same_size(app):
    benchmark.run(app, inquiries=60, contacts=10, repeat=1, years=1, say=lambda _line: None)
    first_ids = set(db.session.scalars(select(Inquiry.id)))
    lines: list[str] = []

    benchmark.run(app, inquiries=60, contacts=10, repeat=1, years=1, reuse=True, say=lines.append)

    assert set(db.session.scalars(select(Inquiry.id))) == first_ids
    assert any(line.startswith("Reusing") for line in lines)


def test_the_data_set_routes_form_posts_as_a_foundation_would(app):
    """A rule per region to a bench organisation with responders, and a fallback: a post then
    does a routed post's work. Kept on reuse, replaced with the data."""
    benchmark.run(app, inquiries=60, contacts=10, repeat=1, years=1, say=lambda _line: None)
    rules = list(db.session.scalars(select(RoutingRule)))
    assert sorted(region.name for rule in rules for region in rule.regions) == sorted(
        db.session.scalars(select(Region.name))
    )
    responders = set(db.session.scalars(select(Contact.organisation_id).where(Contact.accepts_inquiries.is_(True))))
    assert all(rule.target_organisation_id in responders for rule in rules)
    [fallback] = db.session.scalars(select(Contact).where(Contact.is_inquiry_fallback))
    assert fallback.accepts_inquiries

    benchmark.run(app, inquiries=60, contacts=10, repeat=1, years=1, reuse=True, say=lambda _line: None)
    assert {rule.id for rule in db.session.scalars(select(RoutingRule))} == {rule.id for rule in rules}
    benchmark.run(app, inquiries=70, contacts=10, repeat=1, years=1, say=lambda _line: None)
    assert len(db.session.scalars(select(RoutingRule)).all()) == len(rules)
    assert len(db.session.scalars(select(Contact).where(Contact.is_inquiry_fallback)).all()) == 1


def test_refuses_a_database_with_real_inquiries(app):
    db.session.add(Inquiry(reference="IM-REAL01", name="A real person", email="real@example.org", message="Real", received_at=benchmark.utcnow()))
    db.session.commit()

    with pytest.raises(benchmark.ForeignData):
        benchmark.run(app, inquiries=10, contacts=5, repeat=1, years=1, say=lambda _line: None)


def test_fast_calendar_adds_business_hours_like_the_sla_clock(app, app_context):
    import random
    from datetime import UTC, datetime, timedelta

    from crm.business_hours import add_business_hours
    from crm.holidays.calendars import calendar_for

    start = datetime(2025, 10, 1, tzinfo=UTC)
    fast = benchmark._FastCalendar(start, start + timedelta(days=200))
    rng = random.Random(3)
    for _ in range(500):
        received = start + timedelta(seconds=rng.randrange(0, 200 * 86400))
        hours = rng.uniform(0.01, 60)
        expected = add_business_hours(received, hours, calendar_for(None))
        assert abs((fast.add(received, hours) - expected).total_seconds()) < 0.01, (received, hours)


def test_python_dash_m_bench_is_the_command_line():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(  # noqa: S603  (our own interpreter and module)
        [sys.executable, "-m", "bench", "--inquiries", "0"], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 2, result.stderr
    assert "python -m bench" in result.stderr
    assert "must be positive" in result.stderr

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.business_hours import (
    DEFAULT_TARGET_HOURS,
    BusinessCalendar,
    add_business_hours,
    business_hours_between,
    calendar_from_config,
    is_overdue,
    parse_holidays,
    sla_state,
)

CHICAGO = ZoneInfo("America/Chicago")
LONDON = ZoneInfo("Europe/London")
DEFAULT = BusinessCalendar()
YEAR_END = BusinessCalendar(holidays=frozenset({date(2026, 12, 25), date(2027, 1, 1)}))
# Open every day from midnight to noon, so the DST changes (02:00 on a Sunday)
# fall inside business hours.
MORNINGS = BusinessCalendar(day_start=time(0), day_end=time(12), workdays=frozenset(range(7)))


# Deliberately without a timezone, to check that naive datetimes are refused.
NAIVE = datetime(2026, 1, 12, 9)  # noqa: DTZ001


def chicago(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)


@pytest.mark.parametrize(
    ("start", "hours", "cal", "expected"),
    [
        pytest.param(chicago(2026, 1, 9, 16), 2, DEFAULT, chicago(2026, 1, 12, 10), id="fri-16h+2h"),
        pytest.param(chicago(2026, 1, 9, 17), 2, DEFAULT, chicago(2026, 1, 12, 11), id="fri-close+2h"),
        pytest.param(chicago(2026, 1, 10, 11), 3, DEFAULT, chicago(2026, 1, 12, 12), id="saturday"),
        pytest.param(chicago(2026, 1, 11, 23, 59), 1, DEFAULT, chicago(2026, 1, 12, 10), id="sunday"),
        pytest.param(chicago(2026, 1, 12, 7, 30), 1.5, DEFAULT, chicago(2026, 1, 12, 10, 30), id="before-open"),
        pytest.param(chicago(2026, 1, 12, 18), 1, DEFAULT, chicago(2026, 1, 13, 10), id="after-close"),
        pytest.param(chicago(2026, 1, 12, 10), 0, DEFAULT, chicago(2026, 1, 12, 10), id="zero-in-hours"),
        pytest.param(chicago(2026, 1, 12, 6), 0, DEFAULT, chicago(2026, 1, 12, 9), id="zero-before-open"),
        pytest.param(chicago(2026, 1, 12, 17), 0, DEFAULT, chicago(2026, 1, 13, 9), id="zero-at-close"),
        pytest.param(chicago(2026, 1, 10, 12), 0, DEFAULT, chicago(2026, 1, 12, 9), id="zero-weekend"),
        pytest.param(chicago(2026, 1, 12, 9), 8, DEFAULT, chicago(2026, 1, 12, 17), id="full-day-ends-at-close"),
        pytest.param(
            chicago(2026, 1, 12, 9), DEFAULT_TARGET_HOURS, DEFAULT, chicago(2026, 1, 13, 17), id="default-target"
        ),
        pytest.param(chicago(2026, 1, 12, 9), 40, DEFAULT, chicago(2026, 1, 16, 17), id="full-week"),
        pytest.param(chicago(2026, 1, 12, 9), 41, DEFAULT, chicago(2026, 1, 19, 10), id="week-and-an-hour"),
        pytest.param(chicago(2026, 1, 12, 16, 45), 0.5, DEFAULT, chicago(2026, 1, 13, 9, 15), id="fraction-overnight"),
        pytest.param(chicago(2026, 1, 12, 16, 45), 0.25, DEFAULT, chicago(2026, 1, 12, 17), id="fraction-to-close"),
        pytest.param(chicago(2026, 1, 12, 9), 1 / 3600, DEFAULT, chicago(2026, 1, 12, 9, 0, 1), id="one-second"),
        pytest.param(chicago(2026, 12, 24, 16), 2, YEAR_END, chicago(2026, 12, 28, 10), id="christmas"),
        pytest.param(chicago(2026, 12, 25, 10), 1, YEAR_END, chicago(2026, 12, 28, 10), id="start-on-holiday"),
        pytest.param(chicago(2026, 12, 31, 16), 2, YEAR_END, chicago(2027, 1, 4, 10), id="new-year"),
        pytest.param(chicago(2026, 12, 24, 16), 2, DEFAULT, chicago(2026, 12, 25, 10), id="no-holidays"),
        # Clocks go back on Sunday 1 November 2026: CDT (UTC-5) to CST (UTC-6).
        pytest.param(
            chicago(2026, 10, 30, 16), 2, DEFAULT, datetime(2026, 11, 2, 16, tzinfo=UTC), id="dst-ends-weekend"
        ),
        # Clocks go forward on Sunday 8 March 2026: CST (UTC-6) to CDT (UTC-5).
        pytest.param(
            chicago(2026, 3, 6, 16), 2, DEFAULT, datetime(2026, 3, 9, 15, tzinfo=UTC), id="dst-starts-weekend"
        ),
        # 00:00 CDT to 12:00 CST is 13 real hours, 00:00 CST to 12:00 CDT only 11.
        pytest.param(chicago(2026, 11, 1, 0), 12, MORNINGS, chicago(2026, 11, 1, 11), id="dst-ends-in-hours"),
        pytest.param(chicago(2026, 11, 1, 0), 13, MORNINGS, chicago(2026, 11, 1, 12), id="dst-ends-long-day"),
        pytest.param(chicago(2026, 3, 8, 0), 11, MORNINGS, chicago(2026, 3, 8, 12), id="dst-starts-short-day"),
        pytest.param(chicago(2026, 3, 8, 0), 12, MORNINGS, chicago(2026, 3, 9, 1), id="dst-starts-spills-over"),
    ],
)
def test_add_business_hours(start, hours, cal, expected):
    result = add_business_hours(start, hours, cal)
    assert result == expected
    assert result.tzinfo is UTC


def test_default_target_is_two_business_days():
    assert DEFAULT_TARGET_HOURS == 16


def test_calendar_defaults():
    assert DEFAULT.timezone == "America/Chicago"
    assert (DEFAULT.day_start, DEFAULT.day_end) == (time(9), time(17))
    assert DEFAULT.workdays == {0, 1, 2, 3, 4}
    assert DEFAULT.holidays == frozenset()


def test_calendar_accepts_plain_sets_and_stays_hashable():
    cal = BusinessCalendar(workdays={0, 1, 2}, holidays={date(2026, 12, 25)})  # type: ignore[arg-type]
    assert cal.workdays == frozenset({0, 1, 2})
    assert isinstance(cal.holidays, frozenset)
    assert hash(cal) == hash(
        BusinessCalendar(workdays=frozenset({0, 1, 2}), holidays=YEAR_END.holidays - {date(2027, 1, 1)})
    )


def test_start_in_another_timezone_is_read_in_calendar_time():
    # 22:00 UTC on Friday 9 January is 16:00 in Chicago.
    assert add_business_hours(datetime(2026, 1, 9, 22, tzinfo=UTC), 2) == chicago(2026, 1, 12, 10)
    # 01:00 in Tokyo on Saturday 10 January is still Friday 10:00 in Chicago.
    tokyo = datetime(2026, 1, 10, 1, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert add_business_hours(tokyo, 2) == chicago(2026, 1, 9, 12)


def test_calendar_in_another_timezone():
    london = BusinessCalendar(timezone="Europe/London")
    # 08:00 in Chicago is 14:00 in London (BST, UTC+1): 3 hours on Monday, 1 on Tuesday.
    start = chicago(2026, 6, 1, 8)
    result = add_business_hours(start, 4, london)
    assert result == datetime(2026, 6, 2, 10, tzinfo=LONDON)
    assert result == datetime(2026, 6, 2, 9, tzinfo=UTC)
    assert business_hours_between(start, result, london) == pytest.approx(4)


def test_calendar_with_other_workdays():
    sunday_to_thursday = BusinessCalendar(timezone="Asia/Jerusalem", workdays=frozenset({6, 0, 1, 2, 3}))
    jerusalem = ZoneInfo("Asia/Jerusalem")
    # Thursday 16:00 + 2h skips Friday and Saturday.
    start = datetime(2026, 1, 8, 16, tzinfo=jerusalem)
    assert add_business_hours(start, 2, sunday_to_thursday) == datetime(2026, 1, 11, 10, tzinfo=jerusalem)


def test_half_hour_offset_timezone():
    kolkata = ZoneInfo("Asia/Kolkata")
    cal = BusinessCalendar(timezone="Asia/Kolkata")
    start = datetime(2026, 1, 12, 16, 30, tzinfo=kolkata)
    result = add_business_hours(start, 1, cal)
    assert result == datetime(2026, 1, 13, 9, 30, tzinfo=kolkata)
    assert result == datetime(2026, 1, 13, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "cal", "expected"),
    [
        pytest.param(chicago(2026, 1, 9, 16), chicago(2026, 1, 12, 10), DEFAULT, 2, id="over-weekend"),
        pytest.param(chicago(2026, 1, 10, 8), chicago(2026, 1, 11, 20), DEFAULT, 0, id="weekend-only"),
        pytest.param(chicago(2026, 1, 12, 8), chicago(2026, 1, 12, 18), DEFAULT, 8, id="whole-day"),
        pytest.param(chicago(2026, 1, 12, 10), chicago(2026, 1, 12, 10, 30), DEFAULT, 0.5, id="half-hour"),
        pytest.param(chicago(2026, 1, 12, 9), chicago(2026, 1, 19, 9), DEFAULT, 40, id="week"),
        pytest.param(chicago(2026, 1, 12, 10), chicago(2026, 1, 12, 10), DEFAULT, 0, id="empty"),
        pytest.param(chicago(2026, 1, 12, 12), chicago(2026, 1, 12, 10), DEFAULT, 0, id="end-before-start"),
        pytest.param(chicago(2026, 12, 24, 9), chicago(2026, 12, 29, 9), YEAR_END, 16, id="christmas"),
        pytest.param(chicago(2026, 10, 30, 16), chicago(2026, 11, 2, 10), DEFAULT, 2, id="dst-ends-weekend"),
        pytest.param(chicago(2026, 3, 6, 16), chicago(2026, 3, 9, 10), DEFAULT, 2, id="dst-starts-weekend"),
        pytest.param(chicago(2026, 11, 1, 0), chicago(2026, 11, 1, 12), MORNINGS, 13, id="dst-ends-in-hours"),
        pytest.param(chicago(2026, 3, 8, 0), chicago(2026, 3, 8, 12), MORNINGS, 11, id="dst-starts-in-hours"),
    ],
)
def test_business_hours_between(start, end, cal, expected):
    assert business_hours_between(start, end, cal) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("function", "args"),
    [
        (add_business_hours, (NAIVE, 1)),
        (business_hours_between, (NAIVE, chicago(2026, 1, 12, 10))),
        (business_hours_between, (chicago(2026, 1, 12, 8), NAIVE)),
    ],
)
def test_naive_datetimes_are_rejected(function, args):
    with pytest.raises(ValueError, match="must be timezone-aware"):
        function(*args)


@pytest.mark.parametrize("hours", [-1, float("nan"), float("inf")])
def test_bad_hours_are_rejected(hours):
    with pytest.raises(ValueError, match="hours must be a finite number >= 0"):
        add_business_hours(chicago(2026, 1, 12, 9), hours)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"day_start": time(17), "day_end": time(9)}, "day_start must be earlier than day_end"),
        ({"day_start": time(9), "day_end": time(9)}, "day_start must be earlier than day_end"),
        ({"workdays": frozenset()}, "workdays must be"),
        ({"workdays": frozenset({7})}, "workdays must be"),
        ({"timezone": "Mars/Olympus_Mons"}, "unknown timezone 'Mars/Olympus_Mons'"),
        ({"day_start": time(9, tzinfo=UTC)}, "must be naive"),
    ],
)
def test_invalid_calendar(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**kwargs)


zones = st.sampled_from([UTC, CHICAGO, LONDON, ZoneInfo("Asia/Kolkata"), ZoneInfo("Australia/Lord_Howe")])
calendars = st.sampled_from(
    [
        DEFAULT,
        YEAR_END,
        MORNINGS,
        BusinessCalendar(timezone="Europe/London", day_start=time(8, 30), day_end=time(17, 45)),
        # Lord Howe Island moves its clocks by half an hour; these hours contain the change.
        BusinessCalendar(
            timezone="Australia/Lord_Howe",
            day_start=time(1),
            day_end=time(3),
            workdays=frozenset(range(7)),
        ),
    ]
)
# Hypothesis takes naive bounds and attaches a zone drawn from ``timezones``.
aware_starts = st.datetimes(
    min_value=datetime(2024, 1, 1),  # noqa: DTZ001
    max_value=datetime(2029, 12, 31),  # noqa: DTZ001
    timezones=zones,
)
hours_values = st.floats(min_value=0, max_value=200, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(start=aware_starts, hours=hours_values, cal=calendars)
def test_between_round_trips_add(start, hours, cal):
    due = add_business_hours(start, hours, cal)
    assert due >= start
    assert business_hours_between(start, due, cal) == pytest.approx(hours, abs=1e-6)
    # Same instants, same tzinfo on both ends: must still measure elapsed time.
    local_due = due.astimezone(start.tzinfo)
    assert business_hours_between(start, local_due, cal) == pytest.approx(hours, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(
    instants=st.lists(aware_starts, min_size=3, max_size=3).map(sorted),
    cal=calendars,
)
def test_between_is_additive(instants, cal):
    first, middle, last = instants
    whole = business_hours_between(first, last, cal)
    parts = business_hours_between(first, middle, cal) + business_hours_between(middle, last, cal)
    assert whole == pytest.approx(parts, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(start=aware_starts, first=hours_values, second=hours_values, cal=calendars)
def test_adding_in_two_steps_is_the_same_as_adding_once(start, first, second, cal):
    in_steps = add_business_hours(add_business_hours(start, first, cal), second, cal)
    at_once = add_business_hours(start, first + second, cal)
    # When the first step lands exactly on a closing time the second step starts at the
    # next opening, which is the same business instant.
    assert business_hours_between(in_steps, at_once, cal) == pytest.approx(0, abs=1e-6)
    assert business_hours_between(at_once, in_steps, cal) == pytest.approx(0, abs=1e-6)


RECEIVED = chicago(2026, 1, 12, 9)
DUE = chicago(2026, 1, 13, 17)


@pytest.mark.parametrize(
    ("first_response_at", "now", "state"),
    [
        (None, RECEIVED, "due"),
        (None, DUE, "due"),
        (None, DUE + timedelta(seconds=1), "overdue"),
        (chicago(2026, 1, 12, 11), DUE + timedelta(days=3), "met"),
        (DUE, DUE + timedelta(days=3), "met"),
        (DUE + timedelta(seconds=1), DUE + timedelta(days=3), "missed"),
        # A response recorded with a clock slightly behind still counts.
        (RECEIVED - timedelta(seconds=1), RECEIVED, "met"),
    ],
)
def test_sla_state(first_response_at, now, state):
    assert sla_state(RECEIVED, DUE, first_response_at, now) == state
    assert is_overdue(DUE, first_response_at, now) is (state == "overdue")


def test_sla_state_rejects_due_before_received():
    with pytest.raises(ValueError, match="due_at is earlier than received_at"):
        sla_state(DUE, RECEIVED, None, DUE)


def test_sla_state_rejects_naive_datetimes():
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        sla_state(RECEIVED, DUE, None, NAIVE)


def test_sla_state_compares_instants_across_timezones():
    due_in_utc = DUE.astimezone(UTC)
    assert sla_state(RECEIVED, due_in_utc, DUE, DUE) == "met"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-25,2027-01-01", {date(2026, 12, 25), date(2027, 1, 1)}),
        (" 2026-12-25 , 2027-01-01 ,", {date(2026, 12, 25), date(2027, 1, 1)}),
        ("2026-12-25\n2027-01-01", {date(2026, 12, 25), date(2027, 1, 1)}),
        ("2026-12-25,2026-12-25", {date(2026, 12, 25)}),
        ("", set()),
        ("  ", set()),
    ],
)
def test_parse_holidays(text, expected):
    parsed = parse_holidays(text)
    assert isinstance(parsed, frozenset)
    assert parsed == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-12-25,25/12/2026", r"invalid holiday date '25/12/2026': expected YYYY-MM-DD"),
        ("20261225", r"invalid holiday date '20261225': expected YYYY-MM-DD"),
        ("2026-02-30", r"invalid holiday date '2026-02-30': day is out of range for month"),
        ("2026-13-01", r"invalid holiday date '2026-13-01': month must be in 1\.\.12"),
        ("christmas", r"invalid holiday date 'christmas'"),
    ],
)
def test_parse_holidays_rejects_bad_dates(text, message):
    with pytest.raises(ValueError, match=message):
        parse_holidays(text)


def test_parsed_holidays_drive_the_calendar():
    cal = BusinessCalendar(holidays=parse_holidays("2026-12-25,2027-01-01"))
    assert cal == YEAR_END


@pytest.mark.parametrize(
    ("config", "holidays", "expected"),
    [
        (
            {"SLA_TIMEZONE": "America/Chicago", "SLA_DAY_START_HOUR": 9, "SLA_DAY_END_HOUR": 17},
            (),
            BusinessCalendar(),
        ),
        (
            {"SLA_TIMEZONE": "Europe/London", "SLA_DAY_START_HOUR": 8, "SLA_DAY_END_HOUR": 16},
            [date(2026, 12, 25), date(2027, 1, 1)],
            BusinessCalendar(timezone="Europe/London", day_start=time(8), day_end=time(16), holidays=YEAR_END.holidays),
        ),
    ],
)
def test_calendar_from_config_reads_the_sla_settings(config, holidays, expected):
    assert calendar_from_config(config, holidays) == expected

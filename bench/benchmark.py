"""The benchmark's data generator and page timer; `python -m bench` runs it (see bench/__init__.py)."""

from __future__ import annotations

import enum
import json
import math
import random
import secrets
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from flask import Flask, g, request_started
from sqlalchemy import Engine, Table, delete, func, insert, literal, null, select
from sqlalchemy import case as sql_case

from crm.auth.passwords import hash_password
from crm.auth.sessions import open_session
from crm.business_hours import DEFAULT_TARGET_HOURS, business_hours_between
from crm.database import utcnow
from crm.extensions import db
from crm.geography.missouri import BOOTHEEL_FIPS, MISSOURI_COUNTIES, ST_LOUIS_FIPS
from crm.holidays.calendars import calendar_for
from crm.inquiries.intake import dedupe_key
from crm.models import (
    Contact,
    Inquiry,
    InquiryEvent,
    InquiryEventKind,
    InquiryOutcome,
    InquiryPass,
    InquirySource,
    Organisation,
    OrganisationKind,
    PassReason,
    RecordStatus,
    Region,
    Role,
    RoutingRule,
    Topic,
    User,
)
from crm.models.inquiry_status import InquiryStatus
from crm.models.organisation import name_key
from crm.reports.stats import percentile

TARGET_MS = 100.0  # a page's p95, unless its case sets another
MIN_SAMPLES = 3
CHUNK = 10_000
REFERENCE_PREFIX = "BX-"
DOMAIN = "bench.example.org"
# What closed benchmark inquiries came to; "could not reach" needs attempts, which the bench does not write.
BENCH_OUTCOMES = (
    InquiryOutcome.CONNECTED,
    InquiryOutcome.CONNECTED,
    InquiryOutcome.REFERRED,
    InquiryOutcome.NOT_NEEDED,
    InquiryOutcome.OUT_OF_AREA,
)
ORGANISATION_PREFIX = "Bench organisation "
RULE_PREFIX = "Bench: "
MANAGER_EMAIL = f"bench-manager@{DOMAIN}"
PARTNER_EMAIL = f"bench-partner@{DOMAIN}"
CONTACTS_PER_ORGANISATION = 20
# The closed loop of the bench rows: the acceptance window, the follow-up's delay after a close
# (as crm.inquiries.intake and config.py have them by default), and one routed inquiry in
# PASS_EVERY passed on once.
ACCEPTANCE_HOURS = 4
FOLLOW_UP_DAYS = 5
PASS_EVERY = 8

FIRST_NAMES = (
    "Maria",
    "Ana",
    "Lucia",
    "Keisha",
    "Jasmine",
    "Emily",
    "Sarah",
    "Ashley",
    "Jessica",
    "Brittany",
    "Amanda",
    "Tiffany",
    "Latoya",
    "Destiny",
    "Rosa",
    "Carmen",
    "Gabriela",
    "Megan",
    "Hannah",
    "Olivia",
    "Emma",
    "Ava",
    "Sophia",
    "Mia",
    "Aaliyah",
    "Imani",
    "Tanya",
    "Crystal",
    "Kayla",
    "Alyssa",
)
LAST_NAMES = (
    "Garcia",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
)
MESSAGE_WORDS = (
    "pregnancy",
    "prenatal",
    "care",
    "appointment",
    "baby",
    "clinic",
    "doctor",
    "help",
    "support",
    "transport",
    "ride",
    "insurance",
    "medicaid",
    "housing",
    "food",
    "formula",
    "diapers",
    "breastfeeding",
    "doula",
    "midwife",
    "postpartum",
    "depression",
    "counselling",
    "volunteer",
    "partner",
    "church",
    "school",
    "grant",
    "funding",
    "media",
    "interview",
    "story",
    "question",
    "family",
    "neighbour",
    "Kennett",
    "Sikeston",
    "Caruthersville",
    "Hayti",
    "Portageville",
    "Charleston",
    "Dexter",
    "Malden",
    "St.",
    "Louis",
    "north",
    "city",
    "county",
)


# --- the data set ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    inquiries: int
    contacts: int
    organisations: int
    first_received: datetime
    last_received: datetime


def _chunks(rows: Iterator[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _count(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0


def bench_inquiries():
    return select(Inquiry.id).where(Inquiry.reference.like(REFERENCE_PREFIX + "%"))


def bench_contacts():
    return select(Contact.id).where(Contact.email.like(f"%@{DOMAIN}"))


def bench_organisations():
    return select(Organisation.id).where(Organisation.name.like(ORGANISATION_PREFIX + "%"))


class ForeignData(RuntimeError):
    """The database holds inquiries that the bench did not write."""


def refuse_real_data() -> None:
    others = _count(select(Inquiry.id).where(Inquiry.reference.not_like(REFERENCE_PREFIX + "%")))
    if others:
        raise ForeignData(
            f"this database holds {others} inquiries that are not bench data; "
            "point DATABASE_URL at a scratch database (see the docstring of bench)"
        )


def remove_bench_data(say) -> None:
    """Delete what an earlier run wrote, children first (no real row is touched)."""
    inquiry_ids = bench_inquiries().scalar_subquery()
    db.session.execute(delete(InquiryEvent).where(InquiryEvent.inquiry_id.in_(inquiry_ids)))
    db.session.execute(delete(InquiryPass).where(InquiryPass.inquiry_id.in_(inquiry_ids)))
    db.session.execute(delete(Inquiry).where(Inquiry.reference.like(REFERENCE_PREFIX + "%")))
    db.session.commit()
    # Each contact deleted below makes PostgreSQL look up its inquiries (ON DELETE SET NULL) in
    # ix_inquiries_requester_contact_id, which still lists the inquiries just deleted until
    # they are vacuumed away: vacuum first.
    maintain(say, tables=("inquiry_events", "inquiry_passes", "inquiries"))
    db.session.execute(delete(RoutingRule).where(RoutingRule.name.like(RULE_PREFIX + "%")))
    db.session.execute(delete(Contact).where(Contact.email.like(f"%@{DOMAIN}")))
    db.session.execute(delete(Organisation).where(Organisation.name.like(ORGANISATION_PREFIX + "%")))
    db.session.commit()


def reference_data() -> tuple[list[Topic], list[str]]:
    """Counties, regions and topics, as the demo data has them (added when missing)."""
    from crm.demo import TOPICS, SeedResult, seed_counties_and_regions

    seed_counties_and_regions(SeedResult(password=""))
    if db.session.scalar(select(Topic.id).limit(1)) is None:
        for order, (name_en, name_es, hours) in enumerate(TOPICS):
            db.session.add(Topic(name_en=name_en, name_es=name_es, sort_order=order, response_target_hours=hours))
    db.session.commit()
    topics = list(db.session.scalars(select(Topic).order_by(Topic.sort_order, Topic.id)))
    return topics, list(MISSOURI_COUNTIES)


def routing_rules(say) -> None:
    """A rule per region sending its inquiries to a bench organisation with responders, and a
    bench responder as the fallback, when the database has no active rule or no fallback: a
    form post then does a real post's work (rules matched, the least-loaded of an
    organisation's responders chosen, the contact's notice queued), not the no-rule path."""
    has_rule = db.session.scalar(select(RoutingRule.id).where(RoutingRule.active.is_(True)).limit(1))
    has_fallback = db.session.scalar(select(Contact.id).where(Contact.is_inquiry_fallback))
    if has_rule is not None and has_fallback is not None:
        return
    responders = (
        select(Contact.organisation_id, Contact.id)
        .where(Contact.email.like(f"%@{DOMAIN}"), Contact.accepts_inquiries.is_(True), Contact.organisation_id.is_not(None))
        .order_by(Contact.id)
    )
    rows = db.session.execute(responders).all()
    if not rows:
        return
    organisation_ids = list(dict.fromkeys(organisation_id for organisation_id, _id in rows))
    if has_rule is None:
        regions = list(db.session.scalars(select(Region).order_by(Region.id)))
        for number, region in enumerate(regions):
            db.session.add(
                RoutingRule(
                    name=f"{RULE_PREFIX}{region.name}",
                    priority=100 + number,
                    regions=[region],
                    target_organisation_id=organisation_ids[number % len(organisation_ids)],
                )
            )
        say(f"  added {len(regions)} routing rules, one per region")
    if has_fallback is None:
        db.session.get(Contact, rows[0][1]).is_inquiry_fallback = True
        say("  made a bench responder the fallback contact")
    db.session.commit()


def bench_manager() -> User:
    user = db.session.scalar(select(User).where(User.email == MANAGER_EMAIL))
    if user is None:
        # Nobody knows this password: the bench signs in by session, not by form.
        user = User(
            email=MANAGER_EMAIL,
            name="Bench Manager",
            role=Role.MANAGER,
            password_hash=hash_password(secrets.token_urlsafe(24)),
        )
        db.session.add(user)
        db.session.commit()
    return user


def _copy_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def bulk_insert(table: Table, rows: Iterator[dict[str, Any]]) -> int:
    """Write rows in batches of CHUNK: COPY on PostgreSQL, executemany elsewhere."""
    connection = db.session.connection()
    written = 0
    for batch in _chunks(rows):
        if connection.dialect.name == "postgresql":
            # COPY knows nothing of the models' Python-side defaults, so they are filled in here.
            defaulted = [
                column for column in table.columns if column.key not in batch[0] and column.default is not None
            ]
            columns = list(batch[0]) + [column.key for column in defaulted]
            statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
            with connection.connection.dbapi_connection.cursor() as cursor, cursor.copy(statement) as copy:
                for row in batch:
                    values = [row[key] for key in batch[0]] + [
                        column.default.arg if column.default.is_scalar else column.default.arg(None)
                        for column in defaulted
                    ]
                    copy.write_row([_copy_value(value) for value in values])
        else:
            connection.execute(insert(table), batch)
        written += len(batch)
    return written


class _FastCalendar:
    """add_business_hours for a million rows: the opening hours laid out once, then a bisect."""

    def __init__(self, start: datetime, end: datetime) -> None:
        # Every organisation is given the foundation's holidays: close enough for timings.
        calendar = self.business = calendar_for(None)
        self._opens: list[float] = []
        self._before: list[float] = []
        self._ends: list[float] = []
        total, day = 0.0, start.astimezone(calendar.zone).date() - timedelta(days=1)
        last = end.astimezone(calendar.zone).date() + timedelta(days=400)  # room for late answers
        while day <= last:
            hours = calendar.opening_hours(day)
            if hours is not None:
                length = (hours[1] - hours[0]).total_seconds()
                self._opens.append(hours[0].timestamp())
                self._before.append(total)
                total += length
                self._ends.append(total)
            day += timedelta(days=1)

    def _elapsed(self, instant: float) -> float:
        index = bisect_right(self._opens, instant) - 1
        if index < 0:
            return 0.0
        return min(self._before[index] + instant - self._opens[index], self._ends[index])

    def add(self, start: datetime, hours: float) -> datetime:
        target = self._elapsed(start.timestamp()) + hours * 3600
        index = bisect_left(self._ends, target)
        instant = self._opens[index] + target - self._before[index]
        return datetime.fromtimestamp(max(instant, start.timestamp()), UTC)


def _insert_organisations(count: int, now: datetime) -> list[int]:
    rows = (
        {
            "name": f"{ORGANISATION_PREFIX}{number:05d}",
            "name_key": name_key(f"{ORGANISATION_PREFIX}{number:05d}"),
            "kind": OrganisationKind.GRANTEE,
            "description": "Synthetic organisation for the benchmark.",
            "state": "MO",
            "status": RecordStatus.ACTIVE,
            "created_at": now,
            "updated_at": now,
        }
        for number in range(count)
    )
    bulk_insert(Organisation.__table__, rows)
    db.session.commit()
    return list(db.session.scalars(bench_organisations().order_by(Organisation.id)))


# Most contacts are requesters and partners' other staff; one in this many works inquiries,
# which is who routing and the assign menus choose from.
RESPONDER_EVERY = 200


def _insert_contacts(
    count: int, organisation_ids: list[int], rng: random.Random, now: datetime
) -> list[tuple[int, int]]:
    """Insert the contacts; returns (id, organisation id) of those who take inquiries."""
    rows = (
        {
            "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            "organisation_id": organisation_ids[number % len(organisation_ids)],
            "title": "Community health worker",
            "email": f"contact{number}@{DOMAIN}",
            "phone": "",
            "languages": ["en", "es"] if number % 5 == 0 else ["en"],
            "roles": ["community"],
            "show_on_public_page": False,
            "notes": "",
            "active": True,
            "accepts_inquiries": number % RESPONDER_EVERY == 0,
            "is_inquiry_fallback": False,
            "created_at": now,
            "updated_at": now,
        }
        for number in range(count)
    )
    bulk_insert(Contact.__table__, rows)
    db.session.commit()
    return [
        (id_, organisation_id)
        for id_, organisation_id in db.session.execute(
            select(Contact.id, Contact.organisation_id)
            .where(Contact.email.like(f"%@{DOMAIN}"), Contact.accepts_inquiries.is_(True))
            .order_by(Contact.id)
        )
    ]


def _county_weights(counties: list[str]) -> list[float]:
    """Most inquiries come from the two regions the initiative serves."""
    return [12.0 if fips in BOOTHEEL_FIPS else 30.0 if fips in ST_LOUIS_FIPS else 0.3 for fips in counties]


def _status(rng: random.Random, age: timedelta) -> InquiryStatus:
    """Old inquiries are almost all closed; the last month is still being worked."""
    roll = rng.random()
    if roll < 0.05:
        return InquiryStatus.SPAM
    if age > timedelta(days=30):
        return InquiryStatus.CLOSED if roll < 0.995 else InquiryStatus.RESPONDED
    if age < timedelta(days=1) and roll < 0.08:
        return InquiryStatus.NEW
    return rng.choice(
        (
            InquiryStatus.ASSIGNED,
            InquiryStatus.IN_PROGRESS,
            InquiryStatus.RESPONDED,
            InquiryStatus.RESPONDED,
            InquiryStatus.CLOSED,
        )
    )


def _inquiry_rows(
    count: int,
    start: datetime,
    end: datetime,
    topics: list[Topic],
    counties: list[str],
    contacts: list[tuple[int, int]],
    rng: random.Random,
) -> Iterator[dict[str, Any]]:
    """Inquiries in the order they arrived."""
    calendar = _FastCalendar(start, end)
    weights = _county_weights(counties)
    topic_weights = [3.0, 1.0, 0.4, 0.6, 1.0][: len(topics)] + [1.0] * max(0, len(topics) - 5)
    gap = (end - start).total_seconds() / max(count, 1)
    for number in range(count):
        # Evenly spread and in order, as rows arrive in real life (so the table is clustered by date).
        received = start + timedelta(seconds=(number + rng.random()) * gap)
        age = end - received
        status = _status(rng, age)
        topic = rng.choices(topics, topic_weights)[0] if topics and rng.random() > 0.03 else None
        target = topic.response_target_hours if topic else DEFAULT_TARGET_HOURS
        county = rng.choices(counties, weights)[0] if rng.random() > 0.06 else None
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        row: dict[str, Any] = {
            "reference": f"{REFERENCE_PREFIX}{number:09d}",
            "received_at": received,
            "source": InquirySource.WEB,
            "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}{number}@example.net",
            "phone": "",
            "zip_code": "63857" if county in BOOTHEEL_FIPS else "63103" if county in ST_LOUIS_FIPS else "",
            "state": "MO" if county else "",
            "county_fips": county,
            "topic_id": topic.id if topic else None,
            "language": "es" if rng.random() < 0.15 else "en",
            "message": " ".join(rng.choices(MESSAGE_WORDS, k=18)),
            "consent": True,
            "status": status,
            "spam_reason": "honeypot" if status is InquiryStatus.SPAM else "",
        }
        # As the form stores it: every real inquiry has one (an address or a phone is required),
        # and with all of them empty the planner took the duplicate check for a table scan.
        row["dedupe_key"] = dedupe_key(row["email"], row["message"], row["phone"])
        row |= {
            "organisation_id": None,
            "assigned_contact_id": None,
            "routing_reason": "",
            "routed_at": None,
            "due_at": None,
            "first_response_at": None,
            "first_response_hours": None,
            "closed_at": None,
            "outcome": None,
            "acceptance_due_at": None,
            "accepted_at": None,
            "accepted_after_hours": None,
            "follow_up_sent_at": None,
            "family_answered_at": None,
            "family_confirmed": None,
        }
        if status not in (InquiryStatus.SPAM, InquiryStatus.NEW):
            contact_id, organisation_id = rng.choice(contacts)
            row |= {
                "organisation_id": organisation_id,
                "assigned_contact_id": contact_id,
                "routing_reason": "Benchmark",
                "routed_at": received,
                "due_at": calendar.add(received, target),
                "acceptance_due_at": calendar.add(received, ACCEPTANCE_HOURS),
            }
            if status is not InquiryStatus.ASSIGNED:  # assigned ones still wait to be accepted
                # The closed loop is derived from what is already drawn, not from the
                # generator, so the other columns of every row are the same as before it.
                accepted_after = (number % 97) / 97 * ACCEPTANCE_HOURS * 2
                row["accepted_at"] = min(calendar.add(received, accepted_after), end)
                row["accepted_after_hours"] = accepted_after
            if status in (InquiryStatus.RESPONDED, InquiryStatus.CLOSED):
                delay = min(rng.lognormvariate(math.log(6), 1.0), 200.0)
                responded = calendar.add(received, delay)
                if responded > end:
                    responded = end
                    delay = business_hours_between(received, end, calendar.business)
                row["first_response_at"] = responded
                row["first_response_hours"] = delay
                if status is InquiryStatus.CLOSED:
                    row["closed_at"] = min(responded + timedelta(days=rng.uniform(0.5, 30)), end)
                    # Every close records what came of it (ck_inquiries_closed_outcome); taken
                    # from the response time rather than the generator, so the rows that
                    # follow are the same as before outcomes existed.
                    row["outcome"] = BENCH_OUTCOMES[int(delay * 1000) % len(BENCH_OUTCOMES)]
                    row |= _follow_up(number, row["closed_at"], end)
        yield row


def _follow_up(number: int, closed_at: datetime, end: datetime) -> dict[str, Any]:
    """The family follow-up of a closed inquiry: sent FOLLOW_UP_DAYS after the close, answered
    by one family in three, two of those three answers a yes."""
    sent = closed_at + timedelta(days=FOLLOW_UP_DAYS)
    if sent > end:
        return {}
    if number % 3:
        return {"follow_up_sent_at": sent}
    return {
        "follow_up_sent_at": sent,
        "family_answered_at": min(sent + timedelta(days=1), end),
        "family_confirmed": number % 9 != 0,
    }


def _insert_inquiries(
    count: int, years: float, topics: list[Topic], counties: list[str], contacts: list[tuple[int, int]], rng, now, say
) -> None:
    start = now - timedelta(days=365.25 * years)
    rows = _inquiry_rows(count, start, now, topics, counties, contacts, rng)
    began = time.perf_counter()
    done = 0
    while done < count:
        done += bulk_insert(Inquiry.__table__, islice(rows, 100_000))
        db.session.commit()
        say(f"  {done:,} inquiries written ({time.perf_counter() - began:.0f} s)")
    # Each inquiry's timeline starts with its receipt and, when answered, its first response.
    events = InquiryEvent.__table__
    columns = ["inquiry_id", "occurred_at", "kind", "detail", "data"]
    for occurred_at, kind, detail in (
        (Inquiry.received_at, InquiryEventKind.RECEIVED, "Received (Web form)"),
        (Inquiry.first_response_at, InquiryEventKind.RESPONSE, "First response"),
    ):
        db.session.execute(
            insert(events).from_select(
                columns,
                select(
                    Inquiry.id, occurred_at, literal(kind.value), literal(detail), literal({}, events.c.data.type)
                ).where(Inquiry.reference.like(REFERENCE_PREFIX + "%"), occurred_at.is_not(None)),
            )
        )
    # One routed inquiry in PASS_EVERY was passed on once before it was accepted, for a reason
    # taken from its id.
    reasons = [reason.value for reason in PassReason if reason is not PassReason.OTHER]
    reason = sql_case(
        *((Inquiry.id % len(reasons) == position, value) for position, value in enumerate(reasons)),
        else_=reasons[0],
    )
    db.session.execute(
        insert(InquiryPass.__table__).from_select(
            ["inquiry_id", "contact_id", "reason", "note", "passed_at", "passed_by_id"],
            select(Inquiry.id, null(), reason, literal(""), Inquiry.received_at, null()).where(
                Inquiry.reference.like(REFERENCE_PREFIX + "%"),
                Inquiry.routed_at.is_not(None),
                Inquiry.id % PASS_EVERY == 0,
            ),
        )
    )
    db.session.commit()
    say(f"  timeline events and passes written ({time.perf_counter() - began:.0f} s)")


def maintain(
    say, tables: tuple[str, ...] = ("organisations", "contacts", "inquiries", "inquiry_events", "inquiry_passes")
) -> None:
    """Refresh PostgreSQL's statistics and visibility map, as autovacuum would after a big change."""
    bind = db.session.get_bind()
    if not isinstance(bind, Engine) or bind.dialect.name != "postgresql":
        return
    with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in tables:
            connection.exec_driver_sql(f"VACUUM ANALYZE {table}")
    say(f"  vacuumed and analysed {', '.join(tables)}")


def prepare(*, inquiries: int, contacts: int, years: float, reuse: bool, seed: int, say) -> DataSet:
    db.create_all()
    refuse_real_data()
    topics, counties = reference_data()
    bench_manager()
    existing = (_count(bench_inquiries()), _count(bench_contacts()))
    if reuse and existing == (inquiries, contacts):
        say(f"Reusing {inquiries:,} inquiries and {contacts:,} contacts already in the database.")
    else:
        if any(existing):
            say(f"Removing the previous bench data ({existing[0]:,} inquiries, {existing[1]:,} contacts)...")
            remove_bench_data(say)
        say(f"Generating {contacts:,} contacts and {inquiries:,} inquiries over {years:g} years...")
        rng = random.Random(seed)  # noqa: S311  (synthetic data, not secrets)
        now = utcnow()
        began = time.perf_counter()
        organisation_ids = _insert_organisations(max(1, contacts // CONTACTS_PER_ORGANISATION), now)
        contact_rows = _insert_contacts(contacts, organisation_ids, rng, now)
        _insert_inquiries(inquiries, years, topics, counties, contact_rows, rng, now, say)
        say(f"  loaded in {time.perf_counter() - began:.0f} s")
        maintain(say)
    routing_rules(say)
    first, last = db.session.execute(
        select(func.min(Inquiry.received_at), func.max(Inquiry.received_at)).where(
            Inquiry.reference.like(REFERENCE_PREFIX + "%")
        )
    ).one()
    return DataSet(
        inquiries=_count(bench_inquiries()),
        contacts=_count(bench_contacts()),
        organisations=_count(bench_organisations()),
        first_received=first or utcnow(),
        last_received=last or utcnow(),
    )


# --- the timings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    urls: Callable[[int], str]  # repetition number -> URL, so a case can vary its record
    as_partner: bool = False  # signed in as the bench partner instead of the manager
    target_ms: float = TARGET_MS


@dataclass(frozen=True)
class Timing:
    name: str
    example_url: str
    statuses: tuple[int, ...]
    median_ms: float | None
    p95_ms: float | None
    target_ms: float = TARGET_MS

    @property
    def available(self) -> bool:
        return any(status != 404 for status in self.statuses)

    @property
    def ok(self) -> bool:
        return all(status == 200 for status in self.statuses)

    @property
    def meets_target(self) -> bool:
        return self.ok and self.p95_ms is not None and self.p95_ms < self.target_ms


def _route_exists(app: Flask, path: str) -> bool:
    from werkzeug.exceptions import HTTPException

    try:
        app.url_map.bind("localhost").match(path, method="GET")
    except HTTPException:
        return False
    return True


def cases(app: Flask, data: DataSet, rng: random.Random) -> list[Case]:
    today = utcnow().date()
    window = {"from": (today - timedelta(days=89)).isoformat(), "to": today.isoformat()}
    ids = list(db.session.scalars(bench_inquiries().order_by(func.random()).limit(200))) or [1]
    sample = db.session.execute(
        select(Inquiry.organisation_id, Inquiry.topic_id, Inquiry.assigned_contact_id)
        .where(Inquiry.reference.like(REFERENCE_PREFIX + "%"), Inquiry.organisation_id.is_not(None))
        .order_by(Inquiry.id.desc())
        .limit(1)
    ).first()
    organisation, topic, assignee = sample if sample else (None, None, None)
    region = db.session.scalar(select(Region.id).where(Region.name == "Bootheel"))
    month_ago = (today - timedelta(days=30)).isoformat()
    year_ago = (today - timedelta(days=364)).isoformat()
    surname = rng.choice(LAST_NAMES)

    def fixed(url: str) -> Callable[[int], str]:
        return lambda _repetition: url

    from urllib.parse import urlencode

    inbox = [
        Case("Inbox", fixed("/inquiries/")),
        Case(
            "Inbox: status, county, language",
            fixed("/inquiries/?" + urlencode({"status": "assigned", "county": "29069", "language": "es"})),
        ),
        Case(
            "Inbox: organisation, topic",
            fixed("/inquiries/?" + urlencode({"organisation": organisation or "", "topic": topic or ""})),
        ),
        Case("Inbox: assignee", fixed("/inquiries/?" + urlencode({"assignee": assignee or "", "status": ""}))),
        Case(
            "Inbox: region, last 30 days",
            fixed(
                "/inquiries/?"
                + urlencode(
                    {"region": region or "", "received_from": month_ago, "received_to": today.isoformat(), "status": ""}
                )
            ),
        ),
        Case("Inbox: overdue", fixed("/inquiries/?overdue=y")),
        Case("Inbox: search a surname", fixed("/inquiries/?" + urlencode({"q": surname, "status": ""}))),
        Case(
            "Inbox: search a reference",
            lambda n: (
                "/inquiries/?"
                + urlencode({"q": f"{REFERENCE_PREFIX}{rng.randrange(max(data.inquiries, 1)):09d}", "status": ""})
            ),
        ),
        Case("Inbox: any status, oldest first", fixed("/inquiries/?status=&sort=oldest")),
        Case("Inbox: due soonest", fixed("/inquiries/?sort=due")),
    ]
    chosen = inbox if _route_exists(app, "/inquiries/") else [Case("Inbox (not built yet)", fixed("/inquiries/"))]
    chosen.append(Case("Inquiry page", lambda n: f"/inquiries/{ids[n % len(ids)]}"))
    partner = bench_partner()
    theirs = list(
        db.session.scalars(
            bench_inquiries()
            .where(Inquiry.organisation_id == partner.organisation_id)
            .order_by(func.random())
            .limit(200)
        )
    ) or [1]
    chosen += [
        Case("Inbox: search, no match", fixed("/inquiries/?" + urlencode({"q": "xylophone", "status": ""}))),
        Case("Partner: inbox", fixed("/inquiries/"), as_partner=True),
        Case("Partner: overdue", fixed("/inquiries/?overdue=y"), as_partner=True),
        Case(
            "Partner: search a surname",
            fixed("/inquiries/?" + urlencode({"q": surname, "status": ""})),
            as_partner=True,
        ),
        Case("Partner: inquiry page", lambda n: f"/inquiries/{theirs[n % len(theirs)]}", as_partner=True),
    ]
    chosen += [
        # The managers' report reads and sorts the period's inquiries each time it is shown.
        Case("Reports, last 90 days", fixed("/reports/?" + urlencode(window)), target_ms=250.0),
        # The cost grows with the inquiries in the period: a shorter one shows the slope.
        Case("Reports, last 30 days", fixed("/reports/?" + urlencode({"from": month_ago, "to": today.isoformat()}))),
        Case(
            "Reports, last 365 days",
            fixed("/reports/?" + urlencode({"from": year_ago, "to": today.isoformat()})),
            target_ms=1000.0,
        ),
        Case("Reports chart (month)", fixed("/reports/chart/month.svg?" + urlencode(window))),
        Case("Reports CSV (county)", fixed("/reports/export/county.csv?" + urlencode(window))),
    ]
    return chosen


def bench_partner() -> User:
    """A partner user of the bench organisation with the most inquiries: the largest share a
    partner can see."""
    busiest = db.session.scalar(
        select(Inquiry.organisation_id)
        .where(Inquiry.reference.like(REFERENCE_PREFIX + "%"), Inquiry.organisation_id.is_not(None))
        .group_by(Inquiry.organisation_id)
        .order_by(func.count().desc(), Inquiry.organisation_id)
        .limit(1)
    )
    user = db.session.scalar(select(User).where(User.email == PARTNER_EMAIL))
    if user is None:
        user = User(
            email=PARTNER_EMAIL,
            name="Bench Partner",
            role=Role.PARTNER,
            password_hash=hash_password(secrets.token_urlsafe(24)),
        )
        db.session.add(user)
    user.organisation_id = busiest
    db.session.commit()
    return user


def sign_in(client, user: User) -> None:
    """A session opened on the server and Flask-Login's keys set in the client's cookie, as
    signing in does: the bench manager has no password anyone knows."""
    open_session(user, "Backbone CRM benchmark")
    db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = user.current_session_token
        session["_fresh"] = True


def _get(client, url: str) -> int:
    """The status of one request; a page that raises (someone else's, half built) counts as a 500."""
    try:
        response = client.get(url)
        response.get_data()
    except Exception:  # noqa: BLE001  (a broken page is a result to report, not a reason to stop)
        db.session.rollback()
        return 500
    return response.status_code


def measure(
    app: Flask, to_time: list[Case], repeat: int, budget_seconds: float = 30.0, say: Callable[[str], None] = print
) -> list[Timing]:
    # The pages are timed, not the sign-in: the bench manager has no authenticator app, so the
    # role's two-factor requirement would send every page to its set-up.
    required_before = app.config["TWO_FACTOR_REQUIRED_ROLES"]
    app.config["TWO_FACTOR_REQUIRED_ROLES"] = ""
    # Every request runs in the app context the caller holds, where Flask-Login keeps the
    # user it loaded in `g`: forget it per request, or the partner's pages are served to the
    # manager signed in first.
    request_started.connect(_forget_signed_in_user, app)
    try:
        return _measure(app, to_time, repeat, budget_seconds, say)
    finally:
        request_started.disconnect(_forget_signed_in_user, app)
        app.config["TWO_FACTOR_REQUIRED_ROLES"] = required_before


def _forget_signed_in_user(_sender, **_extra) -> None:
    g.pop("_login_user", None)


def _measure(
    app: Flask, to_time: list[Case], repeat: int, budget_seconds: float, say: Callable[[str], None]
) -> list[Timing]:
    manager, partner = app.test_client(), app.test_client()
    sign_in(manager, bench_manager())
    if any(case.as_partner for case in to_time):
        sign_in(partner, bench_partner())
    timings = []
    for case in to_time:
        client = partner if case.as_partner else manager
        began_case = time.perf_counter()
        _get(client, case.urls(0))  # warm-up: templates compiled, caches filled
        seconds, statuses = [], []
        for repetition in range(repeat):
            # A very slow page gets fewer samples rather than holding the run up for an hour.
            if len(seconds) >= MIN_SAMPLES and time.perf_counter() - began_case > budget_seconds:
                break
            url = case.urls(repetition)
            began = time.perf_counter()
            status = _get(client, url)
            seconds.append(time.perf_counter() - began)
            statuses.append(status)
        milliseconds = [value * 1000 for value in seconds]
        say(f"  timed {case.name}: {len(seconds)} requests")
        timings.append(
            Timing(
                name=case.name,
                example_url=case.urls(0),
                statuses=tuple(statuses),
                median_ms=percentile(milliseconds, 50),
                p95_ms=percentile(milliseconds, 95),
                target_ms=case.target_ms,
            )
        )
    return timings


def format_table(timings: list[Timing]) -> str:
    header = ("Page", "HTTP", "n", "median ms", "p95 ms", "target ms", "p95 < target", "URL")
    lines = []
    for timing in timings:
        statuses = "/".join(str(status) for status in sorted(set(timing.statuses)))
        verdict = "yes" if timing.meets_target else ("n/a" if not timing.available else "NO")
        lines.append(
            (
                timing.name,
                statuses,
                str(len(timing.statuses)),
                "" if timing.median_ms is None else f"{timing.median_ms:.1f}",
                "" if timing.p95_ms is None else f"{timing.p95_ms:.1f}",
                f"{timing.target_ms:g}",
                verdict,
                timing.example_url,
            )
        )
    widths = [max(len(str(row[index])) for row in [header, *lines]) for index in range(len(header))]
    rule = "  ".join("-" * width for width in widths)

    def render(row):
        return "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()

    return "\n".join([render(header), rule, *(render(row) for row in lines)])


def run(
    app: Flask,
    *,
    inquiries: int,
    contacts: int,
    repeat: int,
    reuse: bool = False,
    years: float = 5,
    seed: int = 20130601,
    budget_seconds: float = 30.0,
    only: str = "",
    say: Callable[[str], None] = print,
) -> list[Timing]:
    """Prepare the data set and time every page; call inside an app context."""
    data = prepare(inquiries=inquiries, contacts=contacts, years=years, reuse=reuse, seed=seed, say=say)
    today = utcnow()
    in_window = _count(
        bench_inquiries().where(Inquiry.received_at >= today - timedelta(days=90), Inquiry.status != InquiryStatus.SPAM)
    )
    say(
        f"Data: {data.inquiries:,} inquiries ({in_window:,} in the last 90 days, spam aside), "
        f"{data.contacts:,} contacts, {data.organisations:,} organisations; "
        f"received {data.first_received:%Y-%m-%d} to {data.last_received:%Y-%m-%d}."
    )
    rng = random.Random(seed)  # noqa: S311  (picks sample records, not secrets)
    chosen = [case for case in cases(app, data, rng) if not only or only.casefold() in case.name.casefold()]
    timings = measure(app, chosen, repeat, budget_seconds, say)
    say(format_table(timings))
    return timings

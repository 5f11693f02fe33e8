"""The database side of routing: load rules and contacts for the engine, and record its choice."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy import Row, Select, bindparam, delete, func, insert, inspect, literal_column, select, text
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from crm import audit
from crm.database import as_read
from crm.extensions import db
from crm.geography.zip_lookup import ZipPlace, lookup_zip, normalise_zip
from crm.models import Contact, County, Inquiry, Organisation, RoutingRule, Topic
from crm.models.contact import contact_topics
from crm.models.inquiry import open_clause
from crm.models.open_load import contact_open_loads
from crm.reference_cache import cached
from crm.routing.engine import Candidate, Decision, RoutingRequest, Rule, route, rule_matches

NO_FALLBACK = "No fallback contact is set: choose one on the routing rules page."


class NoFallbackContact(RuntimeError):
    """Routing needs a fallback contact; the demo data and the rules page set one."""


@dataclass(frozen=True)
class RoutingOutcome:
    place: ZipPlace | None
    decision: Decision
    # The chosen contact's row, when the decision read it already (apply_decision stores it).
    chosen_row: Row | None = field(default=None, compare=False, repr=False)


def place_of(zip_code: str) -> ZipPlace | None:
    zip5 = normalise_zip(zip_code or "")
    return lookup_zip(zip5) if zip5 else None


@dataclass(frozen=True)
class CountyRegions:
    """A county we keep records for and the regions it is in, by name."""

    fips: str
    name: str
    region_ids: frozenset[int]
    region_names: tuple[str, ...]


def _load_counties() -> dict[str, CountyRegions]:
    counties = db.session.scalars(select(County).options(selectinload(County.regions)))
    return {
        county.fips: CountyRegions(
            fips=county.fips,
            name=county.name,
            region_ids=frozenset(region.id for region in county.regions),
            region_names=tuple(region.name for region in county.regions),
        )
        for county in counties
    }


def known_counties() -> dict[str, CountyRegions]:
    """Every county we keep records for, by FIPS code (kept for a while: crm.reference_cache)."""
    return cached("counties", _load_counties)


def routing_request(zip_code: str, topic: Topic | None, language: str) -> tuple[RoutingRequest, ZipPlace | None]:
    place = place_of(zip_code)
    county = known_counties().get(place.county_fips) if place and place.county_fips else None
    request = RoutingRequest(
        zip5=normalise_zip(zip_code or ""),
        state=place.state if place else None,
        county_fips=county.fips if county else None,
        county_name=county.name if county else (place.county_name if place else None),
        region_ids=county.region_ids if county else frozenset(),
        region_names=county.region_names if county else (),
        topic_id=topic.id if topic else None,
        topic_name=topic.name_en if topic else None,
        language=language,
    )
    return request, place


def rules_in_order(*, active_only: bool = False) -> list[RoutingRule]:
    """Rules in the order they are tried, with what they match and where they send loaded."""
    query = (
        select(RoutingRule)
        .options(
            selectinload(RoutingRule.topics),
            selectinload(RoutingRule.regions),
            selectinload(RoutingRule.counties),
            selectinload(RoutingRule.target_contact),
            selectinload(RoutingRule.target_organisation),
        )
        .order_by(RoutingRule.priority, RoutingRule.id)
    )
    if active_only:
        query = query.where(RoutingRule.active.is_(True))
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class RoutingSetup:
    """What routing reads that changes only when someone edits it: the active rules, the
    organisations' backups and the topics each contact handles (none: every topic)."""

    rules: tuple[Rule, ...]
    backups: dict[int, int]
    contact_topics: dict[int, frozenset[int]]


def _load_active_rules() -> list[Rule]:
    return [
        Rule(
            id=rule.id,
            name=rule.name,
            priority=rule.priority,
            topic_ids=frozenset(topic.id for topic in rule.topics),
            region_ids=frozenset(region.id for region in rule.regions),
            county_fips=frozenset(county.fips for county in rule.counties),
            languages=frozenset(rule.languages or []),
            target_contact_id=rule.target_contact_id,
            target_organisation_id=rule.target_organisation_id,
            target_label=rule.target_label,
        )
        for rule in rules_in_order(active_only=True)
        if (rule.target_contact_id is None) != (rule.target_organisation_id is None)
    ]


def _load_setup() -> RoutingSetup:
    rules = _load_active_rules()
    topics: dict[int, set[int]] = {}
    for contact_id, topic_id in db.session.execute(select(contact_topics.c.contact_id, contact_topics.c.topic_id)):
        topics.setdefault(contact_id, set()).add(topic_id)
    return RoutingSetup(
        rules=tuple(rules),
        backups=backups(rules),
        contact_topics={contact_id: frozenset(ids) for contact_id, ids in topics.items()},
    )


def routing_setup() -> RoutingSetup:
    """The rules, backups and contacts' topics (kept for a while: crm.reference_cache)."""
    return cached("routing", _load_setup)


def active_rules() -> list[Rule]:
    return list(routing_setup().rules)


def open_inquiry_counts(contact_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Open inquiries per contact with any, of the contacts given (all by default), as the
    database keeps them (crm.models.open_load): one row per contact, not one per inquiry."""
    query = select(contact_open_loads.c.contact_id, contact_open_loads.c.open_inquiries).where(
        contact_open_loads.c.open_inquiries > 0
    )
    if contact_ids is not None:
        query = query.where(contact_open_loads.c.contact_id.in_(list(contact_ids)))
    rows = db.session.execute(query)
    return {contact_id: count for contact_id, count in rows}  # noqa: C416 (rows are Row objects)


def recount_open_loads() -> int:
    """Count every contact's open inquiries afresh and keep those counts (crm.models.open_load),
    for a database whose triggers were bypassed (a load with them disabled, a TRUNCATE); returns
    how many contacts' kept counts were wrong. The caller commits.

    Inquiries cannot change meanwhile: on PostgreSQL the lock that CREATE TRIGGER takes holds
    off their writes and lets reads go on; SQLite has one writer at a time, and the DELETE makes
    this transaction it. The old counts come from the DELETE itself, so none is read twice."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE inquiries IN SHARE ROW EXCLUSIVE MODE"))
    kept = contact_open_loads.c
    before = db.session.execute(delete(contact_open_loads).returning(kept.contact_id, kept.open_inquiries))
    was = {contact_id: count for contact_id, count in before}  # noqa: C416 (rows are Row objects)
    counted = (
        select(Inquiry.assigned_contact_id, func.count())
        .where(Inquiry.assigned_contact_id.is_not(None), open_clause())
        .group_by(Inquiry.assigned_contact_id)
    )
    after = db.session.execute(
        insert(contact_open_loads)
        .from_select([kept.contact_id, kept.open_inquiries], counted)
        .returning(kept.contact_id, kept.open_inquiries)
    )
    now = {contact_id: count for contact_id, count in after}  # noqa: C416 (as above)
    return sum(1 for contact_id in was.keys() | now.keys() if was.get(contact_id, 0) != now.get(contact_id, 0))


def candidate_for(contact: Contact, open_inquiries: int = 0, topic_ids: frozenset[int] | None = None) -> Candidate:
    """The routing engine's view of a contact; ``topic_ids`` default to the contact's own
    (routing passes them from its per-process cache, so as not to load each contact's)."""
    organisation_name = contact.organisation.name if contact.organisation else None
    topic_ids = frozenset(topic.id for topic in contact.topics) if topic_ids is None else topic_ids
    return _candidate(contact, organisation_name, open_inquiries, topic_ids)


def _candidate(contact: Contact | Row, organisation_name: str | None, open_inquiries: int, topic_ids: frozenset[int]) -> Candidate:
    """A contact's record, or a row of its columns by attribute name, as the engine sees them."""
    return Candidate(
        id=contact.id,
        name=contact.name,
        email=contact.email,
        organisation_id=contact.organisation_id,
        organisation_name=organisation_name,
        active=contact.active,
        accepts_inquiries=contact.accepts_inquiries,
        languages=frozenset(contact.languages or []),
        away_from=contact.away_from,
        away_until=contact.away_until,
        open_inquiries=open_inquiries,
        last_assigned_at=contact.last_assigned_at,
        topic_ids=topic_ids,
    )


# The candidates' statement reads, of each contact, what the engine weighs (Candidate) and
# whether they are the fallback; of their organisation, its id and name: plain rows, cheaper
# than records by the dozen, of which the chosen one becomes a record (chosen_records). That
# is all a post reads of the chosen contact (their name and email for the notice, their
# organisation's name for the family). Not every column: the rows number dozens, and the
# rest (notes, roles, descriptions) is read should anything ask for it (crm.database.as_read).
# An organisation's columns are named by their attribute after ORGANISATION_PREFIX.
CANDIDATE_COLUMNS = (
    "id",
    "name",
    "email",
    "organisation_id",
    "active",
    "accepts_inquiries",
    "languages",
    "away_from",
    "away_until",
    "last_assigned_at",
    "is_inquiry_fallback",
)
ORGANISATION_COLUMNS = ("id", "name")
ORGANISATION_PREFIX = "organisation__"


def _labelled(model: type, names: tuple[str, ...], prefix: str = "") -> list:
    return [getattr(model, name).label(prefix + name) for name in names]


def _values(row: Row, names: tuple[str, ...], prefix: str = "") -> dict[str, object]:
    mapping = row._mapping
    return {name: mapping[prefix + name] for name in names}


@cache
def _candidates_statement() -> Select:
    """Built once per process: a statement object keeps its cache key, which SQLAlchemy would
    otherwise work out again at every post."""
    # Kept by the database as inquiries change (crm.models.open_load); no row: none open. Read
    # per candidate through its primary key, as a subquery rather than a third join: joined,
    # PostgreSQL may walk every contact in id order instead of finding the few by their indexes.
    open_count = (
        select(contact_open_loads.c.open_inquiries)
        .where(contact_open_loads.c.contact_id == Contact.id)
        .correlate(Contact)
        .scalar_subquery()
    )
    return (
        select(
            *_labelled(Contact, CANDIDATE_COLUMNS),
            *_labelled(Organisation, ORGANISATION_COLUMNS, ORGANISATION_PREFIX),
            func.coalesce(open_count, literal_column("0")).label("open_inquiries"),
        )
        .select_from(Contact)
        .outerjoin(Organisation, Contact.organisation_id == Organisation.id)
        .where(
            Contact.id.in_(bindparam("named_ids", expanding=True))
            | Contact.organisation_id.in_(bindparam("organisation_ids", expanding=True))
            | Contact.is_inquiry_fallback
        )
        .order_by(Contact.id)
    )


def fresh_candidates(
    setup: RoutingSetup, rules: Iterable[Rule] | None = None
) -> tuple[list[Candidate], Candidate | None, dict[int, Row]]:
    """The contacts the ``rules`` (all the active ones by default) could pick (named targets,
    members of target organisations) and the fallback contact, as they are now, in one
    statement: whether they are available, the languages they speak, their open inquiries
    (the count the database keeps, crm.models.open_load) and when they were last assigned one;
    and their rows, by id, for chosen_records. What it reads is the database's: under
    ``no_autoflush`` (crm.inquiries.intake.take_in, which changes no contact before routing),
    a change to a contact not yet flushed is not seen."""
    rules = setup.rules if rules is None else tuple(rules)
    named_ids = frozenset(rule.target_contact_id for rule in rules if rule.target_contact_id)
    organisation_ids = frozenset(rule.target_organisation_id for rule in rules if rule.target_organisation_id)
    rows = db.session.execute(
        _candidates_statement(), {"named_ids": sorted(named_ids), "organisation_ids": sorted(organisation_ids)}
    ).all()
    candidates, fallback = [], None
    for row in rows:
        organisation_name = row._mapping[ORGANISATION_PREFIX + "name"]
        candidate = _candidate(row, organisation_name, row.open_inquiries, setup.contact_topics.get(row.id, frozenset()))
        if row.is_inquiry_fallback and fallback is None:
            fallback = candidate
        if candidate.id in named_ids or candidate.organisation_id in organisation_ids:
            candidates.append(candidate)
    return candidates, fallback, {row.id: row for row in rows}


def chosen_records(row: Row) -> Contact:
    """The contact a candidates' row (fresh_candidates) holds, with their organisation, taken
    into the session as read: storing the choice and its emails need the records, which the
    statement read already."""
    contact = as_read(db.session, Contact, _values(row, CANDIDATE_COLUMNS))
    organisation_id = row._mapping[ORGANISATION_PREFIX + "id"]
    # Not when the session holds the contact moved to another organisation, not yet flushed.
    if organisation_id is not None and contact.organisation_id == organisation_id and "organisation" in inspect(contact).unloaded:
        organisation = as_read(db.session, Organisation, _values(row, ORGANISATION_COLUMNS, ORGANISATION_PREFIX))
        # Held by the contact: the session would let go of a record nothing refers to.
        set_committed_value(contact, "organisation", organisation)
    return contact


def backups(rules: list[Rule]) -> dict[int, int]:
    """The backup contact of each organisation a rule sends inquiries to."""
    organisation_ids = {rule.target_organisation_id for rule in rules if rule.target_organisation_id}
    rows = db.session.execute(
        select(Organisation.id, Organisation.backup_contact_id).where(
            Organisation.id.in_(organisation_ids), Organisation.backup_contact_id.is_not(None)
        )
    )
    return {organisation_id: contact_id for organisation_id, contact_id in rows}  # noqa: C416 (rows are Row objects)


def current_fallback() -> Contact | None:
    """The contact who takes what no rule can place, if one is set."""
    # At most one (uq_contacts_inquiry_fallback), found through that partial index: its
    # condition is the bare column, which ``IS true`` or an ORDER BY id would not use.
    return db.session.scalar(select(Contact).where(Contact.is_inquiry_fallback))


def fallback_contact() -> Contact:
    contact = current_fallback()
    if contact is None:
        raise NoFallbackContact(NO_FALLBACK)
    return contact


def decide(
    zip_code: str, topic: Topic | None, language: str, now: datetime, *, excluded: frozenset[int] = frozenset()
) -> RoutingOutcome:
    """Where an inquiry with these details would go now, never to the ``excluded`` contacts
    (those who passed it on) but for the fallback; reads only, changes nothing."""
    request, place = routing_request(zip_code, topic, language)
    setup = routing_setup()
    # Only the rules this request matches can place it, so only their contacts are read.
    matching = [rule for rule in setup.rules if rule_matches(rule, request)]
    candidates, fallback, rows = fresh_candidates(setup, matching)
    if fallback is None:
        raise NoFallbackContact(NO_FALLBACK)
    decision = route(request, matching, candidates, fallback, now, backups=setup.backups, excluded=excluded)
    return RoutingOutcome(place=place, decision=decision, chosen_row=rows.get(decision.contact.id))


def _outcome_without_rules(zip_code: str, contact: Contact, reason: str, *, used_fallback: bool) -> RoutingOutcome:
    """The outcome when ``contact`` takes the inquiry without the rules being asked."""
    candidate = candidate_for(contact)
    decision = Decision(
        contact=candidate,
        rule=None,
        organisation_id=contact.organisation_id,
        organisation_name=candidate.organisation_name,
        used_fallback=used_fallback,
        reason=reason,
    )
    return RoutingOutcome(place=place_of(zip_code), decision=decision)


def decided_by_hand(zip_code: str, contact: Contact, chosen_by: str) -> RoutingOutcome:
    """The outcome when a person picks the contact instead of the rules."""
    return _outcome_without_rules(zip_code, contact, f"Assigned by hand by {chosen_by}", used_fallback=False)


# Without the requester's consent an inquiry may not go to a partner organisation. It stays
# with "the foundation": the fallback contact, the foundation's own, and their colleagues.


def kept_with_foundation(zip_code: str) -> RoutingOutcome:
    """The outcome for an inquiry the requester did not agree to pass on: the fallback contact takes it."""
    fallback = fallback_contact()
    reason = (
        f"The requester did not agree to be passed to a partner, so it is kept with the foundation -> {fallback.name}"
    )
    return _outcome_without_rules(zip_code, fallback, reason, used_fallback=True)


def foundation_contact_ids() -> set[int]:
    """The contacts who may take an inquiry without the requester's consent; none without a fallback."""
    try:
        fallback = fallback_contact()
    except NoFallbackContact:
        return set()
    if fallback.organisation_id is None:
        return {fallback.id}
    return set(db.session.scalars(select(Contact.id).where(Contact.organisation_id == fallback.organisation_id)))


def apply_decision(inquiry: Inquiry, outcome: RoutingOutcome, now: datetime) -> Contact:
    """Store the decision on the inquiry; the caller then gives the contact their turn
    (take_turn)."""
    decision = outcome.decision
    if outcome.chosen_row is not None:
        contact = chosen_records(outcome.chosen_row)
    else:
        contact = db.session.get(Contact, decision.contact.id)
    inquiry.assigned_contact_id = contact.id
    inquiry.organisation_id = decision.organisation_id or contact.organisation_id
    inquiry.routing_rule_id = decision.rule.id if decision.rule else None
    inquiry.routing_reason = decision.reason
    inquiry.routed_at = now
    return contact


def take_turn(contact: Contact, now: datetime) -> None:
    """Note that ``contact`` was given an inquiry at ``now``, for round-robin among equals.

    Written at once, in one UPDATE (crm.audit.update_record): best as the last write before
    the commit, since it locks the contact's row until then, and a post routed to the same
    contact at the same moment waits for that lock."""
    audit.update_record(contact, last_assigned_at=now)


def describe(outcome: RoutingOutcome) -> dict[str, object]:
    """The simulator's answer, as the command line and the test page show it."""
    decision = outcome.decision
    organisation = (
        db.session.get(Organisation, decision.organisation_id or decision.contact.organisation_id)
        if (decision.organisation_id or decision.contact.organisation_id)
        else None
    )
    return {
        "zip": outcome.place.zip5 if outcome.place else None,
        "state": outcome.place.state if outcome.place else None,
        "county": outcome.place.county_name if outcome.place else None,
        "rule": decision.rule.name if decision.rule else None,
        "fallback": decision.used_fallback,
        "organization": organisation.name if organisation else None,
        "contact": decision.contact.name,
        "contact_email": decision.contact.email,
        "reason": decision.reason,
    }

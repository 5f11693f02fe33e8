"""Demo data: the initiative's two backbone partners, their regions and a few records to explore."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from crm.audit import commit
from crm.auth.passwords import hash_password
from crm.auth.services import user_of_contact
from crm.database import utcnow
from crm.extensions import db
from crm.geography.missouri import MISSOURI_COUNTIES
from crm.holidays.cli import seed_holidays
from crm.inquiries import services as inquiry_actions
from crm.inquiries.intake import InquiryDetails, receive, start_acceptance_clock
from crm.models import (
    AttemptMethod,
    Contact,
    ContactPreference,
    County,
    Grant,
    GrantReport,
    GrantStatus,
    Inquiry,
    InquiryOutcome,
    InquirySource,
    Interaction,
    InteractionKind,
    Organisation,
    OrganisationKind,
    Region,
    Role,
    RoutingRule,
    Topic,
    User,
)
from crm.models.inquiry_status import InquiryStatus
from crm.models.organisation import name_key

BOOTHEEL_COUNTIES = ["29069", "29133", "29143", "29155", "29201", "29207"]
ST_LOUIS_COUNTIES = ["29510", "29189"]

BOOTHEEL_BABIES = "Bootheel Babies & Families"
GENERATE_HEALTH = "Generate Health"
FOUNDATION = "Foundation IMRI Team"

ORGANISATIONS = [
    {
        "name": BOOTHEEL_BABIES,
        "kind": OrganisationKind.BACKBONE,
        "description": (
            "Backbone partner of the Infant Mortality Reduction Initiative in the Bootheel. "
            "Works alongside families and local partners in Dunklin, Mississippi, New Madrid, "
            "Pemiscot, Scott and Stoddard counties so that more mothers and babies stay healthy "
            "through pregnancy and the first year."
        ),
        "description_es": (
            "Organización coordinadora de la Iniciativa para la Reducción de la Mortalidad Infantil "
            "en el Bootheel. Trabaja junto a las familias y los aliados locales de los condados de "
            "Dunklin, Mississippi, New Madrid, Pemiscot, Scott y Stoddard para que más madres y bebés "
            "estén sanos durante el embarazo y el primer año de vida."
        ),
        "city": "Kennett",
        "postal_code": "63857",
        "regions": ["Bootheel"],
    },
    {
        "name": GENERATE_HEALTH,
        "kind": OrganisationKind.BACKBONE,
        "description": (
            "Backbone partner of the initiative in St. Louis. Organises community power behind "
            "racially equitable policies and practices that put Black families at the centre, "
            "from pregnancy through parenthood."
        ),
        "description_es": (
            "Organización coordinadora de la iniciativa en St. Louis. Une la fuerza de la comunidad "
            "para impulsar políticas y prácticas con equidad racial que ponen en el centro a las "
            "familias negras, desde el embarazo hasta la crianza."
        ),
        "city": "St. Louis",
        "postal_code": "63103",
        "regions": ["St. Louis"],
    },
    {
        "name": FOUNDATION,
        "kind": OrganisationKind.FUNDER,
        "description": (
            "The foundation's program team for the initiative, which began in 2013. Answers "
            "questions about grants, funding and the press."
        ),
        "city": "St. Louis",
        "postal_code": "63103",
        "regions": ["Bootheel", "St. Louis"],
    },
]

FALLBACK_EMAIL = "riley.brooks@foundation.example.org"
STAFF_EMAIL = "staff@example.org"
PARTNER_EMAIL = "partner@example.org"

CONTACTS = [
    # name, email, organisation, title, languages, roles, shown publicly, takes inquiries
    ("Dana Whitfield", "dana.whitfield@bootheel-babies.example.org", BOOTHEEL_BABIES, "Executive Director", ["en"], ["primary_grantee", "executive"], True, True),
    ("Lucía Ramírez", "lucia.ramirez@bootheel-babies.example.org", BOOTHEEL_BABIES, "Family Outreach Coordinator", ["en", "es"], ["program", "community"], False, True),
    ("Marcus Hale", "marcus.hale@bootheel-babies.example.org", BOOTHEEL_BABIES, "Community Health Worker", ["en"], ["community"], False, True),
    ("Keisha Thompson", "keisha.thompson@generate-health.example.org", GENERATE_HEALTH, "Director of Maternal and Infant Health", ["en"], ["primary_grantee"], True, True),
    ("Ana Morales", "ana.morales@generate-health.example.org", GENERATE_HEALTH, "Family Navigator", ["en", "es"], ["program"], False, True),
    ("Tanya Reed", "tanya.reed@generate-health.example.org", GENERATE_HEALTH, "Program Manager", ["en"], ["program"], False, True),
    ("Jordan Ellis", "jordan.ellis@foundation.example.org", FOUNDATION, "Program Officer", ["en"], ["primary_grantee", "finance"], False, True),
    ("Sam Carter", "sam.carter@foundation.example.org", FOUNDATION, "Communications Officer", ["en", "es"], ["media"], False, True),
    ("Riley Brooks", FALLBACK_EMAIL, FOUNDATION, "Community Inquiries Coordinator", ["en", "es"], ["community"], True, True),
    # Two demo users are contacts too, so signing in as them shows inquiries of their own:
    # inquiries are assigned to contacts, and a user is the contact with the same email.
    ("Pat Partner", PARTNER_EMAIL, BOOTHEEL_BABIES, "Family Support Specialist", ["en"], ["program"], False, True),
    ("Sasha Staff", STAFF_EMAIL, FOUNDATION, "Program Associate", ["en", "es"], ["program"], False, True),
]

TOPICS = [
    # English, Spanish, first-response target in business hours
    ("Support for my family", "Apoyo para mi familia", 16),
    ("Partnering or volunteering", "Colaborar o ser voluntario", 16),
    ("Media", "Medios de comunicación", 8),
    ("Grants and funding", "Subvenciones y financiamiento", 16),
    ("Other", "Otro", 16),
]

# Each backbone partner's backup: takes what nobody else there can (everyone away, nobody
# speaks the language or handles the topic), so is kept out of the partner's usual turns.
BACKUPS = {
    BOOTHEEL_BABIES: "dana.whitfield@bootheel-babies.example.org",
    GENERATE_HEALTH: "tanya.reed@generate-health.example.org",
}
# The topics some foundation staff handle (everyone else: every topic).
CONTACT_TOPICS = {
    "sam.carter@foundation.example.org": ["Media"],
    "jordan.ellis@foundation.example.org": ["Grants and funding"],
}

RULES = [
    # name, priority, topic, region, target contact email, target organisation
    ("Media requests", 10, "Media", None, "sam.carter@foundation.example.org", None),
    ("Grants and funding", 20, "Grants and funding", None, "jordan.ellis@foundation.example.org", None),
    ("Bootheel families and partners", 30, None, "Bootheel", None, BOOTHEEL_BABIES),
    ("St. Louis families and partners", 40, None, "St. Louis", None, GENERATE_HEALTH),
]

USERS = [
    ("admin@example.org", "Avery Admin", Role.ADMIN, None),
    ("manager@example.org", "Morgan Manager", Role.MANAGER, None),
    (STAFF_EMAIL, "Sasha Staff", Role.STAFF, None),
    (PARTNER_EMAIL, "Pat Partner", Role.PARTNER, BOOTHEEL_BABIES),
]


@dataclass
class SeedResult:
    password: str
    user_emails: list[str] = field(default_factory=list)
    users_created: int = 0
    created: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> None:
        self.created[kind] = self.created.get(kind, 0) + 1

    def summary(self) -> str:
        if not self.created:
            return "nothing new to add"
        return ", ".join(f"{number} {kind}" for kind, number in sorted(self.created.items())) + " added"


def seed_counties_and_regions(result: SeedResult) -> dict[str, Region]:
    existing = {county.fips for county in db.session.scalars(select(County))}
    for fips, county_name in MISSOURI_COUNTIES.items():
        if fips not in existing:
            db.session.add(County(fips=fips, name=county_name, state="MO"))
            result.count("counties")
    db.session.flush()
    regions = {}
    for region_name, fips_codes in (("Bootheel", BOOTHEEL_COUNTIES), ("St. Louis", ST_LOUIS_COUNTIES)):
        region = db.session.scalar(select(Region).where(Region.name == region_name))
        if region is None:
            region = Region(name=region_name)
            db.session.add(region)
            result.count("regions")
        for fips in fips_codes:
            county = db.session.get(County, fips)
            if county not in region.counties:
                region.counties.append(county)
        regions[region_name] = region
    return regions


def seed_demo(password: str, reset_existing_passwords: bool = False, with_inquiries: bool = False) -> SeedResult:
    """The demo records; ``with_inquiries`` adds a few open inquiries, some overdue (the
    ``seed-demo`` command asks for them; tests that count inquiries do not)."""
    result = SeedResult(password=password)
    # The demo's deadlines skip the foundation's holidays, Thanksgiving included.
    seed_holidays()
    regions = seed_counties_and_regions(result)

    organisations: dict[str, Organisation] = {}
    for spec in ORGANISATIONS:
        organisation = db.session.scalar(select(Organisation).where(Organisation.name_key == name_key(spec["name"])))
        if organisation is None:
            organisation = Organisation(
                name=spec["name"],
                kind=spec["kind"],
                description=spec["description"],
                description_es=spec.get("description_es", ""),
                city=spec["city"],
                state="MO",
                postal_code=spec["postal_code"],
                regions=[regions[name] for name in spec["regions"]],
                counties=[county for name in spec["regions"] for county in regions[name].counties],
            )
            db.session.add(organisation)
            result.count("organisations")
        organisations[spec["name"]] = organisation

    contacts: dict[str, Contact] = {}
    for name, email, organisation_name, title, languages, roles, public, takes_inquiries in CONTACTS:
        contact = db.session.scalar(select(Contact).where(Contact.email == email))
        if contact is None:
            contact = Contact(
                name=name,
                email=email,
                organisation=organisations[organisation_name],
                title=title,
                languages=languages,
                roles=roles,
                show_on_public_page=public,
                accepts_inquiries=takes_inquiries,
                is_inquiry_fallback=email == FALLBACK_EMAIL,
            )
            db.session.add(contact)
            result.count("contacts")
        contacts[email] = contact

    users_by_email: dict[str, User] = {}
    for email, user_name, role, organisation_name in USERS:
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(
                email=email,
                name=user_name,
                role=role,
                password_hash=hash_password(password),
                organisation=organisations.get(organisation_name) if organisation_name else None,
            )
            db.session.add(user)
            result.users_created += 1
            result.count("users")
        elif reset_existing_passwords:
            user.password_hash = hash_password(password)
        # The staff and partner users are also contacts who take inquiries: their "My open
        # inquiries" are those assigned to the contact they are linked to.
        if user.contact is None and email in contacts:
            user.contact = contacts[email]
        users_by_email[email] = user
        result.user_emails.append(email)

    db.session.flush()
    _seed_grants(organisations, result)
    _seed_interactions(organisations, contacts, users_by_email[STAFF_EMAIL], result)
    _seed_routing(regions, organisations, contacts, result)
    commit(actor=None)
    if with_inquiries:
        _seed_inquiries(contacts, users_by_email[STAFF_EMAIL], result)
    return result


def _seed_grants(organisations: dict[str, Organisation], result: SeedResult) -> None:
    this_year = utcnow().year
    for organisation_name, amount in ((BOOTHEEL_BABIES, Decimal("450000.00")), (GENERATE_HEALTH, Decimal("600000.00"))):
        organisation = organisations[organisation_name]
        program = "IMRI backbone support"
        start = date(this_year, 1, 1)
        exists = db.session.scalar(
            select(Grant.id).where(Grant.organisation_id == organisation.id, Grant.program == program, Grant.start_date == start)
        )
        if exists:
            continue
        grant = Grant(
            organisation=organisation,
            program=program,
            amount=amount,
            start_date=start,
            end_date=date(this_year + 2, 12, 31),
            status=GrantStatus.ACTIVE,
            reports=[GrantReport(due_on=date(this_year, 7, 15)), GrantReport(due_on=date(this_year + 1, 1, 15))],
        )
        db.session.add(grant)
        result.count("grants")


def _seed_interactions(
    organisations: dict[str, Organisation], contacts: dict[str, Contact], staff: User, result: SeedResult
) -> None:
    if db.session.scalar(select(Interaction.id).limit(1)) is not None:
        return
    now = utcnow()
    today = now.date()
    samples = [
        (BOOTHEEL_BABIES, "dana.whitfield@bootheel-babies.example.org", InteractionKind.SITE_VISIT, 20,
         "Site visit in Kennett: reviewed the home-visiting pilot and the new family resource table.", today + timedelta(days=3)),
        (BOOTHEEL_BABIES, "lucia.ramirez@bootheel-babies.example.org", InteractionKind.CALL, 5,
         "Call about Spanish-language outreach materials for Pemiscot and Dunklin counties.", today - timedelta(days=1)),
        (GENERATE_HEALTH, "keisha.thompson@generate-health.example.org", InteractionKind.MEETING, 12,
         "Quarterly meeting: policy agenda for the coming legislative session.", None),
        (GENERATE_HEALTH, "ana.morales@generate-health.example.org", InteractionKind.EMAIL, 2,
         "Shared the updated referral list for family navigators.", today + timedelta(days=10)),
    ]
    for organisation_name, email, kind, days_ago, summary, follow_up in samples:
        db.session.add(
            Interaction(
                kind=kind,
                occurred_at=now - timedelta(days=days_ago),
                summary=summary,
                logged_by=staff,
                organisation=organisations[organisation_name],
                contacts=[contacts[email]],
                follow_up_on=follow_up,
            )
        )
        result.count("interactions")


def _seed_routing(
    regions: dict[str, Region], organisations: dict[str, Organisation], contacts: dict[str, Contact], result: SeedResult
) -> None:
    topics = {}
    for order, (name_en, name_es, target_hours) in enumerate(TOPICS):
        topic = db.session.scalar(select(Topic).where(Topic.name_en == name_en))
        if topic is None:
            topic = Topic(name_en=name_en, name_es=name_es, sort_order=order, response_target_hours=target_hours)
            db.session.add(topic)
            result.count("topics")
        topics[name_en] = topic
    if db.session.scalar(select(RoutingRule.id).limit(1)) is not None:
        return
    # Set with the first rules only, so a choice made in the app since is never undone.
    for organisation_name, email in BACKUPS.items():
        organisations[organisation_name].backup_contact = contacts[email]
    for email, topic_names in CONTACT_TOPICS.items():
        contacts[email].topics = [topics[name] for name in topic_names]
    for name, priority, topic_name, region_name, contact_email, organisation_name in RULES:
        db.session.add(
            RoutingRule(
                name=name,
                priority=priority,
                topics=[topics[topic_name]] if topic_name else [],
                regions=[regions[region_name]] if region_name else [],
                target_contact=contacts[contact_email] if contact_email else None,
                target_organisation=organisations[organisation_name] if organisation_name else None,
            )
        )
        result.count("routing rules")


# Requests as staff log them: (hours ago, source, name, email, phone, ZIP, topic, language,
# message, the email of the contact assigned). Days old and unanswered, the first of each
# person's is overdue; the rest are still within the response time.
INQUIRIES = [
    (150, InquirySource.PHONE, "Jasmine Carter", "", "(573) 555-0148", "63857", "Support for my family", "en",
     "Expecting in June and asked about home visits in Kennett.", PARTNER_EMAIL),
    (30, InquirySource.EMAIL, "Rosa Delgado", "rosa.delgado@example.com", "", "63873", "Support for my family", "es",
     "Busca una clase de lactancia en español cerca de Portageville.", PARTNER_EMAIL),
    (3, InquirySource.PHONE, "Terrence Mills", "", "(573) 555-0190", "63841", "Partnering or volunteering", "en",
     "Runs a church food pantry in Dexter and would like to host a family resource table.", PARTNER_EMAIL),
    (120, InquirySource.EMAIL, "Dr. Helen Ortiz", "helen.ortiz@example.com", "", "63110", "Grants and funding", "en",
     "Asked when the next round of community grants opens and who may apply.", STAFF_EMAIL),
    (5, InquirySource.IN_PERSON, "Monique Bell", "monique.bell@example.com", "", "63106", "Other", "en",
     "Met at the community baby shower; would like the initiative's newsletter.", STAFF_EMAIL),
    (200, InquirySource.EMAIL, "Aaliyah Brooks", "aaliyah.brooks@example.com", "", "63113", "Support for my family", "en",
     "Looking for a doula who works with families in north St. Louis.", "keisha.thompson@generate-health.example.org"),
]


# The one inquiry the partner has not accepted yet: "Awaiting acceptance" in their inbox.
AWAITING_ACCEPTANCE = "Terrence Mills"


def _seed_inquiries(contacts: dict[str, Contact], staff: User, result: SeedResult) -> None:
    """Open inquiries for the demo users and a partner, logged by staff and assigned by hand, so
    "My open inquiries" and the overdue counts have something to show. Each is received through
    intake.receive, like any other, which also queues the emails it would send."""
    if db.session.scalar(select(Inquiry.id).limit(1)) is not None:
        return
    topics = {topic.name_en: topic for topic in db.session.scalars(select(Topic))}
    now = utcnow()
    for hours_ago, source, name, email, phone, zip_code, topic, language, message, assignee in INQUIRIES:
        details = InquiryDetails(
            name=name,
            email=email,
            phone=phone,
            zip_code=zip_code,
            topic=topics[topic],
            language=language,
            message=message,
            consent=True,
            source=source,
            contact_preference=ContactPreference.EMAIL if email else ContactPreference.PHONE,
        )
        received = receive(details, now - timedelta(hours=hours_ago), actor=staff, assign_to=contacts[assignee])
        inquiry = received.inquiry
        if name == AWAITING_ACCEPTANCE:
            # Its window starts now, so the acceptance job leaves it for the demo to accept or pass.
            start_acceptance_clock(inquiry, now)
        else:
            inquiry.accepted_at = inquiry.received_at + timedelta(hours=1)
            inquiry.accepted_by = user_of_contact(contacts[assignee]) or staff
            inquiry.acceptance_due_at = None
        commit(actor=None)
        result.count("inquiries")
    _seed_closed_inquiries(contacts, staff, topics, result)


# Inquiries worked to a close, so the outcomes and attempts have something to show: (days ago,
# name, email, phone, ZIP, topic, language, message, the email of the contact assigned, the
# attempts as (hours after receipt, method, note), hours to the response, outcome, the
# organisation it names, detail).
CLOSED_INQUIRIES = [
    (12, "Keisha Monroe", "keisha.monroe@example.com", "(573) 555-0111", "63857", "Support for my family", "en",
     "Asked for a home visiting program near Kennett.", PARTNER_EMAIL,
     [(3, AttemptMethod.CALL, "")], 3, InquiryOutcome.CONNECTED, BOOTHEEL_BABIES, "Home visiting, first visit booked"),
    (9, "María Torres", "maria.torres@example.com", "(573) 555-0122", "63873", "Support for my family", "es",
     "Pregunta por clases prenatales en español.", PARTNER_EMAIL,
     [(2, AttemptMethod.NO_ANSWER, ""), (5, AttemptMethod.VOICEMAIL, "Left a message in Spanish."),
      (26, AttemptMethod.TEXT, "")],
     5, InquiryOutcome.REFERRED, None, "County health department prenatal classes"),
    (7, "Dana Price", "", "(573) 555-0133", "63841", "Support for my family", "en",
     "Left a phone number asking about car seats.", PARTNER_EMAIL,
     [(1, AttemptMethod.NO_ANSWER, ""), (24, AttemptMethod.VOICEMAIL, ""), (49, AttemptMethod.NO_ANSWER, "")],
     24, InquiryOutcome.UNREACHABLE, None, "Three tries over three days"),
]


def _seed_closed_inquiries(
    contacts: dict[str, Contact], staff: User, topics: dict[str, Topic], result: SeedResult
) -> None:
    """Each goes through the same actions staff use: attempts, a response, the close."""
    now = utcnow()
    organisations = {organisation.name: organisation for organisation in db.session.scalars(select(Organisation))}
    for (days_ago, name, email, phone, zip_code, topic, language, message, assignee, attempts, response_after,
         outcome, organisation_name, detail) in CLOSED_INQUIRIES:  # fmt: skip
        received_at = now - timedelta(days=days_ago)
        details = InquiryDetails(
            name=name,
            email=email,
            phone=phone,
            zip_code=zip_code,
            topic=topics[topic],
            language=language,
            message=message,
            consent=True,
            source=InquirySource.PHONE if not email else InquirySource.EMAIL,
            contact_preference=ContactPreference.EMAIL if email else ContactPreference.PHONE,
        )
        inquiry = receive(details, received_at, actor=staff, assign_to=contacts[assignee]).inquiry
        # Taken an hour after it arrived, as the open ones are.
        inquiry.accepted_at = received_at + timedelta(hours=1)
        inquiry.accepted_by = user_of_contact(contacts[assignee]) or staff
        inquiry.acceptance_due_at = None
        commit(actor=None)
        for hours, method, note in attempts:
            at = received_at + timedelta(hours=hours)
            inquiry_actions.log_attempt(inquiry, method, at, note, staff, at)
        answered_at = received_at + timedelta(hours=response_after)
        said = (
            "Left a voicemail with our number and hours."
            if outcome is InquiryOutcome.UNREACHABLE
            else "Spoke with the family."
        )
        inquiry_actions.log_response(inquiry, said, "phone", staff, answered_at)
        organisation = organisations.get(organisation_name) if organisation_name else None
        inquiry_actions.change_status(
            inquiry,
            InquiryStatus.CLOSED,
            staff,
            received_at + timedelta(days=2, hours=3),
            inquiry_actions.Outcome(outcome, detail, organisation.id if organisation else None),
        )
        result.count("closed inquiries")

"""Small factories for test data; each saves through the test's session."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy import select

from crm.auth.passwords import hash_password
from crm.auth.services import contact_with_email
from crm.database import utcnow
from crm.extensions import db
from crm.inquiries import intake
from crm.inquiries.intake import InquiryDetails
from crm.models import (
    Contact,
    County,
    Grant,
    GrantReport,
    GrantStatus,
    Holiday,
    HolidayCalendar,
    Inquiry,
    InquirySource,
    Interaction,
    InteractionKind,
    Organisation,
    OrganisationKind,
    Region,
    Role,
    User,
)

# When InquiryFactory receives an inquiry unless told otherwise: a Monday, 09:00 in Missouri.
NOW = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"


class OrganisationFactory(BaseFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Organisation {n}")
    kind = OrganisationKind.GRANTEE
    description = "A partner organisation."


class ContactFactory(BaseFactory):
    class Meta:
        model = Contact

    name = factory.Sequence(lambda n: f"Contact Person {n}")
    email = factory.Sequence(lambda n: f"contact{n}@example.org")
    organisation = factory.SubFactory(OrganisationFactory)
    languages = factory.LazyFunction(lambda: ["en"])


class UserFactory(BaseFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    name = factory.Sequence(lambda n: f"User {n}")
    role = Role.STAFF
    password_hash = factory.LazyFunction(lambda: hash_password("correct horse battery staple"))

    @factory.lazy_attribute
    def organisation(self):
        return OrganisationFactory() if self.role is Role.PARTNER else None

    @factory.lazy_attribute
    def contact(self):
        """The contact with the user's email, as crm.users.services.create_user links a new
        user, unless another user already is that contact."""
        found = contact_with_email(self.email)
        if found is None or db.session.scalar(select(User.id).where(User.contact_id == found.id)) is not None:
            return None
        return found


class GrantFactory(BaseFactory):
    class Meta:
        model = Grant

    organisation = factory.SubFactory(OrganisationFactory)
    program = "IMRI backbone support"
    amount = Decimal("100000.00")
    start_date = date(2026, 1, 1)
    end_date = date(2027, 12, 31)
    status = GrantStatus.ACTIVE


class GrantReportFactory(BaseFactory):
    class Meta:
        model = GrantReport

    grant = factory.SubFactory(GrantFactory)
    due_on = date(2026, 6, 30)
    received_on = None


class InteractionFactory(BaseFactory):
    class Meta:
        model = Interaction

    kind = InteractionKind.CALL
    occurred_at = factory.LazyFunction(lambda: utcnow() - timedelta(days=1))
    summary = "Checked in about the quarter."
    organisation = factory.SubFactory(OrganisationFactory)


class CountyFactory(BaseFactory):
    class Meta:
        model = County
        sqlalchemy_get_or_create = ("fips",)

    fips = "29069"
    name = "Dunklin County"
    state = "MO"


class RegionFactory(BaseFactory):
    class Meta:
        model = Region
        sqlalchemy_get_or_create = ("name",)

    name = "Bootheel"


class InquiryFactory(factory.Factory):
    """An inquiry received through crm.inquiries.intake.receive, exactly as the web form stores
    it (routed, assigned, acknowledged): `InquiryFactory(name="Rosa", topic=world.doulas)`.

    `now` is when it arrives (NOW unless given) and `spam_reason` marks it as spam. Each one
    has a message of its own, so none is taken for a duplicate of another.
    """

    class Meta:
        model = InquiryDetails

    name = "Alex Requester"
    email = "alex@example.net"
    phone = ""
    zip_code = ""
    topic = None
    language = "en"
    message = factory.Sequence(lambda n: f"We would like some help, please (message {n}).")
    consent = True
    source = InquirySource.WEB

    @classmethod
    def _create(cls, model_class, *args, now: datetime = NOW, spam_reason: str = "", **fields) -> Inquiry:
        return intake.receive(model_class(*args, **fields), now, spam_reason=spam_reason).inquiry


class HolidayCalendarFactory(BaseFactory):
    """An organisation's own calendar (the foundation's: ``foundation_holidays``)."""

    class Meta:
        model = HolidayCalendar

    name = factory.Sequence(lambda n: f"Partner holidays {n}")
    organisation = factory.SubFactory(OrganisationFactory)


class HolidayFactory(BaseFactory):
    class Meta:
        model = Holiday

    calendar = factory.SubFactory(HolidayCalendarFactory)
    day = factory.Sequence(lambda n: date(2026, 1, 1) + timedelta(days=n))
    name = factory.Sequence(lambda n: f"Holiday {n}")


def foundation_holidays(*days: date) -> HolidayCalendar:
    """The foundation calendar, made when missing, closed on ``days`` as well."""
    calendar = db.session.scalar(select(HolidayCalendar).where(HolidayCalendar.is_foundation.is_(True)))
    if calendar is None:
        calendar = HolidayCalendar(name="Foundation holidays", is_foundation=True)
        db.session.add(calendar)
    for day in days:
        calendar.holidays.append(Holiday(day=day, name=f"Closed {day.isoformat()}"))
    db.session.commit()
    return calendar

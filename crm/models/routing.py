from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import JSON, Boolean, CheckConstraint, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.database import TimestampMixin
from crm.extensions import db
from crm.models.geography import County, Region

if TYPE_CHECKING:
    from crm.models.contact import Contact
    from crm.models.organisation import Organisation


class Topic(TimestampMixin, db.Model):
    """What a public inquiry is about; managers edit the list and its response target."""

    __tablename__ = "topics"
    __table_args__ = (CheckConstraint("acceptance_hours > 0", name="acceptance_hours_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name_en: Mapped[str] = mapped_column(String(120))
    name_es: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    # First-response target in business hours (16 = two working days of eight hours).
    response_target_hours: Mapped[int] = mapped_column(Integer, default=16)
    # How long the contact an inquiry is routed to has to accept it, in business hours of the
    # organisation's calendar, before it moves on to the next candidate by itself.
    acceptance_hours: Mapped[int] = mapped_column(Integer, default=4, server_default="4")

    def name_in(self, language: str) -> str:
        return self.name_es if language == "es" else self.name_en

    def __str__(self) -> str:
        return self.name_en


rule_topics = Table(
    "routing_rule_topics",
    db.metadata,
    Column("rule_id", ForeignKey("routing_rules.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True, index=True),
)
rule_regions = Table(
    "routing_rule_regions",
    db.metadata,
    Column("rule_id", ForeignKey("routing_rules.id", ondelete="CASCADE"), primary_key=True),
    Column("region_id", ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True, index=True),
)
rule_counties = Table(
    "routing_rule_counties",
    db.metadata,
    Column("rule_id", ForeignKey("routing_rules.id", ondelete="CASCADE"), primary_key=True),
    Column("county_fips", ForeignKey("counties.fips", ondelete="CASCADE"), primary_key=True, index=True),
)


class RoutingRule(TimestampMixin, db.Model):
    """Send matching inquiries to one contact or to an organisation; lower priority numbers go first."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    priority: Mapped[int] = mapped_column(Integer, default=100, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Language codes; an empty list means any language.
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    target_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    target_organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )

    topics: Mapped[list[Topic]] = relationship(secondary=rule_topics, order_by=Topic.sort_order)
    regions: Mapped[list[Region]] = relationship(secondary=rule_regions, order_by=Region.name)
    counties: Mapped[list[County]] = relationship(secondary=rule_counties, order_by=County.name)
    target_contact: Mapped[Contact | None] = relationship()
    target_organisation: Mapped[Organisation | None] = relationship()

    @property
    def target_label(self) -> str:
        if self.target_contact is not None:
            return self.target_contact.name
        if self.target_organisation is not None:
            return self.target_organisation.name
        return "(no target)"

    def __str__(self) -> str:
        return self.name

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from sqlalchemy import Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from crm.database import TimestampMixin, enum_column
from crm.extensions import db
from crm.models.geography import County, Region

if TYPE_CHECKING:
    from crm.models.contact import Contact
    from crm.models.grant import Grant


class OrganisationKind(enum.StrEnum):
    BACKBONE = "backbone"
    GRANTEE = "grantee"
    COMMUNITY = "community"
    FUNDER = "funder"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {
            "backbone": "Backbone partner",
            "grantee": "Grantee",
            "community": "Community partner",
            "funder": "Funder",
            "other": "Other",
        }[self.value]


class RecordStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"

    @property
    def label(self) -> str:
        return self.value.capitalize()


organisation_regions = Table(
    "organisation_regions",
    db.metadata,
    Column("organisation_id", ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True),
    Column("region_id", ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True, index=True),
)

organisation_counties = Table(
    "organisation_counties",
    db.metadata,
    Column("organisation_id", ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True),
    Column("county_fips", ForeignKey("counties.fips", ondelete="CASCADE"), primary_key=True, index=True),
)


def name_key(name: str) -> str:
    """The form of a name that uniqueness is checked on: case and spacing do not count."""
    return " ".join(name.split()).casefold()


class Organisation(TimestampMixin, db.Model):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Case-insensitive uniqueness that behaves the same on SQLite and PostgreSQL.
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[OrganisationKind] = mapped_column(
        enum_column(OrganisationKind, "kind"), default=OrganisationKind.GRANTEE
    )
    description: Mapped[str] = mapped_column(Text, default="")
    # The same description in Spanish, for the public pages shown in Spanish; empty when
    # nobody has written it yet (those pages then show the English one, marked as English).
    description_es: Mapped[str] = mapped_column(Text, default="", server_default="")
    website: Mapped[str] = mapped_column(String(300), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    address_line: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(2), default="MO")
    postal_code: Mapped[str] = mapped_column(String(10), default="")
    status: Mapped[RecordStatus] = mapped_column(
        enum_column(RecordStatus, "status"), default=RecordStatus.ACTIVE, index=True
    )
    # Who takes an inquiry nobody else here can (all away, nobody speaks the language or
    # handles the topic), before the foundation's fallback. One of this organisation's
    # contacts who takes inquiries (crm.organisations.services checks it). use_alter: contacts
    # point back at organisations, so one of the two keys is added after both tables exist.
    # The record's id in the spreadsheet or system it was imported from (crm.imports): a
    # re-import matches rows on it. Unique where set (a unique index: SQLite adds one without
    # copying the table); most records have none.
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True, index=True)
    backup_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL", use_alter=True), index=True
    )
    # Set when this organisation was merged into another (crm.merging): kept, hidden from lists.
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )

    regions: Mapped[list[Region]] = relationship(secondary=organisation_regions, order_by=Region.name)
    counties: Mapped[list[County]] = relationship(
        secondary=organisation_counties, order_by=County.name
    )
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="organisation", order_by="Contact.name", foreign_keys="Contact.organisation_id"
    )
    backup_contact: Mapped[Contact | None] = relationship(foreign_keys=[backup_contact_id], post_update=True)
    grants: Mapped[list[Grant]] = relationship(
        back_populates="organisation", order_by="Grant.start_date.desc()"
    )

    @validates("name")
    def _keep_name_key(self, _key: str, value: str) -> str:
        self.name_key = name_key(value)
        return value

    @property
    def is_active(self) -> bool:
        return self.status is RecordStatus.ACTIVE

    def __str__(self) -> str:
        return self.name

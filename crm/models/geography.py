from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db

region_counties = Table(
    "region_counties",
    db.metadata,
    Column("region_id", ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True),
    Column("county_fips", ForeignKey("counties.fips", ondelete="CASCADE"), primary_key=True, index=True),
)


class County(db.Model):
    """One row per county, keyed by FIPS so every ZIP maps onto the same canonical record."""

    __tablename__ = "counties"

    fips: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(2), default="MO")

    regions: Mapped[list[Region]] = relationship(
        secondary=region_counties, back_populates="counties", order_by="Region.name"
    )

    def __str__(self) -> str:
        return self.name


class Region(db.Model):
    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)

    counties: Mapped[list[County]] = relationship(
        secondary=region_counties, back_populates="regions", order_by=County.name
    )

    def __str__(self) -> str:
        return self.name

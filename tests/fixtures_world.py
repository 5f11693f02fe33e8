"""The small routing world the inquiry tests share (the `world` fixture), and the helpers they
read it back with. Inquiries are made with tests.factories.InquiryFactory."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from crm.extensions import db
from crm.models import (
    AuditEvent,
    Contact,
    County,
    Inquiry,
    InquiryEvent,
    Organisation,
    OrganisationKind,
    OutboundEmail,
    Region,
    RoutingRule,
    Topic,
)
from tests.factories import ContactFactory, CountyFactory, OrganisationFactory, RegionFactory


@dataclass
class World:
    foundation: Organisation
    fallback: Contact
    north: Organisation
    nora: Contact
    ned: Contact
    south: Organisation
    sam: Contact
    home_visits: Topic
    doulas: Topic
    county: County
    region: Region


@pytest.fixture
def world(app) -> World:
    """Home visits go to North Families (Nora or Ned), doulas to South Start (Sam), and
    anything else to the foundation's fallback contact."""
    foundation = OrganisationFactory(name="The Foundation", kind=OrganisationKind.BACKBONE)
    fallback = ContactFactory(
        name="Fran Fallback",
        email="fran@foundation.example.org",
        organisation=foundation,
        is_inquiry_fallback=True,
        accepts_inquiries=True,
    )
    north = OrganisationFactory(name="North Families")
    nora = ContactFactory(name="Nora North", email="nora@north.example.org", organisation=north, accepts_inquiries=True)
    ned = ContactFactory(name="Ned North", email="ned@north.example.org", organisation=north, accepts_inquiries=True)
    south = OrganisationFactory(name="South Start")
    sam = ContactFactory(name="Sam South", email="sam@south.example.org", organisation=south, accepts_inquiries=True)
    home_visits = Topic(name_en="Home visits", name_es="Visitas a domicilio", sort_order=1)
    doulas = Topic(name_en="Doulas", name_es="Doulas", sort_order=2)
    county = CountyFactory(fips="29069", name="Dunklin County")
    region = RegionFactory(name="Bootheel")
    region.counties = [county]
    db.session.add_all(
        [
            home_visits,
            doulas,
            RoutingRule(name="Home visits to North", priority=10, topics=[home_visits], target_organisation=north),
            RoutingRule(name="Doulas to South", priority=20, topics=[doulas], target_organisation=south),
        ]
    )
    db.session.commit()
    return World(foundation, fallback, north, nora, ned, south, sam, home_visits, doulas, county, region)


def reload(inquiry: Inquiry) -> Inquiry:
    db.session.expire_all()
    return db.session.get(Inquiry, inquiry.id)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def written() -> tuple[int, int, int, int]:
    """How many rows the tables an action writes to hold: a refused action changes none."""
    return count(InquiryEvent), count(AuditEvent), count(OutboundEmail), count(Contact)


def post_export(client, query: str = ""):
    """The inbox's CSV export, the filters of a query string posted as the inbox page's form does."""
    return client.post("/inquiries/export.csv", data=MultiDict(parse_qsl(query, keep_blank_values=True)))

"""A list whose filter has an error lists nothing (422) and says why; it never drops the filter
and lists everything instead."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from crm.models import Role
from tests import factories


@pytest.fixture
def records(app):
    organisation = factories.OrganisationFactory(name="Listed Organisation")
    factories.ContactFactory(name="Listed Contact", organisation=organisation)
    factories.GrantFactory(organisation=organisation, program="Listed Program")


@pytest.mark.parametrize(
    ("url", "query", "listed", "message"),
    [
        ("/contacts/", {"organisation": "not-an-id"}, "Listed Contact", "Choose from the list."),
        ("/contacts/", {"q": "x" * 201}, "Listed Contact", "Keep this to 200 characters or fewer."),
        ("/organisations/", {"kind": "castle"}, "Listed Organisation", "Choose from the list."),
        ("/organisations/", {"region": "999999"}, "Listed Organisation", "Choose from the list."),
        ("/grants/", {"status": "stolen"}, "Listed Program", "Choose from the list."),
        # A NUL reached PostgreSQL's LIKE, which refuses it (a 500).
        ("/contacts/", {"q": "Listed\x00"}, "Listed Contact", "control characters"),
        ("/organisations/", {"q": "Listed\x00"}, "Listed Organisation", "control characters"),
    ],
)
def test_a_bad_filter_lists_nothing_and_says_why(client, login, records, url, query, listed, message):
    login(Role.STAFF)

    good = client.get(url)
    bad = client.get(url, query_string=query)

    assert good.status_code == 200
    assert listed in good.get_data(as_text=True)
    assert bad.status_code == 422
    assert message in bad.get_data(as_text=True)
    assert listed not in bad.get_data(as_text=True)


def test_a_bad_outbox_filter_lists_nothing(client, login):
    login(Role.ADMIN)

    response = client.get("/admin/outbox/", query_string={"status": "everything-ever"})

    assert response.status_code == 422
    assert "Choose from the list." in response.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/contacts/", "/organisations/", "/grants/", "/admin/outbox/", "/inquiries/"])
@pytest.mark.parametrize("query", ["endpoint=x", "_scheme=https", "_external=1&_scheme=javascript", "_method=POST"])
def test_page_links_carry_the_filters_and_nothing_else(app, client, login, url, query):
    """The page links carry a list's filters on; a parameter named like one of url_for's own
    (endpoint, _scheme, _external...) used to reach it too: a 500, or a link elsewhere."""
    login(Role.ADMIN)
    for number in range(3):
        organisation = factories.OrganisationFactory()
        factories.ContactFactory(organisation=organisation)
        factories.GrantFactory(organisation=organisation, program=f"Program {number}")
        factories.InquiryFactory()  # with its notice and acknowledgement in the outbox
    app.config["PAGE_SIZE"] = 1
    try:
        response = client.get(f"{url}?{query}")
    finally:
        app.config["PAGE_SIZE"] = 25

    assert response.status_code == 200
    links = re.findall(r'<a href="([^"]+)" rel="next"', response.get_data(as_text=True))
    assert links, "a next-page link"
    target = urlsplit(links[0].replace("&amp;", "&"))
    assert (target.scheme, target.netloc, target.path) == ("", "", url)
    assert not {"endpoint", "_scheme", "_external", "_method"} & set(parse_qs(target.query))

"""Numbers and dates typed into the address bar: anything out of range or malformed is a clear
4xx, never a server error, on every list page and every page that reads the query string."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from werkzeug.exceptions import NotFound

from crm.demo import seed_demo
from crm.models import Role
from crm.records import MAX_ID
from tests.fixtures_world import post_export
from tests.public_support import app_config

HUGE = "99999999999999999999"
NOT_A_PAGE = [HUGE, "0", "-4", "abc", "1e3", "١", "2.5", "9" * 5000]
PAGED_LISTS = ["/contacts/", "/organisations/", "/grants/", "/users/", "/admin/outbox/"]


@pytest.fixture
def admin(app: Flask, client, login):
    seed_demo("demo password for tests")
    login(Role.ADMIN)
    # A server error must show as a 500 here, not as an exception the test client re-raises.
    with app_config(app, PROPAGATE_EXCEPTIONS=False):
        yield client


@pytest.mark.parametrize("path", PAGED_LISTS)
@pytest.mark.parametrize("page", NOT_A_PAGE)
def test_a_page_number_that_is_no_page_is_a_400_that_says_so(admin, path, page):
    response = admin.get(f"{path}?page={page}")
    assert response.status_code == 400
    assert "page number" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", PAGED_LISTS)
def test_a_page_past_the_end_is_an_empty_page(admin, path):
    assert admin.get(f"{path}?page=2147483647").status_code == 200
    assert admin.get(f"{path}?page=").status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "received_from=0001-01-01&received_to=9999-12-31",
        "received_from=0001-01-01",
        "received_to=9999-12-31",
        "received_from=1999-12-31",
        "received_to=2100-01-01",
        "received_from=2026-02-31",
        "received_from=99999-01-01",
        "received_from=abc",
    ],
)
def test_dates_out_of_range_are_refused_on_the_inbox_and_its_export(admin, query):
    page = admin.get(f"/inquiries/?{query}")
    assert page.status_code == 422
    assert "No inquiries are listed until the filters are corrected." in page.get_data(as_text=True)
    export = post_export(admin, query)
    assert export.status_code == 400
    assert export.mimetype == "text/html"
    assert "Content-Disposition" not in export.headers


@pytest.mark.parametrize(
    "cursor",
    [
        # ["newest", "0001-01-01T00:00:00+14:00", 1] and ["newest", "9999-12-31T23:59:59-14:00", 1]
        "WyJuZXdlc3QiLCIwMDAxLTAxLTAxVDAwOjAwOjAwKzE0OjAwIiwxXQ",
        "WyJuZXdlc3QiLCI5OTk5LTEyLTMxVDIzOjU5OjU5LTE0OjAwIiwxXQ",
        # an id far beyond a 64-bit integer
        "WyJuZXdlc3QiLCIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiw5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OV0",
    ],
)
@pytest.mark.parametrize("direction", ["after", "before"])
def test_a_cursor_out_of_range_starts_at_the_first_page(admin, cursor, direction):
    assert admin.get(f"/inquiries/?{direction}={cursor}").status_code == 200


@pytest.mark.parametrize("path", ["/contacts/new", "/grants/new", "/interactions/new"])
@pytest.mark.parametrize("value", [HUGE, "-1", "0", "abc", "9" * 5000])
def test_an_organisation_in_the_address_that_cannot_exist_is_never_a_server_error(admin, path, value):
    assert admin.get(f"{path}?organisation_id={value}").status_code in (200, 404)


@pytest.mark.parametrize("value", [HUGE, "-1", "abc"])
def test_the_routing_test_page_refuses_an_impossible_topic_as_a_field_error(admin, value):
    assert admin.get(f"/routing/test?zip=63857&topic={value}").status_code == 422



def test_every_bounded_id_in_a_url_stops_at_the_one_max_id(app: Flask):
    """One limit for ids from a request, the id columns' (crm.records.MAX_ID), in the URL
    converters as in the query-string checks: no second, different bound."""
    bounds = {rule.rule: int(bound) for rule in app.url_map.iter_rules() for bound in re.findall(r"max=(\d+)", rule.rule)}
    assert bounds, "no URL bounds its ids any more"
    assert {rule: bound for rule, bound in bounds.items() if bound != MAX_ID} == {}
    urls = app.url_map.bind("localhost")
    assert urls.match(f"/inquiries/{MAX_ID}")[0] == "inquiries.detail"
    with pytest.raises(NotFound):
        urls.match(f"/inquiries/{MAX_ID + 1}")

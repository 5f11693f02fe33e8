"""Every page of the app opened in Chromium, and one bad input sent through every form.

Pages: each GET route of app.url_map is opened as the role that uses it (and, for some, as a
role that may not), with the demo data and a few inquiries of our own. The status must be the
expected one, the page must have one visible h1 and no id used twice, the console must stay free of errors and axe
must find nothing serious or critical. CSV downloads and SVG charts are fetched by status.

Forms: one clearly bad input per form (an empty required field, a date that does not exist,
text that is too long, a choice that is not on the list) is submitted in the browser. The
answer must be a 4xx re-rendering of the page, never a redirect or a 500, with a visible message
saying what is wrong, the other input kept, and nothing serious for axe.

test_every_get_route_is_opened fails when a new GET route lands without a page here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crm.auth.passwords import hash_password
from crm.database import utcnow
from crm.demo import BOOTHEEL_BABIES, GENERATE_HEALTH, PARTNER_EMAIL
from crm.extensions import db
from crm.inquiries import intake
from crm.inquiries import services as inquiry_services
from crm.inquiries.intake import InquiryDetails
from crm.models import (
    Contact,
    Grant,
    GrantReport,
    Holiday,
    HolidayCalendar,
    Inquiry,
    Interaction,
    InteractionKind,
    Organisation,
    OutboundEmail,
    Region,
    Role,
    RoutingRule,
    Topic,
    User,
)
from crm.models.inquiry_status import InquiryStatus
from crm.reports.services import TABLE_NAMES
from tests.browser.conftest import DEMO_PASSWORD
from tests.public_support import app_config

pytestmark = pytest.mark.browser

MISSING = 999999
ROLES = ("admin", "manager", "partner")
# A 4xx page is answered as such: Chromium logs "Failed to load resource" for it. Nothing else.
EXPECTED_LOAD_ERROR = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")


# --- data ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ids(live_app) -> dict[str, int]:
    """The records the pages are opened for: the demo's, and three inquiries of this module's own."""
    with live_app.test_request_context():
        one = db.session.scalar
        bootheel = one(select(Organisation).where(Organisation.name == BOOTHEEL_BABIES))
        generate = one(select(Organisation).where(Organisation.name == GENERATE_HEALTH))
        pat = one(select(Contact).where(Contact.email == PARTNER_EMAIL))
        staff = one(select(User).where(User.email == "staff@example.org"))
        keisha = one(select(Contact).where(Contact.email == "keisha.thompson@generate-health.example.org"))
        family = one(select(Topic).where(Topic.name_en == "Support for my family"))
        inquiries = {}
        for key, name, email, zip_code, assignee in (
            ("partner_inquiry", "Every Page Partner Requester", "every.page.partner@example.net", "63857", pat),
            ("link_inquiry", "Every Page Linkable Requester", "every.page.link@example.net", "63857", pat),
            ("other_inquiry", "Every Page Other Requester", "every.page.other@example.net", "63103", keisha),
        ):
            details = InquiryDetails(
                name=name, email=email, phone="", zip_code=zip_code, topic=family, language="en",
                message=f"A request from {name} for the every-page walk.", consent=True,
            )
            received = intake.receive(details, utcnow() - timedelta(hours=2), actor=staff, assign_to=assignee)
            inquiries[key] = received.inquiry.id
        grant = one(select(Grant).where(Grant.organisation_id == bootheel.id).order_by(Grant.id))
        values = {
            "org": bootheel.id,
            "other_org": generate.id,
            "contact": pat.id,
            "other_contact": keisha.id,
            "grant": grant.id,
            "report": one(select(GrantReport.id).where(GrantReport.grant_id == grant.id).order_by(GrantReport.id)),
            "interaction": one(select(Interaction.id).order_by(Interaction.id)),
            "user": staff.id,
            "topic": family.id,
            "rule": one(select(RoutingRule.id).order_by(RoutingRule.priority)),
            "region": one(select(Region.id).where(Region.name == "Bootheel")),
            "email": one(select(OutboundEmail.id).order_by(OutboundEmail.id)),
            "calendar": one(select(HolidayCalendar.id).where(HolidayCalendar.is_foundation.is_(True))),
            "holiday": one(select(Holiday.id).order_by(Holiday.day.desc()).limit(1)),
            "missing": MISSING,
            **inquiries,
        }
        db.session.remove()
    assert all(value is not None for value in values.values()), values
    return values


# --- browser sessions ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_in(chromium, live_url, ids) -> dict[str, dict]:
    """A storage state per role, signed in once for the whole module."""
    states = {}
    for role in ROLES:
        context = chromium.new_context(base_url=live_url)
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Email").fill(f"{role}@example.org")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        assert "/login" not in page.url, page.locator("main").inner_text()
        states[role] = context.storage_state()
        context.close()
    return states


@dataclass
class Browser:
    page: object
    console_errors: list[str] = field(default_factory=list)

    def unexpected_errors(self, allow_4xx: bool) -> list[str]:
        return [e for e in self.console_errors if not (allow_4xx and EXPECTED_LOAD_ERROR.search(e))]


@pytest.fixture(scope="module")
def role_contexts(chromium, live_url, signed_in) -> Iterator[dict]:
    """One browser context per signed-in role, shared by the module's tests (each gets its own tab)."""
    contexts: dict = {}

    def context_for(role: str):
        if role not in contexts:
            contexts[role] = chromium.new_context(
                base_url=live_url, viewport={"width": 1280, "height": 900}, storage_state=signed_in[role]
            )
            contexts[role].set_default_timeout(10_000)
        return contexts[role]

    yield context_for
    for context in contexts.values():
        context.close()


@pytest.fixture
def open_as(chromium, live_url, role_contexts) -> Iterator[Callable[[str | None], Browser]]:
    """open_as(role or None) -> a new tab, signed in as that role, its console errors recorded."""
    pages, contexts = [], []

    def make(role: str | None) -> Browser:
        if role is None:
            context = chromium.new_context(base_url=live_url, viewport={"width": 1280, "height": 900})
            context.set_default_timeout(10_000)
            contexts.append(context)
        else:
            context = role_contexts(role)
        page = context.new_page()
        pages.append(page)
        browser = Browser(page)
        page.on("console", lambda message: message.type == "error" and browser.console_errors.append(message.text))
        page.on("pageerror", lambda error: browser.console_errors.append(f"uncaught: {error}"))
        return browser

    yield make
    for page in pages:
        page.close()
    for context in contexts:
        context.close()


def main_text(page) -> str:
    return page.locator("main").inner_text() if page.locator("main").count() else page.content()[:2000]


def assert_error_shown(page) -> None:
    """An error summary, a field's message or an error flash is on the screen."""
    shown = page.locator("main .error-summary, main p.error, main .flash-error, main [role=alert]")
    visible = [shown.nth(i).is_visible() for i in range(shown.count())]
    assert any(visible), "no visible error message:\n" + main_text(page)[:1500]


def has_one_visible_h1(page) -> None:
    headings = page.locator("h1")
    assert headings.count() == 1, f"{page.url}: {headings.count()} h1 elements"
    assert headings.first.is_visible(), f"{page.url}: the h1 is not visible"


# --- pages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    role: str | None
    path: str
    status: int = 200
    h1: str | None = None  # a regular expression the h1 must match
    lands_on: str | None = None  # where a redirect must land (path, regular expression)
    axe: bool = True  # False where another case already checks the same page


PAGES = [
    # The public site, in both languages, and signing in.
    Page(None, "/?lang=en", h1="babies"),
    Page(None, "/?lang=es", h1="bebés"),
    Page(None, "/get-in-touch?lang=en", h1="Get in touch"),
    Page(None, "/get-in-touch?lang=es", h1="Póngase en contacto"),
    Page(None, "/get-in-touch/thank-you", lands_on="/get-in-touch$", axe=False),  # nothing sent: back to the form
    # An address that does not exist, outside the staff pages: the public layout, in the visitor's language.
    Page(None, "/no-such-page?lang=es", status=404, h1="No encontramos esa página"),
    Page(None, "/no-such-page?lang=en", status=404, h1="could not find that page", axe=False),
    Page(None, "/login", h1="Sign in"),
    Page(None, "/dashboard", lands_on="/login", axe=False),
    Page(None, "/login/code", lands_on="/login$", axe=False),  # no password given: back to it
    Page(None, "/forgot-password", h1="Forgot your password"),
    Page(None, "/reset-password", status=400, h1="not valid"),  # no token
    Page(None, "/reset-password?token=made-up", status=404, h1="not valid"),
    Page(None, "/invitations/accept", status=400, h1="not valid"),
    Page(None, "/invitations/accept?token=made-up", status=404, h1="not valid"),
    Page(None, "/status?lang=en", h1="Check on"),
    Page(None, "/opt-out?token=made-up", status=404, axe=False),
    Page(None, "/follow-up/yes?token=made-up", status=404, axe=False),
    Page(None, "/calendar/made-up.ics", status=404, axe=False),
    Page("manager", "/audit/", h1="Audit trail"),
    # The link in a new-inquiry notice, once signed in: without its token, or a made-up one.
    Page("partner", "/inquiries/accept", status=400, h1="missing its link"),
    Page("partner", "/inquiries/accept?token=made-up", status=404, h1="not valid"),
    # Staff pages, as a manager.
    Page("manager", "/dashboard", h1="Dashboard"),
    Page("manager", "/organisations/", h1="Organisations"),
    Page("manager", "/organisations/?q=boot&kind=backbone&region={region}&status=active", h1="Organisations"),
    Page("manager", "/organisations/?status=inactive", h1="Organisations"),
    Page("manager", "/organisations/new", h1="organisation"),
    Page("manager", "/organisations/{org}", h1=BOOTHEEL_BABIES),
    Page("manager", "/organisations/{org}/edit", h1=BOOTHEEL_BABIES),
    Page("manager", "/contacts/", h1="Contacts"),
    Page("manager", "/contacts/?q=a&organisation={org}&language=en&role=program&status=active", h1="Contacts"),
    Page("manager", "/contacts/new", h1="contact"),
    Page("manager", "/contacts/{contact}", h1="Pat Partner"),
    Page("manager", "/contacts/{contact}/edit", h1="Pat Partner"),
    # Possible duplicates and the side-by-side merge page (nothing is merged by opening it).
    Page("manager", "/contacts/duplicates", h1="Possible duplicate contacts"),
    Page("manager", "/organisations/duplicates", h1="Possible duplicate organisations"),
    Page("manager", "/contacts/merge?survivor={contact}&merged={other_contact}", h1="merge .* into Pat Partner"),
    Page("manager", "/organisations/merge?survivor={org}&merged={other_org}", h1="merge .* into " + BOOTHEEL_BABIES),
    Page("manager", "/contacts/merge?survivor={contact}&merged={contact}", status=400, h1="cannot be merged"),
    Page("manager", "/organisations/merge", status=400, h1="cannot be merged", axe=False),
    Page("partner", "/contacts/duplicates", status=403, axe=False),
    Page("partner", "/organisations/merge?survivor={org}&merged={other_org}", status=403, axe=False),
    Page("manager", "/contacts/{contact}/availability", h1="Availability: Pat Partner"),
    Page("partner", "/contacts/{contact}/availability", h1="Availability: Pat Partner"),
    Page("partner", "/contacts/{contact}/handover", h1="Open inquiries due while Pat Partner is away"),
    Page("manager", "/grants/", h1="Grants"),
    Page("manager", "/grants/?organisation={org}&status=active&reports=due_soon", h1="Grants"),
    Page("manager", "/grants/new", h1="grant"),
    Page("manager", "/grants/{grant}", h1="IMRI backbone support"),
    Page("manager", "/grants/{grant}/edit", h1="IMRI backbone support"),
    Page("manager", "/interactions/new", h1="interaction"),
    Page("manager", "/interactions/new?organisation_id={org}", h1="interaction"),
    Page("manager", "/interactions/new?contact_id={contact}", h1="interaction"),
    Page("manager", "/interactions/{interaction}/edit", h1="interaction"),
    Page("manager", "/interactions/{interaction}/delete", h1="Delete"),
    Page("manager", "/inquiries/", h1="Inquiries"),
    Page(
        "manager",
        "/inquiries/?q=every&status=&sort=due&organisation={org}&topic={topic}&region={region}&language=en"
        "&received_from=2020-01-01&received_to=2099-12-31&overdue=&mine=",
        h1="Inquiries",
    ),
    Page("manager", "/inquiries/new", h1="inquiry"),
    Page("manager", "/inquiries/{partner_inquiry}", h1="IM-"),
    Page("manager", "/reports/", h1="Reports"),
    Page("manager", "/reports/?from=2020-01-01&to=2030-12-31", h1="Reports"),
    Page("manager", "/routing/rules", h1="Routing"),
    Page("manager", "/routing/rules/new", h1="rule"),
    Page("manager", "/routing/rules/{rule}/edit", h1="Media requests"),
    Page("manager", "/routing/rules/{rule}/delete", h1="Delete"),
    Page("manager", "/routing/topics", h1="Topics"),
    Page("manager", "/routing/topics/new", h1="topic"),
    Page("manager", "/routing/topics/{topic}/edit", h1="Support for my family"),
    Page("manager", "/routing/test", h1="Test routing"),
    Page("manager", "/routing/test?zip=63857&topic={topic}&language=es", h1="Test routing"),
    Page("manager", "/holidays/", h1="Holiday calendars"),
    # Importing: the upload page; the later steps need an upload (tests/browser/test_import_flow.py).
    Page("manager", "/import/", h1="Import from a spreadsheet"),
    Page("manager", "/import/{missing}/columns", status=404, axe=False),
    Page("manager", "/import/{missing}/preview", status=404, axe=False),
    Page("manager", "/import/{missing}/refused.csv", status=404, axe=False),
    Page("partner", "/import/", status=403, axe=False),
    Page("manager", "/holidays/calendars/{calendar}", h1="Foundation holidays"),
    Page("manager", "/holidays/calendars/{calendar}?earlier=1", h1="Foundation holidays", axe=False),
    Page("manager", "/holidays/calendars/{calendar}/edit", h1="Rename"),
    # The foundation calendar is never deleted: back to it, with a message.
    Page("manager", "/holidays/calendars/{calendar}/delete", lands_on=r"/holidays/calendars/\d+$", axe=False),
    Page("manager", "/holidays/{holiday}/edit", h1="Edit"),
    Page("manager", "/holidays/{holiday}/delete", h1="Remove"),
    Page("partner", "/holidays/", status=403, axe=False),
    Page("manager", "/invitations/", h1="Invitations"),
    Page("manager", "/invitations/new", h1="Invite a colleague"),
    Page("partner", "/invitations/", status=403, axe=False),
    Page("manager", "/account/", h1="Your account"),
    Page("manager", "/account/password", h1="password"),
    Page("manager", "/account/api-tokens", h1="API tokens"),
    Page("partner", "/account/api-tokens", h1="API tokens", axe=False),
    # The API's browsable documentation, drawn from its OpenAPI document (its JSON routes are
    # walked with tokens by tests/test_api_document.py).
    Page("manager", "/api/v1/docs", h1="Backbone CRM API"),
    Page(None, "/api/v1/docs", h1="Backbone CRM API", axe=False),
    # Admin pages.
    Page("admin", "/users/", h1="Users"),
    Page("admin", "/users/new", h1="user"),
    Page("admin", "/users/{user}/edit", h1="Sasha Staff"),
    Page("admin", "/admin/outbox/", h1="Outbox"),
    Page("admin", "/admin/outbox/?status=all", h1="Outbox"),
    Page("admin", "/admin/outbox/{email}", h1=""),
    # A partner: their own organisation and inquiries, and nothing else.
    Page("partner", "/organisations/{org}", h1=BOOTHEEL_BABIES),
    Page("partner", "/inquiries/", h1="Inquiries"),
    Page("partner", "/inquiries/?status=&sort=oldest&mine=y", h1="Inquiries"),
    Page("partner", "/inquiries/{partner_inquiry}", h1="IM-"),
    Page("partner", "/account/", h1="Your account"),
    Page("partner", "/account/password", h1="password"),
    Page("partner", "/account/two-factor", h1="Two-factor sign-in"),
    Page("partner", "/no-organisation", h1=""),
    Page("partner", "/organisations/{other_org}", status=404),  # not told it exists
    Page("partner", "/inquiries/{other_inquiry}", status=404, axe=False),
    Page("partner", "/dashboard", status=403),
    Page("partner", "/users/", status=403, axe=False),
    Page("partner", "/reports/", status=403, axe=False),
    # Not found, and not allowed.
    Page("manager", "/organisations/{missing}", status=404),
    Page("manager", "/inquiries/{missing}", status=404, axe=False),
    Page("manager", "/no-such-page", status=404, axe=False),
    Page("manager", "/users/", status=403),
    Page("manager", "/admin/outbox/", status=403, axe=False),
]


@pytest.mark.parametrize("case", PAGES, ids=[f"{case.role or 'anonymous'} {case.path}" for case in PAGES])
def test_page_opens(open_as, assert_accessible, ids, case: Page) -> None:
    browser = open_as(case.role)
    page = browser.page
    response = page.goto(case.path.format(**ids))
    assert response is not None
    assert response.status == case.status, f"{page.url}: {response.status}\n{main_text(page)[:1000]}"
    if case.lands_on:
        assert re.search(case.lands_on, page.url), page.url
    else:
        assert response.request.redirected_from is None, f"{case.path} was sent on to {page.url}"
    has_one_visible_h1(page)
    if case.h1:
        assert re.search(case.h1, page.locator("h1").inner_text(), re.IGNORECASE), page.locator("h1").inner_text()
    if case.status >= 400:
        assert f"Error {case.status}" in main_text(page) or case.status == 404, main_text(page)
    if case.axe:
        assert_accessible(page)
    assert_enter_presses_the_main_button(page)
    assert_ids_are_unique(page)
    assert browser.unexpected_errors(allow_4xx=case.status >= 400) == []


# The ids used by more than one element: a label or aria reference finds only the first.
DUPLICATE_IDS = """() => {
    const seen = new Map();
    document.querySelectorAll('[id]').forEach(el => seen.set(el.id, (seen.get(el.id) || 0) + 1));
    return [...seen].filter(([, times]) => times > 1).map(([id, times]) => `#${id} x${times}`);
}"""


def assert_ids_are_unique(page) -> None:
    duplicates = page.evaluate(DUPLICATE_IDS)
    assert duplicates == [], f"{page.url}: ids used more than once: {', '.join(duplicates)}"


# Forms with more than one submit button whose first (the one Enter in a text field presses)
# does not send what the main (.primary) button sends.
ENTER_PRESSES_ANOTHER_BUTTON = """() => [...document.forms].map(form => {
    const submits = [...form.elements].filter(el => el.type === 'submit');
    const main = submits.find(el => el.classList.contains('primary'));
    const ok = submits.length < 2 || (main && submits[0].name === main.name && submits[0].value === main.value);
    return ok ? null : `${form.getAttribute('action') || '(this page)'}: Enter presses ${submits[0].outerHTML}`;
}).filter(Boolean)"""


def assert_enter_presses_the_main_button(page) -> None:
    problems = page.evaluate(ENTER_PRESSES_ANOTHER_BUTTON)
    assert problems == [], f"{page.url}: " + "; ".join(problems)


PHONE_WIDTH = 360
SIGNED_IN_PAGES = [case for case in PAGES if case.role is not None and not case.lands_on]
# The elements sticking out past the right edge of the screen, for the failure message.
WIDER_THAN_THE_SCREEN = """width => [...document.querySelectorAll('main *, header *')]
    .filter(el => el.getBoundingClientRect().right > width + 0.5)
    .filter(el => !el.closest('.table-scroll'))
    .slice(0, 8)
    .map(el => `${el.tagName.toLowerCase()}.${el.className} ${Math.round(el.getBoundingClientRect().right)}px`)"""


def assert_fits(page, width: int = PHONE_WIDTH) -> None:
    """No sideways scrolling of the page; a wide table scrolls inside its own container."""
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, (
        f"{page.url} is {scroll_width}px wide on a {width}px screen: {page.evaluate(WIDER_THAN_THE_SCREEN, width)}"
    )


@pytest.mark.parametrize(
    "case", SIGNED_IN_PAGES, ids=[f"{case.role} {case.path}" for case in SIGNED_IN_PAGES]
)
def test_page_fits_a_small_phone(open_as, assert_accessible, ids, case: Page) -> None:
    page = open_as(case.role).page
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 740})
    response = page.goto(case.path.format(**ids))
    assert response.status == case.status
    assert_fits(page)
    if case.axe:
        assert_accessible(page)  # a table that now scrolls must be reachable by keyboard


def test_the_routing_reason_reads_as_normal_text_on_a_phone(open_as, ids) -> None:
    """The inquiry page's labelled details stack on a phone: the reason gets the screen's width,
    not a sliver beside its label, one word a line."""
    for role in ("manager", "partner"):
        page = open_as(role).page
        page.set_viewport_size({"width": PHONE_WIDTH, "height": 740})
        page.goto(f"/inquiries/{ids['partner_inquiry']}")
        reason = page.get_by_role("region", name="Routing").locator("dd p").first
        assert "Routed to" in reason.inner_text()
        content = page.evaluate(
            "() => { const s = getComputedStyle(document.querySelector('main'));"
            " return document.querySelector('main').clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight); }"
        )
        assert reason.bounding_box()["width"] >= 0.9 * content, (
            f"the routing reason is {reason.bounding_box()['width']}px wide of {content}px"
        )
        assert_fits(page)


# --- actions that ask first ------------------------------------------------------------------


@dataclass(frozen=True)
class Confirmed:
    """An action behind a confirm page (crm.confirmation), and how the test finds it happened."""

    role: str
    start: str  # the page with the link or button that asks
    asks: Callable  # asks(page) -> the link or button
    question: str  # the confirm page's h1 (a regular expression)
    said: str  # the flash once it is done
    happened: Callable  # happened(record_id) -> bool, read from the database
    fill: Callable | None = None  # fill(form): what the confirm page asks, before its button


def _record(model, record_id: int):
    db.session.expire_all()
    return db.session.get(model, record_id)


CONFIRMED = {
    "close an inquiry": Confirmed(
        "manager", "/inquiries/{id}", lambda page: page.get_by_role("button", name=re.compile(r"^Close\b")),
        r"^Close inquiry IM-", "is closed: no longer needed.",
        lambda record_id: _record(Inquiry, record_id).status is InquiryStatus.CLOSED,
        fill=lambda form: form.get_by_label("No longer needed").check(),
    ),
    "delete a routing rule": Confirmed(
        "manager", "/routing/rules", lambda page: page.get_by_role("link", name="Delete Every Page Doomed Rule"),
        "^Delete the rule", "was deleted.", lambda record_id: _record(RoutingRule, record_id) is None,
    ),
    "delete an interaction": Confirmed(
        "manager", "/interactions/{id}/edit", lambda page: page.get_by_role("link", name="Delete interaction"),
        "^Delete this", "Interaction deleted.", lambda record_id: _record(Interaction, record_id) is None,
    ),
    "deactivate a user": Confirmed(
        "admin", "/users/{id}/edit", lambda page: page.get_by_role("button", name="Deactivate"),
        "^Deactivate Every Page Leaver", "is deactivated", lambda record_id: _record(User, record_id).active is False,
    ),
}


def _make_record(name: str) -> int:
    """A record of this test's own for the action to change."""
    staff = db.session.scalar(select(User).where(User.email == "staff@example.org"))
    if name == "close an inquiry":
        pat = db.session.scalar(select(Contact).where(Contact.email == PARTNER_EMAIL))
        details = InquiryDetails(
            name="Every Page Closing Requester", email="every.page.closing@example.net", phone="", zip_code="63857",
            topic=None, language="en", message="A request to close on the every-page walk.", consent=True,
        )
        inquiry = intake.receive(details, utcnow() - timedelta(hours=3), actor=staff, assign_to=pat).inquiry
        inquiry_services.log_response(inquiry, "Called them back.", "phone", staff, utcnow())
        return inquiry.id
    if name == "delete a routing rule":
        record = RoutingRule(name="Every Page Doomed Rule", priority=900, active=False)
    elif name == "delete an interaction":
        record = Interaction(
            kind=InteractionKind.NOTE, occurred_at=utcnow(), summary="Every page: a note to delete.", logged_by=staff
        )
    else:
        record = User(email="every.page.leaver@example.org", name="Every Page Leaver", role=Role.STAFF,
                      password_hash=hash_password(DEMO_PASSWORD))
    db.session.add(record)
    db.session.commit()
    return record.id


@pytest.mark.parametrize("name", CONFIRMED)
def test_an_action_that_asks_first(open_as, assert_accessible, live_app, ids, name) -> None:
    """The link or button leads to a confirm page (axe, a phone's width); Cancel goes back with
    nothing changed; the page's button, a POST with its CSRF token, does it."""
    case = CONFIRMED[name]
    with live_app.test_request_context():
        record_id = _make_record(name)
        db.session.remove()

    def happened() -> bool:
        with live_app.test_request_context():
            try:
                return case.happened(record_id)
            finally:
                db.session.remove()

    browser = open_as(case.role)
    page = browser.page
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 740})
    start = case.start.format(id=record_id)
    for leave in ("Cancel", "confirm"):
        page.goto(start)
        response = submit(page, case.asks(page))
        assert response.status == 200, main_text(page)[:1000]
        has_one_visible_h1(page)
        assert re.search(case.question, page.locator("h1").inner_text()), page.locator("h1").inner_text()
        assert not happened(), "asking changed something"
        assert_fits(page)
        assert_accessible(page)
        form = page.locator("main form", has=page.locator("input[name=confirmed]"))
        if leave == "Cancel":
            submit(page, form.get_by_role("link", name=re.compile("^Cancel")))
            assert not happened(), "Cancel changed something"
            continue
        if case.fill:
            case.fill(form)
        response = submit(page, form.get_by_role("button"))
        assert response.request.redirected_from is not None, main_text(page)[:1000]
        assert case.said in page.get_by_role("status").inner_text()
        assert happened()
    assert browser.unexpected_errors(allow_4xx=False) == []


@pytest.mark.parametrize("role", ["manager", "partner"])
def test_inquiries_export_downloads(open_as, ids, role) -> None:
    page = open_as(role).page
    page.goto("/inquiries/?status=")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download these inquiries as CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_bytes().decode("utf-8-sig")
    assert "Every Page Partner Requester" in text
    assert ("Every Page Other Requester" in text) is (role == "manager"), "a partner exports only their own"


def test_every_report_chart_and_csv(open_as, assert_accessible, ids) -> None:
    browser = open_as("manager")
    page = browser.page
    for name in TABLE_NAMES:
        for path, media_type in ((f"/reports/export/{name}.csv", "text/csv"), (f"/reports/chart/{name}.svg", "image/svg+xml")):
            response = page.request.get(path + "?from=2020-01-01&to=2030-12-31")
            assert response.status == 200, (path, response.status, response.text()[:500])
            assert response.headers["content-type"].startswith(media_type), (path, response.headers["content-type"])
    for path in ("/reports/export/nothing.csv", "/reports/chart/nothing.svg"):
        assert page.request.get(path).status == 404, path
    # One chart as the browser draws it, inside the report page, and on its own.
    page.goto("/reports/")
    assert page.locator("main img[src*='/reports/chart/'], main svg, main object").count() > 0, main_text(page)
    page.goto(f"/reports/chart/{TABLE_NAMES[0]}.svg")
    assert page.locator("svg").first.is_visible()
    assert browser.unexpected_errors(allow_4xx=False) == []


def test_sign_out(open_as, assert_accessible) -> None:
    browser = open_as(None)
    page = browser.page
    page.goto("/login")
    page.get_by_label("Email").fill("staff@example.org")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.url.endswith("/dashboard")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert page.url.endswith("/login")
    assert page.get_by_text("You are signed out.").is_visible()
    assert_accessible(page)
    page.goto("/dashboard")
    assert "/login" in page.url
    assert browser.unexpected_errors(allow_4xx=False) == []


def test_sign_out_everywhere(chromium, live_url, open_as, assert_accessible) -> None:
    """Signed in on two browsers, the account page lists both and ends both at once."""
    phone = chromium.new_context(base_url=live_url, viewport={"width": 360, "height": 740})
    try:
        other = phone.new_page()
        browser = open_as(None)
        page = browser.page
        for tab in (other, page):
            tab.goto("/login")
            tab.get_by_label("Email").fill("staff@example.org")
            tab.get_by_label("Password").fill(DEMO_PASSWORD)
            tab.get_by_role("button", name="Sign in").click()
            tab.wait_for_load_state()
            assert tab.url.endswith("/dashboard"), main_text(tab)
        page.get_by_role("link", name="Sasha Staff").click()
        page.wait_for_load_state()
        assert page.url.endswith("/account/")
        assert page.get_by_text("This browser").is_visible()
        assert_accessible(page)

        page.get_by_role("button", name="Sign out everywhere").click()
        page.wait_for_load_state()

        assert page.url.endswith("/login")
        assert page.get_by_text("You are signed out on every device").is_visible()
        for tab in (page, other):
            tab.goto("/dashboard")
            assert "/login" in tab.url, tab.url
        assert browser.unexpected_errors(allow_4xx=False) == []
    finally:
        phone.close()


def _is_api_json(rule: str) -> bool:
    """The API's JSON routes are no pages: tests/test_api_document.py walks them with tokens."""
    return rule.startswith("/api/v1/") and rule != "/api/v1/docs"


def test_every_get_route_is_opened(live_app) -> None:
    """A GET route with no page above fails here, so the walk keeps up with the app."""
    opened = {case.path.split("?")[0] for case in PAGES} | {
        "/reports/export/<name>.csv",
        "/reports/chart/<name>.svg",
        "/healthz",  # no page: a load balancer's check, fetched in tests/test_health.py
    }
    pattern_of = {
        rule.rule: re.compile("^" + re.sub(r"<[^>]+>", "[^/]+", rule.rule) + "$")
        for rule in live_app.url_map.iter_rules()
        if "GET" in (rule.methods or ()) and rule.endpoint != "static"
    }
    concrete = [re.sub(r"\{\w+\}", "1", path) for path in opened]
    missing = sorted(rule for rule, pattern in pattern_of.items() if not any(pattern.match(p) for p in concrete))
    missing = [rule for rule in missing if rule not in opened and not _is_api_json(rule)]
    assert missing == [], "open these pages in PAGES: " + ", ".join(missing)


# --- forms -----------------------------------------------------------------------------------


def make_bad_choice(page, selector: str, value: str = "not-on-the-list") -> None:
    """Add an option that is not on the server's list to a select (or set a radio's or hidden input's value) and pick it."""
    page.eval_on_selector(
        selector,
        """(el, value) => {
            if (el.tagName === 'SELECT') { el.add(new Option(value, value)); el.value = value; }
            else { el.value = value; el.checked = true; }
        }""",
        value,
    )


def force_value(page, selector: str, value: str) -> None:
    """Type what a date or number picker would not let a person type: the server must judge it."""
    page.eval_on_selector(selector, "(el, value) => { el.type = 'text'; el.value = value; }", value)


def submit(page, button) -> object:
    with page.expect_navigation() as navigation:
        button.click()
    page.wait_for_load_state()
    return navigation.value


@dataclass(frozen=True)
class BadInput:
    name: str
    role: str
    path: str
    fill: Callable  # fill(page): fills the form, with one bad input
    button: str  # the submit button's accessible name
    message: str  # what the page must say (a substring of the visible text)
    kept: tuple[tuple[str, str], ...] = ()  # (selector, value) that must survive the round trip
    status: int = 422
    allow_ok: bool = False


LONG = "x" * 20001


def fill_all(values: dict[str, str]) -> Callable:
    def fill(page) -> None:
        for selector, value in values.items():
            page.fill(selector, value)

    return fill


def then(*steps: Callable) -> Callable:
    def fill(page) -> None:
        for step in steps:
            step(page)

    return fill


FORMS = [
    BadInput(
        "organisation new: no name", "manager", "/organisations/new",
        fill_all({"#name": "", "#city": "Caruthersville"}), "Save", "Enter", kept=(("#city", "Caruthersville"),),
    ),
    BadInput(
        "organisation edit: unknown kind", "manager", "/organisations/{org}/edit",
        lambda page: make_bad_choice(page, "#kind"), "Save", "Choose from the list.",
        kept=(("#name", BOOTHEEL_BABIES),),
    ),
    BadInput(
        "organisation edit: over-long description", "manager", "/organisations/{org}/edit",
        lambda page: page.eval_on_selector("#description", "(el, v) => { el.value = v; }", LONG),
        "Save", "characters or fewer", kept=(("#name", BOOTHEEL_BABIES),),
    ),
    BadInput(
        "organisation edit: over-long Spanish description", "manager", "/organisations/{org}/edit",
        lambda page: page.eval_on_selector("#description_es", "(el, v) => { el.value = v; }", LONG),
        "Save", "characters or fewer", kept=(("#name", BOOTHEEL_BABIES),),
    ),
    BadInput(
        "contact new: bad email", "manager", "/contacts/new",
        fill_all({"#name": "Every Page Contact", "#email": "not an email"}), "Save", "email",
        kept=(("#name", "Every Page Contact"),),
    ),
    BadInput(
        "contact edit: unknown organisation", "manager", "/contacts/{contact}/edit",
        lambda page: make_bad_choice(page, "#organisation_id", str(MISSING)), "Save", "organisation",
        kept=(("#name", "Pat Partner"),),
    ),
    BadInput(
        "grant new: impossible start date", "manager", "/grants/new",
        then(fill_all({"#program": "Every page program", "#amount": "1000"}),
             lambda page: force_value(page, "#start_date", "2026-02-31")),
        "Save", "That date does not exist.", kept=(("#program", "Every page program"),),
    ),
    BadInput(
        "grant edit: amount in words", "manager", "/grants/{grant}/edit",
        fill_all({"#amount": "a lot"}), "Save", "amount", kept=(("#program", "IMRI backbone support"),),
    ),
    BadInput(
        "grant report dates: impossible date", "manager", "/grants/{grant}/edit",
        fill_all({"#report_dates": "2026-02-31"}), "Save", "2026-02-31", kept=(("#report_dates", "2026-02-31"),),
    ),
    BadInput(
        "interaction new: no summary", "manager", "/interactions/new?organisation_id={org}",
        fill_all({"#summary": ""}), "Save", "summary",
    ),
    BadInput(
        "interaction edit: impossible follow-up date", "manager", "/interactions/{interaction}/edit",
        lambda page: force_value(page, "#follow_up_on", "2026-02-31"), "Save", "That date does not exist.",
    ),
    BadInput(
        "user new: bad email, passwords differ", "admin", "/users/new",
        fill_all({"#name": "Every Page User", "#email": "not-an-email", "#password": "a long enough password 1",
                  "#confirm": "a different password 22"}),
        "Create account", "email", kept=(("#name", "Every Page User"),),
    ),
    BadInput(
        "user edit: unknown role", "admin", "/users/{user}/edit",
        lambda page: make_bad_choice(page, "#role", "overlord"), "Save", "Choose a role from the list.",
        kept=(("#name", "Sasha Staff"),),
    ),
    BadInput(
        "forgotten password: not an address", "none", "/forgot-password",
        fill_all({"#email": "not an email"}), "Email me a link", "Enter an email address like",
        kept=(("#email", "not an email"),),
    ),
    BadInput(
        "colleague invitation: bad email", "manager", "/invitations/new",
        fill_all({"#name": "Every Page Colleague", "#email": "not an email"}), "Send the invitation", "email",
        kept=(("#name", "Every Page Colleague"),),
    ),
    BadInput(
        "API token: no name", "manager", "/account/api-tokens",
        fill_all({"#name": ""}), "Make the token", "Give the token a name.",
    ),
    BadInput(
        "password change: wrong current password", "partner", "/account/password",
        fill_all({"#current_password": "not the password", "#new_password": "a brand new password 123",
                  "#confirm": "a brand new password 123"}),
        "Change password", "password",
    ),
    BadInput(
        "routing rule new: no name, priority too high", "manager", "/routing/rules/new",
        fill_all({"#name": "", "#priority": "10001"}), "Save rule", "Give the rule a name.",
    ),
    BadInput(
        "routing rule edit: unknown contact", "manager", "/routing/rules/{rule}/edit",
        lambda page: make_bad_choice(page, "#target_contact_id", str(MISSING)), "Save rule", "Choose",
        kept=(("#name", "Media requests"),),
    ),
    BadInput(
        "routing fallback: unknown contact", "manager", "/routing/rules",
        lambda page: make_bad_choice(page, "#contact_id", str(MISSING)), "Save fallback contact", "Choose",
    ),
    BadInput(
        "topic new: no Spanish name", "manager", "/routing/topics/new",
        fill_all({"#name_en": "Every page topic", "#name_es": ""}), "Save topic", "Enter the Spanish name.",
        kept=(("#name_en", "Every page topic"),),
    ),
    BadInput(
        "topic edit: negative target", "manager", "/routing/topics/{topic}/edit",
        fill_all({"#response_target_hours": "-5"}), "Save topic", "number", kept=(("#name_en", "Support for my family"),),
    ),
    BadInput(
        "inquiry log: no message", "manager", "/inquiries/new",
        fill_all({"#name": "Every Page Caller", "#phone": "(573) 555-0101", "#message": ""}), "Log inquiry", "Write down what they asked.",
        kept=(("#name", "Every Page Caller"),),
    ),
    BadInput(
        "inquiry assign: unknown contact", "manager", "/inquiries/{partner_inquiry}",
        lambda page: make_bad_choice(page, "#contact_id", str(MISSING)), "Reassign", "Choose",
    ),
    BadInput(
        "inquiry status: unknown status", "manager", "/inquiries/{partner_inquiry}",
        lambda page: page.eval_on_selector_all(
            "main form[action$='/status'] input[name=status]", "els => els.forEach(el => el.value = 'vanished')"
        ),
        "", "Choose a status from the buttons on the page.",
    ),
    BadInput(
        "inquiry response: nothing said", "partner", "/inquiries/{partner_inquiry}",
        fill_all({"#response": ""}), "Log response", "Write down the response.",
    ),
    BadInput(
        "inquiry note: over-long", "partner", "/inquiries/{partner_inquiry}",
        lambda page: page.eval_on_selector("#note", "(el, v) => { el.value = v; }", LONG),
        "Add note", "characters or fewer",
    ),
    BadInput(
        "reports period: impossible date", "manager", "/reports/",
        lambda page: force_value(page, "#from", "2026-02-31"), "", "That date does not exist.",
    ),
    BadInput(
        "inbox filters: impossible date", "manager", "/inquiries/",
        then(lambda page: page.get_by_text("More filters").click(),
             lambda page: force_value(page, "#received_from", "2026-02-31"),
             fill_all({"#q": "every"})),
        "Filter", "That date does not exist.", kept=(("#q", "every"),),
    ),
    BadInput(
        "holidays: a range that ends before it begins", "manager", "/holidays/calendars/{calendar}",
        then(fill_all({"#name": "Every page closure"}),
             lambda page: force_value(page, "#first_day", "2026-12-31"),
             lambda page: force_value(page, "#last_day", "2026-12-24")),
        "Close these days", "before the first day", kept=(("#name", "Every page closure"),),
    ),
    BadInput(
        "holiday edit: impossible date", "manager", "/holidays/{holiday}/edit",
        lambda page: force_value(page, "#day", "2026-02-30"), "Save", "That date does not exist.",
    ),
    BadInput(
        "routing test: unknown ZIP", "manager", "/routing/test",
        fill_all({"#zip": "00000"}), "", "ZIP",
    ),
    BadInput(
        "login: wrong password", "none", "/login",
        fill_all({"#email": "staff@example.org", "#password": "not the password"}), "Sign in", "password",
        kept=(("#email", "staff@example.org"),),
    ),
]


def _submit_button(page, name: str):
    main = page.locator("main")
    if name:
        return main.get_by_role("button", name=name, exact=True).first
    return main.locator("form button[type=submit]").first


@pytest.mark.parametrize("case", FORMS, ids=[case.name for case in FORMS])
def test_a_bad_input_is_explained(open_as, assert_accessible, ids, case: BadInput) -> None:
    browser = open_as(None if case.role == "none" else case.role)
    page = browser.page
    path = case.path.format(**ids)
    assert page.goto(path).status == 200
    case.fill(page)
    if case.name.startswith("inquiry status"):
        button = page.locator("main form[action$='/status'] button[type=submit]").first
    else:
        button = _submit_button(page, case.button)
    response = submit(page, button)

    assert response.request.redirected_from is None, f"the bad input was accepted: sent on to {page.url}"
    if case.allow_ok and response.status == 200:
        pass
    else:
        assert 400 <= response.status < 500, f"{response.status} for {case.name}\n{main_text(page)[:1500]}"
    text = main_text(page)
    assert case.message.lower() in text.lower(), f"no '{case.message}' on the page:\n{text[:1500]}"
    assert_error_shown(page)
    for selector, value in case.kept:
        assert page.input_value(selector) == value, f"{selector} lost its value"
    assert_accessible(page)
    assert browser.unexpected_errors(allow_4xx=True) == []


def test_linking_a_requester_twice_is_explained(open_as, assert_accessible, ids) -> None:
    """Two tabs on one inquiry: the second 'link' is refused, with a message, not a 500."""
    first, second = open_as("manager").page, open_as("manager").page
    path = f"/inquiries/{ids['link_inquiry']}"
    for page in (first, second):
        page.goto(path)
    button = "Link to a contact, or create one"
    assert submit(first, first.get_by_role("button", name=button)).status == 200
    assert "Every Page Linkable Requester" in first.get_by_text("Saved the requester").inner_text()
    response = submit(second, second.get_by_role("button", name=button))
    assert 400 <= response.status < 500, response.status
    assert second.get_by_text("The requester is already linked to a contact.").is_visible()
    assert_accessible(second)


BAD_FILTERS = [
    ("manager", "/organisations/?kind=castle"),
    ("manager", "/contacts/?role=wizard"),
    ("manager", "/grants/?status=pending-forever"),
    ("manager", "/inquiries/?status=lost"),
    ("manager", "/inquiries/?received_from=2026-02-31"),
    ("manager", "/reports/?from=2026-03-31&to=2026-03-01"),
    ("admin", "/admin/outbox/?status=vanished"),
    ("partner", "/inquiries/?county=99999"),
]


@pytest.mark.parametrize(("role", "path"), BAD_FILTERS, ids=[path for _, path in BAD_FILTERS])
def test_a_bad_filter_in_the_address_is_explained(open_as, role, path) -> None:
    browser = open_as(role)
    page = browser.page
    response = page.goto(path)
    assert 400 <= response.status < 500, f"{path}: {response.status}"
    has_one_visible_h1(page)
    assert_error_shown(page)


@pytest.mark.parametrize(
    ("language", "fill", "message"),
    [
        ("en", {}, "Enter your ZIP code."),
        ("es", {"#name": "María Prueba", "#email": "no es correo", "#message": "Hola"}, "correo"),
    ],
    ids=["en: nothing filled", "es: bad email"],
)
def test_the_public_form_explains_a_bad_input(open_as, assert_accessible, live_app, language, fill, message) -> None:
    with app_config(
        live_app, PUBLIC_FORM_MIN_SECONDS=0, PUBLIC_FORM_RATE_LIMIT="1000 per minute", PUBLIC_FORM_REFUSED_RATE_LIMIT="1000 per minute"
    ):
        browser = open_as(None)
        page = browser.page
        page.goto(f"/get-in-touch?lang={language}")
        for selector, value in fill.items():
            page.fill(selector, value)
        if language == "es":
            make_bad_choice(page, "#topic")
        response = submit(page, page.locator("main form button[type=submit]"))
        assert 400 <= response.status < 500, response.status
        assert page.get_by_role("alert").is_visible()
        assert message.lower() in main_text(page).lower(), main_text(page)
        for selector, value in fill.items():
            assert page.input_value(selector) == value
        assert page.locator("html").get_attribute("lang") == language
        assert_accessible(page)
        assert browser.unexpected_errors(allow_4xx=True) == []

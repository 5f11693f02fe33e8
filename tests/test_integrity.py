"""Integrity held by the database itself: each rule written straight into the tables is refused
by its named constraint, a race between two saves ends in the form's friendly message, users
follow their contact by key, and the migration links existing users to their contacts.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from crm.auth import tokens
from crm.contacts import services as contact_services
from crm.database import Base, violated_constraint
from crm.extensions import db
from crm.grants import services as grant_services
from crm.models import (
    AttemptMethod,
    AuditEvent,
    Contact,
    ContactAttempt,
    GrantReport,
    HeldPost,
    InquiryPass,
    PassReason,
    Role,
    User,
)
from crm.models.account_token import TokenPurpose
from crm.users import services as user_services
from tests.factories import (
    ContactFactory,
    GrantFactory,
    GrantReportFactory,
    InquiryFactory,
    InteractionFactory,
    UserFactory,
)
from tests.test_migrations import alembic_config, fresh_database, migrated_app  # noqa: F401  (fixtures)

# --- every rule, written straight into the database ---------------------------------------


@pytest.fixture
def rows(app, world) -> dict[str, object]:
    """One valid row of each table the sweep writes into, by name, as ids and values."""
    inquiry = InquiryFactory(name="Alex", email="alex@example.net", topic=world.home_visits)
    grant = GrantFactory(start_date=date(2026, 1, 1), end_date=date(2026, 12, 31))
    first_report = GrantReportFactory(grant=grant, due_on=date(2026, 6, 30))
    second_report = GrantReportFactory(grant=grant, due_on=date(2026, 12, 31))
    first_user, second_user = UserFactory(), UserFactory()
    first_user.contact = world.nora
    passed = InquiryPass(inquiry=inquiry, contact_id=world.nora.id, reason=PassReason.NO_CAPACITY, note="")
    db.session.add(passed)
    invitation, _token = tokens.issue(
        TokenPurpose.INVITE, email="invited@example.org", valid_for=timedelta(days=1), role=Role.STAFF
    )
    attempt = ContactAttempt(inquiry=inquiry, method=AttemptMethod.CALL)
    db.session.add(attempt)
    held = HeldPost(
        reference="BX-SWEEP01", received_at=datetime.now(UTC), name="Alex", email="alex@example.net", message="Hi"
    )
    db.session.add(held)
    db.session.commit()
    return {
        "attempt": attempt.id,
        "organisation": world.north.id,
        "grant": grant.id,
        "report": second_report.id,
        "taken_due_on": first_report.due_on,
        "inquiry": inquiry.id,
        "interaction": InteractionFactory().id,
        "user": second_user.id,
        "linked_contact": world.nora.id,
        "contact": world.ned.id,
        "taken_email": world.nora.email.upper(),
        "yes": True,
        "token": invitation.id,
        "pass": passed.id,
        "topic": world.home_visits.id,
        "held": held.id,
    }


# (what is written, the constraint that must refuse it, the statement)
INVALID_WRITES = [
    (
        "an organisation kind",
        "ck_organisations_kind",
        "UPDATE organisations SET kind = 'club' WHERE id = :organisation",
    ),
    (
        "an organisation status",
        "ck_organisations_status",
        "UPDATE organisations SET status = 'gone' WHERE id = :organisation",
    ),
    ("a grant status", "ck_grants_status", "UPDATE grants SET status = 'paused' WHERE id = :grant"),
    ("a grant of nothing", "ck_grants_amount_positive", "UPDATE grants SET amount = 0 WHERE id = :grant"),
    ("a negative grant", "ck_grants_amount_positive", "UPDATE grants SET amount = -100 WHERE id = :grant"),
    (
        "a grant ending before it starts",
        "ck_grants_ends_on_or_after_start",
        "UPDATE grants SET end_date = start_date - 1 WHERE id = :grant",
    ),
    (
        "a second report due the same day",
        "uq_grant_reports_grant_id_due_on",
        "UPDATE grant_reports SET due_on = :taken_due_on WHERE id = :report",
    ),
    (
        "an account token purpose",
        "ck_account_tokens_purpose",
        "UPDATE account_tokens SET purpose = 'anything' WHERE id = :token",
    ),
    ("an invitation's role", "ck_account_tokens_role", "UPDATE account_tokens SET role = 'root' WHERE id = :token"),
    ("a user role", "ck_users_role", "UPDATE users SET role = 'root' WHERE id = :user"),
    (
        "a second user for one contact",
        "ix_users_contact_id",
        "UPDATE users SET contact_id = :linked_contact WHERE id = :user",
    ),
    ("an inquiry source", "ck_inquiries_source", "UPDATE inquiries SET source = 'fax' WHERE id = :inquiry"),
    ("an inquiry status in capitals", "ck_inquiries_status", "UPDATE inquiries SET status = 'NEW' WHERE id = :inquiry"),
    ("an inquiry language", "ck_inquiries_language", "UPDATE inquiries SET language = 'fr' WHERE id = :inquiry"),
    ("an inquiry outcome", "ck_inquiries_outcome", "UPDATE inquiries SET outcome = 'shrug' WHERE id = :inquiry"),
    (
        "a close without an outcome",
        "ck_inquiries_closed_outcome",
        "UPDATE inquiries SET status = 'closed', outcome = NULL WHERE id = :inquiry",
    ),
    ("an attempt method", "ck_contact_attempts_method", "UPDATE contact_attempts SET method = 'fax' WHERE id = :attempt"),
    (
        "an API token's scope",
        "ck_api_tokens_scope",
        "INSERT INTO api_tokens (user_id, name, scope, token_hash, hint, created_at)"
        " VALUES (:user, 'sweep', 'admin', '" + "a" * 64 + "', 'sweep', CURRENT_TIMESTAMP)",
    ),
    (
        "an inquiry contact preference",
        "ck_inquiries_contact_preference",
        "UPDATE inquiries SET contact_preference = 'fax', phone = '(573) 555-0100' WHERE id = :inquiry",
    ),
    (
        "a text message asked for without a phone number",
        "ck_inquiries_reachable",
        "UPDATE inquiries SET contact_preference = 'text', phone = '' WHERE id = :inquiry",
    ),
    (
        "an email answer asked for without an email address",
        "ck_inquiries_reachable",
        "UPDATE inquiries SET email = '' WHERE id = :inquiry",
    ),
    (
        "an inquiry event kind",
        "ck_inquiry_events_kind",
        "UPDATE inquiry_events SET kind = 'hacked' WHERE inquiry_id = :inquiry",
    ),
    ("a pass reason", "ck_inquiry_passes_reason", "UPDATE inquiry_passes SET reason = 'bored' WHERE id = :pass"),
    (
        "a pass for another reason without a note",
        "ck_inquiry_passes_other_has_note",
        "UPDATE inquiry_passes SET reason = 'other', note = '' WHERE id = :pass",
    ),
    (
        "an acceptance window of no time",
        "ck_topics_acceptance_hours_positive",
        "UPDATE topics SET acceptance_hours = 0 WHERE id = :topic",
    ),
    (
        "a held send's contact preference",
        "ck_held_posts_contact_preference",
        "UPDATE held_posts SET contact_preference = 'fax' WHERE id = :held",
    ),
    ("a held send's language", "ck_held_posts_language", "UPDATE held_posts SET language = 'fr' WHERE id = :held"),
    (
        "a held send's attempts below none",
        "ck_held_posts_attempts_not_negative",
        "UPDATE held_posts SET attempts = -1 WHERE id = :held",
    ),
    (
        "an interaction kind",
        "ck_interactions_kind",
        "UPDATE interactions SET kind = 'telegram' WHERE id = :interaction",
    ),
    (
        "an outbox status",
        "ck_outbound_emails_status",
        "UPDATE outbound_emails SET status = 'lost' WHERE inquiry_id = :inquiry",
    ),
    (
        "an email kind",
        "ck_outbound_emails_kind",
        "UPDATE outbound_emails SET kind = 'newsletter' WHERE inquiry_id = :inquiry",
    ),
    (
        "an active contact's email in other case",
        "uq_contacts_active_email",
        "UPDATE contacts SET email = :taken_email WHERE id = :contact",
    ),
    (
        "a second fallback contact",
        "uq_contacts_inquiry_fallback",
        "UPDATE contacts SET is_inquiry_fallback = :yes WHERE id = :contact",
    ),
]


def refusal(statement: str, params: dict) -> str | None:
    """The constraint the database names when it refuses `statement`; fails if it accepts it."""
    with pytest.raises(IntegrityError) as refused, db.session.begin_nested():  # noqa: PT012
        result = db.session.execute(text(statement), params)
        assert result.rowcount > 0, "the statement matched no row, so it tested nothing"
    return violated_constraint(refused.value)


@pytest.mark.parametrize(("what", "constraint", "statement"), INVALID_WRITES, ids=[case[0] for case in INVALID_WRITES])
def test_an_invalid_value_written_into_the_database_is_refused_by_its_named_constraint(
    rows, what, constraint, statement
):
    assert refusal(statement, rows) == constraint


def test_every_enum_column_and_every_rule_of_this_kind_is_in_the_sweep():
    swept = {constraint for _what, constraint, _statement in INVALID_WRITES}
    named = {
        f"ck_{table.name}_{column.name}"
        for table in Base.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, sa.Enum)
    }
    named |= {
        "ck_inquiries_language",
        "ck_held_posts_language",
        "ck_held_posts_attempts_not_negative",
        "ck_inquiries_closed_outcome",
        "ck_inquiries_reachable",
        "ck_grants_amount_positive",
        "ck_grants_ends_on_or_after_start",
        "ck_inquiry_passes_other_has_note",
        "ck_topics_acceptance_hours_positive",
        "uq_contacts_active_email",
        "uq_contacts_inquiry_fallback",
        "uq_grant_reports_grant_id_due_on",
        "ix_users_contact_id",
    }
    assert named <= swept, f"not swept: {named - swept}"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"email": ""}, {"email": ""}),  # many contacts have no email
        ({"email": "shared@example.org", "active": False}, {"email": "SHARED@example.org"}),
    ],
    ids=["two contacts without email", "an inactive contact's email reused"],
)
def test_contacts_the_unique_email_rule_leaves_alone(app, first, second):
    ContactFactory(**first)
    ContactFactory(**second)

    assert db.session.scalar(select(func.count()).select_from(Contact)) == 2


def test_every_foreign_key_has_an_index_that_starts_with_it():
    def leading_columns(table: sa.Table) -> set[str]:
        found = {
            next(iter(index.expressions)).name
            for index in table.indexes
            if hasattr(next(iter(index.expressions)), "name")
        }
        found |= {
            next(iter(constraint.columns)).name
            for constraint in table.constraints
            if isinstance(constraint, sa.UniqueConstraint | sa.PrimaryKeyConstraint) and constraint.columns
        }
        return found

    missing = [
        f"{table.name}.{key.parent.name}"
        for table in Base.metadata.tables.values()
        for key in table.foreign_keys
        if key.parent.name not in leading_columns(table)
    ]
    assert missing == []


# --- a race between two saves -------------------------------------------------------------


def valid_contact(**overrides) -> dict:
    return {"name": "Maria Lopez", "organisation_id": "", "email": "maria@example.org", "languages": ["en"]} | overrides


def test_a_save_that_loses_the_race_for_an_email_gets_the_friendly_message(client, login, monkeypatch):
    """On SQLite writers take turns, so the race is forced: the app-side check is skipped, as
    if the other save had committed just after it ran."""
    login(Role.STAFF)
    ContactFactory(email="taken@example.org")
    monkeypatch.setattr(contact_services, "email_taken", lambda *_args, **_kwargs: False)
    before = (
        db.session.scalar(select(func.count()).select_from(Contact)),
        db.session.scalar(select(func.count()).select_from(AuditEvent)),
    )

    response = client.post("/contacts/new", data=valid_contact(email="TAKEN@example.org"))

    assert response.status_code == 422
    assert "Another contact already uses this email." in response.get_data(as_text=True)
    counts = (
        db.session.scalar(select(func.count()).select_from(Contact)),
        db.session.scalar(select(func.count()).select_from(AuditEvent)),
    )
    assert counts == before
    # The session is usable again: the next save goes through, with its audit entry.
    response = client.post("/contacts/new", data=valid_contact(email="free@example.org"))
    assert response.status_code == 302


def test_two_simultaneous_saves_of_one_email_end_in_one_contact_and_one_friendly_refusal(racing_app, monkeypatch):
    """PostgreSQL only (racing_app): on SQLite writers take turns, and the forced race above
    stands in for this one."""
    with racing_app.app_context():
        actor = User(email="admin@example.org", name="Admin", role=Role.ADMIN, password_hash="x")
        db.session.add(actor)
        db.session.commit()
        actor_id = actor.id
        db.session.remove()
    both_checked = threading.Barrier(2, timeout=20)
    check = contact_services.email_taken

    def check_then_wait(email, excluding_id=None):
        # Both saves pass the check before either inserts: the race the index is for.
        taken = check(email, excluding_id)
        both_checked.wait()
        return taken

    monkeypatch.setattr(contact_services, "email_taken", check_then_wait)
    outcomes: list[str] = []

    def save(email: str) -> None:
        with racing_app.app_context():
            try:
                contact_services.save(
                    Contact(), valid_contact(email=email, organisation_id=None), db.session.get(User, actor_id)
                )
                outcomes.append("saved")
            except contact_services.DuplicateEmail:
                outcomes.append("refused")
            except Exception as error:  # noqa: BLE001  (reported by the assertion below)
                outcomes.append(repr(error))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=save, args=(email,)) for email in ("race@example.org", "RACE@example.org")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(outcomes) == ["refused", "saved"]
    with racing_app.app_context():
        try:
            assert db.session.scalar(select(func.count()).select_from(Contact)) == 1
        finally:
            db.session.remove()


def test_a_report_date_added_by_another_save_meanwhile_is_a_form_message(client, login, monkeypatch):
    login(Role.STAFF)
    grant = GrantFactory()
    grant_id = grant.id
    form = {
        "organisation_id": str(grant.organisation_id),
        "program": grant.program,
        "amount": "1000",
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
        "status": "active",
        "report_dates": "2026-06-30",
        "notes": "",
    }
    set_report_dates = grant_services._set_report_dates

    def and_the_other_save_commits_the_same_date(grant, due_dates):
        # This save has read the grant's reports (none); the other's row lands before its insert.
        set_report_dates(grant, due_dates)
        db.session.execute(
            text("INSERT INTO grant_reports (grant_id, due_on) VALUES (:grant, :due)"),
            {"grant": grant_id, "due": date(2026, 6, 30)},
        )

    monkeypatch.setattr(grant_services, "_set_report_dates", and_the_other_save_commits_the_same_date)

    response = client.post(f"/grants/{grant_id}/edit", data=form)

    assert response.status_code == 422
    assert "Someone else changed these report dates at the same moment." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(GrantReport)) == 0


def test_grant_amounts_and_dates_are_checked_by_the_form_before_the_database(client, login):
    login(Role.STAFF)
    grant = GrantFactory(amount=Decimal("5.00"))

    response = client.post(
        f"/grants/{grant.id}/edit",
        data={
            "organisation_id": str(grant.organisation_id),
            "program": "Doulas",
            "amount": "0",
            "start_date": "2026-01-01",
            "end_date": "2025-01-01",
            "status": "active",
            "report_dates": "",
        },
    )

    assert response.status_code == 422


# --- users follow their contact by key ----------------------------------------------------


def test_my_open_inquiries_follow_my_contact_when_its_email_changes(client, login, app, world):
    mine = InquiryFactory(name="For Nora", topic=world.home_visits)
    mine.assigned_contact_id = world.nora.id
    db.session.commit()
    user = login(Role.STAFF, email="nora@north.example.org")
    assert user.contact_id == world.nora.id

    response = client.post(
        f"/contacts/{world.nora.id}/edit",
        data=valid_contact(
            name="Nora North", email="nora.north@new-domain.example.org", organisation_id=str(world.north.id)
        ),
    )
    assert response.status_code == 302

    page = client.get("/inquiries/?mine=1")
    assert page.status_code == 200
    assert mine.reference in page.get_data(as_text=True)


def test_a_new_user_is_linked_to_the_contact_with_their_email(app):
    contact = ContactFactory(email="Pat@Partner.example.org")
    admin = UserFactory(role=Role.ADMIN)

    user, _password = user_services.create_user(
        {"email": "pat@partner.example.org", "name": "Pat", "role": "staff", "password": "a long enough password"},
        admin,
    )

    assert user.contact_id == contact.id


def test_a_contact_added_with_a_users_email_is_linked_to_that_user(app):
    admin = UserFactory(role=Role.ADMIN)
    user = UserFactory(email="later@example.org")
    assert user.contact_id is None

    contact = contact_services.save(Contact(), valid_contact(email="Later@example.org", organisation_id=None), admin)

    assert db.session.get(User, user.id).contact_id == contact.id


def test_deleting_a_contact_unlinks_its_user(app):
    contact = ContactFactory(email="gone@example.org")
    user = UserFactory(email="gone@example.org")
    assert user.contact_id == contact.id

    db.session.delete(contact)
    db.session.commit()
    db.session.expire_all()

    assert db.session.get(User, user.id).contact_id is None


# --- the migration links existing users to their contacts ---------------------------------

BEFORE = "eb19e7103c4e"


@pytest.mark.usefixtures("migrated_app")
def test_the_migration_links_each_user_to_the_contact_with_their_email():
    config = alembic_config()
    command.upgrade(config, BEFORE)
    now = datetime.now(UTC)
    if db.engine.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    with db.engine.begin() as connection:
        tables = {
            name: sa.Table(name, sa.MetaData(), autoload_with=connection)
            for name in ("organisations", "contacts", "users", "grants", "grant_reports")
        }
        stamps = {"created_at": now, "updated_at": now}
        organisation = connection.execute(
            tables["organisations"]
            .insert()
            .values(
                name="North",
                name_key="north",
                kind="grantee",
                description="",
                description_es="",
                website="",
                email="",
                phone="",
                address_line="",
                city="",
                state="MO",
                postal_code="",
                status="active",
                **stamps,
            )
        ).inserted_primary_key[0]

        def contact(email: str, active: bool = True) -> int:
            return connection.execute(
                tables["contacts"]
                .insert()
                .values(
                    name=email or "nobody",
                    organisation_id=organisation,
                    title="",
                    email=email,
                    phone="",
                    languages=["en"],
                    roles=[],
                    show_on_public_page=False,
                    notes="",
                    active=active,
                    accepts_inquiries=True,
                    is_inquiry_fallback=False,
                    **stamps,
                )
            ).inserted_primary_key[0]

        def user(email: str) -> int:
            return connection.execute(
                tables["users"]
                .insert()
                .values(email=email, name=email, role="staff", active=True, password_hash="x", **stamps)
            ).inserted_primary_key[0]

        contact("nora@north.example.org", active=False)  # older, but inactive
        nora = contact("Nora@North.Example.org")
        contact("")
        nora_user, stranger = user("nora@north.example.org"), user("stranger@example.org")
        # A batch copy of grants must not take its reports with it (foreign keys off).
        grant = connection.execute(
            tables["grants"]
            .insert()
            .values(
                organisation_id=organisation,
                program="P",
                amount=Decimal("10.00"),
                start_date=date(2026, 1, 1),
                end_date=date(2026, 12, 31),
                status="active",
                notes="",
                **stamps,
            )
        ).inserted_primary_key[0]
        connection.execute(tables["grant_reports"].insert().values(grant_id=grant, due_on=date(2026, 6, 30)))

    command.upgrade(config, "head")

    with db.engine.connect() as connection:
        links = dict(connection.execute(text("SELECT id, contact_id FROM users")).all())
        reports = connection.execute(text("SELECT count(*) FROM grant_reports")).scalar()
    assert links == {nora_user: nora, stranger: None}
    assert reports == 1


@pytest.mark.usefixtures("migrated_app")
def test_the_migrated_database_holds_every_named_check_and_unique_index():
    command.upgrade(alembic_config(), "head")

    with db.engine.connect() as connection:
        inspector = inspect(connection)
        for table in Base.metadata.tables.values():
            wanted = {constraint.name for constraint in table.constraints if isinstance(constraint, sa.CheckConstraint)}
            found = {check["name"] for check in inspector.get_check_constraints(table.name)}
            assert wanted <= found, f"{table.name} lacks {wanted - found}"
        if connection.dialect.name == "sqlite":
            indexes = set(connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())
        else:
            indexes = {index["name"] for index in inspector.get_indexes("contacts")}
    assert {"uq_contacts_active_email", "uq_contacts_inquiry_fallback"} <= indexes

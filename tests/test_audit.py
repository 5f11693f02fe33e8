from __future__ import annotations

from sqlalchemy import select

from crm import audit
from crm.extensions import db
from crm.models import AuditEvent, EmailKind, EmailStatus, Organisation, OrganisationKind, OutboundEmail, Region, Role
from tests.factories import NOW, InquiryFactory, OrganisationFactory, RegionFactory, UserFactory


def events_for(entity: str, entity_id: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == entity, AuditEvent.entity_id == str(entity_id))
            .order_by(AuditEvent.id)
        )
    )


def test_create_update_delete_are_recorded_with_before_and_after(app):
    actor = UserFactory(role=Role.STAFF)
    organisation = Organisation(name="Kennett Family Table", kind=OrganisationKind.COMMUNITY)
    db.session.add(organisation)
    audit.commit(actor)

    organisation.name = "Kennett Family Table Co-op"
    organisation.kind = OrganisationKind.GRANTEE
    audit.commit(actor)

    organisation_id = organisation.id
    db.session.delete(organisation)
    audit.commit(actor)

    created, updated, deleted = events_for("Organisation", organisation_id)
    assert (created.action, created.actor_id) == ("create", actor.id)
    assert created.changes["name"] == [None, "Kennett Family Table"]
    assert updated.changes == {
        "name": ["Kennett Family Table", "Kennett Family Table Co-op"],
        "kind": ["community", "grantee"],
    }
    assert deleted.action == "delete"
    assert deleted.changes["name"] == ["Kennett Family Table Co-op", None]


def test_many_to_many_changes_are_recorded(app):
    organisation = OrganisationFactory()
    region = RegionFactory(name="Bootheel")
    organisation.regions.append(region)
    audit.commit(None)
    [*_, update] = events_for("Organisation", organisation.id)
    assert update.changes["regions"] == [[], ["Bootheel"]]


def test_an_unchanged_record_writes_no_update(app):
    organisation = OrganisationFactory(name="Same Name")
    before = len(events_for("Organisation", organisation.id))
    organisation.name = "Same Name"
    audit.commit(None)
    assert len(events_for("Organisation", organisation.id)) == before


def test_failed_commit_writes_neither_record_nor_audit(app):
    OrganisationFactory(name="Generate Health")
    count_before = db.session.scalar(select(db.func.count()).select_from(AuditEvent))
    db.session.add(Organisation(name="GENERATE  health"))
    try:
        audit.commit(None)
    except Exception:  # noqa: BLE001 - the unique constraint is the point of this test
        db.session.rollback()
    assert db.session.scalar(select(db.func.count()).select_from(AuditEvent)) == count_before
    assert db.session.scalar(select(db.func.count()).select_from(Region)) >= 0


def test_a_change_flushed_early_by_a_query_is_still_audited(app):
    organisation = OrganisationFactory(name="Early Flush")
    organisation.name = "Early Flush Renamed"
    # A query autoflushes the rename before audit.commit runs.
    db.session.scalars(select(Region)).all()
    audit.commit(None)
    [*_, update] = events_for("Organisation", organisation.id)
    assert update.action == "update"
    assert update.changes == {"name": ["Early Flush", "Early Flush Renamed"]}


def test_changes_committed_outside_audit_commit_are_not_blamed_on_the_next_one(app):
    organisation = OrganisationFactory(name="Factory Made")
    organisation.name = "Renamed Quietly"
    db.session.commit()
    other = OrganisationFactory(name="Another")
    other.name = "Another Renamed"
    audit.commit(None)
    assert [event.action for event in events_for("Organisation", organisation.id)] == []
    assert [event.action for event in events_for("Organisation", other.id)] == ["update"]


def test_rows_inserted_without_objects_are_recorded_as_a_flush_records_them(app):
    """audit.insert_rows (a new inquiry's emails and timeline) leaves the trail the entry the
    unit of work would have left for the same row, defaults included."""
    actor = UserFactory(role=Role.STAFF)
    inquiry = InquiryFactory()
    values = {"kind": EmailKind.REQUESTER_ACK, "to_address": "a@example.net", "subject": "S", "body_text": "B"}
    when = {"next_attempt_at": NOW, "created_at": NOW}
    flushed = OutboundEmail(message_id="<one@example.org>", inquiry_id=inquiry.id, **values, **when)
    db.session.add(flushed)
    audit.commit(actor)
    [inserted_id] = audit.insert_rows(
        OutboundEmail, [{"message_id": "<two@example.org>", "inquiry_id": inquiry.id, **values, **when}]
    )
    audit.commit(actor)

    [by_flush] = events_for("OutboundEmail", flushed.id)
    [by_insert] = events_for("OutboundEmail", inserted_id)
    assert (by_insert.action, by_insert.actor_id, by_insert.entity_id) == ("create", actor.id, str(inserted_id))
    assert by_insert.changes.keys() == by_flush.changes.keys()
    differ = {name for name in by_flush.changes if by_flush.changes[name] != by_insert.changes[name]}
    assert differ == {"id", "message_id"}
    assert by_insert.changes["body_text"] == [None, "(changed)"]  # redacted, as from a flush
    assert db.session.get(OutboundEmail, inserted_id).status is EmailStatus.PENDING


def test_a_record_taken_in_as_inserted_leaves_the_session_when_the_transaction_rolls_back(app):
    """As a record the session inserted itself would: otherwise a second attempt of a send
    whose COMMIT was lost (crm.outage) can find the first attempt's record under the id the
    database gives again, and cannot store its own."""
    inquiry = InquiryFactory()
    db.session.commit()
    values = {"kind": EmailKind.REQUESTER_ACK, "to_address": "a@example.net", "subject": "S", "body_text": "B"}
    [email_id] = audit.insert_rows(
        OutboundEmail, [{"message_id": "<gone@example.org>", "inquiry_id": inquiry.id, "next_attempt_at": NOW, "created_at": NOW, **values}]
    )
    email = OutboundEmail(id=email_id, message_id="<gone@example.org>", inquiry_id=inquiry.id, **values)
    audit.take_in_inserted(email)
    assert email in db.session

    db.session.rollback()

    assert email not in db.session
    assert db.session.get(OutboundEmail, email_id) is None


def test_a_record_taken_in_as_inserted_stays_once_committed(app):
    inquiry = InquiryFactory()
    values = {"kind": EmailKind.REQUESTER_ACK, "to_address": "a@example.net", "subject": "S", "body_text": "B"}
    [email_id] = audit.insert_rows(
        OutboundEmail, [{"message_id": "<stays@example.org>", "inquiry_id": inquiry.id, "next_attempt_at": NOW, "created_at": NOW, **values}]
    )
    email = OutboundEmail(id=email_id, message_id="<stays@example.org>", inquiry_id=inquiry.id, **values)
    audit.take_in_inserted(email)
    audit.commit(None)
    db.session.rollback()  # nothing left to undo: the record stays

    assert email in db.session
    assert db.session.get(OutboundEmail, email_id) is email

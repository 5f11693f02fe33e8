from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from crm import audit
from crm.auth.permissions import is_staff
from crm.database import utcnow, violated_constraint
from crm.extensions import db
from crm.models import AuditEvent, Grant, GrantReport, GrantStatus, User
from crm.timezones import local_time

CENT = Decimal("0.01")
# One report per due date (crm.models.grant); the form merges repeated dates itself.
ONE_REPORT_PER_DATE = "uq_grant_reports_grant_id_due_on"


class ReportDatesChangedMeanwhile(ValueError):
    """Another save of the same grant added a report date at the same moment; nothing was written."""

DUE_SOON_DAYS = 30


@dataclass(frozen=True)
class GrantFilters:
    organisation_id: int | None = None
    status: str = ""
    reports: str = ""  # "due_soon": a report outstanding and due within DUE_SOON_DAYS or overdue; "overdue"


def today() -> date:
    """Today where the initiative works, which is what a due date means."""
    return local_time(utcnow()).date()


def due_soon_by(on: date) -> date:
    """The latest due date that counts as due soon on `on`."""
    return on + timedelta(days=DUE_SOON_DAYS)


def search(filters: GrantFilters, on: date) -> Select:
    query = (
        select(Grant)
        .options(selectinload(Grant.organisation), selectinload(Grant.reports))
        .order_by(Grant.start_date.desc(), Grant.id.desc())
    )
    if filters.organisation_id:
        query = query.where(Grant.organisation_id == filters.organisation_id)
    if filters.status:
        query = query.where(Grant.status == GrantStatus(filters.status))
    if filters.reports == "due_soon":
        query = query.where(
            Grant.reports.any(and_(GrantReport.received_on.is_(None), GrantReport.due_on <= due_soon_by(on)))
        )
    elif filters.reports == "overdue":
        query = query.where(Grant.reports.any(past_due(on)))
    return query


def past_due(on: date):
    """A report is past due on `on` (see today()) when it was due before that day and has not
    been received."""
    return and_(GrantReport.received_on.is_(None), GrantReport.due_on < on)


def days_overdue(report: GrantReport, on: date) -> int:
    return (on - report.due_on).days


@dataclass(frozen=True)
class PastDueReports:
    reports: list[GrantReport]  # the oldest, with their grants and organisations
    total: int


def past_due_reports(on: date, limit: int) -> PastDueReports:
    """Reports past due on `on`, oldest first: at most `limit` of them, and how many there are."""
    total = db.session.scalar(select(func.count()).select_from(GrantReport).where(past_due(on)))
    reports = db.session.scalars(
        select(GrantReport)
        .options(selectinload(GrantReport.grant).selectinload(Grant.organisation))
        .where(past_due(on))
        .order_by(GrantReport.due_on, GrantReport.id)
        .limit(limit)
    )
    return PastDueReports(reports=list(reports), total=total)


def reports_due_for(user: Any) -> list[GrantReport]:
    """The reports not yet received that ``user`` may see, soonest first, with their grants and
    organisations: every grant's for staff, their own organisation's for a partner."""
    query = (
        select(GrantReport)
        .join(GrantReport.grant)
        .options(selectinload(GrantReport.grant).selectinload(Grant.organisation))
        .where(GrantReport.received_on.is_(None))
        .order_by(GrantReport.due_on, GrantReport.id)
    )
    if not is_staff(user):
        if user.organisation_id is None:
            return []
        query = query.where(Grant.organisation_id == user.organisation_id)
    return list(db.session.scalars(query))


def next_report(grant: Grant) -> GrantReport | None:
    """The earliest report not yet received."""
    return next((report for report in grant.reports if report.received_on is None), None)


def _set_report_dates(grant: Grant, due_dates: list[date]) -> None:
    """One report per due date; a report whose date stays keeps its received date."""
    wanted = set(due_dates)
    kept = {report.due_on: report for report in grant.reports}
    for due_on, report in kept.items():
        if due_on not in wanted:
            db.session.delete(report)  # deleted explicitly, so the audit trail records it
    grant.reports = [kept.get(due_on) or GrantReport(due_on=due_on) for due_on in sorted(wanted)]


def stage(grant: Grant, data: dict) -> Grant:
    """Apply validated form data, with its report schedule, to the session without committing
    (save commits; an import stages many rows and commits them together)."""
    # Loading the reports must not flush the new field values early: audit.commit reads them
    # from the session's pending changes.
    with db.session.no_autoflush:
        grant.organisation_id = data["organisation_id"]
        grant.program = data["program"]
        grant.amount = data["amount"].quantize(CENT)
        grant.start_date = data["start_date"]
        grant.end_date = data["end_date"]
        grant.status = GrantStatus(data["status"])
        grant.notes = data.get("notes") or ""
        db.session.add(grant)
        _set_report_dates(grant, data.get("report_dates") or [])
    return grant


def save(grant: Grant, data: dict, actor: User) -> Grant:
    """Create or update from validated form data, with its report schedule, in one commit."""
    stage(grant, data)
    try:
        audit.commit(actor)
    except IntegrityError as error:
        db.session.rollback()
        if violated_constraint(error) == ONE_REPORT_PER_DATE:
            raise ReportDatesChangedMeanwhile from None
        raise
    return grant


def set_status(grant: Grant, status: GrantStatus, actor: User) -> None:
    grant.status = status
    audit.commit(actor)


def report_of(grant: Grant, report_id: int) -> GrantReport | None:
    return next((report for report in grant.reports if report.id == report_id), None)


def mark_received(report: GrantReport, on: date, actor: User) -> bool:
    """Record the report as received on `on`; False (and nothing written) if it already was."""
    if report.received_on is not None:
        return False
    report.received_on = on
    audit.commit(actor)
    return True


def history(grant: Grant, limit: int = 50) -> list[AuditEvent]:
    """The grant's change history with its reports' events folded in: added, received, removed.

    crm.audit.history_for covers one record; a grant's schedule lives in GrantReport rows.
    Events of current reports are found by id; a removed report's create and delete events
    by the grant_id they recorded ({"grant_id": [before, after]}).
    """
    report_ids = [str(report.id) for report in grant.reports]
    recorded_grant = or_(
        AuditEvent.changes[("grant_id", 0)].as_integer() == grant.id,
        AuditEvent.changes[("grant_id", 1)].as_integer() == grant.id,
    )
    return list(
        db.session.scalars(
            select(AuditEvent)
            .options(selectinload(AuditEvent.actor))
            .where(
                or_(
                    and_(AuditEvent.entity_type == "Grant", AuditEvent.entity_id == str(grant.id)),
                    and_(
                        AuditEvent.entity_type == "GrantReport",
                        or_(AuditEvent.entity_id.in_(report_ids), and_(AuditEvent.action != "update", recorded_grant)),
                    ),
                )
            )
            .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )


def history_subjects(grant: Grant, events: list[AuditEvent]) -> dict[tuple[str, str], str]:
    """What each report event in the history is about, e.g. "Report due 30 Jun 2026"."""
    due_dates = {str(report.id): report.due_on.isoformat() for report in grant.reports}
    subjects = {}
    for event in events:
        if event.entity_type != "GrantReport":
            continue
        due = due_dates.get(event.entity_id) or next(
            (value for value in (event.changes.get("due_on") or []) if value), None
        )
        label = f"Report due {date.fromisoformat(due):%d %b %Y}" if due else "A report"
        subjects[(event.entity_type, event.entity_id)] = label
    return subjects

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select

from crm.extensions import db
from crm.interactions.services import newest_first, open_follow_ups
from crm.models import Interaction, Organisation, RecordStatus, User

# Grant reports past due listed on the dashboard; the count covers them all.
PAST_DUE_SHOWN = 20


def follow_ups_for(user: User, today: date, horizon_days: int = 7) -> list[Interaction]:
    """The user's open follow-ups that are overdue or due within the horizon, soonest first."""
    return list(db.session.scalars(open_follow_ups(user).where(Interaction.follow_up_on <= today + timedelta(days=horizon_days))))


def recent_interactions(limit: int = 10) -> list[Interaction]:
    return list(db.session.scalars(newest_first().limit(limit)))


def last_touch_by_organisation():
    return (
        select(
            Interaction.organisation_id.label("organisation_id"),
            func.max(Interaction.occurred_at).label("last_touch"),
        )
        .group_by(Interaction.organisation_id)
        .subquery()
    )


def dormant_partners(now: datetime, days: int) -> list[tuple[Organisation, datetime | None]]:
    """Active organisations with no interaction in the last `days` days, longest silent first."""
    last_touch = last_touch_by_organisation()
    cutoff = now - timedelta(days=days)
    rows = db.session.execute(
        select(Organisation, last_touch.c.last_touch)
        .outerjoin(last_touch, last_touch.c.organisation_id == Organisation.id)
        .where(
            Organisation.status == RecordStatus.ACTIVE,
            or_(last_touch.c.last_touch.is_(None), last_touch.c.last_touch < cutoff),
        )
        .order_by(last_touch.c.last_touch.is_not(None), last_touch.c.last_touch, Organisation.name)
    )
    return [(organisation, touched) for organisation, touched in rows]

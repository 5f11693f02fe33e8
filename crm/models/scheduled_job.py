from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.database import UTCDateTime
from crm.extensions import db

LAST_ERROR_LENGTH = 500


class ScheduledJob(db.Model):
    """One periodic job (crm.jobs.catalogue) and its lease: a runner runs a job only while it
    holds the lease, taken by a conditional UPDATE, so two runners on two hosts never run the
    same job at once. A runner that dies holding a lease blocks that job until the lease
    ends, then another runner takes it over."""

    __tablename__ = "scheduled_jobs"
    __table_args__ = (
        CheckConstraint("run_count >= 0", name="run_count_not_negative"),
        CheckConstraint("failure_count >= 0 AND failure_count <= run_count", name="failure_count_within_runs"),
        CheckConstraint("leased_until IS NULL OR lease_owner <> ''", name="lease_has_owner"),
    )

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Host, process id and a random part: which runner holds (or last held) the lease.
    lease_owner: Mapped[str] = mapped_column(String(200), default="")
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Empty after a run that succeeded. A failure is described by crm.logs.describe: the
    # exception's type and what identifies it, never its message, which can quote an inquiry.
    last_error: Mapped[str] = mapped_column(String(LAST_ERROR_LENGTH), default="")
    # One line from the last run that succeeded ("Queued 2 reminder(s) ..."): counts only.
    last_summary: Mapped[str] = mapped_column(String(200), default="")
    # Runs that finished, and how many of them failed.
    run_count: Mapped[int] = mapped_column(Integer, default=0)
    failure_count: Mapped[int] = mapped_column(Integer, default=0)

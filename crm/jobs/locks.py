"""A lease per job in `scheduled_jobs`, so that two runners, on one host or two, never run the
same job at once.

A runner takes a job's lease with one conditional UPDATE (... WHERE leased_until IS NULL OR
leased_until < now) and commits it before the job starts. Two runners may send that UPDATE
together: PostgreSQL makes the second wait for the first's row lock and then re-checks the
condition against the row the first wrote, and SQLite lets one writer in at a time (every
transaction outside a request begins IMMEDIATE), so exactly one of them sees a row updated.
The lease is handed back, with the outcome, only by the runner that holds it.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from crm.extensions import db
from crm.models.scheduled_job import LAST_ERROR_LENGTH, ScheduledJob

SUMMARY_LENGTH = 200


def runner_id() -> str:
    """Names this runner in `lease_owner`: the host and process, and a random part so that
    two runners in one process (tests) or a reused pid are told apart."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(4)}"


def register(names: Iterable[str], now: datetime) -> None:
    """Give each job without a row one, due at once. Runners starting together may both
    insert the same name: ON CONFLICT DO NOTHING keeps the first row and refuses nobody."""
    names = list(names)
    known = set(db.session.scalars(select(ScheduledJob.name).where(ScheduledJob.name.in_(names))))
    missing = [name for name in names if name not in known]
    if missing:
        dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
        db.session.execute(
            dialect.insert(ScheduledJob)
            .values(
                [
                    {
                        "name": name,
                        "next_run_at": now,
                        "lease_owner": "",
                        "last_error": "",
                        "last_summary": "",
                        "run_count": 0,
                        "failure_count": 0,
                    }
                    for name in missing
                ]
            )
            .on_conflict_do_nothing(index_elements=["name"])
        )
    db.session.commit()


def take_lease(name: str, owner: str, now: datetime, lease: timedelta, *, due_only: bool = True) -> bool:
    """Lease the job to `owner` until now + lease if no one holds it (and, with `due_only`,
    if it is due); commit, and say whether this runner got it.

    A lease this runner still holds counts as free to it: a runner runs one job at a time, so
    its own lease is one it could not hand back (the database went away at that moment), and
    waiting for it to run out would stop that job, mail included, for the whole lease."""
    conditions = [
        ScheduledJob.name == name,
        or_(ScheduledJob.leased_until.is_(None), ScheduledJob.leased_until < now, ScheduledJob.lease_owner == owner),
    ]
    if due_only:
        conditions.append(ScheduledJob.next_run_at <= now)
    result = db.session.execute(
        update(ScheduledJob)
        .where(*conditions)
        .values(leased_until=now + lease, lease_owner=owner, last_started_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def finish(name: str, owner: str, now: datetime, next_run_at: datetime, *, error: str = "", summary: str = "") -> bool:
    """Hand the lease back with the run's outcome; commit. False when this runner no longer
    held it (its lease ran out and another runner took the job over): nothing is written."""
    values: dict = {
        "leased_until": None,
        "last_finished_at": now,
        "next_run_at": next_run_at,
        "last_error": error[:LAST_ERROR_LENGTH],
        "run_count": ScheduledJob.run_count + 1,
    }
    if error:
        values["failure_count"] = ScheduledJob.failure_count + 1
    else:
        values["last_summary"] = summary[:SUMMARY_LENGTH]
    result = db.session.execute(
        update(ScheduledJob)
        .where(ScheduledJob.name == name, ScheduledJob.lease_owner == owner, ScheduledJob.leased_until.is_not(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def job_rows() -> dict[str, ScheduledJob]:
    return {row.name: row for row in db.session.scalars(select(ScheduledJob).execution_options(populate_existing=True))}

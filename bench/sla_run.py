"""How long the sla-checks job takes on the benchmark's data: a first run that catches up, then
runs where little changed.

    python -m bench.sla_run              # on DATABASE_URL, after `python -m bench` generated data
    python -m bench.sla_run --reset      # first forget what earlier runs did to the bench inquiries

Each run is the job itself (crm.inquiries.sla_jobs.run_sla_checks, committed); the script
prints its time, its SQL statements, what it covered and the emails it queued. `--reset`
clears reminded/escalated marks on the benchmark's inquiries and removes the digests and
timeline lines earlier runs wrote, so that the first run has the whole backlog again.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta

from sqlalchemy import delete, event, func, select, update

from bench.benchmark import REFERENCE_PREFIX, bench_inquiries
from crm.database import utcnow
from crm.extensions import db
from crm.models import EmailKind, Inquiry, InquiryEvent, InquiryEventKind, OutboundEmail

DIGEST_KINDS = (EmailKind.SLA_REMINDER, EmailKind.SLA_ESCALATION)


def reset() -> None:
    db.session.execute(
        delete(InquiryEvent)
        .where(
            InquiryEvent.kind.in_([InquiryEventKind.REMINDER, InquiryEventKind.ESCALATED]),
            InquiryEvent.inquiry_id.in_(bench_inquiries()),
        )
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Inquiry)
        .where(Inquiry.id.in_(bench_inquiries()))
        .values(reminder_sent_at=None, escalated_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        delete(OutboundEmail).where(OutboundEmail.kind.in_(DIGEST_KINDS)).execution_options(synchronize_session=False)
    )
    db.session.commit()


def queued_digests() -> int:
    return db.session.scalar(
        select(func.count()).select_from(OutboundEmail).where(OutboundEmail.kind.in_(DIGEST_KINDS))
    )


def timed_run(label: str, now) -> None:
    from crm.inquiries.sla_jobs import run_sla_checks

    statements = []

    def on_execute(*_args) -> None:
        statements.append(1)

    before = queued_digests()
    event.listen(db.engine, "before_cursor_execute", on_execute)
    started = time.perf_counter()
    try:
        reminders, escalations = run_sla_checks(now)
    finally:
        seconds = time.perf_counter() - started
        event.remove(db.engine, "before_cursor_execute", on_execute)
        db.session.remove()
    print(  # noqa: T201
        f"{label}: {seconds * 1000:.0f} ms, {len(statements)} statements; {reminders} inquiries reminded, "
        f"{escalations} escalated, {queued_digests() - before} digest emails queued"
    )


def main(argv: list[str] | None = None) -> int:
    from config import Config, DevelopmentConfig
    from crm import create_app

    parser = argparse.ArgumentParser(prog="python -m bench.sla_run", description=__doc__.splitlines()[0])
    parser.add_argument("--reset", action="store_true", help="forget earlier runs' marks on the bench inquiries first")
    parser.add_argument("--runs", type=int, default=3, help="runs after the first, a minute apart (default 3)")
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL") or Config.SQLALCHEMY_DATABASE_URI
    app = create_app(DevelopmentConfig, SQLALCHEMY_DATABASE_URI=url, RATELIMIT_ENABLED=False)
    with app.app_context():
        print(f"Database: {db.engine.url.render_as_string(hide_password=True)}")  # noqa: T201
        total = db.session.scalar(select(func.count()).select_from(Inquiry))
        bench = db.session.scalar(
            select(func.count()).select_from(Inquiry).where(Inquiry.reference.startswith(REFERENCE_PREFIX))
        )
        print(f"{total:,} inquiries ({bench:,} from the benchmark)")  # noqa: T201
        if args.reset:
            reset()
        now = utcnow()
        timed_run("first run", now)
        for number in range(1, args.runs + 1):
            timed_run(f"run {number + 1}, {number} min later", now + timedelta(minutes=number))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The periodic jobs, in the order a runner's pass takes them.

SLA checks, acceptance timers, held sends and follow-ups come before sending, so what they queue goes out in the same pass.
"""

from __future__ import annotations

from datetime import timedelta

from crm.auth.tokens import account_tokens_job
from crm.family.services import follow_up_job
from crm.holidays.cli import federal_holidays_job
from crm.inquiries.acceptance_jobs import acceptance_timers_job
from crm.inquiries.held_posts import file_held_posts_job
from crm.inquiries.retention import retention_purge_job
from crm.inquiries.sla_jobs import sla_checks_job
from crm.jobs.runner import Job
from crm.mail.worker import LEASE as MAIL_CLAIM
from crm.mail.worker import send_mail_job

JOBS: tuple[Job, ...] = (
    Job(
        name="sla-checks",
        run=sla_checks_job,
        every=timedelta(minutes=1),
        lease=timedelta(minutes=5),
        description="response-time reminder digests to contacts and escalation digests to managers",
    ),
    Job(
        name="acceptance-timers",
        run=acceptance_timers_job,
        every=timedelta(minutes=1),
        lease=timedelta(minutes=5),
        description="move on the inquiries not accepted within their topic's acceptance window; tell managers",
    ),
    Job(
        name="file-held-posts",
        run=file_held_posts_job,
        every=None,
        lease=timedelta(minutes=5),
        description="file the Get in Touch sends held during a flood or taken for spam, in order, as inquiries",
    ),
    Job(
        name="family-follow-up",
        run=follow_up_job,
        every=timedelta(minutes=15),
        lease=timedelta(minutes=10),
        description="ask families FOLLOW_UP_DAYS after a close whether they got the help they needed",
    ),
    Job(
        name="send-mail",
        run=send_mail_job,
        every=None,
        # A call stops starting new runs after a quarter of a message claim and stops sending
        # after half of one. Two runners sending at once would still send each message once
        # (each message has its own claim); the lease only saves them the work.
        lease=MAIL_CLAIM,
        description="deliver the outbox (hold it when MAIL_SERVER is not set)",
    ),
    Job(
        name="retention-purge",
        run=retention_purge_job,
        every=timedelta(days=1),
        lease=timedelta(hours=1),
        description="anonymise closed and spam inquiries older than RETENTION_DAYS",
    ),
    Job(
        name="federal-holidays",
        run=federal_holidays_job,
        every=timedelta(days=1),
        lease=timedelta(minutes=10),
        description="load the US federal holidays of the years come into range into the foundation calendar",
    ),
    Job(
        name="account-tokens",
        run=account_tokens_job,
        every=timedelta(days=1),
        lease=timedelta(minutes=10),
        description="delete invitation and password-reset links that stopped working ACCOUNT_TOKEN_KEEP_DAYS ago",
    ),
)

JOB_NAMES = tuple(job.name for job in JOBS)


def jobs_named(names: tuple[str, ...] | list[str]) -> tuple[Job, ...]:
    """The named jobs in catalogue order (all of them when no name is given)."""
    if not names:
        return JOBS
    return tuple(job for job in JOBS if job.name in names)

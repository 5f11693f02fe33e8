"""`flask crm jobs`: run the periodic jobs (a loop, or each once), or show how they last went."""

from __future__ import annotations

import logging
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from crm.jobs import locks, runner
from crm.jobs.catalogue import JOB_NAMES, jobs_named
from crm.jobs.runner import Job, run_forever, run_jobs
from crm.mail.worker import destination
from crm.models.scheduled_job import ScheduledJob
from crm.timezones import display_timezone, format_datetime

DEFAULT_POLL_SECONDS = 5


def _every(job: Job) -> str:
    if job.every is None:
        return "every poll"
    if job.every == timedelta(days=1):
        return "daily"
    if job.every == timedelta(minutes=1):
        return "every minute"
    return f"every {job.every}"


def _state(row: ScheduledJob | None) -> str:
    if row is None or (row.run_count == 0 and row.leased_until is None):
        return "never run"
    if row.leased_until is not None:
        return f"running on {row.lease_owner} (lease until {format_datetime(row.leased_until)})"
    return "failed" if row.last_error else "ok"


def status_table(jobs: tuple[Job, ...]) -> list[str]:
    rows = locks.job_rows()
    table = [("JOB", "RUNS", "FAILED", "LAST FINISHED", "NEXT RUN", "STATE")]
    for job in jobs:
        row = rows.get(job.name)
        table.append(
            (
                job.name,
                str(row.run_count if row else 0),
                str(row.failure_count if row else 0),
                format_datetime(row.last_finished_at) if row and row.last_finished_at else "-",
                format_datetime(row.next_run_at) if row else "at once",
                _state(row),
            )
        )
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False)) + "  " + line[-1]
        for line in table
    ]
    lines.append(f"(times in {display_timezone()})")
    for job in jobs:
        row = rows.get(job.name)
        if row and row.last_error:
            lines.append(f"{job.name}: last error: {row.last_error}")
    return lines


def _poll_seconds() -> float:
    value = current_app.config.get("JOBS_POLL_SECONDS", DEFAULT_POLL_SECONDS)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0
    if seconds < 0.1:
        raise click.UsageError(f"JOBS_POLL_SECONDS must be a number of seconds, at least 0.1 (it is {value!r}).")
    return seconds


@click.command("jobs")
@click.option(
    "--once",
    is_flag=True,
    help="Run every job once, due or not, print one line each and exit (status 1 if one failed).",
)
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(JOB_NAMES),
    help="Run only this job (repeat for more); with --status, show only it.",
)
@click.option("--status", is_flag=True, help="Show each job's runs, last run, next run and last error, and exit.")
@with_appcontext
def jobs_command(once: bool, only: tuple[str, ...], status: bool) -> None:
    """Run the periodic jobs: sending mail, response-time checks, retention.

    Safe to run on several hosts at once: each job runs under a lease, one runner at a time.
    """
    jobs = jobs_named(only)
    if status and once:
        raise click.UsageError("--status and --once do not go together.")
    if status:
        for line in status_table(jobs):
            click.echo(line)
        return
    # Flask gives its "crm" logger a stderr handler when none is set up; these say what they did.
    for name in (runner.__name__, "crm.mail.worker"):
        if not logging.getLogger(name).level:
            logging.getLogger(name).setLevel(logging.INFO)
    owner = locks.runner_id()
    if once:
        runs = run_jobs(jobs, owner, force=True)
        for run in runs:
            click.echo(run.line())
        if any(run.failed for run in runs):
            click.get_current_context().exit(1)
        return
    poll_seconds = _poll_seconds()
    click.echo(
        f"Job runner {owner} started, polling every {poll_seconds:g} s: "
        + ", ".join(f"{job.name} ({_every(job)})" for job in jobs)
        + f". Mail goes to {destination(current_app.config)}. Ctrl-C or SIGTERM stops it."
    )
    try:
        run_forever(jobs, owner, poll_seconds)
    except KeyboardInterrupt:
        click.echo("Job runner interrupted; a job it was running is taken up again once its lease ends.")
        return
    click.echo("Job runner stopped.")

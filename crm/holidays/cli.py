"""`flask crm seed-holidays` and the job runner's federal-holidays job: the foundation calendar,
with the US federal holidays."""

from __future__ import annotations

from datetime import datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from crm.business_hours import parse_holidays
from crm.database import utcnow
from crm.holidays.services import Seeded, seed_foundation_calendar
from crm.timezones import local_time


def seed_holidays(now: datetime | None = None) -> Seeded:
    """Seed the foundation calendar for the running app: the year of ``now`` (the present when
    not given) in the display zone, the SLA_HOLIDAYS setting as extra closed days. Raises
    ValueError for a bad setting."""
    setting_days = parse_holidays(current_app.config.get("SLA_HOLIDAYS", ""))
    return seed_foundation_calendar(local_time(now or utcnow()).date(), setting_days)


def federal_holidays_job(now: datetime) -> str:
    """The federal-holidays job (crm.jobs.catalogue): once a new year has begun, the year that
    has come into the five-year range is loaded; the years loaded before stay as managers
    edited them, so a run with nothing new to load changes nothing."""
    return describe(seed_holidays(now))


def describe(seeded: Seeded) -> str:
    years = f"{seeded.years[0]}-{seeded.years[-1]}" if seeded.years else "none new"
    created = " created" if seeded.created else ""
    return f"Foundation holiday calendar{created}: {seeded.added} day(s) added (federal holiday years: {years})."


@click.command("seed-holidays")
@with_appcontext
def seed_holidays_command() -> None:
    """Create the foundation holiday calendar and load the US federal holidays of this year and
    the next four (years loaded before are left as managers edited them); safe to run again."""
    try:
        seeded = seed_holidays()
    except ValueError as error:
        raise click.ClickException(f"SLA_HOLIDAYS: {error}") from None
    click.echo(describe(seeded))

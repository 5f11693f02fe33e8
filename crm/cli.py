"""`flask --app wsgi crm ...` commands."""

from __future__ import annotations

import os
import secrets

import click
from flask.cli import AppGroup
from sqlalchemy import select

from crm.auth.passwords import MIN_PASSWORD_LENGTH, hash_password
from crm.backup.cli import backup_command, restore_command, verify_backup_command
from crm.extensions import db
from crm.holidays.cli import seed_holidays_command
from crm.imports.cli import import_command
from crm.inquiries.retention import purge_command
from crm.inquiries.sla_jobs import sla_command
from crm.jobs.cli import jobs_command
from crm.models import Organisation, Role, User
from crm.models.organisation import name_key
from crm.routing.cli import recount_open_loads_command, route_command

crm_cli = AppGroup("crm", help="Backbone CRM commands.")
crm_cli.add_command(route_command)
crm_cli.add_command(recount_open_loads_command)
crm_cli.add_command(jobs_command)
crm_cli.add_command(sla_command)
crm_cli.add_command(purge_command)
crm_cli.add_command(backup_command)
crm_cli.add_command(restore_command)
crm_cli.add_command(verify_backup_command)
crm_cli.add_command(seed_holidays_command)
crm_cli.add_command(import_command)


@crm_cli.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Only seed when the database has no users yet.")
def seed_demo_command(if_empty: bool) -> None:
    """Load the demo data; safe to run again."""
    from crm.demo import seed_demo

    if if_empty and db.session.scalar(select(User.id).limit(1)) is not None:
        click.echo("The database already has users; demo data not loaded (drop --if-empty to refresh it).")
        return
    password = os.environ.get("CRM_DEMO_PASSWORD") or None
    generated = password is None
    result = seed_demo(password or secrets.token_urlsafe(12), reset_existing_passwords=not generated, with_inquiries=True)
    click.echo(f"Demo data ready: {result.summary()}.")
    if result.users_created or not generated:
        click.echo("Demo logins:")
        for email in result.user_emails:
            click.echo(f"  {email}")
        if generated and result.users_created:
            click.echo(f"  password (generated, set CRM_DEMO_PASSWORD to choose one): {result.password}")
        elif not generated:
            click.echo("  password: the value of CRM_DEMO_PASSWORD")
    else:
        click.echo("Demo users already existed; their passwords are unchanged (set CRM_DEMO_PASSWORD to reset them).")
    from flask import current_app

    from crm.auth.gate import required_roles

    roles = sorted(role.value for role in required_roles(current_app.config["TWO_FACTOR_REQUIRED_ROLES"]))
    if roles:
        click.echo(
            f"Two-factor sign-in is required of: {', '.join(roles)}. They set up an authenticator app at "
            "first sign-in (TWO_FACTOR_REQUIRED_ROLES= in .env turns this off)."
        )


@crm_cli.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([role.value for role in Role]), default=Role.STAFF.value, show_default=True)
@click.option("--organisation", "organisation_name", default=None, help="Partner users: the organisation's name.")
@click.password_option(help="At least 12 characters; asked for when not given.")
def create_user_command(email: str, name: str, role: str, organisation_name: str | None, password: str) -> None:
    """Create a real user account."""
    from email_validator import EmailNotValidError, validate_email

    from crm.audit import commit
    from crm.auth.services import find_user_by_email, link_contact

    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise click.BadParameter(str(error), param_hint="--email") from None
    if find_user_by_email(email) is not None:
        raise click.BadParameter(f"a user with the email {email} already exists", param_hint="--email")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.BadParameter(f"use at least {MIN_PASSWORD_LENGTH} characters", param_hint="--password")
    organisation = None
    if organisation_name:
        organisation = db.session.scalar(select(Organisation).where(Organisation.name_key == name_key(organisation_name)))
        if organisation is None:
            raise click.BadParameter(f"no organisation is called {organisation_name!r}", param_hint="--organisation")
    if Role(role) is Role.PARTNER and organisation is None:
        raise click.BadParameter("a partner user needs --organisation", param_hint="--organisation")
    user = User(email=email, name=name.strip(), role=Role(role), password_hash=hash_password(password), organisation=organisation)
    link_contact(user)
    db.session.add(user)
    commit(actor=None)
    click.echo(f"Created {user.role.value} user {user.email}.")


@crm_cli.command("reset-two-factor")
@click.argument("email")
def reset_two_factor_command(email: str) -> None:
    """Forget a user's authenticator app and recovery codes (a lost phone): they sign in with
    their password and set it up again. Audited, with no actor."""
    from crm.auth import second_factor
    from crm.auth.services import find_user_by_email

    user = find_user_by_email(email)
    if user is None:
        raise click.BadParameter(f"no user has the email {email}", param_hint="EMAIL")
    if second_factor.reset(user, actor=None):
        click.echo(f"Two-factor sign-in of {user.email} was reset.")
    else:
        click.echo(f"{user.email} has no two-factor sign-in to reset.")

"""`flask crm import KIND FILE`: the same import as the pages, from a terminal."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from crm.extensions import db
from crm.imports import services
from crm.imports.kinds import KINDS
from crm.imports.reading import ImportFileError, read_file
from crm.models import User

# A file bigger than this is not read at all (the row limit would refuse it anyway).
MAX_FILE_BYTES = 50 * 1024 * 1024


@click.command("import")
@click.argument("kind", type=click.Choice(sorted(KINDS)))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mapping",
    help='Which column is which field: "Heading=field,Other heading=field". '
    "Without it, the mapping last used for these headings, or one guessed from them.",
)
@click.option("--dry-run", is_flag=True, help="Only say what would be created, updated or refused.")
@click.option("--user", "user_email", help="The user the import is recorded as (default: nobody).")
@with_appcontext
def import_command(kind: str, file: Path, mapping: str | None, dry_run: bool, user_email: str | None) -> None:
    """Import organisations, contacts, grants or interactions from a CSV or .xlsx FILE.

    Rows are matched to existing records by their external id, contacts by email and
    organisations by name, so importing the same file again changes nothing. Refused rows
    are listed with their reasons; the others are imported together, or none at all."""
    import_kind = KINDS[kind]
    actor = None
    if user_email:
        actor = db.session.scalar(select(User).where(User.email == user_email.strip().lower()))
        if actor is None:
            raise click.ClickException(f"No user has the email {user_email}.")
    if file.stat().st_size > MAX_FILE_BYTES:
        raise click.ClickException(f"{file.name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    try:
        sheet = read_file(file.read_bytes(), current_app.config["IMPORT_MAX_ROWS"])
    except ImportFileError as error:
        raise click.ClickException(f"{file.name}: {error}") from None
    try:
        chosen = services.parse_mapping_option(import_kind, mapping) if mapping else services.suggested_mapping(import_kind, sheet.headings)
    except ValueError as error:
        raise click.ClickException(f"--mapping: {error}") from None
    problems = services.mapping_problems(import_kind, sheet.headings, chosen)
    if problems:
        fields = ", ".join(item.name for item in import_kind.fields)
        raise click.ClickException(
            " ".join(problems)
            + f"\nThe file's headings: {', '.join(sheet.headings)}.\nThe fields of {kind}: {fields}."
            + '\nGive --mapping "Heading=field,...".'
        )
    for notice in sheet.notices:
        click.echo(f"Note: {notice}")
    try:
        result = services.run(import_kind, sheet, chosen, actor, filename=file.name, dry_run=dry_run)
    except services.ImportFailed as error:
        raise click.ClickException(str(error)) from None
    if not dry_run:
        services.remember_mapping(import_kind, sheet.headings, chosen)
        db.session.commit()
    for outcome in result.refused:
        click.echo(f"Row {outcome.number}: refused: {outcome.reason}")
    click.echo(("Dry run, nothing written: " if dry_run else f"Imported {file.name}: ") + result.summary() + ".")

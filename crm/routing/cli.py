"""The routing commands: `flask --app wsgi crm route` and `crm recount-open-loads`.

`route`, the routing simulator, prints one JSON object on stdout and nothing else, so scripts
can pipe it to jq. Like the "test routing" page it only reads: nobody's turn is used up.
`recount-open-loads` counts each contact's open inquiries afresh (services.recount_open_loads).
"""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from crm.database import utcnow
from crm.extensions import db
from crm.geography.zip_lookup import lookup_zip, normalise_zip
from crm.models import Topic
from crm.routing import services
from crm.routing.editing import topic_key


def find_topic(text: str) -> Topic | None:
    """The topic named `text` in English or Spanish (case and spacing do not count), or with that id."""
    wanted = text.strip()
    if wanted.isascii() and wanted.isdigit():
        return db.session.get(Topic, int(wanted))
    key = topic_key(wanted)
    for topic in db.session.scalars(select(Topic).order_by(Topic.sort_order, Topic.id)):
        if key in {topic_key(topic.name_en), topic_key(topic.name_es)}:
            return topic
    return None


def _topic_list() -> str:
    topics = db.session.scalars(select(Topic).order_by(Topic.sort_order, Topic.id))
    lines = [f"  {topic.id}: {topic.name_en} / {topic.name_es}" for topic in topics]
    return "\n".join(lines) if lines else "  (none: load the demo data or add topics on the routing pages)"


@click.command("route")
@click.option("--zip", "zip_code", required=True, help="Five-digit ZIP code, or ZIP+4.")
@click.option("--topic", "topic_text", default=None, help="Topic name in English or Spanish, or its id.")
@click.option("--language", type=click.Choice(["en", "es"]), default="en", show_default=True)
@with_appcontext
def route_command(zip_code: str, topic_text: str | None, language: str) -> None:
    """Show where an inquiry would be routed now, as JSON; changes nothing."""
    zip5 = normalise_zip(zip_code)
    if zip5 is None:
        raise click.BadParameter("use a five-digit ZIP code such as 63857, or ZIP+4", param_hint="--zip")
    if lookup_zip(zip5) is None:
        raise click.BadParameter(f"{zip5} is not a ZIP code we know", param_hint="--zip")
    topic = None
    if topic_text is not None:
        topic = find_topic(topic_text)
        if topic is None:
            raise click.BadParameter(
                f"no topic matches {topic_text!r}. Topics (id: English / Spanish):\n{_topic_list()}",
                param_hint="--topic",
            )
    try:
        outcome = services.decide(zip5, topic, language, utcnow())
    except services.NoFallbackContact as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(services.describe(outcome), ensure_ascii=False))


@click.command("recount-open-loads")
@with_appcontext
def recount_open_loads_command() -> None:
    """Count every contact's open inquiries afresh, for routing's least-loaded choice.

    The database keeps these counts itself as inquiries change; this is for a database loaded
    or emptied with its triggers bypassed. Safe to run at any time: inquiries wait for it."""
    wrong = services.recount_open_loads()
    db.session.commit()
    click.echo(f"Recounted every contact's open inquiries: {wrong} kept count(s) were wrong and are corrected.")

"""`flask --app wsgi crm route`: one JSON object on stdout, errors on stderr, nothing changed."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from sqlalchemy import func, select

from crm.cli import crm_cli
from crm.demo import BOOTHEEL_BABIES, FOUNDATION, GENERATE_HEALTH, seed_demo
from crm.extensions import db
from crm.models import AuditEvent, Contact, Topic
from crm.routing.cli import route_command

KEYS = {"zip", "state", "county", "rule", "fallback", "organization", "contact", "contact_email", "reason"}


@pytest.fixture
def demo(app: Flask) -> None:
    seed_demo("x" * 12)


@pytest.fixture
def route(app: Flask):
    def run(*args: str):
        return app.test_cli_runner().invoke(route_command, list(args))

    return run


def answer_of(result) -> dict:
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.count("\n") == 1  # exactly one line: one JSON object
    answer = json.loads(result.stdout)
    assert isinstance(answer, dict)
    assert set(answer) == KEYS
    return answer


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--zip", "63857"], {"organization": BOOTHEEL_BABIES, "contact": "Lucía Ramírez",
                              "contact_email": "lucia.ramirez@bootheel-babies.example.org",
                              "rule": "Bootheel families and partners", "county": "Dunklin County", "state": "MO"}),
        (["--zip", "63830", "--language", "es"], {"organization": BOOTHEEL_BABIES, "contact": "Lucía Ramírez",
                                                  "county": "Pemiscot County"}),
        (["--zip", "63103"], {"organization": GENERATE_HEALTH, "contact": "Keisha Thompson",
                              "contact_email": "keisha.thompson@generate-health.example.org",
                              "county": "St. Louis City", "fallback": False}),
        (["--zip", "63105", "--language", "es"], {"organization": GENERATE_HEALTH, "contact": "Ana Morales",
                                                  "contact_email": "ana.morales@generate-health.example.org",
                                                  "county": "St. Louis County"}),
        (["--zip", "64106"], {"organization": FOUNDATION, "contact": "Riley Brooks", "rule": None, "fallback": True,
                              "contact_email": "riley.brooks@foundation.example.org", "county": "Jackson County"}),
        (["--zip", "62201"], {"organization": FOUNDATION, "contact": "Riley Brooks", "state": "IL",
                              "reason": "ZIP 62201 is in Illinois, outside our counties -> no rule matched -> "
                                        "fallback Riley Brooks"}),
        (["--zip", "63857", "--topic", "Media"], {"organization": FOUNDATION, "contact": "Sam Carter",
                                                  "contact_email": "sam.carter@foundation.example.org",
                                                  "rule": "Media requests"}),
        (["--zip", "63857-1234", "--topic", "grants AND funding"], {"zip": "63857", "contact": "Jordan Ellis"}),
        (["--zip", "64106", "--topic", "medios de comunicación", "--language", "es"], {"contact": "Sam Carter"}),
        (["--zip", "63103", "--topic", "Support for my family", "--language", "en"], {"contact": "Keisha Thompson"}),
    ],
)  # fmt: skip
def test_route_prints_one_json_object(route, demo, args, expected):
    answer = answer_of(route(*args))

    assert {key: answer[key] for key in expected} == expected
    assert answer["reason"]


def test_topic_by_id(route, demo):
    media = db.session.scalar(select(Topic).where(Topic.name_en == "Media"))
    assert answer_of(route("--zip", "63103", "--topic", str(media.id)))["rule"] == "Media requests"


def test_output_keeps_accents_readable(route, demo):
    result = route("--zip", "63857", "--language", "es")
    assert "Lucía Ramírez" in result.stdout
    assert "\\u" not in result.stdout


def test_reached_through_the_crm_group(app: Flask, demo):
    if "route" not in crm_cli.commands:
        crm_cli.add_command(route_command)

    result = app.test_cli_runner().invoke(args=["crm", "route", "--zip", "63834", "--topic", "Other"])

    assert answer_of(result)["organization"] == BOOTHEEL_BABIES


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--zip", "6385"], "use a five-digit ZIP code"),
        (["--zip", "hello"], "use a five-digit ZIP code"),
        (["--zip", "00000"], "00000 is not a ZIP code we know"),
        (["--zip", "63857", "--topic", "Safe sleep"], "no topic matches 'Safe sleep'"),
        (["--zip", "63857", "--topic", "999999"], "no topic matches '999999'"),
        (["--zip", "63857", "--language", "fr"], "'fr' is not one of 'en', 'es'"),
        ([], "Missing option '--zip'"),
    ],
)
def test_bad_input_is_a_usage_error(route, demo, args, message):
    result = route(*args)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr


def test_unknown_topic_lists_the_topics(route, demo):
    result = route("--zip", "63857", "--topic", "Safe sleep")

    for name in ("Support for my family / Apoyo para mi familia", "Media / Medios de comunicación", "Other / Otro"):
        assert name in result.stderr


def test_no_fallback_contact_is_an_error(route, demo):
    db.session.scalar(select(Contact).where(Contact.is_inquiry_fallback.is_(True))).is_inquiry_fallback = False
    db.session.commit()

    result = route("--zip", "64106")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "No fallback contact is set" in result.stderr


def test_route_changes_nothing(route, demo):
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))

    first = answer_of(route("--zip", "63103"))
    second = answer_of(route("--zip", "63103"))

    assert first == second  # the round-robin did not move
    db.session.expire_all()
    assert all(contact.last_assigned_at is None for contact in db.session.scalars(select(Contact)))
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events

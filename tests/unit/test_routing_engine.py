from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from crm.routing.engine import (
    Candidate,
    Decision,
    RoutingRequest,
    Rule,
    explain_steps,
    is_available,
    route,
    rule_matches,
)

NOW = datetime(2025, 6, 2, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
BOOTHEEL, ST_LOUIS = 1, 2
SAFE_SLEEP, GENERAL = 10, 11
BBF, STL_ORG, HQ = 100, 200, 300  # organisation ids
ORG_NAMES = {BBF: "Bootheel Babies & Families", STL_ORG: "St. Louis Moms", HQ: "Initiative HQ"}


def request(**overrides: object) -> RoutingRequest:
    base = RoutingRequest(
        zip5="63857",
        state="MO",
        county_fips="29069",
        county_name="Dunklin County",
        region_ids=frozenset({BOOTHEEL}),
        region_names=("Bootheel",),
        topic_id=GENERAL,
        topic_name="General question",
        language="en",
    )
    return replace(base, **overrides)


def out_of_state() -> RoutingRequest:
    return request(
        zip5="62201",
        state="IL",
        county_fips=None,
        county_name="St. Clair County",
        region_ids=frozenset(),
        region_names=(),
    )


def rule(rule_id: int, priority: int = 100, **overrides: object) -> Rule:
    base = Rule(
        id=rule_id,
        name=f"rule {rule_id}",
        priority=priority,
        topic_ids=frozenset(),
        region_ids=frozenset(),
        county_fips=frozenset(),
        languages=frozenset(),
        target_contact_id=None,
        target_organisation_id=BBF,
        target_label="Bootheel Babies & Families",
    )
    return replace(base, **overrides)


def person(contact_id: int, org: int | None = BBF, **overrides: object) -> Candidate:
    base = Candidate(
        id=contact_id,
        name=f"Contact {contact_id}",
        email=f"c{contact_id}@example.org",
        organisation_id=org,
        organisation_name=ORG_NAMES.get(org or 0),
        active=True,
        accepts_inquiries=True,
        languages=frozenset({"en"}),
        away_from=None,
        away_until=None,
        open_inquiries=0,
        last_assigned_at=None,
    )
    return replace(base, **overrides)


FALLBACK = person(999, org=HQ, name="Pat Fallback")

# A typical setup: a safe-sleep rule for everyone (named nurse), then region rules.
NURSE = person(1, org=None, name="Nurse Ann")
BBF_STAFF = (
    person(2, name="Bea", open_inquiries=2),
    person(3, name="Maria", languages=frozenset({"en", "es"}), open_inquiries=3),
    person(4, name="Rosa", languages=frozenset({"es"}), open_inquiries=1),
)
STL_STAFF = (person(5, org=STL_ORG, name="Lou"),)
RULES = (
    rule(1, 20, name="Bootheel families", region_ids=frozenset({BOOTHEEL})),
    rule(
        2,
        20,
        name="St. Louis families",
        region_ids=frozenset({ST_LOUIS}),
        target_organisation_id=STL_ORG,
        target_label="St. Louis Moms",
    ),
    rule(
        3,
        10,
        name="Safe sleep",
        topic_ids=frozenset({SAFE_SLEEP}),
        target_contact_id=NURSE.id,
        target_organisation_id=None,
        target_label="Nurse Ann",
    ),
)
EVERYONE = (NURSE, *BBF_STAFF, *STL_STAFF)


def decide(
    req: RoutingRequest,
    candidates: Sequence[Candidate] = EVERYONE,
    rules: Sequence[Rule] = RULES,
    now: datetime = NOW,
) -> Decision:
    return route(req, rules, candidates, FALLBACK, now)


# --- rule matching and priority ---


@pytest.mark.parametrize(
    ("conditions", "matches"),
    [
        ({}, True),
        ({"topic_ids": frozenset({GENERAL})}, True),
        ({"topic_ids": frozenset({SAFE_SLEEP})}, False),
        ({"region_ids": frozenset({ST_LOUIS, BOOTHEEL})}, True),
        ({"region_ids": frozenset({ST_LOUIS})}, False),
        ({"county_fips": frozenset({"29069", "29155"})}, True),
        ({"county_fips": frozenset({"29155"})}, False),
        ({"languages": frozenset({"en"})}, True),
        ({"languages": frozenset({"es"})}, False),
        ({"topic_ids": frozenset({GENERAL}), "languages": frozenset({"es"})}, False),
        ({"topic_ids": frozenset({GENERAL}), "county_fips": frozenset({"29069"})}, True),
    ],
)
def test_rule_matches_each_condition(conditions: dict[str, frozenset], matches: bool) -> None:
    assert rule_matches(rule(1, **conditions), request()) is matches


def test_region_condition_never_matches_request_without_region() -> None:
    assert not rule_matches(rule(1, region_ids=frozenset({BOOTHEEL})), out_of_state())
    assert rule_matches(rule(1, languages=frozenset({"en"})), out_of_state())


def test_rule_needs_exactly_one_target() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        rule(1, target_contact_id=7)
    with pytest.raises(ValueError, match="exactly one"):
        rule(1, target_organisation_id=None)


@pytest.mark.parametrize(
    ("topic", "expected_contact", "expected_rule"),
    [(SAFE_SLEEP, "Nurse Ann", 3), (GENERAL, "Bea", 1)],
)
def test_topic_rule_beats_region_rule_by_priority(topic: int, expected_contact: str, expected_rule: int) -> None:
    decision = decide(request(topic_id=topic))
    assert decision.contact.name == expected_contact
    assert decision.rule is not None
    assert decision.rule.id == expected_rule
    assert not decision.used_fallback


def test_equal_priority_is_decided_by_rule_id() -> None:
    rules = (
        rule(9, 5, target_organisation_id=STL_ORG, target_label="St. Louis Moms"),
        rule(4, 5),
    )
    assert decide(request(), rules=rules).contact.organisation_id == BBF


def test_named_contact_reason_and_organisation() -> None:
    decision = decide(request(topic_id=SAFE_SLEEP))
    assert decision.reason == (
        "ZIP 63857 -> Dunklin County -> Bootheel region -> rule 'Safe sleep' -> Nurse Ann (named in the rule)"
    )
    assert decision.organisation_id is None


# --- choosing within an organisation ---


@pytest.mark.parametrize(
    ("language", "expected", "why"),
    [
        ("en", "Bea", "the contact with the fewest open inquiries who speaks English (2 open)"),
        ("es", "Rosa", "the contact with the fewest open inquiries who speaks Spanish (1 open)"),
    ],
)
def test_language_first_then_fewest_open(language: str, expected: str, why: str) -> None:
    decision = decide(request(language=language))
    assert decision.contact.name == expected
    assert decision.organisation_id == BBF
    assert decision.organisation_name == "Bootheel Babies & Families"
    assert decision.reason == (
        "ZIP 63857 -> Dunklin County -> Bootheel region -> rule 'Bootheel families' "
        f"-> Bootheel Babies & Families -> {expected}, {why}"
    )


def test_speaker_preferred_even_with_more_open_inquiries() -> None:
    staff = (BBF_STAFF[0], BBF_STAFF[1])  # Bea (en, 2 open), Maria (en+es, 3 open)
    decision = decide(request(language="es"), candidates=staff)
    assert decision.contact.name == "Maria"
    assert decision.reason.endswith("Maria, the only available contact who speaks Spanish")


def test_nobody_speaks_the_language() -> None:
    staff = (person(2, name="Bea", open_inquiries=2), person(6, name="Cal", open_inquiries=1))
    decision = decide(request(language="es"), candidates=staff)
    assert decision.contact.name == "Cal"
    assert decision.reason.endswith(
        "Cal, the contact with the fewest open inquiries (1 open); nobody available speaks Spanish"
    )


@pytest.mark.parametrize(
    ("last_assigned", "expected", "tie_break"),
    [
        ((NOW - HOUR, NOW - 2 * HOUR, NOW - 3 * HOUR), 8, "least recently assigned"),
        ((NOW - HOUR, None, NOW - 3 * HOUR), 7, "least recently assigned"),
        ((None, None, NOW), 6, "all equally due a turn, so the contact added first"),
        ((NOW, NOW, NOW), 6, "all equally due a turn, so the contact added first"),
    ],
)
def test_round_robin_tie_break(last_assigned: tuple, expected: int, tie_break: str) -> None:
    staff = [person(6 + i, open_inquiries=1, last_assigned_at=t) for i, t in enumerate(last_assigned)]
    decision = decide(request(), candidates=staff)
    assert decision.contact.id == expected
    assert decision.reason.endswith(
        f"next in round-robin among 3 contacts who speak English, each with 1 open ({tie_break})"
    )


# --- availability ---


@pytest.mark.parametrize(
    ("away_from", "away_until", "available"),
    [
        (None, None, True),
        (NOW - HOUR, NOW + HOUR, False),
        (NOW - 2 * HOUR, NOW - HOUR, True),  # back already
        (NOW + HOUR, NOW + 2 * HOUR, True),  # leaves later
        (None, NOW + HOUR, False),  # open start
        (None, NOW - HOUR, True),
        (NOW - HOUR, None, False),  # open end: away until further notice
        (NOW + HOUR, None, True),
        (NOW, NOW + HOUR, False),  # window includes its start...
        (NOW - HOUR, NOW, True),  # ...but not its end
    ],
)
def test_out_of_office_window(away_from: datetime | None, away_until: datetime | None, available: bool) -> None:
    assert is_available(person(1, away_from=away_from, away_until=away_until), NOW) is available


@pytest.mark.parametrize(
    "change",
    [
        {"active": False},
        {"accepts_inquiries": False},
        {"away_from": NOW - HOUR, "away_until": NOW + HOUR},
    ],
)
def test_unavailable_contacts_are_skipped_within_organisation(change: dict[str, object]) -> None:
    staff = (replace(BBF_STAFF[0], **change), BBF_STAFF[1])  # Bea would win on open count
    assert decide(request(), candidates=staff).contact.name == "Maria"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"active": False}, "inactive"),
        ({"accepts_inquiries": False}, "not accepting inquiries"),
        (
            {"away_from": NOW - HOUR, "away_until": datetime(2025, 6, 9, 14, tzinfo=UTC)},
            "out of office until 2025-06-09 14:00 UTC",
        ),
        ({"away_from": NOW - HOUR}, "out of office"),
    ],
)
def test_unavailable_named_contact_falls_through_to_next_rule(change: dict[str, object], why: str) -> None:
    candidates = (replace(NURSE, **change), *BBF_STAFF)
    decision = decide(request(topic_id=SAFE_SLEEP), candidates=candidates)
    assert decision.rule is not None
    assert decision.rule.name == "Bootheel families"
    assert decision.contact.name == "Bea"
    assert decision.reason.startswith(
        "ZIP 63857 -> Dunklin County -> Bootheel region "
        f"-> rule 'Safe sleep' skipped: Nurse Ann is {why} "
        "-> rule 'Bootheel families' -> Bootheel Babies & Families -> Bea, "
    )


def test_named_contact_missing_from_candidates_is_skipped() -> None:
    decision = decide(request(topic_id=SAFE_SLEEP), candidates=BBF_STAFF)
    assert "rule 'Safe sleep' skipped: Nurse Ann is unknown -> rule 'Bootheel families'" in decision.reason


# --- fallback ---


def test_nobody_available_goes_to_fallback() -> None:
    closed = tuple(replace(c, accepts_inquiries=False) for c in EVERYONE)
    decision = decide(request(topic_id=SAFE_SLEEP), candidates=closed)
    assert decision.used_fallback
    assert decision.contact == FALLBACK
    assert decision.rule is None
    assert decision.organisation_id == HQ
    assert decision.organisation_name == "Initiative HQ"
    assert decision.reason == (
        "ZIP 63857 -> Dunklin County -> Bootheel region "
        "-> rule 'Safe sleep' skipped: Nurse Ann is not accepting inquiries "
        "-> rule 'Bootheel families' skipped: "
        "nobody at Bootheel Babies & Families is available "
        "-> no matching rule could take it -> fallback Pat Fallback"
    )


def test_out_of_state_goes_to_fallback() -> None:
    decision = decide(out_of_state())
    assert decision.used_fallback
    assert decision.reason == (
        "ZIP 62201 is in Illinois, outside our counties -> no rule matched -> fallback Pat Fallback"
    )


def test_away_fallback_still_takes_it_and_says_so() -> None:
    away = replace(FALLBACK, away_from=NOW - HOUR)
    decision = route(out_of_state(), RULES, EVERYONE, away, NOW)
    assert decision.contact == away
    assert decision.reason.endswith("-> fallback Pat Fallback (used although out of office)")


def test_no_rules_at_all() -> None:
    decision = decide(request(), rules=())
    assert decision.reason == (
        "ZIP 63857 -> Dunklin County -> Bootheel region -> no rule matched -> fallback Pat Fallback"
    )


# --- explaining where an inquiry comes from ---


@pytest.mark.parametrize(
    ("req", "steps"),
    [
        (request(), ["ZIP 63857", "Dunklin County", "Bootheel region"]),
        (
            request(
                zip5="63103",
                county_fips="29510",
                county_name="St. Louis City",
                region_ids=frozenset({ST_LOUIS, 3}),
                region_names=("St. Louis", "Urban"),
            ),
            ["ZIP 63103", "St. Louis City", "St. Louis, Urban regions"],
        ),
        (
            request(
                zip5="64106",
                county_fips="29095",
                county_name="Jackson County",
                region_ids=frozenset(),
                region_names=(),
            ),
            ["ZIP 64106", "Jackson County", "not in any of our regions"],
        ),
        (request(zip5=None), ["Dunklin County", "Bootheel region"]),
        (out_of_state(), ["ZIP 62201 is in Illinois, outside our counties"]),
        (
            request(
                zip5="64162",
                county_fips=None,
                county_name=None,
                region_ids=frozenset(),
                region_names=(),
            ),
            ["ZIP 64162 is in Missouri but its county is unknown"],
        ),
        (
            request(
                zip5="99999",
                state=None,
                county_fips=None,
                county_name=None,
                region_ids=frozenset(),
                region_names=(),
            ),
            ["ZIP 99999 is not a known ZIP, county unknown"],
        ),
        (
            request(
                zip5=None,
                state=None,
                county_fips=None,
                county_name=None,
                region_ids=frozenset(),
                region_names=(),
            ),
            ["No ZIP or county given"],
        ),
    ],
)
def test_explain_steps(req: RoutingRequest, steps: list[str]) -> None:
    assert explain_steps(req) == steps


# --- round-robin fairness over many inquiries ---
# The engine is stateless: like the real caller, these tests bump open_inquiries and set
# last_assigned_at on the chosen contact after every decision.


def simulate(staff: list[Candidate], inquiries: int, *, close_each: bool) -> list[int]:
    picks = []
    for n in range(inquiries):
        now = NOW + timedelta(minutes=n)
        chosen = route(request(), RULES, staff, FALLBACK, now).contact
        picks.append(chosen.id)
        open_delta = 0 if close_each else 1  # closing right away keeps everyone's count equal
        staff = [
            replace(c, open_inquiries=c.open_inquiries + open_delta, last_assigned_at=now) if c.id == chosen.id else c
            for c in staff
        ]
    return picks


def test_round_robin_spreads_evenly_as_open_counts_grow() -> None:
    staff = [person(i) for i in (21, 22, 23)]
    picks = simulate(staff, 300, close_each=False)
    assert Counter(picks) == {21: 100, 22: 100, 23: 100}


def test_round_robin_alternates_when_open_counts_stay_equal() -> None:
    staff = [person(i, open_inquiries=2) for i in (21, 22, 23)]
    picks = simulate(staff, 300, close_each=True)
    assert Counter(picks) == {21: 100, 22: 100, 23: 100}
    assert picks[:6] == [21, 22, 23, 21, 22, 23]
    assert all(len(set(picks[i : i + 3])) == 3 for i in range(len(picks) - 2))


# --- topics and the organisation's backup ---

BACKUP = person(6, name="Dee Backup")
AWAY = {"away_from": NOW - HOUR, "away_until": NOW + 24 * HOUR}
BBF_ONLY = (rule(1, 20, name="Bootheel families", region_ids=frozenset({BOOTHEEL})),)


def bootheel(staff: Sequence[Candidate], backup: Candidate | None = BACKUP, **request_overrides: object) -> Decision:
    people = (*staff, backup) if backup else tuple(staff)
    backups = {BBF: backup.id} if backup else {}
    return route(request(**request_overrides), BBF_ONLY, people, FALLBACK, NOW, backups=backups)


@pytest.mark.parametrize(
    ("staff", "request_overrides", "expected", "reason_ends"),
    [
        # Someone there fits: the backup is kept for what nobody else can take.
        ((person(2, name="Bea", open_inquiries=5),), {}, "Bea", "Bea, the only available contact who speaks English"),
        # Everyone away.
        ((person(2, name="Bea", **AWAY),), {}, "Dee Backup",
         "backup for Bootheel Babies & Families: nobody available -> Dee Backup"),
        # Nobody takes inquiries at all.
        ((person(2, name="Bea", accepts_inquiries=False),), {}, "Dee Backup",
         "backup for Bootheel Babies & Families: nobody available -> Dee Backup"),
        # Nobody speaks the language.
        ((person(2, name="Bea"),), {"language": "es"}, "Dee Backup",
         "backup for Bootheel Babies & Families: nobody available speaks Spanish -> Dee Backup"),
        # Nobody handles the topic (Bea handles safe sleep only; the backup takes any topic).
        ((person(2, name="Bea", topic_ids=frozenset({SAFE_SLEEP})),), {}, "Dee Backup",
         "backup for Bootheel Babies & Families: nobody available handles General question -> Dee Backup"),
        # A contact with no topics handles them all.
        ((person(2, name="Bea", topic_ids=frozenset()),), {}, "Bea", "Bea, the only available contact who speaks English"),
        # The one who handles the topic is chosen over one with fewer open inquiries who does not.
        ((person(2, name="Bea", topic_ids=frozenset({SAFE_SLEEP})), person(3, name="Cy", open_inquiries=5)),
         {}, "Cy", "Cy, the only available contact who speaks English"),
    ],
)
def test_backup_takes_what_nobody_else_can(
    staff: tuple[Candidate, ...], request_overrides: dict, expected: str, reason_ends: str
) -> None:
    decision = bootheel(staff, **request_overrides)
    assert decision.contact.name == expected
    assert decision.reason.endswith(reason_ends), decision.reason
    assert not decision.used_fallback
    assert decision.organisation_id == BBF


@pytest.mark.parametrize(
    ("backup", "staff", "expected", "skip"),
    [
        # No backup named: a contact who does not speak the language still beats the fallback.
        (None, (person(2, name="Bea"),), "Bea", None),
        # No backup and everyone away: on to the fallback, as before.
        (None, (person(2, name="Bea", **AWAY),), "Pat Fallback",
         "skipped: nobody at Bootheel Babies & Families is available ->"),
        # The backup is away too: the fallback, and the reason says the backup was tried.
        (replace(BACKUP, **AWAY), (person(2, name="Bea", **AWAY),), "Pat Fallback",
         "skipped: nobody at Bootheel Babies & Families is available; its backup is not available either"),
        # A backup who has since moved to another organisation is no backup.
        (replace(BACKUP, organisation_id=STL_ORG), (person(2, name="Bea", **AWAY),), "Pat Fallback",
         "its backup is not available either"),
    ],
)
def test_without_a_usable_backup(backup: Candidate | None, staff: tuple, expected: str, skip: str | None) -> None:
    decision = bootheel(staff, backup=backup, language="es")
    assert decision.contact.name == expected
    if skip:
        assert skip in decision.reason
        assert decision.used_fallback


def test_backup_reason_in_full() -> None:
    decision = bootheel((person(2, name="Bea", **AWAY),))
    assert decision.reason == (
        "ZIP 63857 -> Dunklin County -> Bootheel region -> rule 'Bootheel families' -> Bootheel Babies & Families"
        " -> backup for Bootheel Babies & Families: nobody available -> Dee Backup"
    )


# --- contacts who passed the inquiry on ---


@pytest.mark.parametrize(
    ("passed", "request_overrides", "expected", "reason_ends"),
    [
        # Spanish from the Bootheel: Maria (fewest open among Spanish speakers: Rosa) first...
        ((), {"language": "es"}, "Rosa", "Rosa, the contact with the fewest open inquiries who speaks Spanish (1 open)"),
        # ...Rosa passed: the other Spanish speaker.
        ((4,), {"language": "es"}, "Maria", "Maria, the only available contact who speaks Spanish"),
        # Both passed: nobody there speaks Spanish, so the backup.
        ((3, 4), {"language": "es"}, "Dee Backup", "backup for Bootheel Babies & Families: nobody available speaks Spanish -> Dee Backup"),
        # The backup passed too: better someone there than nobody, in English.
        ((3, 4, 6), {"language": "es"}, "Bea", "nobody available speaks Spanish"),
        # Everyone there passed: the rule gives up and the fallback takes it.
        ((2, 3, 4, 6), {}, "Pat Fallback", "no matching rule could take it -> fallback Pat Fallback"),
        # Everyone, the fallback included: it still has to be someone's, and the reason says so.
        ((2, 3, 4, 6, 999), {}, "Pat Fallback", "fallback Pat Fallback (used although they already passed it on)"),
    ],
)
def test_who_passed_is_never_offered_it_again(passed, request_overrides, expected, reason_ends) -> None:
    people = (*BBF_STAFF, BACKUP)
    decision = route(
        request(**request_overrides), BBF_ONLY, people, FALLBACK, NOW, backups={BBF: BACKUP.id}, excluded=frozenset(passed)
    )

    assert decision.contact.name == expected
    assert decision.reason.endswith(reason_ends)


def test_a_rule_naming_someone_who_passed_is_skipped_with_the_reason() -> None:
    decision = route(request(topic_id=SAFE_SLEEP), RULES, EVERYONE, FALLBACK, NOW, excluded=frozenset({NURSE.id}))

    assert decision.contact.organisation_id == BBF
    assert "rule 'Safe sleep' skipped: Nurse Ann is someone who already passed it on" in decision.reason

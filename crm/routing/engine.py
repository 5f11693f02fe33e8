"""Route a public inquiry to exactly one contact.

Pure functions over frozen dataclasses: the caller loads rules and candidates, calls
route(), stores the Decision, and then bumps the chosen contact's open_inquiries and
sets their last_assigned_at to `now`. The engine keeps no state of its own, so fair
round-robin within an organisation depends on the caller doing that update.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from crm.geography.zip_lookup import state_name
from crm.languages import language_name

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RoutingRequest:
    zip5: str | None
    state: str | None
    county_fips: str | None
    county_name: str | None
    region_ids: frozenset[int]  # regions containing the county
    region_names: tuple[str, ...]
    topic_id: int | None
    topic_name: str | None
    language: str  # "en" or "es"


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    priority: int  # lower number = tried first; ties by id
    topic_ids: frozenset[int]  # each condition set: empty = no condition
    region_ids: frozenset[int]
    county_fips: frozenset[str]
    languages: frozenset[str]
    target_contact_id: int | None
    target_organisation_id: int | None
    target_label: str

    def __post_init__(self) -> None:
        if (self.target_contact_id is None) == (self.target_organisation_id is None):
            raise ValueError(f"rule {self.id} needs exactly one target")


@dataclass(frozen=True)
class Candidate:
    id: int
    name: str
    email: str
    organisation_id: int | None
    organisation_name: str | None
    active: bool
    accepts_inquiries: bool
    languages: frozenset[str]
    # Out of office during [away_from, away_until), tz-aware UTC; either end may be None.
    away_from: datetime | None
    away_until: datetime | None
    open_inquiries: int
    last_assigned_at: datetime | None
    # The topics they handle where their organisation splits them; empty = every topic.
    topic_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Decision:
    contact: Candidate
    rule: Rule | None
    organisation_id: int | None
    organisation_name: str | None
    used_fallback: bool
    reason: str  # one human-readable line


def unavailable_reason(candidate: Candidate, now: datetime) -> str | None:
    """Why the candidate cannot take an inquiry at `now` (reads after "is"), or None."""
    if not candidate.active:
        return "inactive"
    if not candidate.accepts_inquiries:
        return "not accepting inquiries"
    if candidate.away_from is None and candidate.away_until is None:
        return None
    started = candidate.away_from is None or candidate.away_from <= now
    not_back = candidate.away_until is None or now < candidate.away_until
    if started and not_back:
        if candidate.away_until is None:
            return "out of office"
        back = candidate.away_until.astimezone(UTC)
        return f"out of office until {back:%Y-%m-%d %H:%M} UTC"
    return None


def is_available(candidate: Candidate, now: datetime) -> bool:
    return unavailable_reason(candidate, now) is None


def handles_topic(candidate: Candidate, topic_id: int | None) -> bool:
    """A contact with no topics handles every topic, and every contact handles an inquiry without one."""
    return topic_id is None or not candidate.topic_ids or topic_id in candidate.topic_ids


def rule_matches(rule: Rule, request: RoutingRequest) -> bool:
    return (
        (not rule.topic_ids or request.topic_id in rule.topic_ids)
        and (not rule.region_ids or not rule.region_ids.isdisjoint(request.region_ids))
        and (not rule.county_fips or request.county_fips in rule.county_fips)
        and (not rule.languages or request.language in rule.languages)
    )


def explain_steps(request: RoutingRequest) -> list[str]:
    """Where the inquiry comes from: the opening steps of every Decision.reason."""
    where = f"ZIP {request.zip5}" if request.zip5 else "The address"
    if request.state and request.state.upper() != "MO":
        return [f"{where} is in {state_name(request.state)}, outside our counties"]
    if request.county_name:
        steps = [f"ZIP {request.zip5}"] if request.zip5 else []
        steps.append(request.county_name)
    elif request.state:
        return [f"{where} is in Missouri but its county is unknown"]
    elif request.zip5:
        return [f"ZIP {request.zip5} is not a known ZIP, county unknown"]
    else:
        return ["No ZIP or county given"]
    names = request.region_names
    if not names:
        steps.append("not in any of our regions")
    elif len(names) == 1:
        steps.append(f"{names[0]} region")
    else:
        steps.append(f"{', '.join(names)} regions")
    return steps


def route(
    request: RoutingRequest,
    rules: Sequence[Rule],
    candidates: Sequence[Candidate],
    fallback: Candidate,
    now: datetime,
    backups: Mapping[int, int] | None = None,
    excluded: frozenset[int] = frozenset(),
) -> Decision:
    """``backups`` maps an organisation's id to its backup contact's id: who takes what
    nobody else there can (all away, nobody speaks the language or handles the topic),
    before the rules move on and, in the end, the foundation's fallback.

    ``excluded`` are the contacts who already passed this inquiry on: no rule, organisation
    or backup offers it to them again. Only the fallback may still be one of them, as an
    inquiry is never dropped; the reason then says so."""
    steps = explain_steps(request)
    backups = backups or {}
    named = {c.id: c for c in candidates}
    candidates = [c for c in candidates if c.id not in excluded]
    by_id = {c.id: c for c in candidates}
    any_matched = False
    for rule in sorted(rules, key=lambda r: (r.priority, r.id)):
        if not rule_matches(rule, request):
            continue
        any_matched = True
        if rule.target_contact_id is not None:
            contact = by_id.get(rule.target_contact_id)
            if rule.target_contact_id in excluded and rule.target_contact_id in named:
                problem = "someone who already passed it on"
            else:
                problem = "unknown" if contact is None else unavailable_reason(contact, now)
            if contact is not None and problem is None:
                steps += [f"rule '{rule.name}'", f"{contact.name} (named in the rule)"]
                return Decision(
                    contact=contact,
                    rule=rule,
                    organisation_id=contact.organisation_id,
                    organisation_name=contact.organisation_name,
                    used_fallback=False,
                    reason=" -> ".join(steps),
                )
            steps.append(f"rule '{rule.name}' skipped: {rule.target_label} is {problem}")
        else:
            backup_id = backups.get(rule.target_organisation_id) if rule.target_organisation_id else None
            picked = _pick_from_organisation(rule.target_organisation_id, request, candidates, now, backup_id=backup_id)
            if isinstance(picked, str):
                backup = _backup_of(rule.target_organisation_id, backups, by_id, now)
                if backup is not None:
                    organisation = backup.organisation_name or rule.target_label
                    steps += [f"rule '{rule.name}'", rule.target_label, f"backup for {organisation}: {picked}", backup.name]
                    return Decision(
                        contact=backup,
                        rule=rule,
                        organisation_id=rule.target_organisation_id,
                        organisation_name=organisation,
                        used_fallback=False,
                        reason=" -> ".join(steps),
                    )
                picked = _pick_from_organisation(
                    rule.target_organisation_id, request, candidates, now, backup_id=backup_id, any_language=True
                )
            if not isinstance(picked, str):
                contact, why = picked
                steps += [f"rule '{rule.name}'", rule.target_label, f"{contact.name}, {why}"]
                return Decision(
                    contact=contact,
                    rule=rule,
                    organisation_id=rule.target_organisation_id,
                    organisation_name=contact.organisation_name or rule.target_label,
                    used_fallback=False,
                    reason=" -> ".join(steps),
                )
            gap = f"nobody at {rule.target_label} is available" if picked == "nobody available" else f"{picked} at {rule.target_label}"
            if rule.target_organisation_id in backups:
                gap += "; its backup is not available either"
            steps.append(f"rule '{rule.name}' skipped: {gap}")

    steps.append("no matching rule could take it" if any_matched else "no rule matched")
    # An inquiry must never be dropped, so the fallback takes it even when unavailable.
    problem = "they already passed it on" if fallback.id in excluded else unavailable_reason(fallback, now)
    note = f" (used although {problem})" if problem else ""
    steps.append(f"fallback {fallback.name}{note}")
    return Decision(
        contact=fallback,
        rule=None,
        organisation_id=fallback.organisation_id,
        organisation_name=fallback.organisation_name,
        used_fallback=True,
        reason=" -> ".join(steps),
    )


def _round_robin_key(candidate: Candidate) -> tuple[bool, datetime, int]:
    last = candidate.last_assigned_at
    return (last is not None, last or _NEVER, candidate.id)


def _backup_of(
    organisation_id: int | None, backups: Mapping[int, int], by_id: Mapping[int, Candidate], now: datetime
) -> Candidate | None:
    """The organisation's backup when they still belong to it and are available now."""
    if organisation_id is None or organisation_id not in backups:
        return None
    backup = by_id.get(backups[organisation_id])
    if backup is None or backup.organisation_id != organisation_id or not is_available(backup, now):
        return None
    return backup


def _pick_from_organisation(
    organisation_id: int | None,
    request: RoutingRequest,
    candidates: Sequence[Candidate],
    now: datetime,
    *,
    backup_id: int | None = None,
    any_language: bool = False,
) -> tuple[Candidate, str] | str:
    """The organisation's best available contact and a phrase saying why them; or, when
    nobody there fits, a phrase saying why not ("nobody available speaks Spanish").

    With ``any_language`` a contact who handles the topic but not the language is taken
    when nobody speaks it: better than the rule giving up (used when there is no backup).
    """
    language = request.language
    lang = language_name(language)
    available = [
        c for c in candidates if c.organisation_id == organisation_id and c.id != backup_id and is_available(c, now)
    ]
    if not available:
        return "nobody available"
    pool = [c for c in available if handles_topic(c, request.topic_id)]
    if not pool:
        return f"nobody available handles {request.topic_name or 'this topic'}"
    speakers = [c for c in pool if language in c.languages]
    if not speakers and not any_language:
        return f"nobody available speaks {lang}"
    pool = speakers or pool
    fewest = min(c.open_inquiries for c in pool)
    tied = sorted((c for c in pool if c.open_inquiries == fewest), key=_round_robin_key)
    chosen = tied[0]

    if len(pool) == 1:
        why = "the only available contact" + (f" who speaks {lang}" if speakers else "")
    elif len(tied) == 1:
        who = f" who speaks {lang}" if speakers else ""
        why = f"the contact with the fewest open inquiries{who} ({fewest} open)"
    else:
        who = f" who speak {lang}" if speakers else ""
        tie_break = (
            # Equal turns fall to the contact added first: their id is the lowest.
            "all equally due a turn, so the contact added first"
            if tied[0].last_assigned_at == tied[1].last_assigned_at
            else "least recently assigned"
        )
        why = f"next in round-robin among {len(tied)} contacts{who}, each with {fewest} open ({tie_break})"
    if not speakers:
        why += f"; nobody available speaks {lang}"
    return chosen, why

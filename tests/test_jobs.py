"""The job runner: each job under its lease, in its own transaction and error handling."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.utils import make_msgid
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from config import TestConfig
from crm import create_app
from crm.database import utcnow
from crm.extensions import db
from crm.jobs import locks, runner
from crm.jobs.catalogue import JOB_NAMES, JOBS
from crm.jobs.cli import jobs_command
from crm.jobs.runner import FAILURE_RETRY, Job, JobRun, Outcome, run_forever, run_job, run_jobs
from crm.models import EmailStatus, Organisation, OrganisationKind, OutboundEmail, ScheduledJob
from tests.fixtures_database import database_of_its_own

# What a failing job's exception says: words a family could have written.
FAMILY_WORDS = "We lost our son Tobiah in March"


def due_email(**fields) -> OutboundEmail:
    email = OutboundEmail(
        message_id=make_msgid(domain="backbone-crm.test"),
        kind="contact_notice",
        to_address="dana@partner.example.org",
        subject="New inquiry for you",
        body_text="Hello Dana, there is a new inquiry for you.",
        next_attempt_at=utcnow() - timedelta(seconds=1),
        **fields,
    )
    db.session.add(email)
    db.session.commit()
    return email


def row(name: str) -> ScheduledJob | None:
    return db.session.get(ScheduledJob, name, populate_existing=True)


def status_of(email: OutboundEmail) -> EmailStatus:
    return db.session.scalar(
        select(OutboundEmail.status).where(OutboundEmail.id == email.id).execution_options(populate_existing=True)
    )


def job(name: str, run, every: timedelta | None = timedelta(minutes=1), lease: timedelta = timedelta(minutes=5)) -> Job:
    return Job(name=name, run=run, every=every, lease=lease, description=name)


def failing(_now) -> str:
    # Half-written work that must not survive the failure.
    db.session.add(Organisation(name="Written by a job that then failed", kind=OrganisationKind.GRANTEE))
    db.session.flush()
    raise ValueError(FAMILY_WORDS)


def app_log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(caplog.handler.format(record) for record in caplog.records if record.name.startswith("crm"))


@pytest.fixture
def mail(smtp_server, mail_config):
    mail_config(smtp_server.port)
    return smtp_server


# --- one failing job -------------------------------------------------------------------------


def test_a_failing_job_is_recorded_and_the_others_and_mail_still_run(app, mail, caplog):
    email = due_email()
    ran = []
    jobs = (
        job("first", lambda now: ran.append("first") or "first done"),
        job("broken", failing),
        *[catalogued for catalogued in JOBS if catalogued.name == "send-mail"],
        job("last", lambda now: ran.append("last") or "last done"),
    )

    runs = run_jobs(jobs, "runner-1")

    assert [(run.job, run.outcome) for run in runs] == [
        ("first", Outcome.DONE),
        ("broken", Outcome.FAILED),
        ("send-mail", Outcome.DONE),
        ("last", Outcome.DONE),
    ]
    assert ran == ["first", "last"]
    assert status_of(email) is EmailStatus.SENT
    assert len(mail.messages) == 1
    broken = row("broken")
    assert broken.last_error.startswith("ValueError")
    assert (broken.run_count, broken.failure_count, broken.leased_until) == (1, 1, None)
    assert row("first").last_error == ""
    assert row("first").last_summary == "first done"
    # Nothing half-written, and the family's words in neither the record nor the log.
    assert db.session.scalar(select(Organisation).where(Organisation.name.like("Written by%"))) is None
    assert FAMILY_WORDS not in broken.last_error
    assert "Job broken failed" in caplog.text
    assert "Tobiah" not in app_log_text(caplog)


def test_a_failed_job_is_tried_again_sooner_than_its_period():
    daily = job("daily", str, every=timedelta(days=1))
    started = utcnow()

    assert daily.next_run_after(started, failed=False) == started + timedelta(days=1)
    assert daily.next_run_after(started, failed=True) == started + FAILURE_RETRY
    assert job("often", str, every=timedelta(minutes=1)).next_run_after(started, failed=True) == started + timedelta(minutes=1)
    assert job("each poll", str, every=None).next_run_after(started, failed=False) == started


def test_a_job_runs_again_only_when_due(app):
    calls = []
    minutely = job("minutely", lambda now: calls.append(now) or "")

    assert [run.outcome for run in run_jobs([minutely], "runner-1")] == [Outcome.DONE]
    assert [run.outcome for run in run_jobs([minutely], "runner-1")] == [Outcome.NOT_DUE]
    assert len(calls) == 1
    assert row("minutely").next_run_at == calls[0] + timedelta(minutes=1)

    assert [run.outcome for run in run_jobs([minutely], "runner-1", force=True)] == [Outcome.DONE]
    assert len(calls) == 2


def test_a_database_error_while_taking_one_lease_does_not_stop_the_next_job(app, monkeypatch, caplog):
    take_lease = locks.take_lease

    def broken_for_first(name, *args, **kwargs):
        if name == "first":
            raise RuntimeError("database restarting")
        return take_lease(name, *args, **kwargs)

    monkeypatch.setattr(locks, "take_lease", broken_for_first)

    runs = run_jobs([job("first", lambda now: "x"), job("second", lambda now: "ran")], "runner-1")

    assert runs == [JobRun("first", Outcome.FAILED, "RuntimeError"), JobRun("second", Outcome.DONE, "ran")]
    assert "Could not run job first" in caplog.text


# --- leases ----------------------------------------------------------------------------------


def test_a_second_runner_does_not_run_a_job_the_first_is_running(app):
    seen_by_second: list[JobRun] = []

    def first_runs(now):
        # While the first runner holds the lease, a second one tries the same job, forced too.
        seen_by_second.append(run_job(racing, "runner-2", force=True))
        seen_by_second.append(run_job(racing, "runner-2"))
        return "ran"

    racing = job("racing", first_runs)
    locks.register(["racing"], utcnow())

    assert run_job(racing, "runner-1").outcome is Outcome.DONE
    assert [run.outcome for run in seen_by_second] == [Outcome.BUSY, Outcome.NOT_DUE]
    assert row("racing").run_count == 1


def test_an_expired_lease_is_taken_over_and_the_dead_runner_cannot_hand_it_back(app):
    locks.register(["orphaned"], utcnow())
    assert locks.take_lease("orphaned", "dead-runner", utcnow() - timedelta(minutes=10), timedelta(minutes=5), due_only=False)
    ran = []

    assert run_job(job("orphaned", lambda now: ran.append(now) or "ran"), "runner-2").outcome is Outcome.DONE

    assert len(ran) == 1
    taken_over = row("orphaned")
    assert (taken_over.lease_owner, taken_over.leased_until, taken_over.run_count) == ("runner-2", None, 1)
    assert not locks.finish("orphaned", "dead-runner", utcnow(), utcnow(), error="late")
    assert row("orphaned").last_error == ""


def test_a_runner_takes_back_its_own_lease_that_it_could_not_hand_back(app):
    """The database went away while the runner was handing the lease back: the runner's next
    pass runs the job again instead of waiting for the lease to run out."""
    locks.register(["stranded"], utcnow())
    assert locks.take_lease("stranded", "runner-1", utcnow(), timedelta(minutes=10))

    assert locks.take_lease("stranded", "runner-1", utcnow(), timedelta(minutes=10), due_only=False)
    assert not locks.take_lease("stranded", "runner-2", utcnow(), timedelta(minutes=10), due_only=False)


def test_a_lease_that_has_not_expired_is_respected(app):
    locks.register(["held"], utcnow())
    assert locks.take_lease("held", "other-host", utcnow(), timedelta(minutes=5))
    ran = []

    assert run_job(job("held", lambda now: ran.append(now) or ""), "runner-2", force=True).outcome is Outcome.BUSY
    assert ran == []
    assert row("held").lease_owner == "other-host"


@pytest.fixture
def own_database_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """An app whose commits really happen, so that runners in threads race for real."""
    with database_of_its_own(database_url, tmp_path, "jobs") as (url, options):
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options)
        with app.app_context():
            db.create_all()
            locks.register(["contested"], utcnow())
            db.session.remove()
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_runners_racing_for_one_lease_run_the_job_once(own_database_app):
    runners = 6
    start = threading.Barrier(runners)
    calls: list[str] = []
    outcomes: list[Outcome] = []

    def slow_job(now):
        calls.append(threading.current_thread().name)
        threading.Event().wait(0.3)  # still running while the others try
        return "ran"

    contested = job("contested", slow_job)

    def race(number: int) -> None:
        with own_database_app.app_context():
            start.wait()
            try:
                outcomes.append(run_job(contested, f"runner-{number}").outcome)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=race, args=(number,), name=f"runner-{number}") for number in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(calls) == 1
    assert sorted(outcomes) == sorted([Outcome.DONE] + [Outcome.NOT_DUE] * (runners - 1))
    with own_database_app.app_context():
        assert db.session.get(ScheduledJob, "contested").run_count == 1


# --- the command -----------------------------------------------------------------------------


def invoke(app, *args):
    result = app.test_cli_runner().invoke(jobs_command, list(args))
    db.session.expire_all()
    return result


def test_once_runs_every_job_and_exits_zero(app, mail):
    email = due_email()

    result = invoke(app, "--once")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:6] == [
        "sla-checks: done: Queued 0 reminder(s) and 0 escalation(s).",
        "acceptance-timers: done: Moved on 0 inquiries not accepted in time.",
        "file-held-posts: done: 0 filed, 0 failed, 0 waiting",
        "family-follow-up: done: Queued 0 follow-up(s).",
        "send-mail: done: Outbox: 1 sent, 0 failed (will retry), 0 dead, 0 held.",
        "retention-purge: done: Anonymised 0 inquiries.",
    ]
    assert lines[6].startswith("federal-holidays: done: Foundation holiday calendar created: ")
    assert len(lines) == len(JOB_NAMES)
    assert status_of(email) is EmailStatus.SENT
    assert [row(name).run_count for name in JOB_NAMES] == [1] * len(JOB_NAMES)


def test_once_with_a_failing_job_exits_one_and_still_sends_mail(app, mail, monkeypatch):
    from crm.inquiries import sla_jobs

    def broken(now):
        raise ValueError(FAMILY_WORDS)

    monkeypatch.setattr(sla_jobs, "run_sla_checks", broken)
    email = due_email()

    result = invoke(app, "--once")

    assert result.exit_code == 1, result.output
    assert "sla-checks: failed: ValueError" in result.output
    assert "send-mail: done: Outbox: 1 sent" in result.output
    assert "retention-purge: done" in result.output
    assert FAMILY_WORDS not in result.output
    assert status_of(email) is EmailStatus.SENT
    assert row("sla-checks").last_error.startswith("ValueError")


def test_only_runs_the_named_jobs(app, mail):
    email = due_email()

    result = invoke(app, "--once", "--only", "retention-purge")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["retention-purge: done: Anonymised 0 inquiries."]
    assert status_of(email) is EmailStatus.PENDING
    assert row("send-mail") is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "report-days"], "Invalid value for '--only'"),
        (["--status", "--once"], "--status and --once do not go together"),
    ],
)
def test_wrong_options_are_refused_with_exit_status_two(app, args, message):
    result = invoke(app, *args)

    assert result.exit_code == 2
    assert message in result.output


def test_status_shows_each_job_its_runs_and_last_error(app, monkeypatch):
    before = invoke(app, "--status")
    assert before.exit_code == 0, before.output
    assert [line.split()[0] for line in before.output.splitlines()[: len(JOB_NAMES) + 1]] == ["JOB", *JOB_NAMES]
    assert before.output.count("never run") == len(JOB_NAMES)

    from crm.inquiries import sla_jobs

    def broken(now):
        raise ValueError(FAMILY_WORDS)

    monkeypatch.setattr(sla_jobs, "run_sla_checks", broken)
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")
    invoke(app, "--once")
    assert locks.take_lease("retention-purge", "host-b:4242:abcd", utcnow(), timedelta(minutes=5), due_only=False)

    result = invoke(app, "--status")

    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1 : len(JOB_NAMES) + 1]}
    sla, mail, purge = lines["sla-checks"], lines["send-mail"], lines["retention-purge"]
    assert sla.split()[:3] == ["sla-checks", "1", "1"]
    assert sla.endswith("failed")
    assert mail.split()[:3] == ["send-mail", "1", "0"]
    assert mail.endswith("ok")
    assert "running on host-b:4242:abcd" in purge
    assert "sla-checks: last error: ValueError" in result.output
    assert FAMILY_WORDS not in result.output

    only = invoke(app, "--status", "--only", "send-mail")
    assert [line.split()[0] for line in only.output.splitlines()[:2]] == ["JOB", "send-mail"]
    assert "sla-checks" not in only.output


def test_the_loop_stops_cleanly_on_sigterm(app, mail, monkeypatch):
    email = due_email()
    monkeypatch.setitem(app.config, "JOBS_POLL_SECONDS", 0.1)
    # SIGTERM arrives mid-send: the runner records the message, finishes its pass, then stops.
    mail.on_message = lambda _message: os.kill(os.getpid(), signal.SIGTERM)
    before = signal.getsignal(signal.SIGTERM)

    result = invoke(app)

    assert result.exit_code == 0, result.output
    assert "Job runner" in result.output
    assert "polling every 0.1 s" in result.output
    assert "Job runner stopped." in result.output
    assert status_of(email) is EmailStatus.SENT
    assert len(mail.messages) == 1
    assert signal.getsignal(signal.SIGTERM) is before
    assert row("send-mail").leased_until is None


def test_the_loop_exits_cleanly_on_keyboard_interrupt(app, monkeypatch):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_jobs", interrupted)

    result = invoke(app)

    assert result.exit_code == 0, result.output
    assert "interrupted" in result.output


@pytest.mark.parametrize("value", [0, -1, "often"])
def test_an_unusable_poll_interval_is_refused(app, monkeypatch, value):
    monkeypatch.setitem(app.config, "JOBS_POLL_SECONDS", value)

    result = invoke(app)

    assert result.exit_code == 2
    assert "JOBS_POLL_SECONDS" in result.output


def test_the_loop_survives_a_failing_pass(app, monkeypatch, caplog):
    stop = threading.Event()
    calls = []

    def flaky(jobs, owner, stop):
        calls.append(owner)
        if len(calls) == 1:
            raise RuntimeError("database restarting")
        stop.set()
        return []

    monkeypatch.setattr(runner, "run_jobs", flaky)

    run_forever(JOBS, "runner-1", poll_seconds=0.01, stop=stop)

    assert len(calls) == 2
    assert "Job runner pass failed" in caplog.text

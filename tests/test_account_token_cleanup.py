"""The account-tokens job: invitation and password-reset rows are kept ACCOUNT_TOKEN_KEEP_DAYS
after their link stopped working (used, withdrawn or expired), so its page can say why, and are
deleted after that; a link that still works is never touched."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.auth import tokens
from crm.database import utcnow
from crm.extensions import db
from crm.jobs.catalogue import JOBS
from crm.models import AccountToken, Role, TokenPurpose
from tests.factories import UserFactory

KEEP = 30


@pytest.fixture(autouse=True)
def _keep_days(app, monkeypatch):
    monkeypatch.setitem(app.config, "ACCOUNT_TOKEN_KEEP_DAYS", KEEP)


def issue(purpose: TokenPurpose, made_days_ago: float, valid_days: float, **fields) -> AccountToken:
    if purpose is TokenPurpose.RESET:
        fields.setdefault("user", UserFactory())
    else:
        fields.setdefault("role", Role.PARTNER)
    row, _token = tokens.issue(
        purpose,
        email=f"{purpose.value}-{made_days_ago}-{valid_days}-{len(fields)}@example.org",
        valid_for=timedelta(days=valid_days),
        now=utcnow() - timedelta(days=made_days_ago),
        **fields,
    )
    db.session.commit()
    return row


def remaining() -> set[int]:
    db.session.expire_all()
    return set(db.session.scalars(select(AccountToken.id)))


def test_rows_are_deleted_once_their_link_stopped_working_long_enough_ago(app):
    now = utcnow()
    working = issue(TokenPurpose.INVITE, made_days_ago=1, valid_days=3)
    working_reset = issue(TokenPurpose.RESET, made_days_ago=0.01, valid_days=0.04)
    # Expired, used or withdrawn recently: kept, so the page still explains the link.
    expired_lately = issue(TokenPurpose.INVITE, made_days_ago=KEEP, valid_days=3)
    used_lately = issue(TokenPurpose.RESET, made_days_ago=KEEP + 1, valid_days=1, used_at=now - timedelta(days=KEEP - 1))
    withdrawn_lately = issue(
        TokenPurpose.INVITE, made_days_ago=KEEP + 5, valid_days=60, withdrawn_at=now - timedelta(days=2)
    )
    # Stopped working more than KEEP days ago: deleted.
    expired_long_ago = issue(TokenPurpose.INVITE, made_days_ago=KEEP + 4, valid_days=3)
    used_long_ago = issue(
        TokenPurpose.RESET, made_days_ago=KEEP + 2, valid_days=1, used_at=now - timedelta(days=KEEP + 1)
    )
    withdrawn_long_ago = issue(
        TokenPurpose.INVITE, made_days_ago=KEEP + 10, valid_days=60, withdrawn_at=now - timedelta(days=KEEP + 9)
    )
    # Withdrawn last week, but its link had expired long before: it stopped working then.
    expired_then_withdrawn = issue(
        TokenPurpose.INVITE, made_days_ago=KEEP + 10, valid_days=3, withdrawn_at=now - timedelta(days=7)
    )

    kept = {row.id for row in (working, working_reset, expired_lately, used_lately, withdrawn_lately)}
    deleted = {row.id for row in (expired_long_ago, used_long_ago, withdrawn_long_ago, expired_then_withdrawn)}

    summary = tokens.account_tokens_job(now)

    assert summary == f"Removed 4 invitation and password-reset link(s) that stopped working more than {KEEP} days ago."
    assert remaining() == kept
    assert deleted.isdisjoint(remaining())
    assert tokens.account_tokens_job(now).startswith("Removed 0 ")


def test_a_deleted_link_is_answered_as_not_valid(client):
    row, token = tokens.issue(
        TokenPurpose.INVITE, email="late@example.org", valid_for=timedelta(days=3), role=Role.PARTNER,
        now=utcnow() - timedelta(days=KEEP + 5),
    )
    db.session.commit()
    assert client.get(f"/invitations/accept?token={token}").status_code == 410  # expired: explained as such

    tokens.account_tokens_job(utcnow())

    assert remaining() == set()
    assert tokens.state_of(tokens.find(token, TokenPurpose.INVITE), utcnow()) is tokens.TokenState.UNKNOWN
    assert client.get(f"/invitations/accept?token={token}").status_code == 404


def test_a_negative_setting_never_deletes_a_working_link(app, monkeypatch):
    monkeypatch.setitem(app.config, "ACCOUNT_TOKEN_KEEP_DAYS", -400)
    working = issue(TokenPurpose.INVITE, made_days_ago=0, valid_days=3)

    tokens.account_tokens_job(utcnow())

    assert remaining() == {working.id}


def test_the_job_runs_daily_in_the_runner(app):
    [job] = [job for job in JOBS if job.name == "account-tokens"]
    assert job.run is tokens.account_tokens_job
    assert job.every == timedelta(days=1)

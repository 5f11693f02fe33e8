"""The rules of emailed links and of who may invite whom, table first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.auth.permissions import may_invite
from crm.auth.tokens import TokenState, hash_token, state_of
from crm.models import AccountToken, Role, TokenPurpose

ISSUED = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
EXPIRES = ISSUED + timedelta(hours=72)
LATER = ISSUED + timedelta(hours=1)


def row(used_at=None, withdrawn_at=None) -> AccountToken:
    return AccountToken(
        purpose=TokenPurpose.INVITE,
        token_hash=hash_token("t"),
        email="a@example.org",
        created_at=ISSUED,
        expires_at=EXPIRES,
        used_at=used_at,
        withdrawn_at=withdrawn_at,
    )


@pytest.mark.parametrize(
    ("token", "now", "expected"),
    [
        (None, LATER, TokenState.UNKNOWN),
        (row(), ISSUED, TokenState.VALID),
        (row(), EXPIRES - timedelta(seconds=1), TokenState.VALID),
        (row(), EXPIRES, TokenState.EXPIRED),
        (row(), EXPIRES + timedelta(days=30), TokenState.EXPIRED),
        (row(used_at=LATER), LATER, TokenState.USED),
        (row(used_at=LATER), EXPIRES + timedelta(days=1), TokenState.USED),
        (row(withdrawn_at=LATER), LATER, TokenState.WITHDRAWN),
        (row(withdrawn_at=LATER), EXPIRES + timedelta(days=1), TokenState.WITHDRAWN),
        (row(used_at=LATER, withdrawn_at=LATER), LATER, TokenState.USED),
    ],
)
def test_state_of_a_link(token, now, expected) -> None:
    assert state_of(token, now) is expected


def test_hash_is_sha256_hex() -> None:
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(
    ("inviter", "invited", "allowed"),
    [
        (None, Role.PARTNER, False),
        (Role.PARTNER, Role.PARTNER, False),
        (Role.STAFF, Role.PARTNER, True),
        (Role.MANAGER, Role.PARTNER, True),
        (Role.ADMIN, Role.PARTNER, True),
        (Role.PARTNER, Role.STAFF, False),
        (Role.STAFF, Role.STAFF, False),
        (Role.MANAGER, Role.STAFF, True),
        (Role.ADMIN, Role.STAFF, True),
        (Role.ADMIN, Role.MANAGER, False),
        (Role.ADMIN, Role.ADMIN, False),
    ],
)
def test_who_may_invite_whom(inviter, invited, allowed) -> None:
    assert may_invite(inviter, invited) is allowed

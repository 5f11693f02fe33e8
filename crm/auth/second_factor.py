"""Two-factor sign-in: turning it on and off, checking the second step, recovery codes and an
admin's reset. The database side of the rules in crm.auth.totp and crm.auth.recovery_codes.

Each change is written to the audit trail as an event on the user (the secrets never are):
two_factor_on, two_factor_off, two_factor_reset, recovery_codes_new, recovery_code_used and
two_factor_failed, which carries the count of wrong codes since the last right one.
"""

from __future__ import annotations

import enum
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from crm import audit
from crm.auth import recovery_codes, secret_box, totp
from crm.database import utcnow
from crm.extensions import db
from crm.models import AuditEvent, RecoveryCode, User, UserSecondFactor

logger = logging.getLogger(__name__)


class WrongCode(ValueError):
    """The code was wrong, stale or used already; nothing but the failure was recorded."""


class AlreadyOn(ValueError):
    pass


class SecondStep(enum.Enum):
    APP_CODE = "app code"
    RECOVERY_CODE = "recovery code"


def _record(user: User, action: str, changes: dict[str, list[Any]], actor: User | None) -> None:
    db.session.add(
        AuditEvent(
            actor_id=actor.id if actor is not None else None,
            action=action,
            entity_type="User",
            entity_id=str(user.id),
            changes=changes,
        )
    )


def factor_of(user: User) -> UserSecondFactor | None:
    """The user's authenticator app, confirmed or still being set up."""
    return db.session.scalar(select(UserSecondFactor).where(UserSecondFactor.user_id == user.id))


def enabled_factor(user: User) -> UserSecondFactor | None:
    factor = factor_of(user)
    return factor if factor is not None and factor.confirmed_at is not None else None


def is_on(user: User) -> bool:
    return db.session.scalar(
        select(UserSecondFactor.id).where(
            UserSecondFactor.user_id == user.id, UserSecondFactor.confirmed_at.is_not(None)
        )
    ) is not None


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(
        select(func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ) or 0


def _secret(factor: UserSecondFactor) -> str | None:
    try:
        return secret_box.open_sealed(factor.secret_encrypted)
    except secret_box.UnreadableSecret:
        # SECRET_KEY changed since the app was set up: only a recovery code or a reset helps.
        logger.warning("The two-factor secret of user %s cannot be read with the current SECRET_KEY", factor.user_id)
        return None


# --- turning it on ---------------------------------------------------------------------------


def begin_setup(user: User) -> None:
    """A new secret for the user to scan, replacing any unfinished setup; not on until confirmed."""
    if is_on(user):
        raise AlreadyOn
    db.session.execute(delete(UserSecondFactor).where(UserSecondFactor.user_id == user.id))
    db.session.add(UserSecondFactor(user_id=user.id, secret_encrypted=secret_box.seal(totp.new_secret())))
    audit.commit(user)


def setup_secret(user: User) -> str | None:
    """The secret of the user's unfinished setup, to show as a QR code; None if there is none."""
    factor = factor_of(user)
    if factor is None or factor.confirmed_at is not None:
        return None
    return _secret(factor)


def _new_recovery_codes(user: User, now: datetime) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = recovery_codes.generate()
    db.session.add_all(
        RecoveryCode(user_id=user.id, code_hash=recovery_codes.hash_code(code), created_at=now) for code in codes
    )
    return codes


def confirm_setup(user: User, code: str, now: datetime | None = None) -> list[str]:
    """Turn two-factor sign-in on with a first code from the app; returns the new recovery codes
    (their only copy). Raises WrongCode and changes nothing when the code does not match."""
    now = now or utcnow()
    factor = factor_of(user)
    if factor is None or factor.confirmed_at is not None:
        raise WrongCode
    secret = _secret(factor)
    step = totp.matching_step(secret, code, now, None) if secret else None
    if step is None:
        raise WrongCode
    factor.confirmed_at = now
    factor.last_used_step = step
    factor.failed_attempts = 0
    codes = _new_recovery_codes(user, now)
    _record(user, "two_factor_on", {"two_factor": [None, "on"], "recovery_codes_left": [None, len(codes)]}, user)
    audit.commit(user)
    return codes


# --- the second step -------------------------------------------------------------------------


def _use_app_code(factor: UserSecondFactor, code: str, now: datetime) -> bool:
    secret = _secret(factor)
    step = totp.matching_step(secret, code, now, factor.last_used_step) if secret else None
    if step is None:
        return False
    # Taken in one UPDATE, so two requests racing with the same code cannot both succeed.
    taken = db.session.execute(
        update(UserSecondFactor)
        .where(
            UserSecondFactor.id == factor.id,
            or_(UserSecondFactor.last_used_step.is_(None), UserSecondFactor.last_used_step < step),
        )
        .values(last_used_step=step, failed_attempts=0)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken:
        factor.last_used_step = step
        factor.failed_attempts = 0
    return bool(taken)


def _use_recovery_code(user: User, code: str, now: datetime) -> bool:
    if not recovery_codes.looks_like_code(code):
        return False
    taken = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == recovery_codes.hash_code(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not taken:
        return False
    db.session.execute(
        update(UserSecondFactor)
        .where(UserSecondFactor.user_id == user.id)
        .values(failed_attempts=0)
        .execution_options(synchronize_session=False)
    )
    left = recovery_codes_left(user)
    _record(user, "recovery_code_used", {"recovery_codes_left": [left + 1, left]}, user)
    return True


def check_second_step(user: User, code: str, now: datetime | None = None) -> SecondStep:
    """Check a code from the user's app, or one of their recovery codes (which is then used up).

    On success nothing is committed: the caller's unit of work (signing in, turning it off)
    commits it. A wrong code is counted and audited, committed here, and raises WrongCode."""
    now = now or utcnow()
    factor = enabled_factor(user)
    if factor is None:
        raise WrongCode
    if totp.looks_like_code(code):
        if _use_app_code(factor, code, now):
            return SecondStep.APP_CODE
    elif _use_recovery_code(user, code, now):
        return SecondStep.RECOVERY_CODE
    before = factor.failed_attempts
    factor.failed_attempts = before + 1
    _record(user, "two_factor_failed", {"failed_codes": [before, before + 1]}, None)
    audit.commit(None)
    raise WrongCode


# --- turning it off, new recovery codes, an admin's reset ---------------------------------------


def _remove(user: User) -> None:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(delete(UserSecondFactor).where(UserSecondFactor.user_id == user.id))


def turn_off(user: User, code: str, now: datetime | None = None) -> None:
    """Raises WrongCode (and changes nothing but the failure count) unless the code is right."""
    check_second_step(user, code, now)
    _remove(user)
    _record(user, "two_factor_off", {"two_factor": ["on", None]}, user)
    audit.commit(user)


def regenerate_recovery_codes(user: User, code: str, now: datetime | None = None) -> list[str]:
    """New recovery codes in place of the old ones (their only copy); raises WrongCode."""
    now = now or utcnow()
    check_second_step(user, code, now)
    before = recovery_codes_left(user)
    codes = _new_recovery_codes(user, now)
    _record(user, "recovery_codes_new", {"recovery_codes_left": [before, len(codes)]}, user)
    audit.commit(user)
    return codes


def reset(user: User, actor: User | None) -> bool:
    """An admin's (or the command line's) reset for a user who lost their phone and their
    recovery codes: the app and the codes are forgotten, so the user signs in with the password
    alone and sets the app up again. Returns False, writing nothing, when there was nothing to reset."""
    factor = factor_of(user)
    if factor is None:
        return False
    state = "on" if factor.confirmed_at is not None else "setting up"
    _remove(user)
    _record(user, "two_factor_reset", {"two_factor": [state, None]}, actor)
    audit.commit(actor)
    return True

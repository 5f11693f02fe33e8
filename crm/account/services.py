from __future__ import annotations

from crm import audit
from crm.auth.passwords import hash_password, verify_password
from crm.models import User


class WrongPassword(ValueError):
    pass


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Set a new password and end every session of this user, this one included (the view signs
    this one back in); raises WrongPassword and changes nothing if the current one is wrong."""
    if not verify_password(user.password_hash, current_password):
        raise WrongPassword
    user.password_hash = hash_password(new_password)
    user.end_sessions()
    audit.commit(user)

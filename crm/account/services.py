from __future__ import annotations

from crm import audit
from crm.auth import sessions, tokens
from crm.auth.passwords import hash_password, verify_password
from crm.models import User


class WrongPassword(ValueError):
    pass


def change_password(user: User, current_password: str, new_password: str, user_agent: str) -> None:
    """Set a new password, end every session of this user, this one included, and every reset
    link still open, and open a new session for this browser (the view signs it in); raises
    WrongPassword and changes nothing if the current password is wrong."""
    if not verify_password(user.password_hash, current_password):
        raise WrongPassword
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    user.end_sessions()
    tokens.withdraw_reset_links(user)
    sessions.open_session(user, user_agent)
    audit.commit(user)

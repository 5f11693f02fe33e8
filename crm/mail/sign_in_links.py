"""Emails whose link opens an account, and how their stored copy hides the link's token.

An invitation or password-reset link (crm.auth.tokens) lets whoever holds it set that user's
password or accept the invitation. The database keeps only the token's SHA-256, but the
outbox row keeps the email as written; so the outbox page shows it with the token hidden, and
the worker hides it in the row itself once the email is no longer to be sent (sent or dead):
a backup or dump of the outbox then holds no working link.
"""

from __future__ import annotations

import re

from crm.models import EmailKind

SIGN_IN_LINK_KINDS = frozenset({EmailKind.INVITATION, EmailKind.PASSWORD_RESET})
HIDDEN = "(hidden)"
# The token in the query string (crm.mail.outbox.public_url writes it as ?token=...).
_LINK_TOKEN = re.compile(r"([?&]token=)([^\s&#]+)")


def hide_token(kind: str, body_text: str) -> str:
    """The body with a sign-in link's token written "(hidden)"; other kinds' bodies as they are."""
    if kind not in SIGN_IN_LINK_KINDS:
        return body_text
    return _LINK_TOKEN.sub(rf"\g<1>{HIDDEN}", body_text)


def token_hidden(kind: str, body_text: str) -> bool:
    """Whether the stored sign-in link no longer carries its token: sending it again would
    deliver a link that opens nothing."""
    return kind in SIGN_IN_LINK_KINDS and any(
        match.group(2) == HIDDEN for match in _LINK_TOKEN.finditer(body_text)
    )


def hidden_body_values(kind: str, body_text: str) -> dict[str, str]:
    """What an UPDATE that ends the email's sending also sets: its body with the token hidden,
    for a sign-in link (nothing for any other kind, so their UPDATE stays as it was)."""
    if kind not in SIGN_IN_LINK_KINDS:
        return {}
    return {"body_text": hide_token(kind, body_text)}

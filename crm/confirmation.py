"""Asking before an action that cannot simply be undone, without JavaScript.

The request that asks for the action, a GET link or a POST from a button, is answered with
templates/confirm.html, which says what will happen; only the POST from that page's button,
carrying FIELD, does it. Until then nothing is written.
"""

from __future__ import annotations

from flask import render_template, request

FIELD = "confirmed"
YES = "yes"


def confirmed() -> bool:
    """Whether this request is the confirm page's button."""
    return request.method == "POST" and request.form.get(FIELD) == YES


def ask(
    *,
    question: str,
    explanation: list[str],
    action: str,
    button: str,
    cancel_url: str,
    fields: dict[str, str] | None = None,
    button_class: str = "button danger",
    cancel_label: str = "Cancel, keep it",
) -> str:
    """The confirm page: `question` as its heading, a button that POSTs `fields` and FIELD to
    `action`, and a link back to `cancel_url`."""
    return render_template(
        "confirm.html",
        question=question,
        explanation=explanation,
        action=action,
        button=button,
        cancel_url=cancel_url,
        fields={**(fields or {}), FIELD: YES},
        button_class=button_class,
        cancel_label=cancel_label,
    )

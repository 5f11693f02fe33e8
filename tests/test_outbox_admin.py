"""The admin outbox pages: reading mail, held mail in development, re-sending, and the held Get in Touch sends."""

from __future__ import annotations

from datetime import timedelta
from email.utils import make_msgid

import pytest
from sqlalchemy import select

from crm.database import utcnow
from crm.extensions import db
from crm.family.services import opt_out
from crm.inquiries import held_posts
from crm.mail.opt_out import email_hash
from crm.mail.worker import SendReport, send_due
from crm.models import AuditEvent, EmailKind, EmailStatus, HeldPost, OutboundEmail, Role


def make_email(status: EmailStatus = EmailStatus.PENDING, **fields) -> OutboundEmail:
    now = utcnow()
    values = {
        "message_id": make_msgid(domain="backbone-crm.test"),
        "kind": "contact_notice",
        "to_address": "dana@partner.example.org",
        "subject": f"A {status.value} message",
        "body_text": f"Hello Dana,\n\nThis message is {status.value}.\n",
        "status": status,
        "created_at": now - timedelta(hours=1),
        "next_attempt_at": now + timedelta(minutes=5),
        **fields,
    }
    email = OutboundEmail(**values)
    db.session.add(email)
    db.session.commit()
    return email


def reload(email: OutboundEmail) -> OutboundEmail:
    db.session.expire_all()
    return db.session.get(OutboundEmail, email.id)


def audit_events_for(email: OutboundEmail) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.entity_type == "OutboundEmail", AuditEvent.entity_id == str(email.id))
        )
    )


def assert_resend_refused(response, email: OutboundEmail, why: str, *, status: EmailStatus, attempts: int) -> None:
    """The page says ``why``, and the message is as it was (``status``, ``attempts``), unaudited."""
    assert response.status_code == 200
    assert why in response.get_data(as_text=True)
    stored = reload(email)
    assert (stored.status, stored.attempts) == (status, attempts)
    assert audit_events_for(email) == []


def test_the_list_shows_unsent_mail_dead_first_by_default(client, login):
    login(Role.ADMIN)
    sent = make_email(EmailStatus.SENT)
    pending = make_email(EmailStatus.PENDING, attempts=2, last_error="451 4.3.0 Try again later")
    held = make_email(EmailStatus.HELD)
    dead = make_email(EmailStatus.DEAD, attempts=8, last_error="ConnectionRefusedError: Connection refused")

    response = client.get("/admin/outbox/")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    positions = [html.index(email.subject) for email in (dead, held, pending)]
    assert positions == sorted(positions)
    assert sent.subject not in html
    assert "dana@partner.example.org" in html
    assert "451 4.3.0 Try again later" in html
    assert "Contact notice" in html
    assert "Dead: 1" in html


@pytest.mark.parametrize(
    ("status_filter", "shown"),
    [
        ("sent", {EmailStatus.SENT}),
        ("dead", {EmailStatus.DEAD}),
        ("held", {EmailStatus.HELD}),
        ("pending", {EmailStatus.PENDING}),
        ("all", set(EmailStatus)),
        ("nonsense", set()),  # an unknown filter lists nothing
    ],
)
def test_the_list_filters_by_status(client, login, status_filter, shown):
    login(Role.ADMIN)
    emails = {status: make_email(status) for status in EmailStatus}

    html = client.get("/admin/outbox/", query_string={"status": status_filter}).get_data(as_text=True)

    assert {status for status, email in emails.items() if email.subject in html} == shown


def test_the_detail_page_shows_the_whole_message(client, login, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")
    login(Role.ADMIN)
    email = make_email(
        EmailStatus.HELD,
        subject="Recibimos su mensaje",
        body_text="Hola Rae,\n\nGracias <por> escribirnos.\n",
        language="es",
        reply_to="IMRI Team <imri@foundation.example.org>",
    )

    response = client.get(f"/admin/outbox/{email.id}")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Recibimos su mensaje" in html
    assert "Gracias &lt;por&gt; escribirnos." in html
    assert email.message_id.replace("<", "&lt;").replace(">", "&gt;") in html
    assert f'action="/admin/outbox/{email.id}/resend"' in html
    assert "No mail server is set" in html
    assert "<dt>Reply-To</dt><dd>IMRI Team &lt;imri@foundation.example.org&gt;</dd>" in html


def test_the_detail_page_hides_the_token_of_a_sign_in_link(app, client, login, make_user):
    # A reset or invitation link opens an account: an admin reading the outbox could set
    # another user's password (audited as that user) or accept someone's invitation.
    from crm.auth.tokens import find
    from crm.models import TokenPurpose

    someone = make_user(Role.MANAGER, email="morgan@foundation.example.org")
    app.test_client().post("/forgot-password", data={"email": someone.email})
    login(Role.ADMIN)
    client.post("/invitations/new", data={"name": "Sam Colleague", "email": "sam@foundation.example.org"})
    emails = list(
        db.session.scalars(
            select(OutboundEmail).where(OutboundEmail.kind.in_([EmailKind.PASSWORD_RESET, EmailKind.INVITATION]))
        )
    )
    assert {email.kind for email in emails} == {EmailKind.PASSWORD_RESET, EmailKind.INVITATION}

    for email in emails:
        token = email.body_text.split("token=", 1)[1].split()[0]
        purpose = TokenPurpose.RESET if email.kind is EmailKind.PASSWORD_RESET else TokenPurpose.INVITE
        assert find(token, purpose) is not None  # a live link
        html = client.get(f"/admin/outbox/{email.id}").get_data(as_text=True)
        assert token not in html
        assert "token=(hidden)" in html
        assert email.subject in html


def test_the_pages_name_the_job_runner_that_sends_mail(client, login, app, monkeypatch):
    """Mail goes out through the job runner's send-mail job (`flask crm jobs`): the pages say
    so, where they once spoke of a mail worker that no longer runs on its own."""
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")
    login(Role.ADMIN)
    email = make_email(EmailStatus.HELD)

    pages = {
        "list": client.get("/admin/outbox/").get_data(as_text=True),
        "message": client.get(f"/admin/outbox/{email.id}").get_data(as_text=True),
        "resent": client.post(f"/admin/outbox/{email.id}/resend", follow_redirects=True).get_data(as_text=True),
    }

    assert "so the job runner sends nothing" in pages["list"]
    assert "so the job runner will hold it again" in pages["message"]
    assert "is back in the queue; the job runner sends it shortly." in pages["resent"]
    assert [name for name, html in pages.items() if "worker" in html.lower()] == []


@pytest.mark.parametrize("status", [EmailStatus.DEAD, EmailStatus.HELD])
def test_resend_puts_the_message_back_and_the_worker_delivers_it(
    client, login, status, smtp_server, mail_config
):
    admin = login(Role.ADMIN)
    email = make_email(status, attempts=8, last_error="550 5.1.1 No such user", next_attempt_at=utcnow() - timedelta(days=1))
    message_id = email.message_id
    before = utcnow()

    response = client.post(f"/admin/outbox/{email.id}/resend")

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/outbox/{email.id}")
    stored = reload(email)
    assert stored.status is EmailStatus.PENDING
    assert stored.attempts == 0
    assert stored.last_error == ""
    assert stored.message_id == message_id
    assert before <= stored.next_attempt_at <= utcnow()
    [event] = audit_events_for(email)
    assert event.actor_id == admin.id
    assert event.action == "update"
    assert event.changes["status"] == [status.value, "pending"]
    assert event.changes["attempts"] == [8, 0]

    transport = mail_config(smtp_server.port)
    assert send_due(utcnow(), transport) == SendReport(sent=1)
    assert [message["Message-ID"] for message in smtp_server.messages] == [message_id]
    assert reload(email).status is EmailStatus.SENT


@pytest.mark.parametrize("status", [EmailStatus.PENDING, EmailStatus.SENT])
def test_resend_refuses_a_pending_or_sent_message(client, login, status):
    login(Role.ADMIN)
    email = make_email(status, attempts=1)

    response = client.post(f"/admin/outbox/{email.id}/resend", follow_redirects=True)

    assert_resend_refused(response, email, "cannot be re-sent", status=status, attempts=1)


@pytest.mark.parametrize("status", [EmailStatus.DEAD, EmailStatus.HELD])
def test_resend_refuses_a_follow_up_to_a_family_who_opted_out(client, login, status):
    """The runner would not send it (crm.mail.opt_out): putting it back in the queue would only
    make it dead again, so the page says why instead."""
    login(Role.ADMIN)
    email = make_email(status, kind=EmailKind.FAMILY_FOLLOW_UP, to_address="family@example.net", attempts=1)
    acknowledgement = make_email(status, kind=EmailKind.REQUESTER_ACK, to_address="family@example.net")
    opt_out(email_hash("Family@Example.net"))

    button = "Send again" if status is EmailStatus.DEAD else "Queue for sending"
    assert button in client.get(f"/admin/outbox/{acknowledgement.id}").text
    assert button not in client.get(f"/admin/outbox/{email.id}").text
    response = client.post(f"/admin/outbox/{email.id}/resend", follow_redirects=True)

    why = "The family opted out of these messages, so this one cannot be re-sent."
    assert_resend_refused(response, email, why, status=status, attempts=1)
    # The acknowledgement of their own request is not what opting out stops.
    assert client.post(f"/admin/outbox/{acknowledgement.id}/resend").status_code == 302
    assert reload(acknowledgement).status is EmailStatus.PENDING


@pytest.mark.parametrize("outcome", [EmailStatus.SENT, EmailStatus.DEAD])
def test_resend_refuses_a_sign_in_link_whose_token_is_hidden(client, login, smtp_server, mail_config, outcome):
    """Once sent or given up on, the outbox row keeps an invitation's or reset's link without
    its token (crm.mail.sign_in_links): sent again it would open nothing, so the page says to
    ask for a new link instead."""
    login(Role.ADMIN)
    body = "Hello Sam,\n\nhttps://crm.test/invitation?token=Zk3-qT9_live\n"
    due = utcnow() - timedelta(minutes=1)
    email = make_email(
        EmailStatus.PENDING, kind=EmailKind.INVITATION, to_address="sam@foundation.example.org", body_text=body,
        next_attempt_at=due,
    )
    # Held (no mail server): never sent, so it keeps its token and can still be queued.
    held = make_email(EmailStatus.HELD, kind=EmailKind.PASSWORD_RESET, body_text=body)
    if outcome is EmailStatus.DEAD:
        smtp_server.reject["sam@foundation.example.org"] = "550 5.1.1 No such user here"
    send_due(utcnow(), mail_config(smtp_server.port))
    assert reload(email).status is outcome

    page = client.get(f"/admin/outbox/{email.id}").text
    assert "Send again" not in page
    assert "Zk3-qT9_live" not in page
    if outcome is EmailStatus.DEAD:
        assert "have the person ask for a new password reset link" in page
    response = client.post(f"/admin/outbox/{email.id}/resend", follow_redirects=True)

    why = "send a new invitation, or have the person ask for a new password reset link."
    assert_resend_refused(response, email, why, status=outcome, attempts=reload(email).attempts)
    assert "Queue for sending" in client.get(f"/admin/outbox/{held.id}").text
    assert client.post(f"/admin/outbox/{held.id}/resend").status_code == 302
    assert (reload(held).status, reload(held).body_text) == (EmailStatus.PENDING, body)


def test_resend_changes_nothing_on_get(client, login):
    login(Role.ADMIN)
    email = make_email(EmailStatus.DEAD)

    assert client.get(f"/admin/outbox/{email.id}/resend").status_code == 405
    assert reload(email).status is EmailStatus.DEAD


def test_a_missing_message_is_404(client, login):
    login(Role.ADMIN)

    assert client.get("/admin/outbox/999999").status_code == 404
    assert client.post("/admin/outbox/999999/resend").status_code == 404


@pytest.mark.parametrize("role", [Role.MANAGER, Role.STAFF, Role.PARTNER])
def test_only_admins_reach_the_outbox(client, login, role):
    login(role)
    email = make_email(EmailStatus.DEAD)

    assert client.get("/admin/outbox/").status_code == 403
    assert client.get(f"/admin/outbox/{email.id}").status_code == 403
    assert client.post(f"/admin/outbox/{email.id}/resend").status_code == 403
    assert reload(email).status is EmailStatus.DEAD


def test_signed_out_visitors_are_sent_to_sign_in(client):
    email = make_email(EmailStatus.DEAD)

    for response in (
        client.get("/admin/outbox/"),
        client.get(f"/admin/outbox/{email.id}"),
        client.post(f"/admin/outbox/{email.id}/resend"),
    ):
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]
    assert reload(email).status is EmailStatus.DEAD


# --- the held Get in Touch sends -------------------------------------------------------------


def hold(reference: str, *, minutes_ago: int, attempts: int = 0) -> HeldPost:
    held = HeldPost(
        reference=reference,
        received_at=utcnow() - timedelta(minutes=minutes_ago),
        name="Held Family",
        email="held.family@example.net",
        message="Words a family wrote.",
        attempts=attempts,
    )
    db.session.add(held)
    db.session.commit()
    return held


def test_the_outbox_shows_the_held_backlog_and_its_oldest(client, login):
    login(Role.ADMIN)
    assert "Held Get in Touch sends" not in client.get("/admin/outbox/").text
    hold("IM-AAAAAA", minutes_ago=42)
    hold("IM-BBBBBB", minutes_ago=3)

    page = client.get("/admin/outbox/").text

    assert "Held Get in Touch sends" in page
    assert "2 held in a flood or taken for spam" in page
    assert "the oldest received 42 minutes ago" in page
    assert "no longer tried" not in page
    assert "Words a family wrote." not in page


def test_held_sends_given_up_are_shown_and_tried_again_on_request(client, login):
    admin = login(Role.ADMIN)
    given_up = hold("IM-CCCCCC", minutes_ago=60, attempts=held_posts.MAX_ATTEMPTS)
    assert held_posts.file_held_posts() == (0, 0)

    page = client.get("/admin/outbox/").text
    assert "1 could not be filed, not even for routing by hand, and are no longer tried" in page
    assert client.get("/admin/outbox/held/try-again").status_code == 405

    response = client.post("/admin/outbox/held/try-again", follow_redirects=True)

    assert "1 held Get in Touch sends will be tried again" in response.text
    db.session.expire_all()
    assert db.session.get(HeldPost, given_up.id).attempts == 0
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.entity_type == "HeldPost"))
    assert event.actor_id == admin.id
    assert event.changes["attempts"] == [held_posts.MAX_ATTEMPTS, 0]


@pytest.mark.parametrize("role", [Role.MANAGER, Role.STAFF, Role.PARTNER])
def test_only_admins_try_held_sends_again(client, login, role):
    login(role)
    given_up = hold("IM-DDDDDD", minutes_ago=60, attempts=held_posts.MAX_ATTEMPTS)

    assert client.post("/admin/outbox/held/try-again").status_code == 403
    db.session.expire_all()
    assert db.session.get(HeldPost, given_up.id).attempts == held_posts.MAX_ATTEMPTS
